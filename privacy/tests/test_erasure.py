"""Erasure: an author leaves no row in any table; a tenant leaves nothing but its report."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Q
from django_celery_beat.models import PeriodicTask

from audit.models import AuditEvent
from audit.selectors import audit_events
from authors.models import Author
from authors.tests.factories import make_author
from orchestrator.models import RunStatus
from orchestrator.tests.factories import make_run
from privacy.footprint import author_fk_names, author_footprint, has_plain_author_id, references_author
from privacy.models import ErasureReport
from privacy.services import author_erase, export_build, tenant_erase
from privacy.tests.builders import BUILDERS, build_everything
from tenants.context import tenant_scope
from tenants.models import Membership, Tenant, User
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def rows_referencing(author_id: int) -> dict[str, int]:
    """Every row of every model that names the author, by foreign key or by `author_id`."""
    found = {}
    for model in apps.get_models():
        if not references_author(model):
            continue
        match = Q(author_id=author_id) if has_plain_author_id(model) else Q(pk__in=[])
        for name in author_fk_names(model):
            match |= Q(**{f"{name}_id": author_id})
        count = model._base_manager.filter(match).count()
        if count:
            found[model._meta.label_lower] = count
    return found


def still_there(rows) -> list[str]:
    return [
        f"{row._meta.label_lower} {row.pk}"
        for row in rows
        if type(row)._base_manager.filter(pk=row.pk).exists()
    ]


def test_every_model_that_can_hold_an_authors_rows_has_a_builder_and_is_erased():
    """A new model with a foreign key to Author, an `author_id`, or rows that cannot outlive such a
    row, must be built here (privacy/tests/builders.py) and is then proved erased below."""
    footprint = {part.label for part in author_footprint()} - {"authors.author"}
    referencing = {m._meta.label_lower for m in apps.get_models() if references_author(m)}
    assert referencing <= footprint
    assert footprint - set(BUILDERS) == set(), "add a builder for these models"


def test_erasing_an_author_leaves_no_row_of_theirs_and_keeps_every_other_authors(tenant_a, members_a):
    erased, kept = (
        make_author(tenant=tenant_a, name="Erased Person"),
        make_author(tenant=tenant_a, name="Kept One"),
    )
    erased_rows = build_everything(tenant=tenant_a, author=erased)
    kept_rows = build_everything(tenant=tenant_a, author=kept)
    made = {row._meta.label_lower for row in erased_rows}
    assert set(BUILDERS) <= made  # the builders made a row in every table of the footprint
    assert set(rows_referencing(erased.pk)) == {
        m._meta.label_lower for m in apps.get_models() if references_author(m)
    }

    with tenant_scope(tenant_a):
        report = author_erase(author_id=erased.pk, actor=members_a[Role.ADMIN].user)

    assert rows_referencing(erased.pk) == {}
    assert still_there([erased, *erased_rows]) == []
    assert still_there([kept, *kept_rows]) == [
        f"{row._meta.label_lower} {row.pk}" for row in [kept, *kept_rows]
    ]
    assert report.removed["authors.author"] == 1
    assert set(report.removed) >= set(BUILDERS) | {"django_celery_beat.periodictask"}
    assert "Erased Person" not in str(report.removed) + report.subject_label
    with tenant_scope(tenant_a):
        [event] = audit_events(action="author.erased")
    assert event.target_id == str(erased.pk)
    assert "Erased" not in event.target_label
    assert event.actor_user_id == members_a[Role.ADMIN].user.pk


def test_another_tenants_author_cannot_be_erased(tenant_a, tenant_b):
    theirs = make_author(tenant=tenant_b)
    with tenant_scope(tenant_a), pytest.raises(ObjectDoesNotExist):
        author_erase(author_id=theirs.pk, actor=None)
    assert Author.objects.unscoped().filter(pk=theirs.pk).exists()


@pytest.mark.django_db(transaction=True)  # the erasure's SET LOCAL must end with its own transaction
def test_a_tenant_is_erased_only_after_an_export_and_leaves_only_its_report(tenant_a, tenant_b, members_a):
    author = make_author(tenant=tenant_a)
    build_everything(tenant=tenant_a, author=author)
    other = make_author(tenant=tenant_b)
    other_rows = build_everything(tenant=tenant_b, author=other)
    shared_user = members_a[Role.EDITOR].user
    Membership.objects.create(tenant=tenant_b, user=shared_user, role=Role.VIEWER)
    admin = members_a[Role.ADMIN].user

    with pytest.raises(ValidationError, match="Export"):
        tenant_erase(tenant_id=tenant_a.pk, actor=admin)
    with tenant_scope(tenant_a):
        export_build(actor=admin)
    assert AuditEvent.objects.unscoped().filter(tenant=tenant_a).exists()

    report = tenant_erase(tenant_id=tenant_a.pk, actor=admin)

    assert not Tenant.objects.filter(pk=tenant_a.pk).exists()
    for model in apps.get_models():
        if any(f.name == "tenant" for f in model._meta.concrete_fields) and model is not ErasureReport:
            assert not model._base_manager.filter(tenant_id=tenant_a.pk).exists(), model
    assert rows_referencing(author.pk) == {}
    assert still_there(other_rows) == [f"{row._meta.label_lower} {row.pk}" for row in other_rows]
    assert User.objects.filter(pk=shared_user.pk).exists()  # a member of another tenant keeps the account
    assert not User.objects.filter(pk=admin.pk).exists()
    assert report.tenant_id is None
    assert report.subject_label == "Tenant A (tenant-a)"
    assert report.removed["tenants.tenant"] == 1
    assert report.removed["audit.auditevent"] >= 1
    assert not PeriodicTask.objects.filter(name__startswith=f"series-{tenant_a.pk}-").exists()


def test_an_author_with_a_run_in_progress_is_not_erased(tenant_a, members_a, client_for):
    author = make_author(tenant=tenant_a, name="Busy Writer")
    make_run(tenant=tenant_a, author=author, status=RunStatus.RUNNING)
    response = client_for(members_a[Role.ADMIN]).post(
        f"/t/{tenant_a.slug}/console/privacy/erasure/", {"author": author.pk, "confirm_name": "Busy Writer"}
    )
    assert response.status_code == 400
    assert "still in progress" in response.content.decode()
    assert Author.objects.unscoped().filter(pk=author.pk).exists()
    with tenant_scope(tenant_a):
        assert not ErasureReport.objects.exists()
