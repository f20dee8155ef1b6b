"""/api/v1/learnings and /experiments: the lessons proposed from reviewers' edits, decided by an
editor, and prompt A/B experiments with their results; a winner is only ever an editor's choice."""

from __future__ import annotations

import pytest
from django.utils import timezone

from api.models import Scope
from api.tests.factories import error_of
from audit.models import AuditEvent
from memories.models import Memory
from orchestrator.tests.factories import make_proposal
from prompts import services as prompt_services
from prompts.models import PRODUCTION, PromptExperiment, PromptLabel
from prompts.tests.factories import make_experiment, make_template, version_fields
from publishing.models import PostMetrics, PostStatus
from publishing.tests.factories import make_approved_draft, make_post
from reviews.models import LearningProposal
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


# ---- learnings ----------------------------------------------------------------------------------------


def test_learnings_waiting_for_an_editor_are_listed_and_tenant_b_stays_out(api_for, tenant_a, tenant_b):
    waiting = make_proposal(tenant=tenant_a)
    decided = make_proposal(tenant=tenant_a, text="Open with the number that surprised you most")
    with tenant_scope(tenant_a):
        LearningProposal.objects.filter(pk=decided.pk).update(status=LearningProposal.Status.DISMISSED)
    make_proposal(tenant=tenant_b)
    client = api_for(tenant_a, scopes=[Scope.READ])
    assert [p["id"] for p in client.get("/api/v1/learnings").json()["results"]] == [waiting.pk]
    everything = client.get("/api/v1/learnings", {"status": "all"}).json()["results"]
    assert {p["id"] for p in everything} == {waiting.pk, decided.pk}
    by_author = client.get("/api/v1/learnings", {"status": "all", "author": waiting.author_id}).json()
    assert {p["author"] for p in by_author["results"]} == {waiting.author_id}
    assert client.get("/api/v1/learnings", {"status": "maybe"}).status_code == 400


def test_accepting_a_learning_keeps_it_as_a_memory_of_the_author(api_for, tenant_a):
    proposal = make_proposal(tenant=tenant_a)
    text = "Say the customer's own words before the lesson"
    response = api_for(tenant_a).post(
        f"/api/v1/learnings/{proposal.pk}/accept", {"text": text}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["text"]) == ("accepted", text + ".")
    with tenant_scope(tenant_a):
        memory = Memory.objects.get(author=proposal.author, source=Memory.Source.EDIT)
    assert memory.text.startswith("Say the customer's own words")
    again = api_for(tenant_a).post(f"/api/v1/learnings/{proposal.pk}/dismiss")
    assert again.status_code == 409
    assert "already accepted" in error_of(again)["message"]


def test_dismissing_a_learning_remembers_nothing(api_for, tenant_a):
    proposal = make_proposal(tenant=tenant_a)
    response = api_for(tenant_a).post(f"/api/v1/learnings/{proposal.pk}/dismiss")
    assert (response.status_code, response.json()["status"]) == (200, "dismissed")
    with tenant_scope(tenant_a):
        assert not Memory.objects.exists()


def test_a_learning_reworded_too_short_is_refused_and_stays_proposed(api_for, tenant_a):
    proposal = make_proposal(tenant=tenant_a)
    client = api_for(tenant_a)
    assert (
        client.post(f"/api/v1/learnings/{proposal.pk}/accept", {"text": 5}, format="json").status_code == 400
    )
    short = client.post(f"/api/v1/learnings/{proposal.pk}/accept", {"text": "Be brief"}, format="json")
    assert short.status_code == 409
    with tenant_scope(tenant_a):
        assert LearningProposal.objects.get(pk=proposal.pk).status == LearningProposal.Status.PROPOSED
        assert not Memory.objects.exists()


def test_deciding_learnings_needs_an_editor(api_for, client_for, members_a, tenant_a, tenant_b):
    proposal = make_proposal(tenant=tenant_a)
    refused = api_for(tenant_a, scopes=[Scope.READ, Scope.REVIEW]).post(
        f"/api/v1/learnings/{proposal.pk}/dismiss"
    )
    assert refused.status_code == 403
    assert error_of(refused)["details"]["required_scope"] == "admin"
    writer = client_for(members_a[Role.WRITER])
    assert (
        writer.post(f"/api/v1/learnings/{proposal.pk}/dismiss", HTTP_X_TENANT=tenant_a.slug).status_code
        == 403
    )
    foreign = make_proposal(tenant=tenant_b)
    client = api_for(tenant_a)
    assert client.get(f"/api/v1/learnings/{foreign.pk}").status_code == 404
    assert client.post(f"/api/v1/learnings/{foreign.pk}/accept", {}, format="json").status_code == 404
    with tenant_scope(tenant_b):
        assert LearningProposal.objects.get(pk=foreign.pk).status == LearningProposal.Status.PROPOSED


