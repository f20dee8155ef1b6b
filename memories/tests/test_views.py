from __future__ import annotations

import pytest

from memories.models import Memory
from memories.services import memory_add
from memories.tests.factories import make_memory
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


def _url(tenant, suffix=""):
    return f"/t/{tenant.slug}/memories/{suffix}"


def _add(tenant, author, text, **fields):
    with tenant_scope(tenant):
        return memory_add(author=author, kind=Memory.Kind.FACT, text=text, **fields).memory


def test_every_member_can_browse_the_tenants_memories_only(
    client_for, members_a, tenant_a, tenant_b, author_a, author_b
):
    _add(tenant_a, author_a, "Ana speaks at the Lisbon fintech summit.")
    _add(tenant_b, author_b, "Bruno's secret launch plan for Quorvex.")
    response = client_for(members_a[Role.VIEWER]).get(_url(tenant_a))
    assert response.status_code == 200
    assert "Lisbon fintech summit" in response.text
    assert "Quorvex" not in response.text


def test_live_search_shows_scores_and_never_another_tenants_memories(
    client_for, members_a, tenant_a, tenant_b, author_a, author_b
):
    _add(tenant_a, author_a, "Ana speaks at the Lisbon fintech summit.")
    _add(tenant_b, author_b, "The Lisbon fintech summit sold out in a day.")
    client = client_for(members_a[Role.VIEWER])
    response = client.get(_url(tenant_a), {"q": "Lisbon fintech summit"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text  # the results fragment only
    assert "Ana speaks at the Lisbon fintech summit." in response.text
    assert "sold out" not in response.text
    assert "similarity" in response.text


def test_an_editor_adds_a_memory_and_is_told_when_it_merged(client_for, members_a, tenant_a, author_a):
    client = client_for(members_a[Role.EDITOR])
    data = {
        "author": author_a.pk,
        "kind": "fact",
        "text": "The CEO founded the company in 2014 in Lisbon.",
        "importance": 3,
    }
    response = client.post(_url(tenant_a, "add/"), data)
    assert response.status_code == 302
    data["text"] = "The company was founded in Lisbon in 2014 by the CEO."
    response = client.post(_url(tenant_a, "add/"), data, follow=True)
    assert "Merged with an existing memory" in response.text
    with tenant_scope(tenant_a):
        assert Memory.objects.get().merge_count == 1


def test_bad_input_shows_the_form_again_with_what_was_typed(client_for, members_a, tenant_a, author_a):
    client = client_for(members_a[Role.EDITOR])
    data = {
        "author": author_a.pk,
        "kind": "fact",
        "text": "Half-typed thought worth keeping",
        "importance": 9,
        "valid_from": "2026-01-10T10:00",
        "valid_until": "2026-01-01T10:00",
    }
    response = client.post(_url(tenant_a, "add/"), data)
    assert response.status_code == 200
    assert "Half-typed thought worth keeping" in response.text
    assert "cannot stop being valid before it starts" in response.text
    with tenant_scope(tenant_a):
        assert not Memory.objects.exists()


def test_an_editor_edits_expires_and_deletes_a_memory(client_for, members_a, tenant_a, author_a):
    memory = _add(tenant_a, author_a, "Posts go out on Tuesdays.")
    client = client_for(members_a[Role.EDITOR])
    assert client.get(_url(tenant_a, f"{memory.pk}/")).status_code == 200
    response = client.post(
        _url(tenant_a, f"{memory.pk}/"),
        {"kind": "learning", "text": "Posts go out on Wednesdays.", "importance": 4},
    )
    assert response.status_code == 302
    memory.refresh_from_db()
    assert (memory.text, memory.kind, memory.importance) == ("Posts go out on Wednesdays.", "learning", 4)
    assert client.post(_url(tenant_a, f"{memory.pk}/expire/")).status_code == 302
    memory.refresh_from_db()
    assert memory.valid_until is not None
    assert "Posts go out on Wednesdays." in client.get(_url(tenant_a), {"status": "expired"}).text
    assert client.post(_url(tenant_a, f"{memory.pk}/delete/")).status_code == 302
    assert not Memory.objects.unscoped().filter(pk=memory.pk).exists()  # checking the row is gone everywhere


def test_writers_and_viewers_cannot_change_memories(client_for, members_a, tenant_a, author_a):
    memory = make_memory(tenant=tenant_a, author=author_a)
    for role in (Role.WRITER, Role.VIEWER):
        client = client_for(members_a[role])
        assert client.post(_url(tenant_a, "add/"), {"text": "x"}).status_code == 403
        assert client.post(_url(tenant_a, f"{memory.pk}/delete/")).status_code == 403
    assert Memory.objects.unscoped().filter(pk=memory.pk).exists()


def test_a_memory_of_another_tenant_is_404(client_for, members_a, tenant_a, tenant_b, author_b):
    foreign = make_memory(tenant=tenant_b, author=author_b)
    client = client_for(members_a[Role.ADMIN])
    for suffix in (f"{foreign.pk}/", f"{foreign.pk}/expire/", f"{foreign.pk}/delete/"):
        assert client.post(_url(tenant_a, suffix)).status_code == 404
    assert Memory.objects.unscoped().get(pk=foreign.pk).valid_until is None


def test_the_add_form_offers_only_this_tenants_authors(client_for, members_a, tenant_a, author_a, author_b):
    response = client_for(members_a[Role.EDITOR]).get(_url(tenant_a, "add/"))
    assert author_a.name in response.text
    assert author_b.name not in response.text
