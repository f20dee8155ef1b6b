"""Editing flow definitions: validation (nothing saved when wrong), immutable versions, activation and
rollback, the tenant's own copy of a shared flow, and secrets encrypted at rest. Real PostgreSQL."""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404

from audit.models import AuditEvent
from orchestrator import selectors
from orchestrator.flows.definitions import DEFAULT_POST_FLOW
from orchestrator.flows.editing import (
    flow_definition_activate,
    flow_definition_save,
    flow_secret_set,
)
from orchestrator.flows.services import flow_definition_for, flow_definitions_install, flow_start
from orchestrator.models import FlowDefinition, FlowRun, FlowSecret
from orchestrator.tests.factories import make_author
from tenants.context import cross_tenant_access, tenant_scope

pytestmark = pytest.mark.django_db

GEN = {"id": "draft", "type": "generate", "prompt": "post"}
CRIT = {"id": "check", "type": "critique", "target": "draft"}


def http(**options) -> dict:
    return {"id": "crm", "type": "http", "url": "https://crm.example.com/hooks", **options}


# (steps, what the error says): each a different way a definition is wrong.
BAD_DEFINITIONS = [
    ({"id": "x"}, "non-empty list of steps"),
    ([], "non-empty list of steps"),
    (["generate"], "step 1: must be an object"),
    ([{"id": "2bad", "type": "generate"}], "step 1 (2bad): id must be a short identifier"),
    ([GEN, {**GEN}], "step 2 (draft): id is used twice"),
    ([{"id": "a", "type": "summarise"}], "step 1 (a): type: unknown type 'summarise'"),
    ([{**GEN, "temperature": 2}], "step 1 (draft): temperature: unknown option"),
    ([{"id": "m", "type": "retrieve", "limit": "8"}], "step 1 (m): limit: must be a whole number"),
    ([{"id": "m", "type": "retrieve", "limit": True}], "step 1 (m): limit: must be a whole number"),
    ([{"id": "m", "type": "retrieve", "limit": 500}], "step 1 (m): limit: must be between 1 and 50"),
    ([{"id": "b", "type": "branch", "if": "x.passes"}], "step 1 (b): goto: is required"),
    ([{**GEN, "prompt": "poem"}], "step 1 (draft): prompt: 'poem' is not a prompt of the library"),
    ([GEN, {**CRIT, "target": "nowhere"}], "step 2 (check): target: 'nowhere' is not a step of this flow"),
    ([{**CRIT, "target": "draft"}, GEN], "step 1 (check): target: 'draft' must be an earlier step"),
    (
        [
            GEN,
            CRIT,
            {"id": "b", "type": "branch", "if": "check.passes", "goto": "t"},
            {"id": "t", "type": "transform", "target": "b"},
        ],
        "step 4 (t): target: 'b' writes no text",
    ),
    (
        [GEN, CRIT, {"id": "b", "type": "branch", "if": "check.failed", "goto": "draft"}],
        "step 3 (b): goto: 'draft' must be a later step (a flow never loops back)",
    ),
    (
        [
            GEN,
            {"id": "b", "type": "branch", "if": "draft.passes", "goto": "t"},
            {"id": "t", "type": "transform"},
        ],
        "step 2 (b): if: 'draft' gives no verdict",
    ),
    (
        [
            GEN,
            CRIT,
            {"id": "b", "type": "branch", "if": "check is good", "goto": "t"},
            {"id": "t", "type": "transform"},
        ],
        "step 3 (b): if: 'check is good' is not a condition",
    ),
    (
        [GEN, {"id": "r", "type": "revise", "target": "draft", "max_rounds": 50}],
        "step 2 (r): max_rounds: must be between 0 and 5",
    ),
    ([{"id": "v", "type": "fanout", "variants": 40}], "step 1 (v): variants: must be between 2 and 5"),
    ([GEN, {"id": "t", "type": "transform", "ops": ["shout"]}], "step 2 (t): ops: unknown ops ['shout']"),
    ([{"id": f"s{i}", "type": "transform"} for i in range(31)], "at most 30 steps"),
    ([http(url="ftp://crm.example.com")], "step 1 (crm): url: give an http(s) URL"),
    ([http(timeout=600)], "step 1 (crm): timeout: must be between 1 and 30"),
    ([http(headers={"Host": "evil.example"})], "step 1 (crm): headers: 'Host' is set by Maestro"),
    ([http(headers={"content-length": "1"})], "step 1 (crm): headers: 'content-length' is set by Maestro"),
    ([http(headers={"X Bad": "1"})], "step 1 (crm): headers: 'X Bad' is not a header name"),
    ([http(headers={"X-A": "1\r\nHost: x"})], "step 1 (crm): headers: 'X-A' has a value that is too long"),
    ([http(headers={"X-A": 5})], "step 1 (crm): headers: 'X-A' must have a text value"),
    ([http(headers={"Authorization": "Bearer {secret}"})], "uses {secret} but the step names no secret"),
    ([http(sign=True)], "step 1 (crm): sign: signing needs a secret"),
    ([http(secret="crm-key")], "step 1 (crm): secret: 'crm-key' is not set"),
]


