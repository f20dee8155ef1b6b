"""The router's measuring stick (sweep, PGR, APGR, calibration) and its fitting, on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.router_model.decision import needs_strong
from gateway.router_model.evaluation import random_apgr, routing_curve, sweep_table, threshold_for_share
from gateway.router_model.features import FEATURE_NAMES, cheap_features, messages_for_labels, router_text
from gateway.router_model.fitting import fit_logistic
from gateway.router_model.model import RouterModel
from gateway.router_model.training import train_prior, train_residual


def _labels(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    needs = rng.random(n) < 0.3  # the weak model fails these, the strong one answers them
    weak = np.where(needs, 0.0, 1.0)
    strong = np.ones(n)
    return needs, weak, strong, rng


def test_an_oracle_router_recovers_the_whole_gap_early_and_random_routing_half():
    needs, weak, strong, rng = _labels()
    oracle = np.where(needs, 0.0, 1.0) + rng.random(len(needs)) * 0.01
    curve = routing_curve(oracle, weak, strong)
    # All of the gap is recovered once the share that needs it went to the strong model: area = 1 - share/2.
    share = needs.mean()
    assert curve.apgr == pytest.approx(1 - share / 2, abs=0.005)
    assert curve.quality_at(share) == pytest.approx(1.0)
    assert random_apgr(weak, strong) == pytest.approx(0.5, abs=0.03)
    backwards = routing_curve(-oracle, weak, strong)
    assert backwards.apgr < 0.2


def test_equal_scores_flip_together_and_count_as_a_random_tie_break():
    _, weak, strong, _ = _labels()
    curve = routing_curve(np.zeros(len(weak)), weak, strong)
    assert [p.strong_share for p in curve.points] == [0.0, 1.0]
    assert curve.apgr == pytest.approx(0.5)


def test_no_gap_means_no_apgr():
    weak = strong = np.ones(10)
    assert routing_curve(np.arange(10.0), weak, strong).apgr is None


def test_a_threshold_for_a_share_sends_that_share_to_the_strong_model():
    scores = np.random.default_rng(1).random(1000)
    for share in (0.0, 0.1, 0.5, 0.9, 1.0):
        threshold = threshold_for_share(scores, share)
        sent = np.mean([needs_strong(s, threshold) for s in scores])
        assert sent == pytest.approx(share, abs=0.002)


def test_the_sweep_table_reports_what_its_thresholds_really_do():
    needs, weak, strong, rng = _labels()
    scores = np.where(needs, 0.2, 0.8) + rng.random(len(needs)) * 0.1
    rows = sweep_table(scores, weak, strong, shares=(0.0, 0.3, 1.0))
    assert [round(r.strong_share, 2) for r in rows] == [0.0, 0.3, 1.0]
    assert rows[0].quality == pytest.approx(weak.mean())
    assert rows[1].quality == pytest.approx(1.0)
    assert rows[2].pgr == pytest.approx(1.0)


def test_the_router_reads_the_first_user_turn_normalised_like_the_cache():
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "  First   question\n\n here "},
        {"role": "assistant", "content": "An answer."},
        {"role": "user", "content": "Follow-up"},
    ]
    assert router_text(messages) == "First question\nhere"
    assert router_text(messages_for_labels("", ["one", "two"])) == "one"
    assert router_text([{"role": "system", "content": "x"}]) == ""


def test_cheap_features_name_the_purpose_and_fall_back_to_chat():
    features = cheap_features("What is 2+2?", "comment")
    assert len(features) == len(FEATURE_NAMES)
    assert features[FEATURE_NAMES.index("purpose=comment")] == 1.0
    unknown = cheap_features("What is 2+2?", "something-new")
    assert unknown[FEATURE_NAMES.index("purpose=chat")] == 1.0


def test_logistic_regression_learns_a_separable_signal_and_the_offset_shifts_it():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 3))
    y = (x[:, 0] > 0).astype(float)
    fit = fit_logistic(x, y, alpha=0.01)
    assert fit.converged
    assert fit.coef[0] > 2
    assert abs(fit.coef[1]) < 0.5
    # An offset that already explains the labels leaves little for the residual to learn.
    explained = fit_logistic(x, y, alpha=0.01, offset=10 * x[:, 0])
    assert abs(explained.coef[0]) < fit.coef[0]


def _tiny_params():
    rng = np.random.default_rng(4)
    width = 8 + len(FEATURE_NAMES)
    x = rng.normal(size=(300, width))
    weak = (x[:, 0] > 0).astype(float)
    return x, train_prior(x, weak, np.ones(300), embedding_model="test/8", dimensions=8, alpha=0.05)


def test_scoring_one_row_equals_scoring_the_matrix():
    x, params = _tiny_params()
    model = RouterModel(params)
    assert model.scores(x[:20]) == pytest.approx([model.score(row) for row in x[:20]])


def test_a_residual_router_scores_one_row_as_its_layers_do():
    x, params = _tiny_params()
    labels = (x[:60, 1] > 0).astype(float)
    residual = RouterModel(train_residual(params, x[:60], labels, ["weak", "strong"] * 30))
    assert residual.scores(x[60:80]) == pytest.approx([residual.score(row) for row in x[60:80]], abs=1e-12)
    assert residual.scores(x[60:80]) != pytest.approx(RouterModel(params).scores(x[60:80]))


def test_a_residual_without_labels_for_a_head_keeps_the_prior_for_it():
    x, params = _tiny_params()
    labels = np.zeros(50)  # the tenant's weak-tier drafts were all rejected
    residual = RouterModel(train_residual(params, x[:50], labels, ["weak"] * 50))
    prior = RouterModel(params)
    assert residual.qualities("strong", x[:50]) == pytest.approx(prior.qualities("strong", x[:50]))
    assert residual.qualities("weak", x[:50]).mean() < prior.qualities("weak", x[:50]).mean()


def test_parameters_from_other_features_are_refused():
    _, params = _tiny_params()
    with pytest.raises(ValueError, match="cheap features"):
        RouterModel({**params, "feature_names": ["something", "else"]})
