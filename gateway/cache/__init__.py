"""The gateway's semantic cache: an earlier answer served again, at zero cost, to a request of the same
tenant and scope that asks the same thing in other words.

Intended call sequence in the gateway (the functions are sync: call them through `sync_to_async`):

    request_text = request_text_for(outgoing_messages)          # user-role text, after redaction
    scope = CacheScope(
        tenant_id=tenant.pk, purpose=request.purpose, prompt_version_id=..., model_class=request.model or "",
        author_id=request.author_id, profile_version=...,
        context_digest=request_context_digest(outgoing_messages, redaction_mapping=mapping,
                                              max_tokens=request.max_tokens, temperature=request.temperature),
    )
    lookup = cache_lookup(scope=scope, request_text=request_text)   # before routing; honours opt-out
                                      # and the tenant's mode for the purpose (policy.py); skipped
                                      # when the request says cache_read=False
    if lookup:                        # a hit: no provider call, no budget, cost 0
        answer = lookup.hit.response_text
        # trace: cache_hit=True, cost_micros=0, routing["cache"] = lookup.trace_record()
        #        (entry id, similarity, why it was allowed)
    else:                             # a miss: route and call as usual; trace routing["cache"] too
        ...
        if call succeeded:
            cache_store(scope=scope, request_text=request_text, response_text=text, model_alias=alias,
                        input_tokens=..., output_tokens=..., cost_micros=spent, embedding=lookup.embedding)

When a prompt version or an author's style profile changes, call
`cache_invalidate(tenant_id=..., prompt_version_id=...)` or `cache_invalidate(tenant_id=..., author_id=...)`.
Stale entries could not match anyway (the scope holds both versions); invalidation frees them at once.

Whether a cached request may answer a new one is `decision.decide` (refusals, near duplicates, then
the verifier). What is compared: the user-role messages only, joined by newlines. Everything else that
shapes the answer
(system prompt, earlier turns, the values behind redaction placeholders, max_tokens, temperature) goes into
`context_digest`, which is part of the exact scope. Requests longer than `MAX_SEMANTIC_CHARS` hit only on
identical text: the embedding model reads just their beginning. See docs/semantic-cache.md.
"""

from gateway.cache.decision import Decision, decide
from gateway.cache.guards import Verdict, compare
from gateway.cache.store import (
    MAX_SEMANTIC_CHARS,
    CacheHit,
    CacheLookup,
    CachePolicy,
    CacheScope,
    Refusal,
    cache_count_hit,
    cache_invalidate,
    cache_lookup,
    cache_policy,
    cache_purge_expired,
    cache_store,
    embed_request,
    forget_cache_policy,
    request_context_digest,
    request_text_for,
)

__all__ = [
    "MAX_SEMANTIC_CHARS",
    "CacheHit",
    "CacheLookup",
    "CachePolicy",
    "CacheScope",
    "Decision",
    "Refusal",
    "Verdict",
    "cache_count_hit",
    "cache_invalidate",
    "cache_lookup",
    "cache_policy",
    "cache_purge_expired",
    "cache_store",
    "compare",
    "decide",
    "embed_request",
    "forget_cache_policy",
    "request_context_digest",
    "request_text_for",
]
