"""Writes of API keys: create (the token is returned once, never stored) and revoke."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api import resolved_keys
from api.models import ApiKey, Scope
from audit.services import record
from tenants.models import User

TOKEN_PREFIX = "mae"  # noqa: S105  (the public prefix of every token, not a secret)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    token: str  # shown to the admin once; Maestro keeps only its digest


def _identity_for(*, prefix: str, name: str) -> User:
    """The service user a key acts as: it can never log in (inactive, no usable password)."""
    user = User(email=f"key-{prefix}@api.maestro.invalid", full_name=f"API key {name}", is_active=False)
    user.set_unusable_password()
    user.save()
    return user


@transaction.atomic
def api_key_create(
    *,
    name: str,
    scopes: list[str],
    created_by: User | None,
    requests_per_minute: int = 60,
    tokens_per_minute: int = 0,
) -> CreatedKey:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the key after who uses it."})
    unknown = set(scopes) - set(Scope.values)
    if unknown or not scopes:
        raise ValidationError({"scopes": "Choose at least one of: " + ", ".join(Scope.values) + "."})
    if requests_per_minute < 0 or tokens_per_minute < 0:
        raise ValidationError({"requests_per_minute": "Limits are 0 (none) or more."})
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        secret_hash=token_digest(token),
        scopes=sorted(set(scopes)),
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
        identity=_identity_for(prefix=prefix, name=name),
        created_by=created_by,
    )
    after = {
        "scopes": key.scopes,
        "requests_per_minute": requests_per_minute,
        "tokens_per_minute": tokens_per_minute,
    }
    record(action="api_key.created", target=key, actor=created_by, after=after)
    return CreatedKey(key=key, token=token)


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        resolved_keys.forget()  # this process stops serving it now; others within the cache's life
        record(
            action="api_key.revoked",
            target=key,
            before={"revoked_at": None},
            after={"revoked_at": key.revoked_at},
        )
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record use at most once a minute, so busy keys do not write on every request."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        # Called at the edge before the tenant is in scope; the key's own row, by primary key.
        ApiKey.objects.unscoped().filter(pk=key.pk).update(last_used_at=now)
