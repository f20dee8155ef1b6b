"""Which requests the cache may answer, per purpose.

    off        never looked up, never stored
    exact      served only for the identical request text (same scope)
    semantic   identical text, or another wording that `decision.decide` accepts

Deterministic work (extraction, classification, style extraction, critique) gives the same answer to
the same question: served semantically by default. Creative writing (posts, articles, revisions,
series plans) is served for identical requests only (a client's retry): another wording of a brief
is another post. Asking again on purpose is not a repeat: a run that regenerates, the same brief run
again for the same author, and a reviewer's request for changes send `cache_read=False`. Comments,
replies, chat and other API calls keep the semantic cache. A tenant changes any of these in the console
(TenantPolicy.cache_modes); a request marked `cache_read=False` is never served from the cache,
whatever the mode.
"""

from __future__ import annotations

OFF, EXACT, SEMANTIC = "off", "exact", "semantic"
MODES = (OFF, EXACT, SEMANTIC)
MODE_LABELS = {OFF: "Off", EXACT: "Exact repeats only", SEMANTIC: "Semantic (same request, other words)"}

CREATIVE_PURPOSES = ("post", "article", "revise", "series_plan")
DETERMINISTIC_PURPOSES = ("extraction", "classification", "style_extraction", "critique")
DEFAULT_MODES = {
    **dict.fromkeys(CREATIVE_PURPOSES, EXACT),
    **dict.fromkeys(DETERMINISTIC_PURPOSES, SEMANTIC),
}
# Purposes not named above (chat and other API calls) keep the cache as it always was.
OTHER_PURPOSES_MODE = SEMANTIC
# The purposes the console lists, in this order.
PURPOSES = DETERMINISTIC_PURPOSES + CREATIVE_PURPOSES


def mode_for(purpose: str, modes: dict[str, str] | None) -> str:
    """The tenant's mode for `purpose`: its own setting, else the default."""
    chosen = (modes or {}).get(purpose)
    if chosen in MODES:
        return chosen
    return DEFAULT_MODES.get(purpose, OTHER_PURPOSES_MODE)


def clean_modes(modes: object) -> dict[str, str]:
    """A tenant's modes as stored: a dict of known purposes to known modes (ValueError otherwise)."""
    if not isinstance(modes, dict):
        raise ValueError("Cache modes must map purposes to off, exact or semantic.")
    wrong = {str(k): v for k, v in modes.items() if v not in MODES}
    if wrong:
        raise ValueError(f"Unknown cache mode for {', '.join(sorted(wrong))}: use off, exact or semantic.")
    return {str(k): str(v) for k, v in modes.items()}
