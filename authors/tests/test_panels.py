"""The author page's panel registry: higher apps add panels in order; a panel may show nothing."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from authors import panels
from authors.tests.factories import make_author

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_registry(monkeypatch):
    monkeypatch.setattr(panels, "_panels", {})


def test_panels_render_in_order_and_one_with_nothing_to_show_is_left_out(tenant_a, in_tenant_a, own_registry):
    author = make_author(tenant=tenant_a, name="Ana Souza")
    seen = []

    def nothing(request, shown) -> dict | None:
        seen.append(shown)
        return None  # this author has nothing to show

    panels.register_panel(
        panels.AuthorPanel(name="late", template="authors/_field.html", context=nothing, order=50)
    )
    panels.register_panel(
        panels.AuthorPanel(name="first", template="authors/_field.html", context=lambda r, a: {}, order=10)
    )
    panels.register_panel(
        panels.AuthorPanel(name="first", template="authors/_field.html", context=lambda r, a: {}, order=60)
    )  # the same name again replaces it
    assert [panel.name for panel in panels.registered_panels()] == ["late", "first"]

    rendered = panels.render_panels(RequestFactory().get("/"), author)
    assert len(rendered) == 1
    assert seen == [author]
