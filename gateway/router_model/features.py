"""What the learned router reads from a request: its text, its embedding and a few cheap features.

One definition for every caller — the gateway's call path, `router_eval`, training and the bench —
so a figure measured offline is a figure of the decision the gateway makes.

The router reads the *first user turn*: in Maestro's flows that is the rendered request (the system
prompt is the same for every call of a purpose and says nothing about this one's difficulty), and a
multi-turn conversation is routed on what it opened with. The text is normalised exactly as the
semantic cache normalises its request text, so a call with one user message embeds once for both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gateway.cache import request_text_for

# The purposes the gateway knows (routing.PURPOSE_COMPLEXITY) and "chat" for everything else,
# including public labels (MMLU) and `/v1` calls. A tenant's labels teach the weight of each.
PURPOSES = (
    "chat",
    "comment",
    "reply",
    "extraction",
    "style_extraction",
    "critique",
    "classification",
    "post",
    "revise",
    "series_plan",
    "article",
)
CHEAP_FEATURES = ("log_chars", "log_words", "log_lines", "digit_share", "symbol_share", "log_questions")
FEATURE_NAMES = CHEAP_FEATURES + tuple(f"purpose={p}" for p in PURPOSES)
SYMBOLS = "=+-*/^<>()[]{}|\\$%_"
DIGITS = "0123456789"


def router_text(messages: Sequence[object]) -> str:
    """The text the router scores: the first user message, whitespace-normalised like the cache's."""
    for message in messages:
        role = message["role"] if isinstance(message, dict) else getattr(message, "role", "")
        if role == "user":
            return request_text_for([message])
    return ""


def messages_for_labels(prompt: str = "", turns: Sequence[object] | None = None) -> list[dict]:
    """A labelled example as the messages a gateway call would carry (router_eval's JSONL lines).

    `turns` may be strings (each a user turn, as in MT-Bench) or `{"role", "content"}` objects.
    """
    if not turns:
        return [{"role": "user", "content": prompt}]
    messages = []
    for turn in turns:
        if isinstance(turn, dict):
            messages.append({"role": str(turn.get("role", "user")), "content": str(turn.get("content", ""))})
        else:
            messages.append({"role": "user", "content": str(turn)})
    return messages


def purpose_key(purpose: str) -> str:
    return purpose if purpose in PURPOSES else "chat"


def cheap_features(text: str, purpose: str) -> list[float]:
    """Length, shape and purpose: microseconds, no model (str.count runs in C)."""
    chars = len(text)
    digits = sum(map(text.count, DIGITS))
    symbols = sum(map(text.count, SYMBOLS))
    values = [
        math.log1p(chars),
        math.log1p(len(text.split())),
        math.log1p(text.count("\n")),
        digits / chars if chars else 0.0,
        symbols / chars if chars else 0.0,
        math.log1p(text.count("?")),
    ]
    key = purpose_key(purpose)
    return values + [1.0 if p == key else 0.0 for p in PURPOSES]


@dataclass(frozen=True)
class RequestFeatures:
    """One request as the router sees it; `vector` is what the model's heads read."""

    text: str
    purpose: str
    vector: np.ndarray  # float64: [embedding..., cheap features...]

    @property
    def chars(self) -> int:
        return len(self.text)


def request_features(*, text: str, purpose: str, embedding: Sequence[float]) -> RequestFeatures:
    vector = np.concatenate(
        [np.asarray(embedding, dtype=np.float64), np.asarray(cheap_features(text, purpose), dtype=np.float64)]
    )
    return RequestFeatures(text=text, purpose=purpose_key(purpose), vector=vector)


def feature_matrix(texts: Sequence[str], purposes: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
    """Many requests at once for training: row i equals `request_features(...)[i].vector`."""
    cheap = np.asarray(
        [cheap_features(t, p) for t, p in zip(texts, purposes, strict=True)], dtype=np.float64
    ).reshape(len(texts), len(FEATURE_NAMES))
    return np.hstack([np.asarray(embeddings, dtype=np.float64).reshape(len(texts), -1), cheap])
