"""The ASGI front door of POST /v1/chat/completions (api/openai_asgi.py), driven with ASGI messages on a
serving loop: what it serves itself, what it hands to Django (with the body replayed), its validation
shortcut against DRF's, and a client leaving a stream. The whole server path is tests/test_server.py."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from hypothesis import given, settings
from hypothesis import strategies as st

from api import openai_asgi
from api.services import api_key_revoke
from api.tests.factories import make_created_key
from api.views.base import body_of
from api.views.openai import ChatCompletionInput
from gateway.models import Trace
from gateway.runtime import start_serving, stop_serving
from gateway.tests.gateway_support import register_fake_models
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/v1/chat/completions"
BODY = {"model": "standard-a", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}


class RecordingDjango:
    """Stands for Django: reads the whole body it is handed and answers 299."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})


def _scope(token: str | None, *, host: bytes = b"testserver", forwarded_host: bytes | None = None) -> dict:
    headers = [(b"host", host), (b"content-type", b"application/json")]
    if forwarded_host is not None:
        headers.append((b"x-forwarded-host", forwarded_host))
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def _call(app, body: bytes, token: str | None, *, leave_after_first_chunk: bool = False, **scope):
    """(status, headers, body chunks) of one request; optionally the client leaves after one chunk."""
    requests = [{"type": "http.request", "body": body[:7], "more_body": True}]
    requests.append({"type": "http.request", "body": body[7:], "more_body": False})
    left = asyncio.Event()
    sent: list[dict] = []

    async def receive() -> dict:
        if requests:
            return requests.pop(0)
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        if leave_after_first_chunk and message["type"] == "http.response.body" and message.get("body"):
            left.set()

    await app(_scope(token, **scope), receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {name.decode(): value.decode() for name, value in start["headers"]}
    return start["status"], headers, [m.get("body", b"") for m in sent if m["type"] == "http.response.body"]


def _serving(scenario):
    """Run `scenario(app, django)` on a loop marked as a server's, as uvicorn's lifespan marks it."""

    async def main():
        await start_serving()
        try:
            django = RecordingDjango()
            return await scenario(openai_asgi.front_door(django), django)
        finally:
            await stop_serving()

    return asyncio.run(main())


@pytest.fixture
def key_a(tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url)
    openai_asgi.resolved_keys.forget()
    return make_created_key(tenant=tenant_a)


def test_a_plain_call_is_served_without_django_and_traced(key_a, tenant_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(text="Served at the door"))

    async def scenario(app, django):
        return await _call(app, json.dumps(BODY).encode(), key_a.token), django.bodies

    (status, headers, chunks), handed = _serving(scenario)
    assert status == 200
    assert handed == []  # Django never saw it
    answer = json.loads(b"".join(chunks))
    assert answer["choices"][0]["message"]["content"] == "Served at the door"
    assert answer["object"] == "chat.completion"
    # The headers Django's security middleware would have added, and the gateway's own.
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-maestro-cache-hit"] == "false"
    with tenant_scope(tenant_a):
        trace = Trace.objects.get(pk=headers["x-maestro-call-id"])
    assert trace.api_key_id == key_a.key.pk


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("not JSON", b'{"model": "standard-a", "messages": ['),
        (
            "NaN",
            b'{"model": "standard-a", "messages": [{"role": "user", "content": "Hi"}], "temperature": NaN}',
        ),
        ("invalid", json.dumps({**BODY, "messages": []}).encode()),
        ("unknown model", json.dumps({**BODY, "model": "gpt-17"}).encode()),
        ("NUL in text", json.dumps({**BODY, "messages": [{"role": "user", "content": "a\u0000b"}]}).encode()),
    ],
)
def test_anything_the_door_cannot_vouch_for_goes_to_django_with_its_body(key_a, case, body):
    async def scenario(app, django):
        return await _call(app, body, key_a.token), django.bodies

    (status, _headers, chunks), handed = _serving(scenario)
    assert (status, b"".join(chunks)) == (299, b"django"), case
    assert handed == [body]  # replayed whole, though the door read it in two parts


def test_bodies_outside_the_shortcut_are_validated_by_drf_and_served(key_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(text="Parts joined"))
    parts = [{"type": "text", "text": "Hi "}, {"type": "image_url"}, {"type": "text", "text": "there"}]
    body = {**BODY, "model": " standard-a ", "messages": [{"role": "user", "content": parts}]}

    async def scenario(app, django):
        return await _call(app, json.dumps(body).encode(), key_a.token), django.bodies

    (status, _headers, chunks), handed = _serving(scenario)
    assert (status, handed) == (200, [])
    assert json.loads(b"".join(chunks))["choices"][0]["message"]["content"] == "Parts joined"
    assert fake_provider.requests()[-1].body["messages"][-1]["content"] == "Hi there"


