"""PII masking: e-mail addresses, phone numbers, card numbers, Brazilian CPF and CNPJ, street addresses,
people's names, and the terms a tenant lists as sensitive.

`redact` replaces each finding with a numbered placeholder ([EMAIL_1], [NAME_2], [ADDRESS_1] ...)
and returns the mapping, so that an answer written around the placeholders can be
restored locally with `restore`: the provider never sees the originals, the
writer still gets them back. Numbers are validated (Luhn for cards, check digits
for CPF/CNPJ) so that ordinary figures are not masked.

Names and addresses are found without a language model (none ships its weights on a package registry
with a clear licence and source; docs/redaction.md): addresses by street-type words (Rua, Av., Street,
Road ...) followed by a name and a number, or by a Brazilian CEP; names by capitalised words that start
with a first name from Faker's name lists (English, Portuguese and a few more languages), or that
follow a title (Sr., Dra., Mr.) or an introduction ("my name is", "me chamo"). The tenant's sensitive
terms and its authors' names (`RedactionRules`) are masked wherever they appear.
bench/bench_redaction.py measures precision and recall on labelled English and Portuguese texts.
"""

from __future__ import annotations

import bisect
import functools
import importlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CNPJ = re.compile(r"(?<!\d)\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?!\d)")
CPF = re.compile(r"(?<!\d)\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?!\d)")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# International (+55 11 91234-5678, +1 (415) 555-0100) and local ((11) 91234-5678, 415-555-0100) forms.
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{2,4})[\s.-]?\d{3,5}[\s.-]?\d{4}(?!\d)")

# ---- addresses ----------------------------------------------------------------------------------

_CAP = r"[^\W\d_a-zà-ÿ][^\W\d_]*\.?"  # a capitalised word (Flores, Paulista, St.)
_LINK = r"(?:d[aeo]s?|e|of|the)"  # das, de, do, dos ... inside a street's name
_STREET_NAME = rf"(?:{_LINK}\s+)?{_CAP}(?:\s+(?:{_LINK}\s+)?{_CAP}){{0,5}}"
_PT_STREET = r"(?:Rua|R\.|Avenida|Av\.|Alameda|Al\.|Travessa|Tv\.|Praça|Pça\.|Estrada|Rodovia|Largo|Viela)"
_EN_STREET = (
    r"(?:Street|St\.?|Avenue|Ave\.?|Road|Rd\.?|Boulevard|Blvd\.?|Lane|Ln\.?|Drive|Dr\.?|Court|Ct\.?"
    r"|Way|Place|Pl\.?|Square|Sq\.?|Terrace|Parkway|Pkwy\.?|Highway|Hwy\.?|Close|Crescent)"
)
_NUMBER = r"\d{1,5}[A-Za-z]?"
_UNIT = r"(?:,?\s*(?i:apto\.?|apt\.?|ap\.?|sala|conj\.?|bloco|casa|cj\.?|suite|unit|floor|fl\.?|#)\s*\w{1,6})"
_CEP = r"\d{5}-\d{3}"
_US_STATE_ZIP = r"(?:,\s*[A-Z][a-zA-Z .]{1,30})?,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?"
ADDRESS_PT = re.compile(
    rf"\b{_PT_STREET}\s+{_STREET_NAME}(?:,?\s*(?:n[º°o]\.?|n\.º|número)?\s*{_NUMBER}(?!\d))?{_UNIT}?"
    rf"(?:\s*[-\u2013,]\s*(?:CEP:?\s*)?{_CEP})?"
)
ADDRESS_EN = re.compile(
    rf"(?<![\w.,])\b{_NUMBER}\s+(?:[NSEW]\.?\s+)?{_CAP}(?:\s+{_CAP}){{0,3}}?\s+{_EN_STREET}(?![\w])"
    rf"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?{_UNIT}?(?:{_US_STATE_ZIP})?"
)
CEP = re.compile(rf"(?:\bCEP:?\s*)?(?<![\d-]){_CEP}(?![\d-])")
# A Portuguese street named without a number is an address only where someone says they live there.
_RESIDENCE = re.compile(
    r"(?:\bmor[aoe]\w*|\breside\w*|\bendereço\w*|\baddress(?:\s+is)?|\blives?\s+(?:on|at)|\blived\s+(?:on|at))"
    r"(?:\s+(?:n[ao]|em|é|na|no|:))?\s*$",
    re.IGNORECASE,
)


