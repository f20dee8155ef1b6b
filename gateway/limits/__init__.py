"""The gateway's shared state in Redis: rate limits, circuit breakers, model health and concurrency slots.

Each primitive is plain async Python over a `redis.asyncio.Redis` the caller passes in, with every
check-and-update done in one Lua script, so all gateway processes see one truth. Times come from
the Redis server's clock, never the process's.
"""

from .circuit import CircuitBreaker, CircuitState
from .errors import BudgetExceeded, LimitError, RateLimited, RequestExceedsCapacity, UnknownReservation
from .health import HealthSample, HealthSnapshot, ModelHealth
from .rate_limit import Bucket, TokenBucketLimiter
from .semaphore import Slot, SlotsBusy, SlotSemaphore

__all__ = [
    "Bucket",
    "BudgetExceeded",
    "CircuitBreaker",
    "CircuitState",
    "HealthSample",
    "HealthSnapshot",
    "LimitError",
    "ModelHealth",
    "RateLimited",
    "RequestExceedsCapacity",
    "Slot",
    "SlotSemaphore",
    "SlotsBusy",
    "TokenBucketLimiter",
    "UnknownReservation",
]
