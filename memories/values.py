"""The values a memory states, in one canonical form, so that "two years earlier" equals "2 years before".

`extract_values(text)` finds numbers (digits or words, English and Portuguese), percentages, amounts of
money, dates (years, months, days, quarters), durations with their direction (before, after, ago),
frequencies ("twice a week"), weekdays and times of day, and gives each a canonical string:

    "120 employees", "cento e vinte funcionários"          -> number:120
    "15%", "fifteen percent", "quinze por cento"            -> percent:15
    "$2M", "2 million dollars", "US$ 2 milhões"             -> money:USD:2000000
    "in 2014", "March 2021", "15 de março de 2021"          -> date:2014, date:2021-03, date:2021-03-15
    "two years earlier", "2 years before", "dois anos antes" -> duration:2y:before
    "twice a week", "duas vezes por semana"                 -> frequency:2/w
    "on Tuesdays", "às terças-feiras"                       -> weekday:tue
    "at 9am", "às 9h"                                        -> time:09:00

`mask_values(text)` replaces each value by a placeholder of its kind ("The company has #number
employees"): what is left is the subject the values are stated about.

A lone "one"/"um"/"uma" is read as a number only where it counts something with a unit ("one year
earlier", "uma vez por semana"): elsewhere it is an article or a pronoun ("one of our clients").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# ---- number words ----------------------------------------------------------------------------------

_UNITS = {
    # English
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    # Portuguese (both spellings of Brazil and Portugal)
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6, "sete": 7,
    "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12, "treze": 13, "catorze": 14, "quatorze": 14,
    "quinze": 15, "dezesseis": 16, "dezasseis": 16, "dezessete": 17, "dezassete": 17, "dezoito": 18,
    "dezenove": 19, "dezanove": 19, "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50,
    "sessenta": 60, "setenta": 70, "oitenta": 80, "noventa": 90, "cem": 100, "cento": 100,
    "duzentos": 200, "duzentas": 200, "trezentos": 300, "trezentas": 300, "quatrocentos": 400,
    "quatrocentas": 400, "quinhentos": 500, "quinhentas": 500, "seiscentos": 600, "seiscentas": 600,
    "setecentos": 700, "setecentas": 700, "oitocentos": 800, "oitocentas": 800, "novecentos": 900,
    "novecentas": 900,
}  # fmt: skip
_HUNDRED = {"hundred": 100}
_SCALES = {
    "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "mil": 1_000, "milhao": 1_000_000,
    "milhoes": 1_000_000, "bilhao": 1_000_000_000, "bilhoes": 1_000_000_000,
}  # fmt: skip
_ARTICLE_NUMBERS = {"one", "um", "uma"}
_SUFFIX_SCALES = {"k": 1_000, "m": 1_000_000, "mm": 1_000_000, "mn": 1_000_000, "bn": 1_000_000_000, "b": 1e9}


def _fold_char(char: str) -> str:
    lowered = char.lower()
    base = unicodedata.normalize("NFKD", lowered)[:1] if len(lowered) == 1 else char
    return base or char


def fold(text: str) -> str:
    """Lower case without accents, one character for one ("milhões" -> "milhoes"), so that offsets
    found in the folded text are offsets in the original."""
    return "".join(_fold_char(char) for char in text)


def _plain(text: str) -> str:
    return fold(text)


def _alternatives(words) -> str:
    return "|".join(sorted((re.escape(word) for word in words), key=len, reverse=True))


_NUMBER_WORD = _alternatives([*_UNITS, *_HUNDRED, *_SCALES])
_WORD_NUMBER = rf"(?:{_NUMBER_WORD})(?:(?:[\s-]+|\s+(?:and|e)\s+)(?:{_NUMBER_WORD}))*"
# Not "XR-200" or "Q3": digits glued to a letter belong to a name.
_DIGIT_NUMBER = r"(?<![a-z\d-])\d+(?:[.,]\d+)*"
_SCALE_WORD = rf"(?:\s*(?:{_alternatives(_SUFFIX_SCALES)})\b|\s+(?:{_alternatives(_SCALES)})\b)?"
_NUMBER = rf"(?:(?P<digits>{_DIGIT_NUMBER})(?P<scale>{_SCALE_WORD})|(?P<words>\b{_WORD_NUMBER}\b))"


def parse_digits(digits: str) -> float:
    """ "1,200" and "1.200" are 1200 (a group of three digits), "1.5" and "1,5" are 1.5."""
    parts = re.split(r"[.,]", digits)
    if len(parts) == 1:
        return float(parts[0])
    if all(len(part) == 3 for part in parts[1:]):
        return float("".join(parts))
    return float("".join(parts[:-1]) + "." + parts[-1])


def parse_number_words(phrase: str) -> float:
    """ "one hundred and twenty" -> 120, "dois mil e quinhentos" -> 2500, "mil milhões" -> 1e9."""
    total, current, last_scale = 0.0, 0.0, 0
    for word in re.split(r"[\s-]+", _plain(phrase)):
        if word in ("and", "e", ""):
            continue
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _HUNDRED:
            current = max(current, 1) * 100
        else:
            scale = _SCALES[word]
            if current == 0 and total and scale > last_scale:
                total *= scale  # "mil milhões": a thousand millions
            else:
                total += max(current, 1) * scale
            current, last_scale = 0.0, scale
    return total + current


def _number_of(match: re.Match) -> float | None:
    if match.group("digits"):
        value = parse_digits(match.group("digits"))
        scale = _plain(match.group("scale") or "").strip()
        return value * (_SUFFIX_SCALES.get(scale) or _SCALES.get(scale) or 1)
    return parse_number_words(match.group("words"))


def _format(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:.6g}"


# ---- what a number is about, from the words around it ----------------------------------------------

_CURRENCY_PREFIX = {"us$": "USD", "r$": "BRL", "$": "USD", "€": "EUR", "£": "GBP", "usd": "USD",
                    "eur": "EUR", "gbp": "GBP", "brl": "BRL"}  # fmt: skip
_CURRENCY_SUFFIX = {
    "dollars": "USD", "dollar": "USD", "dolares": "USD", "dolar": "USD", "euros": "EUR", "euro": "EUR",
    "pounds": "GBP", "pound": "GBP", "libras": "GBP", "libra": "GBP", "reais": "BRL",
    "usd": "USD", "eur": "EUR", "gbp": "GBP", "brl": "BRL", "€": "EUR",
}  # fmt: skip
_PERCENT = r"%|\s*(?:percent|per\s+cent|por\s+cento|pct)\b"
_DURATION_UNITS = {
    "minute": "min", "minutes": "min", "minuto": "min", "minutos": "min", "hour": "h", "hours": "h",
    "hora": "h", "horas": "h", "day": "d", "days": "d", "dia": "d", "dias": "d", "week": "w", "weeks": "w",
    "semana": "w", "semanas": "w", "month": "mo", "months": "mo", "mes": "mo", "meses": "mo", "year": "y",
    "years": "y", "ano": "y", "anos": "y", "decade": "10y", "decades": "10y", "decada": "10y",
    "decadas": "10y",
}  # fmt: skip
_DIRECTIONS = {
    "before": "before", "earlier": "before", "prior": "before", "previously": "before", "antes": "before",
    "anteriormente": "before", "after": "after", "later": "after", "afterwards": "after",
    "depois": "after", "mais tarde": "after", "ago": "ago", "atras": "ago",
}  # fmt: skip
_FREQUENCY_COUNTS = {"once": 1, "twice": 2, "thrice": 3}
_PER = r"(?:a|an|per|each|every|por|ao|a|cada)"
_TIME_SUFFIX = r"(?::(?P<minutes>\d{2}))?\s*(?P<meridiem>a\.?m\.?|p\.?m\.?|h(?:oras)?\b|h(?=\d))?"

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3,
    "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
    "janeiro": 1, "fevereiro": 2, "marco": 3, "abril": 4, "maio": 5, "junho": 6, "julho": 7,
    "agosto": 8, "setembro": 9, "outubro": 10, "novembro": 11, "dezembro": 12,
}  # fmt: skip
# "may" and "mar" are also words ("posts may", "mar" the sea): a month only beside a day or a year.
_AMBIGUOUS_MONTHS = {"may", "mar"}
_WEEKDAYS = {
    "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu", "friday": "fri",
    "saturday": "sat", "sunday": "sun", "sabado": "sat", "domingo": "sun",
}  # fmt: skip
# Portuguese working days are also ordinals ("segunda vez", "quinta geração"): a day only as "-feira"
# or after a preposition that introduces a day ("às terças", "na sexta").
_FEIRAS = {"segunda": "mon", "terca": "tue", "quarta": "wed", "quinta": "thu", "sexta": "fri"}
_YEAR_CONTEXT = r"(?:in|since|by|from|until|till|of|during|em|desde|de|ate|no|ano|year|fy|and|e|to|a)"
_WEEKDAY_PREPOSITION = r"(?:as|nas|na|aos|toda|todas|cada|on|every)"


@dataclass(frozen=True)
class Value:
    kind: str  # number, percent, money, date, duration, frequency, weekday, time
    canonical: str  # e.g. "number:120", "duration:2y:before"
    start: int
    end: int


def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE | re.UNICODE)


_MONTH = rf"(?P<month>{_alternatives(_MONTHS)})\.?"
_UNIT = _alternatives(_DURATION_UNITS)
_DIRECTION = _alternatives(_DIRECTIONS)
_HOW_MANY = rf"(?:\b(?P<article>an?|one|um|uma)\s+|{_NUMBER}\s*-?\s*)"
_QUARTER = r"q(?P<q>[1-4])|(?P<qn>[1-4])\s*[ºo°]?\s*trimestre"
_COUNT_OF_TIMES = rf"(?P<fword>once|twice|thrice)|{_NUMBER}\s+(?:times|vezes|vez)|(?P<fone>uma\s+vez)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th|º)?"
_YEAR = r"(?P<year>(?:19|20)\d{2})"
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("date_iso", _pattern(r"\b(?P<year>(?:19|20)\d{2})-(?P<month>[01]?\d)(?:-(?P<day>[0-3]?\d))?\b")),
    ("date_numeric", _pattern(r"\b(?P<day>[0-3]?\d)/(?P<month>[01]?\d)/(?P<year>(?:19|20)\d{2})\b")),
    ("date_words", _pattern(rf"\b{_DAY}\s+(?:de\s+)?{_MONTH}(?:,?\s+(?:de\s+)?{_YEAR})?\b")),
    ("date_words", _pattern(rf"\b{_MONTH}\s+{_DAY}(?:,\s*|\s+){_YEAR}\b")),
    ("date_words", _pattern(rf"\b{_MONTH},?\s+(?:de\s+|of\s+)?{_YEAR}\b")),
    ("quarter", _pattern(rf"\b(?:{_QUARTER})(?:\s+(?:de\s+)?{_YEAR})?\b")),
    ("money", _pattern(rf"(?P<cur>us\$|r\$|\$|€|£|\b(?:usd|eur|gbp|brl)\b)\s?{_NUMBER}")),
    ("money", _pattern(rf"{_NUMBER}\s*(?:de\s+)?(?P<cur>{_alternatives(_CURRENCY_SUFFIX)})(?!\w)")),
    ("percent", _pattern(rf"{_NUMBER}(?:{_PERCENT})")),
    ("frequency", _pattern(rf"\b(?:{_COUNT_OF_TIMES})\s+{_PER}\s+(?P<unit>{_UNIT})\b")),
    # "per week", "por mês" after a price or a count: a rate, part of what is stated.
    ("rate", _pattern(rf"\b(?:per|each|every|por|ao|cada)\s+(?:{_UNIT})\b(?!\s+(?:{_DIRECTION})\b)")),
    ("duration_ago", _pattern(rf"\b(?:ha|faz)\s+(?:(?P<article>um|uma)|{_NUMBER})\s+(?P<unit>{_UNIT})\b")),
    ("duration", _pattern(rf"{_HOW_MANY}(?P<unit>{_UNIT})\b(?:\s+(?P<direction>{_DIRECTION})\b)?")),
    ("time", _pattern(rf"\b(?:at|as|às|a)\s+(?P<hour>[0-2]?\d){_TIME_SUFFIX}")),
    ("time", _pattern(r"\b(?P<hour>[0-2]?\d)(?::(?P<minutes>\d{2}))?\s*(?P<meridiem>[ap]\.?m\.?)(?!\w)")),
    ("time", _pattern(r"\b(?P<hour>[01]?\d|2[0-3]):(?P<minutes>[0-5]\d)\b")),
    ("weekday", _pattern(rf"\b(?P<weekday>{_alternatives(_WEEKDAYS)})s?\b")),
    ("weekday", _pattern(rf"\b(?P<weekday>{_alternatives(_FEIRAS)})s?(?:-|\s+)feiras?\b")),
    ("weekday", _pattern(rf"\b{_WEEKDAY_PREPOSITION}\s+(?P<weekday>{_alternatives(_FEIRAS)})s?\b")),
    ("month", _pattern(rf"\b(?:in|em|de|during|durante|every|todo)\s+{_MONTH}\b")),
    ("year", _pattern(rf"\b{_YEAR_CONTEXT}\s+(?P<year>(?:19|20)\d{{2}})\b(?!\s*%)")),
    ("year", _pattern(r"\b(?P<year>(?:19|20)\d{2})(?=\s*[.,;:!?)]|\s*$)")),
    ("number", _pattern(_NUMBER)),
]  # fmt: skip


def _canonical(kind: str, match: re.Match) -> tuple[str, str] | None:  # noqa: C901 - one case per kind
    groups = {name: value for name, value in match.groupdict().items() if value}
    if kind in ("date_iso", "date_numeric", "date_words"):
        month = groups["month"]
        month_number = int(month) if month.isdigit() else _MONTHS[_plain(month)]
        if not 1 <= month_number <= 12:
            return None
        if "year" not in groups and _plain(month) in _AMBIGUOUS_MONTHS and "day" not in groups:
            return None
        parts = [groups["year"]] if "year" in groups else ["-"]
        parts.append(f"{month_number:02d}")
        if "day" in groups:
            if not 1 <= int(groups["day"]) <= 31:
                return None
            parts.append(f"{int(groups['day']):02d}")
        return "date", "date:" + "-".join(parts)
    if kind == "quarter":
        quarter = groups.get("q") or groups["qn"]
        return "date", f"date:{groups.get('year', '-')}-q{quarter}"
    if kind == "month":
        if _plain(groups["month"]) in _AMBIGUOUS_MONTHS:
            return None
        return "date", f"date:-{_MONTHS[_plain(groups['month'])]:02d}"
    if kind == "year":
        return "date", f"date:{groups['year']}"
    if kind == "weekday":
        day = _plain(groups["weekday"])
        return "weekday", f"weekday:{_WEEKDAYS.get(day) or _FEIRAS[day]}"
    if kind == "time":
        return _time(groups)
    number = _count_of(match, groups)
    if number is None:
        return None
    if kind == "money":
        currency = _plain(groups["cur"])
        code = _CURRENCY_PREFIX.get(currency) or _CURRENCY_SUFFIX[currency]
        return "money", f"money:{code}:{_format(number)}"
    if kind == "percent":
        return "percent", f"percent:{_format(number)}"
    if kind == "frequency":
        return "frequency", f"frequency:{_format(number)}/{_DURATION_UNITS[_plain(groups['unit'])]}"
    if kind in ("duration", "duration_ago"):
        unit = _DURATION_UNITS[_plain(groups["unit"])]
        direction = "ago" if kind == "duration_ago" else _DIRECTIONS.get(_plain(groups.get("direction", "")))
        return "duration", f"duration:{_format(number)}{unit}" + (f":{direction}" if direction else "")
    if groups.get("words") and _plain(groups["words"]) in _ARTICLE_NUMBERS:
        return None  # "one of our clients", "uma empresa": an article, not a count
    return "number", f"number:{_format(number)}"


def _count_of(match: re.Match, groups: dict[str, str]) -> float | None:
    if "fword" in groups:
        return _FREQUENCY_COUNTS[_plain(groups["fword"])]
    if "fone" in groups or "article" in groups:
        return 1
    if "digits" in groups or "words" in groups:
        return _number_of(match)
    return None


def _time(groups: dict[str, str]) -> tuple[str, str] | None:
    hour, minutes = int(groups["hour"]), int(groups.get("minutes", "0"))
    meridiem = _plain(groups.get("meridiem", "")).replace(".", "")
    if not meridiem and "minutes" not in groups:
        return None  # "at 3" is not clearly a time of day
    if meridiem.startswith("p") and hour < 12:
        hour += 12
    if meridiem.startswith("a") and hour == 12:
        hour = 0
    if hour > 23 or minutes > 59:
        return None
    return "time", f"time:{hour:02d}:{minutes:02d}"


def extract_values(text: str) -> list[Value]:
    """The values stated in `text`, in order of appearance; overlapping readings go to the first pattern."""
    taken: list[tuple[int, int]] = []
    values: list[Value] = []
    articled: set[int] = set()
    folded = fold(text)
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(folded):
            start, end = _span(kind, match)
            if start == end or any(
                start < other_end and other_start < end for other_start, other_end in taken
            ):
                continue
            if kind == "rate":
                taken.append((start, end))  # reserved, not a value
                continue
            reading = _canonical(kind, match)
            if reading is None:
                continue
            taken.append((start, end))
            values.append(Value(reading[0], reading[1], start, end))
            if kind == "duration" and match.group("article") and not match.group("direction"):
                articled.add(start)
    values.sort(key=lambda value: value.start)
    # "$29 a month", "120 posts a year": "a month" right after a value is its rate, not a duration.
    return [
        value
        for previous, value in zip([None, *values], values, strict=False)
        if not (value.start in articled and previous and not folded[previous.end : value.start].strip())
    ]


def _span(kind: str, match: re.Match) -> tuple[int, int]:
    """The characters the value occupies: a year's or a time's leading preposition stays in the text."""
    if kind == "year":
        return match.start("year"), match.end("year")
    if kind == "time":
        return match.start("hour"), match.end()
    if kind in ("month", "weekday"):
        return match.start(kind), match.end()
    start, end = match.start(), match.end()
    while end > start and match.string[end - 1].isspace():
        end -= 1
    return start, end


def mask_values(text: str, values: list[Value] | None = None) -> str:
    """`text` with each value replaced by `#<kind>`: "Founded #date with #number people"."""
    values = extract_values(text) if values is None else values
    pieces, position = [], 0
    for value in values:
        pieces.extend([text[position : value.start], f"#{value.kind}"])
        position = value.end
    pieces.append(text[position:])
    return "".join(pieces)
