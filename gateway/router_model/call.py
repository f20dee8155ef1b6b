"""The learned router inside one gateway call (gateway/core.py `Call._route`).

    skip = skip_reason(config, ...)         # None: the router decides this call's tier
    text = router_text(messages)            # once; its embedding is the cache's when the texts are equal
    verdict = verdict_for_call(config, text=text, embedding=shared_embedding(text, ...), ...)
    record = trace_record(config, verdict)  # routing["router"] in the trace

In "shadow" mode the verdict is recorded and the rules route; in "share" and "quality" modes the
verdict picks between the cheaper tier and premium (gateway/routing.py). A router that cannot score
(another embedding model, an embedding error) never fails the call: the rules route, the trace says why.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gateway.embeddings import EmbeddingError
from gateway.router_model.decision import RouterUnavailableError, RouterVerdict, score_request
from gateway.router_model.store import RouterConfig, loaded_router

logger = logging.getLogger("maestro.gateway")


def skip_reason(
    config: RouterConfig | None,
    *,
    requested: str | None,
    complexity: str | None,
    purpose: str,
    default_tiers: dict[str, str],
) -> str | None:
    if config is None:
        return "off"
    if requested:
        return "model or tier requested by the caller"
    if complexity:
        return "complexity given by the caller"
    if purpose in default_tiers:
        return f"tenant default tier for {purpose}"
    return None


def shared_embedding(
    text: str, *, cache_text: str | None, cache_embedding: Sequence[float] | None
) -> Sequence[float] | None:
    """The cache lookup's embedding when it embedded exactly the router's text (one user message)."""
    if cache_embedding is None or cache_text is None:
        return None
    return cache_embedding if text == cache_text else None


def verdict_for_call(
    config: RouterConfig, *, text: str, purpose: str, embedding: Sequence[float] | None
) -> RouterVerdict | str:
    """The verdict, or why there is none. `text` is `router_text(messages)`. Embeds when `embedding` is
    None (then call it off the event loop)."""
    try:
        loaded = loaded_router(config.artefact_id, config.version)
        return score_request(
            loaded.model,
            messages=(),
            purpose=purpose,
            threshold=config.threshold,
            embedding=embedding,
            text=text,
        )
    except (RouterUnavailableError, EmbeddingError) as exc:
        logger.warning("learned router skipped: %s", exc)
        return f"cannot score: {exc}"


def trace_record(config: RouterConfig | None, outcome: RouterVerdict | str | None) -> dict:
    if config is None:
        return {}
    record: dict = {"mode": config.mode, "version": config.version, "acted": False}
    if isinstance(outcome, RouterVerdict):
        record |= outcome.as_dict()
        record["acted"] = config.acts
        record["calibration"] = config.calibration.get("source", "")
    elif outcome:
        record["skipped"] = outcome
    return record
