"""The console's filter of the audit log."""

from __future__ import annotations

from typing import cast

from django import forms

from audit import selectors


class AuditFilterForm(forms.Form):
    actor = forms.CharField(
        required=False, max_length=200, help_text="An email or a key's name, or part of one."
    )
    action = forms.ChoiceField(required=False)
    target_type = forms.ChoiceField(required=False, label="Target")
    target_id = forms.CharField(required=False, max_length=64, label="Target id")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        actions = selectors.audit_actions()
        prefixes = sorted({action.split(".")[0] + "." for action in actions})
        cast(forms.ChoiceField, self.fields["action"]).choices = [
            ("", "Any"),
            *((prefix, f"{prefix}*") for prefix in prefixes),
            *((action, action) for action in actions),
        ]
        cast(forms.ChoiceField, self.fields["target_type"]).choices = [
            ("", "Any"),
            *((t, t) for t in selectors.audit_target_types() if t),
        ]

    def clean(self):
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "The end comes after the start.")
        return cleaned

    def filters(self) -> dict:
        """The filters for `audit_events`; none while the form is invalid."""
        if not self.is_valid():
            return {}
        return {key: value for key, value in self.cleaned_data.items() if value not in (None, "")}
