"""Learning from Maestro's own review outcomes: retrain, evaluate in shadow, promote or reject.

`router_retrain(tenant_id=...)`, run by Celery beat (orchestrator.tasks.router_learn) after the
labels are collected:

1. Enough new labels? (`MIN_NEW_LABELS` decided since the newest label the last candidate saw, or
   given a published post's engagement since then.) Each label trains on its review quality blended
   with that engagement (`labels.training_target`).
2. Split by time: the most recent `HOLDOUT_FRACTION` of labels are held out; the candidate trains on
   the older ones, as a residual on top of the shared prior the tenant may use.
3. Shadow evaluation on the held-out labels: the candidate and the artefact that routes the tenant
   now each predict the quality of the tier that wrote each draft. Per label, the difference of their
   log losses; the candidate is promoted only if it is better on average by a one-sided z of at least
   `PROMOTION_Z` (so noise does not promote), else it is kept as "rejected" with the figures.

Labels never cross tenants: a tenant's candidate reads only its labels. The "opt_in" prior
(`tenant_id=None`) reads the labels of tenants whose dial has `share_labels` on, and only those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gateway.catalog import forget_catalog
from gateway.models import ArtefactStatus, RouterArtefact, RouterLabel, RouterPool, RouterSetting
from gateway.router_model import store
from gateway.router_model.evaluation import routing_curve
from gateway.router_model.features import feature_matrix
from gateway.router_model.labels import training_target
from gateway.router_model.model import RouterModel
from gateway.router_model.training import RESIDUAL_ALPHA, train_residual

MIN_NEW_LABELS = 50
HOLDOUT_FRACTION = 0.25
MIN_HOLDOUT = 20
PROMOTION_Z = 1.645  # one-sided 95%
METHOD = "logistic-residual"
LABEL_COLUMNS = (
    "pk", "text", "purpose", "embedding", "quality", "arm", "decided_at", "engagement", "engagement_at",
)  # fmt: skip


@dataclass(frozen=True)
class LearningOutcome:
    status: str  # "skipped" | "promoted" | "rejected"
    reason: str
    artefact_id: int | None = None
    version: str = ""


@dataclass(frozen=True)
class LabelSet:
    x: np.ndarray
    quality: np.ndarray  # the training target: review quality blended with engagement
    arm: np.ndarray
    decided_at: list
    ids: list[int]
    engagement_at: list  # when each label's engagement arrived (None: none yet)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, mask: np.ndarray) -> LabelSet:
        picked = np.nonzero(mask)[0]
        return LabelSet(
            x=self.x[picked],
            quality=self.quality[picked],
            arm=self.arm[picked],
            decided_at=[self.decided_at[i] for i in picked],
            ids=[self.ids[i] for i in picked],
            engagement_at=[self.engagement_at[i] for i in picked],
        )


def _labels(tenant_id: int | None, embedding_model: str) -> LabelSet:
    # Explicit tenant filters: a tenant's own labels, or (the opt-in prior) those of opted-in tenants.
    labels = RouterLabel.objects.unscoped().filter(embedding_model=embedding_model)
    if tenant_id is None:
        opted_in = RouterSetting.objects.unscoped().filter(share_labels=True).values("tenant_id")
        labels = labels.filter(tenant_id__in=opted_in)
    else:
        labels = labels.filter(tenant_id=tenant_id)
    rows = list(labels.order_by("decided_at", "pk").values_list(*LABEL_COLUMNS))
    if not rows:
        return LabelSet(np.zeros((0, 0)), np.zeros(0), np.array([]), [], [], [])
    embeddings = np.asarray([r[3] for r in rows], dtype=np.float64)
    x = feature_matrix([r[1] for r in rows], [r[2] for r in rows], embeddings)
    return LabelSet(
        x=x,
        quality=np.asarray([training_target(r[4], r[7]) for r in rows], dtype=np.float64),
        arm=np.asarray([r[5] for r in rows]),
        decided_at=[r[6] for r in rows],
        ids=[r[0] for r in rows],
        engagement_at=[r[8] for r in rows],
    )


def _pool(tenant_id: int | None) -> str:
    return RouterPool.OPT_IN if tenant_id is None else RouterPool.TENANT


def _current(tenant_id: int | None) -> store.LoadedRouter | None:
    """What routes now: the tenant's artefact (or the prior it falls back to); for the opt-in prior,
    the active opt-in prior or else the public one."""
    if tenant_id is None:
        rows = RouterArtefact.objects.unscoped().filter(tenant__isnull=True, status=ArtefactStatus.ACTIVE)
        row = rows.filter(pool=RouterPool.OPT_IN).first() or rows.filter(pool=RouterPool.PUBLIC).first()
        return store.loaded_router(row.pk, row.version) if row else None
    setting = store.tenant_setting(tenant_id)
    found = store.active_artefact_row(tenant_id, share_labels=setting.share_labels)
    return store.loaded_router(found["id"], found["version"]) if found else None


def _base(tenant_id: int | None) -> RouterArtefact | None:
    """The prior a candidate is trained on top of."""
    shared = RouterArtefact.objects.unscoped().filter(tenant__isnull=True, status=ArtefactStatus.ACTIVE)
    if tenant_id is not None and store.tenant_setting(tenant_id).share_labels:
        opt_in = shared.filter(pool=RouterPool.OPT_IN).first()
        if opt_in is not None:
            return opt_in
    return shared.filter(pool=RouterPool.PUBLIC).first()


def _new_label_count(tenant_id: int | None, labels: LabelSet) -> int:
    """Labels the last candidate did not see: newer ones, and older ones whose engagement arrived
    after it was trained."""
    trained = list(
        RouterArtefact.objects.unscoped()
        .filter(tenant_id=tenant_id, pool=_pool(tenant_id))
        .values_list("training__newest_label_id", "created_at")
    )
    last = max((int(v) for v, _ in trained if isinstance(v, int)), default=0)
    since = max((at for _, at in trained), default=None)
    return sum(
        1
        for label_id, engaged in zip(labels.ids, labels.engagement_at, strict=True)
        if label_id > last or (engaged is not None and (since is None or engaged > since))
    )


def log_losses(model: RouterModel, labels: LabelSet) -> np.ndarray:
    """Per label: the cross-entropy of the model's predicted quality for the tier that wrote it."""
    losses = np.zeros(len(labels))
    for head in ("weak", "strong"):
        rows = labels.arm == head
        if rows.any():
            p = np.clip(model.qualities(head, labels.x[rows]), 1e-6, 1 - 1e-6)
            q = labels.quality[rows]
            losses[rows] = -(q * np.log(p) + (1 - q) * np.log(1 - p))
    return losses


