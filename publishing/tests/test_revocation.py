"""Revoking LinkedIn tokens at disconnect, against the fake LinkedIn: revoked there, forgotten here, and a
revocation LinkedIn could not take audited and retried by a Celery task with backoff."""

from __future__ import annotations

import random
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from audit.selectors import audit_events
from common.crypto import encrypt_secret
from orchestrator.tests.factories import make_author
from publishing import linkedin, revocation, services
from publishing.models import ConnectionStatus, LinkedInConnection
from publishing.tasks import revoke_token
from publishing.tests.factories import make_connection
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _connect(tenant, fake, *, name="Ana Souza") -> tuple[LinkedInConnection, str, str]:
    """An author connected through the consent redirect: the connection, its access and refresh token."""
    response = httpx.get(linkedin.authorization_url(state="s-1"), follow_redirects=False)
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    author = make_author(tenant=tenant, name=name)
    with tenant_scope(tenant):
        connection = services.linkedin_connect(author=author, code=code, user=None)
    return connection, connection.access_token(), connection.refresh_token()


def test_disconnecting_revokes_both_tokens_at_linkedin_then_forgets_them(
    tenant_a, in_tenant_a, fake_linkedin
):
    connection, access, refresh = _connect(tenant_a, fake_linkedin)
    assert fake_linkedin.token_works(access)
    assert fake_linkedin.token_works(refresh)

    outcome = services.linkedin_disconnect(connection=connection)

    assert outcome.ok
    assert outcome.revoked == 2
    assert fake_linkedin.revoked() == {access, refresh}
    assert not fake_linkedin.token_works(access)
    assert not fake_linkedin.token_works(refresh)
    with pytest.raises(linkedin.LinkedInError, match="revoked") as refused:
        linkedin.userinfo(access_token=access)  # LinkedIn refuses the revoked token
    assert refused.value.reconnect
    with pytest.raises(linkedin.LinkedInError, match="revoked"):
        linkedin.refresh(refresh_token=refresh)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED
    assert connection.access_token_encrypted == connection.refresh_token_encrypted == ""
    [event] = audit_events(action="publishing.linkedin_disconnected")
    assert event.after["tokens"] == {"revoked": 2, "retrying": 0, "refused": 0}
    assert not audit_events(action="publishing.linkedin_revoke_failed").exists()


def test_linkedin_down_does_not_keep_the_token_here_and_hands_it_to_the_retry_task(
    tenant_a, in_tenant_a, fake_linkedin, django_capture_on_commit_callbacks
):
    connection, access, refresh = _connect(tenant_a, fake_linkedin)
    fake_linkedin.fail_next_revoke(503, message="LinkedIn is down")
    assert fake_linkedin.token_works(refresh)

    with django_capture_on_commit_callbacks(execute=False) as sends:
        outcome = services.linkedin_disconnect(connection=connection)

    assert not outcome.ok
    assert len(outcome.retrying) == 2  # the refresh token was not even tried: LinkedIn was down
    assert len(fake_linkedin.calls("/oauth/v2/revoke")) == 1
    assert "could not revoke 2 tokens now: LinkedIn failed (503: LinkedIn is down)." in outcome.message
    assert "keeps asking LinkedIn in the background" in outcome.message
    assert len(sends) == 2  # one retry task per token, sent once the disconnect commits
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED
    assert connection.access_token_encrypted == connection.refresh_token_encrypted == ""
    failures = list(audit_events(action="publishing.linkedin_revoke_failed"))
    assert len(failures) == 2
    assert {event.after["retrying"] for event in failures} == {True}
    assert {event.target_label for event in failures} == {f"author #{connection.author_id}"}
    assert "Ana" not in str([(event.target_label, event.after) for event in failures])
    assert fake_linkedin.token_works(access)  # LinkedIn still has it, until the task gets through


def test_a_revocation_linkedin_refuses_is_audited_and_not_retried(
    tenant_a, in_tenant_a, fake_linkedin, django_capture_on_commit_callbacks
):
    connection, _, _ = _connect(tenant_a, fake_linkedin)
    fake_linkedin.fail_next_revoke(400, message="Invalid token")

    with django_capture_on_commit_callbacks(execute=False) as sends:
        outcome = services.linkedin_disconnect(connection=connection)

    assert outcome.revoked == 1  # the refresh token went through
    assert outcome.refused == ["LinkedIn refused to revoke the token (400: Invalid token)."]
    assert "Permitted services" in outcome.message
    assert sends == []
    [event] = audit_events(action="publishing.linkedin_revoke_failed")
    assert event.after["retrying"] is False


def test_the_disconnect_page_says_when_linkedin_could_not_revoke(
    tenant_a, members_a, client_for, fake_linkedin
):
    connection, _, _ = _connect(tenant_a, fake_linkedin)
    fake_linkedin.fail_next_revoke(502)
    fake_linkedin.fail_next_revoke(502)
    client = client_for(members_a[Role.EDITOR])
    url = f"/t/{tenant_a.slug}/publishing/authors/{connection.author_id}/linkedin/disconnect/"
    page = client.post(url, follow=True).content.decode()
    assert "LinkedIn is disconnected. LinkedIn could not revoke 2 tokens now" in page.replace("&#x27;", "'")


