"""The outbound-URL guard connects to the address it checked: a tenant's webhook URL or flow HTTP step
whose name answers a public address to the check and 127.0.0.1 afterwards (DNS rebinding) never
reaches the internal listener. Real HTTP to a receiver on loopback."""

from __future__ import annotations

import socket

import pytest

from common.net import check_outbound_url
from orchestrator.flows.definitions import Step
from orchestrator.flows.steps import RunContext, StepFailedError, http_call
from orchestrator.tests.factories import make_run
from tenants.context import tenant_scope
from webhooks import services as webhooks
from webhooks.models import DeliveryStatus
from webhooks.tasks import deliver_webhook
from webhooks.tests.receiver import receiver

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"


@pytest.fixture
def rebinding(monkeypatch, settings):
    """`<name>.rebind.test` resolves to a public address the first time, to 127.0.0.1 after that."""
    settings.MAESTRO_ALLOW_PRIVATE_NETWORKS = False
    real = socket.getaddrinfo
    asked: list[str] = []

    def resolve(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if not name.endswith(".rebind.test"):
            return real(host, port, *args, **kwargs)
        address = PUBLIC if not asked.count(name) else "127.0.0.1"
        asked.append(name)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return asked


def test_a_webhook_whose_name_rebinds_to_loopback_is_refused_and_never_delivered(tenant_a, rebinding):
    with receiver(200) as hook:
        url = hook.url.replace("127.0.0.1", "hooks.rebind.test")
        assert check_outbound_url(url).addresses == (PUBLIC,)  # what the form saw when it was saved
        with tenant_scope(tenant_a):
            webhooks.webhook_endpoint_create(url=url, events=["draft.approved"])
            [delivery] = webhooks.webhook_event_emit(
                tenant=tenant_a, event="draft.approved", data={"draft_id": 1}
            )
        result = deliver_webhook.apply(args=[tenant_a.pk, str(delivery.pk)])
        assert hook.received == []
    assert result.get() == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert (
        delivery.last_error
        == "refused: hooks.rebind.test resolves to an internal address (127.0.0.1); refused"
    )


def test_a_flow_http_step_whose_name_rebinds_to_loopback_is_refused(tenant_a, rebinding):
    run = make_run(tenant=tenant_a)
    with receiver(200) as hook, tenant_scope(tenant_a):
        url = hook.url.replace("127.0.0.1", "crm.rebind.test")
        ctx = RunContext(run=run, author=run.author, profile=None)
        with pytest.raises(
            StepFailedError,
            match=r"^crm\.rebind\.test resolves to an internal address \(127\.0\.0\.1\); refused$",
        ):
            http_call(ctx, Step("notify", "http", {"url": url}))
        assert hook.received == []
    assert rebinding == ["crm.rebind.test", "crm.rebind.test"]  # the step's check, then the connection's