def _address_ok(match: re.Match[str]) -> bool:
    text = match.group(0)
    if match.re is ADDRESS_PT and not re.search(r"\d", text):
        return bool(_RESIDENCE.search(match.string[max(0, match.start() - 30) : match.start()]))
    return True


def _mask_address(match: re.Match[str], *, mapping: dict[str, str], reverse: dict[str, str]) -> str:
    if not _address_ok(match):
        return match.group(0)
    return _placeholder(match.group(0), "ADDRESS", mapping, reverse)


# ---- people's names -----------------------------------------------------------------------------


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# English and Portuguese speakers' names, and those of the countries B2B texts name people from most.
_NAME_LOCALES = (
    *("en_US", "en_GB", "en_IE", "en_IN", "pt_BR", "pt_PT"),
    *("es_ES", "es_MX", "fr_FR", "it_IT", "de_DE"),
)
_TITLES = _wordset(
    """
    mr mrs ms miss mx dr dra prof profa sr sra srta sir dame dona seu madam madame doutor doutora
    professor professora senhor senhora
    """
)
_PARTICLES = _wordset(
    """
    da de do das dos di du del della van von der den le la
    """
)
# First names that are also ordinary words, months, places or brands: a name only beside another name.
_AMBIGUOUS = _wordset(
    """
    will may june april august mark bill grant hope faith joy summer autumn dawn ray guy rose page price
    chase case sterling young pat sky crystal amber ruby pearl iris jade violet lily daisy holly ivy
    angel king earl duke major hunter carter mason cooper baker miles lincoln jackson madison austin
    dallas houston jordan paris florence sydney victoria chelsea brooklyn charlotte georgia virginia
    carolina dakota india asia china salvador vitória natal washington mercedes ford dell harley tesla
    apple cruz luz paz glória graça fé aurora rosa sol estrela vera bento clemente constança natália
    modesto justo amado amparo socorro dores fátima lourdes assunção conceição neves jesus christian
    pierre art don gene lee van max sage reed drew cliff rich wade dean norm frank sunny marvel bob ace
    rocky
    """
)
# Capitalised words that end a name rather than continue it: organisations, places and roles.
_NOT_NAME = _wordset(
    """
    inc ltd llc ltda sa corp co company group grupo institute instituto university universidade college
    school escola bank banco foundation fundação capital partners consulting labs lab studio studios
    ventures holdings tech digital solutions software systems data cloud ai media health saúde energia
    energy foods pay street avenue road rua avenida city cidade center centre centro hospital prize
    award prêmio day dia show podcast summit week semana club clube store loja brasil brazil america
    américa portugal ceo cto cfo coo cmo vp head director diretor diretora manager gerente team time
    sales marketing linkedin google microsoft amazon monday tuesday wednesday thursday friday saturday
    sunday january february march september october november december janeiro fevereiro março abril maio
    junho julho agosto setembro outubro novembro dezembro i the a o os as um uma and e on in at em na no
    para por with com hi hello olá oi dear caro cara prezado prezada thanks obrigado obrigada yesterday
    today ontem hoje amanhã tomorrow this that esse essa este esta our nosso nossa my meu minha we nós
    ele ela he she they eles elas it if se when quando but mas after depois before antes last next new
    novo nova also também so então
    """
)
_PLACE_PREFIXES = _wordset(
    """
    são santa santo san saint st porto vila nossa senhora fort
    """
)
_INTRODUCTION = re.compile(
    r"(?:\bmy\s+name\s+is|\bname'?s|\bme\s+chamo|\bmeu\s+nome\s+é|\bchamo-me|\bnamed|\bchamad[oa]|"
    r"\bsou\s+[oa]|\bthis\s+is|\baqui\s+é\s+[oa])\s*$",
    re.IGNORECASE,
)
_APOSTROPHES = "'\u2019"
# A word that starts with a capital (Latin scripts; checked again with str.isupper) or is a particle.
_WORD = re.compile(
    rf"(?<![^\W\d_])(?:[^\W\d_a-zß-ÿ]|(?:{'|'.join(sorted(_PARTICLES))})(?![^\W\d_]))"
    rf"[^\W\d_]*(?:[{_APOSTROPHES}][^\W\d_]{{2,}})*(?:-[^\W\d_]+)*"
)
_JOIN = re.compile(r"[ \t]+")  # between two words of one name
_AFTER_TITLE = re.compile(r"\.?[ \t]+")  # "Sr. Almeida": a title's period


