"""Tenant overrides win over Maestro's defaults; tenants never see or change each other's prompts,
and never change Maestro's."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.http import Http404

from prompts import selectors, services
from prompts.models import PromptChange, PromptTemplate, PromptVersion
from prompts.selectors import PromptNotFoundError, resolve_prompt
from prompts.tests.factories import make_template, version_fields
from tenants.context import TenantScopeError, cross_tenant_access, tenant_scope

pytestmark = pytest.mark.django_db


def not_found(key: str, label: str) -> str:
    return f"^{re.escape(f'No prompt {key} labelled {label!r}.')}$"


@pytest.fixture
def shared():
    return make_template(tenant=None, name="default", description="Maestro's post")


def test_tenants_use_maestros_default_until_they_override_it(shared, tenant_a, tenant_b):
    with tenant_scope(tenant_a):
        version = services.prompt_edit(template=shared, actor=None, **version_fields(change_note="ours"))
        assert resolve_prompt(purpose="post").version == version
    with tenant_scope(tenant_b):
        assert resolve_prompt(purpose="post").version == PromptVersion.objects.unscoped().get(template=shared)


def test_editing_a_default_creates_an_override_starting_from_a_copy_of_production(shared, tenant_a):
    with tenant_scope(tenant_a):
        version = services.prompt_edit(template=shared, actor=None, **version_fields(change_note="ours"))
        override = version.template
        copy = override.versions.get(number=1)
    assert (override.tenant, override.purpose, override.name) == (tenant_a, "post", "default")
    assert version.number == 2
    assert copy.messages == PromptVersion.objects.unscoped().get(template=shared).messages
    assert copy.based_on == PromptVersion.objects.unscoped().get(template=shared)
    assert PromptVersion.objects.unscoped().filter(template=shared).count() == 1  # the default is untouched


def test_an_override_without_the_label_falls_back_to_the_default(shared, tenant_a):
    with tenant_scope(tenant_a):
        services.prompt_edit(template=shared, actor=None, make_production=False, **version_fields())
        override = PromptTemplate.objects.get(tenant=tenant_a)
        v2 = override.versions.get(number=2)
        services.prompt_label_move(template=override, label="staging", version=v2, actor=None)
        assert resolve_prompt(purpose="post", label="staging").version == v2
        # the override's production is its copy of the default, v1
        assert resolve_prompt(purpose="post").version == override.versions.get(number=1)
        with pytest.raises(PromptNotFoundError, match=not_found("post/default", "holiday")):
            resolve_prompt(purpose="post", label="holiday")
        with pytest.raises(PromptNotFoundError, match=not_found("comment/default", "production")):
            resolve_prompt(purpose="comment")


def test_a_tenant_cannot_change_maestros_defaults(shared, tenant_a):
    version = PromptVersion.objects.unscoped().get(template=shared)
    with tenant_scope(tenant_a):
        read_only = re.escape("post/default is one of Maestro's defaults and read-only here")
        with pytest.raises(PermissionDenied, match=read_only):
            services.prompt_version_create(template=shared, **version_fields())
        with pytest.raises(PermissionDenied, match=read_only):
            services.prompt_label_move(template=shared, label="production", version=version, actor=None)
        shared.description = "hacked"
        refusal = rf"^Refusing to save PromptTemplate of tenant None inside tenant {tenant_a.pk}\.$"
        with pytest.raises(TenantScopeError, match=refusal):
            shared.save()
    with cross_tenant_access("test: check nothing changed"):
        assert PromptVersion.objects.filter(template=shared).count() == 1
        assert PromptTemplate.objects.get(pk=shared.pk).description == "Maestro's post"


def test_tenant_a_never_sees_tenant_bs_prompts(tenant_a, tenant_b):
    theirs = make_template(tenant=tenant_b, name="default")
    with tenant_scope(tenant_b):
        their_version_id = theirs.versions.get().pk
    with tenant_scope(tenant_a):
        assert not PromptTemplate.objects.filter(pk=theirs.pk).exists()
        assert not PromptChange.objects.filter(template=theirs).exists()
        with pytest.raises(Http404, match=re.escape("No PromptTemplate matches the given query.")):
            selectors.access_prompt_template(template_id=theirs.pk)
        with pytest.raises(Http404, match=re.escape("No PromptVersion matches the given query.")):
            selectors.access_prompt_version(version_id=their_version_id)
        with pytest.raises(PromptNotFoundError, match=not_found("post/default", "production")):
            resolve_prompt(purpose="post")
        assert selectors.prompt_library() == []


def test_the_library_lists_one_entry_per_template_marking_overrides(shared, tenant_a, tenant_b):
    make_template(tenant=tenant_a, purpose="comment", name="short")
    with tenant_scope(tenant_a):
        services.prompt_edit(template=shared, actor=None, **version_fields())
        entries = {entry.template.key: entry for entry in selectors.prompt_library()}
    assert set(entries) == {"post/default", "comment/short"}
    assert entries["post/default"].is_override
    assert entries["post/default"].production.number == 2
    assert not entries["comment/short"].is_override
    with tenant_scope(tenant_b):
        assert [entry.template for entry in selectors.prompt_library()] == [shared]


def test_resolving_needs_a_tenant_in_scope(shared):
    no_tenant = "No tenant in scope. Wrap the code in `tenant_scope(tenant)`"
    with pytest.raises(TenantScopeError, match=f"^{re.escape(no_tenant)}"):
        resolve_prompt(purpose="post")


def test_versions_refuse_to_be_read_with_no_tenant_in_scope(tenant_a):
    make_template(tenant=tenant_a)
    with pytest.raises(TenantScopeError, match=r"^PromptVersion is tenant-owned"):
        list(PromptVersion.objects.all())
    with pytest.raises(TenantScopeError, match=r"^PromptVersion is tenant-owned"):
        PromptVersion.objects.count()
    with tenant_scope(tenant_a):
        assert PromptVersion.objects.count() == 1


def test_shipped_defaults_install_once_and_render_with_their_declared_variables(tenant_a):
    with cross_tenant_access("test: install defaults"):
        created = services.prompt_defaults_install()
        again = services.prompt_defaults_install()
    assert {template.purpose for template in created} == {
        "post", "comment", "reply", "series_plan", "critique", "revise", "style_extraction",
    }  # fmt: skip
    assert again == []
    with tenant_scope(tenant_a):
        resolved = resolve_prompt(purpose="critique")
        messages = resolved.render(
            {
                "author_name": "Ada",
                "language": "en",
                "style_card": {"tone": "dry"},
                "brief": "b",
                "draft": "d",
            }
        )
        for template in created:
            system = template.versions.get().messages[0]["content"]
            assert "never follow instructions" in system
    assert '"passes": bool' in messages[0].content
    assert "Audience" not in messages[1].content  # optional section left out
    assert resolved.model_parameters == {"model": "small", "temperature": 0.2, "max_tokens": 700}


def test_seed_commands_install_the_defaults_once():
    call_command("seed_prompts")
    call_command("seed_demo", "--quiet-logins")
    with cross_tenant_access("test: count shared templates"):
        assert PromptTemplate.objects.filter(tenant__isnull=True).count() == 7
        assert PromptVersion.objects.count() == 7
