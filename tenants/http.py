"""The request as Maestro's middleware leaves it, for type checkers and readers.

`TenantMiddleware` sets `tenant` and `membership` on every request (None outside `t/<slug>/`), django-htmx
sets `htmx`, and `@tenant_view` pages run only for a logged-in member. Annotate views with
`TenantRequest`; pages outside a tenant use `MaestroRequest`, or `LoggedInRequest` behind `@login_required`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from tenants.models import Membership, Tenant, User


class MaestroRequest(HttpRequest):
    tenant: Tenant | None
    membership: Membership | None
    htmx: HtmxDetails


class LoggedInRequest(MaestroRequest):
    """A request to a `@login_required` page outside a tenant."""

    user: User  # narrower than HttpRequest's User | AnonymousUser: login_required let it in


class TenantRequest(HttpRequest):
    """A request to a `@tenant_view`: the middleware has resolved the tenant and checked the role."""

    tenant: Tenant
    membership: Membership
    user: User  # narrower than HttpRequest's User | AnonymousUser: members only
    htmx: HtmxDetails
