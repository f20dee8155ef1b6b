"""The structure of a request, and how two requests' structures line up.

A trap is usually a small edit of a request: one word swapped for its opposite or for another member of
its group, a negation added, two arguments exchanged. A bag of words cannot see the last one, and a
list of antonyms only knows the pairs it lists. So each request becomes its content words in order
(function words, greetings and sign-offs set aside), each with whether it is negated, and the two
sequences are aligned word to word, allowing inflections and typos:

    unmatched   content words of one side with no counterpart on the other
    replaced    unmatched words next to the same aligned word on both sides: one thing said instead
                of another ("cover" / "exclude", "adults" / "children", "CFO" / "CTO")
    inserted    a word wedged between two neighbours the other side has together ("gift card")
    negated     an aligned word negated on one side only ("not", "without", "não", "sem"; a negating
                prefix: "non-refundable" / "refundable", "unsubscribe" / "subscribe")
    swapped     two aligned words in the opposite order, the relation that introduced one now
                introducing the other ("from A to B" / "from B to A", "X into Y" / "Y into X")

General resources only: a stopword list, negators, negating prefixes, greeting words (vocabulary.py),
edit distance, and the embedding model's vocabulary to tell a typo from another word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from gateway.cache import vocabulary as vocab
from gateway.cache.guards import fold

_WORD = re.compile(r"[^\W_][\w'\u2019]*(?:-[^\W_][\w'\u2019]*)*|[.!?;:\n]+|[,$€£%&/]")
_GREETING = re.compile(
    r"^\s*(?:(?:" + "|".join(vocab.GREETING_OPENERS) + r")\b[^,.!?:;\n]{0,24}?[,.!?:;\n]+|"
    r"(?:" + "|".join(vocab.GREETING_OPENERS) + r")\s*$)",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"([,.!?;:\n]|\s)\s*(?:" + "|".join(vocab.SIGN_OFFS) + r")\b[^.!?\n]{0,24}[.!?]*\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class Token:
    word: str  # folded, without a negating prefix ("non-members" -> "members")
    position: int  # index in the request's token stream (function words included)
    negated: bool
    prefixed: str = ""  # the negating prefix removed from the word, if any


@dataclass(frozen=True)
class Structure:
    content: tuple[Token, ...]
    stream: tuple[str, ...]  # every folded token in order, for what lies between two content words
    negators: int  # how many negators the request has


@dataclass(frozen=True)
class Alignment:
    pairs: tuple[tuple[int, int], ...]  # (index in a.content, index in b.content)
    unmatched_a: tuple[str, ...]
    unmatched_b: tuple[str, ...]
    negated: tuple[str, ...]  # aligned words negated on one side only
    swapped: tuple[tuple[str, str], ...]  # aligned pairs in opposite order around a directed word
    replaced: tuple[tuple[str, str], ...]  # unmatched words of the two sides in the same place
    added: tuple[str, ...]  # words one side adds after its opening while the other aligns whole
    inserted: tuple[str, ...]  # added words wedged between two neighbours the other side has together
    coverage: float  # aligned content words / content words, of the side with fewer matches


def strip_courtesy(text: str) -> str:
    """Without an opening greeting ("Hi team,", "Morning!", "Olá pessoal,") or a closing thanks."""
    opened = _GREETING.sub("", text, count=1)
    stripped = _SIGN_OFF.sub(lambda m: m[1] if m[1] in "?!." else "", opened).strip()
    return stripped or text


@lru_cache(maxsize=4096)
def parse(text: str) -> Structure:
    stream = [_clean(t) for t in _WORD.findall(fold(strip_courtesy(text)))]
    stream = [t for t in stream if t]
    content: list[Token] = []
    negate_until = -1
    negators = 0
    for position, word in enumerate(stream):
        if _is_negator(word, stream):
            negators += 1
            negate_until = position + vocab.NEGATION_REACH
            continue
        if not word[0].isalnum():
            if word not in ",&/":
                negate_until = -1  # a negation does not cross a sentence or clause end
            continue
        if _is_function_word(word):
            continue
        base, prefix = _negating_prefix(word)
        content.append(Token(base, position, negated=position <= negate_until, prefixed=prefix))
    return Structure(content=tuple(content), stream=tuple(stream), negators=negators)


def align(a: Structure, b: Structure) -> Alignment:
    """Greedy one-to-one alignment of content words: exact first, then inflections, then typos."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    prefixed: set[int] = set()
    for level in (_same, _same_lemma, _typo, _prefixed):
        for i, token in enumerate(a.content):
            if i in pairs:
                continue
            for j, other in enumerate(b.content):
                if j not in taken and level(token, other):
                    pairs[i] = j
                    taken.add(j)
                    if level is _prefixed:
                        prefixed.add(i)
                    break
    # A negating prefix on one side only is seen through the base word: "non-members" aligns with
    # "members", and counts as a negation of it.
    ordered = tuple(sorted(pairs.items()))
    negated = tuple(
        a.content[i].word
        for i, j in ordered
        if (_polarity(a.content[i]) != _polarity(b.content[j])) != (i in prefixed)
    )
    unmatched_a = tuple(t.word for i, t in enumerate(a.content) if i not in pairs)
    unmatched_b = tuple(t.word for j, t in enumerate(b.content) if j not in taken)
    sizes = [len(a.content), len(b.content)]
    coverage = len(ordered) / max(sizes) if max(sizes) else 1.0
    return Alignment(
        pairs=ordered,
        unmatched_a=unmatched_a,
        unmatched_b=unmatched_b,
        negated=_dedupe(negated),
        swapped=_swaps(a, b, ordered),
        replaced=_replacements(a, b, ordered),
        added=_additions(a, b, ordered),
        inserted=_insertions(a, b, ordered),
        coverage=coverage,
    )


