from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import cast

from django import forms

from prompts.models import ModelTier, PromptVersion
from prompts.rendering import ROLES

VARIABLE_LINE = re.compile(r"(?P<name>[^\s:?]+)\s*(?P<optional>\?)?\s*(?::\s*(?P<description>.*))?")


def variables_to_text(variables: list[dict]) -> str:
    lines = []
    for variable in variables:
        optional = "" if variable.get("required", True) else "?"
        description = f": {variable['description']}" if variable.get("description") else ""
        lines.append(f"{variable['name']}{optional}{description}")
    return "\n".join(lines)


class MessageForm(forms.Form):
    role = forms.ChoiceField(choices=[(role, role.capitalize()) for role in ROLES])
    content = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 10, "class": "prompt-text"})
    )


class BaseMessageFormSet(forms.BaseFormSet):
    def messages(self) -> list[dict]:
        """The filled-in rows, in order; empty rows are how an editor removes a message."""
        return [
            {"role": form.cleaned_data["role"], "content": form.cleaned_data["content"]}
            for form in self.forms
            if form.cleaned_data.get("content", "").strip()
        ]


# formset_factory returns a subclass of `formset`; django-stubs types it as plain BaseFormSet.
MessageFormSet = cast(
    type[BaseMessageFormSet],
    forms.formset_factory(MessageForm, formset=BaseMessageFormSet, extra=1, max_num=12),
)


class VersionForm(forms.Form):
    variables = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "prompt-text"}),
        help_text="One per line: <code>name: description</code>; add <code>?</code> after the name when it "
        "is optional (<code>memories?: facts to use</code>).",
    )
    tier = forms.ChoiceField(choices=ModelTier.choices)
    temperature = forms.DecimalField(min_value=Decimal(0), max_value=Decimal(2), decimal_places=2)
    max_tokens = forms.IntegerField(min_value=16, max_value=32000)
    change_note = forms.CharField(max_length=200, help_text="What changed and why, for the history.")
    make_production = forms.BooleanField(
        required=False, initial=True, label="Make this version production right away"
    )

    def clean_variables(self) -> list[dict]:
        declared = []
        for number, line in enumerate(self.cleaned_data["variables"].splitlines(), start=1):
            if not line.strip():
                continue
            match = VARIABLE_LINE.fullmatch(line.strip())
            if not match:
                raise forms.ValidationError(f"Line {number} is not 'name: description'.")
            declared.append(
                {
                    "name": match["name"],
                    "description": (match["description"] or "").strip(),
                    "required": not match["optional"],
                }
            )
        return declared

    @staticmethod
    def initial_from(version: PromptVersion | None) -> tuple[dict, list[dict]]:
        if version is None:
            return {"tier": ModelTier.STANDARD, "temperature": "0.70", "max_tokens": 800}, [
                {"role": "system"}
            ]
        initial = {
            "variables": variables_to_text(version.variables),
            "tier": version.tier,
            "temperature": version.temperature,
            "max_tokens": version.max_tokens,
        }
        return initial, [dict(message) for message in version.messages]


class LabelMoveForm(forms.Form):
    label = forms.SlugField(max_length=40, initial="production")
    version = forms.TypedChoiceField(coerce=int, label="Version")
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, versions: Iterable[PromptVersion] = (), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["version"]).choices = [
            (v.pk, f"v{v.number} — {v.change_note or 'no note'}") for v in versions
        ]


class ExperimentForm(forms.Form):
    version_b = forms.TypedChoiceField(coerce=int, label="Version B (challenger)")
    share_b = forms.IntegerField(
        min_value=0,
        max_value=100,
        initial=20,
        label="Traffic to B (%)",
        help_text="The rest stays on production (A).",
    )

    def __init__(self, *args, versions: Iterable[PromptVersion] = (), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["version_b"]).choices = [
            (v.pk, f"v{v.number} — {v.change_note or 'no note'}") for v in versions
        ]
