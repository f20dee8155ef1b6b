"""Router artefacts in PostgreSQL: saving, choosing the one a tenant routes with, loading it once per process.

Which artefact routes a tenant's calls:
  1. its own active artefact (pool "tenant"), if its base is a prior the tenant may use;
  2. else, if it opted in to pooled labels, the active "opt_in" prior;
  3. else the active "public" prior (trained on public labels only).

The gateway's catalog asks `router_config()` every few seconds (one small query); the parameters of
a version are read and parsed once per process (`loaded_router`), keyed by the artefact's id and
version, so a promotion or rollback reaches every process within the catalog's cache time (the
callers of `artefact_activate` and `artefact_rollback` drop this process's catalogs at once).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gateway.models import ArtefactStatus, RouterArtefact, RouterMode, RouterPool, RouterSetting
from gateway.router_model.dial import threshold_for
from gateway.router_model.evaluation import CurvePoint
from gateway.router_model.model import RouterModel, content_hash

DEFAULT_SETTING = {
    "mode": RouterMode.SHADOW,
    "premium_share": 0.3,
    "quality_floor": 0.95,
    "share_labels": False,
}


@dataclass(frozen=True)
class LoadedRouter:
    """An artefact ready to score: the model and the calibration curve the dial reads."""

    artefact_id: int
    version: str
    pool: str
    model: RouterModel
    curve: tuple[CurvePoint, ...]  # strong share ascending
    strong_quality: float
    curve_kind: str  # "held-out labels" or "estimated"


@dataclass(frozen=True)
class RouterConfig:
    """What the call path needs, per tenant, from the catalog."""

    mode: str
    threshold: float
    artefact_id: int
    version: str
    calibration: dict = field(default_factory=dict)

    @property
    def acts(self) -> bool:
        return self.mode in (RouterMode.PREMIUM_SHARE, RouterMode.QUALITY_FLOOR)


# ---- saving and history ---------------------------------------------------------------------------
def artefact_version(params: dict[str, Any], created_at: datetime) -> tuple[str, str]:
    digest = content_hash(params)
    return f"{created_at:%Y%m%d-%H%M%S.%f}"[:-3] + f"-{digest[:12]}", digest


def artefact_save(
    *,
    tenant_id: int | None,
    pool: str,
    params: dict[str, Any],
    method: str,
    training: dict,
    evaluation: dict,
    shadow: dict | None = None,
    status: str = ArtefactStatus.CANDIDATE,
    parent: RouterArtefact | None = None,
    note: str = "",
) -> RouterArtefact:
    """Store a trained router. Shared ones (tenant None) need cross-tenant access (commands, tasks)."""
    RouterModel(params)  # refuse parameters the call path could not load
    created_at = timezone.now()
    version, digest = artefact_version(params, created_at)
    artefact = RouterArtefact(
        tenant_id=tenant_id,
        version=version,
        content_hash=digest,
        pool=pool,
        method=method,
        embedding_model=params["embedding_model"],
        params=params,
        training=training,
        evaluation=evaluation,
        shadow=shadow or {},
        status=ArtefactStatus.CANDIDATE,
        parent=parent,
        note=note,
        created_at=created_at,
    )
    artefact.save()
    if status == ArtefactStatus.ACTIVE:
        artefact_activate(artefact=artefact, note=note)
    elif status != ArtefactStatus.CANDIDATE:
        RouterArtefact.objects.unscoped().filter(pk=artefact.pk).update(status=status)
        artefact.status = status
    return artefact


@transaction.atomic
def artefact_activate(*, artefact: RouterArtefact, note: str = "") -> RouterArtefact:
    """Make `artefact` the active one of its tenant and pool; the one it replaces is retired, kept."""
    now = timezone.now()
    # Explicit tenant filter: shared artefacts have tenant NULL, and the caller may be a task.
    same_pool = RouterArtefact.objects.unscoped().filter(tenant_id=artefact.tenant_id, pool=artefact.pool)
    same_pool.filter(status=ArtefactStatus.ACTIVE).exclude(pk=artefact.pk).update(
        status=ArtefactStatus.RETIRED, retired_at=now
    )
    updates: dict[str, Any] = {"status": ArtefactStatus.ACTIVE, "promoted_at": now, "retired_at": None}
    if note:
        updates["note"] = note
    RouterArtefact.objects.unscoped().filter(pk=artefact.pk).update(**updates)
    artefact.refresh_from_db()
    return artefact


@transaction.atomic
def artefact_rollback(*, tenant_id: int | None, pool: str) -> RouterArtefact | None:
    """Back to the artefact that was active before the current one; None when there was none (the
    tenant then routes with the shared prior again). The rolled-back one is kept, retired."""
    artefacts = RouterArtefact.objects.unscoped().filter(tenant_id=tenant_id, pool=pool)
    current = artefacts.filter(status=ArtefactStatus.ACTIVE).first()
    if current is None:
        return None
    previous = (
        artefacts.filter(
            status=ArtefactStatus.RETIRED, promoted_at__isnull=False, promoted_at__lt=current.promoted_at
        )
        .order_by("-promoted_at")
        .first()
    )
    artefacts.filter(pk=current.pk).update(
        status=ArtefactStatus.RETIRED,
        retired_at=timezone.now(),
        note=f"rolled back; was: {current.note}"[:2000],
    )
    if previous is None:
        return None
    return artefact_activate(artefact=previous, note=f"restored by rollback of {current.version}")


# ---- which artefact routes a tenant -----------------------------------------------------------------
def tenant_setting(tenant_id: int) -> RouterSetting:
    """The tenant's dial (defaults when it never set one). Explicit tenant filter: the gateway's
    catalog loads it inside the tenant's scope, tasks outside one."""
    setting = RouterSetting.objects.unscoped().filter(tenant_id=tenant_id).first()
    return setting or RouterSetting(tenant_id=tenant_id, **DEFAULT_SETTING)


