"""Finishing a draft so that what reaches the queue is a post a person can edit.

- The length budget comes from the author's style card (`formatting.length`, e.g. "120-200 words"):
  it sets the generation's max_tokens and the trim afterwards.
- `clean_draft` removes what small models leak: prompt markers ("Post:", "Topic:", "###"), memory
  labels ("(key_phrase)"), prompt tags, chat special tokens, HTML, sentences that repeat the
  prompt's instructions and sentences said twice; a second post started after the first is cut off.
- `fit_to_budget` trims to whole sentences within the budget, and drops a sentence the model was cut
  off in the middle of.
- `draft_issues` are the checks a critic's verdict is joined with: a verdict can be wrong, these cannot.

Pure functions: no database, no model calls.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

# ---- the length budget --------------------------------------------------------------------------

_NUMBER = r"(\d{1,3}(?:[,.]\d{3})*|\d+)"
_UNIT = r"(words?|palavras?|palabras?|mots?|characters?|chars?|caracteres?|caractères?)?"
_RANGE = re.compile(
    _NUMBER + r"\s*(?:-|\u2013|\u2014|to|and|a|e|y|até|à)\s*" + _NUMBER + r"\s*" + _UNIT, re.IGNORECASE
)
_AT_MOST = re.compile(
    r"(?:under|below|max(?:imum)?|at most|up to|no more than|less than|até|no máximo|menos de)\s*"
    + _NUMBER + r"\s*" + _UNIT,
    re.IGNORECASE,
)  # fmt: skip
_AT_MOST_AFTER = re.compile(
    _NUMBER + r"\s*" + _UNIT + r"\s*(?:max(?:imum)?|or (?:less|fewer)|at most|no máximo|ou menos)",
    re.IGNORECASE,
)
_ABOUT = re.compile(
    r"(?:about|around|roughly|~|cerca de|uns|umas)\s*" + _NUMBER + r"\s*" + _UNIT, re.IGNORECASE
)
_BARE = re.compile(_NUMBER + r"\s*" + _UNIT, re.IGNORECASE)

# Tokens per word of Gemma's and GPT's tokenizers, measured on LinkedIn-style text; other
# languages take the larger figure.
TOKENS_PER_WORD = {"en": 1.4, "pt": 1.8, "es": 1.75, "fr": 1.75, "de": 1.9}
DEFAULT_TOKENS_PER_WORD = 1.9
CHARS_PER_TOKEN = 3.5


@dataclass(frozen=True)
class LengthBudget:
    low: int
    high: int
    unit: str  # "words" | "characters"
    source: str  # what the card says

    def count(self, text: str) -> int:
        return len(text.split()) if self.unit == "words" else len(text.strip())

    def allows(self, text: str) -> bool:
        return self.low <= self.count(text) <= self.high

    def describe(self) -> str:
        return f"{self.low}-{self.high} {self.unit}" if self.low else f"at most {self.high} {self.unit}"


def _int(text: str) -> int:
    return int(re.sub(r"[,.]", "", text))


def _unit(text: str | None) -> str:
    return "characters" if text and text.lower().startswith(("c", "car")) else "words"


def length_budget(formatting: dict | None) -> LengthBudget | None:
    """The budget the card's `formatting.length` states; None when it states no number we understand."""
    source = str((formatting or {}).get("length") or "").strip()
    if not source:
        return None
    if match := _RANGE.search(source):
        low, high = sorted((_int(match.group(1)), _int(match.group(2))))
        budget = LengthBudget(low, high, _unit(match.group(3)), source)
    elif match := _AT_MOST.search(source) or _AT_MOST_AFTER.search(source):
        budget = LengthBudget(0, _int(match.group(1)), _unit(match.group(2)), source)
    elif match := _ABOUT.search(source) or _BARE.search(source):
        target = _int(match.group(1))
        budget = LengthBudget(
            math.floor(target * 0.8), math.ceil(target * 1.2), _unit(match.group(2)), source
        )
    else:
        return None
    return budget if budget.high >= 5 else None


