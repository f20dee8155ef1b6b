"""Storage and lookup of the semantic cache (sync: the gateway calls these through sync_to_async).

A lookup embeds the request once, asks PostgreSQL for the nearest live entries of exactly the same
tenant and scope (explicit `tenant_id` and `scope_hash` filters: vector searches do not pass through the
scoped manager), and walks them nearest first through `decision.decide`. The first candidate it accepts
is the hit; otherwise the miss carries the best candidate and why it was refused, for the trace.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import F
from django.utils import timezone
from pgvector.django import CosineDistance

from gateway.cache import policy as cache_modes
from gateway.cache.decision import decide, floor
from gateway.embeddings import get_embedder
from gateway.models import SemanticCacheEntry, TenantPolicy

TOP_K = 10
# all-MiniLM-L6-v2 reads 256 word pieces (about 1,000 characters) and ignores the rest: two long
# requests that differ after that point would embed identically. Longer requests only hit on exact text.
MAX_SEMANTIC_CHARS = 1000
POLICY_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class CacheScope:
    """Everything besides the request text that decides the answer. Entries of different scopes never
    meet: the lookup filters on `scope_hash` exactly.

    `context_digest` covers what the caller sends besides the user's words (system prompt, earlier
    turns, redacted values, max_tokens...): build it with `request_context_digest`.
    """

    tenant_id: int
    purpose: str
    prompt_version_id: int | None = None
    model_class: str = ""  # the tier or alias the caller asked for ("" = routed by the gateway)
    author_id: int | None = None
    profile_version: int | None = None
    context_digest: str = ""

    def digest(self, embedding_model: str) -> str:
        fields = [
            self.tenant_id,
            self.purpose,
            self.prompt_version_id,
            self.model_class,
            self.author_id,
            self.profile_version,
            self.context_digest,
            embedding_model,
        ]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


@dataclass(frozen=True)
class CachePolicy:
    enabled: bool = True
    threshold: float = 0.78  # TenantPolicy.cache_threshold's default
    ttl_seconds: int = 7 * 24 * 3600
    modes: dict[str, str] = field(default_factory=dict)  # purpose -> off/exact/semantic (policy.py)

    def mode(self, purpose: str) -> str:
        return cache_modes.mode_for(purpose, self.modes) if self.enabled else cache_modes.OFF


@dataclass(frozen=True)
class CacheHit:
    entry_id: int
    response_text: str
    model_alias: str
    similarity: float
    input_tokens: int
    output_tokens: int
    cost_saved_micros: int
    reason: str  # why it may be served, for the trace


@dataclass(frozen=True)
class Refusal:
    entry_id: int
    similarity: float
    guard: str
    reason: str


@dataclass
class CacheLookup:
    """The outcome of one lookup. Truthy on a hit. `embedding` is reused by `cache_store` after a miss."""

    hit: CacheHit | None = None
    reason: str = ""  # on a miss: disabled, no candidate above the threshold, or the guard's refusal
    best_similarity: float | None = None
    refusals: list[Refusal] = field(default_factory=list)
    embedding: list[float] | None = None
    elapsed_ms: float = 0.0

    def __bool__(self) -> bool:
        return self.hit is not None

    def trace_record(self) -> dict:
        """What the trace keeps about the lookup (no text: the trace has its own prompt fields)."""
        record: dict = {"hit": self.hit is not None, "elapsed_ms": round(self.elapsed_ms, 2)}
        if self.hit:
            record |= {
                "entry_id": self.hit.entry_id,
                "similarity": round(self.hit.similarity, 4),
                "reason": self.hit.reason,
            }
        else:
            record |= {"reason": self.reason, "best_similarity": _round(self.best_similarity)}
            record["refused"] = [
                {
                    "entry_id": r.entry_id,
                    "similarity": round(r.similarity, 4),
                    "guard": r.guard,
                    "why": r.reason,
                }
                for r in self.refusals
            ]
        return record


# ---- request text and context -------------------------------------------------------------------
def request_text_for(messages) -> str:
    """The text a request is compared on: the user-role messages (after redaction, if the tenant
    redacts), joined by newlines, with runs of whitespace collapsed. System prompts and earlier
    assistant turns belong in `request_context_digest`, not here."""
    text = "\n".join(_content(m) for m in messages if _role(m) == "user")
    return re.sub(r"[ \t]+", " ", re.sub(r"\s*\n\s*", "\n", text)).strip()


def request_context_digest(messages, *, redaction_mapping: dict[str, str] | None = None, **params) -> str:
    """A digest of everything but the user's words: non-user messages, the values behind redaction
    placeholders (two requests about different e-mail addresses both read "[EMAIL_1]" once redacted)
    and call parameters that change the answer (max_tokens, temperature, response format...)."""
    context = {
        "messages": [[_role(m), _content(m)] for m in messages if _role(m) != "user"],
        "redacted": sorted((redaction_mapping or {}).items()),
        "params": sorted((k, str(v)) for k, v in params.items() if v is not None),
    }
    return hashlib.sha256(json.dumps(context).encode()).hexdigest()[:32]


def _role(message) -> str:
    return message["role"] if isinstance(message, dict) else message.role


def _content(message) -> str:
    return message["content"] if isinstance(message, dict) else message.content


def _request_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


# ---- policy -------------------------------------------------------------------------------------
_policies: dict[int, tuple[float, CachePolicy]] = {}
_policies_lock = threading.Lock()


def cache_policy(tenant_id: int) -> CachePolicy:
    """The tenant's cache settings, read from its TenantPolicy and kept for a few seconds."""
    cached = _policies.get(tenant_id)
    if cached and time.monotonic() - cached[0] < POLICY_CACHE_SECONDS:
        return cached[1]
    # Explicit tenant filter: the gateway's thread has no tenant scope, and this reads one row.
    row = (
        TenantPolicy.objects.unscoped()
        .filter(tenant_id=tenant_id)
        .values("cache_enabled", "cache_threshold", "cache_ttl_seconds", "cache_modes")
        .first()
    )
    policy = (
        CachePolicy(
            row["cache_enabled"], row["cache_threshold"], row["cache_ttl_seconds"], row["cache_modes"] or {}
        )
        if row
        else CachePolicy()
    )
    with _policies_lock:
        _policies[tenant_id] = (time.monotonic(), policy)
    return policy


