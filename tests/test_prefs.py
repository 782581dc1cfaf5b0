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
    assert orders_agree(torch.tensor(0.8), torch.tensor(0.3))
    assert not orders_agree(torch.tensor(0.8), torch.tensor(0.7))  # always says "1": position bias
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
