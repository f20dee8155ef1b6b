"""Reads of the learned router for the console, inside the tenant's scope."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.shortcuts import get_object_or_404

from gateway.models import LLMModel, RouterArtefact, RouterLabel, RouterPool, RouterSetting, Tier
from gateway.router_model import store
from gateway.router_model.dial import DialPoint, dial_curve, threshold_for


@dataclass(frozen=True)
class RouterOverview:
    setting: RouterSetting
    artefact: RouterArtefact | None  # the one that routes this tenant now
    curve: list[DialPoint]
    chosen: DialPoint | None
    calibration: dict
    history: list[RouterArtefact]  # the tenant's own, newest first
    labels: int
    cost_ratio: Decimal | None


def _blended(model: LLMModel) -> Decimal:
    return model.input_price_per_mtok + 3 * model.output_price_per_mtok  # as the router ranks them


def cost_ratio() -> Decimal | None:
    """The cheapest standard model's price over the cheapest premium one's, of the tenant's models."""
    models = list(LLMModel.objects.filter(is_active=True, tier__in=[Tier.STANDARD, Tier.PREMIUM]))
    standard = [_blended(m) for m in models if m.tier == Tier.STANDARD]
    premium = [_blended(m) for m in models if m.tier == Tier.PREMIUM]
    if not standard or not premium or min(premium) == 0:
        return None
    return min(standard) / min(premium)


def router_overview(*, tenant_id: int) -> RouterOverview:
    setting = store.tenant_setting(tenant_id)
    row = store.active_artefact_row(tenant_id, share_labels=setting.share_labels)
    ratio = cost_ratio()
    artefact, curve, chosen, calibration = None, [], None, dict(setting.calibration or {})
    if row is not None:
        artefact = RouterArtefact.objects.get(pk=row["id"])
        loaded = store.loaded_router(row["id"], row["version"])
        curve = dial_curve(loaded, cost_ratio=ratio)
        if setting.calibrated_version != loaded.version or setting.threshold is None:
            calibration = threshold_for(setting, loaded)
        share = float(calibration.get("premium_share", setting.premium_share))
        chosen = min(curve, key=lambda p: abs(p.premium_share - share)) if curve else None
    history = list(
        RouterArtefact.objects.filter(tenant_id=tenant_id, pool=RouterPool.TENANT).order_by("-created_at")[
            :20
        ]
    )
    return RouterOverview(
        setting=setting,
        artefact=artefact,
        curve=curve,
        chosen=chosen,
        calibration=calibration,
        history=history,
        labels=RouterLabel.objects.count(),
        cost_ratio=ratio,
    )


def access_router_artefact(*, artefact_id: int) -> RouterArtefact:
    """Only the tenant's own routers (shared priors are read-only to tenants)."""
    return get_object_or_404(
        RouterArtefact.objects.filter(tenant__isnull=False, pool=RouterPool.TENANT), pk=artefact_id
    )