def forget_cache_policy(tenant_id: int | None = None) -> None:
    """Drop remembered policies (after an admin edits one)."""
    with _policies_lock:
        if tenant_id is None:
            _policies.clear()
        else:
            _policies.pop(tenant_id, None)


# ---- embedding ----------------------------------------------------------------------------------
def _embedder():
    return get_embedder()


_vectors: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
_vectors_lock = threading.Lock()
VECTOR_MEMO_SIZE = 2048


def embed_request(text: str) -> list[float]:
    """The request's vector, remembered per process for the last VECTOR_MEMO_SIZE texts: a request
    asked again (a retry, the same step of another run) skips the model, which is most of a lookup's
    time. Pass it to `cache_lookup` and, after a miss, to `cache_store`."""
    embedder = _embedder()
    key = (embedder.model_id, text)
    with _vectors_lock:
        vector = _vectors.get(key)
        if vector is not None:
            _vectors.move_to_end(key)
            return vector
    vector = embedder.embed([text])[0]
    with _vectors_lock:
        _vectors[key] = vector
        while len(_vectors) > VECTOR_MEMO_SIZE:
            _vectors.popitem(last=False)
    return vector


# ---- lookup -------------------------------------------------------------------------------------
def cache_lookup(
    *,
    scope: CacheScope,
    request_text: str,
    threshold: float | None = None,
    embedding: list[float] | None = None,
    top_k: int = TOP_K,
    count_hit: bool = True,
) -> CacheLookup:
    """Find an answer to an equivalent earlier request of the same tenant and scope.

    `threshold` overrides the tenant's `cache_threshold`; a tenant that opted out never hits, and the
    tenant's mode for the scope's purpose (policy.py) says whether other wordings may hit. The gateway
    passes `count_hit=False` and calls `cache_count_hit` after the answer is out: the count is
    bookkeeping, not part of the lookup's latency.
    """
    started = time.perf_counter()
    policy = cache_policy(scope.tenant_id)
    mode = policy.mode(scope.purpose)
    if mode == cache_modes.OFF:
        why = "cache disabled for this tenant" if not policy.enabled else f"cache off for {scope.purpose!r}"
        return CacheLookup(reason=why, embedding=embedding)
    threshold = policy.threshold if threshold is None else threshold
    embedder = _embedder()
    scope_hash = scope.digest(embedder.model_id)
    live = _live_entries(scope, scope_hash)
    # Exact repeats first: no embedding needed, and the only way long requests ever hit.
    lookup = _exact_lookup(live, request_text)
    if not lookup and len(request_text) <= MAX_SEMANTIC_CHARS:
        # Embedded on a miss in both modes: the store after the call needs the vector anyway.
        if embedding is None:
            embedding = embed_request(request_text)
        if mode == cache_modes.EXACT:
            lookup.reason = f"no identical request; {scope.purpose!r} is cached for exact repeats only"
        else:
            lookup = _nearest_lookup(live, request_text, embedding, threshold, top_k)
    lookup.embedding = embedding
    if lookup.hit and count_hit:
        cache_count_hit(lookup.hit.entry_id)
    lookup.elapsed_ms = (time.perf_counter() - started) * 1000
    return lookup