def _fold(word: str) -> str:
    return word.casefold()


@functools.cache
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """First and last names (case-folded) from Faker's person providers for English and Portuguese:
    MIT-licensed lists shipped inside the package, read once per process, no download."""
    first: set[str] = set()
    last: set[str] = set()
    for locale in _NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attribute in ("first_names", "first_names_male", "first_names_female"):
            first.update(_fold(n) for n in getattr(provider, attribute, ()) if " " not in n)
        for surname in getattr(provider, "last_names", ()):
            last.update(_fold(part) for part in surname.split() if _fold(part) not in _PARTICLES)
    return frozenset(first), frozenset(last)


@dataclass(frozen=True)
class _Word:
    start: int
    end: int
    text: str

    @property
    def folded(self) -> str:
        return _fold(self.text)

    @property
    def capitalised(self) -> bool:
        return self.text[0].isupper() and not (len(self.text) > 1 and self.text.isupper())


def _words(text: str) -> list[_Word]:
    """The capitalised words and the particles: the only words a name is made of. Any other word
    between two of them sits in their gap, which then no longer joins them."""
    words = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        if not word[0].isupper() and word not in _PARTICLES:
            continue
        for suffix in (f"{a}s" for a in _APOSTROPHES):
            word = word.removesuffix(suffix)
        words.append(_Word(match.start(), match.start() + len(word), word))
    return words


def _groups(text: str, words: list[_Word]) -> Iterator[list[_Word]]:
    """Runs of capitalised words joined by spaces (and name particles: Maria da Silva)."""
    group: list[_Word] = []
    index = 0
    while index < len(words):
        word = words[index]
        joined = bool(group) and _joined(text, group[-1], word)
        starts_or_continues = word.capitalised and (joined or not group)
        if starts_or_continues or (joined and _particle_before_a_name(text, words, index)):
            group.append(word)
        else:
            if group:
                yield group
            group = [word] if word.capitalised else []
        index += 1
    if group:
        yield group


def _particle_before_a_name(text: str, words: list[_Word], index: int) -> bool:
    """ "da" in "Maria da Silva": a particle followed by a capitalised word."""
    if words[index].folded not in _PARTICLES or index + 1 >= len(words):
        return False
    following = words[index + 1]
    return following.capitalised and _JOIN.fullmatch(text[words[index].end : following.start]) is not None


def _joined(text: str, previous: _Word, word: _Word) -> bool:
    gap = text[previous.end : word.start]
    joint = _AFTER_TITLE if previous.folded in _TITLES else _JOIN
    return joint.fullmatch(gap) is not None


def _trim(group: list[_Word]) -> list[_Word]:
    while group and group[-1].folded in _PARTICLES:
        group = group[:-1]
    return group


def _run_from(group: list[_Word], start: int, first: frozenset[str], last: frozenset[str]) -> list[_Word]:
    """The words of a name starting at `start`: further names, particles, unknown capitalised words."""
    end = start + 1
    while end < len(group):
        folded = group[end].folded
        if folded in _NOT_NAME or (folded in _AMBIGUOUS and folded not in last):
            break
        end += 1
    return _trim(group[start:end])