def test_callers_the_door_does_not_know_go_to_django(key_a, tenant_a):
    read_only = make_created_key(tenant=tenant_a, scopes=["read"])
    body = json.dumps(BODY).encode()

    async def scenario(app, django):
        statuses = [
            (await _call(app, body, None))[0],  # a browser session, or nobody
            (await _call(app, body, "mae_unknown_secret"))[0],
            (await _call(app, body, "sk-not-ours"))[0],
            (await _call(app, body, read_only.token))[0],  # no generate scope
            (await _call(app, body, key_a.token, host=b"evil.example"))[0],  # Django answers 400
        ]
        return statuses, django.bodies

    statuses, handed = _serving(scenario)
    assert statuses == [299] * 5
    assert handed == [body] * 5


def test_a_forwarded_host_counts_where_django_trusts_it(key_a, settings):
    settings.USE_X_FORWARDED_HOST = True
    body = json.dumps(BODY).encode()

    async def scenario(app, django):
        good = (await _call(app, body, key_a.token, forwarded_host=b"localhost"))[0]
        bad = (await _call(app, body, key_a.token, forwarded_host=b"evil.example"))[0]
        return good, bad

    assert _serving(scenario) == (200, 299)


def test_a_revoked_key_is_refused_by_the_door_at_once_in_its_process(key_a):
    body = json.dumps(BODY).encode()

    async def scenario(app, django):
        first = (await _call(app, body, key_a.token))[0]
        await sync_to_async(api_key_revoke)(key=key_a.key)
        second = (await _call(app, body, key_a.token))[0]
        return first, second

    assert _serving(scenario) == (200, 299)  # the second one Django refuses (401)


def test_other_processes_stop_serving_a_revoked_key_within_the_cache_lifetime(key_a, settings):
    settings.MAESTRO_API_KEY_CACHE_SECONDS = 0.3
    body = json.dumps(BODY).encode()

    async def scenario(app, django):
        first = (await _call(app, body, key_a.token))[0]
        revoked = await sync_to_async(type(key_a.key).objects.unscoped().filter(pk=key_a.key.pk).update)(
            revoked_at="2026-01-01T00:00:00Z"
        )  # as another process revokes it: this one is not told
        within = (await _call(app, body, key_a.token))[0]
        await asyncio.sleep(0.4)
        after = (await _call(app, body, key_a.token))[0]
        return revoked, first, within, after

    assert _serving(scenario) == (1, 200, 200, 299)


def test_a_client_leaving_a_stream_ends_the_call(key_a, tenant_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(output_tokens=400, tokens_per_second=40))
    body = json.dumps({**BODY, "max_tokens": 400, "stream": True}).encode()

    async def scenario(app, django):
        started = asyncio.get_running_loop().time()
        status, headers, chunks = await _call(app, body, key_a.token, leave_after_first_chunk=True)
        return status, headers, chunks, asyncio.get_running_loop().time() - started

    status, headers, chunks, seconds = _serving(scenario)
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    assert seconds < 3  # 400 tokens at 40/s would take 10 s: the door stopped at the client's leaving
    assert not any(b"[DONE]" in chunk for chunk in chunks)
    with tenant_scope(tenant_a):
        trace = Trace.objects.get(pk=headers["x-maestro-call-id"])
    assert trace.status != "ok"
    assert trace.output_tokens < 400


# ---- the validation shortcut gives what DRF gives -------------------------------------------------

texts = st.text(max_size=30)
messages = st.lists(
    st.fixed_dictionaries({
        "role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "User"]),
        "content": st.one_of(texts, st.just([{"type": "text", "text": "part"}]), st.integers()),
    }),
    max_size=3,
)  # fmt: skip
numbers = st.one_of(st.none(), st.booleans(), st.integers(-5, 300_000), st.floats(allow_nan=False), texts)
bodies = st.fixed_dictionaries(
    {"model": st.one_of(st.just("standard-a"), texts, st.integers()), "messages": messages},
    optional={
        "max_tokens": numbers,
        "max_completion_tokens": numbers,
        "temperature": numbers,
        "stream": st.one_of(st.booleans(), st.just("true"), st.none()),
        "stream_options": st.one_of(
            st.none(), st.just({}), st.fixed_dictionaries({"include_usage": st.one_of(st.booleans(), texts)})
        ),
        "n": numbers,
        "user": texts,
        "top_p": numbers,
    },
)


def _drf(value: dict):
    try:
        return body_of(ChatCompletionInput, SimpleNamespace(data=value))
    except Exception as exc:  # any refusal is "not valid" here
        return type(exc).__name__


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_the_shortcut_takes_only_bodies_drf_accepts_and_gives_what_drf_gives(value):
    plain = openai_asgi._plain_body(value)
    if plain is None:
        return  # DRF decides: nothing to compare
    assert _drf(value) == plain


def test_the_shortcut_takes_the_common_bodies():
    assert openai_asgi._plain_body(BODY) == {**BODY, "stream": False}
    streamed = {**BODY, "stream": True, "stream_options": {"include_usage": True}, "temperature": 1}
    assert openai_asgi._plain_body(streamed) == {**streamed, "temperature": 1.0}
