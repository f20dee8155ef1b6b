"""What publishing shows on an author's page (authors/panels.py): the author's post results.

Registered by PublishingConfig.ready(); the author's publishing page shows the same fragment.
"""

from __future__ import annotations

from typing import Any

from authors.models import Author
from authors.panels import AuthorPanel, register_panel
from publishing import metrics, selectors
from publishing.models import PostStatus
from tenants.http import TenantRequest

RESULTS_TEMPLATE = "publishing/_author_results.html"
RECENT_POSTS = 10
# Posts that went out or tried to: scheduled ones are the calendar's, cancelled ones are nobody's.
SENT_STATUSES: list[str] = [
    PostStatus.DELIVERED,
    PostStatus.FAILED,
    PostStatus.RETRYING,
    PostStatus.PUBLISHING,
]


def author_results_context(*, author: Author) -> dict[str, Any]:
    """The author's totals and engagement rate, their latest sent posts with metrics and delivery
    status, and their results per prompt version and per model."""
    recent = (
        selectors.posts(author_id=author.pk, statuses=SENT_STATUSES)
        .select_related("metrics")
        .order_by("-at", "-id")[:RECENT_POSTS]
    )
    return {
        "results": metrics.author_results(author_id=author.pk),
        "recent_posts": list(recent),
        "by_version": metrics.results_by_prompt_version(author_id=author.pk),
        "by_model": metrics.results_by_model(author_id=author.pk),
        "tz": selectors.zone_of(author=author),
    }


def _panel_context(request: TenantRequest, author: Author) -> dict[str, Any]:
    return {**author_results_context(author=author), "panel": True}


def register() -> None:
    register_panel(AuthorPanel(name="publishing-results", template=RESULTS_TEMPLATE, context=_panel_context))
