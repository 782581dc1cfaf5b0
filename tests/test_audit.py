"""Audit statistics against hand computations: exact tests, position/length bias, template sensitivity."""

import json
import math

import numpy as np
import pytest

from rlaif.core.exact import beta_quantile, binom_two_sided, jeffreys_interval, mcnemar_exact
from rlaif.evaluation import audit as A
from rlaif.evaluation.compare import audit_rows, compute, write_report


def test_exact_binomial_by_hand():
    # P(X <= 3 | 10, 1/2) = (1 + 10 + 45 + 120) / 1024, doubled by symmetry
    assert binom_two_sided(3, 10) == pytest.approx(2 * 176 / 1024)
    assert binom_two_sided(5, 10) == 1.0 and binom_two_sided(0, 0) == 1.0
    # asymmetric p: outcomes no more likely than P(X=2 | 10, 0.3) = 0.2335: all but i = 3 (0.2668)
    pmf = [math.comb(10, i) * 0.3 ** i * 0.7 ** (10 - i) for i in range(11)]
    assert binom_two_sided(2, 10, 0.3) == pytest.approx(sum(pmf) - pmf[3])
    # McNemar: b = 9, c = 1 -> 2 * (1 + 10) / 1024
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024) and mcnemar_exact(1, 9) == mcnemar_exact(9, 1)
    with pytest.raises(ValueError):
        binom_two_sided(4, 3)


def test_jeffreys_interval_matches_beta_quantiles():
    rng = np.random.default_rng(0)
    draws = rng.beta(7.5, 13.5, 400_000)
    lo, hi = jeffreys_interval(7, 20)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])), abs=2e-3)
    assert jeffreys_interval(0, 5)[0] == 0.0 and jeffreys_interval(5, 5)[1] == 1.0
    assert beta_quantile(0.5, 3.0, 3.0) == pytest.approx(0.5, abs=1e-9)  # symmetric median


def test_position_audit_by_hand():
    pf = np.array([0.9, 0.8, 0.7, 0.3, 0.6, 0.5, np.nan])
    ps = np.array([0.2, 0.3, 0.8, 0.4, 0.4, 0.9, 0.5])
    a = A.position_audit(pf, ps, n_boot=200)
    # rows 0,1,4: first picks a, second picks b (slot 1 twice); row 3: first b, second b (consistent); row 2: both a;
    # row 5 has a tie in the first order; row 6 a NaN order
    assert (a["n"], a["slot1_both"], a["slot2_both"], a["order_ties"]) == (6, 3, 0, 1)
    assert a["mcnemar_p"] == pytest.approx(2 / 8)  # 2 * P(X=0 | 3, 1/2)
    # P(first slot) = 0.85, 0.75, 0.45, 0.45, 0.6, 0.3 -> 3 above, 3 below 1/2
    assert a["p_first_slot"] == pytest.approx(np.mean([0.85, 0.75, 0.45, 0.45, 0.6, 0.3]))
    assert (a["first_slot_favoured"], a["second_slot_favoured"], a["sign_test_p"]) == (3, 3, 1.0)


def test_length_audit_by_hand():
    p = np.array([0.9, 0.2, 0.3, 0.5, 0.8, 0.7])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 1.0])
    la, lb = np.array([10, 5, 7, 3, 9, 2]), np.array([1, 9, 2, 3, 8, 4])
    a = A.length_audit(p, y, la, lb, n_boot=200)
    # unequal rows 0,1,2,4,5; longer: a, b, a, a, b; judge's P(longer) 0.9, 0.8, 0.3, 0.8, 0.3 -> picks 1, 1, 0, 1, 0
    # humans prefer the longer: 1, 1, 0, 0, 0 -> only the judge: row 4; only humans: none
    assert (a["n"], a["ai_prefers_longer"], a["human_prefers_longer"]) == (5, 0.6, 0.4)
    assert a["excess"] == pytest.approx(0.2) and (a["ai_only"], a["human_only"]) == (1, 0)
    assert a["mcnemar_p"] == 1.0 and a["excess_ci95"][0] <= 0.2 <= a["excess_ci95"][1]


def test_sensitivity_audit_by_hand():
    pa = np.array([0.9, 0.8, 0.2, 0.6, 0.5, 0.3])
    pb = np.array([0.7, 0.3, 0.1, 0.4, 0.9, 0.6])
    y = np.array([1.0, 1.0, 0.0, 0.0, np.nan, 1.0])
    s = A.sensitivity_audit(pa, pb, y, n_boot=300)
    # decided in both: rows 0,1,2,3,5; same side: rows 0, 2 -> 2/5
    assert (s["n"], s["agreement"], s["ties_left_out"]) == (6, 0.4, 1)
    assert s["mean_abs_diff"] == pytest.approx(np.mean([0.2, 0.5, 0.1, 0.2, 0.4, 0.3]))
    # kappa: A picks a on 0,1,3 (3/5), B on 0,5 (2/5); po = 0.4, pe = 0.6*0.4 + 0.4*0.6 = 0.48
    assert s["kappa"] == pytest.approx((0.4 - 0.48) / (1 - 0.48))
    # human rows 0,1,2,3,5: A right on 0,1,2 (3/5), B right on 0,2,3,5 (4/5)
    assert (s["accuracy_a"], s["accuracy_b"]) == pytest.approx((0.6, 0.8))
    assert s["delta_alignment"] == pytest.approx(-0.2) and (s["only_a_right"], s["only_b_right"]) == (1, 2)
    assert s["mcnemar_p"] == 1.0
    lo, hi = s["delta_alignment_ci95"]
    assert lo <= -0.2 <= hi


