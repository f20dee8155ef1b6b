"""Panels that apps above `authors` add to an author's page, without `authors` importing them.

A higher app registers a panel in its AppConfig.ready():

    register_panel(AuthorPanel(name="publishing-results", template="publishing/_author_results.html",
                               context=results_context, order=20))

`context(request, author)` returns the template's context, or None to show nothing for this author.
The author page renders each panel in `order`, with the request (so `current_tenant` and `can` are
there), inside the tenant's scope like the page itself. Registering a name again replaces the panel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from authors.models import Author
from tenants.http import TenantRequest

PanelContext = Callable[[TenantRequest, Author], dict[str, Any] | None]


@dataclass(frozen=True)
class AuthorPanel:
    name: str
    template: str
    context: PanelContext
    order: int = 100


_panels: dict[str, AuthorPanel] = {}


def register_panel(panel: AuthorPanel) -> None:
    _panels[panel.name] = panel


def registered_panels() -> list[AuthorPanel]:
    return sorted(_panels.values(), key=lambda panel: (panel.order, panel.name))


def render_panels(request: TenantRequest, author: Author) -> list[SafeString]:
    """The HTML of every panel that has something to show for the author (safe strings: the
    templates escaped what they show)."""
    rendered: list[SafeString] = []
    for panel in registered_panels():
        context = panel.context(request, author)
        if context is not None:
            rendered.append(render_to_string(panel.template, {"author": author, **context}, request=request))
    return rendered
