"""Editing flow definitions: validate, save as a new version, activate (or roll back), and the secrets
HTTP steps send or sign with.

Versions are immutable: every save adds a version (numbered after the newest one the tenant sees, its
own or Maestro's), and runs keep pointing at the version they started with. `is_active` marks the
tenant's live version of a name; `flow_definition_for` starts that one. Editing a shared (Maestro's)
flow saves the tenant's own copy, which then wins over the shared one; activating the shared version
again retires the tenant's copies.
"""

from __future__ import annotations

import re
import secrets
import zlib

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from audit.services import record
from common.crypto import encrypt_secret, mask_secret
from orchestrator.flows.definitions import SLUG, Step, parse_steps
from orchestrator.models import FlowDefinition, FlowSecret
from orchestrator.selectors import live_flow_definition
from tenants.context import require_tenant
from tenants.models import User

MAX_DESCRIPTION = 200
MAX_SECRET_CHARS = 4096


# ---- validation ---------------------------------------------------------------------------------


def flow_definition_check(*, name: str, steps: object, description: str = "") -> list[Step]:
    """Every problem at once, by field: `name`, `description`, and `steps` (each message names the
    step's index, its id and the option). Secrets a step names must be set for the tenant in scope."""
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not SLUG.fullmatch(name):
        errors["name"] = ["A name is a slug: lowercase letters, digits and -, at most 60 characters."]
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = [f"At most {MAX_DESCRIPTION} characters."]
    parsed: list[Step] = []
    try:
        parsed = parse_steps(steps)
    except ValidationError as exc:
        errors["steps"] = exc.messages
    else:
        missing = _missing_secrets(parsed)
        if missing:
            errors["steps"] = missing
    if errors:
        raise ValidationError(errors)
    return parsed


def _missing_secrets(steps: list[Step]) -> list[str]:
    named = {step.get("secret") for step in steps if step.get("secret")}
    known = set(FlowSecret.objects.filter(name__in=named).values_list("name", flat=True))
    return [
        f"step {index} ({step.id}): secret: {step.get('secret')!r} is not set; set it under Secrets first"
        for index, step in enumerate(steps, start=1)
        if step.get("secret") and step.get("secret") not in known
    ]


# ---- versions -----------------------------------------------------------------------------------


def _lock_name(tenant_id: int, name: str) -> None:
    """One save of a name at a time per tenant (a new name has no row to lock yet)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [tenant_id, zlib.crc32(name.encode()) >> 1])


def _next_version(name: str) -> int:
    numbers = FlowDefinition.objects.filter(name=name).values_list("version", flat=True)  # own and shared
    return max(numbers, default=0) + 1


@transaction.atomic
def flow_definition_save(
    *,
    name: str,
    steps: object,
    description: str = "",
    activate: bool = False,
    created_by: User | None = None,
    api_key: object = None,
) -> FlowDefinition:
    """A new version of `name` (a new flow when the name is new). With `activate` it becomes the live
    version at once; otherwise it waits for a dry run and `flow_definition_activate`."""
    description = (description or "").strip()
    flow_definition_check(name=name, steps=steps, description=description)
    tenant = require_tenant()
    _lock_name(tenant.pk, name)
    definition = FlowDefinition.objects.create(
        tenant=tenant,
        name=name,
        version=_next_version(name),
        description=description,
        steps=steps,
        is_active=False,
        created_by=created_by,
    )
    record(
        action="flow.version_saved",
        target=definition,
        actor=created_by,
        api_key=api_key,
        after={"name": name, "version": definition.version, "description": description, "steps": steps},
    )
    if activate:
        definition = flow_definition_activate(definition=definition, actor=created_by, api_key=api_key)
    return definition


@transaction.atomic
def flow_definition_activate(
    *, definition: FlowDefinition, actor: User | None = None, api_key: object = None
) -> FlowDefinition:
    """Make `definition` the live version of its name (a rollback when it is an older one).

    A shared version the tenant picks: if it is Maestro's live one, the tenant's own versions retire
    and Maestro's is used again; an older shared version is copied as the tenant's own and activated."""
    tenant = require_tenant()
    _lock_name(tenant.pk, definition.name)
    own = FlowDefinition.objects.filter(tenant=tenant, name=definition.name)
    before = live_flow_definition(definition.name)
    if definition.is_shared:
        shared_live = live_flow_definition(definition.name, shared_only=True)
        if shared_live is None or shared_live.pk != definition.pk:
            return flow_definition_save(
                name=definition.name,
                steps=definition.steps,
                description=definition.description,
                activate=True,
                created_by=actor,
                api_key=api_key,
            )
        own.update(is_active=False)
    else:
        own.exclude(pk=definition.pk).update(is_active=False)
        own.filter(pk=definition.pk).update(is_active=True)
    definition.refresh_from_db()
    record(
        action="flow.activated",
        target=definition,
        actor=actor,
        api_key=api_key,
        before={"live_version": before.version if before else None},
        after={"live_version": definition.version},
    )
    return definition


# ---- secrets ------------------------------------------------------------------------------------


def new_flow_secret() -> str:
    return f"fsec_{secrets.token_urlsafe(32)}"


@transaction.atomic
def flow_secret_set(
    *, name: str, value: str = "", actor: User | None = None, api_key: object = None
) -> tuple[FlowSecret, str]:
    """Set (or rotate: the old value stops working at once) the secret `name`. An empty `value`
    generates one. Returns the row and the generated value, the only time it is shown ("" when the
    caller gave the value)."""
    value = (value or "").strip()
    if not isinstance(name, str) or not SLUG.fullmatch(name):
        raise ValidationError({"name": "A name is a slug: lowercase letters, digits and -."})
    if len(value) > MAX_SECRET_CHARS or re.search(r"[\r\n\x00]", value):
        raise ValidationError({"value": f"One line of at most {MAX_SECRET_CHARS} characters."})
    generated = "" if value else new_flow_secret()
    plaintext = value or generated
    secret = FlowSecret.objects.select_for_update().filter(name=name).first()
    rotated = secret is not None
    if secret is None:
        secret = FlowSecret(name=name)
    secret.value_encrypted, secret.mask = encrypt_secret(plaintext), mask_secret(plaintext)
    secret.save()
    record(
        action="flow.secret_rotated" if rotated else "flow.secret_set",
        target=secret,
        target_label=name,  # never the value, nor its mask
        actor=actor,
        api_key=api_key,
    )
    return secret, generated


@transaction.atomic
def flow_secret_delete(*, secret: FlowSecret, actor: User | None = None, api_key: object = None) -> None:
    record(
        action="flow.secret_deleted", target=secret, target_label=secret.name, actor=actor, api_key=api_key
    )
    secret.delete()
