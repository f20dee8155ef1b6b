"""The router: picks an ordered chain of models for one call, and says why.

Inputs are plain data (no ORM) so the decision is cheap, testable and recorded
as-is in the trace: the call's purpose and estimated complexity, the tenant's
policy (allowed models, quality preference, default tier per purpose), each
model's health (circuit state, error rate, latency) and the budget left.

The first model of the chain is the choice; the rest are fallbacks in order:
same tier on other models/providers first, then smaller tiers (degrade rather
than fail), then larger ones only when nothing smaller can serve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

TIERS = ["small", "standard", "premium"]
COMPLEXITY_TIER = {"simple": "small", "standard": "standard", "complex": "premium"}

# Purposes whose work is light or heavy by nature; others start at "standard".
PURPOSE_COMPLEXITY = {
    "comment": "simple",
    "reply": "simple",
    "extraction": "simple",
    "style_extraction": "standard",
    "critique": "simple",
    "classification": "simple",
    "post": "standard",
    "revise": "standard",
    "series_plan": "complex",
    "article": "complex",
}
HARD_WORDS = re.compile(
    r"\b(analy[sz]e|strategy|strategic|compare|trade-?offs?|step by step|in depth|detailed|"
    r"framework|argument|nuanced|series|white ?paper|case study)\b",
    re.IGNORECASE,
)
LOW_BUDGET_FRACTION = 0.2
MAX_CHAIN = 4


@dataclass(frozen=True)
class Candidate:
    model_id: int
    alias: str
    provider_id: int
    provider_name: str
    tier: str
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal
    context_window: int
    max_output_tokens: int
    circuit_open: bool = False
    error_rate: float = 0.0
    latency_s: float | None = None


@dataclass(frozen=True)
class RouteRequest:
    purpose: str
    prompt_tokens: int
    min_output_tokens: int = 64
    requested: str | None = None  # a model alias, or a tier name ("small", "premium") used as an alias
    complexity: str | None = None  # "simple" | "standard" | "complex"; estimated when None
    text: str = ""  # the user's part of the prompt, for the complexity estimate
    learned: LearnedVerdict | None = None  # the learned router's decision, when it routes this call


@dataclass(frozen=True)
class LearnedVerdict:
    """The learned router's say (gateway/router_model/): premium, or the purpose's cheaper tier."""

    strong: bool
    summary: str  # e.g. "score 0.41 < threshold 0.62 (router 20261201-103000-ab12cd34ef56)"


@dataclass(frozen=True)
class RoutePolicy:
    allowed_aliases: frozenset[str] = frozenset()  # empty: every active model
    preference: str = "balanced"
    default_tiers: dict[str, str] = field(default_factory=dict)
    budget_left_fraction: float | None = None  # of the tightest budget window, None when no budget
    chains: dict[str, list[str]] = field(default_factory=dict)  # purpose -> aliases the tenant puts first


@dataclass
class RoutingDecision:
    chain: list[Candidate]
    tier: str
    complexity: str
    reasons: list[str]
    excluded: dict[str, str]

    def as_dict(self) -> dict:
        return {
            "chain": [c.alias for c in self.chain],
            "tier": self.tier,
            "complexity": self.complexity,
            "reasons": self.reasons,
            "excluded": self.excluded,
            "candidates": {c.alias: _health_summary(c) for c in self.chain},
        }


def _health_summary(candidate: Candidate) -> dict:
    return {
        "tier": candidate.tier,
        "provider_name": candidate.provider_name,
        "error_rate": candidate.error_rate,
        "latency_s": candidate.latency_s,
    }


class NoRouteError(Exception):
    def __init__(self, message: str, excluded: dict[str, str]) -> None:
        super().__init__(message)
        self.excluded = excluded


def estimate_complexity(purpose: str, prompt_tokens: int, text: str) -> tuple[str, str]:
    level = ["simple", "standard", "complex"].index(PURPOSE_COMPLEXITY.get(purpose, "standard"))
    signals = []
    if prompt_tokens > 3000:
        level += 1
        signals.append(f"long prompt ({prompt_tokens} tokens)")
    if len(HARD_WORDS.findall(text)) >= 2:
        level += 1
        signals.append("asks for analysis")
    level = max(0, min(2, level))
    complexity = ["simple", "standard", "complex"][level]
    why = f"purpose {purpose!r}" + (f" + {', '.join(signals)}" if signals else "")
    return complexity, why


def _shift(tier: str, steps: int) -> str:
    return TIERS[max(0, min(len(TIERS) - 1, TIERS.index(tier) + steps))]


def _learned_tier(request: RouteRequest, learned: LearnedVerdict, reasons: list[str]) -> tuple[str, str]:
    """Premium when the router does not trust a cheaper tier with the request, else the purpose's tier
    (standard for purposes that are premium by nature). The dial replaces the economy/quality preference."""
    complexity = PURPOSE_COMPLEXITY.get(request.purpose, "standard")
    cheaper = COMPLEXITY_TIER[complexity] if COMPLEXITY_TIER[complexity] != "premium" else "standard"
    tier = "premium" if learned.strong else cheaper
    reasons.append(f"learned router: {learned.summary} -> {tier}")
    return tier, complexity


def _target_tier(request: RouteRequest, policy: RoutePolicy, reasons: list[str]) -> tuple[str, str]:
    if request.learned is not None and request.purpose not in policy.default_tiers:
        learned_tier, complexity = _learned_tier(request, request.learned, reasons)
        return _budget_shift(learned_tier, policy, reasons), complexity
    if request.complexity:
        complexity, why = request.complexity, "complexity given by the caller"
    else:
        complexity, why = estimate_complexity(request.purpose, request.prompt_tokens, request.text)
    reasons.append(f"complexity {complexity} ({why})")
    tier = policy.default_tiers.get(request.purpose)
    if tier in TIERS:
        reasons.append(f"tenant default tier for {request.purpose}: {tier}")
        return tier, complexity
    tier = COMPLEXITY_TIER[complexity]
    if policy.preference == "economy":
        tier = _shift(tier, -1)
        reasons.append("tenant prefers economy: one tier down")
    elif policy.preference == "quality":
        tier = _shift(tier, +1)
        reasons.append("tenant prefers quality: one tier up")
    return _budget_shift(tier, policy, reasons), complexity


def _budget_shift(tier: str, policy: RoutePolicy, reasons: list[str]) -> str:
    if policy.budget_left_fraction is not None and policy.budget_left_fraction < LOW_BUDGET_FRACTION:
        reasons.append(f"budget low ({policy.budget_left_fraction:.0%} left): one tier down")
        return _shift(tier, -1)
    return tier


def _usable(
    candidates: list[Candidate], request: RouteRequest, policy: RoutePolicy, excluded: dict[str, str]
) -> list[Candidate]:
    usable = []
    needed = request.prompt_tokens + request.min_output_tokens
    for candidate in candidates:
        if policy.allowed_aliases and candidate.alias not in policy.allowed_aliases:
            excluded[candidate.alias] = "not allowed for this tenant"
        elif candidate.context_window < needed:
            excluded[candidate.alias] = f"context window {candidate.context_window} < {needed} tokens needed"
        elif candidate.circuit_open:
            excluded[candidate.alias] = "circuit open"
        else:
            usable.append(candidate)
    return usable


def _rank_key(candidate: Candidate) -> tuple:
    # Healthy first, then cheaper, then faster.
    unhealthy = candidate.error_rate >= 0.5
    price = candidate.input_price_per_mtok + 3 * candidate.output_price_per_mtok
    return (
        unhealthy,
        price,
        candidate.latency_s if candidate.latency_s is not None else 1e9,
        candidate.alias,
    )


def _order_from(tier: str, usable: list[Candidate]) -> list[Candidate]:
    position = TIERS.index(tier)
    tier_sequence = [tier, *TIERS[:position][::-1], *TIERS[position + 1 :]]
    ordered: list[Candidate] = []
    for each in tier_sequence:
        ordered += sorted((c for c in usable if c.tier == each), key=_rank_key)
    return ordered


def route(request: RouteRequest, candidates: list[Candidate], policy: RoutePolicy) -> RoutingDecision:
    reasons: list[str] = []
    excluded: dict[str, str] = {}
    usable = _usable(candidates, request, policy, excluded)
    by_alias = {c.alias: c for c in usable}
    requested = request.requested
    if requested and requested not in TIERS:
        if requested not in by_alias:
            reason = excluded.get(requested, "unknown or inactive model")
            raise NoRouteError(f"Model {requested!r} cannot serve this call: {reason}.", excluded)
        chosen = by_alias[requested]
        reasons.append(f"model {requested} requested by the caller")
        chain = [chosen] + [c for c in _order_from(chosen.tier, usable) if c.alias != requested]
        return RoutingDecision(
            chain[:MAX_CHAIN], chosen.tier, request.complexity or "given", reasons, excluded
        )
    if requested in TIERS:
        tier, complexity = requested, request.complexity or "given"
        reasons.append(f"tier {tier} requested by the caller")
    else:
        tier, complexity = _target_tier(request, policy, reasons)
    chain = _order_from(tier, usable)
    preferred = policy.chains.get(request.purpose, [])
    if preferred:
        first = [by_alias[alias] for alias in preferred if alias in by_alias]
        chain = first + [c for c in chain if c not in first]
        skipped = [alias for alias in preferred if alias not in by_alias]
        reasons.append(f"tenant's chain for {request.purpose}: {', '.join(preferred)}")
        if skipped:
            reasons.append(f"unusable in the chain: {', '.join(skipped)}")
    if not chain:
        raise NoRouteError("No model can serve this call.", excluded)
    if chain[0].tier != tier:
        reasons.append(f"no usable {tier} model: using {chain[0].tier}")
    reasons.append(f"chose {chain[0].alias} ({chain[0].provider_name})")
    return RoutingDecision(chain[:MAX_CHAIN], tier, complexity, reasons, excluded)
