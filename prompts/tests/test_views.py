"""The editor's pages end to end: edit a prompt, compare, roll production back; roles and tenants hold."""

from __future__ import annotations

import pytest

from prompts.models import ChangeKind, PromptChange, PromptTemplate, PromptVersion
from prompts.selectors import resolve_prompt
from prompts.tests.factories import SIMPLE_MESSAGES, make_experiment, make_template
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def edit_form(
    *, system: str, note: str = "Sharper hook", variables: str | None = None, production: bool = True
):
    data = {
        "messages-TOTAL_FORMS": "3",
        "messages-INITIAL_FORMS": "2",
        "messages-MIN_NUM_FORMS": "0",
        "messages-MAX_NUM_FORMS": "12",
        "messages-0-role": "system",
        "messages-0-content": system,
        "messages-1-role": "user",
        "messages-1-content": SIMPLE_MESSAGES[1]["content"],
        "messages-2-role": "user",
        "messages-2-content": "",
        "variables": variables
        if variables is not None
        else "author_name: Who\nbrief: What\nmemories?: Facts",
        "tier": "premium",
        "temperature": "0.9",
        "max_tokens": "1000",
        "change_note": note,
    }
    if production:
        data["make_production"] = "on"
    return data


def url(tenant, path: str = "") -> str:
    return f"/t/{tenant.slug}/prompts/{path}"


def test_an_editor_edits_a_default_prompt_then_rolls_production_back(client_for, members_a, tenant_a):
    shared = make_template(tenant=None, name="default")
    client = client_for(members_a[Role.EDITOR])

    assert "post" in client.get(url(tenant_a)).content.decode()
    form_page = client.get(url(tenant_a, f"{shared.pk}/new/")).content.decode()
    assert "You write for {{ author_name }}" in form_page  # prefilled from production

    response = client.post(
        url(tenant_a, f"{shared.pk}/new/"), edit_form(system="Write as {{ author_name }}, briefly.")
    )
    with tenant_scope(tenant_a):
        override = PromptTemplate.objects.get(tenant=tenant_a)
        edited = resolve_prompt(purpose="post").version
    assert response.status_code == 302
    assert response.url == url(tenant_a, f"{override.pk}/")
    assert (edited.number, edited.tier, edited.created_by) == (2, "premium", members_a[Role.EDITOR].user)

    detail = client.get(response.url).content.decode()
    assert "Sharper hook" in detail
    assert "Roll back to this" in detail

    original = PromptVersion.objects.unscoped().get(template=override, number=1)
    diff = client.get(url(tenant_a, f"diff/?a={original.pk}&b={edited.pk}"), headers={"HX-Request": "true"})
    fragment = diff.content.decode()
    assert '<span class="added">+ Write as {{ author_name }}, briefly.</span>' in fragment
    assert "<html" not in fragment

    rollback = client.post(url(tenant_a, f"versions/{original.pk}/"))
    assert rollback.status_code == 302
    with tenant_scope(tenant_a):
        assert resolve_prompt(purpose="post").version == original
        last = PromptChange.objects.filter(template=override).first()
    assert (last.kind, last.from_version, last.version) == (ChangeKind.ROLLED_BACK, edited, original)
    assert "rolled back" in client.get(response.url).content.decode()


def test_bad_input_shows_the_form_again_with_the_errors_and_nothing_lost(client_for, members_a, tenant_a):
    shared = make_template(tenant=None, name="default")
    client = client_for(members_a[Role.EDITOR])
    text = "Hello {{ ceo_name }}, my carefully written prompt"
    response = client.post(url(tenant_a, f"{shared.pk}/new/"), edit_form(system=text))
    page = response.content.decode()
    assert response.status_code == 200
    assert "{{ ceo_name }} is not a declared variable" in page
    assert "my carefully written prompt" in page
    with tenant_scope(tenant_a):
        assert not PromptTemplate.objects.filter(tenant=tenant_a).exists()  # no empty override left behind


