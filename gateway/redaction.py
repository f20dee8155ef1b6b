"""PII masking: e-mail addresses, phone numbers, card numbers, Brazilian CPF and CNPJ.

`redact` replaces each finding with a numbered placeholder ([EMAIL_1], [CPF_1] ...)
and returns the mapping, so that an answer written around the placeholders can be
restored locally with `restore`: the provider never sees the originals, the
writer still gets them back. Numbers are validated (Luhn for cards, check digits
for CPF/CNPJ) so that ordinary figures are not masked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CNPJ = re.compile(r"(?<!\d)\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?!\d)")
CPF = re.compile(r"(?<!\d)\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?!\d)")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# International (+55 11 91234-5678, +1 (415) 555-0100) and local ((11) 91234-5678, 415-555-0100) forms.
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{2,4})[\s.-]?\d{3,5}[\s.-]?\d{4}(?!\d)")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in _digits(number)]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _check_digit(digits: list[int], weights: list[int]) -> int:
    remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def _cpf_ok(text: str) -> bool:
    digits = [int(d) for d in _digits(text)]
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    first = _check_digit(digits[:9], list(range(10, 1, -1)))
    second = _check_digit(digits[:10], list(range(11, 1, -1)))
    return digits[9] == first and digits[10] == second


def _cnpj_ok(text: str) -> bool:
    digits = [int(d) for d in _digits(text)]
    if len(digits) != 14 or len(set(digits)) == 1:
        return False
    weights = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    first = _check_digit(digits[:12], weights)
    second = _check_digit(digits[:13], [6, *weights])
    return digits[12] == first and digits[13] == second


def _phone_ok(text: str) -> bool:
    digits = _digits(text)
    if text.isdigit():  # a bare run of digits is a phone only at national lengths (BR/US: 10-11)
        return len(digits) in (10, 11)
    return 10 <= len(digits) <= 15


# Order matters: more specific, validated patterns claim their text first.
DETECTORS: list[tuple[str, re.Pattern[str], Callable[[str], bool]]] = [
    ("EMAIL", EMAIL, lambda _: True),
    ("CNPJ", CNPJ, _cnpj_ok),
    ("CPF", CPF, _cpf_ok),
    ("CARD", CARD, _luhn_ok),
    ("PHONE", PHONE, _phone_ok),
]


@dataclass
class Redaction:
    text: str
    mapping: dict[str, str] = field(default_factory=dict)  # placeholder -> original

    @property
    def found(self) -> bool:
        return bool(self.mapping)


def redact(text: str, *, mapping: dict[str, str] | None = None) -> Redaction:
    """Mask PII in `text`. Pass the mapping of earlier messages so one value keeps one placeholder."""
    mapping = dict(mapping or {})
    reverse = {original: placeholder for placeholder, original in mapping.items()}
    for label, pattern, is_valid in DETECTORS:
        mask = functools.partial(_mask, label=label, is_valid=is_valid, mapping=mapping, reverse=reverse)
        text = pattern.sub(mask, text)
    return Redaction(text=text, mapping=mapping)


def _mask(
    match: re.Match[str],
    *,
    label: str,
    is_valid: Callable[[str], bool],
    mapping: dict[str, str],
    reverse: dict[str, str],
) -> str:
    original = match.group(0)
    if not is_valid(original):
        return original
    if original not in reverse:
        count = sum(1 for key in mapping if key.startswith(f"[{label}_")) + 1
        placeholder = f"[{label}_{count}]"
        mapping[placeholder] = original
        reverse[original] = placeholder
    return reverse[original]


def restore(text: str, mapping: dict[str, str]) -> str:
    for placeholder, original in mapping.items():
        text = text.replace(placeholder, original)
    return text
