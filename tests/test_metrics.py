"""Every metric against hand-computed values on tiny fixtures."""

import json
import math

import numpy as np
import pytest
import torch

from rlaif.evaluation import metrics as M
from rlaif.evaluation.calibration import apply, fit, fit_and_evaluate
from rlaif.evaluation.compare import compute, join_human, write_report

P = np.array([0.9, 0.8, 0.3, 0.5, 0.2])
Y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])


def test_accuracy_with_a_tie_counts_half():
    # hits: 0.9 vs 1 yes, 0.8 vs 0 no, 0.3 vs 0 yes, tie 0.5, 0.2 vs 1 no -> (1 + 0 + 1 + 0.5 + 0) / 5
    assert M.accuracy(P, Y) == pytest.approx(0.5)


def test_kappa_by_hand():
    # ties excluded: ai = [1,1,0,0], human = [1,0,0,1]; po = 0.5, pe = 0.5*0.5 + 0.5*0.5 = 0.5 -> 0
    assert M.cohen_kappa(P, Y) == pytest.approx(0.0)
    p = np.array([0.9, 0.9, 0.1, 0.1]); y = np.array([1.0, 1.0, 0.0, 1.0])
    # po = 0.75, P(ai=1) = 0.5, P(h=1) = 0.75 -> pe = 0.375 + 0.125 = 0.5 -> kappa = 0.5
    assert M.cohen_kappa(p, y) == pytest.approx(0.5)
    assert M.cohen_kappa(np.array([0.9, 0.1]), np.array([0.0, 1.0])) == pytest.approx(-1.0)
    assert math.isnan(M.cohen_kappa(np.array([0.9, 0.8]), np.array([1.0, 1.0])))  # p_e = 1


def test_log_loss_and_brier_by_hand():
    p, y = np.array([0.8, 0.4]), np.array([1.0, 0.0])
    assert M.log_loss(p, y) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert M.brier(p, y) == pytest.approx((0.04 + 0.16) / 2)
    assert np.isfinite(M.log_loss(np.array([0.0]), np.array([1.0])))  # clipped, not inf


def test_ece_perfect_and_anti_calibrated():
    # perfectly calibrated: in the 0.7-0.8 bin 75% of humans prefer a, in the 0.2-0.3 bin 25%
    p = np.array([0.75] * 4 + [0.25] * 4); y = np.array([1, 1, 1, 0, 1, 0, 0, 0], dtype=float)
    assert M.ece(p, y) == pytest.approx(0.0)
    # anti-calibrated: confident and always wrong
    assert M.ece(np.array([0.95, 0.05]), np.array([0.0, 1.0])) == pytest.approx(0.95)
    rel = M.reliability(p, y)
    assert [(r["n"], r["mean_p"], r["human_rate"]) for r in rel] == [(4, 0.25, 0.25), (4, 0.75, 0.75)]
    assert M.ece(np.array([1.0]), np.array([1.0])) == 0.0  # p = 1 falls in the last bin


def test_confidence_buckets_length_and_position_bias():
    b = M.by_confidence(P, Y)
    # confidences |2p-1|: 0.8, 0.6, 0.4, 0.0, 0.6
    assert [x["n"] for x in b] == [1, 0, 1, 2, 1]
    # tie -> 0.5; 0.3 vs 0 right; 0.8 vs 0 and 0.2 vs 1 both wrong; 0.9 vs 1 right
    assert [x["accuracy"] for x in b[:1] + b[2:]] == [0.5, 1.0, 0.0, 1.0]
    lb = M.length_bias(P, Y, np.array([10, 5, 7, 3, 3]), np.array([1, 9, 2, 3, 8]))
    # unequal rows 0,1,2,4; longer: a, b, a, b; AI prob on longer 0.9, 0.2, 0.3, 0.8 -> hard 1, 0, 0, 1
    # humans (y = 1, 0, 0, 1) prefer the longer in rows 0 and 1 -> 0.5
    assert lb == {"n": 4, "ai_prefers_longer": 0.5, "human_prefers_longer": 0.5}
    pb = M.position_bias(np.array([0.9, 0.7, np.nan]), np.array([0.2, 0.8, 0.5]))
    # P(slot1): (0.9 + 0.8)/2 = 0.85 and (0.7 + 0.2)/2 = 0.45 -> 0.65; disagree: row0 yes, row1 no
    assert pb == pytest.approx({"n": 2, "p_first_slot": 0.65, "order_disagreement": 0.5})


