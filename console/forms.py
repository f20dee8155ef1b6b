"""Console forms: they parse and validate; services write."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from common.forms import WriteOnlySecretField
from common.net import OutboundURLRefusedError, check_outbound_url
from console import selectors
from gateway import selectors as gateway_selectors
from gateway.cache import policy as cache_policy
from gateway.models import (
    Budget,
    BudgetScope,
    LLMModel,
    ProviderEndpoint,
    RoutePreference,
    RouterMode,
    RouterSetting,
    TenantPolicy,
    Tier,
    TraceStatus,
)
from gateway.routing import PURPOSE_COMPLEXITY
from webhooks.models import SUBSCRIBABLE_EVENTS, WebhookEndpoint

PURPOSES = sorted(PURPOSE_COMPLEXITY)


def _https_by_default(field, **kwargs):
    """URLs typed without a scheme mean https (Django 6's default, asked for explicitly now)."""
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


def _percentages(text: str) -> list[float]:
    try:
        values = sorted({float(part.strip().rstrip("%")) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise ValidationError("Write percentages separated by commas, e.g. 50, 80, 100.") from exc
    if any(not 0 < value <= 100 for value in values):
        raise ValidationError("Each threshold must be above 0 and at most 100 percent.")
    return [round(value / 100, 4) for value in values]


class BudgetForm(forms.ModelForm):
    user = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="User (user scope)")
    author = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Author (author scope)"
    )
    thresholds = forms.CharField(
        label="Alert thresholds (%)",
        initial="80, 100",
        required=False,
        help_text="An alert (and a budget.alert webhook) when spend crosses each, once per period.",
    )
    limit = forms.DecimalField(min_value=Decimal(0), max_digits=12, decimal_places=4, label="Limit (USD)")

    class Meta:
        model = Budget
        fields = ["scope", "period", "limit", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users, authors = selectors.budget_subject_choices()
        cast(forms.ChoiceField, self.fields["user"]).choices = [("", "—"), *users]
        cast(forms.ChoiceField, self.fields["author"]).choices = [("", "—"), *authors]
        if self.instance.pk:
            self.initial.setdefault("user", self.instance.user_id)
            self.initial.setdefault("author", self.instance.author_id)
            self.initial["thresholds"] = ", ".join(
                f"{t * 100:g}" for t in self.instance.alert_thresholds or []
            )

    def clean_thresholds(self) -> list[float]:
        return _percentages(self.cleaned_data["thresholds"])

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        scope = data.get("scope")
        if scope == BudgetScope.USER and not data.get("user"):
            self.add_error("user", "Choose the user this budget limits.")
        if scope == BudgetScope.AUTHOR and not data.get("author"):
            self.add_error("author", "Choose the author this budget limits.")
        if scope != BudgetScope.USER:
            data["user"] = None
        if scope != BudgetScope.AUTHOR:
            data["author"] = None
        if scope and not self.errors:
            clash = Budget.objects.filter(
                scope=scope, period=data.get("period"), user_id=data["user"], author_id=data["author"]
            ).exclude(pk=self.instance.pk)
            if clash.exists():
                raise ValidationError("A budget for this subject and period exists already: edit that one.")
        return data


class PolicyForm(forms.ModelForm):
    allowed_models = forms.ModelMultipleChoiceField(
        queryset=LLMModel.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every active model may be used.",
    )

    class Meta:
        model = TenantPolicy
        fields = [
            "allowed_models",
            "preference",
            "max_prompt_chars",
            "tokens_per_minute",
            "requests_per_minute",
            "redact_prompts",
            "redact_traces",
            "redact_names",
            "sensitive_terms",
            "store_prompts",
            "cache_enabled",
            "cache_threshold",
            "cache_ttl_seconds",
            "ttft_alert_seconds",
        ]
        widgets = {"sensitive_terms": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(
            forms.ModelChoiceField, self.fields["allowed_models"]
        ).queryset = gateway_selectors.selectable_models()
        self.fields["ttft_alert_seconds"].required = False  # left empty: the threshold stays as it was
        tiers = self.instance.default_tiers or {}
        for purpose in PURPOSES:
            self.fields[f"tier_{purpose}"] = forms.ChoiceField(
                choices=[("", "Router decides"), *Tier.choices],
                required=False,
                initial=tiers.get(purpose, ""),
                label=purpose.replace("_", " "),
            )
        modes = self.instance.cache_modes or {}
        for purpose in cache_policy.PURPOSES:
            default = cache_policy.mode_for(purpose, None)
            self.fields[f"cache_{purpose}"] = forms.ChoiceField(
                choices=[(m, cache_policy.MODE_LABELS[m]) for m in cache_policy.MODES],
                initial=cache_policy.mode_for(purpose, modes),
                required=False,  # left out: the purpose keeps its mode
                label=purpose.replace("_", " "),
                help_text=f"Default: {cache_policy.MODE_LABELS[default].lower()}.",
            )

    SETTINGS = [
        "preference",
        "max_prompt_chars",
        "tokens_per_minute",
        "requests_per_minute",
        "cache_threshold",
        "cache_ttl_seconds",
        "ttft_alert_seconds",
    ]
    SWITCHES = ["redact_prompts", "redact_traces", "redact_names", "store_prompts", "cache_enabled"]

    def clean_ttft_alert_seconds(self) -> float:
        value = self.cleaned_data.get("ttft_alert_seconds")
        return self.instance.ttft_alert_seconds if value is None else value

    def setting_fields(self):
        return [self[name] for name in self.SETTINGS]

    def switch_fields(self):
        return [self[name] for name in self.SWITCHES]

    def tier_fields(self):
        return [self[f"tier_{purpose}"] for purpose in PURPOSES]

    def cache_mode_fields(self):
        return [self[f"cache_{purpose}"] for purpose in cache_policy.PURPOSES]

    def cache_modes(self) -> dict[str, str]:
        """The modes that differ from the defaults (a later change of a default reaches the rest)."""
        kept = self.instance.cache_modes or {}
        chosen = {
            p: self.cleaned_data.get(f"cache_{p}") or cache_policy.mode_for(p, kept)
            for p in cache_policy.PURPOSES
        }
        others = {p: m for p, m in kept.items() if p not in chosen}  # purposes the page does not list
        return others | {p: m for p, m in chosen.items() if m != cache_policy.mode_for(p, None)}

    def default_tiers(self) -> dict[str, str]:
        return {p: self.cleaned_data[f"tier_{p}"] for p in PURPOSES if self.cleaned_data.get(f"tier_{p}")}


class ProviderForm(forms.ModelForm):
    api_key = WriteOnlySecretField(
        label="API key", help_text="Write-only. Leave empty to keep the current key."
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored key")
    base_url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="e.g. https://api.openai.com/v1"
    )

    class Meta:
        model = ProviderEndpoint
        fields = ["name", "kind", "base_url", "is_active"]
        formfield_callback = _https_by_default

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        clash = ProviderEndpoint.objects.filter(tenant__isnull=False, name=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError("You have a provider with this name already.")
        return name

    def clean_base_url(self) -> str:
        """Said at once here; every connection to it is checked again (common/net.py)."""
        url = self.cleaned_data["base_url"]
        try:
            check_outbound_url(url)
        except OutboundURLRefusedError as exc:
            raise ValidationError(str(exc)) from exc
        return url


class LLMModelForm(forms.ModelForm):
    class Meta:
        model = LLMModel
        fields = [
            "provider",
            "alias",
            "model_name",
            "tier",
            "input_price_per_mtok",
            "output_price_per_mtok",
            "context_window",
            "max_output_tokens",
            "max_concurrency",
            "prompt_format",
            "is_active",
        ]
        labels = {"max_concurrency": "Concurrent calls"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A tenant's model runs on the tenant's own providers (and credentials), never a shared one.
        cast(forms.ModelChoiceField, self.fields["provider"]).queryset = ProviderEndpoint.objects.filter(
            tenant__isnull=False
        )

    def clean_alias(self) -> str:
        alias = self.cleaned_data["alias"]
        if LLMModel.objects.filter(tenant__isnull=False, alias=alias).exclude(pk=self.instance.pk).exists():
            raise ValidationError("You have a model with this alias already.")
        return alias


class RoutePreferenceForm(forms.ModelForm):
    purpose = forms.ChoiceField(choices=[(p, p.replace("_", " ")) for p in PURPOSES])
    chain = forms.CharField(
        label="Fallback chain",
        help_text="Model aliases in the order to try, separated by commas; the router's own chain follows.",
    )

    class Meta:
        model = RoutePreference
        fields = ["purpose"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["chain"] = ", ".join(self.instance.chain)

    def clean_chain(self) -> list[str]:
        aliases = [part.strip() for part in self.cleaned_data["chain"].split(",") if part.strip()]
        known = set(gateway_selectors.selectable_models().values_list("alias", flat=True))
        unknown = [alias for alias in aliases if alias not in known]
        if unknown:
            raise ValidationError(f"Unknown or inactive models: {', '.join(unknown)}.")
        if not aliases or len(aliases) > 8 or len(set(aliases)) != len(aliases):
            raise ValidationError("Name one to eight different models.")
        return aliases


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=SUBSCRIBABLE_EVENTS, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "is_active"]
        formfield_callback = _https_by_default

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_outbound_url(url)
        except OutboundURLRefusedError as exc:
            raise ValidationError(str(exc)) from exc
        return url


class TraceFilterForm(forms.Form):
    call_id = forms.UUIDField(required=False, label="Call id")
    model = forms.ChoiceField(required=False)
    purpose = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *TraceStatus.choices])
    error_code = forms.ChoiceField(required=False, label="Error")
    author = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    user = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    cache_hit = forms.BooleanField(required=False, label="Cache hits only")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = selectors.trace_filter_choices()
        users, authors = selectors.budget_subject_choices()
        cast(forms.ChoiceField, self.fields["model"]).choices = [
            ("", "Any"),
            *((m, m) for m in choices["models"]),
        ]
        cast(forms.ChoiceField, self.fields["purpose"]).choices = [
            ("", "Any"),
            *((p, p) for p in choices["purposes"]),
        ]
        cast(forms.ChoiceField, self.fields["error_code"]).choices = [
            ("", "Any"),
            *((c, c) for c in choices["error_codes"]),
        ]
        cast(forms.ChoiceField, self.fields["author"]).choices = [("", "Any"), *authors]
        cast(forms.ChoiceField, self.fields["user"]).choices = [("", "Any"), *users]


class DashboardForm(forms.Form):
    range = forms.ChoiceField(choices=[(key, key) for key in selectors.RANGES], required=False)
    by = forms.ChoiceField(choices=[(key, key) for key in selectors.DIMENSIONS], required=False)

    def values(self) -> tuple[str, str]:
        data = self.cleaned_data if self.is_valid() else {}
        return data.get("range") or "7d", data.get("by") or "model"


class RouterDialForm(forms.Form):
    """The learned router's dial; shares and floors are typed as percentages."""

    mode = forms.ChoiceField(choices=RouterMode.choices)
    premium_share = forms.FloatField(
        min_value=0,
        max_value=100,
        label="Target premium share (%)",
        help_text="Of the calls the router decides, the share to send to the premium tier.",
    )
    quality_floor = forms.FloatField(
        min_value=50,
        max_value=100,
        label="Quality floor (% of premium-only)",
        help_text="The fewest premium calls whose expected quality reaches this.",
    )
    share_labels = forms.BooleanField(
        required=False,
        label="Pool review labels with other tenants that opt in",
        help_text="Off: this tenant's labels teach only its own router.",
    )

    @classmethod
    def for_setting(cls, setting: RouterSetting) -> RouterDialForm:
        return cls(
            initial={
                "mode": setting.mode,
                "premium_share": round(100 * setting.premium_share, 1),
                "quality_floor": round(100 * setting.quality_floor, 1),
                "share_labels": setting.share_labels,
            }
        )

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "mode": data["mode"],
            "premium_share": data["premium_share"] / 100,
            "quality_floor": data["quality_floor"] / 100,
            "share_labels": data["share_labels"],
        }
