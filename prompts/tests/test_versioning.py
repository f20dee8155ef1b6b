"""Versions are immutable and numbered without clashes; labels move atomically and leave a history."""

from __future__ import annotations

import re
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from prompts import services
from prompts.models import ChangeKind, ImmutableRowError, PromptChange, PromptTemplate, PromptVersion
from prompts.tests.factories import make_template, version_fields
from tenants.context import tenant_scope
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_saved_version_cannot_be_changed(tenant_a):
    template = make_template(tenant=tenant_a)
    with tenant_scope(tenant_a):
        version = template.versions.get()
        version.change_note = "sneaky"
        immutable = "Prompt versions are immutable: save a new version instead."
        with pytest.raises(ImmutableRowError, match=f"^{re.escape(immutable)}$"):
            version.save()
        with pytest.raises(ImmutableRowError, match=re.escape("PromptVersion rows never change once saved.")):
            PromptVersion.objects.filter(pk=version.pk).update(change_note="sneaky")
        assert PromptVersion.objects.get(pk=version.pk).change_note == ""


def test_versions_are_numbered_one_two_three_per_template(tenant_a):
    first, second = make_template(tenant=tenant_a), make_template(tenant=tenant_a)
    with tenant_scope(tenant_a):
        v2 = services.prompt_version_create(template=first, **version_fields())
        v3 = services.prompt_version_create(template=first, **version_fields())
        other_v2 = services.prompt_version_create(template=second, **version_fields())
    assert (v2.number, v3.number, other_v2.number) == (2, 3, 2)


@pytest.mark.django_db(transaction=True)
def test_two_editors_saving_at_once_get_consecutive_numbers(tenant_a):
    template = make_template(tenant=tenant_a)
    barrier = threading.Barrier(2)
    numbers, errors = [], []

    def save(note: str) -> None:
        try:
            with tenant_scope(tenant_a):
                barrier.wait(timeout=10)
                version = services.prompt_version_create(
                    template=template, **version_fields(change_note=note)
                )
                numbers.append(version.number)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(note,)) for note in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(numbers) == [2, 3]


def test_rolling_production_back_moves_the_label_and_records_who_did_it(tenant_a):
    editor = UserFactory()
    template = make_template(tenant=tenant_a)
    with tenant_scope(tenant_a):
        v1 = template.versions.get()
        v2 = services.prompt_edit(template=template, actor=editor, **version_fields(change_note="punchier"))
        assert services.production_version_of(template) == v2
        services.prompt_label_move(template=template, label="production", version=v1, actor=editor)
        assert services.production_version_of(template) == v1
        latest = PromptChange.objects.filter(template=template).first()
    assert latest.kind == ChangeKind.ROLLED_BACK
    assert (latest.label, latest.from_version, latest.version, latest.actor) == ("production", v2, v1, editor)


def test_moving_a_label_forward_or_a_new_label_is_a_plain_move(tenant_a):
    template = make_template(tenant=tenant_a)
    with tenant_scope(tenant_a):
        v2 = services.prompt_version_create(template=template, **version_fields())
        services.prompt_label_move(template=template, label="staging", version=v2, actor=None)
        services.prompt_label_move(template=template, label="production", version=v2, actor=None)
        kinds = list(PromptChange.objects.filter(template=template).values_list("kind", "label")[:2])
    assert kinds == [(ChangeKind.LABEL_MOVED, "production"), (ChangeKind.LABEL_MOVED, "staging")]


def test_a_label_cannot_point_at_another_templates_version(tenant_a):
    first, second = make_template(tenant=tenant_a), make_template(tenant=tenant_a)
    elsewhere = re.escape("That version belongs to another template.")
    with tenant_scope(tenant_a), pytest.raises(ValidationError, match=elsewhere):
        services.prompt_label_move(
            template=first, label="production", version=second.versions.get(), actor=None
        )


def test_label_names_are_short_slugs(tenant_a):
    template = make_template(tenant=tenant_a)
    slug = re.escape("A label is a short name of letters, digits, - and _.")
    with tenant_scope(tenant_a), pytest.raises(ValidationError, match=slug):
        services.prompt_label_move(
            template=template, label="prod uction!", version=template.versions.get(), actor=None
        )


def test_every_version_saved_is_in_the_history(tenant_a):
    template = make_template(tenant=tenant_a)
    with tenant_scope(tenant_a):
        services.prompt_version_create(template=template, **version_fields(change_note="shorter"))
        created = PromptChange.objects.filter(template=template, kind=ChangeKind.VERSION_CREATED)
        assert [change.version.number for change in created] == [2, 1]
        assert created[0].note == "shorter"


def test_templates_of_one_purpose_and_name_are_unique_per_tenant(tenant_a):
    make_template(tenant=tenant_a, name="default")
    taken = re.escape("A template post/default already exists.")
    with tenant_scope(tenant_a), pytest.raises(ValidationError, match=taken):
        services.prompt_template_create(purpose="post", name="default", **version_fields())
    with tenant_scope(tenant_a):
        assert PromptTemplate.objects.filter(name="default").count() == 1
