import math

import torch

from rlaif.core.prefs import debiased_preference, expected_score, label_probability, orders_agree


def test_label_probability_is_softmax_over_label_tokens_only():
    l1, l2 = torch.tensor([-0.2, -4.0]), torch.tensor([-1.7, -0.1])
    expect = torch.softmax(torch.stack([l1, l2], -1), -1)[..., 0]
    assert torch.allclose(label_probability(l1, l2), expect)
    # renormalisation: mass on other tokens (a shift of both log-probs) does not change the label
    assert torch.allclose(label_probability(l1 - 7.3, l2 - 7.3), expect)
    assert math.isclose(float(label_probability(torch.tensor(math.log(0.6)), torch.tensor(math.log(0.2)))), 0.75, abs_tol=1e-6)


def test_debiased_preference_formula_and_swap_symmetry():
    p12, p21 = torch.tensor([0.9, 0.9, 0.2]), torch.tensor([0.9, 0.3, 0.6])
    p = debiased_preference(p12, p21)
    assert torch.allclose(p, torch.tensor([0.5, 0.8, 0.3]))
    # swapping which response is "a" turns p into 1 - p
    assert torch.allclose(debiased_preference(p21, p12), 1 - p)


def test_orders_agree_and_nan_propagation():
    # arguments are P(a) with a first and P(a) with a second
    assert orders_agree(torch.tensor(0.8), torch.tensor(0.7))
    assert not orders_agree(torch.tensor(0.8), torch.tensor(0.3))  # always says "1": position bias
    assert not orders_agree(torch.tensor(0.5), torch.tensor(0.5))
    nan = torch.tensor(float("nan"))
    assert torch.isnan(label_probability(nan, torch.tensor(0.0)))
    assert torch.isnan(debiased_preference(nan, torch.tensor(0.2)))


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
