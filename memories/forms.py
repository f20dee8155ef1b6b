from __future__ import annotations

from typing import Any, cast

from django import forms

from authors.models import Author
from memories.models import Memory

STATUS_CHOICES = [("valid", "Valid"), ("expired", "Expired or not yet valid"), ("all", "All")]
DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class MemoryFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=300, label="Search")
    author = forms.ModelChoiceField(queryset=Author.objects.none(), required=False, empty_label="All authors")
    kind = forms.ChoiceField(choices=[("", "All kinds"), *Memory.Kind.choices], required=False)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, initial="valid")
    history = forms.BooleanField(
        required=False,
        label="Include history",
        help_text="Also memories no longer valid (expired or superseded).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Built per request: the scoped manager needs the tenant, which is only in scope now.
        cast(forms.ModelChoiceField, self.fields["author"]).queryset = Author.objects.all()
        self.fields["q"].widget.attrs.update(placeholder="What should Maestro remember about…", type="search")


class MemoryForm(forms.Form):
    """Add or edit a memory. Validation of meaning (text, dates) lives in the services."""

    author = forms.ModelChoiceField(queryset=Author.objects.none())
    kind = forms.ChoiceField(choices=Memory.Kind.choices)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=2000)
    importance = forms.TypedChoiceField(
        coerce=int,
        choices=[(n, str(n)) for n in range(1, 6)],
        initial=3,
        help_text="1: nice to know; 5: always keep in mind.",
    )
    valid_from = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, help_text="Empty: from now.")
    valid_until = forms.DateTimeField(required=False, widget=DATETIME_WIDGET, help_text="Empty: still valid.")

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["author"]  # a memory stays with its author
        else:
            author = cast(forms.ModelChoiceField, self.fields["author"])
            author.queryset = Author.objects.filter(is_active=True)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        start, end = cleaned.get("valid_from"), cleaned.get("valid_until")
        if start and end and end < start:
            self.add_error("valid_until", "A memory cannot stop being valid before it starts.")
        return cleaned


class OtherMemoryForm(forms.Form):
    """Which other memory an action on a memory is about: its successor, or the one to keep beside it."""

    other = forms.IntegerField(min_value=1)