def _names_in_group(text: str, group: list[_Word]) -> Iterator[tuple[int, int]]:
    first, last = name_lists()
    before = text[max(0, group[0].start - 20) : group[0].start]
    if _INTRODUCTION.search(before):
        run = _run_from(group, 0, first, last)
        if run and run[0].folded not in _NOT_NAME:
            yield run[0].start, run[-1].end
            group = group[len(run) :]
    index = 0
    while index < len(group):
        word = group[index]
        folded = word.folded
        after_place = index > 0 and group[index - 1].folded in _PLACE_PREFIXES
        if folded.rstrip(".") in _TITLES and index + 1 < len(group):
            run = _run_from(group, index + 1, first, last)
            if run and run[0].folded not in _NOT_NAME:
                yield run[0].start, run[-1].end
                index += 1 + len(run)
                continue
        if folded in first and not after_place:
            run = _run_from(group, index, first, last)
            if len(run) >= 2 or (folded not in _AMBIGUOUS and not _ends_a_proper_noun(text, group, index)):
                yield run[0].start, run[-1].end
                index += len(run)
                continue
        index += 1


def _ends_a_proper_noun(text: str, group: list[_Word], index: int) -> bool:
    """A lone first name after an unknown capitalised word mid-sentence ("Magazine Luiza") is more
    likely the end of a brand's or a place's name than a person."""
    if index == 0:
        return False
    previous = group[index - 1]
    first, last = name_lists()
    if previous.folded in first or previous.folded in last or previous.folded in _NOT_NAME:
        return False
    before = text[: previous.start].rstrip(" \t")
    return not (before == "" or before[-1] in ".!?:;\n")  # not the first word of a sentence


def find_names(text: str) -> list[tuple[int, int]]:
    """Spans of people's names in `text` (see the module's docstring for the cues)."""
    placeholders = [m.span() for m in PLACEHOLDER.finditer(text)]
    words = _words(text)
    if placeholders:
        starts = [start for start, _ in placeholders]
        words = [w for w in words if not _inside(placeholders, starts, w.start)]
    return [span for group in _groups(text, words) for span in _names_in_group(text, group)]


def _inside(spans: list[tuple[int, int]], starts: list[int], position: int) -> bool:
    index = bisect.bisect_right(starts, position) - 1
    return index >= 0 and spans[index][0] <= position < spans[index][1]


PLACEHOLDER = re.compile(r"\[[A-Z]+_\d+\]")

# ---- numbers ------------------------------------------------------------------------------------


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

# ---- rules and the pass -------------------------------------------------------------------------


@dataclass(frozen=True)
class RedactionRules:
    """What a tenant masks besides the patterns: its own sensitive terms, the names it knows (its
    authors'), and whether names and addresses are detected."""

    sensitive_terms: tuple[str, ...] = ()
    known_names: tuple[str, ...] = ()
    detect_names: bool = True
    detect_addresses: bool = True


DEFAULT_RULES = RedactionRules()


@dataclass
class Redaction:
    text: str
    mapping: dict[str, str] = field(default_factory=dict)  # placeholder -> original

    @property
    def found(self) -> bool:
        return bool(self.mapping)


# The first text of a call (usually its system prompt, sent again on every call of an author or a
# client) is redacted from an empty mapping, so its result depends on the text and the rules alone:
# remembered for short texts, the ones that repeat.
_REMEMBERED_CHARS = 4000


def redact(
    text: str, *, mapping: dict[str, str] | None = None, rules: RedactionRules = DEFAULT_RULES
) -> Redaction:
    """Mask PII in `text`. Pass the mapping of earlier messages so one value keeps one placeholder."""
    if not mapping and len(text) <= _REMEMBERED_CHARS:
        masked, found = _redact_alone(text, rules)
        return Redaction(text=masked, mapping=dict(found))  # a mapping of the caller's own
    return _redact(text, mapping, rules)


@functools.lru_cache(maxsize=1024)
def _redact_alone(text: str, rules: RedactionRules) -> tuple[str, tuple[tuple[str, str], ...]]:
    result = _redact(text, None, rules)
    return result.text, tuple(result.mapping.items())


