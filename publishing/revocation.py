"""Revoking authors' LinkedIn tokens: when an author disconnects, is erased, or their tenant is erased.

    linkedin_tokens_revoke(author=..., user=..., reason="disconnected")  # one author's connection
    linkedin_tokens_revoke(author=None, user=..., reason="tenant erased")  # every one of the tenant
    linkedin_revoke_retry(tenant=..., author_id=..., token_encrypted=..., ...)  # the Celery task's work

Every token (access and refresh) is revoked at LinkedIn first, then forgotten here, whatever LinkedIn
answered: a revocation that fails never blocks an erasure, and Maestro never keeps a token it was asked
to give up. A call LinkedIn could not take now (down, 5xx, 429) is audited and handed to a Celery task
(publishing.tasks.revoke_token) that tries again with backoff; the task's message holds the token
encrypted (common/crypto.py), never in clear. A refusal (the app's credentials, a token LinkedIn does
not take) is audited and not tried again: the token expires by itself at LinkedIn.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record
from authors.models import Author
from common.crypto import CredentialError, decrypt_secret
from orchestrator.queueing import QueueUnavailableError, send_now
from publishing import linkedin
from publishing.models import ConnectionStatus, LinkedInConnection
from tenants.models import Tenant, User

logger = logging.getLogger("maestro.publishing")

REVOKE_TASK = "publishing.tasks.revoke_token"
REVOKE_MAX_RETRIES = 24  # with the publishing backoff (60 s doubling to 1 h): about a day of trying
# Where a member removes an app's access themselves when LinkedIn never confirmed the revocation.
MEMBER_SETTINGS = "LinkedIn → Settings → Data privacy → Permitted services"


@dataclass
class Revocation:
    """What revoking came to. Maestro has forgotten every token either way."""

    revoked: int = 0  # tokens LinkedIn confirmed revoked
    retrying: list[str] = field(default_factory=list)  # LinkedIn could not take it now: a task retries
    refused: list[str] = field(default_factory=list)  # LinkedIn refused it: not tried again

    @property
    def ok(self) -> bool:
        return not self.retrying and not self.refused

    @property
    def message(self) -> str:
        """A sentence for the person who asked ("" when every token was revoked)."""
        parts = []
        if self.retrying:
            parts.append(
                f"LinkedIn could not revoke {_tokens(len(self.retrying))} now: {_sentence(self.retrying[0])} "
                "Maestro has deleted its copy and keeps asking LinkedIn in the background."
            )
        if self.refused:
            parts.append(
                f"LinkedIn did not revoke {_tokens(len(self.refused))}: {_sentence(self.refused[0])} Maestro "
                f"has deleted its copy; the member can remove the app's access in {MEMBER_SETTINGS}."
            )
        return " ".join(parts)

    def as_json(self) -> dict:
        return {"revoked": self.revoked, "retrying": len(self.retrying), "refused": len(self.refused)}


def _sentence(text: str) -> str:
    return text.rstrip(". ") + "."


def _tokens(count: int) -> str:
    return "a token" if count == 1 else f"{count} tokens"


def _label(author_id: int) -> str:
    return f"author #{author_id}"  # never the name: these events outlive an erased author


@transaction.atomic
def linkedin_tokens_revoke(*, author: Author | None, user: User | None, reason: str) -> Revocation:
    """Revoke the LinkedIn tokens of an author (None: of every author of the tenant in scope) at LinkedIn,
    then forget them here; the connections are left `revoked` (an erasure then deletes them).

    After the first call LinkedIn could not take, the remaining tokens go straight to the retry task,
    so a LinkedIn that hangs costs one timeout, not one per token."""
    connections = LinkedInConnection.objects.select_for_update().order_by("pk")
    if author is not None:
        connections = connections.filter(author=author)
    outcome, linkedin_down = Revocation(), False
    for connection in connections:
        for encrypted in (connection.access_token_encrypted, connection.refresh_token_encrypted):
            if encrypted:
                linkedin_down = _revoke_once(
                    connection, encrypted, outcome, skip=linkedin_down, user=user, reason=reason
                )
        connection.access_token_encrypted, connection.refresh_token_encrypted = "", ""
        connection.status, connection.revoked_at = ConnectionStatus.REVOKED, timezone.now()
        connection.save(
            update_fields=["access_token_encrypted", "refresh_token_encrypted", "status", "revoked_at"]
        )
    if not outcome.ok:
        logger.warning("LinkedIn revocation (%s) by %s: %s", reason, user or "Maestro", outcome.message)
    return outcome


def _revoke_once(
    connection: LinkedInConnection,
    encrypted: str,
    outcome: Revocation,
    *,
    skip: bool,
    user: User | None,
    reason: str,
) -> bool:
    """One token: revoked, handed to the retry task, or refused. Returns whether LinkedIn seems down."""
    try:
        if skip:
            raise linkedin.LinkedInError("LinkedIn did not answer the previous revocation", retryable=True)
        linkedin.revoke(token=decrypt_secret(encrypted))
    except CredentialError as exc:
        _failed(connection, outcome, message=str(exc), retrying=False, user=user, reason=reason)
        return skip
    except linkedin.LinkedInError as exc:
        _failed(connection, outcome, message=exc.message, retrying=exc.retryable, user=user, reason=reason)
        if exc.retryable:
            _enqueue_retry(connection.tenant_id, connection.author_id, encrypted)
        return skip or exc.retryable
    outcome.revoked += 1
    return False


def _failed(
    connection: LinkedInConnection,
    outcome: Revocation,
    *,
    message: str,
    retrying: bool,
    user: User | None,
    reason: str,
) -> None:
    (outcome.retrying if retrying else outcome.refused).append(message)
    record(
        action="publishing.linkedin_revoke_failed",
        target_type="authors.author",
        target_id=connection.author_id,
        target_label=_label(connection.author_id),
        actor=user,
        after={"reason": reason, "error": message, "retrying": retrying},
    )


def _enqueue_retry(tenant_id: int, author_id: int, encrypted: str) -> None:
    """Send the retry task once the revocation commits (nothing is owed if it rolls back: the token is
    still here then). A broker that is down as well is logged: the token is gone here either way."""

    def send() -> None:
        try:
            send_now(REVOKE_TASK, tenant_id, author_id, encrypted)
        except QueueUnavailableError as exc:
            logger.error(
                "the LinkedIn token of author %s was not revoked and its retry could not be queued (%s): "
                "the member can remove the app's access in %s",
                author_id,
                exc,
                MEMBER_SETTINGS,
            )

    transaction.on_commit(send)


# ---- the retry task's work --------------------------------------------------------------------------


def revoke_backoff(
    retries: int, *, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds before the next try: the publishing backoff (MAESTRO_PUBLISH_BACKOFF_*), with jitter, at
    least LinkedIn's Retry-After."""
    conf = settings.MAESTRO_PUBLISHING
    ceiling = min(float(conf["backoff_cap_seconds"]), float(conf["backoff_seconds"]) * 2**retries)
    return max(retry_after or 0.0, ceiling * (rng or random).uniform(0.5, 1.0))


