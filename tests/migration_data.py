"""Fill a Maestro database with a row in every table, and snapshot its tables; run by test_migrations.

This file runs as a script inside one checkout of Maestro (an old commit's worktree, or this one), with
that checkout as the working directory and first on sys.path, so that it sees that checkout's models:

    cd <checkout> && PYTHONPATH=<checkout> python -c \
        "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')" \
        .../tests/migration_data.py old|new <input.json> <output.json>

It drops the editable install's import finder (which maps Maestro's packages to the checkout it was
installed from) and reports any module loaded from outside the checkout, so the old code is the old code.

- `old`: migrate, fill every table of every Maestro app (generic: it walks `apps.get_models()`), add a
  custom permission, a group, a user and an admin log entry on a model that later moves, then write a
  snapshot of every table (columns, row count, checksum, a digest per row).
- `new`: migrate, then write a snapshot of the same tables over the columns they had before, what the
  ORM reads of every model, and the content types and permissions of the moved models.

It imports only Django and this checkout's code, and never imports the test suite.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import json
import os
import site
import sys
import sysconfig
import uuid
from pathlib import Path

ROOT = Path.cwd().resolve()

# The model that test_migrations follows through the move (orchestrator.Trace -> gateway.Trace).
WATCHED_APP, WATCHED_MODEL = "orchestrator", "trace"
CUSTOM_CODENAME = "export_trace"
PERM_USER_EMAIL = "migration-perm-user@example.com"
PERM_GROUP_NAME = "migration-perm-group"
MAX_CHOICE_VARIANTS, MAX_VARIANTS = 32, 256  # tries of a full row, when constraints refuse the first
FIXED_MOMENT = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


# --- Which code is this? --------------------------------------------------------------------------


def installed_prefixes() -> list[Path]:
    """Where the interpreter, the standard library and installed packages live (the venv may be
    inside the checkout: .venv)."""
    prefixes = [Path(sys.prefix), Path(sys.base_prefix), *map(Path, site.getsitepackages())]
    prefixes += map(Path, sysconfig.get_paths().values())
    # A prefix holding the checkout itself (python under /usr/local, code in /usr/local/src) says nothing.
    return [prefix.resolve() for prefix in prefixes if not ROOT.is_relative_to(prefix.resolve())]


def foreign_modules() -> list[str]:
    """Modules loaded from outside this checkout, the venv and the standard library (should be none)."""
    allowed = [ROOT, *installed_prefixes()]
    foreign = []
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if name in {"__main__", "__mp_main__"} or not filename:  # this script, run by path
            continue
        path = Path(filename).resolve()
        if not any(path.is_relative_to(prefix) for prefix in allowed):
            foreign.append(f"{name} ({path})")
    return sorted(foreign)


def maestro_app_configs():
    """The apps whose code is in this checkout (not Django's or a package's)."""
    from django.apps import apps

    installed = installed_prefixes()
    configs = []
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.is_relative_to(ROOT) and not any(path.is_relative_to(prefix) for prefix in installed):
            configs.append(config)
    return configs


def maestro_models():
    return [
        model
        for config in maestro_app_configs()
        for model in config.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    ]


def setup_and_migrate() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


# --- The filler -----------------------------------------------------------------------------------


def _bounds(field, low, high):
    from django.core.validators import MaxValueValidator, MinValueValidator

    for validator in field.validators:
        if isinstance(validator, MinValueValidator):
            low = max(low, validator.limit_value) if low is not None else validator.limit_value
        if isinstance(validator, MaxValueValidator):
            high = min(high, validator.limit_value) if high is not None else validator.limit_value
    return low, high


def _clamp(value, low, high):
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def _text(field, n: int, connection) -> str:
    internal = field.get_internal_type()
    if internal == "EmailField":
        value = f"filler{n}@example.com"
    elif internal == "URLField":
        value = f"https://example.com/{n}"
    elif internal == "GenericIPAddressField":
        return f"10.0.{n // 250}.{n % 250 + 1}"
    elif internal == "SlugField":
        value = f"{n}-{field.name}".replace("_", "-")
    else:
        value = f"{n} {field.model.__name__}.{field.name}"
    max_length = getattr(field, "max_length", None)
    return value[:max_length] if max_length else value


def _choice(field):
    values = [value for value, _label in field.flatchoices]
    if field.has_default() and field.get_default() in values:
        return field.get_default()
    return values[0]


def field_value(field, n: int, connection):  # noqa: C901 - one branch per field type
    """A valid value of this field's type, distinct per row where the type allows."""
    from django.contrib.postgres.fields import ArrayField

    if field.choices:
        return _choice(field)
    if isinstance(field, ArrayField):
        return [field_value(field.base_field, n, connection)]
    dimensions = getattr(field, "dimensions", None)
    if type(field).__name__ == "VectorField" and dimensions:
        return [round((n % 7 + i % 5) / 10, 3) for i in range(dimensions)]
    internal = field.get_internal_type()
    db_type = (field.db_type(connection) or "").lower()
    if internal in {"CharField", "TextField", "SlugField", "EmailField", "URLField", "GenericIPAddressField"}:
        if not db_type.startswith(("varchar", "text", "char", "inet")):
            # A custom column type (memories' regconfig): only its default is known to be valid.
            return field.get_default()
        return _text(field, n, connection)
    if internal == "BooleanField":
        return not field.get_default() if field.has_default() else True
    if internal.endswith("IntegerField"):
        low, high = _bounds(field, 0 if "Positive" in internal else None, None)
        return _clamp(7 + n % 50, low, high)
    if internal == "FloatField":
        low, high = _bounds(field, None, None)
        return _clamp(0.75, low, high)
    if internal == "DecimalField":
        places = field.decimal_places
        whole = "1" if field.max_digits > places else "0"
        value = decimal.Decimal(f"{whole}.{'5' * places}") if places else decimal.Decimal(whole)
        low, high = _bounds(field, None, None)
        return _clamp(value, low, high)
    if internal == "DateTimeField":
        return FIXED_MOMENT
    if internal == "DateField":
        return FIXED_MOMENT.date()
    if internal == "TimeField":
        return FIXED_MOMENT.time()
    if internal == "DurationField":
        return datetime.timedelta(seconds=90 + n)
    if internal == "UUIDField":
        return uuid.uuid4()
    if internal == "JSONField":
        default = field.get_default() if field.has_default() else None
        item = {"filled": f"{field.model.__name__}.{field.name}", "n": n}
        return [item] if isinstance(default, list) else item
    if internal == "BinaryField":
        return f"bytes {n}".encode()
    if field.has_default():
        return field.get_default()
    raise TypeError(f"The migration filler has no value for {field.model.__name__}.{field.name} ({internal})")


