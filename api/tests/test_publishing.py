"""/api/v1/posts: list, schedule, move, cancel, CRM delivery with an external id, metrics and export;
tenant B never shows through."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import Scope
from api.tests.factories import error_of
from orchestrator.tests.factories import make_author, make_draft
from prompts.tests.factories import make_experiment
from publishing.metrics import experiment_results
from publishing.models import PostStatus
from publishing.tests.factories import make_approved_draft, make_post, make_schedule
from reviews.models import Draft, DraftState
from tenants.context import tenant_scope
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


def _iso(moment) -> str:
    return moment.replace(microsecond=0).isoformat()


def test_a_crm_schedules_an_approved_draft_into_the_next_free_slot(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    make_schedule(tenant=tenant_a, author=author)
    draft = make_approved_draft(tenant=tenant_a, author=author, body="The text a CRM files.")
    response = api_for(tenant_a).post("/api/v1/posts", {"draft": draft.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["draft"], body["status"], body["channel"], body["text"]) == (
        draft.pk,
        "scheduled",
        "external",
        "The text a CRM files.",
    )
    assert body["at"].endswith("09:00:00Z")
    assert body["deliveries"] == []
    assert body["metrics"] is None


def test_scheduling_refuses_what_cannot_be_scheduled_in_the_one_error_shape(api_for, tenant_a, tenant_b):
    client = api_for(tenant_a)
    ready = make_draft(tenant=tenant_a, state=DraftState.READY)
    refused = client.post(
        "/api/v1/posts", {"draft": ready.pk, "at": _iso(timezone.now() + timedelta(days=1))}, format="json"
    )
    assert refused.status_code == 422
    assert "Only an approved draft" in error_of(refused)["message"]
    past = client.post(
        "/api/v1/posts",
        {"draft": make_approved_draft(tenant=tenant_a).pk, "at": _iso(timezone.now() - timedelta(hours=1))},
        format="json",
    )
    assert past.status_code == 422
    assert error_of(past)["details"]["at"] == ["Choose a time in the future."]
    assert client.post("/api/v1/posts", {"draft": "x"}, format="json").status_code == 400
    foreign = make_approved_draft(tenant=tenant_b)
    assert client.post("/api/v1/posts", {"draft": foreign.pk}, format="json").status_code == 404


def test_writes_need_the_review_scope(api_for, tenant_a):
    draft = make_approved_draft(tenant=tenant_a)
    response = api_for(tenant_a, scopes=[Scope.READ]).post(
        "/api/v1/posts", {"draft": draft.pk}, format="json"
    )
    assert response.status_code == 403
    assert error_of(response)["details"]["required_scope"] == "review"


def test_the_list_filters_scheduled_and_delivered_posts_and_hides_tenant_b(api_for, tenant_a, tenant_b):
    scheduled = make_post(tenant=tenant_a)
    delivered = make_post(tenant=tenant_a, status=PostStatus.DELIVERED, external_id="crm-1")
    make_post(tenant=tenant_b)
    client = api_for(tenant_a)
    assert {p["id"] for p in client.get("/api/v1/posts").json()["results"]} == {scheduled.pk, delivered.pk}
    only = client.get("/api/v1/posts", {"status": "delivered"}).json()["results"]
    assert [(p["id"], p["external_id"]) for p in only] == [(delivered.pk, "crm-1")]
    later = client.get("/api/v1/posts", {"start": _iso(scheduled.at + timedelta(minutes=1))}).json()[
        "results"
    ]
    assert later == []
    assert client.get("/api/v1/posts", {"status": "lost"}).status_code == 400


def test_a_post_of_another_tenant_is_404_for_reads_and_writes(api_for, tenant_a, tenant_b):
    foreign = make_post(tenant=tenant_b)
    client = api_for(tenant_a)
    assert error_of(client.get(f"/api/v1/posts/{foreign.pk}"))["code"] == "not_found"
    response = client.post(f"/api/v1/posts/{foreign.pk}/delivered", {"external_id": "x"}, format="json")
    assert response.status_code == 404
    with tenant_scope(tenant_b):
        assert Draft.objects.get(pk=foreign.draft_id).state == DraftState.APPROVED


def test_moving_and_cancelling_a_post(api_for, tenant_a):
    post = make_post(tenant=tenant_a)
    client = api_for(tenant_a)
    target = timezone.now() + timedelta(days=3)
    moved = client.post(f"/api/v1/posts/{post.pk}/move", {"at": _iso(target)}, format="json")
    assert moved.status_code == 200
    assert moved.json()["at"] == target.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    cancelled = client.post(f"/api/v1/posts/{post.pk}/cancel", format="json")
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/posts/{post.pk}/move", {"at": _iso(target)}, format="json")
    assert again.status_code == 422
    assert "cannot be moved" in error_of(again)["message"]


def test_a_crm_marks_a_post_delivered_with_its_id_and_the_webhook_carries_the_text(
    api_for, tenant_a, django_capture_on_commit_callbacks
):
    with tenant_scope(tenant_a):
        webhook_endpoint_create(url="https://crm.example.com/hook", events=["post.delivered"])
    post = make_post(
        tenant=tenant_a, draft=make_approved_draft(tenant=tenant_a, body="Published by the CRM.")
    )
    client = api_for(tenant_a)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            f"/api/v1/posts/{post.pk}/delivered",
            {"external_id": "hubspot-991", "url": "https://crm.example.com/posts/991"},
            format="json",
        )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["external_id"], body["external_url"]) == (
        "delivered",
        "hubspot-991",
        "https://crm.example.com/posts/991",
    )
    assert [d["status"] for d in body["deliveries"]] == ["succeeded"]
    with tenant_scope(tenant_a):
        assert Draft.objects.get(pk=post.draft_id).state == DraftState.DELIVERED
        [webhook] = WebhookDelivery.objects.filter(event="post.delivered")
    assert webhook.payload["data"]["text"] == "Published by the CRM."
    assert webhook.payload["data"]["external_id"] == "hubspot-991"
    # The CRM retries its call: same answer; another id for the same post is a 422.
    assert (
        client.post(
            f"/api/v1/posts/{post.pk}/delivered", {"external_id": "hubspot-991"}, format="json"
        ).status_code
        == 200
    )
    other = client.post(f"/api/v1/posts/{post.pk}/delivered", {"external_id": "hubspot-2"}, format="json")
    assert other.status_code == 422
    blank = client.post(f"/api/v1/posts/{post.pk}/delivered", {"external_id": "  "}, format="json")
    assert blank.status_code == 400


def test_metrics_are_pushed_for_a_delivered_post_and_feed_the_experiment(api_for, tenant_a):
    experiment = make_experiment(tenant=tenant_a)
    posts = {
        variant: make_post(
            tenant=tenant_a,
            status=PostStatus.DELIVERED,
            external_id=f"crm-{variant}",
            draft=make_approved_draft(tenant=tenant_a, experiment_id=experiment.pk, variant=variant),
        )
        for variant in ("A", "B")
    }
    client = api_for(tenant_a)
    counts = {"A": (5000, 50, 10, 5), "B": (5000, 150, 30, 20)}
    for variant, (impressions, reactions, comments, reposts) in counts.items():
        response = client.post(
            f"/api/v1/posts/{posts[variant].pk}/metrics",
            {"impressions": impressions, "reactions": reactions, "comments": comments, "reposts": reposts},
            format="json",
        )
        assert response.status_code == 200
        assert response.json()["metrics"]["source"] == "api"
    scheduled = make_post(tenant=tenant_a)
    refused = client.post(
        f"/api/v1/posts/{scheduled.pk}/metrics",
        {"impressions": 1, "reactions": 0, "comments": 0, "reposts": 0},
        format="json",
    )
    assert refused.status_code == 409
    negative = client.post(
        f"/api/v1/posts/{posts['A'].pk}/metrics",
        {"impressions": -1, "reactions": 0, "comments": 0, "reposts": 0},
        format="json",
    )
    assert negative.status_code == 400

    with tenant_scope(tenant_a):
        result = experiment_results(experiment=experiment)
    assert result.suggested_winner == "B"  # 4% against 1.3% over 5000 impressions each
    assert result.p_value is not None
    assert result.p_value < 0.001


def test_export_of_a_date_range_as_json_csv_and_markdown(api_for, tenant_a, tenant_b):
    post = make_post(tenant=tenant_a, draft=make_approved_draft(tenant=tenant_a, body="Line one.\nLine two."))
    make_post(tenant=tenant_b)
    day = post.at.date().isoformat()
    client = api_for(tenant_a)
    as_json = client.get("/api/v1/posts/export", {"start": day, "end": day})
    assert as_json.status_code == 200
    assert [row["post_id"] for row in as_json.json()["posts"]] == [post.pk]
    as_csv = client.get("/api/v1/posts/export", {"start": day, "end": day, "output": "csv"})
    assert as_csv["Content-Type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert row["text"] == "Line one.\nLine two."
    as_markdown = client.get(
        "/api/v1/posts/export", {"start": day, "end": day, "output": "markdown"}, HTTP_ACCEPT="text/markdown"
    )
    assert as_markdown.status_code == 200
    assert "Line one.\nLine two." in as_markdown.content.decode()
    backwards = client.get("/api/v1/posts/export", {"start": day, "end": "2000-01-01"})
    assert backwards.status_code == 422
    assert error_of(backwards)["code"] == "validation_error"
    assert client.get("/api/v1/posts/export", {"start": day}).status_code == 400


def test_an_export_error_is_json_whatever_the_accept_header(api_for, tenant_a):
    response = api_for(tenant_a).get("/api/v1/posts/export", {"start": "nope"}, HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert error_of(response)["code"] == "validation_error"
