"""The learned router on the models page: the dial, its curve, the history, rollback and restore."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.tests.factories import make_llm_model
from gateway.catalog import load_catalog
from gateway.models import ArtefactStatus, RouterArtefact, RouterSetting
from gateway.tests.router_support import install_prior, make_router_artefact
from tenants.context import tenant_scope
from tenants.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def prior(settings):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}
    return install_prior()


def url(tenant, name, **kwargs):
    return reverse(f"console:{name}", kwargs={"tenant_slug": tenant.slug, **kwargs})


def test_the_models_page_shows_the_router_its_curve_and_the_dial(client_for, members_a, tenant_a, prior):
    make_llm_model(tenant=tenant_a, tier="standard")
    make_llm_model(tenant=tenant_a, tier="premium")
    page = client_for(members_a[Role.ADMIN]).get(url(tenant_a, "models")).content.decode()
    assert prior.version in page
    assert "<polyline" in page
    assert "Expected cost" in page
    assert "Save dial" in page


def test_saving_the_dial_calibrates_a_threshold_the_gateway_uses(client_for, members_a, tenant_a, prior):
    response = client_for(members_a[Role.ADMIN]).post(
        url(tenant_a, "router_dial"), {"mode": "share", "premium_share": "40", "quality_floor": "95"}
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        setting = RouterSetting.objects.get()
    assert setting.premium_share == pytest.approx(0.4)
    assert setting.share_labels is False
    assert setting.calibrated_version == prior.version
    assert setting.calibration["premium_share"] == pytest.approx(0.4)
    router = load_catalog(tenant_a, fresh=True).router
    assert router is not None
    assert (router.version, router.threshold) == (prior.version, setting.threshold)


def test_a_dial_out_of_range_is_refused(client_for, members_a, tenant_a, prior):
    client_for(members_a[Role.ADMIN]).post(
        url(tenant_a, "router_dial"), {"mode": "quality", "premium_share": "40", "quality_floor": "20"}
    )
    with tenant_scope(tenant_a):
        assert not RouterSetting.objects.exists()


def test_rollback_and_restore_from_the_history(client_for, members_a, tenant_a, prior):
    older = make_router_artefact(tenant=tenant_a, status=ArtefactStatus.ACTIVE)
    newer = make_router_artefact(tenant=tenant_a, status=ArtefactStatus.ACTIVE)
    client = client_for(members_a[Role.ADMIN])
    client.post(url(tenant_a, "router_rollback"))
    with tenant_scope(tenant_a):
        assert RouterArtefact.objects.get(pk=older.pk).status == ArtefactStatus.ACTIVE
        assert RouterArtefact.objects.get(pk=newer.pk).status == ArtefactStatus.RETIRED
    client.post(url(tenant_a, "router_restore", router_artefact_id=newer.pk))
    with tenant_scope(tenant_a):
        assert RouterArtefact.objects.get(pk=newer.pk).status == ArtefactStatus.ACTIVE


def test_a_tenant_cannot_restore_another_tenants_router(client_for, members_a, tenant_a, tenant_b, prior):
    foreign = make_router_artefact(tenant=tenant_b)
    response = client_for(members_a[Role.ADMIN]).post(
        url(tenant_a, "router_restore", router_artefact_id=foreign.pk)
    )
    assert response.status_code == 404
    with tenant_scope(tenant_b):
        assert RouterArtefact.objects.get(pk=foreign.pk).status == ArtefactStatus.REJECTED