class Filler:
    """Creates rows of any model, creating the rows their foreign keys need first."""

    def __init__(self, maestro: set, connection):
        self.maestro = maestro
        self.connection = connection
        self.counter = itertools.count(1)
        self.failures: dict[str, str] = {}  # the last refusal of a full row, by model
        self.skipped_full: list[str] = []  # models that have only their minimal row

    def parent(self, field):
        model = field.related_model
        if model not in self.maestro and not field.unique:
            existing = model._base_manager.order_by("pk").first()
            if existing is not None:
                return existing
        return self.row(model, full=False)

    def build(self, model, *, full: bool, choices: dict | None = None, nulled: frozenset = frozenset()):
        """`full`: every column gets a value (but those `nulled`); otherwise nullable columns stay NULL.
        `choices`: the value of some choice fields, by attname."""
        obj = model()
        n = next(self.counter)
        for field in model._meta.concrete_fields:
            if getattr(field, "generated", False) or field.get_internal_type().endswith("AutoField"):
                continue
            if field.null and (not full or field.attname in nulled):
                setattr(obj, field.attname, None)
            elif choices and field.attname in choices:
                setattr(obj, field.attname, choices[field.attname])
            elif field.is_relation:
                parent = self.parent(field)
                setattr(obj, field.attname, getattr(parent, field.target_field.attname))
            else:
                setattr(obj, field.attname, field_value(field, n, self.connection))
        return obj

    def row(self, model, *, full: bool, **variant):
        # bulk_create skips the models' save() guards (tenant scope, immutable versions) and signals,
        # and runs each field's pre_save (auto_now), like a plain INSERT of what the app would write.
        (obj,) = model._base_manager.bulk_create([self.build(model, full=full, **variant)])
        return obj

    @staticmethod
    def variants(model):
        """The full row first; if the model's constraints refuse it (Budget: a user *and* an author),
        other choice values with the fewest nullable foreign keys left NULL."""
        fields = model._meta.concrete_fields
        yield {}
        nullable = [field.attname for field in fields if field.is_relation and field.null]
        values = [
            [(field.attname, value) for value, _label in field.flatchoices]
            for field in fields
            if field.choices and not field.is_relation
        ]
        for size in range(len(nullable) + 1):
            for nulled in itertools.combinations(nullable, size):
                for choices in itertools.islice(itertools.product(*values), MAX_CHOICE_VARIANTS):
                    yield {"choices": dict(choices), "nulled": frozenset(nulled)}

    def fill(self, model) -> None:
        """Two rows: one with as many columns set as the model's constraints allow, one minimal."""
        from django.db import DatabaseError, transaction

        for variant in itertools.islice(self.variants(model), MAX_VARIANTS):
            try:
                with transaction.atomic():
                    self.row(model, full=True, **variant)
                break
            except (DatabaseError, ValueError, TypeError) as exc:
                self.failures[model._meta.label] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        else:
            self.skipped_full.append(model._meta.label)
        self.row(model, full=False)


