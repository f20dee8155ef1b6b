"""Token estimates made before a call, for rate limits and budget reservations.

Exact tokenizers differ per provider and some need downloads; an estimate that
errs a little high is what reservations need. Actual usage reported by the
provider replaces the estimate when the call ends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from gateway.providers.base import Message

CHARS_PER_TOKEN = 3.5  # English averages ~4, Portuguese and code ~3.3: lean to the high side
TOKENS_PER_MESSAGE = 4  # role markers and separators in chat formats


def estimate_text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def estimate_prompt_tokens(messages: Iterable[Message]) -> int:
    return sum(estimate_text_tokens(m.content) + TOKENS_PER_MESSAGE for m in messages) + 2


UPPER_TOKENS_PER_MESSAGE = 8


def max_prompt_tokens(messages: Iterable[Message]) -> int:
    """A bound the real count cannot exceed, for budget reservations that must never be overrun.

    Byte-level BPE (OpenAI, Llama 3, Claude) and byte-fallback SentencePiece never spend less
    than one UTF-8 byte per token, so bytes plus the chat format's markers bound the count.
    """
    per_message = sum(len(m.content.encode()) + UPPER_TOKENS_PER_MESSAGE for m in messages)
    return per_message + UPPER_TOKENS_PER_MESSAGE
