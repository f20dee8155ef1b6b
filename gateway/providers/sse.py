"""A reader of Server-Sent Events (the WHATWG format both OpenAI and Anthropic stream in)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    event: str  # "message" when the server names none (OpenAI)
    data: str


async def iter_sse(lines: AsyncIterable[str]) -> AsyncGenerator[ServerSentEvent, None]:
    """Yield one event per blank-line-terminated block of `event:` and `data:` lines."""
    event = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):  # a comment, used as a keep-alive
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    # The specification drops an unterminated last block; some servers omit the final blank line after
    # their end marker, so hand it over and let the adapter decide whether it is complete.
    if data:
        yield ServerSentEvent(event or "message", "\n".join(data))
