"""Authors and their style cards: editing, onboarding from sample posts, comparing versions.

`tenants.services` keeps the two primitives other apps call (`author_create`, `style_profile_save`);
this module adds what the author pages need around them. Onboarding is one gateway call: the
`style_extraction` prompt reads the samples and answers a JSON style card, which an editor reviews
and saves as a new version (source "extracted"). Nothing is saved before that review.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from authors.models import Author, StyleProfile
from gateway import GatewayError, GatewayRequest, complete_sync
from gateway.cache import cache_invalidate
from gateway.providers.base import Message
from prompts.defaults import json_repair_messages
from prompts.rendering import PromptRenderError
from prompts.selectors import PromptNotFoundError, resolve_prompt
from tenants.models import Tenant, User

MIN_SAMPLES = 2
MAX_SAMPLES = 10
MAX_SAMPLE_CHARS = 20_000  # all samples together: a few long posts, well under any model's window
SAMPLE_SEPARATOR = re.compile(r"^\s*-{3,}\s*$", re.MULTILINE)
LIST_FIELDS = ("vocabulary_prefer", "vocabulary_avoid", "banned_phrases")
# The formatting habits the edit form asks for; other keys are kept under "notes".
FORMATTING_KEYS = ("length", "emoji", "hashtags", "line_breaks", "lists")
FORMATTING_ALIASES = {"paragraphs": "line_breaks", "linebreaks": "line_breaks", "line breaks": "line_breaks"}
MAX_LIST_ITEMS = 50
MAX_ITEM_CHARS = 200
MAX_TEXT_CHARS = 2_000


# --- Authors -------------------------------------------------------------------------------------


def author_update(
    *, author: Author, name: str, headline: str, audience: str, language: str, is_active: bool
) -> Author:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "An author needs a name."})
    if Author.objects.filter(name__iexact=name).exclude(pk=author.pk).exists():
        raise ValidationError({"name": f"An author named {name} already exists."})
    author.name, author.headline, author.audience = name, headline.strip(), audience.strip()
    author.language, author.is_active = language, is_active
    author.save(update_fields=["name", "headline", "audience", "language", "is_active", "updated_at"])
    return author


# --- Sample posts --------------------------------------------------------------------------------


def split_samples(text: str) -> list[str]:
    """Posts pasted into one box, separated by a line holding only `---`; blank pieces are dropped."""
    return [piece.strip() for piece in SAMPLE_SEPARATOR.split(text.replace("\r\n", "\n")) if piece.strip()]


def join_samples(posts: Iterable[str]) -> str:
    return "\n\n---\n\n".join(posts)


def validate_samples(posts: list[str]) -> None:
    size = sum(len(post) for post in posts)
    if len(posts) < MIN_SAMPLES:
        raise ValidationError(
            f"Paste at least {MIN_SAMPLES} posts, separated by a line with only --- on it "
            f"(found {len(posts)})."
        )
    if len(posts) > MAX_SAMPLES:
        raise ValidationError(f"Paste at most {MAX_SAMPLES} posts (found {len(posts)}).")
    if size > MAX_SAMPLE_CHARS:
        raise ValidationError(
            f"The samples have {size:,} characters; the limit is {MAX_SAMPLE_CHARS:,}. Remove a post or two."
        )


# --- Parsing a model's style card ----------------------------------------------------------------


class StyleExtractionError(Exception):
    """Extraction failed; `message` is for the editor, `raw_answer` keeps whatever the model said."""

    def __init__(
        self,
        message: str,
        *,
        raw_answer: str = "",
        code: str = "",
        http_status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.raw_answer = raw_answer
        self.code = code
        self.http_status = http_status  # the gateway's, when it refused the call
        self.retry_after = retry_after


@dataclass
class ExtractedStyleCard:
    card: dict[str, Any]  # tone, vocabulary_prefer, vocabulary_avoid, banned_phrases, formatting
    insights: list[str] = field(default_factory=list)  # evidence the model quoted; shown, not stored
    warnings: list[str] = field(default_factory=list)  # parts of the answer that were ignored
    raw_answer: str = ""
    model: str = ""
    call_id: str = ""


FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


def find_json_object(text: str) -> dict | None:
    """The first JSON object in a model's answer: bare, inside a code fence, or inside prose."""
    candidates = [text.strip(), *(block.strip() for block in FENCE.findall(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _end = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip()[:MAX_TEXT_CHARS]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _string_list(value: Any) -> list[str] | None:
    """A list of short strings; a single string is split on lines or semicolons. None: wrong type."""
    if isinstance(value, str):
        value = re.split(r"[\n;]", value)
    if not isinstance(value, list):
        return None
    items = [_text(item) for item in value]
    texts = [item for item in items if item is not None]
    if len(texts) != len(items):
        return None
    return clean_list(texts)


def clean_list(items: Iterable[str]) -> list[str]:
    """Strip, drop empties and duplicates (case-insensitive), keep the order; capped in count and length."""
    seen, cleaned = set(), []
    for item in items:
        item = item.strip().lstrip("-•* ").strip()[:MAX_ITEM_CHARS]
        if item and item.lower() not in seen:
            seen.add(item.lower())
            cleaned.append(item)
    return cleaned[:MAX_LIST_ITEMS]


def _formatting_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        items = [_text(item) for item in value]
        texts = [item for item in items if item is not None]
        return None if len(texts) != len(items) else "; ".join(texts)
    return _text(value)


def clean_formatting(value: Any) -> dict[str, str] | None:
    """{"length", "emoji", "hashtags", "line_breaks", "lists", "notes"} with text values; None: wrong type."""
    if isinstance(value, str):
        return {"notes": value.strip()[:MAX_TEXT_CHARS]} if value.strip() else {}
    if not isinstance(value, dict):
        return None
    known: dict[str, str] = {}
    notes: list[str] = []
    for raw_key, raw_value in value.items():
        key = FORMATTING_ALIASES.get(str(raw_key).strip().lower(), str(raw_key).strip().lower())
        text = _formatting_value(raw_value)
        if not text:
            continue
        if key in FORMATTING_KEYS and key not in known:
            known[key] = text
        elif key == "notes":
            notes.insert(0, text)
        else:
            notes.append(f"{raw_key}: {text}")
    if notes:
        known["notes"] = "\n".join(notes)[:MAX_TEXT_CHARS]
    return known


def parse_style_card(answer: str) -> ExtractedStyleCard:
    """Turn a model's answer into a style card; fields of the wrong type are dropped with a warning.

    Raises StyleExtractionError (keeping the raw answer) when there is no JSON object or nothing usable.
    """
    data = find_json_object(answer)
    if data is None:
        raise StyleExtractionError(
            "The model did not answer with a JSON style card.", raw_answer=answer, code="unparseable"
        )
    card: dict[str, Any] = {"tone": "", **{name: [] for name in LIST_FIELDS}, "formatting": {}}
    warnings = []
    checks: dict[str, tuple[Callable[[Any], object], str]] = {
        "tone": (_text, "text"),
        "formatting": (clean_formatting, "an object of text values"),
    }
    checks.update(dict.fromkeys(LIST_FIELDS, (_string_list, "a list of text")))
    for name, (clean, expected) in checks.items():
        if name not in data or data[name] is None:
            continue
        value = clean(data[name])
        if value is None:
            warnings.append(f"Ignored {name}: expected {expected}, got {type(data[name]).__name__}.")
        else:
            card[name] = value
    if not any(card.values()):
        raise StyleExtractionError(
            "The model's answer has no usable style card (no tone, vocabulary or formatting).",
            raw_answer=answer,
            code="unusable",
        )
    insights = _string_list(data.get("sample_insights") or []) or []
    return ExtractedStyleCard(card=card, insights=insights, warnings=warnings, raw_answer=answer)


# --- Onboarding: one gateway call ----------------------------------------------------------------


def gateway_error_message(exc: GatewayError) -> str:
    """What the editor reads when the gateway refuses or fails the call."""
    if exc.code == "budget_exceeded":
        text = f"The AI budget is used up, so no model was called. {exc.message} Ask an admin to raise it."
    elif exc.code == "rate_limited":
        wait = f"{exc.retry_after:.0f}" if exc.retry_after is not None else "a few"
        limit = exc.details.get("limit", "rate limit")
        text = f"Too many model calls right now ({limit}); try again in {wait} seconds."
    elif exc.code == "no_model_available":
        text = (
            "No model can take this call right now (none configured for this tenant, or all are down). "
            "An admin can check Console → Models."
        )
    elif exc.code == "all_models_failed":
        text = "Every model tried failed or was unavailable. Try again in a minute."
    else:
        text = f"The model call failed ({exc.code}): {exc.message}"
    return f"{text} (call {exc.call_id})" if exc.call_id else text


def _prompt_messages(*, author: Author, posts: list[str]) -> tuple[list, dict]:
    try:
        resolved = resolve_prompt(purpose="style_extraction", ab_key=f"author-{author.pk}")
    except PromptNotFoundError as exc:
        raise StyleExtractionError(
            "No style extraction prompt is installed: run `manage.py seed_prompts`.", code="no_prompt"
        ) from exc
    values = {
        "author_name": author.name,
        "author_headline": author.headline or None,
        "audience": author.audience or None,
        "language": author.language,
        "samples": join_samples(posts),
    }
    # Pass only what this version declares: a tenant's override may use fewer variables.
    declared = {variable["name"] for variable in resolved.version.variables}
    try:
        messages = resolved.render({k: v for k, v in values.items() if k in declared})
    except PromptRenderError as exc:
        raise StyleExtractionError(
            f"The style extraction prompt cannot be used: {exc}", code="prompt"
        ) from exc
    return messages, resolved.model_parameters


# The answer's shape, constrained at decoding (GatewayRequest.response_schema): it always parses,
# and it is bounded (a few short items per list) so that max_tokens cannot cut it off.
_SHORT = {"type": "string", "maxLength": 60}
_ITEMS = {"type": "array", "items": _SHORT, "maxItems": 5}
STYLE_CARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tone": {"type": "string", "maxLength": 240},
        "vocabulary_prefer": _ITEMS,
        "vocabulary_avoid": _ITEMS,
        "banned_phrases": _ITEMS,
        "formatting": {
            "type": "object",
            "properties": dict.fromkeys(("length", "paragraphs", "emoji", "hashtags", "lists"), _SHORT),
            "required": ["length", "paragraphs", "emoji", "hashtags", "lists"],
            "additionalProperties": False,
        },
        "sample_insights": {"type": "array", "items": {"type": "string", "maxLength": 120}, "maxItems": 3},
    },
    "required": [
        "tone",
        "vocabulary_prefer",
        "vocabulary_avoid",
        "banned_phrases",
        "formatting",
        "sample_insights",
    ],
    "additionalProperties": False,
}
STYLE_CARD_MAX_TOKENS = 900  # the schema's largest answer (about 2,400 characters), with room to spare
EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
HASHTAG = re.compile(r"(?<!\w)#\w+")


def measured_formatting(posts: list[str]) -> dict[str, str]:
    """What the samples show for certain: their length in words, and whether they use emoji and
    hashtags; used where the model's card says nothing (or nothing plausible) about them."""
    counts = sorted(len(post.split()) for post in posts)
    low, high = max(10, counts[0] // 10 * 10), -(-counts[-1] // 10) * 10
    with_emoji = sum(bool(EMOJI.search(post)) for post in posts)
    hashtags = max(len(HASHTAG.findall(post)) for post in posts)
    return {
        "length": f"{low}-{max(high, low + 20)} words",
        "emoji": "none" if not with_emoji else f"in {with_emoji} of {len(posts)} sample posts",
        "hashtags": "none" if not hashtags else f"at most {hashtags}",
    }


def _plausible_length(text: str) -> bool:
    """A length that states a number of words or characters a post could have."""
    return any(10 <= int(number) <= 3000 for number in re.findall(r"\d+", text.replace(",", "")))


def _apply_measurements(extracted: ExtractedStyleCard, posts: list[str]) -> None:
    """Fill in what the model left out or got implausible, from the samples themselves."""
    measured = measured_formatting(posts)
    formatting = extracted.card.setdefault("formatting", {})
    if not _plausible_length(formatting.get("length", "")):
        if formatting.get("length"):
            extracted.warnings.append(
                f"Length set to {measured['length']}, measured on the samples "
                f"(the model said {formatting['length']!r})."
            )
        formatting["length"] = measured["length"]
    for key in ("emoji", "hashtags"):
        formatting.setdefault(key, measured[key])


def _ask(request: GatewayRequest):
    try:
        return complete_sync(request)
    except GatewayError as exc:
        raise StyleExtractionError(
            gateway_error_message(exc),
            code=exc.code,
            http_status=exc.http_status,
            retry_after=exc.retry_after,
        ) from exc


def _repair_request(request: GatewayRequest, *, answer: str, posts: list[str]) -> GatewayRequest:
    messages = [
        Message(m["role"], m["content"])
        for m in json_repair_messages(
            task="describe an author's voice from their posts as a style card",
            answer=answer or "(no answer)",
            material=join_samples(posts)[:8000],
            schema_text=json.dumps(STYLE_CARD_SCHEMA),
        )
    ]
    return dataclasses.replace(
        request, messages=messages, temperature=0.0, cacheable=False, call_id=uuid.uuid4()
    )


def style_card_extract(
    *, tenant: Tenant, author: Author, samples: list[str], user: User | None
) -> ExtractedStyleCard:
    """Ask a model for the author's style card from their posts; nothing is saved.

    The answer is constrained to STYLE_CARD_SCHEMA; if it still cannot be used, one repair call
    restates it as JSON. Length, emoji and hashtags are measured on the samples themselves.
    Raises ValidationError for bad samples and StyleExtractionError (with a message for the editor
    and the raw answers, if any) when the gateway refuses or no answer is usable.
    """
    if author.tenant_id != tenant.pk:
        raise ValueError("The author belongs to another tenant.")
    validate_samples(samples)
    messages, parameters = _prompt_messages(author=author, posts=samples)
    parameters["max_tokens"] = STYLE_CARD_MAX_TOKENS  # the schema bounds the answer: no more is needed
    request = GatewayRequest(
        tenant=tenant,
        purpose="style_extraction",
        messages=messages,
        user_id=user.pk if user else None,
        author_id=author.pk,
        response_schema=STYLE_CARD_SCHEMA,
        schema_name="style_card",
        **parameters,
    )
    response = _ask(request)
    try:
        extracted = parse_style_card(response.text)
    except StyleExtractionError as first:
        repair = _repair_request(request, answer=response.text, posts=samples)
        response = _ask(repair)
        try:
            extracted = parse_style_card(response.text)
        except StyleExtractionError as second:
            raise StyleExtractionError(
                f"{first.message} A repair call did not give a usable one either; try again, or "
                "write the card by hand.",
                raw_answer=f"{first.raw_answer}\n\n--- repair call ---\n\n{second.raw_answer}",
                code=second.code,
            ) from second
        extracted.warnings.append(
            "The first answer was not a usable style card: this one is from a repair call."
        )
    _apply_measurements(extracted, samples)
    extracted.model, extracted.call_id = response.model, str(response.call_id)
    return extracted


# --- Reading and comparing cards -----------------------------------------------------------------


def card_of(profile: StyleProfile | None) -> dict[str, Any]:
    """The editable fields of a version (empty card when there is none yet)."""
    if profile is None:
        return {"tone": "", **{name: [] for name in LIST_FIELDS}, "formatting": {}, "sample_posts": []}
    return {
        "tone": profile.tone,
        **{name: list(getattr(profile, name)) for name in LIST_FIELDS},
        "formatting": dict(profile.formatting),
        "sample_posts": list(profile.sample_posts),
    }


def card_as_lines(profile: StyleProfile) -> list[str]:
    lines = ["## Tone", *(profile.tone.splitlines() or [""])]
    for name, title in (
        ("vocabulary_prefer", "Prefer"),
        ("vocabulary_avoid", "Avoid"),
        ("banned_phrases", "Banned phrases"),
    ):
        lines += [f"## {title}", *getattr(profile, name)]
    lines.append("## Formatting")
    lines += [f"{key}: {value}" for key, value in sorted(profile.formatting.items())]
    for number, post in enumerate(profile.sample_posts, start=1):
        lines += [f"## Sample post {number}", *post.splitlines()]
    return lines


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "hunk" | "context" | "added" | "removed"
    text: str


def style_profile_diff(old: StyleProfile, new: StyleProfile) -> list[DiffLine]:
    """Unified diff of two versions' cards, section by section; empty when they say the same."""
    lines = []
    for raw in difflib.unified_diff(card_as_lines(old), card_as_lines(new), lineterm="", n=3):
        if raw.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "added", "-": "removed"}.get(raw[:1], "context")
        lines.append(DiffLine(kind, raw if kind == "hunk" else raw[1:]))
    return lines


STYLE_FIELDS = (
    "tone",
    "vocabulary_prefer",
    "vocabulary_avoid",
    "banned_phrases",
    "formatting",
    "sample_posts",
)


def author_create(*, name: str, headline: str = "", audience: str = "", language: str = "en") -> Author:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "An author needs a name."})
    if Author.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"An author named {name} already exists."})
    return Author.objects.create(name=name, headline=headline, audience=audience, language=language)


@transaction.atomic
def style_profile_save(
    *, author: Author, created_by: User | None, source: str = StyleProfile.Source.MANUAL, **fields
) -> StyleProfile:
    """Save a new version of the author's style card; earlier versions never change."""
    unknown = set(fields) - set(STYLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown style fields: {', '.join(sorted(unknown))}.")
    # Lock the author so two editors saving at once get consecutive versions, not a clash.
    Author.objects.select_for_update().get(pk=author.pk)
    last = StyleProfile.objects.filter(author=author).order_by("-version").first()
    profile = StyleProfile.objects.create(
        author=author,
        version=(last.version + 1) if last else 1,
        created_by=created_by,
        source=source,
        **fields,
    )
    # Answers cached for the author's earlier voice no longer apply (the cache scope holds the profile
    # version, so they could not match; this frees them at once).
    tenant_id, author_id = author.tenant_id, author.pk
    transaction.on_commit(lambda: cache_invalidate(tenant_id=tenant_id, author_id=author_id))
    return profile