def _redact(text: str, mapping: dict[str, str] | None, rules: RedactionRules) -> Redaction:
    mapping = dict(mapping or {})
    reverse = {original: placeholder for placeholder, original in mapping.items()}
    for label, pattern, is_valid in DETECTORS:
        mask = functools.partial(_mask, label=label, is_valid=is_valid, mapping=mapping, reverse=reverse)
        text = pattern.sub(mask, text)
    if rules.sensitive_terms:
        text = _mask_literals(text, rules.sensitive_terms, "TERM", mapping, reverse)
    if rules.known_names:
        text = _mask_literals(text, _name_forms(rules.known_names), "NAME", mapping, reverse)
    if rules.detect_addresses:
        for pattern in (ADDRESS_PT, ADDRESS_EN, CEP):
            mask = functools.partial(_mask_address, mapping=mapping, reverse=reverse)
            text = pattern.sub(mask, text)
    if rules.detect_names:
        text = _mask_spans(text, find_names(text), "NAME", mapping, reverse)
    return Redaction(text=text, mapping=mapping)


def _name_forms(names: Iterable[str]) -> list[str]:
    """A known full name, and each of its words of three letters or more that is not a particle."""
    forms: set[str] = set()
    for name in names:
        name = " ".join(name.split())
        if not name:
            continue
        forms.add(name)
        forms.update(part for part in name.split() if len(part) >= 3 and _fold(part) not in _PARTICLES)
    return sorted(forms, key=len, reverse=True)  # the full name claims its text before its parts


def _mask_literals(
    text: str, terms: Iterable[str], label: str, mapping: dict[str, str], reverse: dict[str, str]
) -> str:
    """Mask each term where it stands as whole words, ignoring case and accents' absence."""
    terms = sorted({" ".join(t.split()) for t in terms if t.strip()}, key=len, reverse=True)
    if not terms:
        return text
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in term.split()) for term in terms)
    pattern = re.compile(rf"(?<![\w\[])(?:{alternatives})(?![\w\]])", re.IGNORECASE)
    canonical = {_key(t): t for t in terms}

    def mask(match: re.Match[str]) -> str:
        original = match.group(0)
        known = next((p for o, p in reverse.items() if _key(o) == _key(original)), None)
        if known is None and _key(original) in canonical:
            return _placeholder(original, label, mapping, reverse)
        return known or original

    return pattern.sub(mask, text)


def _key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", " ".join(text.split()).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _mask_spans(
    text: str, spans: list[tuple[int, int]], label: str, mapping: dict[str, str], reverse: dict[str, str]
) -> str:
    pieces, cursor = [], 0
    for start, end in spans:
        pieces += [text[cursor:start], _placeholder(text[start:end], label, mapping, reverse)]
        cursor = end
    return "".join([*pieces, text[cursor:]])


def _placeholder(original: str, label: str, mapping: dict[str, str], reverse: dict[str, str]) -> str:
    if original not in reverse:
        count = sum(1 for key in mapping if key.startswith(f"[{label}_")) + 1
        placeholder = f"[{label}_{count}]"
        mapping[placeholder] = original
        reverse[original] = placeholder
    return reverse[original]


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
    return _placeholder(original, label, mapping, reverse)


def restore(text: str, mapping: dict[str, str]) -> str:
    for placeholder, original in mapping.items():
        text = text.replace(placeholder, original)
    return text


# ---- where known names come from ----------------------------------------------------------------

_known_name_sources: list[Callable[[], Iterable[str]]] = []


def register_known_names(source: Callable[[], Iterable[str]]) -> None:
    """An app above the gateway (authors) says where the tenant's known names are; the catalog calls
    each source inside the tenant's scope."""
    if source not in _known_name_sources:
        _known_name_sources.append(source)


def known_names() -> tuple[str, ...]:
    """The names every registered source knows for the tenant in scope."""
    return tuple(name for source in _known_name_sources for name in source() if name.strip())
