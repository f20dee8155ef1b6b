"""The console's retention policy, erasure confirmations and export choices."""

from __future__ import annotations

from typing import cast

from django import forms

from authors.models import Author
from privacy.models import RetentionPolicy
from tenants.models import Tenant


class RetentionPolicyForm(forms.ModelForm):
    class Meta:
        model = RetentionPolicy
        fields = ["trace_body_days", "cache_entry_days", "rejected_draft_days", "finished_run_days"]
        labels = {
            "trace_body_days": "Prompt and answer text of model calls (days)",
            "cache_entry_days": "Cached answers (days)",
            "rejected_draft_days": "Rejected drafts (days)",
            "finished_run_days": "Finished flow runs (days)",
        }


def _author_choices() -> list[tuple[int, str]]:
    return [(author.pk, author.name) for author in Author.objects.order_by("name")]


class AuthorEraseForm(forms.Form):
    """Erasing cannot be undone: the admin types the author's name to confirm."""

    author = forms.TypedChoiceField(coerce=int)
    confirm_name = forms.CharField(
        max_length=120, label="Type the author's name to confirm", help_text="Exactly as it is spelled."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["author"]).choices = [("", "—"), *_author_choices()]

    def clean(self):
        cleaned = super().clean() or {}
        author_id = cleaned.get("author")
        author = Author.objects.filter(pk=author_id).first() if author_id is not None else None
        if author is not None and cleaned.get("confirm_name", "").strip() != author.name:
            self.add_error("confirm_name", f"Type {author.name} exactly to erase this author.")
        cleaned["author_obj"] = author
        return cleaned


class TenantEraseForm(forms.Form):
    confirm_slug = forms.CharField(max_length=60, label="Type the tenant's slug to confirm")

    def __init__(self, *args, tenant: Tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant

    def clean_confirm_slug(self) -> str:
        value = self.cleaned_data["confirm_slug"].strip()
        if value != self.tenant.slug:
            raise forms.ValidationError(f"Type {self.tenant.slug} exactly to erase the whole tenant.")
        return value


class ExportForm(forms.Form):
    author = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, help_text="Empty: the whole tenant."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["author"]).choices = [
            ("", "The whole tenant"),
            *_author_choices(),
        ]