@pytest.mark.parametrize(("steps", "message"), BAD_DEFINITIONS)
def test_a_bad_definition_is_refused_with_the_step_and_field_and_nothing_is_saved(
    in_tenant_a, steps, message
):
    with pytest.raises(ValidationError) as caught:
        flow_definition_save(name="custom", steps=steps)
    assert any(message in text for text in caught.value.message_dict["steps"]), caught.value.message_dict
    assert not FlowDefinition.objects.exists()
    assert not AuditEvent.objects.filter(action="flow.version_saved").exists()


@pytest.mark.parametrize("name", ["", "Post", "with space", "-post", "x" * 61])
def test_a_flow_name_must_be_a_slug(in_tenant_a, name):
    with pytest.raises(ValidationError) as caught:
        flow_definition_save(name=name, steps=[GEN])
    assert "slug" in caught.value.message_dict["name"][0]
    assert not FlowDefinition.objects.exists()


def test_every_save_is_a_new_version_and_the_earlier_one_never_changes(in_tenant_a, members_a):
    editor = members_a["editor"].user
    first = flow_definition_save(name="custom", steps=[GEN], description="One", created_by=editor)
    second_steps = [GEN, {"id": "polish", "type": "transform", "target": "draft", "ops": ["trim"]}]
    second = flow_definition_save(name="custom", steps=second_steps, description="Two", created_by=editor)
    assert (first.version, second.version) == (1, 2)
    first.refresh_from_db()
    assert (first.steps, first.description) == ([GEN], "One")
    assert [v.version for v in selectors.flow_versions(name="custom")] == [2, 1]
    assert AuditEvent.objects.filter(action="flow.version_saved").count() == 2
    assert first.created_by == editor


def test_a_saved_version_is_live_only_once_activated_and_rollback_restores_the_older_one(in_tenant_a):
    author = make_author(tenant=in_tenant_a)
    first = flow_definition_save(name="custom", steps=[GEN], activate=True)
    second = flow_definition_save(name="custom", steps=[GEN, CRIT])
    assert flow_definition_for("custom").pk == first.pk  # saved, not live yet
    flow_definition_activate(definition=second)
    assert flow_definition_for("custom").pk == second.pk
    run, _ = flow_start(author=author, brief="Week-one calls", flow_name="custom")
    assert run.definition_id == second.pk
    flow_definition_activate(definition=first)  # rollback
    assert flow_definition_for("custom").pk == first.pk
    assert list(FlowDefinition.objects.filter(is_active=True).values_list("version", flat=True)) == [1]
    run.refresh_from_db()  # a run keeps the version (and the steps) it started with
    assert (run.definition_id, run.steps) == (second.pk, [GEN, CRIT])
    assert [(v.version, v.used, v.live) for v in selectors.flow_versions(name="custom")] == [
        (2, True, False),
        (1, False, True),
    ]


