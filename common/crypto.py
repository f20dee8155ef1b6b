"""Encryption at rest for provider credentials.

Keys come from MAESTRO_ENCRYPTION_KEYS (comma-separated Fernet keys, newest
first, so keys can be rotated); without it, a key is derived from SECRET_KEY,
which is fine locally and warned about by `check --deploy`.
"""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialError(RuntimeError):
    """A stored credential cannot be decrypted with the configured keys."""


@functools.cache
def _fernet() -> MultiFernet:
    keys = [key.strip() for key in getattr(settings, "MAESTRO_ENCRYPTION_KEYS", []) if key.strip()]
    if not keys:
        digest = hashlib.sha256(f"maestro-credentials:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt_secret(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt_secret(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialError(
            "A stored credential cannot be decrypted: was the encryption key changed?"
        ) from exc


def mask_secret(plaintext: str) -> str:
    """What a person may see of a secret: enough to recognise it, never to use it."""
    if not plaintext:
        return ""
    if len(plaintext) <= 8:
        return "•" * len(plaintext)
    return f"{plaintext[:3]}…{plaintext[-4:]}"
