from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from tenants.roles import Role
from tenants.scoping import TenantOwnedModel


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address; belongs to tenants through memberships."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Can log in to Django's admin site.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Tenant(models.Model):
    """An agency or company using Maestro; everything it owns hangs off it."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    settings = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TenantOwnedModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.WRITER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__email"]
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant_id} as {self.role}"


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
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["author", "-version"]
        constraints = [models.UniqueConstraint(fields=["author", "version"], name="profile_unique_version")]

    def __str__(self) -> str:
        return f"{self.author_id} v{self.version}"
