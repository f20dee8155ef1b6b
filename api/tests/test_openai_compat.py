"""/v1/: the OpenAI-compatible endpoint, through the real gateway to the fake provider over HTTP."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import openai
import pytest
from rest_framework.test import APIClient

from api.tests.factories import make_created_key
from gateway.models import Budget, Trace
from gateway.tests.gateway_support import register_fake_models
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

# What the OpenAI SDK says for the refusals below: "Error code: <status> - <the API's message>".
NO_BUDGET = "The tenant daily budget is used up (0.0000 of 0.0000); it resets at "
BAD_KEY = "Invalid or revoked API key."


def chat(api, content: str = "Write one line about onboarding.", **fields):
    body = {"model": "standard-a", "messages": [{"role": "user", "content": content}], **fields}
    return api.post("/v1/chat/completions", body, format="json")


def openai_error(response) -> dict:
    body = response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


@pytest.fixture
def models_a(tenant_a, fake_provider):
    return register_fake_models(tenant_a, fake_provider.base_url)


@pytest.mark.django_db
def test_a_completion_has_openai_shape_and_is_traced_with_the_key(api_for, tenant_a, models_a, fake_provider):
    fake_provider.set_behaviour(Behaviour(text="Onboarding is a promise kept."))
    api = api_for(tenant_a)
    response = chat(api)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "standard-a"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Onboarding is a promise kept.",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert (
        body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    with tenant_scope(tenant_a):
        trace = Trace.objects.get(pk=response["X-Maestro-Call-Id"])
    assert (trace.api_key_id, trace.user_id, trace.purpose) == (api.key.pk, api.key.identity_id, "chat")


@pytest.mark.django_db
def test_model_may_be_a_tier_auto_or_a_route_alias(api_for, tenant_a, models_a, fake_provider):
    api = api_for(tenant_a)
    assert chat(api, model="small").json()["model"] == "small-a"
    assert chat(api, "Thanks!", model="route:comment").json()["model"] == "small-a"
    assert chat(api, model="auto").status_code == 200
    missing = chat(api, model="gpt-17")
    assert missing.status_code == 404
    assert openai_error(missing)["code"] == "model_not_found"


@pytest.mark.django_db
def test_models_lists_the_tenants_models_tiers_and_aliases_only(
    api_for, tenant_a, tenant_b, models_a, fake_provider
):
    ids = {m["id"] for m in api_for(tenant_a).get("/v1/models").json()["data"]}
    assert {
        "small-a",
        "standard-a",
        "premium-a",
        "standard-b",
        "small",
        "premium",
        "auto",
        "route:post",
    } <= ids
    assert "small-a" not in {m["id"] for m in api_for(tenant_b).get("/v1/models").json()["data"]}


@pytest.mark.django_db
def test_a_key_of_another_tenant_cannot_use_this_tenants_models(api_for, tenant_b, models_a, fake_provider):
    response = chat(api_for(tenant_b))
    assert response.status_code == 404
    assert fake_provider.requests() == []


@pytest.mark.django_db
def test_errors_in_openai_shape_bad_key_and_validation(tenant_a, models_a):
    bad = chat(APIClient(HTTP_AUTHORIZATION="Bearer sk-nope"))
    assert bad.status_code == 401
    assert openai_error(bad)["type"] == "authentication_error"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_created_key(tenant=tenant_a).token}")
    invalid = api.post("/v1/chat/completions", {"model": "small", "messages": []}, format="json")
    assert invalid.status_code == 400
    assert openai_error(invalid)["type"] == "invalid_request_error"


@pytest.mark.django_db
def test_the_keys_own_rate_limit_answers_429_with_retry_after(api_for, tenant_a, models_a, fake_provider):
    api = api_for(tenant_a, requests_per_minute=1)
    assert chat(api).status_code == 200
    limited = chat(api)
    assert limited.status_code == 429
    error = openai_error(limited)
    assert (error["code"], error["type"]) == ("rate_limited", "rate_limit_error")
    assert "API key requests per minute" in error["message"]
    assert int(limited["Retry-After"]) >= 1
    assert chat(api_for(tenant_a)).status_code == 200  # another key of the tenant is not limited


@pytest.mark.django_db
def test_an_exhausted_budget_answers_402_with_the_reason(api_for, tenant_a, models_a, fake_provider):
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal(0))
    response = chat(api_for(tenant_a))
    assert response.status_code == 402
    error = openai_error(response)
    assert (error["code"], error["type"]) == ("budget_exceeded", "insufficient_quota")
    assert "resets at" in error["message"]
    assert fake_provider.requests() == []


@pytest.mark.django_db
def test_a_prompt_over_the_tenants_limit_is_413(api_for, tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url, max_prompt_chars=1000)
    response = chat(api_for(tenant_a), "word " * 400)
    assert response.status_code == 413
    assert openai_error(response)["code"] == "input_too_large"


@pytest.mark.django_db
def test_budget_and_rate_limit_errors_on_the_rest_api_keep_the_common_shape(api_for, tenant_a, models_a):
    from api.exceptions import api_exception_handler
    from gateway import GatewayError

    error = GatewayError(
        "rate_limited", "Slow down.", http_status=429, retry_after=2.2, details={"limit": "x"}
    )
    response = api_exception_handler(error, {"view": None})
    assert response.status_code == 429
    assert response["Retry-After"] == "3"
    assert response.data["error"]["code"] == "rate_limited"
    assert response.data["error"]["details"]["limit"] == "x"


# ---- the official SDK over real HTTP ----------------------------------------------------------------


@pytest.fixture
def sdk(live_server, tenant_a, fake_provider, gateway_loop_cleanup):
    register_fake_models(tenant_a, fake_provider.base_url)
    token = make_created_key(tenant=tenant_a).token
    with openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=token, max_retries=0, timeout=30) as client:
        yield client


@pytest.mark.django_db(transaction=True)
def test_the_openai_sdk_gets_a_completion(sdk, fake_provider):
    fake_provider.set_behaviour(Behaviour(text="Keep every promise you make in week one."))
    completion = sdk.chat.completions.create(
        model="standard-a", messages=[{"role": "user", "content": "A line about onboarding"}]
    )
    assert completion.choices[0].message.content == "Keep every promise you make in week one."
    assert completion.model == "standard-a"
    assert completion.usage.completion_tokens == 8
    assert "small" in {m.id for m in sdk.models.list()}


@pytest.mark.django_db(transaction=True)
def test_the_openai_sdk_streams_a_completion_with_a_usage_chunk(sdk, fake_provider, tenant_a):
    fake_provider.set_behaviour(Behaviour(text="One two three four five"))
    stream = sdk.chat.completions.create(
        model="small",
        messages=[{"role": "user", "content": "Count to five"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.split() == ["One", "two", "three", "four", "five"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 5
    deadline = time.monotonic() + 5  # the shared gateway loop writes traces in the background
    with tenant_scope(tenant_a):
        while not Trace.objects.filter(streamed=True, status="ok").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Trace.objects.filter(streamed=True, status="ok").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_openai_sdk_sees_a_refused_stream_as_an_error_with_its_status(
    live_server, tenant_a, fake_provider, gateway_loop_cleanup
):
    register_fake_models(tenant_a, fake_provider.base_url)
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal(0))
    token = make_created_key(tenant=tenant_a).token
    with (
        openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=token, max_retries=0) as sdk,
        pytest.raises(openai.APIStatusError, match=rf"^Error code: 402 - {re.escape(NO_BUDGET)}") as caught,
    ):
        sdk.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert caught.value.status_code == 402
    with (
        openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="mae_bad_key", max_retries=0) as stranger,
        pytest.raises(
            openai.AuthenticationError, match=rf"^Error code: 401 - {re.escape(BAD_KEY)}$"
        ) as caught_stranger,
    ):
        stranger.models.list()
    assert caught_stranger.value.status_code == 401
