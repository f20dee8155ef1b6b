"""The TTFT alert rule (gateway/alerts.py): opens above the tenant's threshold, tells its webhooks once,
shows on the console, resolves when the p95 is back under; per tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from gateway import alerts
from gateway.models import LatencyAlert, TenantPolicy, Trace
from tenants.context import tenant_scope
from tenants.models import Role
from webhooks.models import WebhookDelivery, WebhookEvent
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _window(settings):
    settings.MAESTRO_TTFT_WINDOW_MINUTES = 15
    settings.MAESTRO_TTFT_MIN_SAMPLES = 20


def _calls(tenant, ttfts_ms, *, model="standard-a", ago=timedelta(minutes=1)):
    with tenant_scope(tenant):
        traces = Trace.objects.bulk_create(
            Trace(tenant=tenant, purpose="post", status="ok", streamed=True, ttft_ms=t, model_alias=model)
            for t in ttfts_ms
        )
        Trace.objects.filter(pk__in=[t.pk for t in traces]).update(created_at=timezone.now() - ago)


def _deliveries(tenant):
    with tenant_scope(tenant):
        return [
            d.payload["data"]
            for d in WebhookDelivery.objects.filter(event=WebhookEvent.TTFT_ALERT).order_by("created_at")
        ]


def _subscribe(tenant):
    with tenant_scope(tenant):
        webhook_endpoint_create(url="https://hooks.example.com/maestro", events=[WebhookEvent.TTFT_ALERT])


def test_a_slow_p95_opens_one_alert_tells_the_webhooks_once_and_resolves(tenant_a):
    _subscribe(tenant_a)
    _calls(tenant_a, [400] * 18 + [2600, 3100], model="standard-a")
    _calls(tenant_a, [2900] * 2, model="premium-a")  # 22 calls: the p95 is the 21st, 2900 ms
    now = timezone.now()
    assert alerts.check_ttft_alerts(now=now) == {"opened": 1}
    with tenant_scope(tenant_a):
        alert = LatencyAlert.objects.get()
    assert alert.is_open
    assert (alert.p95_ms, alert.threshold_ms, alert.samples, alert.worst_model) == (
        2900,
        2000,
        22,
        "premium-a",
    )
    assert alerts.check_ttft_alerts(now=now + timedelta(minutes=1)) == {"still open": 1}
    assert [d["state"] for d in _deliveries(tenant_a)] == ["firing"]  # once, not every minute

    # The slow calls age out of the window; fast ones take their place.
    later = now + timedelta(minutes=20)
    _calls(tenant_a, [300] * 25, ago=timedelta(minutes=-19))
    assert alerts.check_ttft_alerts(now=later) == {"resolved": 1}
    with tenant_scope(tenant_a):
        alert.refresh_from_db()
    assert alert.resolved_at == later
    assert alert.last_p95_ms == 300
    assert [d["state"] for d in _deliveries(tenant_a)] == ["firing", "resolved"]


def test_the_threshold_is_the_tenants_own(tenant_a):
    with tenant_scope(tenant_a):
        TenantPolicy.objects.create(ttft_alert_seconds=5.0)
    _calls(tenant_a, [3000] * 30)
    assert alerts.check_ttft_alerts() == {"quiet": 1}


def test_too_few_calls_say_nothing_about_a_percentile(tenant_a):
    _calls(tenant_a, [9000] * 5)
    assert alerts.check_ttft_alerts() == {"quiet": 1}
    with tenant_scope(tenant_a):
        assert not LatencyAlert.objects.exists()


def test_one_tenants_slow_calls_alert_only_that_tenant(client_for, members_a, tenant_a, tenant_b):
    from tenants.tests.factories import make_member

    _subscribe(tenant_b)
    _calls(tenant_a, [2500] * 25)
    _calls(tenant_b, [200] * 25)
    assert alerts.check_ttft_alerts() == {"opened": 1, "quiet": 1}
    assert _deliveries(tenant_b) == []
    page_a = client_for(members_a[Role.ADMIN]).get(
        reverse("console:dashboard", kwargs={"tenant_slug": "tenant-a"})
    )
    assert b'id="ttft-alert"' in page_a.content
    assert "2500 ms" in page_a.content.decode()
    admin_b = make_member(tenant=tenant_b, role=Role.ADMIN)
    page_b = client_for(admin_b).get(reverse("console:dashboard", kwargs={"tenant_slug": "tenant-b"}))
    assert page_b.status_code == 200
    assert b'id="ttft-alert"' not in page_b.content


def test_the_beat_schedule_runs_the_check():
    from django.conf import settings

    from gateway.tasks import check_ttft_alerts

    entry = settings.CELERY_BEAT_SCHEDULE["ttft-alerts"]
    assert entry["task"] == check_ttft_alerts.name
    assert check_ttft_alerts.apply().get() == {}  # no tenant had streamed calls


def _save_policy(client, tenant, **fields):
    data = {
        "preference": "balanced",
        "max_prompt_chars": "60000",
        "tokens_per_minute": "0",
        "requests_per_minute": "0",
        "cache_threshold": "0.8",
        "cache_ttl_seconds": "60",
    }
    return client.post(reverse("console:models", kwargs={"tenant_slug": tenant.slug}), data | fields)


def test_the_threshold_is_set_on_the_policy_page_and_a_bad_one_is_refused(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.ADMIN])
    assert _save_policy(client, tenant_a, ttft_alert_seconds="3.5").status_code == 302
    with tenant_scope(tenant_a):
        assert TenantPolicy.objects.get().ttft_alert_seconds == 3.5
    refused = _save_policy(client, tenant_a, ttft_alert_seconds="0.01")
    assert refused.status_code == 200
    assert "greater than or equal to 0.1" in refused.content.decode()
    with tenant_scope(tenant_a):
        assert TenantPolicy.objects.get().ttft_alert_seconds == 3.5  # the bad value changed nothing
    assert _save_policy(client, tenant_a).status_code == 302  # left empty: kept as it was
    with tenant_scope(tenant_a):
        assert TenantPolicy.objects.get().ttft_alert_seconds == 3.5
