"""What to do after a failed attempt: wait and retry the same model, move to the next, or stop.
And how long to wait for a model, from what it has shown of its speed."""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway.providers.base import ErrorKind, ProviderError, Timeouts


@dataclass(frozen=True)
class RetryPolicy:
    retries_per_model: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A 429 whose Retry-After is longer than this sends the call to the next (smaller) model instead.
    max_wait_on_same_model: float = 2.0
    min_delay_fraction: float = 0.1  # never retry immediately: at least this share of base_delay


@dataclass(frozen=True)
class Retry:
    delay: float


@dataclass(frozen=True)
class NextModel:
    reason: str
    needs_larger_context: bool = False
    needs_other_provider: bool = False


@dataclass(frozen=True)
class Stop:
    reason: str


def backoff_delay(retry_number: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Exponential backoff with full jitter (AWS architecture blog), with a floor above zero."""
    ceiling = min(policy.max_delay, policy.base_delay * 2**retry_number)
    return max(policy.base_delay * policy.min_delay_fraction, rng.uniform(0, ceiling))


def decide(error: ProviderError, retries_done: int, policy: RetryPolicy, rng: random.Random):
    kind = error.kind
    if kind == ErrorKind.CONTEXT_TOO_LONG:
        return NextModel("prompt too long for this model", needs_larger_context=True)
    if kind == ErrorKind.AUTH:
        return NextModel("provider refused the credential", needs_other_provider=True)
    if kind in (ErrorKind.CONTENT_REFUSED, ErrorKind.BAD_REQUEST):
        return Stop(error.message)
    if retries_done >= policy.retries_per_model:
        return NextModel(f"{kind} after {retries_done + 1} attempts")
    long_wait = error.retry_after is not None and error.retry_after > policy.max_wait_on_same_model
    if kind == ErrorKind.RATE_LIMITED and long_wait:
        return NextModel(f"rate limited for {error.retry_after:.1f}s: degrading")
    delay = backoff_delay(retries_done, policy, rng)
    if error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return Retry(delay)


@dataclass(frozen=True)
class TimeoutPolicy:
    connect: float = 5.0
    min_first_token: float = 5.0
    max_first_token: float = 60.0
    min_between_chunks: float = 5.0
    max_between_chunks: float = 30.0
    min_total: float = 10.0
    max_total: float = 600.0
    default_tokens_per_second: float = 30.0
    default_ttft: float = 1.5
    # The whole call, every attempt, wait and fallback included: nothing runs past it (gateway/core.py).
    call_deadline: float = 300.0


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def timeouts_for(
    policy: TimeoutPolicy,
    *,
    max_tokens: int,
    stream: bool,
    tokens_per_second: float | None,
    ttft_s: float | None,
    shared_by: int = 1,
) -> Timeouts:
    """Deadlines from the expected output and the model's observed throughput, with room to spare.

    `shared_by`: how many calls the model serves at once on shared compute (a llama.cpp server's
    slots on one machine's cores): each of them may run that many times slower than one call alone,
    which is how the speed was mostly observed."""
    tps = (
        tokens_per_second if tokens_per_second and tokens_per_second > 0 else policy.default_tokens_per_second
    )
    ttft = ttft_s if ttft_s and ttft_s > 0 else policy.default_ttft
    sharing = max(1, shared_by)
    tps, ttft = tps / sharing, ttft * sharing
    first_token = _clamp(ttft * 4 + 2, policy.min_first_token, policy.max_first_token)
    # Allow generation at half the observed speed before calling it hung; a stream a quarter, as its
    # gap between chunks (below) already catches one that stopped.
    slowest = tps * (0.25 if stream else 0.5)
    total = _clamp(first_token + max_tokens / slowest, policy.min_total, policy.max_total)
    between = _clamp(50 / tps, policy.min_between_chunks, policy.max_between_chunks)
    if not stream:
        first_token = total  # a non-streamed answer's first byte arrives when it is complete
    return Timeouts(connect=policy.connect, first_token=first_token, between_chunks=between, total=total)
