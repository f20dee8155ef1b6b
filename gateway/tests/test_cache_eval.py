"""`manage.py cache_eval`: pairs through the production lookup, its table, its JSON, its errors; and the
per-purpose cache modes and the fresh-answer bypass of the gateway."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from gateway.cache import CacheScope, cache_lookup, cache_store, forget_cache_policy
from gateway.models import SemanticCacheEntry, TenantPolicy
from tenants.context import tenant_scope
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

PAIRS = [
    {"a": "How do I reset my password?", "b": "Hi team, how do I reset my password?", "same_answer": True,
     "category": "near_repeat"},
    {"a": "Is the ticket refundable?", "b": "Is the ticket non-refundable?", "same_answer": False,
     "category": "negation"},
    {"a": "Convert 100 USD to EUR", "b": "Convert 100 EUR to USD", "same_answer": False,
     "category": "entity_swap"},
]  # fmt: skip


def write(tmp_path, lines) -> str:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines))
    return str(path)


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("cache_eval", *args, stdout=out)
    return out.getvalue()


def test_cache_eval_prints_hits_and_false_hits_per_category_and_the_curve(tmp_path):
    tenants_before = Tenant.objects.count()
    output = run("--pairs", write(tmp_path, PAIRS))
    assert "3 pairs at threshold 0.78" in output
    assert "near_repeat" in output
    assert "hits" in output
    assert "negation" in output
    assert "false hits" in output
    assert "threshold" in output.splitlines()[-13]  # the curve's header, then one line per threshold
    assert Tenant.objects.count() == tenants_before  # the throwaway tenant is gone
    assert not SemanticCacheEntry.objects.unscoped().exists()


def test_cache_eval_json_has_the_documented_shape(tmp_path):
    result = json.loads(run("--pairs", write(tmp_path, PAIRS), "--json"))
    assert set(result) == {"n", "threshold", "hit_rate", "false_hit_rate", "by_category", "curve"}
    assert (result["n"], result["threshold"]) == (3, 0.78)
    assert result["hit_rate"] == 1.0
    assert result["false_hit_rate"] == 0.0
    assert result["by_category"]["negation"] == {"n": 1, "served": 0, "rate": 0.0, "same_answer": False}
    thresholds = [point["threshold"] for point in result["curve"]]
    assert thresholds == sorted(thresholds)
    assert 0.78 in thresholds
    assert all(0 <= p["hit_rate"] <= 1 and 0 <= p["false_hit_rate"] <= 1 for p in result["curve"])


def test_cache_eval_uses_a_tenants_threshold_and_the_override(tmp_path, tenant_a):
    with tenant_scope(tenant_a):
        TenantPolicy.objects.update_or_create(tenant=tenant_a, defaults={"cache_threshold": 0.9})
    forget_cache_policy()
    path = write(tmp_path, PAIRS)
    assert json.loads(run("--pairs", path, "--json", "--tenant", tenant_a.slug))["threshold"] == 0.9
    assert (
        json.loads(run("--pairs", path, "--json", "--tenant", tenant_a.slug, "--threshold", "0.5"))[
            "threshold"
        ]
        == 0.5
    )
    assert not SemanticCacheEntry.objects.unscoped().filter(tenant=tenant_a).exists()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["{not json"], "pairs.jsonl:1: not JSON"),
        ([PAIRS[0], {"a": "x", "b": "y", "category": "c"}], "pairs.jsonl:2: missing same_answer"),
        ([{"a": "x", "b": "", "same_answer": True, "category": "c"}], "pairs.jsonl:1: a and b"),
        ([{"a": "x", "b": "y", "same_answer": "yes", "category": "c"}], "pairs.jsonl:1: same_answer must"),
        (["", "  "], "has no pairs"),
    ],
)
def test_cache_eval_names_the_bad_line(tmp_path, lines, message):
    with pytest.raises(CommandError, match=message):
        run("--pairs", write(tmp_path, lines))


def test_cache_eval_refuses_a_missing_file_and_an_unknown_tenant(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run("--pairs", str(tmp_path / "nowhere.jsonl"))
    with pytest.raises(CommandError, match="No tenant with slug 'nobody'"):
        run("--pairs", write(tmp_path, PAIRS), "--tenant", "nobody")


# ---- per-purpose modes --------------------------------------------------------------------------
def _scope(tenant, purpose: str) -> CacheScope:
    return CacheScope(tenant_id=tenant.pk, purpose=purpose, author_id=3)


def _store(scope, text):
    return cache_store(
        scope=scope, request_text=text, response_text="The answer.", model_alias="m", input_tokens=1,
        output_tokens=1, cost_micros=10,
    )  # fmt: skip


def test_deterministic_work_is_served_semantically_and_posts_only_for_identical_requests(tenant_a):
    forget_cache_policy()
    _store(_scope(tenant_a, "critique"), "Critique this post about hiring juniors")
    assert cache_lookup(
        scope=_scope(tenant_a, "critique"), request_text="Hi team, critique this post about hiring juniors"
    )
    _store(_scope(tenant_a, "post"), "Write a post about hiring juniors")
    assert cache_lookup(scope=_scope(tenant_a, "post"), request_text="Write a post about hiring juniors")
    miss = cache_lookup(
        scope=_scope(tenant_a, "post"), request_text="Hi team, write a post about hiring juniors"
    )
    assert not miss
    assert "exact repeats only" in miss.reason


def test_a_purpose_switched_off_is_neither_stored_nor_served(tenant_a):
    with tenant_scope(tenant_a):
        TenantPolicy.objects.update_or_create(tenant=tenant_a, defaults={"cache_modes": {"critique": "off"}})
    forget_cache_policy()
    assert _store(_scope(tenant_a, "critique"), "Critique this post") is None
    lookup = cache_lookup(scope=_scope(tenant_a, "critique"), request_text="Critique this post")
    assert not lookup
    assert "off for 'critique'" in lookup.reason
