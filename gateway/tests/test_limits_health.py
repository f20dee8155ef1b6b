"""ModelHealth against a real Redis: EWMA maths, error rate over a sliding window, no lost samples."""

from __future__ import annotations

import asyncio

import pytest

from gateway.limits import HealthSample, HealthSnapshot, ModelHealth
from gateway.tests.clock import ManualClock

pytestmark = pytest.mark.anyio

MODEL = "anthropic:claude-sonnet"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def health(redis, prefix, clock):
    return ModelHealth(redis, prefix, alpha=0.5, window_seconds=0.4, slots=4, clock=clock)


async def test_the_first_sample_sets_the_averages_and_later_ones_move_them_by_alpha(health):
    await health.record(MODEL, ok=True, latency_s=1.0, ttft_s=0.5)
    await health.record(MODEL, ok=True, latency_s=2.0, ttft_s=0.3)
    await health.record(MODEL, ok=True, latency_s=3.0, ttft_s=0.1)

    snapshot = await health.snapshot(MODEL)

    # 1.0 -> 1.0 + 0.5 * (2.0 - 1.0) = 1.5 -> 1.5 + 0.5 * (3.0 - 1.5) = 2.25
    assert snapshot.latency_ewma_s == pytest.approx(2.25)
    # 0.5 -> 0.4 -> 0.25
    assert snapshot.ttft_ewma_s == pytest.approx(0.25)


async def test_a_batch_of_samples_of_several_models_is_applied_in_order_in_one_call(health):
    other = "openai:gpt-small"
    await health.record_all([
        HealthSample(MODEL, ok=True, latency_s=1.0, ttft_s=0.5),
        HealthSample(other, ok=True, latency_s=9.0),
        HealthSample(MODEL, ok=True, latency_s=2.0, ttft_s=0.3),
        HealthSample(MODEL, ok=False, latency_s=30.0),
        HealthSample(MODEL, ok=True, latency_s=3.0, ttft_s=0.1),
    ])  # fmt: skip

    snapshots = await health.snapshots([MODEL, other])

    # As three records one after another (the test above); the failure counts but moves no average.
    assert snapshots[MODEL].latency_ewma_s == pytest.approx(2.25)
    assert snapshots[MODEL].ttft_ewma_s == pytest.approx(0.25)
    assert (snapshots[MODEL].samples, snapshots[MODEL].error_rate) == (4, 0.25)
    assert (snapshots[other].samples, snapshots[other].latency_ewma_s) == (1, 9.0)
    await health.record_all([])  # nothing to record: no round trip, no error


async def test_generation_speed_is_measured_after_the_first_token(health):
    await health.record(MODEL, ok=True, latency_s=3.0, ttft_s=1.0, output_tokens=200)  # 100 tokens/s
    await health.record(MODEL, ok=True, latency_s=4.0, output_tokens=200)  # no ttft: 50 tokens/s

    snapshot = await health.snapshot(MODEL)

    assert snapshot.tokens_per_second_ewma == pytest.approx(75.0)


async def test_failures_count_in_the_error_rate_but_do_not_move_the_averages(health):
    for _ in range(3):
        await health.record(MODEL, ok=True, latency_s=2.0, output_tokens=100)
    await health.record(MODEL, ok=False, latency_s=30.0)

    snapshot = await health.snapshot(MODEL)

    assert (snapshot.samples, snapshot.error_rate) == (4, 0.25)
    assert snapshot.latency_ewma_s == pytest.approx(2.0)
    assert snapshot.tokens_per_second_ewma == pytest.approx(50.0)


async def test_the_error_rate_only_covers_the_recent_window(health, clock):
    await health.record(MODEL, ok=False, latency_s=1.0)
    await health.record(MODEL, ok=True, latency_s=1.0)

    clock.advance(0.3)  # the last of the window's four 100 ms slots
    still_inside = await health.snapshot(MODEL)
    clock.advance(0.1)  # a whole window later: the first slot is reused for this period
    await health.record(MODEL, ok=True, latency_s=1.0)
    snapshot = await health.snapshot(MODEL)

    assert (still_inside.samples, still_inside.error_rate) == (2, 0.5)
    assert (snapshot.samples, snapshot.error_rate) == (1, 0.0)
    assert snapshot.latency_ewma_s == pytest.approx(1.0)  # averages outlive the window


async def test_concurrent_records_are_never_lost(health):
    await asyncio.gather(*(health.record(MODEL, ok=i % 4 != 0, latency_s=1.0) for i in range(100)))

    snapshot = await health.snapshot(MODEL)

    assert (snapshot.samples, snapshot.error_rate) == (100, 0.25)


async def test_a_model_never_called_has_no_figures(health):
    assert await health.snapshot("never-called") == HealthSnapshot(
        samples=0, error_rate=0.0, latency_ewma_s=None, ttft_ewma_s=None, tokens_per_second_ewma=None
    )


async def test_snapshots_reports_every_model_in_one_call_and_models_are_independent(health):
    await health.record("model-a", ok=False, latency_s=1.0)
    await health.record("model-b", ok=True, latency_s=2.0)

    snapshots = await health.snapshots(["model-a", "model-b"])

    assert (snapshots["model-a"].error_rate, snapshots["model-a"].latency_ewma_s) == (1.0, None)
    assert (snapshots["model-b"].error_rate, snapshots["model-b"].latency_ewma_s) == (0.0, 2.0)
