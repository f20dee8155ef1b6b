"""/api/v1/series, /schedules and /deliveries: planning what gets posted and the record of what was
delivered; scopes and roles as in the browser, bad input changing nothing, tenant B never showing."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from api.models import Scope
from api.tests.factories import error_of
from audit.models import AuditEvent
from orchestrator.models import FlowRun, Series
from orchestrator.tests.factories import make_author, make_definition, make_series
from publishing.models import Delivery, DeliveryStatus, PostingSchedule, PostStatus, SeriesSlot
from publishing.tests.factories import make_post, make_schedule
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def make_delivery(*, tenant, post=None, status=DeliveryStatus.FAILED, **fields) -> Delivery:
    post = post or make_post(tenant=tenant, status=PostStatus.FAILED if status == "failed" else "scheduled")
    with tenant_scope(tenant):
        return Delivery.objects.create(post=post, channel=post.channel, status=status, **fields)


# ---- series -------------------------------------------------------------------------------------------


def test_an_editor_key_creates_a_series_with_its_beat_schedule(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    make_definition(tenant=tenant_a)
    body = {
        "name": "Monday lessons",
        "author": author.pk,
        "brief": "A lesson of the week",
        "cron": "0 8 * * 1",
    }
    response = api_for(tenant_a).post("/api/v1/series", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["name"], created["author"], created["flow"], created["cron"], created["is_active"]) == (
        "Monday lessons",
        author.pk,
        "post",
        "0 8 * * 1",
        True,
    )
    with tenant_scope(tenant_a):
        series = Series.objects.get(pk=created["id"])
        assert AuditEvent.objects.filter(action="series.created", target_id=str(series.pk)).exists()
    task = PeriodicTask.objects.get(pk=series.periodic_task_id)
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("0", "8")


def test_pausing_and_resuming_a_series_switches_its_beat_task(api_for, tenant_a):
    series = make_series(tenant=tenant_a)
    client = api_for(tenant_a)
    paused = client.post(f"/api/v1/series/{series.pk}/pause")
    assert paused.status_code == 200
    assert paused.json()["is_active"] is False
    with tenant_scope(tenant_a):
        series.refresh_from_db()
    assert PeriodicTask.objects.get(pk=series.periodic_task_id).enabled is False
    resumed = client.post(f"/api/v1/series/{series.pk}/resume")
    assert resumed.json()["is_active"] is True
    assert PeriodicTask.objects.get(pk=series.periodic_task_id).enabled is True
    only_paused = client.get("/api/v1/series", {"is_active": "false"}).json()["results"]
    assert only_paused == []


def test_a_series_update_changes_only_what_is_sent(api_for, tenant_a):
    series = make_series(tenant=tenant_a, cron="0 9 * * 1")
    response = api_for(tenant_a).patch(
        f"/api/v1/series/{series.pk}", {"brief": "Sharper lessons", "cron": "30 7 * * 2"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["brief"], response.json()["cron"], response.json()["name"]) == (
        "Sharper lessons",
        "30 7 * * 2",
        "Monday lessons",
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"cron": "every monday"}, 422, "cron"),
        ({"cron": "99 * * * *"}, 422, "cron"),
        ({"flow": "no-such-flow"}, 422, "flow_name"),
        ({"name": ""}, 400, "name"),
        ({"is_active": "yes"}, 400, "is_active"),
    ],
)
def test_a_bad_series_change_is_refused_and_changes_nothing(api_for, tenant_a, body, status, field):
    series = make_series(tenant=tenant_a, cron="0 9 * * 1")
    response = api_for(tenant_a).patch(f"/api/v1/series/{series.pk}", body, format="json")
    assert response.status_code == status, response.json()
    assert field in error_of(response)["details"]
    with tenant_scope(tenant_a):
        series.refresh_from_db()
    assert (series.cron, series.flow_name, series.name, series.is_active) == (
        "0 9 * * 1",
        "post",
        "Monday lessons",
        True,
    )


def test_series_of_another_tenant_are_404_and_never_listed(api_for, tenant_a, tenant_b):
    mine = make_series(tenant=tenant_a)
    foreign = make_series(tenant=tenant_b, name="Theirs")
    client = api_for(tenant_a)
    assert [s["id"] for s in client.get("/api/v1/series").json()["results"]] == [mine.pk]
    for method, url in [
        ("get", f"/api/v1/series/{foreign.pk}"),
        ("patch", f"/api/v1/series/{foreign.pk}"),
        ("post", f"/api/v1/series/{foreign.pk}/pause"),
        ("post", f"/api/v1/series/{foreign.pk}/plan"),
    ]:
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url)
        assert error_of(response)["code"] == "not_found"
    foreign_author = make_author(tenant=tenant_b, name="Bruno")
    body = {"name": "X", "author": foreign_author.pk, "brief": "Y"}
    assert client.post("/api/v1/series", body, format="json").status_code == 404
    with tenant_scope(tenant_b):
        assert Series.objects.get(pk=foreign.pk).is_active is True


def test_series_writes_need_the_admin_scope_and_planning_the_generate_scope(api_for, tenant_a):
    series = make_series(tenant=tenant_a)
    reviewer = api_for(tenant_a, scopes=[Scope.READ, Scope.REVIEW])
    refused = reviewer.post(f"/api/v1/series/{series.pk}/pause")
    assert refused.status_code == 403
    assert error_of(refused)["details"]["required_scope"] == "admin"
    refused = reviewer.post(f"/api/v1/series/{series.pk}/plan", {}, format="json")
    assert error_of(refused)["details"]["required_scope"] == "generate"
    assert reviewer.get(f"/api/v1/series/{series.pk}").status_code == 200


def test_a_writer_session_reads_series_but_cannot_change_them(client_for, members_a, tenant_a):
    series = make_series(tenant=tenant_a)
    writer = client_for(members_a[Role.WRITER])
    assert writer.get("/api/v1/series", HTTP_X_TENANT=tenant_a.slug).status_code == 200
    refused = writer.post(f"/api/v1/series/{series.pk}/pause", HTTP_X_TENANT=tenant_a.slug)
    assert refused.status_code == 403


def test_planning_a_series_starts_a_draft_for_each_free_slot(api_for, tenant_a):
    series = make_series(tenant=tenant_a)
    make_schedule(
        tenant=tenant_a, author=series.author, slots=[{"weekday": d, "time": "09:00"} for d in range(7)]
    )
    response = api_for(tenant_a).post(f"/api/v1/series/{series.pk}/plan", {"days": 3}, format="json")
    assert response.status_code == 201, response.json()
    planned = response.json()["planned"]
    assert 2 <= len(planned) <= 3
    with tenant_scope(tenant_a):
        assert SeriesSlot.objects.filter(series=series).count() == len(planned)
        assert FlowRun.objects.filter(series=series).count() == len(planned)


def test_planning_without_a_schedule_or_too_far_is_refused(api_for, tenant_a):
    series = make_series(tenant=tenant_a)
    client = api_for(tenant_a)
    no_slots = client.post(f"/api/v1/series/{series.pk}/plan", {"days": 3}, format="json")
    assert no_slots.status_code == 422
    assert "no posting slots" in error_of(no_slots)["message"]
    assert client.post(f"/api/v1/series/{series.pk}/plan", {"days": 61}, format="json").status_code == 400


def test_series_pages_with_a_cursor(api_for, tenant_a):
    made = [make_series(tenant=tenant_a, name=f"Series {n}") for n in range(3)]
    client = api_for(tenant_a)
    first = client.get("/api/v1/series", {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"]
    second = client.get(first["next"]).json()
    assert {s["id"] for s in first["results"] + second["results"]} == {s.pk for s in made}
    assert second["next"] is None


# ---- schedules ---------------------------------------------------------------------------------------


def test_a_schedule_is_read_and_replaced_whole(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    client = api_for(tenant_a)
    empty = client.get(f"/api/v1/schedules/{author.pk}").json()
    assert (empty["time_zone"], empty["slots"], empty["updated_at"]) == ("UTC", [], None)
    body = {
        "time_zone": "Europe/Lisbon",
        "slots": [{"weekday": 3, "time": "12:30"}, {"weekday": 0, "time": "09:00"}],
        "channel": "external",
    }
    saved = client.put(f"/api/v1/schedules/{author.pk}", body, format="json")
    assert saved.status_code == 200, saved.json()
    assert saved.json()["slots"] == [{"weekday": 0, "time": "09:00"}, {"weekday": 3, "time": "12:30"}]
    assert saved.json()["time_zone"] == "Europe/Lisbon"
    listed = client.get("/api/v1/schedules").json()["results"]
    assert [s["author"] for s in listed] == [author.pk]
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="publishing.schedule_changed").count() == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"time_zone": "Mars/Olympus", "slots": []}, 422),
        ({"time_zone": "UTC", "slots": [{"weekday": 7, "time": "09:00"}]}, 400),
        ({"time_zone": "UTC", "slots": [{"weekday": 1, "time": "25:00"}]}, 400),
        ({"time_zone": "UTC", "slots": [{"weekday": 1, "time": "9h"}]}, 400),
        ({"time_zone": "UTC", "slots": [{"weekday": 1, "time": "09:00"}], "channel": "fax"}, 400),
        ({"slots": []}, 400),
        ({"time_zone": "UTC", "slots": [{"weekday": 1, "time": "09:00"}] * 51}, 400),
    ],
)
def test_a_bad_schedule_is_refused_and_the_old_one_kept(api_for, tenant_a, body, status):
    schedule = make_schedule(tenant=tenant_a, slots=[{"weekday": 2, "time": "10:00"}])
    response = api_for(tenant_a).put(f"/api/v1/schedules/{schedule.author_id}", body, format="json")
    assert response.status_code == status, response.json()
    error_of(response)
    with tenant_scope(tenant_a):
        kept = PostingSchedule.objects.get(pk=schedule.pk)
    assert (kept.time_zone, kept.slots) == ("UTC", [{"weekday": 2, "time": "10:00"}])


def test_schedules_of_another_tenant_are_404_and_replacing_needs_the_admin_scope(api_for, tenant_a, tenant_b):
    foreign = make_schedule(tenant=tenant_b)
    client = api_for(tenant_a)
    assert client.get(f"/api/v1/schedules/{foreign.author_id}").status_code == 404
    body = {"time_zone": "UTC", "slots": []}
    assert client.put(f"/api/v1/schedules/{foreign.author_id}", body, format="json").status_code == 404
    assert client.get("/api/v1/schedules").json()["results"] == []
    mine = make_author(tenant=tenant_a)
    refused = api_for(tenant_a, scopes=[Scope.READ, Scope.REVIEW]).put(
        f"/api/v1/schedules/{mine.pk}", body, format="json"
    )
    assert refused.status_code == 403
    with tenant_scope(tenant_b):
        assert PostingSchedule.objects.get(pk=foreign.pk).slots


# ---- deliveries --------------------------------------------------------------------------------------


def test_deliveries_are_listed_and_filtered_by_post_status_and_channel(api_for, tenant_a, tenant_b):
    failed = make_delivery(tenant=tenant_a, error="LinkedIn answered 500", attempts=3)
    succeeded = make_delivery(tenant=tenant_a, status=DeliveryStatus.SUCCEEDED, external_id="crm-7")
    make_delivery(tenant=tenant_b)
    client = api_for(tenant_a)
    listed = client.get("/api/v1/deliveries").json()["results"]
    assert {d["id"] for d in listed} == {failed.pk, succeeded.pk}
    only_failed = client.get("/api/v1/deliveries", {"status": "failed"}).json()["results"]
    assert [(d["id"], d["error"], d["attempts"], d["post"]) for d in only_failed] == [
        (failed.pk, "LinkedIn answered 500", 3, failed.post_id)
    ]
    by_post = client.get("/api/v1/deliveries", {"post": succeeded.post_id}).json()["results"]
    assert [d["external_id"] for d in by_post] == ["crm-7"]
    assert client.get("/api/v1/deliveries", {"channel": "linkedin"}).json()["results"] == []
    assert client.get("/api/v1/deliveries", {"status": "lost"}).status_code == 400


def test_retrying_a_failed_delivery_schedules_its_post_again(api_for, tenant_a):
    delivery = make_delivery(tenant=tenant_a)
    response = api_for(tenant_a).post(f"/api/v1/deliveries/{delivery.pk}/retry")
    assert response.status_code == 200, response.json()
    assert (response.json()["id"], response.json()["status"]) == (delivery.post_id, "scheduled")
    assert [d["id"] for d in response.json()["deliveries"]] == [delivery.pk]


def test_a_delivery_that_did_not_fail_is_not_retried(api_for, tenant_a):
    delivery = make_delivery(tenant=tenant_a, status=DeliveryStatus.SUCCEEDED)
    response = api_for(tenant_a).post(f"/api/v1/deliveries/{delivery.pk}/retry")
    assert response.status_code == 409
    assert error_of(response)["code"] == "conflict"


def test_deliveries_of_another_tenant_are_404_and_retry_needs_the_review_scope(api_for, tenant_a, tenant_b):
    foreign = make_delivery(tenant=tenant_b)
    client = api_for(tenant_a)
    assert client.get(f"/api/v1/deliveries/{foreign.pk}").status_code == 404
    assert client.post(f"/api/v1/deliveries/{foreign.pk}/retry").status_code == 404
    with tenant_scope(tenant_b):
        foreign.post.refresh_from_db()
        assert foreign.post.status == PostStatus.FAILED
    mine = make_delivery(tenant=tenant_a)
    refused = api_for(tenant_a, scopes=[Scope.READ]).post(f"/api/v1/deliveries/{mine.pk}/retry")
    assert refused.status_code == 403
    assert error_of(refused)["details"]["required_scope"] == "review"
