import math

import torch

from rlaif.core.prefs import debiased_preference, label_probability, orders_agree
from rlaif.labeling.scorer import expected_score


def test_label_probability_is_softmax_over_label_tokens_only():
    for l1, l2 in [(-0.2, -1.7), (-4.0, -0.1), (0.0, -800.0), (-800.0, 0.0)]:
        expect = float(torch.softmax(torch.tensor([l1, l2], dtype=torch.float64), -1)[0])
        assert math.isclose(label_probability(l1, l2), expect, rel_tol=1e-12, abs_tol=1e-300)
        # renormalisation: mass on other tokens (a shift of both log-probs) does not change the label
        assert math.isclose(label_probability(l1 - 7.3, l2 - 7.3), expect, rel_tol=1e-12, abs_tol=1e-300)
    assert math.isclose(label_probability(math.log(0.6), math.log(0.2)), 0.75, abs_tol=1e-12)


def test_label_probability_is_the_float64_sigmoid_bit_for_bit():
    """Labels stay identical to the torch implementation this replaced (torch.sigmoid on float64 scalars)."""
    import random

    rng = random.Random(0)
    pairs = [(-rng.expovariate(rng.choice([0.1, 1, 5])), -rng.expovariate(rng.choice([0.1, 1, 5]))) for _ in range(3000)]
    for a, b in pairs:
        want = float(torch.sigmoid(torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)))
        assert label_probability(a, b) == want, (a, b)


def test_debiased_preference_formula_and_swap_symmetry():
    p12, p21 = torch.tensor([0.9, 0.9, 0.2]), torch.tensor([0.9, 0.3, 0.6])
    p = debiased_preference(p12, p21)
    assert torch.allclose(p, torch.tensor([0.5, 0.8, 0.3]))
    # swapping which response is "a" turns p into 1 - p
    assert torch.allclose(debiased_preference(p21, p12), 1 - p)
    assert math.isclose(debiased_preference(0.9, 0.3), 0.8)


def test_orders_agree_and_nan_propagation():
    # arguments are P(a) with a first and P(a) with a second
    assert orders_agree(0.8, 0.7)
    assert not orders_agree(0.8, 0.3)  # always says "1": position bias
    assert not orders_agree(0.5, 0.5)
    nan = float("nan")
    assert math.isnan(label_probability(nan, 0.0))
    assert math.isnan(debiased_preference(nan, 0.2))


def test_expected_score_on_known_distribution():
    probs = torch.tensor([0.0, 0.5, 0.5])
    logp = torch.log(probs) + 3.0  # any normalisation
    p, s, h = expected_score(logp, torch.tensor([1.0, 2.0, 3.0]))
    assert torch.allclose(p, probs)
    assert math.isclose(float(s), 2.5)
    assert math.isclose(float(h), math.log(2), rel_tol=1e-6)


def test_one_tie_rule_in_the_label_file_and_the_compare_report(scripted):
    """A per-order P(a) of exactly 1/2 picks neither response: the pair is not consistent in the label
    record, and counts as an order disagreement in the compare report."""
    import numpy as np

    from rlaif.core.prefs import consistency
    from rlaif.evaluation.metrics import position_bias
    from rlaif.labeling.labeler import Labeler

    cases = [(0.5, 0.3), (0.5, 0.5), (0.7, 0.5), (0.8, 0.6), (0.2, 0.1), (0.9, 0.2)]
    want = [False, False, False, True, True, False]
    assert [consistency(f, s) for f, s in cases] == want
    assert consistency(float("nan"), 0.3) is None
    row, labeler = {"error": None}, Labeler(scripted())
    for (f, s), w in zip(cases, want):  # the labeler's record (P(slot 1) per order in, consistent out)
        labeler._combine(row, {"ab": [f], "ba": [1 - s]})
        assert row["consistent"] is w and math.isclose(row["p_a_second"], s)
    f, s = np.array([c[0] for c in cases]), np.array([c[1] for c in cases])
    assert math.isclose(position_bias(f, s)["order_disagreement"], 1 - sum(want) / len(want))
