"""Post metrics as router labels: what a published post earned, for the calls that wrote its draft.

A post's engagement rate (reactions, comments and reposts per impression) says little on its own: an
author with a large, loyal audience gets more of everything. So it is read against the author's own
usual, the median rate of their most recent other posts:

    engagement = rate / (rate + median)        0.5: as usual; 2x the usual: 0.67; half: 0.33

bounded in [0, 1] whatever the counts, symmetric in ratio (rate k x the median and median k x the rate
land equally far from 0.5). It is stored on the router labels of the draft's writing calls (in the
post's tenant: the labels of another tenant are never read or written here) and the router trains on
the review quality blended with it (`gateway.router_model.labels.training_target`, docs/router.md).

`router_feedback_record` runs each time a post's metrics are recorded (pulled from LinkedIn, uploaded
as CSV or pushed through the API); later collections replace the engagement with the newer figure.
"""

from __future__ import annotations

import logging
import statistics

from django.utils import timezone

from gateway.embeddings import EmbeddingError
from gateway.router_model.labels import router_labels_engagement_set
from orchestrator.router_labels import router_labels_collect
from publishing.models import PostMetrics, ScheduledPost

logger = logging.getLogger("maestro.publishing")

BASELINE_POSTS = 20  # the author's most recent other posts whose median rate is their usual
MIN_BASELINE_POSTS = 3  # fewer, and the author has no usual yet: no engagement label
MIN_IMPRESSIONS = 100  # below this a rate says little (publishing.metrics.MIN_IMPRESSIONS_EACH)


def engagement_rate(*, impressions: int, reactions: int, comments: int, reposts: int) -> float | None:
    if impressions < MIN_IMPRESSIONS:
        return None
    # One impression engages at most once in this model (as the experiments' z-test counts it).
    return min(1.0, (reactions + comments + reposts) / impressions)


def relative_engagement(rate: float, usual: float) -> float:
    """rate / (rate + usual): 0.5 at the author's usual, towards 1 above it, towards 0 below."""
    if rate < 0 or usual < 0:
        raise ValueError("Engagement rates are not negative.")
    if rate + usual == 0:
        return 0.5  # nobody engages with this author's posts, this one included: as usual
    return rate / (rate + usual)


def _rate_of(metrics: PostMetrics) -> float | None:
    return engagement_rate(
        impressions=metrics.impressions,
        reactions=metrics.reactions,
        comments=metrics.comments,
        reposts=metrics.reposts,
    )


def author_usual_rate(*, post: ScheduledPost) -> float | None:
    """The median engagement rate of the author's most recent other posts (None: too few yet)."""
    others = (
        PostMetrics.objects.filter(post__author_id=post.author_id, impressions__gte=MIN_IMPRESSIONS)
        .exclude(post_id=post.pk)
        .order_by("-post__delivered_at", "-post_id")[:BASELINE_POSTS]
    )
    rates = [rate for rate in map(_rate_of, others) if rate is not None]
    return statistics.median(rates) if len(rates) >= MIN_BASELINE_POSTS else None


def post_engagement(*, post: ScheduledPost, metrics: PostMetrics) -> float | None:
    """The post's engagement relative to its author's usual, or None when either is not known yet."""
    rate = _rate_of(metrics)
    if rate is None:
        return None
    usual = author_usual_rate(post=post)
    return None if usual is None else relative_engagement(rate, usual)


def router_feedback_record(*, post: ScheduledPost, metrics: PostMetrics) -> int:
    """Label the calls that wrote `post` with its relative engagement (in the current tenant's scope);
    returns how many labels it reached. A draft whose labels were not collected yet is collected now,
    so metrics that arrive before the hourly collection are not lost."""
    engagement = post_engagement(post=post, metrics=metrics)
    if engagement is None:
        return 0
    now = timezone.now()
    updated = router_labels_engagement_set(draft_id=post.draft_id, engagement=engagement, at=now)
    if updated:
        return updated
    try:
        collected = router_labels_collect(tenant=post.tenant, draft_ids=[post.draft_id])
    except EmbeddingError as exc:  # the metrics are recorded all the same; the next pull tries again
        logger.warning("router labels of draft %s not collected: %s", post.draft_id, exc)
        return 0
    if not collected:
        return 0
    return router_labels_engagement_set(draft_id=post.draft_id, engagement=engagement, at=now)
