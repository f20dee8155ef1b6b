"""Staff manage the library in Django's admin; versions there are write-once too."""

from __future__ import annotations

import json

import pytest

from prompts.models import PromptVersion
from prompts.tests.factories import SIMPLE_MESSAGES, SIMPLE_VARIABLES, make_template
from tenants.context import cross_tenant_access
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_version_added_in_the_admin_is_numbered_and_recorded(staff_client):
    shared = make_template(tenant=None)
    data = {
        "template": shared.pk,
        "messages": json.dumps(SIMPLE_MESSAGES),
        "variables": json.dumps(SIMPLE_VARIABLES),
        "tier": "small",
        "temperature": "0.30",
        "max_tokens": "500",
        "change_note": "from the admin",
    }
    response = staff_client.post("/admin/prompts/promptversion/add/", data)
    assert response.status_code == 302
    with cross_tenant_access("test"):
        assert shared.versions.get(number=2).change_note == "from the admin"
        assert shared.changes.filter(version__number=2).exists()


def test_the_admin_refuses_a_version_with_an_undeclared_placeholder(staff_client):
    shared = make_template(tenant=None)
    data = {
        "template": shared.pk,
        "messages": json.dumps([{"role": "user", "content": "{{ nope }}"}]),
        "variables": "[]",
        "tier": "small",
        "temperature": "0.30",
        "max_tokens": "500",
        "change_note": "",
    }
    response = staff_client.post("/admin/prompts/promptversion/add/", data)
    assert response.status_code == 200
    assert "{{ nope }} is not a declared variable" in response.content.decode()


def test_a_saved_version_is_read_only_in_the_admin(staff_client):
    shared = make_template(tenant=None)
    with cross_tenant_access("test"):
        version = shared.versions.get()
    page = staff_client.get(f"/admin/prompts/promptversion/{version.pk}/change/")
    assert page.status_code == 200
    assert 'name="change_note"' not in page.content.decode()
    staff_client.post(f"/admin/prompts/promptversion/{version.pk}/change/", {"change_note": "edited"})
    with cross_tenant_access("test"):
        assert PromptVersion.objects.get(pk=version.pk).change_note == ""
    assert staff_client.get("/admin/prompts/prompttemplate/").status_code == 200
