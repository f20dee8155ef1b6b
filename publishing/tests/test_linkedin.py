"""Publishing to LinkedIn against the fake LinkedIn on loopback: OAuth, posts, errors, retries, metrics."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.utils import timezone

from orchestrator.tests.factories import make_author
from publishing import linkedin, metrics, services
from publishing.models import (
    Channel,
    ConnectionStatus,
    Delivery,
    DeliveryStatus,
    LinkedInConnection,
    PostMetrics,
    PostStatus,
    ScheduledPost,
)
from publishing.tests.factories import make_approved_draft, make_connection, make_post
from reviews.models import Draft, DraftState

pytestmark = pytest.mark.django_db


def _consent(fake) -> str:
    """Follow the authorization URL as the member's browser would; the fake consents at once."""
    response = httpx.get(linkedin.authorization_url(state="s-1"), follow_redirects=False)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["s-1"]
    return query["code"][0]


def _linkedin_post(tenant, fake, *, body="Onboarding calls cut churn.", **connection):
    author = make_author(tenant=tenant)
    make_connection(tenant=tenant, author=author, access_token=fake.issue_token(), **connection)
    draft = make_approved_draft(tenant=tenant, author=author, body=body)
    return make_post(
        tenant=tenant, draft=draft, channel=Channel.LINKEDIN, at=timezone.now() - timedelta(seconds=1)
    )


def _due(post: ScheduledPost) -> datetime:
    post.refresh_from_db()
    assert post.next_attempt_at is not None
    return post.next_attempt_at


def test_connecting_keeps_the_member_and_encrypted_tokens_and_disconnecting_revokes(
    tenant_a, in_tenant_a, fake_linkedin
):
    fake_linkedin.set_member(sub="member-42", name="Ana Souza")
    author = make_author(tenant=tenant_a)
    connection = services.linkedin_connect(author=author, code=_consent(fake_linkedin), user=None)
    assert (connection.member_id, connection.member_name) == ("member-42", "Ana Souza")
    assert connection.author_urn == "urn:li:person:member-42"
    stored = LinkedInConnection.objects.get(pk=connection.pk)
    assert stored.access_token().startswith("fake-at-")
    assert "fake-at-" not in stored.access_token_encrypted  # encrypted at rest
    assert stored.refresh_token().startswith("fake-rt-")
    assert stored.expires_at - timezone.now() > timedelta(days=59)
    assert fake_linkedin.live_tokens() == 1

    services.linkedin_disconnect(connection=stored)
    stored.refresh_from_db()
    assert stored.status == ConnectionStatus.REVOKED
    assert stored.access_token_encrypted == stored.refresh_token_encrypted == ""
    assert fake_linkedin.live_tokens() == 0
    assert services.active_connection(author=author) is None


def test_a_code_used_twice_is_refused(tenant_a, in_tenant_a, fake_linkedin):
    code = _consent(fake_linkedin)
    services.linkedin_connect(author=make_author(tenant=tenant_a), code=code, user=None)
    with pytest.raises(linkedin.LinkedInError, match="Unable to retrieve access token"):
        services.linkedin_connect(author=make_author(tenant=tenant_a, name="Other"), code=code, user=None)


def test_a_due_post_is_published_with_its_text_escaped_and_the_draft_delivered(
    tenant_a, in_tenant_a, fake_linkedin
):
    post = _linkedin_post(tenant_a, fake_linkedin, body="Churn fell (20%) #growth @team")
    assert services.posts_due() == [(tenant_a.pk, post.pk, _due(post).isoformat())]
    outcome = services.post_publish(post_id=post.pk, due=_due(post))
    assert outcome.status == "delivered"
    [received] = fake_linkedin.posts()
    assert received.body["author"] == "urn:li:person:fake-member-1"
    assert received.body["commentary"] == r"Churn fell \(20%\) \#growth \@team"
    assert received.body["lifecycleState"] == "PUBLISHED"
    assert received.headers["x-restli-protocol-version"] == "2.0.0"
    assert len(received.headers["linkedin-version"]) == 6
    post.refresh_from_db()
    assert post.status == PostStatus.DELIVERED
    assert post.external_id == received.urn
    assert post.external_url == f"https://www.linkedin.com/feed/update/{received.urn}/"
    assert Draft.objects.get(pk=post.draft_id).state == DraftState.DELIVERED
    [delivery] = Delivery.objects.filter(post=post)
    assert (delivery.status, delivery.attempts, delivery.external_id) == (
        DeliveryStatus.SUCCEEDED,
        1,
        received.urn,
    )
    assert services.posts_due() == []