def test_a_label_moves_through_the_template_page(client_for, members_a, tenant_a):
    template = make_template(tenant=tenant_a)
    client = client_for(members_a[Role.EDITOR])
    client.post(
        url(tenant_a, f"{template.pk}/new/"), edit_form(system="v2 {{ author_name }}", production=False)
    )
    with tenant_scope(tenant_a):
        v2 = template.versions.get(number=2)
    response = client.post(
        url(tenant_a, f"{template.pk}/"), {"label": "staging", "version": v2.pk, "note": ""}
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        assert resolve_prompt(purpose="post", name=template.name, label="staging").version == v2
        assert resolve_prompt(purpose="post", name=template.name).version.number == 1


def test_an_ab_experiment_starts_shows_results_side_by_side_and_stops(client_for, members_a, tenant_a):
    template = make_template(tenant=tenant_a)
    client = client_for(members_a[Role.EDITOR])
    client.post(
        url(tenant_a, f"{template.pk}/new/"), edit_form(system="B {{ author_name }}", production=False)
    )
    with tenant_scope(tenant_a):
        v2 = template.versions.get(number=2)
    bad = client.post(url(tenant_a, f"{template.pk}/experiment/"), {"version_b": v2.pk, "share_b": "150"})
    assert bad.status_code == 200
    assert "errors" in bad.content.decode() or "error" in bad.content.decode()
    started = client.post(url(tenant_a, f"{template.pk}/experiment/"), {"version_b": v2.pk, "share_b": "30"})
    assert started.status_code == 302
    page = client.get(started.url).content.decode()
    assert "Running: v1 vs v2" in page
    assert page.count("Approval rate") == 2
    with tenant_scope(tenant_a):
        experiment = template.experiments.get()
    client.post(url(tenant_a, f"experiments/{experiment.pk}/stop/"))
    experiment.refresh_from_db()
    assert not experiment.is_running


def test_a_viewer_reads_but_cannot_change_anything(client_for, members_a, tenant_a):
    template = make_template(tenant=tenant_a)
    shared = make_template(tenant=None, name="default")
    client = client_for(members_a[Role.VIEWER])
    with tenant_scope(tenant_a):
        v1 = template.versions.get()
    for path in [
        "",
        f"{template.pk}/",
        f"versions/{v1.pk}/",
        f"{template.pk}/experiment/",
        f"diff/?a={v1.pk}&b={v1.pk}",
    ]:
        page = client.get(url(tenant_a, path))
        assert page.status_code == 200, path
        assert "Move label" not in page.content.decode()
    for path in [f"{shared.pk}/new/", f"{template.pk}/", f"versions/{v1.pk}/", f"{template.pk}/experiment/"]:
        assert client.post(url(tenant_a, path), edit_form(system="x")).status_code == 403, path
    with tenant_scope(tenant_a):
        assert resolve_prompt(purpose="post").version.template == shared


def test_writers_cannot_change_prompts_either(client_for, members_a, tenant_a):
    shared = make_template(tenant=None, name="default")
    client = client_for(members_a[Role.WRITER])
    assert client.get(url(tenant_a, f"{shared.pk}/new/")).status_code == 403
    assert client.post(url(tenant_a, f"{shared.pk}/new/"), edit_form(system="x")).status_code == 403


def test_maestros_defaults_cannot_be_relabelled_through_a_tenant(client_for, members_a, tenant_a):
    shared = make_template(tenant=None, name="default")
    client = client_for(members_a[Role.ADMIN])
    version = PromptVersion.objects.unscoped().get(template=shared)
    page = client.get(url(tenant_a, f"{shared.pk}/")).content.decode()
    assert "Move label" not in page
    assert (
        client.post(
            url(tenant_a, f"{shared.pk}/"), {"label": "production", "version": version.pk}
        ).status_code
        == 403
    )
    assert client.post(url(tenant_a, f"versions/{version.pk}/")).status_code == 403


def test_tenant_bs_versions_cannot_be_diffed_or_seen_from_tenant_a(client_for, members_a, tenant_a, tenant_b):
    theirs = make_template(tenant=tenant_b)
    ours = make_template(tenant=tenant_a)
    with tenant_scope(tenant_b):
        their_version = theirs.versions.get()
        experiment = make_experiment(tenant=tenant_b)
    with tenant_scope(tenant_a):
        our_version = ours.versions.get()
    client = client_for(members_a[Role.ADMIN])
    assert client.get(url(tenant_a, f"diff/?a={their_version.pk}&b={our_version.pk}")).status_code == 404
    assert client.get(url(tenant_a, f"diff/?a={our_version.pk}&b={their_version.pk}")).status_code == 404
    assert client.get(url(tenant_a, f"versions/{their_version.pk}/")).status_code == 404
    assert client.post(url(tenant_a, f"experiments/{experiment.pk}/stop/")).status_code == 404
    assert ours.name in client.get(url(tenant_a)).content.decode()
    assert theirs.name not in client.get(url(tenant_a)).content.decode()
