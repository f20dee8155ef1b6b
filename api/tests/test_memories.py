"""Memories that stay true, through the API: valid_until on PATCH, contradictions, supersession, history."""

from __future__ import annotations

import pytest

from api.models import Scope
from memories.models import Memory
from memories.tests.factories import make_author, make_memory
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


def _create(api, author, text):
    response = api.post(
        "/api/v1/memories", {"author": author.pk, "kind": "fact", "text": text}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def author(tenant_a):
    return make_author(tenant=tenant_a, name="Ana Souza")


def test_patch_sets_and_clears_valid_until_and_refuses_an_end_before_the_start(api_for, tenant_a, author):
    api = api_for(tenant_a)
    memory = _create(api, author, "Acme doubled its onboarding team in 2024.")
    url = f"/api/v1/memories/{memory['id']}"
    ended = api.patch(url, {"valid_until": "2030-01-01T00:00:00Z"}, format="json")
    assert ended.status_code == 200, ended.json()
    assert ended.json()["valid_until"].startswith("2030-01-01")
    assert api.get(url).json()["valid_until"].startswith("2030-01-01")
    backwards = error_of(api.patch(url, {"valid_until": "2001-01-01T00:00:00Z"}, format="json"))
    assert backwards["code"] == "validation_error"
    assert set(backwards["details"]) == {"valid_until"}
    assert api.get(url).json()["valid_until"].startswith("2030-01-01")  # the refused change lost nothing
    assert error_of(api.patch(url, {"valid_until": "someday"}, format="json"))["details"].keys() == {
        "valid_until"
    }
    assert api.patch(url, {"valid_until": None}, format="json").json()["valid_until"] is None


def test_a_contradiction_is_reported_and_superseding_ends_the_old_memory(api_for, tenant_a, author):
    api = api_for(tenant_a)
    old = _create(api, author, "The company has 120 employees.")
    new = _create(api, author, "The company has 150 employees.")
    assert new["contradicts"] == [old["id"]]
    [conflict] = api.get("/api/v1/memories/conflicts").json()["results"]
    assert (conflict["memory"], conflict["contradicts"], conflict["status"]) == (
        new["id"],
        old["id"],
        "pending",
    )

    superseded = api.post(f"/api/v1/memories/{old['id']}/supersede", {"successor": new["id"]}, format="json")
    assert superseded.status_code == 200, superseded.json()
    assert superseded.json()["superseded_by"] == new["id"]
    assert superseded.json()["valid_until"] is not None
    assert api.get("/api/v1/memories/conflicts").json()["results"] == []
    assert api.get(f"/api/v1/memories/{new['id']}").json()["contradicts"] == []

    listed = [m["id"] for m in api.get(f"/api/v1/memories?author={author.pk}").json()["results"]]
    assert listed == [new["id"]]
    with_history = api.get(f"/api/v1/memories?author={author.pk}&history=true").json()["results"]
    assert {m["id"] for m in with_history} == {old["id"], new["id"]}
    found = api.get(f"/api/v1/memories/search?author={author.pk}&q=employees").json()
    assert [item["memory"]["id"] for item in found] == [new["id"]]
    found = api.get(f"/api/v1/memories/search?author={author.pk}&q=employees&history=1").json()
    assert {item["memory"]["id"] for item in found} == {old["id"], new["id"]}

    again = error_of(
        api.post(f"/api/v1/memories/{old['id']}/supersede", {"successor": new["id"]}, format="json")
    )
    assert again["code"] == "conflict"
    assert "already superseded" in again["message"]


def test_keep_both_closes_the_contradiction_and_409s_when_there_is_none(api_for, tenant_a, author):
    api = api_for(tenant_a)
    old = _create(api, author, "Post on Tuesdays.")
    new = _create(api, author, "Post on Thursdays.")
    kept = api.post(f"/api/v1/memories/{new['id']}/keep-both", {"other": old["id"]}, format="json")
    assert kept.status_code == 200, kept.json()
    assert kept.json()["status"] == "kept"
    again = api.post(f"/api/v1/memories/{new['id']}/keep-both", {"other": old["id"]}, format="json")
    assert (again.status_code, error_of(again)["code"]) == (409, "conflict")
    listed = api.get(f"/api/v1/memories?author={author.pk}").json()["results"]
    assert {m["id"] for m in listed} == {old["id"], new["id"]}


def test_the_same_duration_written_twice_merges_instead_of_adding(api_for, tenant_a, author):
    api = api_for(tenant_a)
    first = _create(api, author, "The CTO joined the company two years earlier.")
    second = _create(api, author, "The CTO joined the company 2 years before.")
    assert second["id"] == first["id"]
    assert second["merge_count"] == 1


def test_supersede_refuses_bad_input_with_the_error_shape(api_for, tenant_a, author):
    api = api_for(tenant_a)
    memory = _create(api, author, "The company has 120 employees.")
    url = f"/api/v1/memories/{memory['id']}/supersede"
    assert error_of(api.post(url, {}, format="json"))["details"].keys() == {"successor"}
    assert error_of(api.post(url, {"successor": "two"}, format="json"))["code"] == "validation_error"
    itself = error_of(api.post(url, {"successor": memory["id"]}, format="json"))
    assert (itself["code"], set(itself["details"])) == ("validation_error", {"successor"})
    assert api.post(url, {"successor": 999999}, format="json").status_code == 404
    assert api.get(f"/api/v1/memories/{memory['id']}").json()["valid_until"] is None


def test_deciding_needs_the_admin_scope(api_for, tenant_a, author):
    old = make_memory(tenant=tenant_a, author=author, text="The company has 120 employees.")
    new = make_memory(tenant=tenant_a, author=author, text="The company has 150 employees.")
    reader = api_for(tenant_a, scopes=[Scope.READ])
    denied = reader.post(f"/api/v1/memories/{old.pk}/supersede", {"successor": new.pk}, format="json")
    assert (denied.status_code, error_of(denied)["details"]["required_scope"]) == (403, "admin")
    assert (
        reader.post(f"/api/v1/memories/{new.pk}/keep-both", {"other": old.pk}, format="json").status_code
        == 403
    )
    with tenant_scope(tenant_a):
        assert Memory.objects.get(pk=old.pk).valid_until is None


def test_search_cuts_memories_below_the_relevance_floor(api_for, tenant_a, author, settings):
    api = api_for(tenant_a)
    relevant = _create(api, author, "Acme doubled its onboarding team in 2024.")
    _create(api, author, "Keep sentences short and concrete.")
    settings.MAESTRO_MEMORY_RELEVANCE_FLOOR = 0.25
    found = api.get(f"/api/v1/memories/search?author={author.pk}&q=onboarding team").json()
    assert [item["memory"]["id"] for item in found] == [relevant["id"]]
    assert api.get(f"/api/v1/memories/search?author={author.pk}&q=quarterly tax filings").json() == []


def test_memories_of_another_tenant_can_neither_be_superseded_nor_succeed(
    api_for, tenant_a, tenant_b, author
):
    mine = make_memory(tenant=tenant_a, author=author, text="The company has 120 employees.")
    theirs = make_memory(tenant=tenant_b, text="The company has 150 employees.")
    api = api_for(tenant_a)
    assert (
        api.post(f"/api/v1/memories/{theirs.pk}/supersede", {"successor": mine.pk}, format="json").status_code
        == 404
    )
    assert (
        api.post(f"/api/v1/memories/{mine.pk}/supersede", {"successor": theirs.pk}, format="json").status_code
        == 404
    )
    assert (
        api.post(f"/api/v1/memories/{mine.pk}/keep-both", {"other": theirs.pk}, format="json").status_code
        == 404
    )
    assert api.get(f"/api/v1/memories/conflicts?author={theirs.author_id}").status_code == 404
    assert Memory.objects.unscoped().filter(valid_until__isnull=False).count() == 0
