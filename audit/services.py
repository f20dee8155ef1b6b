"""Recording what happened: `record(action=..., target=..., before=..., after=...)`, one call.

Called inside the service that made the change, so the event commits or rolls back with it. Who acted
is the `actor` (and `api_key`) passed in; when none is passed, the request being served
(`audit.context`) says who, and from which address; with neither, the event is Maestro's own (a
scheduled job). The tenant is the one passed, else the target's, else the one in scope.

    before = stored_values(budget, BUDGET_FIELDS)     # the row as the database holds it
    budget.save()
    record(action="budget.saved", target=budget, before=before, after=values_of(budget, BUDGET_FIELDS))

Only fields whose value changed are kept in `before`/`after`; secrets are never passed in (a service
records `{"api_key": "replaced"}`, never the key).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from axes.helpers import get_client_ip_address
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from audit.context import current_request
from audit.models import AuditEvent
from tenants.context import require_tenant
from tenants.models import Tenant, User

LABEL_LENGTH = 200
ACTION = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")  # a dotted verb: "member.role_changed"


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):  # 10 and 10.0000 (as the database returns it) are one value
            return format(o.normalize(), "f")
        return super().default(o)


def _plain(value: Any) -> Any:
    """JSON-ready: dates, decimals, UUIDs and model instances as DjangoJSONEncoder writes them."""
    if isinstance(value, models.Model):
        return value.pk
    return json.loads(json.dumps(value, cls=_Encoder))


def values_of(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The instance's current values of `fields` (foreign keys as ids), ready for `record`."""
    values = {}
    for name in fields:
        field = instance._meta.get_field(name)
        if field.many_to_many:
            values[name] = sorted(_plain(pk) for pk in getattr(instance, name).values_list("pk", flat=True))
        else:
            values[name] = _plain(getattr(instance, getattr(field, "attname", name)))
    return values


def stored_values(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The values of `fields` as the database holds the row now; {} for a row not saved yet.
    Read before a change, since a form has usually changed the instance already."""
    if instance.pk is None:
        return {}
    stored = type(instance)._base_manager.filter(pk=instance.pk).first()
    return values_of(stored, fields) if stored is not None else {}


def _changed(before: dict, after: dict) -> tuple[dict, dict]:
    if not before or not after:
        return before, after
    names = [*before, *(key for key in after if key not in before)]  # in the fields' own order
    keys = [key for key in names if before.get(key) != after.get(key)]
    return {k: before.get(k) for k in keys if k in before}, {k: after.get(k) for k in keys if k in after}


def _actor_fields(*, actor: User | None, api_key: Any) -> dict[str, Any]:
    request = current_request()
    request_key = getattr(getattr(request, "auth", None), "api_key", None)
    if api_key is None and request_key is not None and (actor is None or actor.pk == request_key.identity_id):
        api_key, actor = request_key, None  # the key's service user acts: the key is who
    if actor is None and api_key is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    if api_key is not None:
        label = f"API key {api_key.name} (mae_{api_key.prefix}_…)"
        return {"actor_api_key_id": api_key.pk, "actor_label": label[:LABEL_LENGTH]}
    if actor is not None:
        return {"actor_user_id": actor.pk, "actor_label": actor.email[:LABEL_LENGTH]}
    return {"actor_label": ""}


def _ip() -> str | None:
    """The client's address as the login throttle resolves it (django-axes, its proxy settings);
    None when unknown or not an address (the column is PostgreSQL's inet)."""
    request = current_request()
    address = get_client_ip_address(request) if request is not None else None
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def _tenant_id(*, tenant: Tenant | None, target: models.Model | None) -> int:
    if tenant is not None:
        return tenant.pk
    target_tenant = getattr(target, "tenant_id", None)
    if target_tenant is not None:
        return target_tenant
    return require_tenant().pk  # the tenant in scope, or a loud error


def record(
    *,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: object = "",
    target_label: str = "",
    before: dict | None = None,
    after: dict | None = None,
    actor: User | None = None,
    api_key: Any = None,
    tenant: Tenant | None = None,
) -> AuditEvent:
    """Append one event. `target` fills type, id and label (each may be given instead or as well)."""
    if not ACTION.fullmatch(action):
        raise ValueError(f"An audit action is a dotted verb such as member.role_changed, not {action!r}.")
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
        target_label = target_label or str(target)
    before, after = _changed(_plain(before or {}), _plain(after or {}))
    return AuditEvent.objects.create(
        tenant_id=_tenant_id(tenant=tenant, target=target),
        action=action,
        target_type=target_type,
        target_id="" if target_id is None else str(target_id),
        target_label=target_label[:LABEL_LENGTH],
        before=before,
        after=after,
        ip=_ip(),
        **_actor_fields(actor=actor, api_key=api_key),
    )


def editable_fields(instance: models.Model, *, exclude: Iterable[str] = ()) -> list[str]:
    """The fields a person edits on `instance` (no primary key, tenant or timestamps), for `values_of`."""
    skipped = {"tenant", *exclude}
    opts = instance._meta
    fields = [f for f in [*opts.concrete_fields, *opts.many_to_many] if f.editable and not f.primary_key]
    return [f.name for f in fields if f.name not in skipped and not getattr(f, "auto_now", False)]
