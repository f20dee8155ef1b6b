"""Bad input gets a clear error in the API's shape and costs nothing: text PostgreSQL cannot store,
absurd nesting, oversized bodies, forged cursors and methods a view does not have."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from api.tests.test_openai_compat import openai_error
from api.validation import RequestTooLarge, SafeJSONParser
from gateway.models import Budget, Trace
from gateway.tests.gateway_support import register_fake_models
from memories.models import Memory
from orchestrator.models import FlowRun
from orchestrator.tests.factories import make_author, make_definition, make_run
from prompts.models import PromptVersion
from tenants.context import tenant_scope
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def _post_raw(api, path: str, raw: str | bytes):
    return api.generic("POST", path, raw, content_type="application/json")


def rest_error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


# ---- text that cannot be stored -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("escaped", "reason"),
    [
        ("\\u0000", "Null characters are not allowed."),
        ("\\ud800", "Surrogate characters are not allowed: U+D800."),
    ],
)
def test_a_memory_with_unstorable_text_is_refused_with_the_field_and_nothing_is_stored(
    api_for, tenant_a, escaped, reason
):
    author = make_author(tenant=tenant_a)
    raw = f'{{"author": {author.pk}, "kind": "fact", "text": "Churn fell {escaped} by 20%"}}'
    response = _post_raw(api_for(tenant_a), "/api/v1/memories", raw)
    assert response.status_code == 400
    assert rest_error(response)["details"] == {"text": [reason]}
    with tenant_scope(tenant_a):
        assert not Memory.objects.exists()


def test_unstorable_text_inside_free_form_json_is_cleaned_and_kept(api_for, tenant_a):
    raw = (
        '{"purpose": "post", "messages": [{"role": "user", "content": "Hi"}],'
        ' "variables": [{"name": "brief", "description": "x\\u0000y\\ud800"}]}'
    )
    response = _post_raw(api_for(tenant_a), "/api/v1/prompts", raw)
    assert response.status_code == 201, response.content
    with tenant_scope(tenant_a):
        version = PromptVersion.objects.get(template_id=response.json()["id"])
    assert version.variables == [{"name": "brief", "required": True, "description": "xy\ufffd"}]


def test_a_key_of_a_free_form_object_is_cleaned_not_refused(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    raw = '{"tone": "Warm", "formatting": {"emoji\\u0000": "never"}}'
    response = _post_raw(api_for(tenant_a), f"/api/v1/authors/{author.pk}/style-profiles", raw)
    assert response.status_code == 201, response.content
    assert response.json()["formatting"] == {"emoji": "never"}


def test_a_value_of_another_json_type_than_the_schema_states_is_refused(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    response = _post_raw(
        api_for(tenant_a), "/api/v1/generations", json.dumps({"author": str(author.pk), "brief": 5})
    )
    assert response.status_code == 400
    assert rest_error(response)["details"] == {
        "author": ["Must be an integer."],
        "brief": ["Must be a string."],
    }


def test_a_generation_with_a_nul_in_its_brief_starts_nothing(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    make_definition(tenant=tenant_a)
    raw = json.dumps({"author": author.pk, "brief": "A brief\u0000with a NUL"})
    response = _post_raw(api_for(tenant_a), "/api/v1/generations", raw)
    assert response.status_code == 400
    assert rest_error(response)["details"] == {"brief": ["Null characters are not allowed."]}
    with tenant_scope(tenant_a):
        assert not FlowRun.objects.exists()


def test_a_chat_prompt_with_a_nul_is_refused_before_the_provider_or_the_ledger(
    api_for, tenant_a, fake_provider
):
    register_fake_models(tenant_a, fake_provider.base_url)
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit="1.00")
    fake_provider.set_behaviour(Behaviour(text="paid for"))
    raw = json.dumps({"model": "standard-a", "messages": [{"role": "user", "content": "Hi\u0000there"}]})
    response = _post_raw(api_for(tenant_a), "/v1/chat/completions", raw)
    assert response.status_code == 400
    error = openai_error(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_text")
    assert error["message"].startswith("messages[0].content contains a NUL character")
    assert fake_provider.requests() == []
    with tenant_scope(tenant_a):
        assert not Trace.objects.exists()  # no call was made, so none was paid for


# ---- nesting and size ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/memories", "/api/v1/authors/{author}/style-profiles"])
def test_absurdly_nested_json_is_a_400_in_the_error_shape(api_for, tenant_a, path):
    author = make_author(tenant=tenant_a)
    response = _post_raw(api_for(tenant_a), path.format(author=author.pk), DEEP)
    assert response.status_code == 400
    assert rest_error(response)["code"] == "nested_too_deeply"


def test_absurdly_nested_json_on_v1_is_a_400_in_openai_shape(api_for, tenant_a):
    response = _post_raw(api_for(tenant_a), "/v1/chat/completions", DEEP)
    assert response.status_code == 400
    assert openai_error(response)["code"] == "nested_too_deeply"


def test_nesting_past_the_limit_is_refused_even_when_the_decoder_could_take_it(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    deep_profile = {
        "formatting": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
    }
    response = _post_raw(
        api_for(tenant_a), f"/api/v1/authors/{author.pk}/style-profiles", json.dumps(deep_profile)
    )
    assert response.status_code == 400
    error = rest_error(response)
    assert (error["code"], error["message"]) == (
        "nested_too_deeply",
        "The body is nested more than 32 levels deep.",
    )


@pytest.mark.parametrize("path", ["/api/v1/memories", "/v1/chat/completions"])
def test_a_ten_megabyte_body_is_a_413_in_the_error_shape(api_for, tenant_a, path):
    body = json.dumps({"text": "x" * 10_000_000})
    response = _post_raw(api_for(tenant_a), path, body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert "larger than 2,621,440 bytes" in error["message"]


def test_the_parser_stops_a_body_at_the_limit_where_no_middleware_did(settings):
    settings.MAESTRO_API_MAX_BODY_BYTES = 1000
    with pytest.raises(
        RequestTooLarge, match=r"^The request body is larger than 1,000 bytes; send less at once\.$"
    ):
        SafeJSONParser().parse(io.BytesIO(json.dumps({"text": "x" * 2000}).encode()))


# ---- forged cursors ----------------------------------------------------------------------------------


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/api/v1/generations", _cursor("p=abc")),  # ordered by id: not a number
        ("/api/v1/generations", _cursor("p=99999999999999999999999")),  # past bigint
        ("/api/v1/traces", _cursor("p=not-a-date")),  # ordered by time
        ("/api/v1/authors", "%%%not-base64"),
    ],
)
def test_a_forged_cursor_is_a_400_not_a_server_error(api_for, tenant_a, path, cursor):
    response = api_for(tenant_a).get(path, {"cursor": cursor})
    assert response.status_code == 400
    assert rest_error(response)["code"] == "invalid_cursor"


def test_a_cursor_from_another_tenant_pages_only_through_your_own_rows(api_for, tenant_a, tenant_b):
    for _ in range(3):
        make_run(tenant=tenant_a)
    own = make_run(tenant=tenant_b)
    first = api_for(tenant_a).get("/api/v1/generations", {"page_size": 1}).json()
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    response = api_for(tenant_b).get("/api/v1/generations", {"cursor": cursor, "page_size": 5})
    assert response.status_code == 200
    assert {run["id"] for run in response.json()["results"]} <= {own.pk}


@pytest.mark.parametrize(
    "query",
    ["page_size=ten", "page_size=1&page_size=2", "status=", "status=queued&status=failed", "author="],
)
def test_query_parameters_are_read_strictly(api_for, tenant_a, query):
    response = api_for(tenant_a).get(f"/api/v1/generations?{query}")
    assert response.status_code == 400
    assert rest_error(response)["code"] == "validation_error"


# ---- methods ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("put", "/api/v1/generations/1"), ("delete", "/api/v1/generations"), ("patch", "/api/v1/usage")],
)
def test_a_method_the_view_does_not_have_is_405_with_or_without_a_key(api_for, tenant_a, method, path):
    for client in (api_for(tenant_a), APIClient()):
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code == 405, response.content
        assert rest_error(response)["code"] == "method_not_allowed"
        assert method.upper() not in response["Allow"]


@pytest.mark.parametrize(
    ("path", "shape"), [("/api/v1/no-such-thing", "rest"), ("/v1/no-such-thing", "openai")]
)
def test_an_unknown_url_under_the_apis_is_a_json_404(path, shape):
    response = APIClient().get(path)
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    error = rest_error(response) if shape == "rest" else openai_error(response)
    assert error["code"] == "not_found"
