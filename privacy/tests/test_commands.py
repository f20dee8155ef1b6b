"""The operators' export and erasure commands: clear refusals, nothing lost, a report printed."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from audit.selectors import audit_events
from authors.models import Author
from memories.tests.factories import make_memory
from orchestrator.tests.factories import make_author
from tenants.context import tenant_scope
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_export_writes_the_zip_and_never_overwrites(tenant_a, tmp_path):
    author = make_author(tenant=tenant_a)
    make_memory(tenant=tenant_a, author=author)
    target = tmp_path / "export.zip"
    assert "rows" in run(
        "privacy_export", "--tenant", tenant_a.slug, "--author", str(author.pk), "--output", str(target)
    )
    with zipfile.ZipFile(target) as archive:
        assert json.loads(archive.read("manifest.json"))["files"]["memories.memory.json"] == 1
    with pytest.raises(CommandError, match="nothing is overwritten"):
        run("privacy_export", "--tenant", tenant_a.slug, "--output", str(target))
    with tenant_scope(tenant_a):
        [event] = audit_events(action="export.author")
    assert event.actor_label == ""


def test_export_refuses_an_unknown_tenant_or_author(tenant_a, tenant_b, tmp_path):
    theirs = make_author(tenant=tenant_b)
    with pytest.raises(CommandError, match="No tenant"):
        run("privacy_export", "--tenant", "nope", "--output", str(tmp_path / "a.zip"))
    with pytest.raises(CommandError, match="has no author"):
        run(
            "privacy_export",
            "--tenant",
            tenant_a.slug,
            "--author",
            str(theirs.pk),
            "--output",
            str(tmp_path / "a.zip"),
        )
    assert not (tmp_path / "a.zip").exists()


def test_erase_needs_yes_and_prints_the_report(tenant_a, tenant_b):
    author = make_author(tenant=tenant_a)
    theirs = make_author(tenant=tenant_b)
    with pytest.raises(CommandError, match="--yes"):
        run("privacy_erase", "--tenant", tenant_a.slug, "--author", str(author.pk))
    with pytest.raises(CommandError, match="has no author"):
        run("privacy_erase", "--tenant", tenant_a.slug, "--author", str(theirs.pk), "--yes")
    assert Author.objects.unscoped().filter(pk__in=[author.pk, theirs.pk]).count() == 2
    printed = json.loads(run("privacy_erase", "--tenant", tenant_a.slug, "--author", str(author.pk), "--yes"))
    assert printed == {"erased": f"author #{author.pk}", "removed": {"authors.author": 1}}


@pytest.mark.django_db(transaction=True)
def test_erasing_a_whole_tenant_needs_its_export_first(tenant_a, tmp_path):
    with pytest.raises(CommandError, match="Export the tenant"):
        run("privacy_erase", "--tenant", tenant_a.slug, "--whole-tenant", "--yes")
    run("privacy_export", "--tenant", tenant_a.slug, "--output", str(tmp_path / "all.zip"))
    printed = json.loads(run("privacy_erase", "--tenant", tenant_a.slug, "--whole-tenant", "--yes"))
    assert printed["removed"]["tenants.tenant"] == 1
    assert not Tenant.objects.filter(pk=tenant_a.pk).exists()
