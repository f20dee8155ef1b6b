"""Writing router labels: a reviewed outcome for one gateway call (the apps above decide which calls).

The gateway does not know about drafts; `orchestrator/router_labels.py` turns reviewed drafts into
`LabelInput`s for the calls that wrote them and hands them here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from gateway.embeddings import get_embedder
from gateway.models import RouterLabel, Tier, Trace
from gateway.router_model.corpus import embed_texts
from gateway.router_model.features import router_text
from tenants.models import Tenant

GOOD_ENOUGH = 0.8  # for counting only: training uses the graded quality itself
# How much a published post's engagement moves its label (docs/router.md, "Post metrics"): the review
# says whether the draft was good enough to publish; engagement, relative to the author's usual, says
# a little about how good, but also about topic, timing and audience, so it takes the minor share.
ENGAGEMENT_WEIGHT = 0.25


@dataclass(frozen=True)
class LabelInput:
    trace_id: uuid.UUID
    draft_id: int
    quality: float  # 0..1
    approved: bool
    edit_distance: float | None
    critic_score: float | None
    decided_at: datetime


def outcome_quality(*, approved: bool, edit_distance: float | None) -> float:
    """Rejected: 0. Approved: 1 - the reviewer's edit distance (1 when approved as written)."""
    if not approved:
        return 0.0
    return max(0.0, min(1.0, 1.0 - (edit_distance or 0.0)))


def training_target(quality: float, engagement: float | None) -> float:
    """What the router trains on for a label: the review's quality, blended with the post's relative
    engagement (0.5: as the author's usual) when the post was published and its metrics arrived."""
    if engagement is None:
        return quality
    return (1.0 - ENGAGEMENT_WEIGHT) * quality + ENGAGEMENT_WEIGHT * min(1.0, max(0.0, engagement))


def router_labels_engagement_set(*, draft_id: int, engagement: float, at: datetime) -> int:
    """Record a published post's relative engagement on the labels of the calls that wrote its draft
    (in the current tenant's scope); returns how many labels it reached (0: none collected yet)."""
    if not 0.0 <= engagement <= 1.0:
        raise ValueError(f"Engagement is a fraction in [0, 1], not {engagement!r}.")
    return RouterLabel.objects.filter(draft_id=draft_id).update(engagement=engagement, engagement_at=at)


def arm_for_tier(tier: str) -> str:
    return "strong" if tier == Tier.PREMIUM else "weak"


def router_labels_add(*, tenant: Tenant, labels: list[LabelInput]) -> int:
    """Store labels for calls of `tenant` that have a trace with a stored prompt; returns how many are
    new. A call already labelled keeps its first label (a draft is decided once)."""
    if not labels:
        return 0
    by_trace = {label.trace_id: label for label in labels}
    known = set(RouterLabel.objects.filter(trace_id__in=list(by_trace)).values_list("trace_id", flat=True))
    traces = [
        trace
        for trace in Trace.objects.filter(pk__in=[t for t in by_trace if t not in known]).select_related(
            "model"
        )
        if trace.prompt and (trace.model is not None or trace.model_alias)
    ]
    texts = [router_text(trace.prompt) for trace in traces]
    traces, texts = [t for t, x in zip(traces, texts, strict=True) if x], [x for x in texts if x]
    if not traces:
        return 0
    vectors = embed_texts(texts)
    model_id = get_embedder().model_id
    rows = [
        RouterLabel(
            tenant=tenant,
            trace_id=trace.pk,
            draft_id=by_trace[trace.pk].draft_id,
            purpose=trace.purpose,
            model_alias=trace.model_alias,
            tier=trace.model.tier if trace.model else "",
            arm=arm_for_tier(trace.model.tier if trace.model else ""),
            text=text,
            embedding=vector.tolist(),
            embedding_model=model_id,
            quality=by_trace[trace.pk].quality,
            approved=by_trace[trace.pk].approved,
            edit_distance=by_trace[trace.pk].edit_distance,
            critic_score=by_trace[trace.pk].critic_score,
            decided_at=by_trace[trace.pk].decided_at,
        )
        for trace, text, vector in zip(traces, texts, vectors, strict=True)
    ]
    created = RouterLabel.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)