def shadow_compare(candidate: RouterModel, current: RouterModel, holdout: LabelSet) -> dict:
    cand, curr = log_losses(candidate, holdout), log_losses(current, holdout)
    gain = curr - cand
    mean = float(gain.mean())
    se = float(gain.std(ddof=1) / math.sqrt(len(gain))) if len(gain) > 1 else float("inf")
    z = mean / se if se > 0 else (math.inf if mean > 0 else 0.0)
    return {
        "n": len(holdout),
        "candidate_log_loss": round(float(cand.mean()), 5),
        "current_log_loss": round(float(curr.mean()), 5),
        "gain": round(mean, 5),
        "z": round(z, 3) if math.isfinite(z) else None,
        "promote": bool(mean > 0 and z >= PROMOTION_Z),
        "rule": f"promote if the mean log-loss gain > 0 with one-sided z >= {PROMOTION_Z}",
        "current_version": current.version,
    }


def _estimated_curve(model: RouterModel, labels: LabelSet) -> dict:
    """The dial's curve for a tenant artefact: expected quality per tier by the model itself, on the
    tenant's held-out requests (a tenant's labels give one tier's outcome per request, not both)."""
    curve = routing_curve(
        model.scores(labels.x), model.qualities("weak", labels.x), model.qualities("strong", labels.x)
    )
    return {"kind": "estimated", **curve.as_dict()}


def router_retrain(*, tenant_id: int | None, force: bool = False) -> LearningOutcome:
    """One learning step for a tenant (or, with None, for the opt-in prior)."""
    base = _base(tenant_id)
    current = _current(tenant_id)
    if base is None or current is None:
        return LearningOutcome("skipped", "no shared prior: run `manage.py router_train` first")
    labels = _labels(tenant_id, base.embedding_model)
    new = _new_label_count(tenant_id, labels)
    if not force and new < MIN_NEW_LABELS:
        return LearningOutcome("skipped", f"{new} new labels; retraining needs {MIN_NEW_LABELS}")
    holdout_size = max(MIN_HOLDOUT, round(HOLDOUT_FRACTION * len(labels)))
    if len(labels) < holdout_size + MIN_HOLDOUT:
        return LearningOutcome(
            "skipped", f"{len(labels)} labels: too few to train and hold out {holdout_size}"
        )
    recent = np.zeros(len(labels), dtype=bool)
    recent[-holdout_size:] = True
    train, holdout = labels.rows(~recent), labels.rows(recent)
    params = train_residual(base.params, train.x, train.quality, list(train.arm), alpha=RESIDUAL_ALPHA)
    candidate = RouterModel(params)
    shadow = shadow_compare(candidate, current.model, holdout)
    status = ArtefactStatus.ACTIVE if shadow["promote"] else ArtefactStatus.REJECTED
    artefact = store.artefact_save(
        tenant_id=tenant_id,
        pool=_pool(tenant_id),
        params=params,
        method=METHOD,
        training={
            "labels": len(train),
            "held_out": len(holdout),
            "arms": {arm: int((train.arm == arm).sum()) for arm in ("weak", "strong")},
            "with_engagement": sum(1 for at in train.engagement_at if at is not None),
            "newest_label_id": max(labels.ids),
            "trained_until": train.decided_at[-1].isoformat(),
            "base_version": base.version,
            "base_pool": base.pool,
            "alpha": RESIDUAL_ALPHA,
        },
        evaluation={"calibration": _estimated_curve(candidate, holdout), "held_out_labels": len(holdout)},
        shadow=shadow,
        status=status,
        parent=RouterArtefact.objects.unscoped().filter(pk=current.artefact_id).first(),
        note=("promoted" if shadow["promote"] else "rejected") + f" in shadow against {current.version}",
    )
    if shadow["promote"]:
        forget_catalog(tenant_id)  # this process at once; the others within the catalog's cache time
    return LearningOutcome(
        "promoted" if shadow["promote"] else "rejected",
        f"log loss {shadow['candidate_log_loss']} vs {shadow['current_log_loss']} "
        f"on {shadow['n']} held-out labels",
        artefact.pk,
        artefact.version,
    )
