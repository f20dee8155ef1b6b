"""Tenant API keys: what a CRM or any OpenAI SDK presents to reach Maestro over HTTP.

A key is shown once, when it is created (`mae_<prefix>_<secret>`); only the prefix (to find the row)
and a SHA-256 digest of the whole token (to check it) are stored. The secret has 256 bits of entropy,
so a fast digest is enough: there is nothing to brute-force, unlike a password.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from tenants.scoping import TenantOwnedModel


class Scope(models.TextChoices):
    READ = "read", "Read everything the tenant's members can see"
    GENERATE = "generate", "Start flows and call models (/v1/chat/completions)"
    REVIEW = "review", "Claim, edit, approve and reject drafts"
    ADMIN = "admin", "Change authors, style profiles, memories and prompts"


class ApiKey(TenantOwnedModel):
    name = models.CharField(max_length=80, help_text="Who uses it, e.g. HubSpot sync.")
    prefix = models.CharField(max_length=16, unique=True, help_text="Shown in lists; finds the key.")
    secret_hash = models.CharField(max_length=64, help_text="SHA-256 of the whole token, hex.")
    scopes = ArrayField(models.CharField(max_length=16, choices=Scope.choices), default=list)
    tokens_per_minute = models.PositiveIntegerField(default=0, help_text="Model tokens; 0: no limit.")
    requests_per_minute = models.PositiveIntegerField(default=60, help_text="0: no limit.")
    identity = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_key",
        help_text="The service user the key acts as (drafts, runs and traces record it).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (mae_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
