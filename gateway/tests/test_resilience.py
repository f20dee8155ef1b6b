import random

from gateway.providers.base import ErrorKind, ProviderError
from gateway.resilience import (
    NextModel,
    Retry,
    RetryPolicy,
    Stop,
    TimeoutPolicy,
    backoff_delay,
    decide,
    timeouts_for,
)

POLICY = RetryPolicy(retries_per_model=2, base_delay=0.5, max_delay=8, max_wait_on_same_model=2)


def test_backoff_is_exponential_with_full_jitter_and_never_zero():
    rng = random.Random(1)
    for retry in range(6):
        delays = [backoff_delay(retry, POLICY, rng) for _ in range(2000)]
        ceiling = min(8, 0.5 * 2**retry)
        assert min(delays) >= 0.05
        assert max(delays) <= ceiling
        assert abs(sum(delays) / len(delays) - ceiling / 2) < ceiling * 0.1  # uniform over [0, ceiling]


def test_retry_after_is_honoured_as_a_minimum():
    error = ProviderError(ErrorKind.OVERLOADED, "busy", retry_after=1.5)
    action = decide(error, 0, POLICY, random.Random(0))
    assert isinstance(action, Retry)
    assert action.delay >= 1.5


def test_long_rate_limit_waits_degrade_to_the_next_model():
    error = ProviderError(ErrorKind.RATE_LIMITED, "slow down", retry_after=20)
    assert isinstance(decide(error, 0, POLICY, random.Random(0)), NextModel)


def test_retries_per_model_are_bounded():
    error = ProviderError(ErrorKind.SERVER_ERROR, "boom")
    assert isinstance(decide(error, 1, POLICY, random.Random(0)), Retry)
    assert isinstance(decide(error, 2, POLICY, random.Random(0)), NextModel)


def test_errors_no_retry_can_fix_stop_or_move_on():
    assert isinstance(decide(ProviderError(ErrorKind.BAD_REQUEST, "x"), 0, POLICY, random.Random()), Stop)
    context = decide(ProviderError(ErrorKind.CONTEXT_TOO_LONG, "x"), 0, POLICY, random.Random())
    assert context.needs_larger_context
    auth = decide(ProviderError(ErrorKind.AUTH, "x"), 0, POLICY, random.Random())
    assert auth.needs_other_provider


def test_timeouts_follow_expected_output_and_observed_speed():
    policy = TimeoutPolicy()
    fast = timeouts_for(policy, max_tokens=1000, stream=True, tokens_per_second=100, ttft_s=0.5)
    slow = timeouts_for(policy, max_tokens=1000, stream=True, tokens_per_second=10, ttft_s=0.5)
    short = timeouts_for(policy, max_tokens=100, stream=True, tokens_per_second=10, ttft_s=0.5)
    assert fast.total < slow.total
    assert short.total < slow.total
    assert slow.total >= 1000 / 10  # at least the time the model needs at its observed speed
    assert fast.first_token < fast.total
    unary = timeouts_for(policy, max_tokens=1000, stream=False, tokens_per_second=100, ttft_s=0.5)
    assert unary.first_token == unary.total  # a non-streamed answer arrives whole
    assert unary.total < fast.total  # a stream's gap timeout catches a hang: its total can be looser


def test_a_model_whose_slots_share_one_machine_gets_time_for_each_to_run_slower():
    """Two calls on a two-slot llama.cpp server each run at about half the speed seen alone: they
    timed out at the 10 s floor while generating (seen on the embedded default)."""
    policy = TimeoutPolicy()
    alone = timeouts_for(policy, max_tokens=300, stream=True, tokens_per_second=65, ttft_s=0.7)
    shared = timeouts_for(policy, max_tokens=300, stream=True, tokens_per_second=65, ttft_s=0.7, shared_by=2)
    assert shared.first_token > alone.first_token
    assert shared.total >= 5 + 300 / (65 / 2 * 0.25)  # a quarter of each slot's share of the speed
    speed = {"tokens_per_second": 65, "ttft_s": 0.7}
    assert timeouts_for(policy, max_tokens=300, stream=True, shared_by=0, **speed) == alone  # no limit set