def _recs(pf, ps, y, la=None):
    return [{"id": str(i), "p_a": (f + s) / 2, "p_a_first": f, "p_a_second": s, "human_label": h,
             "response_a": "x" * (la[i] if la else 3), "response_b": "yyy", "judge": "j", "constitution": "c",
             "template": "t", "error": None} for i, (f, s, h) in enumerate(zip(pf, ps, y))]


def test_report_has_an_audit_section_and_against(tmp_path):
    # slot 1 always gets +0.3: twelve pairs where the orders disagree the same way -> McNemar p = 2 / 4096
    pf, ps, y = [0.7] * 12, [0.3] * 12, [1.0, 0.0] * 6
    recs = _recs(pf, ps, y)
    other = [{**r, "p_a": 0.8 if r["human_label"] else 0.2, "template": "other@1"} for r in recs]
    f = write_report(recs, tmp_path / "rep", n_boot=100, against=other)
    pos = f["audit"]["position"]
    assert (pos["slot1_both"], pos["slot2_both"], pos["mcnemar_p"]) == (12, 0, pytest.approx(2 / 4096))
    assert f["audit"]["against"]["accuracy_b"] == 1.0 and f["audit"]["against"]["only_b_right"] == 0  # A's 0.5 ties
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Audit" in md and "the judge favours the first slot (p = 0.00049" in md
    assert "sensitivity: A vs B (j / other@1)" in md
    assert json.loads((tmp_path / "rep" / "figures.json").read_text())["audit"]["position"]["slot1_both"] == 12
    assert "<h2>Audit</h2>" in (tmp_path / "rep" / "report.html").read_text()
    assert "no significant position bias" in compute(_recs([0.7, 0.3], [0.7, 0.3], [1.0, 0.0]), n_boot=50)[
        "audit"]["verdicts"]["position bias"]


def test_compare_cli_against(tmp_path):
    import subprocess
    import sys

    from conftest import write_jsonl
    from rlaif.core.schema import label_record

    def file(name, template, shift):
        rows = [label_record({"id": f"r{i}", "prompt": "p", "response_a": "a" * (i + 1), "response_b": "bb",
                              "human_label": float(i % 2)}, {"judge": "j", "constitution": "c", "template": template,
                                                              "config_hash": "h"},
                             p_a=0.5 + shift * (1 if i % 2 else -1), p_a_first=0.6, p_a_second=0.4) for i in range(8)]
        return write_jsonl(tmp_path / name, rows)

    a, b = file("a.jsonl", "t@1", 0.3), file("b.jsonl", "t@2", -0.2)
    run = lambda *x: subprocess.run([sys.executable, "-m", "rlaif", "compare", *map(str, x)],  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    res = run(a, "--against", b, "-o", tmp_path / "rep", "--bootstrap", "100")
    assert res.returncode == 0, res.stderr
    import re

    assert re.search(r"audit: template / judge sensitivity +labels agree on 0.0% of pairs; A aligns better", res.stdout)
    f = json.loads((tmp_path / "rep" / "figures.json").read_text())["audit"]["against"]
    assert (f["accuracy_a"], f["accuracy_b"], f["only_a_right"], f["mcnemar_p"]) == (1.0, 0.0, 8, pytest.approx(2 / 256))
    other = write_jsonl(tmp_path / "o.jsonl", [{**json.loads(x), "id": "zz"} for x in a.read_text().splitlines()[:1]])
    res = run(a, "--against", other, "-o", tmp_path / "rep2")
    assert res.returncode == 2 and res.stderr.strip() == "rlaif: error: --against: no pair id is labelled in both files"


def test_self_preference_audit_by_hand():
    p_own = np.array([0.9, 0.7, 0.2, 0.5, 0.8, 0.6, 0.3, 0.95])
    y_own = np.array([1.0, 0.0, 0.0, 1.0, np.nan, 0.0, 1.0, 1.0])
    s = A.self_preference_audit(p_own, y_own, n_boot=200)
    # the judge alone: 5 wins, 2 losses, 1 tie; two-sided binomial of 5 in 7 = 2 * (1 + 7 + 21) / 128
    assert (s["n"], s["wins"], s["losses"], s["ties"]) == (8, 5, 2, 1)
    assert s["win_rate"] == pytest.approx(5 / 7) and s["binomial_p"] == pytest.approx(58 / 128)
    assert s["win_rate_ci95"] == pytest.approx(jeffreys_interval(5, 7)) and s["mean_p_own"] == pytest.approx(4.95 / 8)
    # 7 pairs with a human label (row 4 has none): the judge picks its own 1, 1, 0, tie, 1, 0, 1 -> 4.5 / 7; humans
    # 4 / 7; only the judge picks its own on rows 1 and 5, only humans on row 6 (row 3's tie left out)
    assert s["with_human_label"] == 7 and (s["ai_rate"], s["human_rate"]) == pytest.approx((4.5 / 7, 4 / 7))
    assert s["excess"] == pytest.approx(0.5 / 7) and (s["ai_only"], s["human_only"]) == (2, 1)
    assert s["mcnemar_p"] == 1.0 and s["excess_ci95"][0] <= 0.5 / 7 <= s["excess_ci95"][1]
    assert A.self_preference_verdict(s) == "no significant self-preference relative to humans (p = 1, 7 pairs with a human label)"
    alone = A.self_preference_audit(np.array([0.9] * 12), np.full(12, np.nan))
    assert (alone["binomial_p"], alone["with_human_label"], alone["mcnemar_p"]) == (pytest.approx(2 / 4096), 0, 1.0)
    assert A.self_preference_verdict(alone) == ("the judge picks its own response more often than not (100.0% of 12 "
                                                "pairs, p = 0.00049 < 0.01); no human label on these pairs, so better "
                                                "own responses would read the same")


def _sourced(rows):
    """Label records (judge "J") from (source_a, source_b, p_a, human_label)."""
    return [{"id": str(i), "p_a": p, "p_a_first": p, "p_a_second": p, "human_label": h, "response_a": "a",
             "response_b": "b", "judge": "J", "constitution": "c", "template": "t", "error": None if p is not None else "x",
             **({"source_a": sa, "source_b": sb} if sa else {})} for i, (sa, sb, p, h) in enumerate(rows)]


def test_self_preference_finds_the_judges_own_response_in_either_slot(tmp_path):
    recs = _sourced([("J", "m2", 0.8, 1.0),     # own in a: P(own) 0.8, humans prefer it
                     ("m2", "J", 0.8, 1.0),     # own in b: P(own) 0.2, humans prefer the other
                     ("J", "J", 0.9, 0.0),      # both own: left out
                     ("m2", "m3", 0.9, 0.0),    # neither: left out
                     (None, None, 0.9, 1.0),    # no sources: left out
                     ("J", "m2", None, None),   # not labelled: counted as left out
                     ("m2", "J", 0.3, None)])   # own in b, P(own) 0.7, no human label
    sp = compute(recs, n_boot=50)["audit"]["self_preference"]
    assert (sp["n"], sp["wins"], sp["losses"], sp["unlabelled_left_out"], sp["self_source"]) == (3, 2, 1, 1, ["J"])
    assert sp["mean_p_own"] == pytest.approx(1.7 / 3) and sp["with_human_label"] == 2
    assert (sp["ai_rate"], sp["human_rate"], sp["ai_only"], sp["human_only"]) == (0.5, 0.5, 0, 0)
    other = compute(recs, n_boot=50, self_source="m2")["audit"]["self_preference"]  # m2's responses as the judge's
    # m2 alone in rows 0 (P(own) 0.2), 1 (0.8), 3 (0.9) and 6 (0.3)
    assert (other["n"], other["wins"], other["losses"], other["self_source"]) == (4, 2, 2, ["m2"])
    f = write_report(recs, tmp_path / "rep", n_boot=50)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| self-preference: judge picks its own response (J) vs 1/2 | 2 of 3, 0.667" in md
    assert "| self-preference: judge vs humans prefer the judge's own | 0.500 vs 0.500, excess 0.000" in md
    assert f["audit"]["verdicts"]["self-preference"].startswith("no significant self-preference relative to humans")
    assert "self-preference: judge picks its own response" in (tmp_path / "rep" / "report.html").read_text()


def test_self_preference_says_why_it_is_absent():
    none = compute(_sourced([(None, None, 0.8, 1.0)]), n_boot=20)["audit"]
    assert none["self_preference"]["absent"].startswith("no pair says who wrote its responses (source_a/source_b")
    assert none["verdicts"]["self-preference"].startswith("not measured: no pair says who wrote")
    others = compute(_sourced([("m1", "m2", 0.8, 1.0), ("J", "J", 0.4, 0.0)]), n_boot=20)["audit"]
    assert others["self_preference"]["absent"] == ("no labelled pair has exactly one response by J (sources: J, m1, "
                                                   "m2); --self-source NAME says which source is the judge's")
    rows = dict((t, (s, p)) for t, s, p in audit_rows(others))
    assert rows["self-preference"] == (f"not measured: {others['self_preference']['absent']}", "n/a")
