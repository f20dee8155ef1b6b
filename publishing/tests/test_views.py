"""The publishing pages: calendar, scheduling from a draft, moving (htmx), roles, OAuth, export."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.utils import timezone

from orchestrator.tests.factories import make_author, make_series
from publishing.models import ConnectionStatus, LinkedInConnection, PostMetrics, PostStatus, ScheduledPost
from publishing.tests.factories import make_approved_draft, make_post, make_schedule
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _url(tenant, path=""):
    return f"/t/{tenant.slug}/publishing/{path}"


def test_a_writer_schedules_an_approved_draft_into_the_next_slot_from_its_page(
    tenant_a, members_a, client_for
):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author, time_zone="Europe/Lisbon")
    draft = make_approved_draft(tenant=tenant_a, author=author)
    client = client_for(members_a[Role.WRITER])
    page = client.get(f"/t/{tenant_a.slug}/work/drafts/{draft.pk}/").content.decode()
    assert f'href="{_url(tenant_a, f"drafts/{draft.pk}/")}"' in page
    response = client.post(_url(tenant_a, f"drafts/{draft.pk}/"), {"when": "next", "channel": "external"})
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        post = ScheduledPost.objects.get(draft=draft)
    assert post.at.astimezone(ZoneInfo("Europe/Lisbon")).strftime("%H:%M") == "09:00"
    week = client.get(
        _url(tenant_a), {"author": author.pk, "start": post.at.date().isoformat()}
    ).content.decode()
    assert f'id="post-{post.pk}"' in week
    assert "free" in week  # the other slots of the week are shown free


def test_a_chosen_time_is_read_on_the_authors_clock_and_a_past_one_is_refused(
    tenant_a, members_a, client_for
):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author, time_zone="America/New_York")
    draft = make_approved_draft(tenant=tenant_a, author=author)
    client = client_for(members_a[Role.WRITER])
    past = client.post(
        _url(tenant_a, f"drafts/{draft.pk}/"), {"when": "at", "at": "2020-01-01T09:00", "channel": "external"}
    )
    assert past.status_code == 200
    assert "Choose a time in the future." in past.content.decode()
    day = (timezone.now() + timedelta(days=3)).date()
    client.post(
        _url(tenant_a, f"drafts/{draft.pk}/"), {"when": "at", "at": f"{day}T08:15", "channel": "external"}
    )
    with tenant_scope(tenant_a):
        post = ScheduledPost.objects.get(draft=draft)
    assert post.at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M") == f"{day} 08:15"


def test_moving_a_post_with_htmx_answers_the_calendar_fragment(tenant_a, members_a, client_for):
    post = make_post(tenant=tenant_a)
    target = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    response = client_for(members_a[Role.WRITER]).post(
        _url(tenant_a, f"drafts/{post.draft_id}/move/"),
        {
            "when": "at",
            "at": target.strftime("%Y-%m-%dT%H:%M"),
            "view": "week",
            "start": target.date().isoformat(),
        },
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="calendar"')
    assert f'id="post-{post.pk}"' in page
    post.refresh_from_db()
    assert post.at == target


def test_a_viewer_sees_the_calendar_but_cannot_schedule_or_move(tenant_a, members_a, client_for):
    post = make_post(tenant=tenant_a)
    client = client_for(members_a[Role.VIEWER])
    assert client.get(_url(tenant_a), {"view": "month"}).status_code == 200
    assert client.post(_url(tenant_a, f"drafts/{post.draft_id}/move/"), {"when": "next"}).status_code == 403
    assert client.post(_url(tenant_a, f"drafts/{post.draft_id}/cancel/")).status_code == 403


def test_another_tenants_drafts_and_posts_are_not_found(tenant_a, tenant_b, members_a, client_for):
    foreign = make_post(tenant=tenant_b)
    client = client_for(members_a[Role.ADMIN])
    assert client.get(_url(tenant_a, f"drafts/{foreign.draft_id}/")).status_code == 404
    assert client.post(_url(tenant_a, f"drafts/{foreign.draft_id}/cancel/")).status_code == 404
    assert client.get(_url(tenant_a, f"authors/{foreign.author_id}/")).status_code == 404


def test_failures_are_shown_on_the_calendar_and_a_failed_post_is_retried(tenant_a, members_a, client_for):
    post = make_post(
        tenant=tenant_a, status=PostStatus.FAILED, last_error="LinkedIn refused the post (422: too long)."
    )
    client = client_for(members_a[Role.WRITER])
    page = client.get(_url(tenant_a)).content.decode()
    assert 'id="attention"' in page
    assert "422: too long" in page
    client.post(_url(tenant_a, f"drafts/{post.draft_id}/retry/"))
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED


def test_connecting_linkedin_goes_through_the_consent_and_the_callback(
    tenant_a, members_a, client_for, fake_linkedin, settings
):
    author = make_author(tenant=tenant_a)
    client = client_for(members_a[Role.EDITOR])
    start = client.post(_url(tenant_a, f"authors/{author.pk}/linkedin/connect/"))
    assert start.status_code == 302
    assert start["Location"].startswith(f"{fake_linkedin.url}/oauth/v2/authorization?")
    consent = httpx.get(start["Location"], follow_redirects=False)  # the member's browser at LinkedIn
    back = urlsplit(consent.headers["location"])
    done = client.get(f"{back.path}?{back.query}")
    assert done["Location"] == _url(tenant_a, f"authors/{author.pk}/")
    with tenant_scope(tenant_a):
        connection = LinkedInConnection.objects.get(author=author)
    assert connection.status == ConnectionStatus.ACTIVE
    page = client.get(done["Location"]).content.decode()
    assert "Connected as" in page
    # The same answer again (a replay) is refused: its nonce was used.
    assert client.get(f"{back.path}?{back.query}").status_code == 403


def test_a_forged_or_foreign_oauth_state_is_refused(tenant_a, members_a, client_for, fake_linkedin):
    author = make_author(tenant=tenant_a)
    editor = client_for(members_a[Role.EDITOR])
    start = editor.post(_url(tenant_a, f"authors/{author.pk}/linkedin/connect/"))
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    assert (
        editor.get("/publishing/linkedin/callback/", {"state": state[:-2] + "xx", "code": "c"}).status_code
        == 403
    )
    writer = client_for(members_a[Role.WRITER])  # another user signs in on this browser
    assert writer.get("/publishing/linkedin/callback/", {"state": state, "code": "c"}).status_code == 403


def test_a_writer_cannot_connect_linkedin(tenant_a, members_a, client_for, fake_linkedin):
    author = make_author(tenant=tenant_a)
    response = client_for(members_a[Role.WRITER]).post(
        _url(tenant_a, f"authors/{author.pk}/linkedin/connect/")
    )
    assert response.status_code == 403


def test_the_schedule_form_names_a_bad_slot_and_keeps_the_input(tenant_a, members_a, client_for):
    author = make_author(tenant=tenant_a)
    client = client_for(members_a[Role.EDITOR])
    page = client.post(
        _url(tenant_a, f"authors/{author.pk}/"),
        {"time_zone": "Europe/Lisbon", "slots": "Tue 09:00, Someday", "channel": "external"},
    ).content.decode()
    assert "Someday" in page
    assert "write a day and a time" in page
    response = client.post(
        _url(tenant_a, f"authors/{author.pk}/"),
        {"time_zone": "Europe/Lisbon", "slots": "Tue 09:00, Thu 12:30", "channel": "external"},
    )
    assert response.status_code == 302


def test_export_of_a_range_as_csv_and_markdown(tenant_a, tenant_b, members_a, client_for):
    post = make_post(
        tenant=tenant_a, draft=make_approved_draft(tenant=tenant_a, body="=HYPERLINK(evil) and our story")
    )
    make_post(tenant=tenant_b)
    client = client_for(members_a[Role.VIEWER])
    day = post.at.date()
    response = client.get(_url(tenant_a, "export/"), {"start": day, "end": day, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["post_id"] for row in rows] == [str(post.pk)]
    assert rows[0]["text"].startswith("'=HYPERLINK")  # not run as a formula
    markdown = client.get(
        _url(tenant_a, "export/"), {"start": day, "end": day, "format": "markdown"}
    ).content.decode()
    assert "=HYPERLINK(evil) and our story" in markdown
    bad = client.get(
        _url(tenant_a, "export/"), {"start": day, "end": day - timedelta(days=1), "format": "csv"}
    )
    assert "The end is before the start." in bad.content.decode()


def test_a_metrics_csv_is_recorded_whole_or_not_at_all(tenant_a, members_a, client_for):
    delivered = make_post(tenant=tenant_a, status=PostStatus.DELIVERED, external_id="urn:li:share:1")
    client = client_for(members_a[Role.WRITER])
    bad = io.BytesIO(b"post_id,impressions,reactions\n%d,100,5\n999999,10,x\n" % delivered.pk)
    bad.name = "metrics.csv"
    page = client.post(_url(tenant_a, "results/"), {"file": bad}).content.decode()
    assert "Row 3" in page
    with tenant_scope(tenant_a):
        assert not PostMetrics.objects.exists()
    good = io.BytesIO(b'external_id,impressions,reactions,comments,reposts\nurn:li:share:1,"1,200",40,7,3\n')
    good.name = "metrics.csv"
    assert client.post(_url(tenant_a, "results/"), {"file": good}).status_code == 302
    with tenant_scope(tenant_a):
        row = PostMetrics.objects.get(post=delivered)
    assert (row.impressions, row.reactions, row.source) == (1200, 40, "csv")
    author_page = client.get(_url(tenant_a, f"authors/{delivered.author_id}/")).content.decode()
    assert "1200" in author_page


def test_a_writer_plans_a_series_for_the_slots_ahead_from_the_authors_page(tenant_a, members_a, client_for):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author)
    series = make_series(tenant=tenant_a, author=author)
    client = client_for(members_a[Role.WRITER])
    response = client.post(_url(tenant_a, f"authors/{author.pk}/series/{series.pk}/plan/"), {"days": "3"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "started for free slots" in page
    assert 'id="planned-slots"' in page
    other = make_author(tenant=tenant_a, name="Someone else")
    assert client.post(_url(tenant_a, f"authors/{other.pk}/series/{series.pk}/plan/")).status_code == 404


def test_a_writer_picks_one_of_the_free_slots_listed_for_a_draft_and_for_a_move(
    tenant_a, members_a, client_for
):
    author = make_author(tenant=tenant_a)
    make_schedule(
        tenant=tenant_a, author=author, time_zone="Asia/Tokyo", slots=[{"weekday": 2, "time": "07:30"}]
    )
    draft = make_approved_draft(tenant=tenant_a, author=author)
    client = client_for(members_a[Role.WRITER])
    page = client.get(_url(tenant_a, f"drafts/{draft.pk}/")).content.decode()
    options = re.findall(
        r'<option value="([^"]+)"', page.split('id="schedule-slot"', 1)[1].split("</select>", 1)[0]
    )
    assert len(options) == 12
    chosen = options[2]  # the third Wednesday 07:30 in Tokyo
    client.post(
        _url(tenant_a, f"drafts/{draft.pk}/"), {"when": "slot", "slot": chosen, "channel": "external"}
    )
    with tenant_scope(tenant_a):
        post = ScheduledPost.objects.get(draft=draft)
    assert post.at == datetime.fromisoformat(chosen)
    assert post.at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%a %H:%M") == "Wed 07:30"
    page = client.get(_url(tenant_a, f"drafts/{draft.pk}/")).content.decode()
    move_options = re.findall(
        r'<option value="([^"]+)"', page.split('id="move-slot"', 1)[1].split("</select>", 1)[0]
    )
    assert move_options[0] == options[0]
    client.post(_url(tenant_a, f"drafts/{draft.pk}/move/"), {"when": "slot", "slot": move_options[0]})
    post.refresh_from_db()
    assert post.at == datetime.fromisoformat(options[0])
    refused = client.post(
        _url(tenant_a, f"drafts/{draft.pk}/move/"), {"when": "slot", "slot": "tomorrow"}, follow=True
    )
    assert "Choose one of the free slots." in refused.content.decode()


def test_a_post_waiting_for_a_retry_polls_its_card_until_it_is_delivered(tenant_a, members_a, client_for):
    post = make_post(tenant=tenant_a, status=PostStatus.RETRYING, last_error="LinkedIn's rate limit (429).")
    client = client_for(members_a[Role.VIEWER])
    page = client.get(_url(tenant_a, f"drafts/{post.draft_id}/")).content.decode()
    assert 'hx-trigger="every 5s"' in page
    with tenant_scope(tenant_a):
        ScheduledPost.objects.filter(pk=post.pk).update(
            status=PostStatus.DELIVERED, external_id="urn:li:share:9"
        )
    card = client.get(_url(tenant_a, f"drafts/{post.draft_id}/"), {"part": "post"}, HTTP_HX_REQUEST="true")
    html = card.content.decode()
    assert html.lstrip().startswith('<section class="card" id="post"')
    assert "urn:li:share:9" in html
    assert "hx-trigger" not in html  # delivered: it stops asking


def test_the_queue_lists_failures_first_and_a_retry_returns_to_it(tenant_a, tenant_b, members_a, client_for):
    failed = make_post(
        tenant=tenant_a, status=PostStatus.FAILED, last_error="LinkedIn refused the post (403)."
    )
    coming = make_post(tenant=tenant_a, at=timezone.now() + timedelta(days=2))
    foreign = make_post(tenant=tenant_b)
    client = client_for(members_a[Role.WRITER])
    page = client.get(_url(tenant_a, "queue/")).content.decode()
    assert page.index(f'id="queue-post-{failed.pk}"') < page.index(f'id="queue-post-{coming.pk}"')
    assert "LinkedIn refused the post (403)." in page
    assert f'id="queue-post-{foreign.pk}"' not in page
    response = client.post(_url(tenant_a, f"drafts/{failed.draft_id}/retry/"), {"back": "queue"})
    assert response["Location"] == _url(tenant_a, "queue/")
