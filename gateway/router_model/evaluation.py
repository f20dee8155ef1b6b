"""Cost against quality for a router on labelled requests: the sweep, PGR and APGR (as RouteLLM).

Each labelled request has the quality of the weak (cheaper) and the strong (premium) model's answer:
0/1 for right/wrong, or a score in [0, 1]. A router sends a request to the strong model when its score
is below the threshold (`decision.needs_strong`). Sweeping the threshold from "never" to "always"
traces quality against the share of strong calls:

    PGR(t)  = (quality(t) - weak-only quality) / (strong-only quality - weak-only quality)
    APGR    = the area under PGR against the strong share, over shares 0..1

Random routing recovers the gap linearly with the share, so its APGR is 0.5; a perfect router's is
close to 1. Ties in the score flip together, and the straight line between two points of the curve
is what random tie-breaking would give on average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from gateway.router_model.decision import needs_strong

TABLE_SHARES = tuple(round(i / 20, 2) for i in range(21))  # 0%, 5%, ... 100%
Values = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    strong_share: float
    quality: float
    pgr: float | None

    def as_dict(self) -> dict:
        return {
            key: (round(value, 6) if isinstance(value, float) else value)
            for key, value in asdict(self).items()
        }


@dataclass(frozen=True)
class RoutingCurve:
    n: int
    weak_quality: float
    strong_quality: float
    points: tuple[CurvePoint, ...]  # every distinct decision along the sweep, strong share ascending

    @property
    def gap(self) -> float:
        return self.strong_quality - self.weak_quality

    @property
    def apgr(self) -> float | None:
        """None when the strong model is not better on these labels: there is no gap to recover."""
        if self.gap <= 0 or len(self.points) < 2:
            return None
        shares = np.array([p.strong_share for p in self.points])
        pgrs = np.array([p.pgr for p in self.points], dtype=np.float64)
        return float(np.trapezoid(pgrs, shares))

    def quality_at(self, share: float) -> float:
        shares = [p.strong_share for p in self.points]
        return float(np.interp(share, shares, [p.quality for p in self.points]))

    def share_for_quality(self, fraction_of_strong: float) -> float:
        """The smallest strong share whose quality reaches `fraction_of_strong` of strong-only quality."""
        target = fraction_of_strong * self.strong_quality
        for point in self.points:
            if point.quality >= target - 1e-12:
                return point.strong_share
        return 1.0

    def as_dict(self, *, max_points: int = 101) -> dict:
        step = max(1, len(self.points) // max_points)
        kept = list(self.points[::step])
        if kept[-1] is not self.points[-1]:
            kept.append(self.points[-1])
        return {
            "n": self.n,
            "weak_quality": round(self.weak_quality, 6),
            "strong_quality": round(self.strong_quality, 6),
            "apgr": None if self.apgr is None else round(self.apgr, 6),
            "points": [p.as_dict() for p in kept],
        }


def _pgr(quality: float, weak: float, strong: float) -> float | None:
    return (quality - weak) / (strong - weak) if strong > weak else None


def routing_curve(scores: Values, weak: Values, strong: Values) -> RoutingCurve:
    """The full sweep: one point per distinct score (plus "never strong"), in one sort."""
    score = np.asarray(scores, dtype=np.float64)
    weak_q, strong_q = np.asarray(weak, dtype=np.float64), np.asarray(strong, dtype=np.float64)
    n = len(score)
    if n == 0:
        raise ValueError("No labelled requests to evaluate.")
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    gained = np.concatenate([[0.0], np.cumsum((strong_q - weak_q)[order])])
    # After the last item of each group of equal scores: the threshold just above that score.
    ends = np.concatenate([np.nonzero(ordered[1:] != ordered[:-1])[0] + 1, [n]])
    weak_mean, strong_mean = float(weak_q.mean()), float(strong_q.mean())
    points = [CurvePoint(float(ordered[0]), 0.0, weak_mean, _pgr(weak_mean, weak_mean, strong_mean))]
    for end in ends:
        above = float(ordered[end]) if end < n else float(np.nextafter(ordered[-1], np.inf))
        threshold = (float(ordered[end - 1]) + above) / 2 if end < n else above
        quality = weak_mean + float(gained[end]) / n
        points.append(CurvePoint(threshold, end / n, quality, _pgr(quality, weak_mean, strong_mean)))
    return RoutingCurve(n=n, weak_quality=weak_mean, strong_quality=strong_mean, points=tuple(points))


def random_apgr(weak: Values, strong: Values, *, repeats: int = 20, seed: int = 0) -> float:
    """APGR of routing by a random score, averaged over `repeats` draws (0.5 in expectation)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(repeats):
        apgr = routing_curve(rng.random(len(weak)), weak, strong).apgr
        if apgr is None:
            return float("nan")
        values.append(apgr)
    return float(np.mean(values))


def sweep_table(
    scores: Values,
    weak: Values,
    strong: Values,
    shares: Sequence[float] = TABLE_SHARES,
) -> list[CurvePoint]:
    """Rows for people: a threshold per target share, and what routing at that threshold really does.

    Each row's decisions are made with `needs_strong` (the gateway's comparison), not interpolated.
    """
    score = np.asarray(scores, dtype=np.float64)
    weak_q, strong_q = np.asarray(weak, dtype=np.float64), np.asarray(strong, dtype=np.float64)
    weak_mean, strong_mean = float(weak_q.mean()), float(strong_q.mean())
    rows = []
    for share in shares:
        threshold = threshold_for_share(score, share)
        strong_mask = np.array([needs_strong(float(s), threshold) for s in score], dtype=bool)
        quality = float(np.where(strong_mask, strong_q, weak_q).mean())
        rows.append(
            CurvePoint(threshold, float(strong_mask.mean()), quality, _pgr(quality, weak_mean, strong_mean))
        )
    return rows


def threshold_for_share(scores: Values, share: float) -> float:
    """A threshold that sends about `share` of these requests to the strong model."""
    score = np.sort(np.asarray(scores, dtype=np.float64))
    if len(score) == 0:
        raise ValueError("No scores to calibrate on.")
    share = min(1.0, max(0.0, share))
    k = round(share * len(score))
    if k <= 0:
        return float(score[0])  # strong iff score < the lowest score: never
    if k >= len(score):
        return float(np.nextafter(score[-1], np.inf))
    return float((score[k - 1] + score[k]) / 2)
