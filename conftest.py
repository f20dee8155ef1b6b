"""Fixtures shared by every app's tests: two tenants and a member of each role."""

from __future__ import annotations

import pytest

from tenants.context import tenant_scope
from tenants.roles import Role
from tenants.tests.factories import TenantFactory, make_member

pytest_plugins = ["testing.fixtures"]


@pytest.fixture
def tenant_a(db):
    return TenantFactory(name="Tenant A", slug="tenant-a")


@pytest.fixture
def tenant_b(db):
    return TenantFactory(name="Tenant B", slug="tenant-b")


@pytest.fixture
def members_a(tenant_a):
    """One membership of tenant A per role, keyed by role."""
    return {role: make_member(tenant=tenant_a, role=role) for role in Role.values}


@pytest.fixture
def admin_b(tenant_b):
    return make_member(tenant=tenant_b, role=Role.ADMIN)


@pytest.fixture
def in_tenant_a(tenant_a):
    with tenant_scope(tenant_a):
        yield tenant_a


@pytest.fixture
def client_for(client):
    """Log the test client in as a membership's user: `client_for(membership)`."""

    def login(membership):
        client.force_login(membership.user)
        return client

    return login
