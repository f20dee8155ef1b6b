"""Forms of the author pages: an author's details, their style card, and samples to extract from."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from authors.models import StyleProfile
from authors.services import (
    FORMATTING_KEYS,
    LIST_FIELDS,
    MAX_SAMPLE_CHARS,
    MAX_TEXT_CHARS,
    clean_list,
    join_samples,
    split_samples,
    validate_samples,
)

LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
ONE_PER_LINE = "One per line."
SAMPLES_HELP = "Separate posts with a line holding only <code>---</code>."


def _textarea(rows: int = 4) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class AuthorForm(forms.Form):
    name = forms.CharField(max_length=120)
    headline = forms.CharField(
        max_length=200, required=False, help_text="Role and company, e.g. CEO at Acme."
    )
    audience = forms.CharField(required=False, widget=_textarea(3), help_text="Who reads this author.")
    language = forms.CharField(max_length=16, initial="en", help_text="BCP 47 code, e.g. en, pt-BR.")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def clean_language(self) -> str:
        language = self.cleaned_data["language"].strip()
        if not LANGUAGE_TAG.match(language):
            raise ValidationError("Use a language code such as en, en-GB or pt-BR.")
        return language


class StyleCardForm(forms.Form):
    """The editable style card; saving it always makes a new version."""

    tone = forms.CharField(
        required=False, widget=_textarea(4), help_text="How the author sounds, in a few sentences."
    )
    vocabulary_prefer = forms.CharField(
        required=False, widget=_textarea(), label="Words and phrases to prefer", help_text=ONE_PER_LINE
    )
    vocabulary_avoid = forms.CharField(
        required=False, widget=_textarea(), label="Words to avoid", help_text=ONE_PER_LINE
    )
    banned_phrases = forms.CharField(
        required=False,
        widget=_textarea(),
        label="Banned phrases",
        help_text="Never written, whatever the brief. " + ONE_PER_LINE,
    )
    length = forms.CharField(required=False, max_length=MAX_TEXT_CHARS, help_text="e.g. 120-200 words")
    emoji = forms.CharField(
        required=False, max_length=MAX_TEXT_CHARS, help_text="e.g. none, or one at the end"
    )
    hashtags = forms.CharField(
        required=False, max_length=MAX_TEXT_CHARS, help_text="e.g. at most 3, at the end"
    )
    line_breaks = forms.CharField(
        required=False,
        max_length=MAX_TEXT_CHARS,
        help_text="e.g. one sentence per line, blank line between ideas",
    )
    lists = forms.CharField(
        required=False, max_length=MAX_TEXT_CHARS, help_text="e.g. numbered lists for steps"
    )
    formatting_notes = forms.CharField(required=False, widget=_textarea(2), label="Other formatting habits")
    sample_posts = forms.CharField(
        required=False,
        widget=_textarea(12),
        help_text=SAMPLES_HELP,
    )
    source = forms.ChoiceField(choices=StyleProfile.Source.choices, widget=forms.HiddenInput)
    base_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    field_order = [
        "tone",
        *LIST_FIELDS,
        *FORMATTING_KEYS,
        "formatting_notes",
        "sample_posts",
        "source",
        "base_version",
    ]

    @classmethod
    def initial_from(cls, card: dict[str, Any], *, source: str, base_version: int | None) -> dict[str, Any]:
        """Form values from a card (a saved version's, or one a model extracted)."""
        formatting = dict(card.get("formatting") or {})
        initial: dict[str, Any] = {name: "\n".join(card.get(name) or []) for name in LIST_FIELDS}
        initial.update({key: formatting.pop(key, "") for key in FORMATTING_KEYS})
        notes = [formatting.pop("notes", "")] + [f"{key}: {value}" for key, value in formatting.items()]
        initial["formatting_notes"] = "\n".join(note for note in notes if note)
        initial.update(
            tone=card.get("tone", ""),
            sample_posts=join_samples(card.get("sample_posts") or []),
            source=source,
            base_version=base_version,
        )
        return initial

    def clean_sample_posts(self) -> str:
        text = self.cleaned_data["sample_posts"]
        size = sum(len(post) for post in split_samples(text))
        if size > MAX_SAMPLE_CHARS:
            raise ValidationError(f"The samples have {size:,} characters; the limit is {MAX_SAMPLE_CHARS:,}.")
        return text

    def card(self) -> dict[str, Any]:
        """The cleaned form as keyword arguments for `style_profile_save`."""
        data = self.cleaned_data
        formatting = {key: data[key].strip() for key in FORMATTING_KEYS if data[key].strip()}
        if data["formatting_notes"].strip():
            formatting["notes"] = data["formatting_notes"].strip()
        return {
            "tone": data["tone"].strip(),
            **{name: clean_list(data[name].splitlines()) for name in LIST_FIELDS},
            "formatting": formatting,
            "sample_posts": split_samples(data["sample_posts"]),
        }


class SamplesForm(forms.Form):
    """Posts the author really wrote, pasted for extraction."""

    samples = forms.CharField(
        widget=_textarea(18),
        label="Sample posts",
        help_text=f"2 to 10 posts, {MAX_SAMPLE_CHARS:,} characters in all. {SAMPLES_HELP}",
    )

    def clean_samples(self) -> list[str]:
        posts = split_samples(self.cleaned_data["samples"])
        validate_samples(posts)
        return posts
