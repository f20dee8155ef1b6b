"""Tenant-owned models: one manager that filters by the tenant in scope, or refuses.

Every model that belongs to a tenant inherits `TenantOwnedModel`. Its default
manager (`objects`) returns only the current tenant's rows and raises
`TenantScopeError` when no tenant is in scope, so a forgotten filter fails
closed instead of leaking. `objects.unscoped()` is the loud escape hatch.
Raw SQL and vector searches do not pass through managers: they filter by
tenant explicitly.
"""

from __future__ import annotations

from typing import cast

from django.db import models

from tenants.context import TenantScopeError, cross_tenant_reason, current_tenant, require_tenant


class TenantQuerySet(models.QuerySet):
    """A queryset built with no tenant in scope: it may be built (Django builds some at import
    time, e.g. form fields for foreign keys) but refuses to run, so it can never leak rows."""

    scope_missing = False

    def _clone(self):
        clone = super()._clone()  # type: ignore[misc]  # django-stubs does not declare QuerySet._clone
        clone.scope_missing = self.scope_missing
        return clone

    def _refuse_without_scope(self) -> None:
        if self.scope_missing:
            raise TenantScopeError(
                f"{self.model.__name__} is tenant-owned and this query was built with no tenant in scope; "
                "build it inside tenant_scope(tenant) or use .unscoped() with a reason."
            )

    def _fetch_all(self):
        self._refuse_without_scope()
        super()._fetch_all()

    def count(self):
        self._refuse_without_scope()
        return super().count()

    def exists(self):
        self._refuse_without_scope()
        return super().exists()

    def aggregate(self, *args, **kwargs):
        self._refuse_without_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs):
        self._refuse_without_scope()
        return super().update(**kwargs)

    def delete(self):
        self._refuse_without_scope()
        return super().delete()

    def iterator(self, chunk_size=None):
        self._refuse_without_scope()
        return super().iterator(chunk_size=chunk_size)


_TenantManagerBase = models.Manager.from_queryset(TenantQuerySet)


class TenantScopedManager(_TenantManagerBase):
    def _scope_filter(self, tenant) -> models.Q:
        return models.Q(tenant=tenant)

    def get_queryset(self) -> models.QuerySet:
        # from_queryset(TenantQuerySet) builds it; the stubs only know it as a QuerySet.
        queryset = cast(TenantQuerySet, super().get_queryset())
        tenant = current_tenant()
        if tenant is not None:
            return queryset.filter(self._scope_filter(tenant))
        if cross_tenant_reason() is None:
            queryset.scope_missing = True
        return queryset

    def unscoped(self) -> models.QuerySet:
        """Every tenant's rows. Each caller says in a comment why crossing tenants is right."""
        return super().get_queryset()


class TenantOrSharedManager(TenantScopedManager):
    """For rows a tenant owns or that Maestro shares with every tenant (tenant is NULL)."""

    def _scope_filter(self, tenant) -> models.Q:
        return models.Q(tenant=tenant) | models.Q(tenant__isnull=True)


class TenantOwnedModel(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    # Django's internals (cascading deletes, following a foreign key) use the plain
    # base manager, so rows reached from an already scoped row still load.
    objects = TenantScopedManager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        tenant = current_tenant()
        if self.tenant_id is None:
            self.tenant = require_tenant()
        elif tenant is not None and tenant.pk != self.tenant_id:
            raise TenantScopeError(
                f"Refusing to save {type(self).__name__} of tenant {self.tenant_id} "
                f"inside the scope of tenant {tenant.pk}."
            )
        super().save(*args, **kwargs)


class TenantOrSharedModel(models.Model):
    """Owned by one tenant, or shared by all when `tenant` is NULL (global providers and models).

    Tenants read shared rows but never write them: saving a shared row needs cross-tenant access
    (Django's admin, operator commands).
    """

    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.CASCADE,
        related_name="+",
        null=True,
        blank=True,
        help_text="Empty: shared by every tenant.",
    )

    objects = TenantOrSharedManager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        tenant = current_tenant()
        if tenant is not None and self._state.adding and self.tenant_id is None:
            self.tenant = tenant  # a tenant creates its own rows, never shared ones
        if tenant is not None and self.tenant_id != tenant.pk:
            raise TenantScopeError(
                f"Refusing to save {type(self).__name__} of tenant {self.tenant_id} "
                f"inside tenant {tenant.pk}."
            )
        if tenant is None and cross_tenant_reason() is None:
            raise TenantScopeError(
                f"Saving {type(self).__name__} needs a tenant scope or cross-tenant access."
            )
        super().save(*args, **kwargs)

    @property
    def is_shared(self) -> bool:
        return self.tenant_id is None