def linkedin_revoke_retry(
    *, tenant: Tenant | None, author_id: int, token_encrypted: str, attempt: int, last_try: bool
) -> str:
    """Try once more to revoke a token Maestro has already forgotten. Raises the `LinkedInError` when a
    later try can help (the task retries); otherwise records the outcome and returns it. `tenant` is
    None once the tenant was erased: the outcome is then only logged, its audit log being gone."""
    try:
        linkedin.revoke(token=decrypt_secret(token_encrypted))
    except CredentialError as exc:
        return _retry_outcome(tenant, author_id, "abandoned", attempt=attempt, error=str(exc))
    except linkedin.LinkedInError as exc:
        if exc.retryable and not last_try:
            logger.info("revoking a LinkedIn token of author %s, try %s: %s", author_id, attempt, exc.message)
            raise
        return _retry_outcome(tenant, author_id, "abandoned", attempt=attempt, error=exc.message)
    return _retry_outcome(tenant, author_id, "revoked", attempt=attempt)


def _retry_outcome(
    tenant: Tenant | None, author_id: int, outcome: str, *, attempt: int, error: str = ""
) -> str:
    if outcome == "abandoned":
        logger.error(
            "LinkedIn never revoked a token of author %s (tenant %s) after %s tries: %s; the member can "
            "remove the app's access in %s",
            author_id,
            tenant.pk if tenant else "erased",
            attempt,
            error,
            MEMBER_SETTINGS,
        )
    else:
        logger.info("LinkedIn revoked a token of author %s at try %s", author_id, attempt)
    if tenant is not None:
        record(
            action="publishing.linkedin_revoke_abandoned"
            if outcome == "abandoned"
            else "publishing.linkedin_revoked",
            target_type="authors.author",
            target_id=author_id,
            target_label=_label(author_id),
            tenant=tenant,
            after={"attempt": attempt, **({"error": error} if error else {})},
        )
    return outcome
