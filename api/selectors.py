"""Reads of API keys, including the one lookup that runs before any tenant is known."""

from __future__ import annotations

import hmac

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from api.models import ApiKey
from api.services import TOKEN_PREFIX, token_digest


def api_key_for_token(token: str) -> ApiKey | None:
    """The active key this token belongs to, or None. Compared in constant time."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    # Resolving the edge: the token says which tenant, so no tenant is in scope yet. The row is
    # found by its unique prefix and only trusted once the digest of the whole token matches.
    key = (
        ApiKey.objects.unscoped()
        .select_related("tenant", "identity")
        .filter(prefix=parts[1], revoked_at__isnull=True, tenant__is_active=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.secret_hash, token_digest(token)):
        return None
    return key


def api_keys() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("created_by").order_by("revoked_at", "-created_at")


def access_api_key(*, api_key_id: int) -> ApiKey:
    return get_object_or_404(ApiKey, pk=api_key_id)