def test_a_second_message_for_the_same_attempt_publishes_nothing(tenant_a, in_tenant_a, fake_linkedin):
    post = _linkedin_post(tenant_a, fake_linkedin)
    due = _due(post)
    assert services.post_publish(post_id=post.pk, due=due).status == "delivered"
    assert services.post_publish(post_id=post.pk, due=due).status == "skipped"
    assert len(fake_linkedin.posts()) == 1


def test_a_post_moved_after_its_message_was_sent_waits_for_its_new_time(tenant_a, in_tenant_a, fake_linkedin):
    post = _linkedin_post(tenant_a, fake_linkedin)
    stale_due = _due(post)
    services.post_move(post=post, at=timezone.now() + timedelta(days=1))
    assert services.post_publish(post_id=post.pk, due=stale_due).status == "skipped"
    assert fake_linkedin.posts() == []


def test_a_rate_limit_is_retried_after_linkedins_wait_and_then_delivered(
    tenant_a, in_tenant_a, fake_linkedin
):
    post = _linkedin_post(tenant_a, fake_linkedin)
    fake_linkedin.fail_next_post(429, message="Resource level throttle limit", retry_after="120")
    before = timezone.now()
    outcome = services.post_publish(post_id=post.pk, due=_due(post))
    assert outcome.status == "retrying"
    post.refresh_from_db()
    assert post.status == PostStatus.RETRYING
    assert "429" in post.last_error
    assert post.next_attempt_at is not None
    assert post.next_attempt_at >= before + timedelta(seconds=120)
    assert services.posts_due() == []  # not before LinkedIn's wait
    assert services.posts_due(now=post.next_attempt_at + timedelta(seconds=1))
    assert services.post_publish(post_id=post.pk, due=_due(post)).status == "delivered"
    [delivery] = Delivery.objects.filter(post=post)
    assert delivery.attempts == 2
    assert [entry["status_code"] for entry in delivery.attempt_log] == [429, 201]


def test_server_errors_back_off_and_fail_after_the_last_attempt(
    tenant_a, in_tenant_a, fake_linkedin, settings
):
    settings.MAESTRO_PUBLISHING = {**settings.MAESTRO_PUBLISHING, "max_attempts": 2}
    post = _linkedin_post(tenant_a, fake_linkedin)
    fake_linkedin.fail_next_post(503)
    fake_linkedin.fail_next_post(500)
    assert services.post_publish(post_id=post.pk, due=_due(post)).status == "retrying"
    assert services.post_publish(post_id=post.pk, due=_due(post)).status == "failed"
    post.refresh_from_db()
    assert post.status == PostStatus.FAILED
    assert post.next_attempt_at is None
    assert "500" in post.last_error
    assert Draft.objects.get(pk=post.draft_id).state == DraftState.APPROVED


def test_invalid_content_fails_at_once_with_linkedins_message(tenant_a, in_tenant_a, fake_linkedin):
    post = _linkedin_post(tenant_a, fake_linkedin)
    fake_linkedin.fail_next_post(422, message="/commentary: text too long")
    assert services.post_publish(post_id=post.pk, due=_due(post)).status == "failed"
    post.refresh_from_db()
    assert "/commentary: text too long" in post.last_error
    assert Delivery.objects.get(post=post).status == DeliveryStatus.FAILED