def _replacements(
    a: Structure, b: Structure, pairs: tuple[tuple[int, int], ...]
) -> tuple[tuple[str, str], ...]:
    """Unmatched words next to the same aligned word on both sides: one thing said instead of another
    ("my premium plan" / "my family plan", "tickets for adults" / "tickets for children"). The
    request's first word is its opening ("Convert" / "How much is", "Write" / "Draft"), a rewording,
    unless both requests open with the same function words ("Can adults" / "Can children")."""
    matched_a = {i for i, _ in pairs}
    matched_b = {j for _, j in pairs}
    mapping = dict(pairs)
    replaced = set()
    first_i, first_j = min(matched_a, default=0), min(matched_b, default=0)
    for i, j in pairs:
        for step in (-1, 1):
            x, y = i + step, j + step
            if not (0 <= x < len(a.content) and 0 <= y < len(b.content)):
                continue
            if x in matched_a or y in matched_b:
                continue
            if x < first_i and y < first_j and not _same_opening(a, b) and not _modifiers(a, b, x, y, step):
                continue  # both before anything aligned: the opening
            if not _same_frame(mapping, matched_a, matched_b, i, j, step):
                continue  # the sentence was rebuilt around it: a rewording, left to the verifier
            replaced.add((a.content[x].word, b.content[y].word))
    return tuple(sorted(replaced))


def _modifiers(a: Structure, b: Structure, x: int, y: int, step: int) -> bool:
    """Both unmatched words stand right before the aligned word, nothing between: its modifier
    ("the family plan" / "my premium insurance plan"), not the request's opening verb ("Write a post" /
    "Draft a post")."""
    return step == -1 and all(
        side.content[k].position + 1 == side.content[k + 1].position
        and side.content[k + 1].word not in vocab.OWNERS  # "cancel my plan": a verb, then the owner
        for side, k in ((a, x), (b, y))
    )


def minimal_edit(a: Structure, b: Structure, alignment: Alignment) -> tuple[str, str] | None:
    """The two requests are the same stream of tokens but for one short run on each side, after the
    opening, that holds an unaligned content word on both: one thing said instead of another ("Are
    there discounts for members?" / "... for veterans?", "our new CFO" / "our new CTO"), however few
    words anchor it. The differing content words, or None. A slip ("much" / "mcuh") aligns and is not
    an edit; the opening ("Convert" / "Change") is a rewording, as for the alignment."""
    x, y = a.stream, b.stream
    start = 0
    while start < min(len(x), len(y)) and x[start] == y[start]:
        start += 1
    end = 0
    while end < min(len(x), len(y)) - start and x[len(x) - 1 - end] == y[len(y) - 1 - end]:
        end += 1
    run_a, run_b = x[start : len(x) - end], y[start : len(y) - end]
    if not run_a or not run_b or max(len(run_a), len(run_b)) > 3 or start == 0 or start + end < 2:
        return None
    matched_a = {i for i, _ in alignment.pairs}
    matched_b = {j for _, j in alignment.pairs}
    words_a = [
        t.word for i, t in enumerate(a.content) if start <= t.position < len(x) - end and i not in matched_a
    ]
    words_b = [
        t.word for j, t in enumerate(b.content) if start <= t.position < len(y) - end and j not in matched_b
    ]
    if not words_a or not words_b:
        return None
    return " ".join(words_a), " ".join(words_b)


