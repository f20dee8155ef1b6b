"""Walks every browser URL under /t/<tenant_slug>/ and proves the tenant boundary and the roles hold.

A new tenant URL that takes an object id must register how to make such an object
in OBJECT_FACTORIES below; until it does, this test fails, so nothing escapes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from api.tests import factories as api_factories
from authors.tests import factories as author_factories
from console.tests import factories as console_factories
from gateway.tests.router_support import make_router_artefact
from memories.tests.factories import make_memory
from orchestrator.tests import factories as flow_factories
from prompts.tests import factories as prompt_factories
from tenants.context import tenant_scope
from tenants.middleware import TENANT_KWARG
from tenants.roles import Role
from tenants.tests.factories import make_invitation, make_member

pytestmark = pytest.mark.django_db


def _first_version_id(tenant) -> int:
    template = prompt_factories.make_template(tenant=tenant)
    with tenant_scope(tenant):  # versions are tenant-owned: read in scope, like every other row
        return template.versions.get().pk


# kwarg name -> function(tenant) returning the id of a fresh object owned by that tenant.
OBJECT_FACTORIES: dict[str, Callable] = {
    "membership_id": lambda tenant: make_member(tenant=tenant, role=Role.VIEWER).pk,
    "invitation_id": lambda tenant: make_invitation(tenant=tenant)[0].pk,
    "author_id": lambda tenant: author_factories.make_author(tenant=tenant).pk,
    "flow_id": lambda tenant: flow_factories.make_definition(tenant=tenant).pk,
    # A version number, not a pk: the URL is authors/<author_id>/style/v<profile_version>/.
    "profile_version": lambda tenant: author_factories.make_style_profile(tenant=tenant).version,
    "memory_id": lambda tenant: make_memory(tenant=tenant).pk,
    "prompt_id": lambda tenant: prompt_factories.make_template(tenant=tenant).pk,
    "prompt_version_id": lambda tenant: _first_version_id(tenant),
    "prompt_experiment_id": lambda tenant: prompt_factories.make_experiment(tenant=tenant).pk,
    "budget_id": lambda tenant: console_factories.make_budget(tenant=tenant).pk,
    "provider_id": lambda tenant: console_factories.make_provider(tenant=tenant).pk,
    "llm_model_id": lambda tenant: console_factories.make_llm_model(tenant=tenant).pk,
    "route_id": lambda tenant: console_factories.make_route(tenant=tenant).pk,
    "trace_id": lambda tenant: console_factories.make_trace(tenant=tenant).pk,
    "webhook_id": lambda tenant: console_factories.make_webhook(tenant=tenant).pk,
    "delivery_id": lambda tenant: console_factories.make_delivery(tenant=tenant).pk,
    "api_key_id": lambda tenant: api_factories.make_api_key(tenant=tenant).pk,
    "run_id": lambda tenant: flow_factories.make_run(tenant=tenant).pk,
    "draft_id": lambda tenant: flow_factories.make_draft(tenant=tenant).pk,
    "proposal_id": lambda tenant: flow_factories.make_proposal(tenant=tenant).pk,
    "series_id": lambda tenant: flow_factories.make_series(tenant=tenant).pk,
    "router_artefact_id": lambda tenant: make_router_artefact(tenant=tenant).pk,
}


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, route)
        else:
            yield route, entry


def tenant_routes() -> list[tuple[str, URLPattern]]:
    return [(route, p) for route, p in _walk(get_resolver()) if f"<slug:{TENANT_KWARG}>" in route]


CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def _url(route: str, values: dict[str, object]) -> str:
    return "/" + CONVERTER.sub(lambda match: str(values[match.group(1)]), route)


def _object_kwargs(route: str, tenant) -> dict[str, object]:
    names = CONVERTER.findall(route)
    kwargs = {}
    for name in names:
        if name == TENANT_KWARG:
            continue
        assert name in OBJECT_FACTORIES, f"URL {route} takes {name}: add it to OBJECT_FACTORIES"
        kwargs[name] = OBJECT_FACTORIES[name](tenant)
    return kwargs


def test_there_are_tenant_routes_to_walk():
    assert len(tenant_routes()) >= 4


def test_every_tenant_view_declares_its_rules():
    undeclared = [route for route, p in tenant_routes() if not hasattr(p.callback, "tenant_rules")]
    assert undeclared == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_member_of_a_gets_404_on_every_url_of_tenant_b(client_for, members_a, tenant_b, method):
    client = client_for(members_a[Role.ADMIN])
    for route, _pattern in tenant_routes():
        url = _url(route, {TENANT_KWARG: tenant_b.slug, **_object_kwargs(route, tenant_b)})
        response = getattr(client, method)(url)
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"


def test_objects_of_tenant_b_are_404_under_tenant_a(client_for, members_a, tenant_a, tenant_b):
    """Every method the view accepts answers 404; a method it refuses (405) never looks at the object."""
    client = client_for(members_a[Role.ADMIN])
    for route, _pattern in tenant_routes():
        object_kwargs = _object_kwargs(route, tenant_b)
        if not object_kwargs:
            continue
        url = _url(route, {TENANT_KWARG: tenant_a.slug, **object_kwargs})
        statuses = {method: getattr(client, method)(url).status_code for method in ("get", "post")}
        assert set(statuses.values()) <= {404, 405}, f"{url} -> {statuses}"
        assert 404 in statuses.values(), f"{url} -> {statuses}"


def test_viewer_cannot_change_anything(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.VIEWER])
    for route, _pattern in tenant_routes():
        url = _url(route, {TENANT_KWARG: tenant_a.slug, **_object_kwargs(route, tenant_a)})
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(url)
            # 403: the view takes changes but not from a viewer; 405: it takes no changes at all.
            assert response.status_code in {403, 405}, (
                f"viewer {method.upper()} {url} -> {response.status_code}"
            )


def test_viewer_can_read_the_pages_meant_for_everyone(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.VIEWER])
    response = client.get(f"/t/{tenant_a.slug}/")
    assert response.status_code == 200


def test_anonymous_visitors_are_sent_to_login(client, tenant_a):
    for route, _pattern in tenant_routes():
        url = _url(route, {TENANT_KWARG: tenant_a.slug, **_object_kwargs(route, tenant_a)})
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")
