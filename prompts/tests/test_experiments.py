"""A/B splits: deterministic by key, close to the share, ended by a production move; outcomes per version."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from prompts import services
from prompts.models import PromptOutcome
from prompts.selectors import prompt_outcome_stats, resolve_prompt
from prompts.tests.factories import make_template, version_fields
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def template_ab(tenant_a):
    template = make_template(tenant=tenant_a, name="default")
    with tenant_scope(tenant_a):
        version_b = services.prompt_version_create(template=template, **version_fields(change_note="B"))
        version_a = template.versions.get(number=1)
    return template, version_a, version_b


def test_assignment_is_deterministic_and_close_to_the_share(tenant_a, template_ab):
    template, version_a, version_b = template_ab
    with tenant_scope(tenant_a):
        services.prompt_experiment_start(template=template, version_b=version_b, share_b=30, actor=None)
        first = [resolve_prompt(purpose="post", ab_key=f"draft-{n}") for n in range(1000)]
        again = [resolve_prompt(purpose="post", ab_key=f"draft-{n}").variant for n in range(1000)]
    assert [resolved.variant for resolved in first] == again
    share = sum(resolved.variant == "B" for resolved in first) / 1000
    assert 0.25 <= share <= 0.35
    assert {r.version for r in first if r.variant == "B"} == {version_b}
    assert {r.version for r in first if r.variant == "A"} == {version_a}


def test_no_key_gets_a_and_other_labels_ignore_the_experiment(tenant_a, template_ab):
    template, version_a, version_b = template_ab
    with tenant_scope(tenant_a):
        services.prompt_label_move(template=template, label="staging", version=version_a, actor=None)
        services.prompt_experiment_start(template=template, version_b=version_b, share_b=100, actor=None)
        assert resolve_prompt(purpose="post").variant == "A"
        assert resolve_prompt(purpose="post", ab_key="x").version == version_b
        assert resolve_prompt(purpose="post", label="staging", ab_key="x").variant == ""


def test_rolling_back_production_ends_the_experiment(tenant_a, template_ab):
    template, version_a, version_b = template_ab
    with tenant_scope(tenant_a):
        services.prompt_label_move(template=template, label="production", version=version_b, actor=None)
        experiment = services.prompt_experiment_start(
            template=template, version_b=version_a, share_b=50, actor=None
        )
        services.prompt_label_move(template=template, label="production", version=version_a, actor=None)
        experiment.refresh_from_db()
        assert not experiment.is_running
        assert {resolve_prompt(purpose="post", ab_key=str(n)).version for n in range(50)} == {version_a}


def test_an_experiment_needs_another_version_of_the_same_template_and_a_valid_share(tenant_a, template_ab):
    template, version_a, version_b = template_ab
    other = make_template(tenant=tenant_a)
    with tenant_scope(tenant_a):
        refusals = [
            (version_a, 50, f"v{version_a.number} is already production: choose another."),
            (other.versions.get(), 50, "Version B must be a version of the same template."),
            (version_b, 101, "B's share is a whole percentage from 0 to 100."),
        ]
        for version, share, message in refusals:
            with pytest.raises(ValidationError, match=re.escape(message)):
                services.prompt_experiment_start(
                    template=template, version_b=version, share_b=share, actor=None
                )
        services.prompt_experiment_start(template=template, version_b=version_b, share_b=10, actor=None)
        with pytest.raises(ValidationError, match="already running"):
            services.prompt_experiment_start(template=template, version_b=version_b, share_b=10, actor=None)


def test_outcomes_aggregate_per_version_within_the_experiment(tenant_a, tenant_b, template_ab):
    template, version_a, version_b = template_ab
    with tenant_scope(tenant_a):
        services.prompt_outcome_record(version=version_a, approved=True, edit_distance=0.4, cost_micros=100)
        experiment = services.prompt_experiment_start(
            template=template, version_b=version_b, share_b=50, actor=None
        )
        services.prompt_outcome_record(version=version_a, approved=True, edit_distance=0.2, cost_micros=1000)
        services.prompt_outcome_record(
            version=version_a, approved=False, edit_distance=None, cost_micros=3000
        )
        services.prompt_outcome_record(
            version=version_b, approved=True, edit_distance=0.1, cost_micros=500, experiment_id=experiment.pk
        )
        a, b = prompt_outcome_stats(versions=[version_a, version_b], experiment=experiment)
        everything_a, _ = prompt_outcome_stats(versions=[version_a, version_b])
    assert (a.count, a.approval_rate, a.mean_edit_distance, a.mean_cost_micros) == (2, 0.5, 0.2, 2000)
    assert (b.count, b.approval_rate, b.mean_edit_distance, b.mean_cost_micros) == (1, 1.0, 0.1, 500)
    assert everything_a.count == 3
    with tenant_scope(tenant_b):
        assert not PromptOutcome.objects.exists()
        assert prompt_outcome_stats(versions=[version_a])[0].count == 0


def test_outcome_values_are_checked(tenant_a, template_ab):
    _template, version_a, _b = template_ab
    with tenant_scope(tenant_a):
        with pytest.raises(ValidationError, match=re.escape("Edit distance is a fraction from 0 to 1.")):
            services.prompt_outcome_record(version=version_a, approved=True, edit_distance=1.5, cost_micros=0)
        with pytest.raises(ValidationError, match=re.escape("Cost cannot be negative.")):
            services.prompt_outcome_record(
                version=version_a, approved=True, edit_distance=None, cost_micros=-1
            )
