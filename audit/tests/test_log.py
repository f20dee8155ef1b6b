"""The audit log: who did what and when, recorded by the services that act, refused any change."""

from __future__ import annotations

import asyncio

import pytest
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from api.services import api_key_create, api_key_revoke
from api.tests.factories import make_created_key
from audit.context import audit_request_middleware, current_request
from audit.models import AuditEvent, AuditEventError
from audit.selectors import audit_csv, audit_events, audit_json
from audit.tests.factories import make_event
from console.tests.factories import make_budget, make_llm_model, make_provider
from gateway import services as gateway_services
from gateway.models import TenantPolicy
from orchestrator.tests.factories import make_draft
from prompts import services as prompt_services
from prompts.models import PRODUCTION
from prompts.tests.factories import make_template, version_fields
from reviews import services as review_services
from reviews.models import DraftState
from tenants import services as tenant_services
from tenants.context import tenant_scope
from tenants.models import Membership
from tenants.roles import Role
from tenants.tests.factories import make_member

pytestmark = pytest.mark.django_db


def events_of(tenant, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(audit_events(action=action))


# ---- append-only, in the database --------------------------------------------------------------


def test_an_audit_event_cannot_be_updated_through_the_orm_or_sql(tenant_a):
    event = make_event(tenant=tenant_a)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.unscoped().filter(pk=event.pk).update(action="budget.forged")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET before = '{}' WHERE id = %s", [event.pk])
    with pytest.raises(AuditEventError):
        event.save()
    event.refresh_from_db()
    assert event.action == "budget.changed"


def delete_as_erasure_of(tenant_id: int, event: AuditEvent) -> None:
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL maestro.audit_erasure = %s", [str(tenant_id)])
        AuditEvent.objects.unscoped().filter(pk=event.pk).delete()


def test_an_audit_event_cannot_be_deleted_without_the_erasure_setting_of_its_tenant(tenant_a, tenant_b):
    event = make_event(tenant=tenant_a)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.unscoped().filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"):  # another tenant's erasure does not reach it
        delete_as_erasure_of(tenant_b.pk, event)
    with pytest.raises(AuditEventError):
        event.delete()
    assert AuditEvent.objects.unscoped().filter(pk=event.pk).exists()
    delete_as_erasure_of(tenant_a.pk, event)
    assert not AuditEvent.objects.unscoped().filter(pk=event.pk).exists()


@pytest.mark.django_db(transaction=True)  # SET LOCAL lasts to the end of the outermost transaction
def test_the_erasure_setting_ends_with_its_transaction(tenant_a):
    event = make_event(tenant=tenant_a)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL maestro.audit_erasure = %s", [str(tenant_a.pk)])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.unscoped().filter(pk=event.pk).delete()


# ---- who, from where -----------------------------------------------------------------------------


def test_a_change_made_in_the_browser_records_the_member_and_the_address(tenant_a, members_a, client_for):
    admin, writer = members_a[Role.ADMIN], members_a[Role.WRITER]
    response = client_for(admin).post(
        f"/t/{tenant_a.slug}/members/{writer.pk}/role/", {"role": Role.EDITOR}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 302
    [event] = events_of(tenant_a, "member.role_changed")
    assert (event.actor_user_id, event.actor_label) == (admin.user.pk, admin.user.email)
    assert (event.before, event.after) == ({"role": Role.WRITER}, {"role": Role.EDITOR})
    assert (event.target_type, event.target_id, event.target_label) == (
        "tenants.membership",
        str(writer.pk),
        writer.user.email,
    )
    assert event.ip == "203.0.113.9"


def test_a_change_made_with_an_api_key_records_the_key(tenant_a, client):
    created = make_created_key(tenant=tenant_a)
    draft = make_draft(tenant=tenant_a)
    response = client.post(
        f"/api/v1/drafts/{draft.pk}/approve",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {created.token}",
    )
    assert response.status_code == 200, response.content
    [event] = events_of(tenant_a, "draft.approved")
    assert event.actor_api_key_id == created.key.pk
    assert event.actor_user_id is None
    assert created.key.prefix in event.actor_label


def test_an_address_that_is_not_one_is_left_out_and_the_change_still_recorded(
    tenant_a, members_a, client_for
):
    admin, writer = members_a[Role.ADMIN], members_a[Role.WRITER]
    response = client_for(admin).post(
        f"/t/{tenant_a.slug}/members/{writer.pk}/role/", {"role": Role.EDITOR}, REMOTE_ADDR="not-an-ip"
    )
    assert response.status_code == 302
    [event] = events_of(tenant_a, "member.role_changed")
    assert (event.ip, event.actor_user_id) == (None, admin.user.pk)


def test_an_action_that_is_not_a_dotted_verb_is_refused(tenant_a):
    with pytest.raises(ValueError, match="dotted verb"):
        make_event(tenant=tenant_a, action="Budget Changed")
    with tenant_scope(tenant_a):
        assert not AuditEvent.objects.exists()


def test_outside_a_request_without_an_actor_the_event_is_maestros_own(tenant_a):
    event = make_event(tenant=tenant_a)
    assert (event.actor_user_id, event.actor_api_key_id, event.actor_label, event.ip) == (
        None,
        None,
        "",
        None,
    )


# ---- every audited action ------------------------------------------------------------------------


def test_members_added_invited_changed_and_removed_are_recorded(tenant_a, tenant_b, members_a):
    existing = make_member(tenant=tenant_b, role=Role.WRITER).user
    tenant_services.member_add(tenant=tenant_a, email=existing.email, role=Role.VIEWER)
    tenant_services.member_add(tenant=tenant_a, email="new.person@example.test", role=Role.WRITER)
    with tenant_scope(tenant_a):
        membership = Membership.objects.get(user=existing)
        tenant_services.member_change_role(membership=membership, role=Role.EDITOR)
        tenant_services.member_remove(membership=membership)
        assert [e.action for e in audit_events(action="member.")] == [
            "member.removed",
            "member.role_changed",
            "member.invited",
            "member.added",
        ]
        removed = audit_events(action="member.removed").get()
    assert removed.before == {"role": Role.EDITOR}
    assert removed.target_label == existing.email


def test_budget_changes_record_only_the_fields_that_changed(tenant_a):
    budget = make_budget(tenant=tenant_a, limit="10")
    with tenant_scope(tenant_a):
        budget.limit = 25
        gateway_services.budget_save(
            tenant=tenant_a, budget=budget, user_id=budget.user_id, author_id=None, thresholds=[0.5]
        )
        gateway_services.budget_set_active(tenant=tenant_a, budget=budget, active=False)
    changed, toggled = reversed(events_of(tenant_a, "budget.changed"))
    assert changed.before == {"limit": "10", "alert_thresholds": [0.8, 1.0]}
    assert changed.after == {"limit": "25", "alert_thresholds": [0.5]}
    assert (toggled.before, toggled.after) == ({"is_active": True}, {"is_active": False})


def test_providers_models_policies_and_routes_are_recorded_and_keys_never_shown(tenant_a):
    provider = make_provider(tenant=tenant_a)
    model = make_llm_model(tenant=tenant_a, provider=provider, alias="house-model")
    with tenant_scope(tenant_a):
        provider.base_url = "http://127.0.0.1:10/v1"
        gateway_services.provider_save(
            tenant=tenant_a, provider=provider, api_key="sk-secret-never-logged", clear_api_key=False
        )
        model.max_concurrency = 4
        gateway_services.llm_model_save(tenant=tenant_a, model=model)
        policy, _ = TenantPolicy.objects.get_or_create()
        gateway_services.policy_update(
            tenant=tenant_a, policy=policy, allowed_models=[model], default_tiers={"post": "premium"}
        )
        route = gateway_services.route_preference_save(tenant=tenant_a, purpose="post", chain=["house-model"])
        gateway_services.route_preference_delete(tenant=tenant_a, preference=route)
    [provider_event] = events_of(tenant_a, "provider.changed")
    assert provider_event.after == {"base_url": "http://127.0.0.1:10/v1", "api_key": "replaced"}
    assert "sk-secret" not in str(provider_event.before) + str(provider_event.after)
    assert events_of(tenant_a, "model.changed")[0].after == {"max_concurrency": 4}
    policy_event = events_of(tenant_a, "policy.changed")[0]
    assert policy_event.after == {"allowed_models": [model.pk], "default_tiers": {"post": "premium"}}
    assert events_of(tenant_a, "route.created")[0].after == {"chain": ["house-model"]}
    assert events_of(tenant_a, "route.deleted")[0].before == {"chain": ["house-model"]}


def test_prompt_label_moves_and_rollbacks_are_recorded(tenant_a, members_a):
    editor = members_a[Role.EDITOR].user
    template = make_template(tenant=tenant_a)
    with tenant_scope(tenant_a):
        v1 = template.versions.get(number=1)
        prompt_services.prompt_edit(template=template, actor=editor, **version_fields(change_note="v2"))
        prompt_services.prompt_label_move(template=template, label=PRODUCTION, version=v1, actor=editor)
    moved = events_of(tenant_a, "prompt.label_moved")
    [rollback] = events_of(tenant_a, "prompt.rolled_back")
    assert moved[0].after == {PRODUCTION: 2}
    assert moved[0].before == {PRODUCTION: 1}
    assert (rollback.before, rollback.after, rollback.actor_user_id) == (
        {PRODUCTION: 2},
        {PRODUCTION: 1},
        editor.pk,
    )


def test_review_decisions_are_recorded_with_the_reviewer(tenant_a, members_a):
    reviewer = members_a[Role.WRITER].user
    approved, rejected, revised = (make_draft(tenant=tenant_a) for _ in range(3))
    with tenant_scope(tenant_a):
        review_services.draft_approve(draft_id=approved.pk, user=reviewer)
        review_services.draft_reject(draft_id=rejected.pk, user=reviewer, reason="Off brand.")
        review_services.draft_claim(draft_id=revised.pk, user=reviewer)
        review_services.draft_request_changes(draft_id=revised.pk, user=reviewer, instructions="Shorter.")
    for action, draft, state in (
        ("draft.approved", approved, DraftState.APPROVED),
        ("draft.rejected", rejected, DraftState.REJECTED),
        ("draft.changes_requested", revised, DraftState.CHANGES_REQUESTED),
    ):
        [event] = events_of(tenant_a, action)
        assert (event.target_id, event.after, event.actor_user_id) == (
            str(draft.pk),
            {"state": state},
            reviewer.pk,
        )


def test_api_keys_created_and_revoked_are_recorded(tenant_a, members_a):
    admin = members_a[Role.ADMIN].user
    with tenant_scope(tenant_a):
        created = api_key_create(name="HubSpot", scopes=["read"], created_by=admin)
        api_key_revoke(key=created.key)
        api_key_revoke(key=created.key)  # revoking twice changes nothing, records nothing
    [made] = events_of(tenant_a, "api_key.created")
    assert made.after["scopes"] == ["read"]
    assert made.actor_user_id == admin.pk
    assert created.token not in str(made.after)
    assert len(events_of(tenant_a, "api_key.revoked")) == 1


def test_a_failed_change_records_nothing(tenant_a, members_a):
    admin = members_a[Role.ADMIN]
    with tenant_scope(tenant_a), pytest.raises(Exception, match="at least one admin"):
        tenant_services.member_change_role(membership=admin, role=Role.VIEWER)
    assert events_of(tenant_a, "member.role_changed") == []


# ---- reading and exporting -----------------------------------------------------------------------


def test_events_filter_by_actor_action_target_and_dates_and_stay_in_their_tenant(tenant_a, tenant_b):
    make_event(tenant=tenant_a, action="budget.changed")
    make_event(tenant=tenant_a, action="route.created")
    make_event(tenant=tenant_b, action="budget.changed")
    with tenant_scope(tenant_a):
        assert audit_events().count() == 2
        assert audit_events(action="budget.changed").count() == 1
        assert audit_events(action="route.").count() == 1
        assert audit_events(target_type="gateway.budget", target_id="1").count() == 2
        assert audit_events(actor="nobody").count() == 0
        first = audit_events().last()
        assert audit_events(since=first.at.date(), until=first.at.date()).count() == 2
        assert audit_events(until=first.at).count() == 0  # a datetime end is exclusive


def test_exports_carry_every_field_as_csv_and_json(tenant_a):
    make_event(tenant=tenant_a, before={"limit": 1}, after={"limit": 2})
    with tenant_scope(tenant_a):
        lines = "".join(audit_csv(audit_events())).splitlines()
        document = audit_json(audit_events())
    assert lines[0].startswith("id,at,action,actor_label")
    assert '"{""limit"": 1}"' in lines[1]
    assert '"after": {\n   "limit": 2\n  }' in document


def test_the_middleware_makes_the_request_known_to_sync_and_async_views_and_forgets_it():
    seen = []

    def view(request):
        seen.append(current_request())
        return HttpResponse()

    async def async_view(request):
        seen.append(current_request())
        return HttpResponse()

    sync_request, async_request = RequestFactory().get("/"), RequestFactory().get("/")
    audit_request_middleware(view)(sync_request)
    asyncio.run(audit_request_middleware(async_view)(async_request))
    assert seen == [sync_request, async_request]
    assert current_request() is None
