"""The learned router in the call path: the dial moves requests between the cheaper tier and premium,
and the trace shows the score, the threshold and the artefact version of every decision."""

from __future__ import annotations

import random
from unittest import mock

import pytest

import gateway
from gateway.catalog import forget_catalog
from gateway.embeddings import HashingEmbedder
from gateway.models import RouterMode, TenantPolicy, Trace
from gateway.router_model.services import router_dial_save
from gateway.tests.gateway_support import register_fake_models, request_for, run_with_runtime
from gateway.tests.router_support import easy_text, hard_text, install_prior
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db

HARD = hard_text(random.Random(1))
EASY = easy_text(random.Random(2))


@pytest.fixture
def hashing_embeddings(settings):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}


@pytest.fixture
def prior(hashing_embeddings):
    return install_prior()


@pytest.fixture
def models_a(tenant_a, fake_provider):
    return register_fake_models(tenant_a, fake_provider.base_url)


def _dial(tenant, mode=RouterMode.PREMIUM_SHARE, premium_share=0.3, quality_floor=0.95, share_labels=False):
    with tenant_scope(tenant):
        return router_dial_save(
            tenant=tenant, mode=mode, premium_share=premium_share, quality_floor=quality_floor,
            share_labels=share_labels,
        )  # fmt: skip


def _call(tenant, text, **fields):
    response = run_with_runtime(lambda rt: gateway.complete(request_for(tenant, text, **fields), runtime=rt))
    with tenant_scope(tenant):
        return response, Trace.objects.get(pk=response.call_id)


def test_the_premium_share_dial_moves_a_hard_request_from_the_cheaper_tier_to_premium(
    tenant_a, models_a, prior, fake_provider
):
    _dial(tenant_a, premium_share=0.0)
    assert _call(tenant_a, HARD)[0].model == "standard-a"
    _dial(tenant_a, premium_share=0.4)  # a third of the calibration set is hard
    assert _call(tenant_a, HARD)[0].model == "premium-a"
    assert _call(tenant_a, EASY)[0].model == "standard-a"  # the dial is a threshold on a per-request score
    _dial(tenant_a, premium_share=1.0)
    assert _call(tenant_a, EASY)[0].model == "premium-a"


def test_the_trace_records_the_score_threshold_and_artefact_version(tenant_a, models_a, prior, fake_provider):
    setting = _dial(tenant_a, premium_share=0.4)
    response, trace = _call(tenant_a, HARD)
    router = trace.routing["router"]
    assert router["version"] == prior.version == setting.calibrated_version
    assert router["threshold"] == pytest.approx(setting.threshold, abs=1e-4)
    assert 0.0 <= router["score"] < router["threshold"]
    assert router["strong"] is True
    assert router["acted"] is True
    assert router["mode"] == "share"
    assert any("learned router" in reason for reason in trace.routing["reasons"])
    assert response.routing["router"] == router


def test_a_quality_floor_sends_to_premium_only_what_the_floor_needs(tenant_a, models_a, prior, fake_provider):
    _dial(tenant_a, mode=RouterMode.QUALITY_FLOOR, quality_floor=0.5)  # the cheaper tier alone reaches it
    assert _call(tenant_a, HARD)[0].model == "standard-a"
    strict = _dial(tenant_a, mode=RouterMode.QUALITY_FLOOR, quality_floor=0.9)
    assert 0.0 < strict.calibration["premium_share"] < 1.0
    assert _call(tenant_a, HARD)[0].model == "premium-a"
    assert _call(tenant_a, EASY)[0].model == "standard-a"


def test_shadow_mode_scores_and_records_but_the_rules_route(tenant_a, models_a, prior, fake_provider):
    _dial(tenant_a, mode=RouterMode.SHADOW, premium_share=1.0)
    response, trace = _call(tenant_a, HARD)
    assert response.model == "standard-a"  # "post" is standard work by the rules
    assert trace.routing["router"]["strong"] is True
    assert trace.routing["router"]["acted"] is False


def test_off_mode_neither_scores_nor_records(tenant_a, models_a, prior, fake_provider):
    _dial(tenant_a, mode=RouterMode.OFF, premium_share=1.0)
    response, trace = _call(tenant_a, HARD)
    assert response.model == "standard-a"
    assert "router" not in trace.routing


def test_an_explicit_choice_of_the_caller_or_the_tenant_wins_over_the_router(
    tenant_a, models_a, prior, fake_provider
):
    _dial(tenant_a, premium_share=1.0)
    response, trace = _call(tenant_a, HARD, model="small")
    assert response.model == "small-a"
    assert trace.routing["router"]["skipped"] == "model or tier requested by the caller"
    with tenant_scope(tenant_a):
        TenantPolicy.objects.filter(tenant=tenant_a).update(default_tiers={"post": "small"})
    forget_catalog(tenant_a.pk)
    assert _call(tenant_a, HARD)[0].model == "small-a"


def test_the_router_reuses_the_embedding_of_the_cache_lookup(tenant_a, models_a, prior, fake_provider):
    _dial(tenant_a, premium_share=0.4)
    with tenant_scope(tenant_a):
        TenantPolicy.objects.filter(tenant=tenant_a).update(cache_enabled=True)
    forget_catalog(tenant_a.pk)
    _, trace = _call(tenant_a, HARD)
    assert trace.routing["cache"]["hit"] is False
    assert trace.routing["router"]["embedding_shared"] is True
    assert trace.routing["router"]["embedding_ms"] == 0.0


def test_without_a_trained_router_the_rules_route_as_before(
    tenant_a, models_a, hashing_embeddings, fake_provider
):
    _dial(tenant_a, premium_share=1.0)
    response, trace = _call(tenant_a, HARD)
    assert response.model == "standard-a"
    assert "router" not in trace.routing


def test_a_router_of_another_embedding_model_is_skipped_not_fatal(tenant_a, models_a, prior, fake_provider):
    _dial(tenant_a, premium_share=1.0)
    other = HashingEmbedder()
    other.model_id = "other/384"  # same vectors, another name: the router must not trust them
    with mock.patch("gateway.router_model.decision.get_embedder", return_value=other):
        response, trace = _call(tenant_a, HARD)
    assert response.model == "standard-a"
    assert "cannot score" in trace.routing["router"]["skipped"]