def add_moved_model_permissions() -> dict:
    """A custom permission, a group and a user holding it, and admin history, on orchestrator.Trace."""
    from django.apps import apps
    from django.contrib.admin.models import ADDITION, LogEntry
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    trace_model = apps.get_model(WATCHED_APP, WATCHED_MODEL)
    content_type = ContentType.objects.get(app_label=WATCHED_APP, model=WATCHED_MODEL)
    custom = Permission.objects.create(
        content_type=content_type, codename=CUSTOM_CODENAME, name="Can export trace"
    )
    view = Permission.objects.get(content_type=content_type, codename=f"view_{WATCHED_MODEL}")
    group = Group.objects.create(name=PERM_GROUP_NAME)
    group.permissions.add(view)
    user_model = apps.get_model("tenants", "User")
    user = user_model._base_manager.create(email=PERM_USER_EMAIL, password="!", is_active=True)
    user.user_permissions.add(custom)
    user.groups.add(group)
    trace = trace_model._base_manager.order_by("pk").first()
    entry = LogEntry.objects.create(
        user=user,
        content_type=content_type,
        object_id=str(trace.pk),
        object_repr=str(trace)[:200],
        action_flag=ADDITION,
        change_message="[]",
    )
    return {
        "content_type_id": content_type.pk,
        "custom_permission_id": custom.pk,
        "log_entry_id": entry.pk,
        "trace_pk": str(trace.pk),
    }


# --- Snapshots ------------------------------------------------------------------------------------


def table_columns(cursor) -> dict[str, list[str]]:
    cursor.execute(
        """
        SELECT c.table_name, c.column_name FROM information_schema.columns c
        JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
        ORDER BY c.table_name, c.ordinal_position
        """
    )
    columns: dict[str, list[str]] = {}
    for table, column in cursor.fetchall():
        columns.setdefault(table, []).append(column)
    return columns


def primary_key_columns(cursor, table: str) -> list[str]:
    cursor.execute(
        """
        SELECT a.attname FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)
        """,
        [f'"{table}"'],
    )
    return [row[0] for row in cursor.fetchall()]


def snapshot_table(cursor, table: str, columns: list[str]) -> dict:
    """Row count, md5 of the rows ordered by primary key (raw SQL), and an md5 per row by key."""
    quote = cursor.db.ops.quote_name
    row = "ROW({})::text".format(", ".join(quote(column) for column in columns))
    key_columns = primary_key_columns(cursor, table)
    key = "ROW({})::text".format(", ".join(quote(column) for column in key_columns)) if key_columns else row
    # Names come from the catalog and are quoted; no user input reaches this SQL.
    cursor.execute(
        f"SELECT count(*), md5(coalesce(string_agg(md5({row}), ',' ORDER BY {key}), '')) "  # noqa: S608
        f"FROM {quote(table)}"
    )
    count, checksum = cursor.fetchone()
    cursor.execute(f"SELECT {key}, md5({row}) FROM {quote(table)} ORDER BY {key}")  # noqa: S608
    return {"count": count, "checksum": checksum, "rows": dict(cursor.fetchall()), "key": key_columns}