def test_a_revoked_token_fails_the_post_and_asks_for_the_connection_again(
    tenant_a, in_tenant_a, fake_linkedin
):
    post = _linkedin_post(tenant_a, fake_linkedin)
    fake_linkedin.expire_tokens()  # the member revoked the app on LinkedIn
    assert services.post_publish(post_id=post.pk, due=_due(post)).status == "failed"
    post.refresh_from_db()
    assert "connect the author's LinkedIn again" in post.last_error
    assert LinkedInConnection.objects.get(author=post.author).status == ConnectionStatus.EXPIRED


def test_a_token_near_its_end_is_refreshed_before_posting(tenant_a, in_tenant_a, fake_linkedin):
    author = make_author(tenant=tenant_a)
    code = _consent(fake_linkedin)
    connection = services.linkedin_connect(author=author, code=code, user=None)
    LinkedInConnection.objects.filter(pk=connection.pk).update(expires_at=timezone.now() + timedelta(hours=2))
    old_token = connection.access_token()
    draft = make_approved_draft(tenant=tenant_a, author=author)
    post = make_post(
        tenant=tenant_a, draft=draft, channel=Channel.LINKEDIN, at=timezone.now() - timedelta(seconds=1)
    )
    assert services.post_publish(post_id=post.pk, due=_due(post)).status == "delivered"
    connection.refresh_from_db()
    assert connection.access_token() != old_token
    assert connection.refreshed_at is not None
    assert connection.expires_at - timezone.now() > timedelta(days=59)


def test_without_refresh_tokens_an_expired_connection_fails_with_a_clear_error(
    tenant_a, in_tenant_a, fake_linkedin
):
    post = _linkedin_post(tenant_a, fake_linkedin, expires_at=timezone.now() - timedelta(minutes=1))
    assert services.post_publish(post_id=post.pk, due=_due(post)).status == "failed"
    post.refresh_from_db()
    assert "token expired" in post.last_error
    assert fake_linkedin.posts() == []


def test_a_post_left_publishing_by_a_dead_worker_is_failed_for_a_person_to_check(
    tenant_a, in_tenant_a, fake_linkedin
):
    post = _linkedin_post(tenant_a, fake_linkedin)
    ScheduledPost.objects.filter(pk=post.pk).update(
        status=PostStatus.PUBLISHING, updated_at=timezone.now() - timedelta(hours=1)
    )
    assert services.posts_due() == []
    post.refresh_from_db()
    assert post.status == PostStatus.FAILED
    assert "check the author's feed" in post.last_error


def test_metrics_are_pulled_for_delivered_linkedin_posts(tenant_a, in_tenant_a, fake_linkedin):
    post = _linkedin_post(tenant_a, fake_linkedin)
    services.post_publish(post_id=post.pk, due=_due(post))
    post.refresh_from_db()
    fake_linkedin.set_statistics(post.external_id, impressions=1200, reactions=40, comments=7, reposts=3)
    report = metrics.metrics_pull(tenant=tenant_a)
    assert (report.updated, report.errors) == (1, [])
    row = PostMetrics.objects.get(post=post)
    assert (row.impressions, row.reactions, row.comments, row.reposts) == (1200, 40, 7, 3)
    assert row.source == "linkedin"


def test_a_refused_refresh_asks_for_the_connection_again(tenant_a, in_tenant_a, fake_linkedin):
    post = _linkedin_post(
        tenant_a,
        fake_linkedin,
        refresh_token="fake-rt-unknown",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert services.post_publish(post_id=post.pk, due=_due(post)).status == "failed"
    post.refresh_from_db()
    assert "refused to refresh" in post.last_error
    assert LinkedInConnection.objects.get(author=post.author).status == ConnectionStatus.EXPIRED
    assert fake_linkedin.posts() == []
