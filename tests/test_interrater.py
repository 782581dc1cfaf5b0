"""Agreement between human reviewers (Cohen's kappa, Krippendorff's alpha) against hand computations and the
published example, and the one rule for "the AI agrees with the human"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlaif.core.prefs import agrees
from rlaif.evaluation import metrics
from rlaif.evaluation.interrater import between_reviewers, cohen_kappa, differ, krippendorff_alpha


def test_cohen_kappa_by_hand():
    # x: a a b b tie a / y: a b b b tie b. Same label on items 1, 3, 4, 5: p_o = 4/6.
    # marginals x (a, b, tie) = 3/6, 2/6, 1/6; y = 1/6, 4/6, 1/6: p_e = (3 + 8 + 1) / 36 = 1/3.
    # kappa = (2/3 - 1/3) / (1 - 1/3) = 1/2
    assert cohen_kappa(list("aabbta"), list("abbbtb")) == pytest.approx(0.5)
    assert cohen_kappa(list("abab"), list("abab")) == 1.0
    assert cohen_kappa(list("abab"), list("baba")) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa([], [])) and math.isnan(cohen_kappa(list("aa"), list("aa")))  # p_e = 1
    with pytest.raises(ValueError):
        cohen_kappa([1.0], [1.0, 0.0])


def test_krippendorff_alpha_by_hand():
    # units: [a a], [a b], [b b b], [a] (one label: not pairable), [a b b]
    # coincidences (each ordered pair of a unit with m labels adds 1/(m-1)):
    #   [a a] -> o_aa += 2; [a b] -> o_ab += 1, o_ba += 1; [b b b] -> o_bb += 6 * 1/2 = 3;
    #   [a b b] -> (a,b) x2, (b,a) x2, (b,b) x2, each 1/2 -> o_ab += 1, o_ba += 1, o_bb += 1
    #   o_aa = 2, o_ab = o_ba = 2, o_bb = 4; n_a = 4, n_b = 6, n = 10
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (n_a n_b + n_b n_a) = 1 - 9 * 4 / 48 = 0.25
    assert krippendorff_alpha([["a", "a"], ["a", "b"], ["b", "b", "b"], ["a"], ["a", "b", "b"]]) == pytest.approx(0.25)
    assert math.isnan(krippendorff_alpha([["a"], ["b"]])) and math.isnan(krippendorff_alpha([["a", "a"]]))


def test_krippendorff_alpha_matches_the_published_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders, 12 units, missing data;
    # nominal alpha = 0.743
    n = None
    coders = [[1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
              [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n]]
    units = [[v for v in unit if v is not None] for unit in zip(*coders)]
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)


def test_between_reviewers_two_and_three():
    two = between_reviewers({"ann": {"p1": 1.0, "p2": 0.0, "p3": 0.5, "p4": 1.0},
                             "bob": {"p1": 1.0, "p2": 1.0, "p3": 0.5, "p5": 0.0}, "nobody": {}})
    assert two["reviewers"] == ["ann", "bob"] and two["pairs_compared"] == 3
    # on p1..p3: ann (1, 0, .5), bob (1, 1, .5): p_o = 2/3, p_e = (1/3)(2/3) + (1/3)(0) + (1/3)(1/3) = 1/3
    assert two["kappa"] == pytest.approx(0.5) and two["pairwise"][0] == {"a": "ann", "b": "bob", "n": 3, "agree": 2,
                                                                          "kappa": two["kappa"]}
    assert two["disagreements"] == ["p2"]
    three = between_reviewers({"a": {"x": 1.0, "y": 0.0}, "b": {"x": 1.0, "y": 1.0}, "c": {"x": 0.0}})
    assert math.isnan(three["kappa"]) and len(three["pairwise"]) == 3
    assert three["alpha"] == pytest.approx(krippendorff_alpha([[1.0, 1.0, 0.0], [0.0, 1.0]]))
    assert three["disagreements"] == ["x", "y"] and differ([1.0, 0.0]) and not differ([1.0]) and not differ([0.5, 0.5])


def test_one_rule_for_the_ai_agreeing_with_a_human():
    assert agrees(0.9, 1.0) is True and agrees(0.2, 1.0) is False and agrees(0.2, 0.0) is True
    for p, h in ((0.5, 1.0), (math.nan, 1.0), (None, 0.0), (0.9, 0.5), (0.9, None), (0.9, math.nan)):
        assert agrees(p, h) is None
    # the compare report's kappa is the two-rater kappa of the same hard labels (ties left out)
    rng = np.random.default_rng(0)
    p, y = rng.random(300), (rng.random(300) < 0.5).astype(float)
    p[:7] = 0.5
    keep = p != 0.5
    assert metrics.cohen_kappa(p, y) == pytest.approx(cohen_kappa(list(p[keep] > 0.5), list(y[keep] > 0.5)))
    hits = [agrees(a, b) for a, b in zip(p, y)]
    assert metrics.accuracy(p, y) == pytest.approx(sum(1.0 if v else 0.5 if v is None else 0.0 for v in hits) / 300)