def max_tokens_for(budget: LengthBudget, language: str) -> int:
    """Enough tokens to finish the last sentence inside the budget; the trim does the rest."""
    if budget.unit == "characters":
        return math.ceil(budget.high / CHARS_PER_TOKEN * 1.1) + 16
    per_word = TOKENS_PER_WORD.get(primary_language(language), DEFAULT_TOKENS_PER_WORD)
    return math.ceil(budget.high * per_word * 1.1) + 16


def primary_language(code: str) -> str:
    return (code or "").split("-")[0].split("_")[0].lower()


# ---- what small models leak ------------------------------------------------------------------------

SPECIAL_TOKENS = re.compile(
    r"<\|[^|<>]{1,40}\|>|<(?:start|end)_of_(?:turn|image)>|<(?:eos|bos|pad|unk)>|</?s>", re.IGNORECASE
)
HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
PROMPT_TAGS = re.compile(
    r"</?\s*(?:brief|style_card|memories|samples|draft|critique|original_post|conversation|notes)\s*>",
    re.IGNORECASE,
)
HTML_TAGS = re.compile(
    r"</?(?:strong|b|i|em|p|br|div|span|a|u|h[1-6]|ul|ol|li|img|table|tr|td)(?:\s[^<>]*)?/?>", re.IGNORECASE
)
MEMORY_LABEL = re.compile(
    r"[(\[]\s*(?:case|key[ _-]?phrase|learning|fact|feedback)\s*[)\]]\s*", re.IGNORECASE
)
# A line that starts another section of the prompt's document: another post, a topic, a separator.
SECTION_LINE = re.compile(
    r"^[ \t]*(?:#{3,}|-{3,}|\*{3,}|={3,}|"
    r"(?:post|brief|topic|tema|t[óo]pico|draft|rascunho|publica[çc][ãa]o|author|autor[a]?|notes|notas)"
    r"(?:[ \t]+\d+)?[ \t]*(?:[:(—]|-[ \t]))",
    re.IGNORECASE | re.MULTILINE,
)
LEADING_LABEL = re.compile(
    r"^\s*(?:post|draft|rascunho|publica[çc][ãa]o|linkedin post|here is the post|aqui está o post)"
    r"(?:\s+\d+)?\s*[:\-—]\s*",
    re.IGNORECASE,
)
CLOSERS = "\"'\u201d\u2019\u00bb)\\]"  # quotes and brackets that may follow a sentence's end
SENTENCE_END = re.compile(r"[.!?…]+[" + CLOSERS + r"]*(?=\s|$)")
HASHTAG_LINE = re.compile(r"^[ \t]*(?:#\w+[ \t]*)+$", re.MULTILINE)
SHINGLE = 6  # a sentence sharing this many consecutive words with the instructions repeats them


@dataclass
class Cleaned:
    text: str
    removed: list[str] = field(default_factory=list)  # what was taken out, for the step's record


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def sentences(text: str) -> list[str]:
    """The text cut after each sentence end; what follows the last end is the last piece."""
    pieces, start = [], 0
    for match in SENTENCE_END.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    if text[start:].strip():
        pieces.append(text[start:])
    return pieces


def _drop_echoes(text: str, instructions: str, removed: list[str]) -> str:
    known = _shingles(instructions)
    if not known:
        return text
    kept = []
    for piece in sentences(text):
        if _shingles(piece) & known:
            removed.append(f"echoed instructions: {piece.strip()[:80]}")
        else:
            kept.append(piece)
    return "".join(kept)


def _drop_repeats(text: str, removed: list[str]) -> str:
    """A sentence said again word for word (a small model's loop) goes; the first one stays."""
    seen: set[tuple[str, ...]] = set()
    kept, dropped = [], 0
    for piece in sentences(text):
        words = tuple(_words(piece))
        if len(words) >= 4 and words in seen:
            dropped += 1
            continue
        seen.add(words)
        kept.append(piece)
    if dropped:
        removed.append(f"repeated sentences ({dropped})")
    return "".join(kept)