def snapshot(columns_by_table: dict[str, list[str]]) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        present = table_columns(cursor)
        tables = {}
        for table, columns in columns_by_table.items():
            if table not in present:
                tables[table] = {"missing": True}
                continue
            lost = [column for column in columns if column not in present[table]]
            kept = [column for column in columns if column in present[table]]
            tables[table] = {**snapshot_table(cursor, table, kept), "lost_columns": lost}
    return tables


def content_types() -> list[list]:
    from django.contrib.contenttypes.models import ContentType

    return [list(row) for row in ContentType.objects.order_by("pk").values_list("pk", "app_label", "model")]


# --- The two phases -------------------------------------------------------------------------------


def old_phase(_: dict) -> dict:
    from django.db import connection

    setup_and_migrate()
    models = maestro_models()
    filler = Filler(set(models), connection)
    for model in models:
        filler.fill(model)
    watched = add_moved_model_permissions()
    watched["before"] = watched_state(watched)
    with connection.cursor() as cursor:
        columns = table_columns(cursor)
    return {
        "apps": sorted(config.label for config in maestro_app_configs()),
        "models": {model._meta.label_lower: model._meta.db_table for model in models},
        "full_row_refusals": filler.failures,
        "full_row_skipped": filler.skipped_full,
        "columns": columns,
        "tables": snapshot(columns),
        "content_types": content_types(),
        "watched": watched,
        "foreign_modules": foreign_modules(),
    }


def orm_reads() -> dict:
    """Every model of this checkout read through its own manager, unscoped: count and full load."""
    reads = {}
    for model in maestro_models():
        manager = model._default_manager
        queryset = manager.unscoped() if hasattr(manager, "unscoped") else model._base_manager.all()
        try:
            reads[model._meta.label_lower] = {
                "table": model._meta.db_table,
                "count": queryset.count(),
                "loaded": len(list(queryset)),
            }
        except Exception as exc:  # reported to the test, which names the model
            reads[model._meta.label_lower] = {"table": model._meta.db_table, "error": repr(exc)}
    return reads


def watched_state(watched: dict) -> dict:
    """What became of the trace's content type, its permissions, its holders and its admin history."""
    from django.apps import apps
    from django.contrib.admin.models import LogEntry
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.filter(pk=watched["content_type_id"]).first()
    label = content_type.app_label if content_type else None
    user = apps.get_model("tenants", "User")._base_manager.get(email=PERM_USER_EMAIL)
    entry = LogEntry.objects.get(pk=watched["log_entry_id"])
    try:
        edited = entry.get_edited_object()
        edited_object = [edited._meta.label_lower, str(edited.pk)]
    except Exception as exc:  # reported to the test
        edited_object = [None, repr(exc)]
    backend = ModelBackend()
    return {
        "app_label": label,
        "model_class": content_type.model_class()._meta.label_lower
        if content_type and content_type.model_class()
        else None,
        "codenames": sorted(
            Permission.objects.filter(content_type_id=watched["content_type_id"]).values_list(
                "codename", flat=True
            )
        ),
        "user_has_custom": backend.has_perm(user, f"{label}.{CUSTOM_CODENAME}"),
        "user_has_view_by_group": backend.has_perm(user, f"{label}.view_{WATCHED_MODEL}"),
        "log_entry_object": edited_object,
    }


def new_phase(old: dict) -> dict:
    setup_and_migrate()
    return {
        "apps": sorted(config.label for config in maestro_app_configs()),
        "tables": snapshot(old["columns"]),
        "orm": orm_reads(),
        "content_types": content_types(),
        "watched": watched_state(old["watched"]),
        "foreign_modules": foreign_modules(),
    }


def drop_editable_finders() -> None:
    """An editable install of Maestro maps its packages to *its* checkout with a finder on
    sys.meta_path, which answers for subpackages the old checkout lacks (orchestrator.management):
    without it, this checkout (cwd, first on sys.path) alone provides Maestro's packages."""
    sys.meta_path[:] = [
        finder for finder in sys.meta_path if not getattr(finder, "__module__", "").startswith("__editable__")
    ]


def main(argv: list[str]) -> None:
    phase, input_path, output_path = argv
    drop_editable_finders()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    given = json.loads(Path(input_path).read_text()) if phase == "new" else {}
    result = {"old": old_phase, "new": new_phase}[phase](given)
    result["root"] = str(ROOT)
    Path(output_path).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
