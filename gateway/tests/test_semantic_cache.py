"""The semantic cache: guards (pure), and storage/lookup on real PostgreSQL+pgvector with the real
local embedder (all-MiniLM-L6-v2, loaded once per session)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from gateway.cache import (
    MAX_SEMANTIC_CHARS,
    CacheScope,
    cache_invalidate,
    cache_lookup,
    cache_purge_expired,
    cache_store,
    compare,
    decision,
    forget_cache_policy,
    guards,
    request_context_digest,
    request_text_for,
)
from gateway.cache.structure import align, parse
from gateway.models import SemanticCacheEntry, TenantPolicy
from tenants.context import tenant_scope

# ---- guards -----------------------------------------------------------------------------------
TRAPS = [
    ("How do I cancel my subscription?", "Don't cancel my subscription", "negation"),
    ("Use emojis in the post", "Never use emojis in the post", "negation"),
    ("Write a post with hashtags", "Write a post without hashtags", "negation"),
    ("Don't use emojis, add hashtags", "Use emojis, don't add hashtags", "negation"),
    ("Use emojis neste post", "Não use emojis neste post", "negation"),
    ("Escreva um post com hashtags", "Escreva um post sem hashtags", "negation"),
    ("Enable 2FA", "Disable 2FA", "antonym"),
    ("Turn 2FA on for my account", "Turn 2FA off for my account", "antonym"),
    ("Make the post more formal", "Make the post less formal", "antonym"),
    ("Add the link to the post", "Remove the link from the post", "antonym"),
    ("Publish before the event", "Publish after the event", "antonym"),
    ("Make the post less formal", "Write the post in a formal tone", "antonym"),
    ("Decrease the length of this post", "Make the post longer", "antonym"),
    ("Should we buy ads?", "Should we sell ads?", "antonym"),
    ("How do I subscribe to the newsletter?", "How do I unsubscribe from the newsletter?", "antonym"),
    (
        "Como ativar a autenticação em dois fatores?",
        "Como desativar a autenticação em dois fatores?",
        "antonym",
    ),
    ("Aumente o tom formal do post", "Diminua o tom formal do post", "antonym"),
    ("Write a post about Acme's results", "Write a post about Globex's results", "entity"),
    ("Compare HubSpot and Pipedrive", "Compare HubSpot and Salesforce", "entity"),
    ("Send the draft to ana@acme.com", "Send the draft to rui@acme.com", "entity"),
    ("Write a post for linkedin about the office", "Write a post for instagram about the office", "entity"),
    ("Give me 5 tips", "Give me 7 tips", "number"),
    ("Growth of 20%", "Growth of 30%", "number"),
    ("A price of $49", "A price of €49", "number"),
    ("Me dê 5 dicas", "Me dê 8 dicas", "number"),
    ("Results for Q3", "Results for Q4", "time"),
    ("Schedule it for Monday", "Schedule it for Friday", "time"),
    ("Agende o post para segunda-feira", "Agende o post para sexta-feira", "time"),
    ("Write a weekly update", "Write a monthly update", "time"),
    ("Summarize my team's goals", "Summarize my goals", "scope"),
    ("Cancel my subscription", "Cancel all subscriptions", "scope"),
    ("Write about my achievements", "Write about our achievements", "scope"),
    ("Summarize the last post", "Summarize the first post", "scope"),
    ("Resuma as metas da minha equipe", "Resuma as minhas metas", "scope"),
]

SAME_REQUEST = [
    ("How do I cancel my subscription?", "How can I cancel my subscription?"),
    ("How do I cancel my subscription?", "how do i cancle my subscripton"),
    ("Enable two-factor authentication", "Turn on two-factor authentication"),
    ("Write a post without hashtags", "Write a post with no hashtags"),
    ("Don't use emojis", "Do not use emojis"),
    ("Give me 5 tips for hooks", "Give me five tips for hooks"),
    ("Raise prices by 10%", "Raise prices by ten percent"),
    ("Write a LinkedIn post about Acme", "write a linkedin post about acme"),
    ("Write a post about mentorship", "Draft a LinkedIn post about mentorship"),
    ("Summarize the last week", "Summarize the past week"),
    ("Escreva um post no LinkedIn sobre liderança", "Crie um post para o LinkedIn sobre liderança"),
    ("Como cancelo minha assinatura?", "como cancelo minha assinatuara"),
    ("Write a post about our company values", "write a post about our compnay values"),
]


@pytest.mark.parametrize(("a", "b", "guard"), TRAPS)
def test_guards_refuse_each_kind_of_trap_and_say_why(a, b, guard):
    verdict = compare(a, b)
    assert not verdict.ok
    assert verdict.guard == guard
    assert verdict.reason
    assert compare(b, a).guard == guard  # symmetric


@pytest.mark.parametrize(("a", "b"), SAME_REQUEST)
def test_guards_let_paraphrases_and_typos_through(a, b):
    assert compare(a, b).ok, compare(a, b).reason


def test_guards_name_the_difference_in_the_reason():
    assert "acme" in compare("Post about Acme's Q3", "Post about Globex's Q3").reason
    assert "{5} vs {7}" in compare("Give me 5 tips", "Give me 7 tips").reason


def _near_duplicate(a: str, b: str) -> bool:
    return decision.near_duplicate(align(parse(a), parse(b)))


def test_near_duplicate_accepts_typos_but_not_a_different_topic():
    same = "Write a post about our company values"
    assert _near_duplicate(same, "wirte a post abuot our compnay values")
    assert not _near_duplicate(same, "Write a post about our company history")
    assert not _near_duplicate("Write a post", "Write a cost")
    assert not _near_duplicate("Make it formal", "Make it normal")


def test_a_near_duplicate_below_the_threshold_is_served_but_still_guarded():
    cached = "How do I cancel my subscription?"
    typo = "how do i cancle my subscripton"
    assert decision.decide(cached, typo, similarity=0.5, threshold=0.78).ok
    assert not decision.decide(cached, typo, similarity=0.2, threshold=0.78).ok  # below the floor
    paraphrase = "What's the way to end my subscription?"
    assert decision.decide(cached, paraphrase, similarity=0.5, threshold=0.78).guard == "similarity"
    assert decision.decide(cached, paraphrase, similarity=0.7, threshold=0.78).ok  # the verifier, below 0.78
    assert not decision.decide("Give me 5 tips", "Give me 7 tips", similarity=0.99, threshold=0.78).ok


def test_guards_take_well_under_a_millisecond_per_pair():
    pairs = [(a, b) for a, b, _ in TRAPS] + SAME_REQUEST
    rounds = []
    for _ in range(7):  # the best round: other processes on a busy machine only ever add time
        guards.analyze.cache_clear()
        started = time.perf_counter()
        for a, b in pairs:
            compare(a, b)
        rounds.append((time.perf_counter() - started) * 1000 / len(pairs))
    assert min(rounds) < 1.0  # about 0.2 ms per pair on an idle 2-core machine


# ---- store and lookup -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def embedder():
    from gateway.embeddings import get_embedder

    return get_embedder()  # the real local model, loaded once


@pytest.fixture(autouse=True)
def _fresh_policies():
    forget_cache_policy()
    yield
    forget_cache_policy()


def scope_of(tenant, **changes) -> CacheScope:
    fields = {
        "tenant_id": tenant.pk,
        "purpose": "critique",  # served semantically by default (posts only for identical requests)
        "prompt_version_id": 11,
        "model_class": "standard",
        "author_id": 5,
        "profile_version": 2,
    }
    return CacheScope(**(fields | changes))


def store(scope, text="How do I cancel my subscription?", answer="Go to Settings > Billing.", **fields):
    return cache_store(
        scope=scope,
        request_text=text,
        response_text=answer,
        model_alias="gpt-test",
        input_tokens=20,
        output_tokens=80,
        cost_micros=1500,
        **fields,
    )


def set_policy(tenant, **fields):
    with tenant_scope(tenant):
        TenantPolicy.objects.update_or_create(tenant=tenant, defaults=fields)
    forget_cache_policy(tenant.pk)


@pytest.mark.django_db
def test_a_paraphrase_in_the_same_scope_is_served_with_similarity_and_reason(tenant_a, embedder):
    entry = store(scope_of(tenant_a))
    lookup = cache_lookup(scope=scope_of(tenant_a), request_text="How can I cancel my subscription?")
    assert lookup
    assert lookup.hit.entry_id == entry.pk
    assert lookup.hit.response_text == "Go to Settings > Billing."
    assert lookup.hit.cost_saved_micros == 1500
    assert lookup.hit.similarity > 0.85
    record = lookup.trace_record()
    assert record["hit"] is True
    assert record["entry_id"] == entry.pk
    assert record["reason"].startswith("similarity ")  # and why it may be served
    entry.refresh_from_db()
    assert entry.hit_count == 1


@pytest.mark.django_db
def test_identical_text_stored_by_another_tenant_is_never_served(tenant_a, tenant_b, embedder):
    store(scope_of(tenant_b), answer="Tenant B's answer")
    lookup = cache_lookup(scope=scope_of(tenant_a), request_text="How do I cancel my subscription?")
    assert not lookup
    assert lookup.hit is None
    assert SemanticCacheEntry.objects.unscoped().filter(tenant=tenant_b).count() == 1


@pytest.mark.django_db
def test_entries_are_tenant_owned_rows(tenant_a, tenant_b, embedder):
    store(scope_of(tenant_a))
    store(scope_of(tenant_b))
    with tenant_scope(tenant_a):
        assert set(SemanticCacheEntry.objects.values_list("tenant_id", flat=True)) == {tenant_a.pk}


@pytest.mark.parametrize(
    "change",
    [
        {"purpose": "comment"},
        {"prompt_version_id": 12},
        {"prompt_version_id": None},
        {"author_id": 6},
        {"author_id": None},
        {"profile_version": 3},
        {"model_class": "premium"},
        {"context_digest": "another system prompt"},
    ],
)
@pytest.mark.django_db
def test_a_different_scope_misses(tenant_a, embedder, change):
    store(scope_of(tenant_a))
    assert not cache_lookup(
        scope=scope_of(tenant_a, **change), request_text="How do I cancel my subscription?"
    )


@pytest.mark.django_db
def test_a_trap_is_refused_and_the_miss_says_which_guard(tenant_a, embedder):
    store(scope_of(tenant_a))
    lookup = cache_lookup(scope=scope_of(tenant_a), request_text="Don't cancel my subscription")
    assert not lookup
    assert lookup.reason.startswith("negation guard")
    assert lookup.best_similarity > 0.8  # what plain cosine similarity would have served
    assert lookup.trace_record()["refused"][0]["guard"] == "negation"
    assert lookup.embedding is not None
    assert len(lookup.embedding) == embedder.dimensions


@pytest.mark.django_db
def test_an_expired_entry_is_not_served_and_is_purged(tenant_a, embedder):
    entry = store(scope_of(tenant_a), ttl_seconds=60)
    SemanticCacheEntry.objects.unscoped().filter(pk=entry.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert not cache_lookup(scope=scope_of(tenant_a), request_text="How do I cancel my subscription?")
    assert cache_purge_expired() == 1


@pytest.mark.django_db
def test_time_to_live_comes_from_the_tenant_policy(tenant_a, embedder):
    set_policy(tenant_a, cache_ttl_seconds=120)
    entry = store(scope_of(tenant_a))
    assert timedelta(seconds=100) < entry.expires_at - timezone.now() <= timedelta(seconds=120)


@pytest.mark.django_db
def test_invalidating_a_prompt_version_or_an_author_forgets_their_entries(tenant_a, tenant_b, embedder):
    store(scope_of(tenant_a, prompt_version_id=11))
    store(scope_of(tenant_a, prompt_version_id=12, author_id=9))
    store(scope_of(tenant_b, prompt_version_id=11))
    assert cache_invalidate(tenant_id=tenant_a.pk, prompt_version_id=11) == 1
    assert cache_invalidate(tenant_id=tenant_a.pk, author_id=9) == 1
    assert not cache_lookup(scope=scope_of(tenant_a), request_text="How do I cancel my subscription?")
    assert SemanticCacheEntry.objects.unscoped().filter(tenant=tenant_b).count() == 1  # other tenant kept
    with pytest.raises(ValueError, match="Say what to invalidate"):
        cache_invalidate(tenant_id=tenant_a.pk)


@pytest.mark.django_db
def test_the_threshold_is_per_tenant(tenant_a, tenant_b, embedder):
    # The verifier is asked from `threshold - gate` (0.25 below): 1.0 asks it from 0.75, 0.80 from 0.55.
    set_policy(tenant_a, cache_threshold=1.0)
    set_policy(tenant_b, cache_threshold=0.80)
    for tenant in (tenant_a, tenant_b):
        store(scope_of(tenant), text="Give me feedback on this post")
    paraphrase = "What do you think of this post? Any feedback?"  # similarity 0.645
    assert not cache_lookup(scope=scope_of(tenant_a), request_text=paraphrase)
    assert cache_lookup(scope=scope_of(tenant_b), request_text=paraphrase)
    assert cache_lookup(scope=scope_of(tenant_a), request_text=paraphrase, threshold=0.8)  # explicit override


@pytest.mark.django_db
def test_a_tenant_that_opted_out_neither_stores_nor_hits(tenant_a, embedder):
    store(scope_of(tenant_a))
    set_policy(tenant_a, cache_enabled=False)
    lookup = cache_lookup(scope=scope_of(tenant_a), request_text="How do I cancel my subscription?")
    assert not lookup
    assert lookup.reason == "cache disabled for this tenant"
    assert store(scope_of(tenant_a), text="Another request") is None


@pytest.mark.django_db
def test_an_exact_repeat_hits_without_embedding_and_replaces_on_store(tenant_a, embedder, monkeypatch):
    store(scope_of(tenant_a), answer="first")
    store(scope_of(tenant_a), answer="second")
    assert SemanticCacheEntry.objects.unscoped().filter(tenant=tenant_a).count() == 1
    monkeypatch.setattr(type(embedder), "embed", lambda *_: pytest.fail("an exact repeat needs no embedding"))
    lookup = cache_lookup(scope=scope_of(tenant_a), request_text="how do I  cancel my subscription?")
    assert lookup.hit.response_text == "second"
    assert lookup.hit.similarity == 1.0


@pytest.mark.django_db
def test_long_requests_hit_only_on_identical_text(tenant_a, embedder):
    long_text = "Critique this draft: " + "We help B2B teams write better posts. " * 40
    assert len(long_text) > MAX_SEMANTIC_CHARS
    store(scope_of(tenant_a), text=long_text)
    assert cache_lookup(scope=scope_of(tenant_a), request_text=long_text)
    assert not cache_lookup(scope=scope_of(tenant_a), request_text=long_text + " Also mention Globex.")


@pytest.mark.django_db
def test_the_embedding_of_a_miss_is_reused_for_the_store(tenant_a, embedder):
    lookup = cache_lookup(scope=scope_of(tenant_a), request_text="Write a post about mentorship")
    assert not lookup
    entry = store(scope_of(tenant_a), text="Write a post about mentorship", embedding=lookup.embedding)
    assert list(entry.embedding) == pytest.approx(lookup.embedding)
    assert entry.embedding_model == embedder.model_id


def test_request_text_is_the_user_messages_and_context_digest_covers_the_rest():
    messages = [
        {"role": "system", "content": "You write in Ana's voice."},
        {"role": "user", "content": "  Write a post\n\n about   mentorship "},
    ]
    assert request_text_for(messages) == "Write a post\nabout mentorship"
    base = request_context_digest(messages)
    other_system = [{"role": "system", "content": "You write in Rui's voice."}, messages[1]]
    assert request_context_digest(other_system) != base
    assert request_context_digest(
        messages, redaction_mapping={"[EMAIL_1]": "a@x.com"}
    ) != request_context_digest(messages, redaction_mapping={"[EMAIL_1]": "b@x.com"})
    assert request_context_digest(messages, max_tokens=100) != base