def cache_count_hit(entry_id: int) -> None:
    """One more answer served from this entry (the console's hit counts)."""
    SemanticCacheEntry.objects.unscoped().filter(pk=entry_id).update(hit_count=F("hit_count") + 1)


def _live_entries(scope: CacheScope, scope_hash: str):
    # Explicit tenant filter (vector searches bypass the scoped manager), then the exact scope.
    return (
        SemanticCacheEntry.objects.unscoped()
        .filter(tenant_id=scope.tenant_id, scope_hash=scope_hash, expires_at__gt=timezone.now())
        .only(
            "id",
            "request_text",
            "response_text",
            "model_alias",
            "input_tokens",
            "output_tokens",
            "cost_saved_micros",
        )
    )


def _exact_lookup(live, request_text: str) -> CacheLookup:
    entry = live.filter(request_hash=_request_hash(request_text)).order_by("-created_at").first()
    if entry is None:
        return CacheLookup(
            reason=f"no identical request; longer than {MAX_SEMANTIC_CHARS} characters: exact only"
        )
    return CacheLookup(hit=_hit(entry, 1.0, "identical request"), best_similarity=1.0)


def _nearest_lookup(live, request_text: str, embedding, threshold: float, top_k: int) -> CacheLookup:
    # Down to the decision's floor: a request with typos can embed far from its original and still
    # be served when its words align up to typos (decision.decide).
    lowest = floor(threshold)
    candidates = list(
        live.annotate(distance=CosineDistance("embedding", embedding))
        .filter(distance__lte=1 - lowest)
        .order_by("distance")[:top_k]
    )
    if not candidates:
        return CacheLookup(reason=f"no earlier request of this scope within similarity {lowest:.2f}")
    refusals: list[Refusal] = []
    for entry in candidates:
        similarity = 1 - entry.distance
        verdict = decide(entry.request_text, request_text, similarity=similarity, threshold=threshold)
        if verdict.ok:
            return CacheLookup(
                hit=_hit(entry, similarity, verdict.reason),
                best_similarity=1 - candidates[0].distance,
                refusals=refusals,
            )
        refusals.append(Refusal(entry.pk, similarity, verdict.guard, verdict.reason))
    first = refusals[0]
    return CacheLookup(
        reason=f"{first.guard} guard: {first.reason}", best_similarity=first.similarity, refusals=refusals
    )


