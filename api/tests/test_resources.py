"""Every /api/v1/ resource: happy path, validation error, 404, and tenant B never showing through."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import Scope
from api.tests.factories import error_of
from console.tests.factories import make_trace
from memories.tests.factories import make_memory
from orchestrator.models import FlowRun
from orchestrator.tests.factories import make_author, make_definition, make_draft, make_run
from prompts.tests.factories import make_template, version_fields
from reviews.models import DraftState
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


# ---- authors and style profiles -------------------------------------------------------------------


def test_authors_list_shows_only_the_keys_tenant(api_for, tenant_a, tenant_b):
    mine = make_author(tenant=tenant_a, name="Ana")
    make_author(tenant=tenant_b, name="Bruno")
    response = api_for(tenant_a).get("/api/v1/authors")
    assert response.status_code == 200
    assert [a["id"] for a in response.json()["results"]] == [mine.pk]


def test_an_author_of_another_tenant_is_404_even_by_id(api_for, tenant_a, tenant_b):
    theirs = make_author(tenant=tenant_b, name="Bruno")
    api = api_for(tenant_a)
    assert error_of(api.get(f"/api/v1/authors/{theirs.pk}"))["code"] == "not_found"
    assert api.get(f"/api/v1/authors/{theirs.pk}/style-profiles").status_code == 404
    assert (
        api.post(f"/api/v1/authors/{theirs.pk}/style-profiles", {"tone": "x"}, format="json").status_code
        == 404
    )


def test_creating_an_author_and_a_style_profile_version(api_for, tenant_a):
    api = api_for(tenant_a, scopes=[Scope.READ, Scope.ADMIN])
    created = api.post("/api/v1/authors", {"name": "Carla", "headline": "CTO"}, format="json")
    assert created.status_code == 201
    author_id = created.json()["id"]
    profile = api.post(
        f"/api/v1/authors/{author_id}/style-profiles",
        {"tone": "Warm", "banned_phrases": ["synergy"]},
        format="json",
    )
    assert profile.status_code == 201
    assert profile.json()["version"] == 1
    again = api.post(f"/api/v1/authors/{author_id}/style-profiles", {"tone": "Warmer"}, format="json")
    assert again.json()["version"] == 2
    listed = api.get(f"/api/v1/authors/{author_id}/style-profiles").json()["results"]
    assert [p["version"] for p in listed] == [2, 1]


def test_author_validation_errors_have_the_common_shape(api_for, tenant_a):
    api = api_for(tenant_a)
    make_author(tenant=tenant_a, name="Ana")
    missing = error_of(api.post("/api/v1/authors", {}, format="json"))
    assert missing["code"] == "validation_error"
    assert "name" in missing["details"]
    duplicate = error_of(api.post("/api/v1/authors", {"name": "Ana"}, format="json"))
    assert duplicate["code"] == "validation_error"
    assert "name" in duplicate["details"]


def test_an_unknown_author_is_404(api_for, tenant_a):
    assert error_of(api_for(tenant_a).get("/api/v1/authors/999999"))["code"] == "not_found"


# ---- memories --------------------------------------------------------------------------------------


def test_memories_crud_and_search(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    api = api_for(tenant_a)
    created = api.post(
        "/api/v1/memories",
        {
            "author": author.pk,
            "kind": "fact",
            "text": "Acme doubled its onboarding team in 2024.",
            "importance": 4,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    memory_id = created.json()["id"]
    assert api.get(f"/api/v1/memories?author={author.pk}&kind=fact").json()["results"][0]["id"] == memory_id
    changed = api.patch(f"/api/v1/memories/{memory_id}", {"importance": 5}, format="json")
    assert changed.json()["importance"] == 5
    found = api.get(f"/api/v1/memories/search?author={author.pk}&q=onboarding team")
    assert found.status_code == 200
    assert found.json()[0]["memory"]["id"] == memory_id
    assert api.delete(f"/api/v1/memories/{memory_id}").status_code == 204
    assert api.get(f"/api/v1/memories/{memory_id}").status_code == 404


def test_memory_validation_and_filters(api_for, tenant_a):
    api = api_for(tenant_a)
    author = make_author(tenant=tenant_a)
    bad = error_of(
        api.post("/api/v1/memories", {"author": author.pk, "kind": "gossip", "text": ""}, format="json")
    )
    assert set(bad["details"]) >= {"kind", "text"}
    assert error_of(api.get("/api/v1/memories?status=sometimes"))["code"] == "validation_error"
    assert error_of(api.get("/api/v1/memories/search?author=1"))["details"].keys() == {"q"}


def test_memories_of_another_tenant_never_show(api_for, tenant_a, tenant_b):
    theirs = make_memory(tenant=tenant_b, text="Bruno's secret plan")
    api = api_for(tenant_a)
    assert api.get("/api/v1/memories?status=all").json()["results"] == []
    assert api.get(f"/api/v1/memories/{theirs.pk}").status_code == 404
    assert api.patch(f"/api/v1/memories/{theirs.pk}", {"importance": 1}, format="json").status_code == 404
    assert api.delete(f"/api/v1/memories/{theirs.pk}").status_code == 404
    assert api.get(f"/api/v1/memories/search?author={theirs.author_id}&q=plan").status_code == 404


# ---- prompts -----------------------------------------------------------------------------------------


def test_prompt_templates_and_versions(api_for, tenant_a, tenant_b):
    mine = make_template(tenant=tenant_a, name="crm-post")
    make_template(tenant=tenant_b, name="their-post")
    api = api_for(tenant_a)
    names = [t["name"] for t in api.get("/api/v1/prompts?purpose=post").json()["results"]]
    assert names == ["crm-post"]
    versions = api.get(f"/api/v1/prompts/{mine.pk}/versions").json()["results"]
    assert [v["number"] for v in versions] == [1]
    new = api.post(
        f"/api/v1/prompts/{mine.pk}/versions", {**version_fields(), "change_note": "tighter"}, format="json"
    )
    assert new.status_code == 201, new.json()
    assert new.json()["number"] == 2
    assert api.get(f"/api/v1/prompt-versions/{new.json()['id']}").json()["change_note"] == "tighter"


def test_creating_a_prompt_template_and_its_validation(api_for, tenant_a):
    api = api_for(tenant_a)
    created = api.post(
        "/api/v1/prompts", {"purpose": "comment", "name": "crm", **version_fields()}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["shared"] is False
    bad = error_of(api.post("/api/v1/prompts", {"purpose": "poem", "messages": []}, format="json"))
    assert {"purpose", "messages"} <= set(bad["details"])


def test_prompts_of_another_tenant_are_404(api_for, tenant_a, tenant_b):
    theirs = make_template(tenant=tenant_b)
    api = api_for(tenant_a)
    assert api.get(f"/api/v1/prompts/{theirs.pk}").status_code == 404
    assert api.get(f"/api/v1/prompts/{theirs.pk}/versions").status_code == 404
    assert (
        api.post(f"/api/v1/prompts/{theirs.pk}/versions", version_fields(), format="json").status_code == 404
    )
    with tenant_scope(tenant_b):
        version = theirs.versions.get()
    assert api.get(f"/api/v1/prompt-versions/{version.pk}").status_code == 404


# ---- flows and generations ---------------------------------------------------------------------------


def test_flows_lists_the_tenants_flows(api_for, tenant_a):
    make_definition(tenant=tenant_a)
    flows = api_for(tenant_a).get("/api/v1/flows").json()["results"]
    assert [f["name"] for f in flows] == ["post"]


def test_starting_a_generation_returns_202_and_a_retry_with_the_same_key_returns_the_run(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    make_definition(tenant=tenant_a)
    api = api_for(tenant_a)
    body = {"author": author.pk, "brief": "Why week-one calls matter", "flow": "post"}
    first = api.post("/api/v1/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="crm-42")
    assert first.status_code == 202, first.json()
    assert first.json()["status"] == "queued"
    assert first.json()["draft"] is None
    retry = api.post("/api/v1/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="crm-42")
    assert retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"]
    with tenant_scope(tenant_a):
        run = FlowRun.objects.get()
    assert run.api_key_id == api.key.pk
    assert run.created_by_id == api.key.identity_id
    other = api.post(
        "/api/v1/generations",
        {**body, "brief": "Something else"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="crm-42",
    )
    assert error_of(other)["code"] == "idempotency_key_reused"
    fresh = api.post("/api/v1/generations", body, format="json")
    assert fresh.status_code == 202
    assert fresh.json()["id"] != first.json()["id"]


def test_two_keys_of_one_tenant_do_not_share_idempotency_keys(api_for, tenant_a):
    author = make_author(tenant=tenant_a)
    make_definition(tenant=tenant_a)
    body = {"author": author.pk, "brief": "Same brief", "flow": "post"}
    one = api_for(tenant_a).post("/api/v1/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    two = api_for(tenant_a).post("/api/v1/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (one.status_code, two.status_code) == (202, 202)
    assert one.json()["id"] != two.json()["id"]


def test_generation_validation_unknown_flow_and_foreign_author(api_for, tenant_a, tenant_b):
    api = api_for(tenant_a)
    author = make_author(tenant=tenant_a)
    assert set(error_of(api.post("/api/v1/generations", {}, format="json"))["details"]) >= {"author", "brief"}
    unknown = api.post(
        "/api/v1/generations", {"author": author.pk, "brief": "x", "flow": "nope"}, format="json"
    )
    assert error_of(unknown)["details"] == {"flow": ["There is no flow named 'nope'."]}
    theirs = make_author(tenant=tenant_b, name="Bruno")
    assert (
        api.post("/api/v1/generations", {"author": theirs.pk, "brief": "x"}, format="json").status_code == 404
    )


def test_generation_detail_shows_the_draft_and_foreign_runs_are_404(api_for, tenant_a, tenant_b):
    draft = make_draft(tenant=tenant_a)
    theirs = make_run(tenant=tenant_b)
    api = api_for(tenant_a)
    detail = api.get(f"/api/v1/generations/{draft.run_id}").json()
    assert detail["draft"] == draft.pk
    assert detail["steps"] == []
    assert [r["id"] for r in api.get("/api/v1/generations?status=succeeded").json()["results"]] == [
        draft.run_id
    ]
    assert api.get(f"/api/v1/generations/{theirs.pk}").status_code == 404
    assert error_of(api.get("/api/v1/generations?status=dreaming"))["code"] == "validation_error"


def test_regenerate_starts_the_same_brief_afresh_and_needs_the_generate_scope(api_for, tenant_a, tenant_b):
    draft = make_draft(tenant=tenant_a)
    theirs = make_run(tenant=tenant_b)
    api = api_for(tenant_a)
    again = api.post(f"/api/v1/generations/{draft.run_id}/regenerate")
    assert again.status_code == 202, again.content
    assert again.json()["id"] != draft.run_id
    with tenant_scope(tenant_a):
        original, run = FlowRun.objects.get(pk=draft.run_id), FlowRun.objects.get(pk=again.json()["id"])
    assert (run.author_id, run.brief, run.definition_id) == (
        original.author_id,
        original.brief,
        original.definition_id,
    )
    assert run.inputs["regenerate"] is True  # its model calls are never answered from the cache
    assert run.api_key_id == api.key.pk
    assert api.post(f"/api/v1/generations/{theirs.pk}/regenerate").status_code == 404
    reader = api_for(tenant_a, scopes=["read"])
    assert error_of(reader.post(f"/api/v1/generations/{draft.run_id}/regenerate"))["code"] == "forbidden"


# ---- drafts ------------------------------------------------------------------------------------------


def test_drafts_list_filters_and_hides_other_tenants(api_for, tenant_a, tenant_b):
    ready = make_draft(tenant=tenant_a)
    make_draft(tenant=tenant_a, state=DraftState.REJECTED)
    make_draft(tenant=tenant_b)
    api = api_for(tenant_a)
    assert [d["id"] for d in api.get("/api/v1/drafts?state=ready").json()["results"]] == [ready.pk]
    assert len(api.get("/api/v1/drafts").json()["results"]) == 2
    filtered = api.get(f"/api/v1/drafts?author={ready.author_id}&flow=post&state=ready").json()["results"]
    assert [d["id"] for d in filtered] == [ready.pk]
    assert error_of(api.get("/api/v1/drafts?state=lost"))["code"] == "validation_error"


def test_a_key_claims_edits_and_approves_a_draft_as_its_service_identity(api_for, tenant_a):
    draft = make_draft(tenant=tenant_a)
    api = api_for(tenant_a, scopes=[Scope.READ, Scope.REVIEW])
    claimed = api.post(f"/api/v1/drafts/{draft.pk}/claim")
    assert claimed.status_code == 200
    assert claimed.json()["claimed_by"] == api.key.identity_id
    edited = api.post(
        f"/api/v1/drafts/{draft.pk}/edit", {"body": "Three calls in week one cut churn."}, format="json"
    )
    assert edited.json()["body"] == "Three calls in week one cut churn."
    approved = api.post(f"/api/v1/drafts/{draft.pk}/approve", {}, format="json")
    assert approved.json()["state"] == "approved"
    assert approved.json()["edit_distance"] > 0


def test_reject_needs_a_reason_and_an_impossible_action_is_a_409(api_for, tenant_a):
    draft = make_draft(tenant=tenant_a)
    api = api_for(tenant_a)
    assert (
        error_of(api.post(f"/api/v1/drafts/{draft.pk}/reject", {}, format="json"))["code"]
        == "validation_error"
    )
    rejected = api.post(f"/api/v1/drafts/{draft.pk}/reject", {"reason": "Off brand"}, format="json")
    assert rejected.json()["state"] == "rejected"
    again = error_of(api.post(f"/api/v1/drafts/{draft.pk}/approve", {}, format="json"))
    assert again["code"] == "conflict"
    assert (
        error_of(api.post(f"/api/v1/drafts/{draft.pk}/edit", {"body": "x"}, format="json"))["code"]
        == "conflict"
    )


def test_release_and_request_changes_need_a_claim(api_for, tenant_a):
    draft = make_draft(tenant=tenant_a)
    api = api_for(tenant_a)
    assert api.post(f"/api/v1/drafts/{draft.pk}/release").status_code == 409
    api.post(f"/api/v1/drafts/{draft.pk}/claim")
    assert api.post(f"/api/v1/drafts/{draft.pk}/release").json()["state"] == "ready"
    api.post(f"/api/v1/drafts/{draft.pk}/claim")
    changes = api.post(
        f"/api/v1/drafts/{draft.pk}/request-changes", {"instructions": "Shorter"}, format="json"
    )
    assert changes.json()["state"] == "changes_requested"


def test_every_draft_action_on_another_tenants_draft_is_404(api_for, tenant_a, tenant_b):
    theirs = make_draft(tenant=tenant_b)
    api = api_for(tenant_a)
    assert api.get(f"/api/v1/drafts/{theirs.pk}").status_code == 404
    bodies = {"edit": {"body": "x"}, "reject": {"reason": "x"}, "request-changes": {"instructions": "x"}}
    bodies["assign"] = {"assignee": None}
    for action in ("claim", "release", "edit", "approve", "reject", "request-changes", "assign"):
        response = api.post(f"/api/v1/drafts/{theirs.pk}/{action}", bodies.get(action, {}), format="json")
        assert response.status_code == 404, action
    with tenant_scope(tenant_b):
        theirs.refresh_from_db()
    assert theirs.state == DraftState.READY


# ---- traces and usage --------------------------------------------------------------------------------


def test_traces_filter_by_model_purpose_and_dates_and_hide_other_tenants(api_for, tenant_a, tenant_b):
    now = timezone.now()
    old = make_trace(
        tenant=tenant_a, created_at=now - timedelta(days=3), purpose="comment", model_alias="small-a"
    )
    new = make_trace(tenant=tenant_a, purpose="post", cost_micros=500)
    theirs = make_trace(tenant=tenant_b)
    api = api_for(tenant_a)
    assert {t["id"] for t in api.get("/api/v1/traces").json()["results"]} == {str(old.pk), str(new.pk)}
    assert [t["id"] for t in api.get("/api/v1/traces?model=small-a").json()["results"]] == [str(old.pk)]
    assert [t["id"] for t in api.get("/api/v1/traces?purpose=post").json()["results"]] == [str(new.pk)]
    since = (now - timedelta(days=1)).isoformat()
    assert [t["id"] for t in api.get("/api/v1/traces", {"from": since}).json()["results"]] == [str(new.pk)]
    assert "routing" in api.get(f"/api/v1/traces/{new.pk}").json()
    assert api.get(f"/api/v1/traces/{theirs.pk}").status_code == 404
    assert error_of(api.get("/api/v1/traces?from=yesterday"))["details"].keys() == {"from"}


def test_usage_groups_cost_and_tokens_by_day_model_author_and_flow(api_for, tenant_a, tenant_b):
    author = make_author(tenant=tenant_a)
    run = make_run(tenant=tenant_a, author=author)
    make_trace(tenant=tenant_a, model_alias="small-a", cost_micros=100, input_tokens=10, output_tokens=5)
    make_trace(
        tenant=tenant_a, model_alias="standard-a", cost_micros=300, input_tokens=20, output_tokens=7,
        author_id=author.pk, flow_run_id=run.pk,
    )  # fmt: skip
    make_trace(tenant=tenant_b, model_alias="small-a", cost_micros=99_999)
    api = api_for(tenant_a)
    by_model = api.get("/api/v1/usage?group_by=model").json()
    assert {r["key"]: r["cost_micros"] for r in by_model["results"]} == {"small-a": 100, "standard-a": 300}
    assert by_model["total_cost_micros"] == 400
    by_day = api.get("/api/v1/usage").json()["results"]
    assert [(r["calls"], r["input_tokens"], r["output_tokens"]) for r in by_day] == [(2, 30, 12)]
    by_author = api.get("/api/v1/usage?group_by=author").json()["results"]
    assert {r["key"]: r["calls"] for r in by_author} == {str(author.pk): 1, None: 1}
    by_flow = api.get("/api/v1/usage?group_by=flow").json()["results"]
    assert {r["key"]: r["cost_micros"] for r in by_flow} == {"post": 300, "(no flow)": 100}
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert api.get("/api/v1/usage", {"from": future}).json()["results"] == []
    assert error_of(api.get("/api/v1/usage?group_by=weather"))["code"] == "validation_error"


# ---- pagination ---------------------------------------------------------------------------------------


def test_lists_use_cursor_pagination(api_for, tenant_a):
    for index in range(5):
        make_author(tenant=tenant_a, name=f"Author {index}")
    api = api_for(tenant_a)
    first = api.get("/api/v1/authors?page_size=2").json()
    assert len(first["results"]) == 2
    assert "cursor=" in first["next"]
    seen = [a["id"] for a in first["results"]]
    url = first["next"]
    while url:
        page = api.get(url).json()
        seen += [a["id"] for a in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 5
    # A cursor the API did not hand out is bad input (400), not a missing page.
    assert error_of(api.get("/api/v1/authors?cursor=garbage"))["code"] == "invalid_cursor"


def test_review_next_claims_the_oldest_waiting_draft_then_says_none_is_left(api_for, tenant_a, tenant_b):
    make_draft(tenant=tenant_b)  # never handed to tenant A
    oldest = make_draft(tenant=tenant_a)
    make_draft(tenant=tenant_a, state=DraftState.REJECTED)
    api = api_for(tenant_a, scopes=[Scope.READ, Scope.REVIEW])
    taken = api.post("/api/v1/drafts/next", {}, format="json")
    assert taken.status_code == 200
    assert (taken.json()["id"], taken.json()["state"]) == (oldest.pk, "in_review")
    assert api.post("/api/v1/drafts/next", {}, format="json").status_code == 204


def test_a_draft_is_assigned_to_a_member_only(api_for, tenant_a, members_a, admin_b):
    draft = make_draft(tenant=tenant_a)
    api = api_for(tenant_a, scopes=[Scope.READ, Scope.REVIEW])
    writer = members_a["writer"].user
    assigned = api.post(f"/api/v1/drafts/{draft.pk}/assign", {"assignee": writer.email}, format="json")
    assert assigned.status_code == 200
    assert assigned.json()["assigned_to"] == writer.pk
    outsider = api.post(f"/api/v1/drafts/{draft.pk}/assign", {"assignee": admin_b.user.email}, format="json")
    assert error_of(outsider)["code"] == "not_a_member"
    read_only = api_for(tenant_a, scopes=[Scope.READ])
    assert (
        read_only.post(f"/api/v1/drafts/{draft.pk}/assign", {"assignee": None}, format="json").status_code
        == 403
    )
