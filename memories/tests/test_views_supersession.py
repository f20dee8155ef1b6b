"""Deciding contradictions in the browser: flagged on add, superseded or kept (htmx), history on demand."""

from __future__ import annotations

import pytest

from memories.models import Memory, MemoryConflict
from memories.services import memory_add
from memories.tests.factories import make_memory
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _url(tenant, suffix=""):
    return f"/t/{tenant.slug}/memories/{suffix}"


def _add(tenant, author, text):
    with tenant_scope(tenant):
        return memory_add(author=author, kind=Memory.Kind.FACT, text=text).memory


def _conflicting(tenant, author):
    old = _add(tenant, author, "The company has 120 employees.")
    new = _add(tenant, author, "The company has 150 employees.")
    with tenant_scope(tenant):
        return old, new, MemoryConflict.objects.get()


def test_adding_a_contradicting_memory_tells_the_editor_and_lists_it_to_decide(
    client_for, members_a, tenant_a, author_a
):
    _add(tenant_a, author_a, "The company has 120 employees.")
    client = client_for(members_a[Role.EDITOR])
    data = {"author": author_a.pk, "kind": "fact", "text": "The company has 150 employees.", "importance": 3}
    response = client.post(_url(tenant_a, "add/"), data, follow=True)
    assert "it contradicts 1 valid memory" in response.text
    section = response.text.split('id="memory-conflicts"', 1)[1].split("</section>", 1)[0]
    assert "The company has 150 employees." in section
    assert "The company has 120 employees." in section
    assert "Newer supersedes older" in section
    assert "Keep both" in section


def test_an_editor_supersedes_with_htmx_and_the_old_memory_leaves_the_valid_list(
    client_for, members_a, tenant_a, author_a
):
    old, new, conflict = _conflicting(tenant_a, author_a)
    client = client_for(members_a[Role.EDITOR])
    response = client.post(
        _url(tenant_a, f"{old.pk}/supersede/"), {"other": new.pk}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert f'id="conflict-{conflict.pk}"' in response.text
    assert "Superseded:" in response.text
    old.refresh_from_db()
    assert old.superseded_by_id == new.pk
    assert old.valid_until is not None
    listed = client.get(_url(tenant_a)).text
    assert "150 employees" in listed
    assert "120 employees" not in listed
    history = client.get(_url(tenant_a), {"history": "on"}).text
    assert "120 employees" in history
    assert "Superseded by" in history
    edit = client.get(_url(tenant_a, f"{old.pk}/")).text
    assert 'id="superseded-by"' in edit
    assert "150 employees" in edit


def test_search_shows_superseded_memories_only_with_history(client_for, members_a, tenant_a, author_a):
    old, new, _ = _conflicting(tenant_a, author_a)
    client = client_for(members_a[Role.EDITOR])
    client.post(_url(tenant_a, f"{old.pk}/supersede/"), {"other": new.pk})
    found = client.get(_url(tenant_a), {"q": "how many employees"}, headers={"HX-Request": "true"}).text
    assert "150 employees" in found
    assert "120 employees" not in found
    found = client.get(
        _url(tenant_a), {"q": "how many employees", "history": "on"}, headers={"HX-Request": "true"}
    ).text
    assert "120 employees" in found
    assert "superseded" in found


def test_an_editor_keeps_both_and_the_conflict_is_closed(client_for, members_a, tenant_a, author_a):
    old, new, conflict = _conflicting(tenant_a, author_a)
    client = client_for(members_a[Role.ADMIN])
    response = client.post(_url(tenant_a, f"{new.pk}/keep-both/"), {"other": old.pk}, follow=True)
    assert "Both memories are kept" in response.text
    conflict.refresh_from_db()
    assert conflict.status == MemoryConflict.Status.KEPT
    assert 'id="memory-conflicts"' not in response.text
    old.refresh_from_db()
    assert old.valid_until is None


def test_a_refused_supersession_says_why_and_changes_nothing(client_for, members_a, tenant_a, author_a):
    old, new, conflict = _conflicting(tenant_a, author_a)
    other = _add(tenant_a, author_a, "Keep posts under 200 words.")
    client = client_for(members_a[Role.EDITOR])
    client.post(_url(tenant_a, f"{old.pk}/supersede/"), {"other": other.pk})  # replaced by something else
    response = client.post(
        _url(tenant_a, f"{old.pk}/supersede/"), {"other": new.pk}, headers={"HX-Request": "true"}
    )
    assert "already superseded" in response.text
    assert f'id="conflict-{conflict.pk}"' in response.text  # the row says why, in place
    old.refresh_from_db()
    assert old.superseded_by_id == other.pk
    assert client.post(_url(tenant_a, f"{new.pk}/supersede/"), {"other": "x"}).status_code == 400
    new.refresh_from_db()
    assert new.valid_until is None


def test_a_contradiction_with_a_memory_that_expired_meanwhile_is_no_longer_listed(
    client_for, members_a, tenant_a, author_a
):
    old, new, _conflict = _conflicting(tenant_a, author_a)
    client = client_for(members_a[Role.EDITOR])
    assert 'id="memory-conflicts"' in client.get(_url(tenant_a)).text
    client.post(_url(tenant_a, f"{old.pk}/expire/"))
    assert 'id="memory-conflicts"' not in client.get(_url(tenant_a)).text
    response = client.post(_url(tenant_a, f"{old.pk}/supersede/"), {"other": new.pk}, follow=True)
    assert "not valid now" in response.text


def test_writers_and_viewers_see_contradictions_but_cannot_decide(client_for, members_a, tenant_a, author_a):
    old, new, _ = _conflicting(tenant_a, author_a)
    for role in (Role.WRITER, Role.VIEWER):
        client = client_for(members_a[role])
        page = client.get(_url(tenant_a)).text
        assert 'id="memory-conflicts"' in page
        assert "Newer supersedes older" not in page
        assert client.post(_url(tenant_a, f"{old.pk}/supersede/"), {"other": new.pk}).status_code == 403
        assert client.post(_url(tenant_a, f"{new.pk}/keep-both/"), {"other": old.pk}).status_code == 403
    old.refresh_from_db()
    assert old.valid_until is None


def test_memories_of_another_tenant_cannot_be_superseded_or_used_as_successor(
    client_for, members_a, tenant_a, tenant_b, author_a, author_b
):
    mine = make_memory(tenant=tenant_a, author=author_a)
    foreign = make_memory(tenant=tenant_b, author=author_b)
    client = client_for(members_a[Role.ADMIN])
    assert client.post(_url(tenant_a, f"{foreign.pk}/supersede/"), {"other": mine.pk}).status_code == 404
    assert client.post(_url(tenant_a, f"{mine.pk}/supersede/"), {"other": foreign.pk}).status_code == 404
    assert client.post(_url(tenant_a, f"{mine.pk}/keep-both/"), {"other": foreign.pk}).status_code == 404
    assert Memory.objects.unscoped().filter(valid_until__isnull=False).count() == 0  # nothing ended anywhere


def test_an_edit_that_contradicts_another_memory_is_flagged(client_for, members_a, tenant_a, author_a):
    _add(tenant_a, author_a, "The company has 120 employees.")
    edited = _add(tenant_a, author_a, "Keep posts under 200 words.")
    client = client_for(members_a[Role.EDITOR])
    response = client.post(
        _url(tenant_a, f"{edited.pk}/"),
        {"kind": "fact", "text": "The company has 150 employees.", "importance": 3},
        follow=True,
    )
    assert "It contradicts another valid memory" in response.text
    assert 'id="memory-conflicts"' in response.text
