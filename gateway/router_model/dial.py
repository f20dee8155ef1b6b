"""A tenant's dial -> the router's threshold, and the cost/quality curve the console draws.

- "share" (a target share of premium calls): the threshold is the quantile of the scores of the
  tenant's own recent calls (traces of the same artefact version) when there are enough of them,
  else of the artefact's calibration set. A share is a property of traffic: calibrate on traffic.
- "quality" (a quality floor, as a fraction of premium-only quality): the smallest premium share
  whose quality on the artefact's calibration curve reaches the floor, and that point's threshold.
  The score is a probability (that the cheaper tier is good enough), so the threshold carries over.
- "shadow" scores and records with the threshold of the target share, and routes by the rules.

The calibration curve of a prior comes from held-out labels (each request scored by a model that
never saw its subject); a tenant artefact's is estimated by the model on the tenant's recent
requests (only one tier's outcome is known per request). `curve_kind` says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from gateway.models import RouterMode
from gateway.router_model.evaluation import threshold_for_share

if TYPE_CHECKING:
    from gateway.models import RouterSetting
    from gateway.router_model.store import LoadedRouter

MIN_TRAFFIC_SCORES = 200
# Scores are in [0, 1] and a request goes to premium when its score is below the threshold: these two
# mean "never" and "always" for any request, not only for those of the calibration set.
NEVER, ALWAYS = 0.0, 1.0 + 1e-6


@dataclass(frozen=True)
class DialPoint:
    premium_share: float
    quality: float  # fraction of premium-only quality
    cost: float | None  # fraction of premium-only cost, None without prices
    threshold: float


def _interp_threshold(loaded: LoadedRouter, share: float) -> float:
    if share <= 0:
        return NEVER
    if share >= 1:
        return ALWAYS
    shares = [p.strong_share for p in loaded.curve]
    return float(np.interp(share, shares, [p.threshold for p in loaded.curve]))


def _quality_fraction(loaded: LoadedRouter, share: float) -> float:
    shares = [p.strong_share for p in loaded.curve]
    quality = float(np.interp(share, shares, [p.quality for p in loaded.curve]))
    return quality / loaded.strong_quality if loaded.strong_quality else 0.0


def threshold_for(
    setting: RouterSetting, loaded: LoadedRouter, traffic_scores: Sequence[float] | None = None
) -> dict:
    """The calibration record stored on the setting (and in each trace's routing record)."""
    if not loaded.curve:
        return {"threshold": 0.0, "premium_share": 0.0, "source": "artefact has no calibration curve"}
    if setting.mode == RouterMode.QUALITY_FLOOR:
        share = next(
            (
                p.strong_share
                for p in loaded.curve
                if _quality_fraction(loaded, p.strong_share) >= setting.quality_floor - 1e-9
            ),
            1.0,
        )
        threshold, source = _interp_threshold(loaded, share), f"{loaded.curve_kind} curve of {loaded.version}"
    else:
        share = setting.premium_share
        if traffic_scores is not None and len(traffic_scores) >= MIN_TRAFFIC_SCORES and 0 < share < 1:
            threshold = threshold_for_share(traffic_scores, share)
            source = f"scores of the tenant's last {len(traffic_scores)} calls"
        else:
            threshold, source = (
                _interp_threshold(loaded, share),
                f"{loaded.curve_kind} curve of {loaded.version}",
            )
    return {
        "threshold": round(threshold, 6),
        "premium_share": round(share, 4),
        "expected_quality": round(_quality_fraction(loaded, share), 4),
        "source": source,
        "version": loaded.version,
    }


def dial_curve(
    loaded: LoadedRouter, *, cost_ratio: Decimal | float | None, steps: int = 20
) -> list[DialPoint]:
    """Premium share 0..1 -> expected quality and cost (both relative to sending everything to premium).

    `cost_ratio` is the cheaper tier's price over premium's (the console takes it from the tenant's models).
    """
    ratio = float(cost_ratio) if cost_ratio is not None else None
    points = []
    for i in range(steps + 1):
        share = i / steps
        cost = share + (1 - share) * ratio if ratio is not None else None
        points.append(
            DialPoint(share, _quality_fraction(loaded, share), cost, _interp_threshold(loaded, share))
        )
    return points