def _hit(entry: SemanticCacheEntry, similarity: float, reason: str) -> CacheHit:
    return CacheHit(
        entry_id=entry.pk,
        response_text=entry.response_text,
        model_alias=entry.model_alias,
        similarity=similarity,
        input_tokens=entry.input_tokens,
        output_tokens=entry.output_tokens,
        cost_saved_micros=entry.cost_saved_micros,
        reason=reason,
    )


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


# ---- store and invalidate -----------------------------------------------------------------------
def cache_store(
    *,
    scope: CacheScope,
    request_text: str,
    response_text: str,
    model_alias: str,
    input_tokens: int,
    output_tokens: int,
    cost_micros: int,
    ttl_seconds: int | None = None,
    embedding: list[float] | None = None,
) -> SemanticCacheEntry | None:
    """Keep a successful answer for later equivalent requests (None when the tenant opted out, or its
    mode for the purpose is off).

    The same request text in the same scope replaces the earlier entry instead of piling up copies.
    """
    policy = cache_policy(scope.tenant_id)
    if policy.mode(scope.purpose) == cache_modes.OFF or not response_text:
        return None
    embedder = _embedder()
    if embedding is None:
        embedding = embed_request(request_text)
    scope_hash = scope.digest(embedder.model_id)
    request_hash = _request_hash(request_text)
    ttl = policy.ttl_seconds if ttl_seconds is None else ttl_seconds
    manager = SemanticCacheEntry.objects.unscoped()
    # Explicit tenant filter: the gateway's thread has no tenant scope.
    manager.filter(tenant_id=scope.tenant_id, scope_hash=scope_hash, request_hash=request_hash).delete()
    entry = SemanticCacheEntry(
        tenant_id=scope.tenant_id,
        purpose=scope.purpose,
        prompt_version_id=scope.prompt_version_id,
        model_class=scope.model_class,
        author_id=scope.author_id,
        profile_version=scope.profile_version,
        scope_hash=scope_hash,
        request_text=request_text,
        request_hash=request_hash,
        embedding=embedding,
        embedding_model=embedder.model_id,
        response_text=response_text,
        model_alias=model_alias,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_saved_micros=cost_micros,
        expires_at=timezone.now() + timedelta(seconds=ttl),
    )
    entry.save()  # tenant set explicitly; save() still refuses if another tenant's scope is active
    return entry


def cache_invalidate(
    *,
    tenant_id: int,
    prompt_version_id: int | None = None,
    author_id: int | None = None,
    everything: bool = False,
) -> int:
    """Forget a tenant's entries for a prompt version, for an author (their style profile changed), or
    all of them (`everything=True`). Returns how many were deleted.

    The scope already includes prompt and profile versions, so stale entries could never match; this
    frees the space at once and covers changes that keep the version numbers (an edited author).
    """
    if prompt_version_id is None and author_id is None and not everything:
        raise ValueError("Say what to invalidate: prompt_version_id, author_id or everything=True.")
    entries = SemanticCacheEntry.objects.unscoped().filter(tenant_id=tenant_id)
    if prompt_version_id is not None:
        entries = entries.filter(prompt_version_id=prompt_version_id)
    if author_id is not None:
        entries = entries.filter(author_id=author_id)
    deleted, _ = entries.delete()
    return deleted


def cache_purge_expired() -> int:
    """Delete expired entries of every tenant (a periodic task: expiry is already enforced by lookups)."""
    # Cross-tenant on purpose: housekeeping that reads no content and deletes only expired rows.
    deleted, _ = SemanticCacheEntry.objects.unscoped().filter(expires_at__lte=timezone.now()).delete()
    return deleted
