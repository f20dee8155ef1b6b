"""Cost maths, in integer millionths of the currency unit ("micros") to avoid float drift."""

from __future__ import annotations

import math
from decimal import Decimal

MICROS_PER_UNIT = 1_000_000


def cost_micros(
    *, input_tokens: int, output_tokens: int, input_price_per_mtok: Decimal, output_price_per_mtok: Decimal
) -> int:
    """Rounded up: a budget is never under-charged.

    Prices are per million tokens and a micro is a millionth, so the two factors of 1e6 cancel.
    """
    return math.ceil(input_tokens * input_price_per_mtok + output_tokens * output_price_per_mtok)


def micros_to_units(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_UNIT


def format_micros(micros: int) -> str:
    """Currency units with enough digits for small spends: 1234 -> "0.001234", 123_456_789 -> "123.46"."""
    units = micros_to_units(micros)
    return f"{units:.2f}" if units >= 100 else f"{units:.6f}".rstrip("0").rstrip(".") or "0"
