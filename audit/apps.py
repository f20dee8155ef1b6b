from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from audit.receivers import record_invitation_change, record_membership_change
        from tenants.services import membership_changed
        from tenants.signals import invitation_changed

        membership_changed.connect(record_membership_change, dispatch_uid="audit.membership_changed")
        invitation_changed.connect(record_invitation_change, dispatch_uid="audit.invitation_changed")