def _cut_second_section(text: str, removed: list[str]) -> str:
    """Drop section lines at the very start (the model repeating "Topic: ..."), then cut at the next."""
    text = text.lstrip("\n")
    while SECTION_LINE.match(text):
        line_end = text.find("\n")
        removed.append(f"prompt line: {text[: max(line_end, 0) or 60][:60]}")
        text = "" if line_end == -1 else text[line_end + 1 :].lstrip("\n")
    match = SECTION_LINE.search(text)
    if match:
        removed.append(f"text after a new section: {text[match.start() :].strip()[:60]}")
        text = text[: match.start()]
    return text


def clean_draft(text: str, *, instructions: str = "") -> Cleaned:
    """The post without prompt markers, labels, tags and echoed instructions (see module docstring).

    `instructions`: the fixed text of the prompt (system messages); sentences repeating it go."""
    removed: list[str] = []
    original = text
    for pattern, what in (
        (SPECIAL_TOKENS, "special tokens"),
        (HTML_COMMENT, "HTML comments"),
        (PROMPT_TAGS, "prompt tags"),
        (HTML_TAGS, "HTML tags"),
        (MEMORY_LABEL, "memory labels"),
    ):
        text, count = pattern.subn("", text)
        if count:
            removed.append(f"{what} ({count})")
    while match := LEADING_LABEL.match(text):
        removed.append(f"label {match.group(0).strip()!r}")
        text = text[match.end() :]
    text = _cut_second_section(text, removed)
    text = _drop_echoes(text, instructions, removed)
    text = _drop_repeats(text, removed)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not removed and text != original.strip():
        removed.append("whitespace")
    return Cleaned(text=text, removed=removed)


def leak_markers(text: str, *, instructions: str = "") -> list[str]:
    """What in `text` is prompt text or a label rather than post (the bench counts these)."""
    found = []
    for pattern, what in (
        (SPECIAL_TOKENS, "special token"),
        (HTML_COMMENT, "HTML comment"),
        (PROMPT_TAGS, "prompt tag"),
        (MEMORY_LABEL, "memory label"),
        (SECTION_LINE, "prompt marker"),
        (LEADING_LABEL, "label"),
    ):
        match = pattern.search(text)
        if match:
            found.append(f"{what} {match.group(0).strip()[:30]!r}")
    if instructions and _shingles(text) & _shingles(instructions):
        found.append("echoed instructions")
    return found


# ---- whole sentences within the budget --------------------------------------------------------------


@dataclass(frozen=True)
class Fitted:
    text: str
    complete: bool  # ends on a whole sentence (or a line of hashtags)
    trimmed: bool  # something was cut
    fits: bool  # within the budget's upper bound (always True without a budget)


TRAILING_HASHTAGS = re.compile(r"(?:\s*#\w+)+$")
FINAL_PUNCTUATION = re.compile(r"[.!?…]+[" + CLOSERS + r"]*$")


def _ends_whole(text: str) -> bool:
    """Ends with a sentence end, a line of hashtags, or an emoji (posts often close on one)."""
    stripped = text.rstrip()
    if not stripped:
        return False
    last_line = stripped.rsplit("\n", 1)[-1]
    emoji = unicodedata.category(stripped[-1]) == "So"
    before_hashtags = TRAILING_HASHTAGS.sub("", stripped)  # "... by 20%. #saas #b2b" ends whole
    return bool(FINAL_PUNCTUATION.search(before_hashtags)) or bool(HASHTAG_LINE.fullmatch(last_line)) or emoji


def _boundaries(text: str) -> list[int]:
    """Offsets where a whole sentence (or a hashtag line) ends."""
    ends = {match.end() for match in SENTENCE_END.finditer(text)}
    ends |= {match.end() for match in HASHTAG_LINE.finditer(text)}
    return sorted(ends)