def _same_frame(
    mapping: dict[int, int], matched_a: set[int], matched_b: set[int], i: int, j: int, step: int
) -> bool:
    """Whether the gap beside the aligned pair (i, j) is closed by the same aligned pair on both sides
    (or by the end of both requests): "tickets for [adults] at" / "tickets for [children] at" is one
    frame with one slot refilled; "the store's [hours] on Mondays" / "[open] on Mondays at the store"
    is a sentence rebuilt, where an unmatched word beside an aligned one says nothing of its slot."""
    beyond_a = [k for k in matched_a if (k - i) * step > 0]
    beyond_b = [k for k in matched_b if (k - j) * step > 0]
    if not beyond_a or not beyond_b:
        return not beyond_a and not beyond_b
    next_a = min(beyond_a) if step > 0 else max(beyond_a)
    next_b = min(beyond_b) if step > 0 else max(beyond_b)
    return mapping[next_a] == next_b


def _additions(a: Structure, b: Structure, pairs: tuple[tuple[int, int], ...]) -> tuple[str, ...]:
    """Content words that one request adds inside a frame the other fills completely: a qualifier
    ("a gift" / "a gift card", "the plan" / "the pro plan"). Words before anything aligned are an
    opening ("I'm looking for ..."), not counted."""
    if not pairs:
        return ()
    sides = ((a, {i for i, _ in pairs}), (b, {j for _, j in pairs}))
    (_, matched_a), (_, matched_b) = sides
    if len(matched_a) < len(a.content) and len(matched_b) < len(b.content):
        return ()  # both sides have words of their own: a rewording or a replacement, not an addition
    for side, matched in sides:
        first = min(matched)
        extra = tuple(t.word for k, t in enumerate(side.content) if k not in matched and k > first)
        if extra:
            return extra
    return ()


def _insertions(a: Structure, b: Structure, pairs: tuple[tuple[int, int], ...]) -> tuple[str, ...]:
    """A word put between an aligned word and what follows it on the other side: "a gift for" /
    "a gift card for", "the plan costs" / "the pro plan costs". It qualifies its neighbour."""
    if not _additions(a, b, pairs):
        return ()
    found = []
    for side, other, mapping in ((a, b, dict(pairs)), (b, a, {j: i for i, j in pairs})):
        aligned = set(mapping)
        for index, token in enumerate(side.content):
            if index in aligned:
                continue
            before = index - 1
            if before not in aligned or side.content[before].position != token.position - 1:
                continue  # not right after an aligned word
            following = side.stream[token.position + 1 : token.position + 2]
            neighbour = other.content[mapping[before]].position
            if other.stream[neighbour + 1 : neighbour + 2] == following:
                found.append(token.word)
    return tuple(found)


def _same_opening(a: Structure, b: Structure) -> bool:
    opening_a = a.stream[: a.content[0].position]
    opening_b = b.stream[: b.content[0].position]
    return bool(opening_a) and opening_a == opening_b


def _polarity(token: Token) -> bool:
    return token.negated != bool(token.prefixed)


def _dedupe(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(words))


def _swaps(a: Structure, b: Structure, pairs: tuple[tuple[int, int], ...]) -> tuple[tuple[str, str], ...]:
    """Aligned pairs in the opposite order where the relation that introduces the second argument on
    one side introduces the other argument on the other side: "from A to B" / "from B to A" ("to"
    introduced B, now A), "convert X to Y" / "Y to X". Moving a phrase ("on Monday") is not a swap."""
    swapped = []
    for x, (i1, j1) in enumerate(pairs):
        for i2, j2 in pairs[x + 1 :]:
            if j2 > j1:
                continue  # same order on both sides
            role = _role(a.stream, a.content[i2].position)
            if role and role == _role(b.stream, b.content[j1].position):
                swapped.append((a.content[i1].word, a.content[i2].word))
    return tuple(swapped)


def _role(stream: tuple[str, ...], position: int) -> str:
    """The directed relation that introduces the word at `position` ("to", "from", "before", "than";
    "into" and "para" are "to"), over other function words; "" if a content word or punctuation
    comes first."""
    for word in reversed(stream[:position]):
        if word in vocab.DIRECTIONS:
            return vocab.DIRECTIONS[word]
        if word not in vocab.FUNCTION_WORDS:
            return ""
    return ""


# ---- word matching ------------------------------------------------------------------------------
def _same(a: Token, b: Token) -> bool:
    return a.word == b.word


def _same_lemma(a: Token, b: Token) -> bool:
    return bool(_lemmas(a.word) & _lemmas(b.word))


def _typo(a: Token, b: Token) -> bool:
    return is_typo(a.word, b.word) and not _prefixed(a, b)


