"""The call skeleton every HTTP chat API shares; each adapter supplies its path, body, headers,
response parser and stream decoder."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import httpx

from gateway.providers.base import ChatRequest, ChatResult, Provider, StreamEvent, Timeouts
from gateway.providers.transport import CallClock, build_post, join_url, post_json, secrets_of, stream_events


class HttpChatProvider(Provider):
    path: ClassVar[str]
    build_body: ClassVar[Callable[..., dict]]  # (request, *, stream) -> JSON body
    parse_result: ClassVar[Callable[..., ChatResult]]  # (payload, headers, request) -> ChatResult
    decoder_class: ClassVar[type]  # (secrets) -> a stream decoder

    async def complete(self, request: ChatRequest, timeouts: Timeouts) -> ChatResult:
        clock = CallClock(timeouts)
        http_request = self._http_request(request, timeouts, stream=False)
        payload, headers = await post_json(self.client, http_request, clock, secrets_of(self.config))
        return type(self).parse_result(payload, headers, request)

    async def stream(self, request: ChatRequest, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        clock = CallClock(timeouts)
        http_request = self._http_request(request, timeouts, stream=True)
        secrets = secrets_of(self.config)
        decoder = self.decoder_class(secrets)
        async for event in stream_events(self.client, http_request, clock, decoder, secrets):
            yield event

    def _http_request(self, request: ChatRequest, timeouts: Timeouts, *, stream: bool) -> httpx.Request:
        url = join_url(self.config.base_url, self.path)
        body = type(self).build_body(request, stream=stream)
        return build_post(self.client, url, body, self._headers(stream), timeouts)

    @abstractmethod
    def _headers(self, stream: bool) -> Any:
        """Each API sets its own authentication and version headers."""