def fit_to_budget(text: str, budget: LengthBudget | None) -> Fitted:
    """Whole sentences only, and no more than the budget allows: cut at the last sentence end that
    fits. When not even the first sentence fits, the text is cut at the limit and `complete` is False."""
    text = text.strip()
    limit = budget.high if budget else None
    over = limit is not None and budget is not None and budget.count(text) > limit
    if not over and _ends_whole(text):
        return Fitted(text, complete=True, trimmed=False, fits=True)
    ends = _boundaries(text)
    if budget is not None and limit is not None:
        ends = [end for end in ends if budget.count(text[:end]) <= limit]
    if ends:
        fitted = text[: ends[-1]].rstrip()
        return Fitted(fitted, complete=True, trimmed=fitted != text, fits=True)
    if not over:  # no sentence end at all, but short enough: leave it for the writer
        return Fitted(text, complete=False, trimmed=False, fits=True)
    assert budget is not None  # noqa: S101 - `over` implies a budget
    assert limit is not None  # noqa: S101
    cut = " ".join(text.split()[:limit]) if budget.unit == "words" else text[:limit]
    return Fitted(cut.rstrip(), complete=False, trimmed=True, fits=True)


# ---- which language ---------------------------------------------------------------------------------

_STOPWORDS = {
    "en": "the and is are was of to in that it for with you we our this not but have be my they",
    "pt": "o os as de que não é um uma para com em do da dos das no na nós nosso nossa mais foi por se "
    "como isso você eu ao pela pelo são está",
    "es": "el la los las y que es un una para con en del por se como pero muy más lo su nuestro "
    "nosotros está son",
    "fr": "le la les et est un une des pour avec dans du que qui nous notre pas sur ce mais sont",
    "de": "der die das und ist ein eine für mit in den dem nicht wir unser auf ist sich auch",
}
STOPWORDS = {lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()}
# Words of one language that a neighbour shares often ("que", "de", "a"): they decide nothing.
_SHARED = {"que", "de", "a", "en", "la", "se", "in", "die", "es", "un", "son"}


def guess_language(text: str) -> str | None:
    """The language of `text` from its function words; None when there are too few to tell."""
    words = [w for w in _words(text) if w not in _SHARED]
    if len(words) < 12:
        return None
    scores = {lang: sum(w in stop for w in words) / len(words) for lang, stop in STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    runner_up = max(score for lang, score in scores.items() if lang != best)
    if scores[best] < 0.08 or scores[best] < runner_up * 1.5:
        return None
    return best


LANGUAGE_NAMES = {"en": "English", "pt": "Portuguese", "es": "Spanish", "fr": "French", "de": "German"}


# ---- checks a verdict is joined with -------------------------------------------------------------------


def draft_issues(
    text: str,
    *,
    budget: LengthBudget | None,
    banned: list[str],
    language: str,
    instructions: str = "",
) -> list[str]:
    """Problems anyone can verify, named so the writer knows what to fix."""
    if not text.strip():
        return ["The draft is empty."]
    issues = []
    if budget is not None and not budget.allows(text):
        count = budget.count(text)
        issues.append(f"{count} {budget.unit}, but the style card asks for {budget.source}.")
    if not _ends_whole(text):
        issues.append("It ends in the middle of a sentence.")
    lowered = text.lower()
    issues += [
        f'It uses the banned phrase "{phrase.strip()}".'
        for phrase in banned
        if phrase.strip() and phrase.strip().lower() in lowered
    ]
    wanted, found = primary_language(language), guess_language(text)
    if found and wanted in STOPWORDS and found != wanted:
        issues.append(
            f"It is written in {LANGUAGE_NAMES[found]}, not in {LANGUAGE_NAMES.get(wanted, wanted)}."
        )
    issues += [
        f"It contains prompt text ({marker})." for marker in leak_markers(text, instructions=instructions)
    ]
    return issues


def language_mismatch(text: str, language: str) -> str | None:
    """The language the text is in when it is clearly another one than the author's."""
    wanted, found = primary_language(language), guess_language(text)
    return found if found and wanted in STOPWORDS and found != wanted else None
