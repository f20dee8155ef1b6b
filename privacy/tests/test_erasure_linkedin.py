"""Erasure revokes the LinkedIn tokens of the erased author (or of the whole tenant) at LinkedIn first,
and a LinkedIn that cannot revoke them now does not stop the erasure nor leave a token here."""

from __future__ import annotations

import pytest

from audit.selectors import audit_events
from authors.tests.factories import make_author
from privacy.services import author_erase, export_build, tenant_erase
from publishing.models import LinkedInConnection
from publishing.tests.factories import make_connection
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _connected(tenant, fake, name: str):
    author = make_author(tenant=tenant, name=name)
    token = fake.issue_token()
    make_connection(tenant=tenant, author=author, access_token=token)
    return author, token


def test_erasing_an_author_revokes_their_token_at_linkedin_then_deletes_it(
    tenant_a, members_a, fake_linkedin
):
    erased, erased_token = _connected(tenant_a, fake_linkedin, "Erased Person")
    _kept, kept_token = _connected(tenant_a, fake_linkedin, "Kept One")

    with tenant_scope(tenant_a):
        report = author_erase(author_id=erased.pk, actor=members_a[Role.ADMIN].user)

    assert fake_linkedin.revoked() == {erased_token}
    assert not fake_linkedin.token_works(erased_token)
    assert fake_linkedin.token_works(kept_token)
    assert report.notes == []
    assert not LinkedInConnection.objects.unscoped().filter(author_id=erased.pk).exists()
    with tenant_scope(tenant_a):
        [event] = audit_events(action="author.erased")
    assert event.after["linkedin_tokens"] == {"revoked": 1, "retrying": 0, "refused": 0}


def test_an_author_is_erased_even_when_linkedin_is_down_and_the_failure_is_recorded(
    tenant_a, members_a, fake_linkedin, django_capture_on_commit_callbacks
):
    erased, token = _connected(tenant_a, fake_linkedin, "Erased Person")
    fake_linkedin.fail_next_revoke(503)

    with tenant_scope(tenant_a), django_capture_on_commit_callbacks(execute=False) as sends:
        report = author_erase(author_id=erased.pk, actor=members_a[Role.ADMIN].user)

    assert report.removed["publishing.linkedinconnection"] == 1
    assert not LinkedInConnection.objects.unscoped().filter(author_id=erased.pk).exists()
    [note] = report.notes
    assert "LinkedIn could not revoke a token now: LinkedIn failed (503" in note
    assert "keeps asking LinkedIn in the background" in note
    assert len(sends) == 1  # the retry task, once the erasure commits
    assert fake_linkedin.token_works(token)  # until that task gets through
    with tenant_scope(tenant_a):
        [failure] = audit_events(action="publishing.linkedin_revoke_failed")
    assert failure.after["reason"] == "author erased"
    assert failure.after["retrying"] is True
    assert failure.target_label == f"author #{erased.pk}"
    assert failure.actor_user_id == members_a[Role.ADMIN].user.pk


@pytest.mark.django_db(transaction=True)  # the erasure's SET LOCAL must end with its own transaction
def test_erasing_a_tenant_revokes_every_token_of_its_authors_and_none_of_another_tenants(
    tenant_a, tenant_b, members_a, fake_linkedin
):
    _, first = _connected(tenant_a, fake_linkedin, "First")
    _, second = _connected(tenant_a, fake_linkedin, "Second")
    _, theirs = _connected(tenant_b, fake_linkedin, "Theirs")
    admin = members_a[Role.ADMIN].user
    with tenant_scope(tenant_a):
        export_build(actor=admin)

    report = tenant_erase(tenant_id=tenant_a.pk, actor=admin)

    assert fake_linkedin.revoked() == {first, second}
    assert fake_linkedin.token_works(theirs)
    assert report.notes == []
    assert LinkedInConnection.objects.unscoped().filter(tenant_id=tenant_b.pk).count() == 1
    assert not LinkedInConnection.objects.unscoped().filter(tenant_id=tenant_a.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_tenant_is_erased_when_linkedin_refuses_and_the_report_says_so(tenant_a, members_a, fake_linkedin):
    _, token = _connected(tenant_a, fake_linkedin, "Only")
    admin = members_a[Role.ADMIN].user
    with tenant_scope(tenant_a):
        export_build(actor=admin)
    fake_linkedin.fail_next_revoke(400, message="Bad token")

    report = tenant_erase(tenant_id=tenant_a.pk, actor=admin)

    assert report.removed["tenants.tenant"] == 1
    assert not LinkedInConnection.objects.unscoped().filter(tenant_id=tenant_a.pk).exists()
    [note] = report.notes
    assert "LinkedIn did not revoke a token: LinkedIn refused to revoke the token (400: Bad token)." in note
    assert "Permitted services" in note
    assert fake_linkedin.token_works(token)
