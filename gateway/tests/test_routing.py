from decimal import Decimal

import pytest

from gateway.routing import Candidate, NoRouteError, RoutePolicy, RouteRequest, estimate_complexity, route


def candidate(alias, tier, *, provider="p1", price=1, context=16000, **health) -> Candidate:
    return Candidate(
        model_id=hash(alias) % 1000,
        alias=alias,
        provider_id=hash(provider) % 100,
        provider_name=provider,
        tier=tier,
        input_price_per_mtok=Decimal(price),
        output_price_per_mtok=Decimal(price * 4),
        context_window=context,
        max_output_tokens=2048,
        **health,
    )


CANDIDATES = [
    candidate("small-1", "small", price=1),
    candidate("std-1", "standard", price=3),
    candidate("std-2", "standard", provider="p2", price=4),
    candidate("premium-1", "premium", price=15, context=64000),
]


def chain(decision):
    return [c.alias for c in decision.chain]


def test_light_purposes_start_small_and_fall_back_upwards_only_after_smaller_options():
    decision = route(RouteRequest(purpose="comment", prompt_tokens=50), CANDIDATES, RoutePolicy())
    assert chain(decision) == ["small-1", "std-1", "std-2", "premium-1"]
    assert decision.tier == "small"


def test_standard_work_falls_back_to_the_other_provider_then_degrades():
    decision = route(RouteRequest(purpose="post", prompt_tokens=500), CANDIDATES, RoutePolicy())
    assert chain(decision) == ["std-1", "std-2", "small-1", "premium-1"]
    assert any("complexity standard" in reason for reason in decision.reasons)


def test_analysis_requests_are_complex():
    complexity, why = estimate_complexity("post", 300, "Analyze the strategy and compare trade-offs in depth")
    assert complexity == "complex"
    assert "analysis" in why


def test_tenant_preference_and_default_tiers_shift_the_choice():
    economy = route(
        RouteRequest(purpose="post", prompt_tokens=100), CANDIDATES, RoutePolicy(preference="economy")
    )
    assert chain(economy)[0] == "small-1"
    quality = route(
        RouteRequest(purpose="post", prompt_tokens=100), CANDIDATES, RoutePolicy(preference="quality")
    )
    assert chain(quality)[0] == "premium-1"
    pinned = RoutePolicy(default_tiers={"critique": "premium"})
    assert (
        chain(route(RouteRequest(purpose="critique", prompt_tokens=100), CANDIDATES, pinned))[0]
        == "premium-1"
    )


def test_low_budget_moves_one_tier_down_and_says_so():
    decision = route(
        RouteRequest(purpose="post", prompt_tokens=100), CANDIDATES, RoutePolicy(budget_left_fraction=0.1)
    )
    assert chain(decision)[0] == "small-1"
    assert any("budget low" in reason for reason in decision.reasons)


def test_models_not_allowed_too_small_or_with_open_circuits_are_excluded_with_reasons():
    candidates = [
        *CANDIDATES[:1],
        candidate("std-1", "standard", circuit_open=True, context=64000),
        *CANDIDATES[2:],
    ]
    decision = route(
        RouteRequest(purpose="post", prompt_tokens=20000),
        candidates,
        RoutePolicy(allowed_aliases=frozenset({"std-1", "std-2", "premium-1"})),
    )
    assert chain(decision) == ["premium-1"]
    assert decision.excluded["small-1"] == "not allowed for this tenant"
    assert decision.excluded["std-1"] == "circuit open"
    assert decision.excluded["std-2"].startswith("context window")


def test_unhealthy_models_rank_after_healthy_ones_of_the_same_tier():
    candidates = [
        candidate("std-1", "standard", error_rate=0.9),
        candidate("std-2", "standard", provider="p2"),
    ]
    decision = route(RouteRequest(purpose="post", prompt_tokens=10), candidates, RoutePolicy())
    assert chain(decision) == ["std-2", "std-1"]


def test_a_requested_model_or_tier_alias_is_honoured():
    by_alias = route(
        RouteRequest(purpose="post", prompt_tokens=10, requested="std-2"), CANDIDATES, RoutePolicy()
    )
    assert chain(by_alias)[0] == "std-2"
    by_tier = route(
        RouteRequest(purpose="post", prompt_tokens=10, requested="premium"), CANDIDATES, RoutePolicy()
    )
    assert chain(by_tier)[0] == "premium-1"


def test_a_requested_model_that_cannot_serve_is_a_clear_error():
    with pytest.raises(NoRouteError, match="unknown or inactive"):
        route(RouteRequest(purpose="post", prompt_tokens=10, requested="gpt-9"), CANDIDATES, RoutePolicy())
    with pytest.raises(NoRouteError, match="No model"):
        route(RouteRequest(purpose="post", prompt_tokens=10**6), CANDIDATES, RoutePolicy())


def test_a_tenant_chain_for_a_purpose_is_tried_first_then_the_usual_order():
    policy = RoutePolicy(chains={"post": ["premium-1", "gone-model", "small-1"]})
    decision = route(RouteRequest(purpose="post", prompt_tokens=10), CANDIDATES, policy)
    assert chain(decision) == ["premium-1", "small-1", "std-1", "std-2"]
    assert any("unusable in the chain: gone-model" in reason for reason in decision.reasons)
    other = route(RouteRequest(purpose="comment", prompt_tokens=10), CANDIDATES, policy)
    assert chain(other)[0] == "small-1"
