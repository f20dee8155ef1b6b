"""Guards: may two requests that embed close together share one answer?

Cosine similarity of sentence embeddings ranks "How do I cancel my subscription?" closer to "Don't cancel
my subscription" than to a true paraphrase. These pure functions look for the small differences that
change what a request asks for and that embeddings smooth over:

    entity     a name, product, e-mail, URL, handle or code on one side only (case-insensitive;
               a one-letter slip in a long name is forgiven)
    number     a different set of numbers, amounts, percentages or currencies ("10%" = "10 percent")
    time       a different set of dates and time words (months, weekdays, today/tomorrow, week/month/Q3)
    negation   a negation on one side only, or negations of different things
    antonym    opposite actions or qualities on the two sides (enable/disable, more/less, add/remove,
               before/after, buy/sell ...; "unsubscribe"/"subscribe")
    scope      different owners (my/our/their), groups (team/company), quantities (all/some/only) or
               positions (first/last/next)

English and Portuguese. Typos in ordinary words do not matter: only the words above are compared.
`compare(a, b)` returns a `Verdict` whose `reason` explains a refusal (it goes into the trace).
`analyze(text)` is the per-request half, so a lookup analyses its own request once. These checks are
the first refusals of `decision.decide`, which adds the structural ones (structure.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

from gateway.cache import vocabulary as vocab

_TOKEN = re.compile(
    r"""
      (?P<url>(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|io|ai|org|net|co|br|dev|app)\b(?:/\S*)?)
    | (?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)
    | (?P<placeholder>\[[A-Z]+_\d+\])
    | (?P<handle>[@\#][\w-]+)
    | (?P<money>r\$|[$€£])
    | (?P<number>\d+(?:[.,]\d+)*[a-z]*)
    | (?P<percent>%)
    | (?P<word>[^\W\d_][\w'\u2019-]*)
    | (?P<stop>[.!?;:\n]+)
    """,
    re.VERBOSE | re.IGNORECASE,
)
_THOUSANDS = re.compile(r"^\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*$")
_TURN_X_ON = re.compile(r"\b(turn|switch)\s+((?:[\w'-]+\s+){1,3}?)(on|off)\b")
_PHRASES = re.compile(r"\b(" + "|".join(re.escape(p) for p in vocab.PHRASES) + r")\b")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    guard: str = ""  # which guard refused: entity, number, time, negation, antonym, scope
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


PASS = Verdict(ok=True)


@dataclass(frozen=True)
class Features:
    """What the guards compare, extracted once per text."""

    words: frozenset[str]  # every folded word, for "does the other side mention it at all"
    entities: frozenset[str]
    numbers: frozenset[str]
    units: frozenset[str]
    times: frozenset[str]
    negations: tuple[str, ...]  # "dont>cancel": each negator and the first word it negates
    antonyms: dict[str, frozenset[str]]  # concept -> polarities seen
    owners: frozenset[str]
    scope: frozenset[str]
    scope_words: frozenset[str]  # the words behind `scope`, to forgive a typo in one of them
    # a lenient quantifier ("any", "some") -> the words it quantifies: "Any idea?" quantifies "idea"
    quantified: dict[str, frozenset[str]] = field(default_factory=dict)


def fold(text: str) -> str:
    """Lowercase without accents: "Não" -> "nao"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=4096)
def analyze(text: str) -> Features:
    folded = fold(text)
    folded = _TURN_X_ON.sub(lambda m: f"{m[1]}_{m[3]} {m[2]}", folded)
    folded = _PHRASES.sub(lambda m: vocab.PHRASES[m[1]], folded)
    tokens = [(_kind(m), m.group()) for m in _TOKEN.finditer(folded)]
    words = [_clean_word(value) for kind, value in tokens if kind == "word"]
    portuguese = bool(vocab.PORTUGUESE_MARKERS.intersection(words))
    numbers, units, codes = _numbers(tokens)
    times = _times(tokens, text)
    antonyms = _antonyms(words)
    scope_words = {p for w in words for p in _parts(w) if p in vocab.SCOPE_WORDS}
    return Features(
        words=frozenset(words) | {_stem(w) for w in words},
        entities=frozenset(_entities(text) | codes | _special_tokens(tokens) | _known_names(words)),
        numbers=frozenset(numbers),
        units=frozenset(units),
        times=frozenset(times),
        negations=tuple(_negations(words, portuguese=portuguese)),
        antonyms={concept: frozenset(p) for concept, p in antonyms.items()},
        owners=frozenset(vocab.OWNERS[w] for w in words if w in vocab.OWNERS),
        scope=frozenset(vocab.SCOPE_WORDS[w] for w in scope_words),
        scope_words=frozenset(scope_words),
        quantified=_quantified(words),
    )


def _quantified(words: list[str]) -> dict[str, frozenset[str]]:
    """Each lenient quantifier and the word right after it, the thing it quantifies."""
    heads: dict[str, set[str]] = {}
    for word, following in pairwise(words):
        if vocab.SCOPE_WORDS.get(word) in vocab.LENIENT_SCOPE:
            heads.setdefault(word, set()).add(_stem(following))
    return {word: frozenset(found) for word, found in heads.items()}


_FLIP = {"+": "-", "-": "+"}


def _antonyms(words: list[str]) -> dict[str, set[str]]:
    """Concept -> polarities. "less formal" is informal: a diminisher flips the quality that follows it.
    "increase the length" is longer: an amount applied to a size noun is a length."""
    antonyms: dict[str, set[str]] = {}
    diminished_at = -10
    amount = None
    for index, word in enumerate(words):
        for part in _parts(word):
            senses = _antonym_senses(part)
            for concept, polarity in senses:
                flipped = concept != "amount" and index - diminished_at <= 2
                antonyms.setdefault(concept, set()).add(_FLIP[polarity] if flipped else polarity)
            if ("amount", "-") in senses:
                diminished_at = index
            amount = next((p for c, p in senses if c == "amount"), amount)
            if part in vocab.SIZE_NOUNS and amount:
                antonyms.setdefault("length", set()).add(amount)
    return antonyms


def compare(a: str, b: str) -> Verdict:
    """May the answer to request `a` be served for request `b` (or the other way round)?"""
    return compare_features(analyze(a), analyze(b))


def compare_features(a: Features, b: Features) -> Verdict:
    for check in (
        _check_entities,
        _check_numbers,
        _check_times,
        _check_negation,
        _check_antonyms,
        _check_scope,
    ):
        verdict = check(a, b)
        if not verdict.ok:
            return verdict
    return PASS


def _edits_within(a: str, b: str, limit: int) -> bool:
    """Optimal-string-alignment distance (a transposition counts as one edit) of at most `limit`."""
    if limit == 0 or abs(len(a) - len(b)) > limit:
        return a == b
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return False
        previous2, previous = previous, current
    return previous[-1] <= limit


# ---- extraction -------------------------------------------------------------------------------
def _kind(match: re.Match[str]) -> str:
    """Which group of _TOKEN matched: every alternative is a named group, so one always did."""
    return match.lastgroup or ""


def _clean_word(word: str) -> str:
    word = word.replace("\u2019", "'")
    if word.endswith("'s"):
        word = word[:-2]
    return word.replace("'", "").strip("-")


def _lemmas(word: str) -> tuple[str, ...]:
    """The word and the dictionary forms it may be an inflection of, in English ("removed", "raising")
    and Portuguese ("remova" -> "remover", "aumente" -> "aumentar", "diminua" -> "diminuir")."""
    stem = _stem(word)
    forms = [word, stem, stem + "e"]
    if len(stem) > 3 and stem[-1] == stem[-2]:
        forms.append(stem[:-1])  # "cancelled" -> "cancel"
    for ending, replacements in _PT_ENDINGS:
        if word.endswith(ending) and len(word) > len(ending) + 2:
            forms.extend(word[: -len(ending)] + r for r in replacements)
    return tuple(forms)


_PT_ENDINGS = (
    ("ando", ("ar",)),
    ("endo", ("er",)),
    ("indo", ("ir",)),
    ("ado", ("ar",)),
    ("ido", ("er", "ir")),
    ("ue", ("ar",)),
    ("e", ("ar",)),
    ("a", ("er", "ir", "ar")),
    ("o", ("ar", "er", "ir")),
    ("ou", ("ar",)),
    ("em", ("ar", "er")),
)


def _antonym_senses(word: str) -> frozenset[tuple[str, str]]:
    for form in _lemmas(word):
        senses = vocab.ANTONYMS.get(form)
        if senses:
            return senses
    return frozenset()


def _is_negator(word: str, *, portuguese: bool) -> bool:
    if word == "no":
        return not portuguese
    return word in vocab.NEGATORS or _stem(word) in vocab.NEGATORS


def _parts(word: str) -> tuple[str, ...]:
    return (word, *word.split("-")) if "-" in word else (word,)


def _numbers(tokens: list[tuple[str, str]]) -> tuple[set[str], set[str], set[str]]:
    """Numbers as canonical strings, the units next to them, and codes such as "b2b" or "gpt-4"."""
    numbers: set[str] = set()
    units: set[str] = set()
    codes: set[str] = set()
    pending_words: list[int] = []

    def flush_words() -> None:
        if pending_words:
            numbers.add(_canonical(_words_value(pending_words)))
            pending_words.clear()

    for kind, value in tokens:
        word = _clean_word(value) if kind == "word" else value
        if kind == "word" and word in vocab.NUMBER_WORDS:
            pending_words.append(vocab.NUMBER_WORDS[word])
            continue
        flush_words()
        if kind == "number":
            number, unit = _parse_number(value)
            numbers.add(number)
            if unit:
                units.add(unit)
        elif kind in ("money", "percent") or (kind == "word" and word in vocab.UNITS):
            units.add(vocab.UNITS[word])
        elif kind == "word" and any(c.isdigit() for c in word) and word not in vocab.TIME_WORDS:
            codes.add(word)
    flush_words()
    return numbers, units, codes


def _words_value(values: list[int]) -> float:
    total, current = 0, 0
    for value in values:
        if value >= 1000:
            total += max(current, 1) * value
            current = 0
        elif value == 100:
            current = max(current, 1) * 100
        else:
            current += value
    return total + current


def _parse_number(token: str) -> tuple[str, str]:
    match = re.match(r"^([\d.,]+)([a-z%]*)$", token)
    digits, suffix = (match[1], match[2]) if match else (token, "")
    if _THOUSANDS.match(digits):
        value = float(re.sub(r"[.,]", "", digits))
    else:
        try:
            value = float(digits.replace(",", ".").rstrip("."))
        except ValueError:
            return digits, ""
    unit = ""
    if suffix in vocab.SUFFIX_MULTIPLIERS:
        value *= vocab.SUFFIX_MULTIPLIERS[suffix]
    elif suffix in ("am", "pm", "h", "x", "%"):
        unit = {"%": "%"}.get(suffix, suffix)
    return _canonical(value), unit


def _canonical(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _times(tokens: list[tuple[str, str]], original: str) -> set[str]:
    times: set[str] = set()
    words = [(kind, _clean_word(value) if kind == "word" else value) for kind, value in tokens]
    for index, (kind, word) in enumerate(words):
        if kind != "word":
            continue
        for part in _parts(word):
            if part in vocab.TIME_WORDS:
                times.add(vocab.TIME_WORDS[part])
            elif part.endswith("s") and part[:-1] in vocab.TIME_WORDS:  # "Mondays", "sextas"
                times.add(vocab.TIME_WORDS[part[:-1]])
            elif _misspelt_time(part):
                times.add(_misspelt_time(part))
        if word == "may" and (
            _near_number(words, index) or re.search(r"(?<![.!?]\s)(?<!^)\bMay\b", original)
        ):
            times.add("may")  # the month, not the modal verb
        if word in ("am", "pm") and index and words[index - 1][0] == "number":
            times.add(word)
    return times


@lru_cache(maxsize=8192)
def _misspelt_time(word: str) -> str:
    """A slip in a month or weekday name ("Tuuesday", "Mrch"): not a word of its own, one edit (two
    for long names) from the name. Four letters are a slip only of a five-letter name with a letter
    dropped: a letter replaced in a four-letter word is as likely another word."""
    if len(word) < 4 or word in vocab.known_words() or word in vocab.FUNCTION_WORDS:
        return ""
    for form, canonical in vocab.TIME_WORDS.items():
        if len(word) == 4 and len(form) != 5:
            continue
        if canonical in vocab.CALENDAR_NAMES and len(form) >= 4 and abs(len(form) - len(word)) <= 2:
            limit = 1 if len(form) <= 8 else 2
            if _edits_within(word, form, limit):
                return canonical
    return ""


def _near_number(words: list[tuple[str, str]], index: int) -> bool:
    return any(0 <= j < len(words) and words[j][0] == "number" for j in (index - 1, index + 1))


def _special_tokens(tokens: list[tuple[str, str]]) -> set[str]:
    return {value.rstrip(".,;:!?)").lower() for kind, value in tokens if kind in ("url", "email", "handle")}


def _known_names(words: list[str]) -> set[str]:
    return {part for word in words for part in _parts(word) if part in vocab.KNOWN_NAMES}


_TITLES = frozenset({"dr", "mr", "mrs", "ms", "prof", "st", "sr", "sra", "vs", "eg", "ie"})
_CASED_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*|[.!?:;\n]+|\S")


def _entities(text: str) -> set[str]:
    """Capitalised words that are not opening a sentence, mixed-case or all-caps words, and opening
    words that look like names (possessive, followed by another capitalised word, not a common opener)."""
    found: set[str] = set()
    pieces = _CASED_WORD.findall(text)
    sentence_start = True
    for index, piece in enumerate(pieces):
        if not piece[0].isalpha():
            after_title = piece == "." and index and fold(pieces[index - 1]) in _TITLES
            if piece[0] in ".!?:;\n" and not after_title:
                sentence_start = True
            continue
        word = _clean_word(piece)
        folded = fold(word)
        if _is_name(piece, word, folded, sentence_start, pieces[index + 1 : index + 2]):
            found.add(folded)
        sentence_start = False
    return found


def _is_name(piece: str, word: str, folded: str, sentence_start: bool, following: list[str]) -> bool:
    if not word or folded in vocab.TIME_WORDS or word == "I" or folded in vocab.FUNCTION_WORDS:
        return False  # "I'm", "Let's"
    if word.isupper() and len(word) <= 4 and (len(folded) <= 2 or folded in vocab.known_words()):
        return False  # "OK", "ATM", "FAQ": ordinary words in capitals (a swap of them is still seen)
    inner_caps = any(c.isupper() for c in word[1:])
    if inner_caps and len(word) >= 2:  # LinkedIn, HubSpot, CEO, B2B, SaaS
        return True
    if not word[0].isupper():
        return False
    if not sentence_start:
        return folded not in vocab.STOPWORDS and folded not in vocab.NEGATORS
    if folded in vocab.SENTENCE_STARTERS or folded in vocab.STOPWORDS:
        return False
    possessive = piece.replace("\u2019", "'").endswith("'s")
    return possessive or bool(following and following[0][:1].isupper())


def _negations(words: list[str], *, portuguese: bool) -> list[str]:
    found = []
    for index, word in enumerate(words):
        if not _is_negator(word, portuguese=portuguese):
            continue
        targets = [
            _stem(w)
            for w in words[index + 1 : index + 5]
            if w not in vocab.NEGATION_SKIP and w not in vocab.NEGATORS
        ][:1]
        found.append(f"{word}>{targets[0] if targets else '.'}")
    return found


# ---- checks -----------------------------------------------------------------------------------
def _close(word: str, others: frozenset[str]) -> bool:
    """The same word, its plural, or a slip ("Linkdin" for "LinkedIn", "Zom" for "Zoom"): one edit in
    a short word, two in a longer one, never between two words the embedding model knows."""
    if word in others or word.removesuffix("s") in others or word + "s" in others:
        return True
    if len(word) < 3:
        return False
    known = vocab.known_words()
    limit = 1 if len(word) <= 5 else 2
    return any(
        not (word in known and o in known) and len(o) >= 3 and _edits_within(word, o, limit) for o in others
    )


def _check_entities(a: Features, b: Features) -> Verdict:
    for mine, theirs, side in ((a, b, "cached"), (b, a, "new")):
        missing = sorted(e for e in mine.entities if not _close(e, theirs.words | theirs.entities))
        if missing == [vocab.DEFAULT_PLATFORM] and not theirs.entities & vocab.KNOWN_NAMES:
            missing = []  # "a post" is a LinkedIn post here, unless the other side names another place
        if missing:
            return Verdict(False, "entity", f"entity {', '.join(missing)} only in the {side} request")
    return PASS


def _check_numbers(a: Features, b: Features) -> Verdict:
    if a.numbers != b.numbers:
        return Verdict(False, "number", f"numbers differ: {_show(a.numbers)} vs {_show(b.numbers)}")
    if a.units != b.units:
        return Verdict(False, "number", f"units differ: {_show(a.units)} vs {_show(b.units)}")
    return PASS


def _check_times(a: Features, b: Features) -> Verdict:
    extra = a.times ^ b.times
    if extra and extra <= vocab.TIME_UNITS and (a.times <= b.times or b.times <= a.times):
        return PASS  # "the store's hours on Tuesdays" / "open on Tuesdays": a unit on one side only
    if a.times != b.times:
        return Verdict(False, "time", f"dates or times differ: {_show(a.times)} vs {_show(b.times)}")
    return PASS


def _check_negation(a: Features, b: Features) -> Verdict:
    if bool(a.negations) != bool(b.negations):
        which, side = (a.negations, "cached") if a.negations else (b.negations, "new")
        return Verdict(False, "negation", f"negation ({which[0]}) only in the {side} request")
    targets_a = {n.split(">", 1)[1] for n in a.negations}
    targets_b = {n.split(">", 1)[1] for n in b.negations}
    if targets_a and targets_b and not any(_close(t, frozenset(targets_b)) for t in targets_a):
        return Verdict(
            False, "negation", f"negations of different things: {_show(targets_a)} vs {_show(targets_b)}"
        )
    return PASS


def _check_antonyms(a: Features, b: Features) -> Verdict:
    for concept in a.antonyms.keys() & b.antonyms.keys():
        if a.antonyms[concept] != b.antonyms[concept]:
            return Verdict(
                False,
                "antonym",
                f"opposite {concept}: {_show(a.antonyms[concept])} vs {_show(b.antonyms[concept])}",
            )
    for mine, theirs in ((a, b), (b, a)):
        for word in mine.words - theirs.words:
            for prefix in vocab.NEGATING_PREFIXES:
                base = word[len(prefix) :]
                if (
                    word.startswith(prefix)
                    and len(base) >= 4
                    and base in theirs.words
                    and base not in mine.words
                ):
                    return Verdict(False, "antonym", f"'{word}' against '{base}'")
    return PASS


def _check_scope(a: Features, b: Features) -> Verdict:
    if a.owners and b.owners and a.owners != b.owners:
        return Verdict(False, "scope", f"owners differ: {_show(a.owners)} vs {_show(b.owners)}")
    for mine, theirs in ((a, b), (b, a)):
        for word in mine.scope_words:
            if vocab.SCOPE_WORDS[word] in vocab.LENIENT_SCOPE and (
                not theirs.scope or _quantifies_only_its_own(mine, word, theirs)
            ):
                continue  # "Are there any discounts" / "Do you offer discounts": filler, not scope
            if vocab.SCOPE_WORDS[word] not in theirs.scope and not _close(word, theirs.words):
                return Verdict(False, "scope", f"scope differs: {_show(a.scope)} vs {_show(b.scope)}")
    return PASS


def _quantifies_only_its_own(mine: Features, word: str, theirs: Features) -> bool:
    """A quantifier of something the other request does not mention ("... for managers? Any idea?")
    narrows nothing the two share: what it quantifies is a difference of words, not of scope."""
    heads = mine.quantified.get(word, frozenset())
    return bool(heads) and not any(_close(head, theirs.words) for head in heads)


def _show(values) -> str:
    return "{" + ", ".join(sorted(values)) + "}" if values else "{}"
