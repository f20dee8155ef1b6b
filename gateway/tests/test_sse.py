"""The Server-Sent Events reader: events however the bytes are cut, and batches per network read."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from gateway.providers.base import StreamEvent, StreamEventKind, Usage
from gateway.providers.sse import ServerSentEvent, SseParser, iter_sse_batches
from gateway.providers.transport import coalesced

STREAM = (
    ": keep-alive\n\n"
    'data: {"text": "Olá, équipe \u2028 line separator kept"}\r\n\r\n'
    "event: content_block_delta\r\n"
    "data: first line\r\n"
    "data: second line\r\n"
    "\r\n"
    "data: [DONE]\n\n"
).encode()

EXPECTED = [
    ServerSentEvent("message", '{"text": "Olá, équipe \u2028 line separator kept"}'),
    ServerSentEvent("content_block_delta", "first line\nsecond line"),
    ServerSentEvent("message", "[DONE]"),
]


def parse(chunks: list[bytes]) -> list[ServerSentEvent]:
    parser = SseParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.close()


def test_a_whole_stream_read_at_once():
    assert parse([STREAM]) == EXPECTED


def test_every_byte_read_on_its_own_gives_the_same_events():
    # "\r" and "\n" of one line end arrive apart, and so do the bytes of "á" and "é": neither makes
    # an event boundary or a replacement character.
    assert parse([bytes([b]) for b in STREAM]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_cut_of_the_bytes_gives_the_same_events(cuts):
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert parse(chunks) == EXPECTED


def test_an_unterminated_last_block_is_handed_over_at_the_end():
    assert parse([b"data: one\n\ndata: [DONE]"]) == [
        ServerSentEvent("message", "one"),
        ServerSentEvent("message", "[DONE]"),
    ]
    assert parse([b"data: [DONE]\r"]) == [ServerSentEvent("message", "[DONE]")]


def test_a_batch_holds_the_events_of_one_read_and_comments_alone_make_none():
    async def reads():
        yield b": ping\n\n"  # keep-alive only: no batch, so a deadline on the next batch keeps running
        yield b"data: a\n\ndata: b\n\ndata: c"
        yield b"\n\n"

    async def batches():
        return [batch async for batch in iter_sse_batches(reads())]

    assert asyncio.run(batches()) == [
        [ServerSentEvent("message", "a"), ServerSentEvent("message", "b")],
        [ServerSentEvent("message", "c")],
    ]


def test_adjacent_deltas_of_a_batch_become_one_and_nothing_else_moves():
    delta = StreamEvent(StreamEventKind.DELTA, text="a")
    usage = StreamEvent(StreamEventKind.USAGE, usage=Usage(3, 2))
    done = StreamEvent(StreamEventKind.DONE, finish_reason="stop")
    items = [delta, StreamEvent(StreamEventKind.DELTA, text="b"), usage, delta, done]

    assert coalesced(items) == [StreamEvent(StreamEventKind.DELTA, text="ab"), usage, delta, done]
    assert coalesced([]) == []
