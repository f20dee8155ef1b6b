"""The gateway's periodic tasks (Celery beat; schedules in config/settings/base.py)."""

from __future__ import annotations

from celery import shared_task

from gateway import alerts
from gateway.budgets.mail import budget_alert_mail_send
from tenants.models import Tenant


@shared_task(name="gateway.tasks.check_ttft_alerts", ignore_result=True)
def check_ttft_alerts() -> dict[str, int]:
    """Each tenant's time-to-first-token p95 against its threshold (gateway/alerts.py)."""
    return alerts.check_ttft_alerts()


@shared_task(
    name="gateway.tasks.send_budget_alert_mail",
    ignore_result=True,
    autoretry_for=(OSError,),  # smtplib's errors are OSErrors: a mail server that is down or refuses
    retry_backoff=30,
    max_retries=5,
)
def send_budget_alert_mail(tenant_id: int, alert_id: int) -> int:
    """E-mail a budget alert to the tenant's admins (gateway/budgets/mail.py); queued by the alert."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return 0
    return budget_alert_mail_send(tenant=tenant, alert_id=alert_id)
