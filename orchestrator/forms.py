"""Forms of the writer's pages: start a flow, filter the queue, review decisions, series; and the
editor's: flow definitions, their dry runs and secrets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

from django import forms

from authors.models import Author
from authors.selectors import authors
from common.forms import WriteOnlySecretField
from orchestrator.flows.services import MAX_BRIEF_CHARS
from orchestrator.models import Series
from orchestrator.selectors import flow_choices
from reviews.models import DraftState
from reviews.selectors import AGE_FILTERS
from tenants.models import Membership


class FlowStartForm(forms.Form):
    author = forms.ModelChoiceField(queryset=Author.objects.none(), empty_label="Choose an author")
    flow = forms.ChoiceField(choices=())
    brief = forms.CharField(
        max_length=MAX_BRIEF_CHARS,
        widget=forms.Textarea(attrs={"rows": 8, "id": "brief", "placeholder": "What is the post about?"}),
        help_text="The idea, the audience's problem, any facts or numbers to use.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        author = cast(forms.ModelChoiceField, self.fields["author"])
        author.queryset = authors(active_only=True)
        author.widget.attrs["id"] = "author"
        flow = cast(forms.ChoiceField, self.fields["flow"])
        flow.choices = flow_choices()
        flow.widget.attrs["id"] = "flow"
        if not self.is_bound and "post" in dict(flow.choices):
            self.initial.setdefault("flow", "post")


AGE_LABELS = {
    "1h": "Older than 1 h",
    "4h": "Older than 4 h",
    "1d": "Older than 1 day",
    "3d": "Older than 3 days",
}


class QueueFilterForm(forms.Form):
    author = forms.ModelChoiceField(queryset=Author.objects.none(), required=False, empty_label="All authors")
    flow = forms.ChoiceField(required=False)
    state = forms.ChoiceField(required=False)
    age = forms.ChoiceField(required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["author"]).queryset = authors(active_only=False)
        cast(forms.ChoiceField, self.fields["flow"]).choices = [
            ("", "All flows"),
            *[(n, n) for n, _ in flow_choices()],
        ]
        cast(forms.ChoiceField, self.fields["state"]).choices = [
            ("", "Open"),
            *DraftState.choices,
            ("all", "All states"),
        ]
        cast(forms.ChoiceField, self.fields["age"]).choices = [
            ("", "Any age"),
            *[(k, AGE_LABELS[k]) for k in AGE_FILTERS],
        ]
        for name, field in self.fields.items():
            field.widget.attrs["id"] = f"filter-{name}"


class BodyForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 14, "id": "body"}), strip=True)


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "id": "reason"}),
        error_messages={"required": "Say why the draft is rejected."},
    )


class ChangesForm(forms.Form):
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "id": "instructions"}),
        error_messages={"required": "Write what should change."},
    )


class AssignForm(forms.Form):
    assignee = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)

    def __init__(self, *args, members: Sequence[Membership] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.members = {m.user_id: m.user for m in members}
        choices = [(m.user_id, m.user.email) for m in members]
        cast(forms.TypedChoiceField, self.fields["assignee"]).choices = [("", "Nobody"), *choices]
        self.fields["assignee"].widget.attrs["id"] = "assignee"


class SeriesForm(forms.ModelForm):
    class Meta:
        model = Series
        fields = ["name", "author", "flow_name", "brief", "cron", "is_active"]
        widgets = {"brief": forms.Textarea(attrs={"rows": 5}), "flow_name": forms.Select()}
        labels = {"flow_name": "Flow", "is_active": "Active (runs on schedule)"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["author"]).queryset = authors(active_only=True)
        self.fields["flow_name"].widget.choices = flow_choices()
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("id", f"series-{name.replace('_', '-')}")

    def clean_flow_name(self) -> str:
        name = self.cleaned_data["flow_name"]
        if name not in dict(flow_choices()):
            raise forms.ValidationError("Choose one of the active flows.")
        return name


# ---- flow definitions (editors) ---------------------------------------------------------------------


class FlowDefinitionForm(forms.Form):
    """The steps as JSON text; the service validates what they say (orchestrator/flows/editing.py)."""

    name = forms.SlugField(max_length=60, help_text="Lowercase letters, digits and -: the flow's name.")
    description = forms.CharField(max_length=200, required=False)
    steps = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 22, "id": "flow-steps", "spellcheck": "false", "class": "draft-text"}
        ),
        help_text="A JSON list of steps; see the step types below.",
    )

    def __init__(self, *args, fixed_name: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["id"] = "flow-name"
        self.fields["description"].widget.attrs["id"] = "flow-description"
        if fixed_name is not None:  # a new version of an existing flow keeps its name
            self.fields["name"].disabled = True
            self.initial["name"] = fixed_name

    def clean_steps(self) -> object:
        text = self.cleaned_data["steps"]
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"This is not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}."
            ) from exc


def steps_as_text(steps: object) -> str:
    return json.dumps(steps, indent=2, ensure_ascii=False)


class DryRunForm(forms.Form):
    author = forms.ModelChoiceField(queryset=Author.objects.none(), empty_label="Choose an author")
    brief = forms.CharField(
        max_length=MAX_BRIEF_CHARS,
        widget=forms.Textarea(
            attrs={"rows": 3, "id": "dry-run-brief", "placeholder": "What is the post about?"}
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        author = cast(forms.ModelChoiceField, self.fields["author"])
        author.queryset = authors(active_only=True)
        author.widget.attrs["id"] = "dry-run-author"


class FlowSecretForm(forms.Form):
    name = forms.SlugField(max_length=60, help_text='The name steps use: "secret": "<name>".')
    value = WriteOnlySecretField(
        max_length=4096,
        help_text="Leave empty to have Maestro generate one (shown once). Replaces any old value.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["id"] = "secret-name"
        self.fields["value"].widget.attrs["id"] = "secret-value"
