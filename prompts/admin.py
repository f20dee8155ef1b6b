"""Django admin for the prompt library: templates and labels editable, versions write-once.

Staff work across tenants here (MaestroAdminSite); new versions go through the service so that
they are validated, numbered and recorded in the history like any editor's.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from prompts import services
from prompts.models import (
    PromptChange,
    PromptExperiment,
    PromptLabel,
    PromptOutcome,
    PromptTemplate,
    PromptVersion,
)

VERSION_FIELDS = ["template", "messages", "variables", "tier", "temperature", "max_tokens", "change_note"]
INLINE_FIELDS = ("number", "change_note", "tier", "temperature", "max_tokens", "created_by", "created_at")


class PromptVersionInline(admin.TabularInline):
    model = PromptVersion
    fields = INLINE_FIELDS
    readonly_fields = INLINE_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ["purpose", "name", "tenant", "created_at"]
    list_filter = ["purpose", ("tenant", admin.EmptyFieldListFilter)]
    search_fields = ["name", "description"]
    inlines = [PromptVersionInline]


class PromptVersionForm(forms.ModelForm):
    class Meta:
        model = PromptVersion
        fields = VERSION_FIELDS

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.instance.pk is None and not self.errors:  # saved versions are read-only
            fields: dict[str, Any] = {
                name: cleaned.get(name) for name in VERSION_FIELDS if name not in ("template", "change_note")
            }
            services.prompt_version_validate(**fields)
        return cleaned


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    form = PromptVersionForm
    list_display = ["template", "number", "change_note", "tier", "created_by", "created_at"]
    list_filter = ["template__purpose", "tier"]
    search_fields = ["template__name", "change_note"]

    def get_fields(self, request, obj=None):
        return (
            VERSION_FIELDS
            if obj is None
            else [*VERSION_FIELDS, "number", "based_on", "created_by", "created_at"]
        )

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # immutable: the change form is read-only
        data = form.cleaned_data
        created = services.prompt_version_create(
            template=data["template"],
            messages=data["messages"],
            variables=data["variables"],
            tier=data["tier"],
            temperature=data["temperature"],
            max_tokens=data["max_tokens"],
            change_note=data["change_note"],
            created_by=request.user,
        )
        obj.pk, obj.number = created.pk, created.number
        obj._state.adding = False


@admin.register(PromptLabel)
class PromptLabelAdmin(admin.ModelAdmin):
    list_display = ["template", "name", "version", "updated_at"]
    readonly_fields = ["template", "name", "version", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False  # labels move through the tenant pages, where each move is recorded


@admin.register(PromptChange)
class PromptChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "template", "kind", "label", "version", "from_version", "actor"]
    list_filter = ["kind"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PromptExperiment)
class PromptExperimentAdmin(admin.ModelAdmin):
    list_display = ["template", "tenant", "version_a", "version_b", "share_b", "started_at", "stopped_at"]
    readonly_fields = ["tenant", "template", "version_a", "version_b", "share_b", "started_by", "started_at"]

    def has_add_permission(self, request) -> bool:
        return False  # experiments start from the tenant's pages


@admin.register(PromptOutcome)
class PromptOutcomeAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "tenant",
        "version",
        "experiment",
        "approved",
        "edit_distance",
        "cost_micros",
    ]

    def has_change_permission(self, request, obj=None) -> bool:
        return False