@lru_cache(maxsize=16384)
def _lemmas(word: str) -> frozenset[str]:
    """The word's plausible dictionary forms, English and Portuguese ("cancelled" -> "cancel",
    "Mondays" -> "monday", "posts" -> "post", "cancele" -> "cancel")."""
    forms = {word}
    for suffix in ("'s", "ies", "es", "s", "ing", "ed", "ly", "ment", "mente", "ção", "coes", "cao"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            forms |= {stem, stem + "e", stem + "y" if suffix == "ies" else stem}
            if len(stem) > 3 and stem[-1] == stem[-2]:
                forms.add(stem[:-1])
        elif suffix in ("ing", "ed") and word.endswith(suffix) and len(word) - len(suffix) == 2:
            forms.add(word[: -len(suffix)] + "e")  # "using" -> "use"
    for ending in ("ar", "er", "ir", "a", "e", "o", "ou", "am", "em", "ando", "endo", "indo", "ado", "ido"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            forms.add(word[: -len(ending)])
    return frozenset(forms)


def is_typo(word: str, other: str) -> bool:
    """A slip rather than another word: within the edit budget for the word's length, no digits, and
    not two words both known to the embedding model's vocabulary ("formal"/"normal", "post"/"most").
    Two known words are a slip only when two adjacent letters are exchanged ("pots" for "post")."""
    if word == other:
        return True
    if any(c.isdigit() for c in word + other) or min(len(word), len(other)) < 3:
        return False
    known = vocab.known_words()
    if word in known and other in known:
        # "pots" or "pot" for "post", "pan" for "plan"; not "post"/"most", "car"/"card", "plan"/"plane"
        return (len(word) >= 4 and _transposed(word, other)) or _inner_letter_dropped(word, other)
    if max(len(word), len(other)) <= 3:  # a letter replaced is a third of the word: "CFO" / "CTO"
        return _transposed(word, other) or (len(word) != len(other) and _edit_distance_within(word, other, 1))
    limit = 1 if max(len(word), len(other)) <= 5 else 2
    return _edit_distance_within(word, other, limit)


def _inner_letter_dropped(a: str, b: str) -> bool:
    """One letter of a word of four or more left out, neither its first nor its last: a slip of the
    keyboard, where a letter changed at either end usually makes another word ("car" / "card")."""
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    if len(longer) < 4 or len(longer) != len(shorter) + 1:
        return False
    return any(longer[:k] + longer[k + 1 :] == shorter for k in range(1, len(longer) - 1))


def _transposed(a: str, b: str) -> bool:
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def _edit_distance_within(a: str, b: str, limit: int) -> bool:
    """Optimal-string-alignment distance (a transposition is one edit) of at most `limit`."""
    if abs(len(a) - len(b)) > limit:
        return False
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return False
        before, previous = previous, current
    return previous[-1] <= limit


# ---- tokens -------------------------------------------------------------------------------------
def _clean(token: str) -> str:
    token = token.replace("\u2019", "'")
    if token.endswith("'s"):
        token = token[:-2]
    return vocab.CONTRACTIONS.get(token, token.replace("'", ""))


@lru_cache(maxsize=16384)
def _is_function_word(word: str) -> bool:
    """A function word, or a slip in one of four letters or more that is not a word of its own: two
    letters exchanged, one dropped or one doubled ("abuot", "abot", "withh"). A letter replaced is
    not forgiven here: "cobre" (covers) is one letter from "sobre" (about)."""
    if word in vocab.FUNCTION_WORDS:
        return True
    if len(word) < 4 or word in vocab.known_words():
        return False
    return any(
        len(f) >= 4
        and (_transposed(word, f) or (abs(len(f) - len(word)) == 1 and _edit_distance_within(word, f, 1)))
        for f in vocab.FUNCTION_WORDS
    )


def _is_negator(word: str, stream: list[str]) -> bool:
    if word == "no":  # Portuguese "no" is "in the"
        return not vocab.PORTUGUESE_MARKERS.intersection(stream)
    return word in vocab.NEGATORS


def _negating_prefix(word: str) -> tuple[str, str]:
    """ "non-members" -> ("members", "non"), "não-sócios" -> ("socios", "nao"). Unhyphenated prefixes
    ("unsubscribe", "informal") are seen by the alignment, only against the base word on the other side."""
    if "-" in word:
        head, rest = word.split("-", 1)
        if head in vocab.NEGATING_PREFIXES:
            return rest, head
    return word, ""


def _prefixed(a: Token, b: Token) -> bool:
    """ "unsubscribe" / "subscribe", "impossible" / "possible", "nonrefundable" / "refundable"."""
    longer, shorter = (a.word, b.word) if len(a.word) > len(b.word) else (b.word, a.word)
    return len(shorter) >= 4 and any(longer == p + shorter for p in vocab.NEGATING_PREFIXES)
