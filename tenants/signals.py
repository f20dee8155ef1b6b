"""Signals the apps built on tenants listen to; tenants cannot import them, so it announces instead.

`invitation_changed` is sent inside the change's transaction with `invitation`, `action`
("invitation.created", "invitation.resent", "invitation.revoked", "invitation.accepted"), `before`,
`after` and `actor`; the audit log (audit/apps.py) records it, as it records `membership_changed`
(tenants/services.py).
"""

from __future__ import annotations

from django.dispatch import Signal

invitation_changed = Signal()
