"""The editor's flow pages through Django's test client: create and edit with inline (htmx) errors,
versions, diff, activation and rollback, dry run, secrets; writers only look; other tenants' flows 404."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from authors.services import style_profile_save
from gateway.models import Trace
from gateway.tests.gateway_support import register_fake_models
from orchestrator.flows.definitions import DEFAULT_POST_FLOW
from orchestrator.flows.editing import flow_definition_save
from orchestrator.flows.services import flow_definition_for, flow_definitions_install
from orchestrator.models import FlowDefinition, FlowSecret
from orchestrator.tests.factories import make_author
from prompts.services import prompt_defaults_install
from reviews.models import Draft
from tenants.context import cross_tenant_access, tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db

GEN = {"id": "draft", "type": "generate", "prompt": "post"}
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, tenant, **kwargs) -> str:
    return reverse(f"orchestrator:{name}", kwargs={"tenant_slug": tenant.slug, **kwargs})


def _save(tenant, steps=None, **fields) -> FlowDefinition:
    with tenant_scope(tenant):
        return flow_definition_save(name=fields.pop("name", "custom"), steps=steps or [GEN], **fields)


def test_an_editor_creates_a_flow_and_lands_on_its_version(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.EDITOR])
    assert client.get(url("flow_create", tenant_a)).status_code == 200
    body = {"name": "custom", "description": "Short", "steps": json.dumps([GEN])}
    response = client.post(url("flow_create", tenant_a), body, **HTMX)
    with tenant_scope(tenant_a):
        definition = FlowDefinition.objects.get()
    assert response.headers["HX-Redirect"] == url("flow", tenant_a, flow_id=definition.pk)
    assert (definition.version, definition.is_active, definition.created_by) == (
        1,
        False,
        members_a[Role.EDITOR].user,
    )
    page = client.get(url("flow", tenant_a, flow_id=definition.pk)).content.decode()
    assert 'id="activate-flow"' in page
    assert 'id="dry-run-form"' in page


def test_errors_come_back_inline_with_htmx_and_nothing_is_saved(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.EDITOR])
    bad = [GEN, {"id": "polish", "type": "transform", "target": "later"}]
    response = client.post(url("flow_create", tenant_a), {"name": "custom", "steps": json.dumps(bad)}, **HTMX)
    assert response.status_code == 200  # a fragment htmx swaps in
    page = response.content.decode()
    assert page.lstrip().startswith('<section class="card" id="flow-editor">')
    assert 'id="steps-errors"' in page
    assert "step 2 (polish): target: &#x27;later&#x27; is not a step of this flow" in page
    not_json = client.post(url("flow_create", tenant_a), {"name": "custom", "steps": "[{"}, **HTMX)
    assert "This is not JSON: line 1, column 3" in not_json.content.decode()
    full = client.post(url("flow_create", tenant_a), {"name": "Bad Name", "steps": json.dumps([GEN])})
    assert full.status_code == 400
    assert "slug" in full.content.decode()
    assert "&quot;prompt&quot;: &quot;post&quot;" in full.content.decode()  # what was typed is kept
    with tenant_scope(tenant_a):
        assert not FlowDefinition.objects.exists()


def test_check_reports_problems_or_says_the_flow_is_valid_without_saving(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.EDITOR])
    loop = [
        GEN,
        {"id": "c", "type": "critique", "target": "draft"},
        {"id": "b", "type": "branch", "if": "c.failed", "goto": "draft"},
    ]
    checked = client.post(url("flow_check", tenant_a), {"name": "custom", "steps": json.dumps(loop)}, **HTMX)
    assert "step 3 (b): goto: &#x27;draft&#x27; must be a later step" in checked.content.decode()
    valid = client.post(url("flow_check", tenant_a), {"name": "custom", "steps": json.dumps([GEN])}, **HTMX)
    assert "Valid: 1 step." in valid.content.decode()
    with tenant_scope(tenant_a):
        assert not FlowDefinition.objects.exists()


def test_editing_maestros_flow_saves_the_tenants_copy_and_rollback_restores_maestros(
    client_for, members_a, tenant_a
):
    with cross_tenant_access("test: install Maestro's shared flows"):
        [shared, _variants] = flow_definitions_install()
    client = client_for(members_a[Role.EDITOR])
    edit_page = client.get(url("flow_edit", tenant_a, flow_id=shared.pk)).content.decode()
    assert 'id="shared-copy-note"' in edit_page
    steps = json.dumps(DEFAULT_POST_FLOW[:2])
    client.post(url("flow_edit", tenant_a, flow_id=shared.pk), {"steps": steps, "activate": "1"})
    with tenant_scope(tenant_a):
        own = flow_definition_for("post")
    assert (own.tenant_id, own.version, own.steps) == (tenant_a.pk, 2, DEFAULT_POST_FLOW[:2])
    diff = client.get(url("flow_diff", tenant_a), {"a": shared.pk, "b": own.pk}).content.decode()
    assert '<span class="removed">- ## Step 3: review (revise)</span>' in diff
    response = client.post(url("flow_activate", tenant_a, flow_id=shared.pk))
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        assert flow_definition_for("post").pk == shared.pk


def test_a_writer_sees_flows_but_cannot_create_edit_activate_or_dry_run(client_for, members_a, tenant_a):
    definition = _save(tenant_a, activate=True)
    client = client_for(members_a[Role.WRITER])
    listing = client.get(url("flow_list", tenant_a)).content.decode()
    assert "custom" in listing
    assert 'id="new-flow"' not in listing
    page = client.get(url("flow", tenant_a, flow_id=definition.pk)).content.decode()
    assert 'id="edit-flow"' not in page
    assert 'id="dry-run-form"' not in page
    assert client.get(url("flow_create", tenant_a)).status_code == 403
    body = {"name": "other", "steps": json.dumps([GEN])}
    assert client.post(url("flow_create", tenant_a), body).status_code == 403
    assert client.post(url("flow_edit", tenant_a, flow_id=definition.pk), body).status_code == 403
    assert client.post(url("flow_activate", tenant_a, flow_id=definition.pk)).status_code == 403
    assert client.post(url("flow_dry_run", tenant_a, flow_id=definition.pk), {}).status_code == 403
    assert client.post(url("flow_secrets", tenant_a), {"name": "crm", "value": "x"}).status_code == 403
    with tenant_scope(tenant_a):
        assert FlowDefinition.objects.count() == 1
        assert not FlowSecret.objects.exists()


def test_another_tenants_flow_is_404_on_every_flow_page(client_for, members_a, tenant_a, tenant_b):
    theirs = _save(tenant_b, activate=True)
    client = client_for(members_a[Role.EDITOR])
    for name in ("flow", "flow_edit"):
        assert client.get(url(name, tenant_a, flow_id=theirs.pk)).status_code == 404, name
    for name in ("flow_edit", "flow_activate", "flow_dry_run"):
        assert client.post(url(name, tenant_a, flow_id=theirs.pk), {}).status_code == 404, name
    assert client.get(url("flow_diff", tenant_a), {"a": theirs.pk, "b": theirs.pk}).status_code == 404
    assert "custom" not in client.get(url("flow_list", tenant_a)).content.decode()


def test_a_secret_is_set_shown_masked_and_a_generated_one_shown_once(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.EDITOR])
    response = client.post(url("flow_secrets", tenant_a), {"name": "crm", "value": "crm-token-0123456789"})
    assert response.status_code == 302
    page = client.get(url("flow_list", tenant_a)).content.decode()
    assert "crm…6789" in page
    assert "crm-token-0123456789" not in page
    generated = client.post(url("flow_secrets", tenant_a), {"name": "signing", "value": ""})
    with tenant_scope(tenant_a):
        value = FlowSecret.objects.get(name="signing").value()
    assert value in generated.content.decode()  # this once
    assert value not in client.get(url("flow_list", tenant_a)).content.decode()
    client.post(url("flow_secrets", tenant_a), {"delete": "crm"})
    with tenant_scope(tenant_a):
        assert list(FlowSecret.objects.values_list("name", flat=True)) == ["signing"]


def test_a_dry_run_in_the_browser_shows_prompts_and_models_and_writes_nothing(
    client_for, members_a, tenant_a, fake_provider, settings
):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}
    register_fake_models(tenant_a, fake_provider.base_url)
    with cross_tenant_access("test: install Maestro's shared prompts"):
        prompt_defaults_install()
    author = make_author(tenant=tenant_a)
    with tenant_scope(tenant_a):
        style_profile_save(author=author, created_by=None, tone="Direct")
    definition = _save(tenant_a, steps=DEFAULT_POST_FLOW)
    client = client_for(members_a[Role.EDITOR])
    form = {"author": author.pk, "brief": "Why we call in week one"}
    response = client.post(url("flow_dry_run", tenant_a, flow_id=definition.pk), form, **HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="dry-step-draft"' in page
    assert "<strong>standard-a</strong>" in page
    assert "Why we call in week one" in page
    assert "nothing was spent" in page
    missing = client.post(url("flow_dry_run", tenant_a, flow_id=definition.pk), {"author": author.pk})
    assert missing.status_code == 400
    assert fake_provider.requests() == []
    with tenant_scope(tenant_a):
        assert (Trace.objects.count(), Draft.objects.count()) == (0, 0)
