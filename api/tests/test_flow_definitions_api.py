"""Flow definitions over the API: create, versions, diff, activation and rollback, dry run, secrets;
scopes, the one error shape, and another tenant's flows out of reach."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from api.models import Scope
from authors.services import style_profile_save
from gateway.models import Trace
from gateway.tests.gateway_support import register_fake_models
from orchestrator.flows.definitions import DEFAULT_POST_FLOW
from orchestrator.flows.editing import flow_definition_save, flow_secret_set
from orchestrator.flows.services import flow_definitions_install
from orchestrator.models import FlowDefinition, FlowSecret
from orchestrator.tests.factories import make_author, make_definition
from prompts.services import prompt_defaults_install
from reviews.models import Draft
from tenants.context import cross_tenant_access, tenant_scope

pytestmark = pytest.mark.django_db

GEN = {"id": "draft", "type": "generate", "prompt": "post"}
POLISH = {"id": "polish", "type": "transform", "target": "draft", "ops": ["trim"]}


def _create(api, name="custom", steps=None, **fields):
    body = {"name": name, "steps": steps or [GEN], **fields}
    return api.post("/api/v1/flows", body, format="json")


def test_the_flows_list_keeps_its_shape_and_lists_flows_that_can_start(api_for, tenant_a):
    make_definition(tenant=tenant_a)
    api = api_for(tenant_a)
    assert _create(api, "draft-only").status_code == 201  # saved, not live
    body = api.get("/api/v1/flows").json()
    assert (body["next"], body["previous"]) == (None, None)
    assert body["results"] == [
        {"name": "post", "description": "post: Test flow", "live_version": 1, "versions": 1, "own": True}
    ]
    every = api.get("/api/v1/flows?all=true").json()["results"]
    assert [(f["name"], f["live_version"]) for f in every] == [("draft-only", None), ("post", 1)]


def test_a_flow_is_created_versioned_diffed_activated_and_rolled_back(api_for, tenant_a):
    api = api_for(tenant_a)
    first = _create(api, activate=True)
    assert first.status_code == 201, first.json()
    assert (first.json()["version"], first.json()["live"]) == (1, True)
    second = api.post(
        "/api/v1/flows/custom/versions", {"steps": [GEN, POLISH], "description": "polished"}, format="json"
    )
    assert second.status_code == 201, second.json()
    assert (second.json()["version"], second.json()["live"]) == (2, False)
    detail = api.get("/api/v1/flows/custom").json()
    assert detail["live"]["version"] == 1
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    diff = api.get("/api/v1/flows/custom/diff?from_version=1&to_version=2").json()
    assert {"kind": "added", "text": '  "id": "polish",'} in diff["lines"]
    activated = api.post("/api/v1/flows/custom/versions/2/activate")
    assert (activated.status_code, activated.json()["live"]) == (200, True)
    assert api.get("/api/v1/flows/custom").json()["live"]["version"] == 2
    api.post("/api/v1/flows/custom/versions/1/activate")  # rollback
    assert api.get("/api/v1/flows/custom/versions/1").json()["live"] is True
    listed = api.get("/api/v1/flows/custom/versions").json()
    assert [(v["version"], v["live"]) for v in listed["results"]] == [(2, False), (1, True)]


def test_creating_a_flow_that_exists_is_a_conflict(api_for, tenant_a):
    api = api_for(tenant_a)
    _create(api)
    again = _create(api)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    with tenant_scope(tenant_a):
        assert FlowDefinition.objects.count() == 1


def test_editing_maestros_flow_saves_the_tenants_own_copy(api_for, tenant_a):
    with cross_tenant_access("test: install Maestro's shared flows"):
        flow_definitions_install()
    api = api_for(tenant_a)
    own = api.post("/api/v1/flows/post/versions", {"steps": [GEN], "activate": True}, format="json")
    assert own.status_code == 201, own.json()
    assert (own.json()["version"], own.json()["shared"]) == (2, False)
    with cross_tenant_access("test: Maestro's row is untouched"):
        shared = FlowDefinition.objects.get(tenant=None, name="post")
    assert (shared.steps, shared.is_active) == (DEFAULT_POST_FLOW, True)


def test_a_bad_definition_answers_422_naming_the_step_and_saves_nothing(api_for, tenant_a):
    api = api_for(tenant_a)
    steps = [GEN, {"id": "polish", "type": "transform", "target": "later"}, {"id": "x", "type": "shout"}]
    response = _create(api, steps=steps)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["steps"] == [
        "step 3 (x): type: unknown type 'shout'; known: branch, critique, fanout, generate, http, retrieve, "
        "revise, transform"
    ]
    loop = [
        GEN,
        {"id": "c", "type": "critique", "target": "draft"},
        {"id": "b", "type": "branch", "if": "c.failed", "goto": "draft"},
    ]
    assert "never loops back" in _create(api, steps=loop).json()["error"]["details"]["steps"][0]
    with tenant_scope(tenant_a):
        assert not FlowDefinition.objects.exists()


def test_a_body_of_the_wrong_shape_answers_400(api_for, tenant_a):
    api = api_for(tenant_a)
    response = api.post("/api/v1/flows", {"name": "custom", "steps": "generate"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["steps"] == ["Must be a list."]
    assert _create(api, name="Not A Slug").status_code == 400


def test_a_key_without_the_admin_scope_reads_but_cannot_edit(api_for, tenant_a):
    make_definition(tenant=tenant_a)
    api = api_for(tenant_a, scopes=[Scope.READ, Scope.GENERATE, Scope.REVIEW])
    assert api.get("/api/v1/flows/post").status_code == 200
    refused = _create(api)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"required_scope": "admin"}
    assert api.post("/api/v1/flows/post/versions/1/activate").status_code == 403
    assert (
        api.post("/api/v1/flows/post/dry-run", {"author": 1, "brief": "x"}, format="json").status_code == 403
    )
    assert api.post("/api/v1/flow-secrets", {"name": "crm", "value": "x"}, format="json").status_code == 403


def test_a_writer_signed_in_can_view_flows_but_not_edit_them(client_for, members_a, tenant_a):
    make_definition(tenant=tenant_a)
    client = client_for(members_a["writer"])
    assert client.get("/api/v1/flows/post", HTTP_X_TENANT=tenant_a.slug).status_code == 200
    body = {"name": "custom", "steps": [GEN]}
    response = client.post(
        "/api/v1/flows", body, content_type="application/json", HTTP_X_TENANT=tenant_a.slug
    )
    assert response.status_code == 403
    editor = client_for(members_a["editor"])
    created = editor.post("/api/v1/flows", body, content_type="application/json", HTTP_X_TENANT=tenant_a.slug)
    assert created.status_code == 201


def test_another_tenants_flows_and_secrets_are_404(api_for, tenant_a, tenant_b):
    with tenant_scope(tenant_b):
        flow_definition_save(name="theirs", steps=[GEN], activate=True)
        flow_secret_set(name="their-crm", value="their-secret-0123456789")
    api = api_for(tenant_a)
    assert api.get("/api/v1/flows").json()["results"] == []
    for url in ("/api/v1/flows/theirs", "/api/v1/flows/theirs/versions", "/api/v1/flows/theirs/versions/1"):
        assert api.get(url).status_code == 404, url
    assert api.post("/api/v1/flows/theirs/versions/1/activate").status_code == 404
    assert api.post("/api/v1/flows/theirs/versions", {"steps": [GEN]}, format="json").status_code == 404
    assert api.get("/api/v1/flow-secrets").json()["results"] == []
    assert api.delete("/api/v1/flow-secrets/their-crm").status_code == 404
    with tenant_scope(tenant_b):
        assert FlowDefinition.objects.get(name="theirs").is_active


def test_a_secret_is_set_masked_rotated_and_never_returned(api_for, tenant_a):
    api = api_for(tenant_a)
    created = api.post(
        "/api/v1/flow-secrets", {"name": "crm", "value": "crm-token-0123456789"}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["mask"] == "crm…6789"
    assert created.json()["value"] is None
    listed = api.get("/api/v1/flow-secrets").json()["results"]
    assert listed == [{**listed[0], "name": "crm", "mask": "crm…6789"}]
    assert "crm-token-0123456789" not in json.dumps(listed)
    rotated = api.post(
        "/api/v1/flow-secrets", {"name": "crm", "value": "crm-token-ROTATED-99"}, format="json"
    )
    assert rotated.status_code == 200
    generated = api.post("/api/v1/flow-secrets", {"name": "signing"}, format="json").json()["value"]
    assert generated.startswith("fsec_")
    with tenant_scope(tenant_a):
        assert FlowSecret.objects.get(name="crm").value() == "crm-token-ROTATED-99"
    with connection.cursor() as cursor:
        cursor.execute("SELECT value_encrypted FROM orchestrator_flowsecret")
        stored = " ".join(row[0] for row in cursor.fetchall())
    assert "crm-token-ROTATED-99" not in stored
    assert generated not in stored
    assert api.delete("/api/v1/flow-secrets/crm").status_code == 204
    with tenant_scope(tenant_a):
        assert not FlowSecret.objects.filter(name="crm").exists()


def test_a_dry_run_over_the_api_spends_and_queues_nothing(api_for, tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts and flows"):
        prompt_defaults_install()
        flow_definitions_install()
    author = make_author(tenant=tenant_a)
    with tenant_scope(tenant_a):
        style_profile_save(author=author, created_by=None, tone="Direct")
    api = api_for(tenant_a)
    secret = api.post("/api/v1/flow-secrets", {"name": "crm"}, format="json").json()["value"]
    crm = {
        "id": "crm",
        "type": "http",
        "url": "https://crm.example.com/hooks",
        "secret": "crm",
        "sign": True,
        "headers": {"X-Token": "{secret}"},
    }
    saved = api.post("/api/v1/flows/post/versions", {"steps": [*DEFAULT_POST_FLOW, crm]}, format="json")
    assert saved.status_code == 201, saved.json()
    response = api.post(
        "/api/v1/flows/post/dry-run", {"author": author.pk, "brief": "Week-one calls"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["version"] == 2
    assert [step["id"] for step in body["steps"]] == ["memories", "draft", "review", "polish", "crm"]
    assert body["steps"][1]["calls"][0]["model"] == "standard-a"
    assert body["steps"][4]["request"]["headers"]["X-Token"].startswith("[secret crm: fse…")
    assert secret not in json.dumps(body)
    assert fake_provider.requests() == []
    with tenant_scope(tenant_a):
        assert (Trace.objects.count(), Draft.objects.count()) == (0, 0)
    other = api.post(
        "/api/v1/flows/post/dry-run", {"author": author.pk, "brief": "x", "version": 9}, format="json"
    )
    assert other.status_code == 404
