"""Drafting a style card from sample posts always ends with a usable card or a clear error: the
answer is constrained to a JSON schema, a broken one gets one repair call, and what the samples
show for certain (length, emoji, hashtags) is measured on them. Real gateway, fake provider."""

from __future__ import annotations

import json
import uuid

import pytest

from authors import services as authors
from authors.tests.factories import make_author
from authors.tests.test_authors import CARD, POSTS
from gateway.catalog import forget_catalog
from gateway.tests.gateway_support import register_fake_models
from prompts.services import prompt_defaults_install
from tenants.context import cross_tenant_access, tenant_scope
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(settings, tenant_a, fake_provider):
    settings.MAESTRO_GATEWAY = {"key_prefix": f"test-cards-{uuid.uuid4().hex[:10]}"}
    with cross_tenant_access("tests: Maestro's default prompts"):
        prompt_defaults_install()
    register_fake_models(tenant_a, fake_provider.base_url, cache_enabled=False)
    yield fake_provider
    forget_catalog()


def _extract(tenant, author):
    with tenant_scope(tenant):
        return authors.style_card_extract(tenant=tenant, author=author, samples=POSTS, user=None)


def test_the_request_asks_for_the_style_card_schema(tenant_a, ready):
    ready.set_behaviour(Behaviour(text=json.dumps(CARD)))
    extracted = _extract(tenant_a, make_author(tenant=tenant_a))
    assert extracted.card["tone"] == CARD["tone"]
    (sent,) = ready.requests()
    response_format = sent.body["response_format"]
    assert response_format["json_schema"]["name"] == "style_card"
    assert response_format["json_schema"]["schema"] == authors.STYLE_CARD_SCHEMA
    assert sent.body["max_tokens"] >= authors.STYLE_CARD_MAX_TOKENS


def test_a_server_that_constrains_decoding_gives_a_card_even_from_a_rambling_model(tenant_a, ready):
    ready.set_behaviour(Behaviour(text="The author writes in a nice way, I think.", constrained=True))
    extracted = _extract(tenant_a, make_author(tenant=tenant_a))
    assert extracted.card["tone"]  # parsed at the first call
    assert len(ready.requests()) == 1


def test_a_broken_answer_is_repaired_by_a_second_call(tenant_a, ready):
    ready.enqueue(Behaviour(text='{"tone": "Candid, short'), Behaviour(text=json.dumps(CARD)))
    extracted = _extract(tenant_a, make_author(tenant=tenant_a))
    assert extracted.card["banned_phrases"] == ["Agree?"]
    assert any("repair call" in warning for warning in extracted.warnings)
    _first, repair = ready.requests()
    assert '{"tone": "Candid, short' in repair.body["messages"][1]["content"]
    assert repair.body["response_format"]["json_schema"]["name"] == "style_card"


def test_two_unusable_answers_are_a_clear_error_that_keeps_both(tenant_a, ready):
    ready.enqueue(Behaviour(text="As an AI I cannot"), Behaviour(text="Still not JSON"))
    with pytest.raises(authors.StyleExtractionError) as caught:
        _extract(tenant_a, make_author(tenant=tenant_a))
    assert "A repair call did not give a usable one either" in caught.value.message
    assert "As an AI I cannot" in caught.value.raw_answer
    assert "Still not JSON" in caught.value.raw_answer


def test_a_missing_or_implausible_length_is_measured_on_the_samples(tenant_a, ready):
    card = {**CARD, "formatting": {"length": "lorem ipsum", "paragraphs": "short"}}
    ready.set_behaviour(Behaviour(text=json.dumps(card)))
    extracted = _extract(tenant_a, make_author(tenant=tenant_a))
    counts = [len(post.split()) for post in POSTS]
    low, high = (int(n) for n in extracted.card["formatting"]["length"].removesuffix(" words").split("-"))
    assert low <= min(counts)
    assert high >= max(counts)
    assert extracted.card["formatting"]["emoji"] == "none"  # none of the samples uses one
    assert any("measured on the samples" in warning for warning in extracted.warnings)


def test_a_plausible_length_from_the_model_is_kept():
    extracted = authors.ExtractedStyleCard(card={"formatting": {"length": "120-200 words"}})
    authors._apply_measurements(extracted, POSTS)
    assert extracted.card["formatting"]["length"] == "120-200 words"
