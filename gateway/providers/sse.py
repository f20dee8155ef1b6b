"""A reader of Server-Sent Events (the WHATWG format both OpenAI and Anthropic stream in).

The reader hands over the events of each network read together: when a provider (or a busy loop)
lets several events pile up in the socket, the caller handles them as one batch, with one deadline
and, for text, one delta (transport.stream_events) instead of one pass through every layer each.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass, field

# The specification's line ends, and only those: JSON may carry U+2028 and other separators raw,
# which str.splitlines() would cut on.
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    event: str  # "message" when the server names none (OpenAI)
    data: str


@dataclass
class SseParser:
    """Incremental: `feed` bytes as they arrive and get the events they complete."""

    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    _pending: str = ""  # an unfinished line
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._pending + self._decoder.decode(chunk)
        # A trailing "\r" may be the first half of "\r\n": wait for the next chunk to tell.
        cut = len(text) - 1 if text.endswith("\r") else len(text)
        lines = _LINE_END.split(text[:cut])
        self._pending = lines.pop() + text[cut:]
        return [event for line in lines if (event := self._line(line)) is not None]

    def close(self) -> list[ServerSentEvent]:
        """What is left at the end of the body. The specification drops an unterminated last block;
        some servers omit the final blank line after their end marker, so it is handed over and the
        adapter decides whether it is complete."""
        text, self._pending = self._pending + self._decoder.decode(b"", final=True), ""
        lines = _LINE_END.split(text)
        tail = lines.pop()  # after the last line end: an unterminated line, or ""
        if tail:
            lines.append(tail)
        events = [event for line in lines if (event := self._line(line)) is not None]
        if self._data:
            events.append(ServerSentEvent(self._event or "message", "\n".join(self._data)))
            self._event, self._data = "", []
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            event = ServerSentEvent(self._event or "message", "\n".join(self._data)) if self._data else None
            self._event, self._data = "", []
            return event
        if line.startswith(":"):  # a comment, used as a keep-alive
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None


async def iter_sse_batches(chunks: AsyncIterable[bytes]) -> AsyncGenerator[list[ServerSentEvent], None]:
    """Yield the events each network read completes, once there is at least one: a read of keep-alive
    comments alone yields nothing, so a deadline on the next batch is a deadline on the next event."""
    parser = SseParser()
    async for chunk in chunks:
        events = parser.feed(chunk)
        if events:
            yield events
    events = parser.close()
    if events:
        yield events
