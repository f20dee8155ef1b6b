"""What the audit log hears from the one app below it that cannot call `record` itself (tenants)."""

from __future__ import annotations

from audit.services import record


def record_membership_change(
    sender, *, membership, action: str, before: dict, after: dict, actor, **kwargs
) -> None:
    record(
        action=action,
        target=membership,
        target_label=membership.user.email,
        before=before,
        after=after,
        actor=actor,
    )


def record_invitation_change(
    sender, *, invitation, action: str, before: dict, after: dict, actor, **kwargs
) -> None:
    record(
        action=action,
        target=invitation,
        target_label=invitation.email,
        before=before,
        after=after,
        actor=actor,
    )
