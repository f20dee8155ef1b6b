"""The audit log: one append-only row per change a person or an API key made, and when.

Rows are never changed: `save()` refuses an existing row, and a PostgreSQL trigger
(migrations/0001_initial.py) refuses UPDATE always and DELETE unless the transaction has set
`maestro.audit_erasure` to the row's tenant id (`SET LOCAL`, done only by the tenant erasure in
privacy/services.py). Actors are kept as ids and labels, not foreign keys: deleting a user or a
key must neither be blocked by the log nor rewrite it.
"""

from __future__ import annotations

from django.db import models

from tenants.scoping import TenantOwnedModel


class AuditEventError(RuntimeError):
    """An attempt to change an audit row through the application."""


class AuditEvent(TenantOwnedModel):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=60, help_text='A dotted verb, e.g. "member.role_changed".')
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_api_key_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(
        max_length=200, blank=True, help_text="Who, as they were called then: an email, a key, or Maestro."
    )
    target_type = models.CharField(max_length=60, blank=True, help_text='"app.model", e.g. "gateway.budget".')
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True, help_text="The changed fields as they were.")
    after = models.JSONField(default=dict, blank=True, help_text="The changed fields as they are now.")
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-at"], name="audit_tenant_recent"),
            models.Index(fields=["tenant", "action", "-at"], name="audit_tenant_action"),
            models.Index(fields=["tenant", "target_type", "target_id"], name="audit_tenant_target"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label or 'Maestro'} {self.action} {self.target_label}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditEventError("Audit events are append-only: an event is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditEventError("Audit events are append-only: only a tenant's erasure removes them.")
