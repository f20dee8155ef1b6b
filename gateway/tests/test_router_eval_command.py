"""`manage.py router_eval`: the sweep, APGR and random routing on a labels file, via the gateway's path."""

from __future__ import annotations

import io
import json
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import gateway
from gateway.models import RouterMode, Trace
from gateway.router_model.evaluation import random_apgr, routing_curve
from gateway.router_model.services import router_dial_save
from gateway.tests.gateway_support import register_fake_models, request_for, run_with_runtime
from gateway.tests.router_support import hard_text, install_prior, synthetic_items
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def prior(settings):
    settings.MAESTRO_EMBEDDINGS = {**settings.MAESTRO_EMBEDDINGS, "backend": "hashing"}
    return install_prior()


def _write(tmp_path, records) -> str:
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return str(path)


def _run(*args) -> str:
    out = io.StringIO()
    call_command("router_eval", *args, stdout=out)
    return out.getvalue()


def test_json_report_has_the_sweep_apgr_and_random_routing(tmp_path, prior):
    items = synthetic_items(n=90, seed=99)  # other draws than the prior was trained on
    records = [{"prompt": i.prompt, "weak": i.weak, "strong": i.strong} for i in items]
    report = json.loads(_run("--data", _write(tmp_path, records), "--json", "--scores"))
    assert report["n"] == 90
    assert report["version"] == prior.version
    curve = routing_curve(report["scores"], [i.weak for i in items], [i.strong for i in items])
    assert report["apgr"] == pytest.approx(curve.apgr, abs=1e-6)
    assert report["apgr"] > report["random_apgr"] + 0.15  # the synthetic hard requests are recognisable
    assert report["random_apgr"] == pytest.approx(
        random_apgr([i.weak for i in items], [i.strong for i in items])
    )
    assert report["quality_at_50"] == pytest.approx(curve.quality_at(0.5), abs=1e-6)
    shares = [row["strong_share"] for row in report["curve"]]
    assert (shares[0], shares[-1]) == (0.0, 1.0)
    assert shares == sorted(shares)


def test_the_table_prints_thresholds_shares_quality_and_pgr(tmp_path, prior):
    records = [
        {"prompt": i.prompt, "weak": i.weak, "strong": i.strong} for i in synthetic_items(n=30, seed=5)
    ]
    text = _run("--data", _write(tmp_path, records))
    for heading in ("strong share", "PGR", "APGR", "random routing"):
        assert heading in text
    assert "quality at 50% strong share" in text


def test_multi_turn_lines_are_routed_on_the_first_user_turn(tmp_path, prior):
    hard = hard_text(random.Random(3))
    records = [
        {"turns": [hard, "thanks hello great"], "weak": 0, "strong": 1},
        {"prompt": hard, "weak": 0, "strong": 1},
        {
            "turns": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": hard}],
            "weak": 1,
            "strong": 1,
        },
    ]
    report = json.loads(_run("--data", _write(tmp_path, records), "--json", "--scores"))
    assert report["scores"][0] == report["scores"][1] == report["scores"][2]


def test_router_eval_scores_a_request_exactly_as_the_gateway_did(tmp_path, prior, tenant_a, fake_provider):
    register_fake_models(tenant_a, fake_provider.base_url)
    with tenant_scope(tenant_a):
        router_dial_save(
            tenant=tenant_a,
            mode=RouterMode.PREMIUM_SHARE,
            premium_share=0.4,
            quality_floor=0.95,
            share_labels=False,
        )
    text = hard_text(random.Random(4))
    response = run_with_runtime(
        lambda rt: gateway.complete(request_for(tenant_a, text, purpose="chat"), runtime=rt)
    )
    with tenant_scope(tenant_a):
        traced = Trace.objects.get(pk=response.call_id).routing["router"]
    report = json.loads(
        _run(
            "--data",
            _write(tmp_path, [{"prompt": text, "weak": 0, "strong": 1}]),
            "--json",
            "--scores",
            "--tenant",
            tenant_a.slug,
        )
    )
    assert report["scores"][0] == pytest.approx(traced["score"], abs=1e-4)
    assert report["threshold"] == pytest.approx(traced["threshold"], abs=1e-4)
    assert report["at_threshold"]["strong_share"] == (1.0 if traced["strong"] else 0.0)


def test_a_bad_line_is_reported_with_its_number(tmp_path, prior):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "weak": 1, "strong": 1}\n{"prompt": "b"}\n')
    with pytest.raises(CommandError, match=r"bad\.jsonl:2"):
        _run("--data", str(path))