def test_bootstrap_interval_brackets_the_estimate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200).astype(float)
    p = np.where(rng.random(200) < 0.7, y, 1 - y) * 0.6 + 0.2
    lo, hi = M.bootstrap_ci(M.accuracy, p, y, n_boot=500)
    assert lo < M.accuracy(p, y) < hi and hi - lo < 0.2


def records(p, y, **extra):
    a_or_none = [None if a != a else float(a) for a in p]  # records hold None for a missing label
    return [{"id": str(i), "p_a": a, "human_label": h, "p_a_first": a, "p_a_second": a,
             "response_a": "x" * (i + 1), "response_b": "yy", "judge": "j", "constitution": "c", "template": "t",
             "error": None if a is not None else "no label", **extra} for i, (a, h) in enumerate(zip(a_or_none, y))]


def test_compare_counts_nan_rows_and_writes_report(tmp_path):
    recs = records([0.9, 0.2, float("nan"), 0.7], [1.0, 0.0, 1.0, 0.0])
    f = compute(recs, n_boot=200)
    assert (f["labelled"], f["unlabelled"]) == (3, 1) and f["unlabelled_reasons"] == {"no label": 1}
    assert f["accuracy"] == pytest.approx(2 / 3)
    assert f["accuracy_all_rows_nan_as_coin"] == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    out = write_report(recs, tmp_path / "rep", n_boot=200)
    assert json.loads((tmp_path / "rep" / "figures.json").read_text())["labelled"] == 3
    for name in ("report.md", "report.html", "reliability.png", "histogram.png", "agreement_vs_confidence.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    assert "<img src='reliability.png'" in (tmp_path / "rep" / "report.html").read_text()
    assert out["ece"] == f["ece"]


def test_join_separate_human_file(tmp_path):
    recs = records([0.9, 0.2], [None, None])
    (tmp_path / "h.csv").write_text("id,human_label\n0,0\n1,0\n")
    joined = join_human(recs, tmp_path / "h.csv")
    assert [r["human_label"] for r in joined] == [0, 0]


def test_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 1.5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    over_confident = 1 / (1 + np.exp(-3.0 * true_logit))  # logits scaled by 3: T should come out ~3
    t, b = fit(over_confident, y)
    assert t == pytest.approx(3.0, rel=0.1) and b == 0.0
    q = apply(torch.tensor(over_confident), t).numpy()
    assert M.ece(q, y) < M.ece(over_confident, y) / 2
    assert torch.isnan(apply(torch.tensor(float("nan")), 2.0))


def test_fit_and_evaluate_reports_held_out(tmp_path):
    rng = np.random.default_rng(0)
    logit = rng.normal(0, 1.5, 400)
    y = (rng.random(400) < 1 / (1 + np.exp(-logit))).astype(float)
    recs = records(1 / (1 + np.exp(-4 * logit)), y)
    cal, rep = fit_and_evaluate(recs, 0.5, seed=0)
    assert rep["fit_rows"] == 200 and rep["held_out_rows"] == 200
    assert rep["after"]["ece"] < rep["before"]["ece"] and rep["after"]["log_loss"] < rep["before"]["log_loss"]


def test_bootstrap_of_an_undefined_statistic_is_nan():
    lo, hi = M.bootstrap_ci(M.cohen_kappa, np.array([0.5, 0.5]), np.array([1.0, 0.0]), n_boot=50)
    assert math.isnan(lo) and math.isnan(hi)
