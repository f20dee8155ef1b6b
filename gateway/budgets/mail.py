"""The e-mail channel of budget alerts, beside the `budget.alert` webhooks: a tenant's admins get one
plain-text e-mail per alert recorded (each threshold crossed, and the budget used up), from a worker
(`gateway.tasks.send_budget_alert_mail`)."""

from __future__ import annotations

import logging

from django.core.mail import send_mail

from gateway.budgets.windows import period_bounds
from gateway.models import BudgetAlert, BudgetAlertKind
from tenants.context import tenant_scope
from tenants.models import Tenant
from tenants.selectors import admin_emails

logger = logging.getLogger(__name__)


def budget_alert_mail_send(*, tenant: Tenant, alert_id: int) -> int:
    """E-mail the tenant's admins about one alert; returns how many were written to (0 for an alert
    that is gone, or a tenant without an admin)."""
    with tenant_scope(tenant):
        alert = (
            BudgetAlert.objects.select_related("budget__user", "budget__author").filter(pk=alert_id).first()
        )
        recipients = admin_emails() if alert is not None else []
        if alert is None or not recipients:
            return 0
        subject, body = budget_alert_message(tenant=tenant, alert=alert)
    send_mail(subject, body, None, recipients)
    logger.info("budget alert %s e-mailed to %s admins of tenant %s", alert_id, len(recipients), tenant.pk)
    return len(recipients)


def _subject_of(alert: BudgetAlert) -> str:
    budget = alert.budget
    period = "daily" if budget.period == "day" else "monthly"
    if budget.scope == "user" and budget.user is not None:
        return f"the {period} budget of {budget.user.email}"
    if budget.scope == "author" and budget.author is not None:
        return f"the {period} budget of author {budget.author}"
    return f"the tenant's {period} budget"


def budget_alert_message(*, tenant: Tenant, alert: BudgetAlert) -> tuple[str, str]:
    budget = alert.budget
    what = _subject_of(alert)
    _, resets_at = period_bounds(budget.period, alert.period_start)
    spent, limit = alert.spent.normalize(), budget.limit.normalize()
    resets = f"{resets_at:%Y-%m-%d %H:%M} UTC"
    if alert.kind == BudgetAlertKind.EXHAUSTED:
        subject = f"[{tenant.name}] Budget used up: {what} is refusing calls"
        lines = [
            f"{what[0].upper()}{what[1:]} in {tenant.name} is used up: a model call was refused.",
            f"Spent {spent} of {limit}; what is left does not cover another call.",
            f"Calls under this budget are refused until it resets at {resets}, unless it is raised.",
        ]
    else:
        percent = f"{alert.threshold * 100:g}%"
        subject = f"[{tenant.name}] Budget alert: {what} reached {percent}"
        lines = [
            f"{what[0].upper()}{what[1:]} in {tenant.name} has reached {percent} of its limit.",
            f"Spent {spent} of {limit}. It resets at {resets}.",
            "When it is used up, the gateway refuses further calls until then.",
        ]
    lines += ["", "Budgets are on the console's Budgets page; this e-mail goes to the tenant's admins."]
    return subject, "\n".join(lines) + "\n"