def test_editing_a_shared_flow_saves_the_tenants_own_copy_and_leaves_maestros_untouched(tenant_a, tenant_b):
    with cross_tenant_access("test: install Maestro's shared flows"):
        flow_definitions_install()
    edited = copy.deepcopy(DEFAULT_POST_FLOW)
    edited[2]["max_rounds"] = 1
    with tenant_scope(tenant_a):
        shared = flow_definition_for("post")
        own = flow_definition_save(name="post", steps=edited, activate=True)
        assert (own.tenant_id, own.version) == (tenant_a.pk, 2)
        assert flow_definition_for("post").pk == own.pk
    with tenant_scope(tenant_b):  # another tenant still runs Maestro's
        assert flow_definition_for("post").pk == shared.pk
        assert [v.version for v in selectors.flow_versions(name="post")] == [1]
    shared.refresh_from_db()
    assert (shared.tenant_id, shared.steps, shared.is_active) == (None, DEFAULT_POST_FLOW, True)
    with tenant_scope(tenant_a):
        flow_definition_activate(definition=shared)  # back to Maestro's
        assert flow_definition_for("post").pk == shared.pk
        assert not FlowDefinition.objects.filter(tenant=tenant_a, is_active=True).exists()


def test_versions_of_another_tenant_are_invisible(tenant_a, tenant_b):
    with tenant_scope(tenant_b):
        theirs = flow_definition_save(name="custom", steps=[GEN], activate=True)
    with tenant_scope(tenant_a):
        assert selectors.flow_versions(name="custom") == []
        assert selectors.flow_overview() == []
        with pytest.raises(Http404):
            selectors.access_flow_definition(definition_id=theirs.pk)
        mine = flow_definition_save(name="custom", steps=[GEN, CRIT])
    assert mine.version == 1  # numbered among what tenant A sees, not B's versions


def test_the_diff_of_two_versions_shows_the_changed_option(in_tenant_a):
    first = flow_definition_save(name="custom", steps=[GEN, {**CRIT}])
    second = flow_definition_save(name="custom", steps=[GEN, {**CRIT, "prompt": "revise"}])
    lines = selectors.flow_version_diff(first, second)
    assert ("added", '  "prompt": "revise",') in [(line.kind, line.text) for line in lines]
    assert selectors.flow_version_diff(first, first) == []


# ---- secrets ------------------------------------------------------------------------------------


def _raw_secret_row(name: str) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM orchestrator_flowsecret WHERE name = %s", [name])
        return cursor.fetchone()


def test_a_secret_is_encrypted_in_its_row_and_a_new_value_replaces_it(in_tenant_a):
    secret, generated = flow_secret_set(name="crm", value="crm-token-0123456789")
    assert generated == ""
    row = _raw_secret_row("crm")
    assert "crm-token-0123456789" not in repr(row)
    assert secret.mask == "crm…6789"
    assert FlowSecret.objects.get(name="crm").value() == "crm-token-0123456789"
    rotated, _ = flow_secret_set(name="crm", value="crm-token-NEW-987654")
    assert rotated.pk == secret.pk
    assert FlowSecret.objects.get(name="crm").value() == "crm-token-NEW-987654"
    assert FlowSecret.objects.count() == 1
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "target_label", "after"))
    assert actions == [("flow.secret_set", "crm", {}), ("flow.secret_rotated", "crm", {})]


def test_a_blank_secret_is_generated_and_returned_once(in_tenant_a):
    secret, generated = flow_secret_set(name="signing", value="")
    assert generated.startswith("fsec_")
    assert len(generated) > 40
    assert generated not in repr(_raw_secret_row("signing"))
    assert FlowSecret.objects.get(pk=secret.pk).value() == generated


def test_a_secret_of_another_tenant_does_not_satisfy_a_step(tenant_a, tenant_b):
    with tenant_scope(tenant_b):
        flow_secret_set(name="crm", value="theirs-0123456789")
    with tenant_scope(tenant_a), pytest.raises(ValidationError, match="'crm' is not set"):
        flow_definition_save(name="custom", steps=[GEN, http(secret="crm", sign=True)])


def test_a_run_in_progress_is_not_changed_by_a_new_version(in_tenant_a):
    author = make_author(tenant=in_tenant_a)
    flow_definition_save(name="custom", steps=[GEN], activate=True)
    run, _ = flow_start(author=author, brief="Week-one calls", flow_name="custom")
    flow_definition_save(name="custom", steps=[GEN, CRIT], activate=True)
    assert FlowRun.objects.get(pk=run.pk).steps == [GEN]