def test_learnings_page_with_a_cursor(api_for, tenant_a):
    made = [make_proposal(tenant=tenant_a, text=f"Lesson number {n} for the author") for n in range(3)]
    client = api_for(tenant_a)
    first = client.get("/api/v1/learnings", {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    assert {p["id"] for p in first["results"] + second["results"]} == {p.pk for p in made}
    assert client.get("/api/v1/learnings", {"page_size": "two"}).status_code == 400


# ---- experiments -------------------------------------------------------------------------------------


def _metrics(tenant, experiment, variant: str, impressions: int, engaged: int) -> None:
    draft = make_approved_draft(tenant=tenant, experiment_id=experiment.pk, variant=variant)
    post = make_post(tenant=tenant, draft=draft, status=PostStatus.DELIVERED, external_id=f"crm-{variant}")
    with tenant_scope(tenant):
        PostMetrics.objects.create(
            post=post, impressions=impressions, reactions=engaged, source="api", collected_at=timezone.now()
        )


def _production_number(tenant, experiment) -> int:
    with tenant_scope(tenant):
        return PromptLabel.objects.get(template_id=experiment.template_id, name=PRODUCTION).version.number


def test_an_experiment_is_started_and_shows_its_results(api_for, tenant_a):
    template = make_template(tenant=tenant_a)
    with tenant_scope(tenant_a):
        version_b = prompt_services.prompt_version_create(
            template=template, **version_fields(change_note="B")
        )
    client = api_for(tenant_a)
    body = {"template": template.pk, "version_b": version_b.pk, "share_b": 30}
    response = client.post("/api/v1/experiments", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["share_b"], created["is_running"], created["version_b"]) == (30, True, version_b.pk)
    assert created["results"]["suggested_winner"] is None
    assert "impressions" in created["results"]["reason"]
    assert [o["version"] for o in created["outcomes"]] == [created["version_a"], version_b.pk]
    second = client.post("/api/v1/experiments", body, format="json")
    assert second.status_code == 422
    assert "already running" in error_of(second)["message"]


def test_results_suggest_a_winner_but_production_stays_until_an_editor_chooses(api_for, tenant_a):
    experiment = make_experiment(tenant=tenant_a)
    _metrics(tenant_a, experiment, "A", impressions=5000, engaged=60)
    _metrics(tenant_a, experiment, "B", impressions=5000, engaged=200)
    client = api_for(tenant_a)
    results = client.get(f"/api/v1/experiments/{experiment.pk}").json()["results"]
    assert results["suggested_winner"] == "B"
    assert results["p_value"] < 0.05
    assert results["a"]["impressions"] == 5000
    assert results["rate_b"] > results["rate_a"]
    assert _production_number(tenant_a, experiment) == 1  # a suggestion changes nothing
    chosen = client.post(
        f"/api/v1/experiments/{experiment.pk}/choose-winner", {"variant": "B"}, format="json"
    )
    assert chosen.status_code == 200, chosen.json()
    assert chosen.json()["is_running"] is False
    assert _production_number(tenant_a, experiment) == 2
    with tenant_scope(tenant_a):
        assert AuditEvent.objects.filter(action="prompt.experiment_winner_chosen").exists()
    again = client.post(f"/api/v1/experiments/{experiment.pk}/choose-winner", {"variant": "A"}, format="json")
    assert again.status_code == 422


def test_choosing_a_keeps_production_and_stops_the_experiment(api_for, tenant_a):
    experiment = make_experiment(tenant=tenant_a)
    client = api_for(tenant_a)
    bad = client.post(f"/api/v1/experiments/{experiment.pk}/choose-winner", {"variant": "C"}, format="json")
    assert bad.status_code == 400
    with tenant_scope(tenant_a):
        assert PromptExperiment.objects.get(pk=experiment.pk).is_running
    chosen = client.post(
        f"/api/v1/experiments/{experiment.pk}/choose-winner", {"variant": "A"}, format="json"
    )
    assert chosen.json()["is_running"] is False
    assert _production_number(tenant_a, experiment) == 1


def test_stopping_an_experiment_and_filtering_the_list(api_for, tenant_a):
    running = make_experiment(tenant=tenant_a)
    stopped = make_experiment(tenant=tenant_a)
    client = api_for(tenant_a)
    assert client.post(f"/api/v1/experiments/{stopped.pk}/stop").json()["is_running"] is False
    only_running = client.get("/api/v1/experiments", {"running": "true"}).json()["results"]
    assert [e["id"] for e in only_running] == [running.pk]
    of_template = client.get("/api/v1/experiments", {"template": stopped.template_id}).json()["results"]
    assert [e["id"] for e in of_template] == [stopped.pk]


def test_experiments_of_another_tenant_are_404_and_writes_need_an_editor(api_for, tenant_a, tenant_b):
    foreign = make_experiment(tenant=tenant_b)
    client = api_for(tenant_a)
    assert client.get("/api/v1/experiments").json()["results"] == []
    assert client.get(f"/api/v1/experiments/{foreign.pk}").status_code == 404
    assert client.post(f"/api/v1/experiments/{foreign.pk}/stop").status_code == 404
    winner = client.post(f"/api/v1/experiments/{foreign.pk}/choose-winner", {"variant": "B"}, format="json")
    assert winner.status_code == 404
    with tenant_scope(tenant_b):
        assert PromptExperiment.objects.get(pk=foreign.pk).is_running
    mine = make_experiment(tenant=tenant_a)
    refused = api_for(tenant_a, scopes=[Scope.READ, Scope.REVIEW]).post(f"/api/v1/experiments/{mine.pk}/stop")
    assert refused.status_code == 403
    assert error_of(refused)["details"]["required_scope"] == "admin"
    foreign_template = make_template(tenant=tenant_b)
    body = {"template": foreign_template.pk, "version_b": mine.version_b_id, "share_b": 10}
    assert client.post("/api/v1/experiments", body, format="json").status_code == 404
