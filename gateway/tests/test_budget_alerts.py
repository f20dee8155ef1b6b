"""Budget alerts: each threshold crossed, and "exhausted" when the hard cap refuses a call, recorded once
per period and sent both as `budget.alert` webhooks and as e-mails to the tenant's admins."""

from __future__ import annotations

from decimal import Decimal

import pytest
from celery import current_app
from django.core import mail

import gateway
from console.tests.factories import make_webhook
from gateway import GatewayError
from gateway import tasks as gateway_tasks
from gateway.budgets import windows as budget_windows
from gateway.catalog import forget_catalog, load_catalog
from gateway.models import Budget, BudgetAlert, BudgetAlertKind
from gateway.tests.gateway_support import register_fake_models, request_for, run_with_runtime
from tenants.context import tenant_scope
from tenants.roles import Role
from tenants.tests.factories import make_member
from testing.fake_server import Behaviour
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_mail(monkeypatch):
    """The e-mails the alerts queue, as (task name, args), and `send()`: runs each queued task in this
    process, as a worker would (the registered task, found by the name the alert used). Other tasks
    (webhook deliveries) are not sent."""
    queued: list[tuple[str, tuple]] = []

    def send_task(name, args=None, kwargs=None, **options):
        if name == budget_windows.BUDGET_ALERT_MAIL:
            queued.append((name, tuple(args or ())))

    monkeypatch.setattr(current_app, "send_task", send_task)

    def send() -> None:
        for name, args in queued:
            current_app.tasks[name](*args)

    return queued, send


def _budget(tenant, limit: str, thresholds=(0.8, 1.0)) -> Budget:
    forget_catalog()
    with tenant_scope(tenant):
        return Budget.objects.create(
            scope="tenant", period="day", limit=Decimal(limit), alert_thresholds=list(thresholds)
        )


def _refused(tenant) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        run_with_runtime(lambda rt: gateway.complete(request_for(tenant, "word " * 400), runtime=rt))
    assert caught.value.code == "budget_exceeded"
    return caught.value


def test_a_refused_call_records_and_emails_exhausted_once(
    tenant_a, fake_provider, queued_mail, django_capture_on_commit_callbacks
):
    register_fake_models(tenant_a, fake_provider.base_url)
    admins = [make_member(tenant=tenant_a, role=Role.ADMIN).user.email for _ in range(2)]
    make_member(tenant=tenant_a, role=Role.WRITER)
    make_webhook(tenant=tenant_a, events=["budget.alert"])
    budget = _budget(tenant_a, "0.000100")  # 100 micros: the prompt alone costs more
    fake_provider.set_behaviour(Behaviour(text="ok", input_tokens=10))
    queued, send = queued_mail
    with django_capture_on_commit_callbacks(execute=True):
        _refused(tenant_a)
        _refused(tenant_a)  # the second refusal in the period records nothing more
    with tenant_scope(tenant_a):
        [alert] = BudgetAlert.objects.filter(budget=budget)
        [delivery] = WebhookDelivery.objects.filter(event="budget.alert")
    assert (alert.kind, alert.threshold) == (BudgetAlertKind.EXHAUSTED, 1.0)
    assert delivery.payload["data"]["kind"] == "exhausted"
    assert delivery.payload["data"]["budget_id"] == budget.pk
    assert queued == [(budget_windows.BUDGET_ALERT_MAIL, (tenant_a.pk, alert.pk))]
    send()
    [message] = mail.outbox
    assert sorted(message.to) == sorted(admins)
    assert "Budget used up" in message.subject
    assert "Tenant A" in message.subject
    assert "refused" in message.body
    assert "0.0001" in message.body


def test_a_crossing_emails_the_admins_with_the_threshold(
    tenant_a, queued_mail, django_capture_on_commit_callbacks
):
    admin = make_member(tenant=tenant_a, role=Role.ADMIN).user
    budget = _budget(tenant_a, "1", thresholds=[0.5, 1.0])
    [active] = budget_windows.windows_for_call(
        load_catalog(tenant_a, fresh=True), user_id=None, author_id=None
    )
    queued, send = queued_mail
    with django_capture_on_commit_callbacks(execute=True):
        assert budget_windows.record_crossings(tenant_a, active, 400_000, 600_000) == [0.5]
        assert budget_windows.record_crossings(tenant_a, active, 400_000, 600_000) == []
    assert len(queued) == 1
    send()
    [message] = mail.outbox
    assert message.to == [admin.email]
    assert "reached 50%" in message.subject
    assert "Spent 0.6 of 1." in message.body
    with tenant_scope(tenant_a):
        assert BudgetAlert.objects.get(budget=budget).kind == BudgetAlertKind.THRESHOLD


def test_a_crossing_of_100_percent_and_exhausted_are_two_alerts_of_one_period(tenant_a, queued_mail):
    budget = _budget(tenant_a, "1", thresholds=[1.0])
    [active] = budget_windows.windows_for_call(
        load_catalog(tenant_a, fresh=True), user_id=None, author_id=None
    )
    assert budget_windows.record_crossings(tenant_a, active, 900_000, 1_000_000) == [1.0]
    assert budget_windows.record_exhausted(tenant_a, active, 1_000_000) is True
    assert budget_windows.record_exhausted(tenant_a, active, 1_000_000) is False
    with tenant_scope(tenant_a):
        kinds = sorted(BudgetAlert.objects.filter(budget=budget).values_list("kind", flat=True))
    assert kinds == ["exhausted", "threshold"]


def test_an_alert_of_another_tenant_is_never_emailed(tenant_a, tenant_b, queued_mail):
    make_member(tenant=tenant_b, role=Role.ADMIN)
    _budget(tenant_a, "1")
    [active] = budget_windows.windows_for_call(
        load_catalog(tenant_a, fresh=True), user_id=None, author_id=None
    )
    budget_windows.record_exhausted(tenant_a, active, 1_000_000)
    with tenant_scope(tenant_a):
        alert = BudgetAlert.objects.get()
    assert gateway_tasks.send_budget_alert_mail(tenant_b.pk, alert.pk) == 0
    assert mail.outbox == []
