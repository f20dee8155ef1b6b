"""The run progress stream that the browser's SSE connection reads."""

import time

import pytest

from orchestrator.flows import events

pytestmark = pytest.mark.django_db


def test_a_blocking_read_longer_than_redis_default_timeout_returns_empty_not_an_error():
    # redis-py gives up on a socket after 5 s by default; the SSE view blocks for 15 s.
    assert events.read(time.time_ns(), after="$", block_ms=6000) == []


def test_events_come_back_in_order_after_a_given_id():
    run_id = time.time_ns()  # a stream of its own
    events.publish(run_id, "step", key="draft", status="running")
    events.publish(run_id, "delta", text="Hello")
    first, second = events.read(run_id)
    assert (first[1], second[1], second[2]["text"]) == ("step", "delta", "Hello")
    assert events.read(run_id, after=second[0]) == []
