import re

import pytest

from tenants.context import TenantScopeError, cross_tenant_access, tenant_scope
from tenants.models import Membership
from tenants.roles import Role
from tenants.tests.factories import UserFactory, make_member

pytestmark = pytest.mark.django_db

# What a query of a tenant-owned table says when it was built with no tenant in scope.
NO_SCOPE = (
    "^"
    + re.escape(
        "Membership is tenant-owned and this query was built with no tenant in scope; "
        "build it inside tenant_scope(tenant) or use .unscoped() with a reason."
    )
    + "$"
)


def test_scoped_manager_refuses_to_run_without_a_tenant(members_a):
    with pytest.raises(TenantScopeError, match=NO_SCOPE):
        list(Membership.objects.all())


def test_scoped_manager_returns_only_the_current_tenants_rows(members_a, admin_b, tenant_a, tenant_b):
    with tenant_scope(tenant_a):
        assert set(Membership.objects.values_list("pk", flat=True)) == {m.pk for m in members_a.values()}
        assert not Membership.objects.filter(pk=admin_b.pk).exists()
    with tenant_scope(tenant_b):
        assert list(Membership.objects.values_list("pk", flat=True)) == [admin_b.pk]


def test_related_managers_are_scoped_too(tenant_a, tenant_b):
    user = UserFactory()
    make_member(tenant=tenant_a, user=user)
    make_member(tenant=tenant_b, user=user)
    with tenant_scope(tenant_a):
        assert [m.tenant_id for m in user.memberships.all()] == [tenant_a.pk]


def test_scope_is_reset_after_the_block_even_on_error(tenant_a, members_a):
    with pytest.raises(ZeroDivisionError, match=r"^division by zero$"), tenant_scope(tenant_a):
        _ = 1 / 0
    with pytest.raises(TenantScopeError, match=NO_SCOPE):
        Membership.objects.count()


def test_new_rows_take_the_tenant_in_scope(tenant_a):
    user = UserFactory()
    with tenant_scope(tenant_a):
        membership = Membership.objects.create(user=user, role=Role.VIEWER)
    assert membership.tenant_id == tenant_a.pk


def test_saving_another_tenants_row_inside_a_scope_is_refused(tenant_a, admin_b):
    refusal = (
        f"Refusing to save Membership of tenant {admin_b.tenant_id} inside the scope of tenant {tenant_a.pk}."
    )
    refusal = f"^{re.escape(refusal)}$"
    with tenant_scope(tenant_a), pytest.raises(TenantScopeError, match=refusal):
        admin_b.save()


def test_cross_tenant_access_needs_a_reason_and_sees_everything(members_a, admin_b):
    with pytest.raises(ValueError, match="reason"), cross_tenant_access(""):
        pass
    with cross_tenant_access("test: operator report"):
        assert Membership.objects.count() == len(members_a) + 1


def test_a_query_built_without_a_tenant_can_be_built_but_never_run(members_a, tenant_a):
    built_outside = Membership.objects.filter(role=Role.ADMIN)  # e.g. a form field made at import time
    with tenant_scope(tenant_a), pytest.raises(TenantScopeError, match=NO_SCOPE):
        list(built_outside)
    for run in (built_outside.count, built_outside.exists, built_outside.first, built_outside.delete):
        with pytest.raises(TenantScopeError, match=NO_SCOPE):
            run()
    with pytest.raises(TenantScopeError, match=NO_SCOPE):
        built_outside.update(role=Role.VIEWER)
