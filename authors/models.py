"""Authors a tenant writes for, and the versioned style profiles that hold their voice."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenants.scoping import TenantOwnedModel


class Author(TenantOwnedModel):
    """An executive or brand the tenant writes for. Their voice lives in versioned style profiles."""

    name = models.CharField(max_length=120)
    headline = models.CharField(max_length=200, blank=True, help_text="Role and company, e.g. CEO at Acme.")
    audience = models.TextField(blank=True, help_text="Who reads this author.")
    language = models.CharField(max_length=16, default="en", help_text="BCP 47 code, e.g. en, pt-BR.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tenants_author"  # kept from the app it moved from
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="author_unique_name")]

    def __str__(self) -> str:
        return self.name


class StyleProfile(TenantOwnedModel):
    """One immutable version of an author's style card; the highest version is the current one.

    A draft records the version it was written with, so later edits never rewrite history.
    """

    class Source(models.TextChoices):
        MANUAL = "manual", "Written by an editor"
        EXTRACTED = "extracted", "Extracted from samples, reviewed by an editor"

    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="profiles")
    version = models.PositiveIntegerField()
    tone = models.TextField(blank=True, help_text="How the author sounds, in a few sentences.")
    vocabulary_prefer = models.JSONField(default=list, blank=True)
    vocabulary_avoid = models.JSONField(default=list, blank=True)
    banned_phrases = models.JSONField(default=list, blank=True)
    formatting = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"length": "150-250 words", "emoji": "rare", "hashtags": "max 3"}',
    )
    sample_posts = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tenants_styleprofile"  # kept from the app it moved from
        ordering = ["author", "-version"]
        constraints = [models.UniqueConstraint(fields=["author", "version"], name="profile_unique_version")]

    def __str__(self) -> str:
        return f"{self.author_id} v{self.version}"