def test_the_retry_task_backs_off_until_linkedin_takes_the_revocation(tenant_a, fake_linkedin):
    author = make_author(tenant=tenant_a)
    token = fake_linkedin.issue_token()
    for _ in range(2):
        fake_linkedin.fail_next_revoke(503)

    # Run eagerly: Celery runs each retry at once instead of after its countdown.
    result = revoke_token.apply(args=[tenant_a.pk, author.pk, encrypt_secret(token)]).get()

    assert result == "revoked"
    assert len(fake_linkedin.calls("/oauth/v2/revoke")) == 3
    assert not fake_linkedin.token_works(token)
    with tenant_scope(tenant_a):
        [event] = audit_events(action="publishing.linkedin_revoked")
    assert event.after == {"attempt": 4}  # the disconnect's own try, then three by the task
    assert event.target_label == f"author #{author.pk}"


def test_the_retry_task_gives_up_after_its_retries_and_says_so(tenant_a, fake_linkedin):
    author = make_author(tenant=tenant_a)
    token = fake_linkedin.issue_token()
    for _ in range(revocation.REVOKE_MAX_RETRIES + 1):
        fake_linkedin.fail_next_revoke(429, retry_after="0")

    result = revoke_token.apply(args=[tenant_a.pk, author.pk, encrypt_secret(token)]).get()

    assert result == "abandoned"
    assert len(fake_linkedin.calls("/oauth/v2/revoke")) == revocation.REVOKE_MAX_RETRIES + 1
    with tenant_scope(tenant_a):
        [event] = audit_events(action="publishing.linkedin_revoke_abandoned")
    assert event.after["attempt"] == revocation.REVOKE_MAX_RETRIES + 2
    assert "429" in event.after["error"]


def test_the_retry_task_still_revokes_once_the_tenant_is_gone(fake_linkedin, db):
    token = fake_linkedin.issue_token()
    assert revoke_token.apply(args=[999_999, 5, encrypt_secret(token)]).get() == "revoked"
    assert not fake_linkedin.token_works(token)


def test_the_retry_backoff_doubles_up_to_its_cap_and_waits_for_retry_after(settings):
    settings.MAESTRO_PUBLISHING = {
        **settings.MAESTRO_PUBLISHING,
        "backoff_seconds": 60,
        "backoff_cap_seconds": 3600,
    }
    waits = [revocation.revoke_backoff(n, rng=random.Random(1)) for n in range(10)]
    assert 30 <= waits[0] <= 60
    assert 60 <= waits[1] <= 120
    assert all(1800 <= wait <= 3600 for wait in waits[6:])
    assert revocation.revoke_backoff(0, retry_after=900, rng=random.Random(1)) == 900


def test_only_the_tenants_own_connections_are_revoked(tenant_a, tenant_b, fake_linkedin):
    theirs = make_author(tenant=tenant_b)
    their_token = fake_linkedin.issue_token()
    make_connection(tenant=tenant_b, author=theirs, access_token=their_token)
    mine = make_author(tenant=tenant_a)
    my_token = fake_linkedin.issue_token()
    make_connection(tenant=tenant_a, author=mine, access_token=my_token)

    with tenant_scope(tenant_a):
        outcome = revocation.linkedin_tokens_revoke(author=None, user=None, reason="tenant erased")

    assert outcome.revoked == 1
    assert fake_linkedin.revoked() == {my_token}
    assert fake_linkedin.token_works(their_token)
    with tenant_scope(tenant_b):
        assert LinkedInConnection.objects.get(author=theirs).access_token() == their_token


@pytest.mark.django_db(transaction=True)  # the worker process reads only committed rows
def test_a_failed_revocation_is_retried_by_a_real_worker(
    tenant_a, fake_linkedin, celery_worker_process, monkeypatch
):
    for name, value in fake_linkedin.environment(redirect_uri="http://testserver/cb/").items():
        monkeypatch.setenv(name, value)
    celery_worker_process(concurrency=1)
    connection, access, refresh = _connect(tenant_a, fake_linkedin)
    fake_linkedin.fail_next_revoke(503)

    with tenant_scope(tenant_a):
        outcome = services.linkedin_disconnect(connection=connection)
    assert len(outcome.retrying) == 2

    deadline = time.monotonic() + 30
    while _late_revocations(tenant_a) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _late_revocations(tenant_a) == 2
    assert fake_linkedin.revoked() == {access, refresh}
    assert not fake_linkedin.token_works(access)


def _late_revocations(tenant) -> int:
    with tenant_scope(tenant):
        return audit_events(action="publishing.linkedin_revoked").count()
