"""Writes a tenant makes to its learned router (from the console): the dial, rollback, restoring a version.

Each one recalibrates the threshold where needed and drops the cached catalog, so this process routes
with the change at once and every other process within `catalog.CACHE_SECONDS`.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from gateway.catalog import forget_catalog
from gateway.models import ArtefactStatus, RouterArtefact, RouterPool, RouterSetting, Trace
from gateway.router_model import store
from gateway.router_model.dial import threshold_for
from tenants.models import Tenant

TRAFFIC_DAYS = 14
TRAFFIC_LIMIT = 5000


def recent_traffic_scores(*, tenant_id: int, version: str) -> list[float]:
    """Scores the router gave this tenant's recent calls with this artefact version (from traces)."""
    since = timezone.now() - timedelta(days=TRAFFIC_DAYS)
    # Explicit tenant filter: also called from tasks without a tenant scope.
    values = (
        Trace.objects.unscoped()
        .filter(tenant_id=tenant_id, created_at__gte=since, routing__router__version=version)
        .order_by("-created_at")
        .values_list("routing__router__score", flat=True)[:TRAFFIC_LIMIT]
    )
    return [float(v) for v in values if isinstance(v, int | float)]


def _calibrate(setting: RouterSetting) -> None:
    row = store.active_artefact_row(setting.tenant_id, share_labels=setting.share_labels)
    if row is None:
        setting.threshold, setting.calibrated_version, setting.calibration = None, "", {}
        return
    loaded = store.loaded_router(row["id"], row["version"])
    traffic = recent_traffic_scores(tenant_id=setting.tenant_id, version=loaded.version)
    calibration = threshold_for(setting, loaded, traffic)
    setting.threshold = calibration["threshold"]
    setting.calibrated_version = loaded.version
    setting.calibration = calibration


def router_dial_save(
    *, tenant: Tenant, mode: str, premium_share: float, quality_floor: float, share_labels: bool
) -> RouterSetting:
    setting = RouterSetting.objects.filter(tenant=tenant).first() or RouterSetting(tenant=tenant)
    setting.mode, setting.premium_share, setting.quality_floor = mode, premium_share, quality_floor
    setting.share_labels = share_labels
    setting.full_clean(exclude=["tenant"])
    _calibrate(setting)
    setting.save()
    forget_catalog(tenant.pk)
    return setting


def router_recalibrate(*, tenant: Tenant) -> RouterSetting | None:
    """After a promotion, a rollback or a week of traffic: the same dial, a threshold for today."""
    setting = RouterSetting.objects.filter(tenant=tenant).first()
    if setting is None:
        return None
    _calibrate(setting)
    setting.save(update_fields=["threshold", "calibrated_version", "calibration", "updated_at"])
    forget_catalog(tenant.pk)
    return setting


@transaction.atomic
def router_rollback(*, tenant: Tenant) -> RouterArtefact | None:
    """Back to the tenant's previous router (None: back to the shared prior)."""
    restored = store.artefact_rollback(tenant_id=tenant.pk, pool=RouterPool.TENANT)
    router_recalibrate(tenant=tenant)
    return restored


@transaction.atomic
def router_restore(*, tenant: Tenant, artefact: RouterArtefact) -> RouterArtefact:
    """Make one of the tenant's earlier routers (or a candidate it rejected) the active one again."""
    if artefact.tenant_id != tenant.pk or artefact.status == ArtefactStatus.ACTIVE:
        raise ValueError("Only another of this tenant's own routers can be restored.")
    restored = store.artefact_activate(
        artefact=artefact, note=f"restored by hand on {timezone.now():%Y-%m-%d}"
    )
    router_recalibrate(tenant=tenant)
    return restored