def active_artefact_row(tenant_id: int | None, *, share_labels: bool) -> dict | None:
    """id, version, pool of the artefact that routes this tenant (see the module docstring); with
    `tenant_id` None, of the shared priors only."""
    # Explicit filters: the tenant's own and the shared rows, never another tenant's.
    visible = (
        Q(tenant__isnull=True) | Q(tenant_id=tenant_id) if tenant_id is not None else Q(tenant__isnull=True)
    )
    rows = list(
        RouterArtefact.objects.unscoped()
        .filter(visible, status=ArtefactStatus.ACTIVE)
        .values("id", "version", "pool", "tenant_id", "training__base_pool")
    )
    allowed_bases = {RouterPool.PUBLIC, RouterPool.OPT_IN} if share_labels else {RouterPool.PUBLIC}
    by_pool = {row["pool"]: row for row in rows if row["tenant_id"] in (tenant_id, None)}
    own = by_pool.get(RouterPool.TENANT)
    if (
        own
        and tenant_id is not None
        and own["tenant_id"] == tenant_id
        and own["training__base_pool"] in allowed_bases
    ):
        return own
    if share_labels and RouterPool.OPT_IN in by_pool:
        return by_pool[RouterPool.OPT_IN]
    return by_pool.get(RouterPool.PUBLIC)


_loaded: dict[tuple[int, str], LoadedRouter] = {}
_loaded_lock = threading.Lock()


def loaded_router(artefact_id: int, version: str) -> LoadedRouter:
    """The parsed artefact, read from the database once per process and version."""
    key = (artefact_id, version)
    cached = _loaded.get(key)
    if cached is not None:
        return cached
    # By primary key, with the version checked: the caller chose it for this tenant.
    row = RouterArtefact.objects.unscoped().get(pk=artefact_id, version=version)
    loaded = _parse(row)
    with _loaded_lock:
        _loaded[key] = loaded
    return loaded


def _parse(row: RouterArtefact) -> LoadedRouter:
    curve = row.evaluation.get("calibration") or {}
    points = tuple(
        CurvePoint(p["threshold"], p["strong_share"], p["quality"], p.get("pgr"))
        for p in curve.get("points", [])
    )
    return LoadedRouter(
        artefact_id=row.pk,
        version=row.version,
        pool=row.pool,
        model=RouterModel(row.params, version=row.version),
        curve=points,
        strong_quality=float(curve.get("strong_quality") or 0.0),
        curve_kind=str(curve.get("kind", "")),
    )


def router_config(tenant_id: int) -> RouterConfig | None:
    """For the gateway catalog: the tenant's mode, the artefact and the threshold to compare with."""
    setting = tenant_setting(tenant_id)
    if setting.mode == RouterMode.OFF:
        return None
    row = active_artefact_row(tenant_id, share_labels=setting.share_labels)
    if row is None:
        return None
    loaded = loaded_router(row["id"], row["version"])
    if setting.threshold is not None and setting.calibrated_version == loaded.version:
        threshold, calibration = setting.threshold, dict(setting.calibration)
    else:  # promoted or rolled back since the dial was saved: calibrate on the artefact's own curve
        calibration = threshold_for(setting, loaded)
        threshold = calibration["threshold"]
    return RouterConfig(
        mode=setting.mode,
        threshold=threshold,
        artefact_id=loaded.artefact_id,
        version=loaded.version,
        calibration=calibration,
    )


def forget_loaded_routers() -> None:
    with _loaded_lock:
        _loaded.clear()
