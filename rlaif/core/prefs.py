"""Preference math on plain floats (or arrays, where the operators allow), NaN-propagating; no torch.

References: Lee et al. 2023, "RLAIF" (arXiv 2309.00267), §2.1 (soft labels from label-token
log-probabilities, averaged over both orders to remove position bias) and §2.2.2 (direct RLAIF:
expected score from score-token probabilities, ``rlaif.labeling.scorer.expected_score``).
"""

from __future__ import annotations

import math

from rlaif.core.records import is_missing


def sigmoid(x: float) -> float:
    """1 / (1 + exp(-x)), the float64 logistic function (bit for bit what torch.sigmoid gives a float64 scalar)."""
    try:
        return 1.0 / (1.0 + math.exp(-x))
    except OverflowError:  # exp of more than ~709: 0 in float64
        return 0.0


def label_probability(logp_1: float, logp_2: float) -> float:
    """P(label "1") renormalised over the two label tokens only.

    RLAIF §2.1: softmax over the label-token log-probs, p_1 = exp(l_1) / (exp(l_1) + exp(l_2)),
    which equals sigmoid(l_1 - l_2). A NaN input gives NaN.
    """
    return sigmoid(logp_1 - logp_2)


def debiased_preference(p_first, p_swapped):
    """P(A preferred) averaged over both presentation orders.

    ``p_first`` = P(label "1") with A in slot 1; ``p_swapped`` = P(label "1") with B in slot 1.
    p = (p_first + 1 - p_swapped) / 2  (RLAIF §2.1, "Addressing position bias").
    Floats, or arrays of one shape (numpy, torch): the formula is arithmetic only.
    """
    return (p_first + (1.0 - p_swapped)) / 2.0


def orders_agree(p_a_first, p_a_second):
    """Whether both presentation orders pick the same response: both > 1/2 or both < 1/2.

    ``p_a_first`` = P(a preferred) with a in slot 1, ``p_a_second`` = P(a preferred) with a in slot 2
    (floats, or numpy arrays of one shape -> bool of that shape). **The tie rule**, the one
    used everywhere (the label file's ``consistent``, the compare report's order disagreement): an
    order at exactly 1/2 picks neither response, so a pair with a tie in either order does not agree.
    NaN compares false, so it never agrees either; mask it first where it should count as unknown.
    """
    return ((p_a_first > 0.5) & (p_a_second > 0.5)) | ((p_a_first < 0.5) & (p_a_second < 0.5))


def consistency(p_a_first: float, p_a_second: float) -> bool | None:
    """``orders_agree`` for one pair, or None when either order has no probability (NaN)."""
    if math.isnan(p_a_first) or math.isnan(p_a_second):
        return None
    return bool(orders_agree(p_a_first, p_a_second))


def hits(p, human):
    """Whether the AI's soft label ``p`` = P(a preferred) picks the response a human picked (``human`` 1 = a,
    0 = b) as a score: 1 it does, 0 it does not, 1/2 when ``p`` is exactly 1/2 (it picks neither). Floats or
    numpy arrays of one shape: ``metrics.accuracy`` is its mean, ``agrees`` its verdict for one pair."""
    hit = (p > 0.5) == (human > 0.5)
    return hit + (p == 0.5) * (0.5 - hit)


def agrees(p: float | None, human: float | None) -> bool | None:
    """Whether the AI's soft label ``p`` = P(a preferred) picks the response a human picked (``human`` 1 = a,
    0 = b): **the one rule** for "the AI agrees with the human" (the review figures, the pair browser's
    filter, the reviewers' report, ``dpo``'s ``human_agrees``; ``metrics.accuracy`` is the mean of ``hits``,
    ties scoring 1/2). None when either side picks neither: p missing or exactly 1/2, or a human tie (0.5)
    or no label.
    """
    if is_missing(p) or p == 0.5 or human not in (0.0, 1.0):
        return None
    return hits(p, human) == 1


def decision(p: float | None) -> float | None:
    """The hard label a soft label ``p`` = P(a preferred) gives, as the review UI writes labels: 1.0 (a) when
    p > 1/2, 0.0 (b) when p < 1/2, 0.5 (a tie: a category of its own) when p is exactly 1/2; None when missing."""
    if is_missing(p):
        return None
    return 1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5


def confidence(p):
    """How sure a soft label is: |2p - 1| (0 for a coin flip, 1 for certainty); None when ``p`` is missing.
    A float or a numpy array."""
    return None if p is None else abs(2 * p - 1)


PANEL_EPS = 1e-6  # a member's p is clipped to [eps, 1 - eps] before its log-odds: one certain member cannot decide


def logit(p: float, eps: float = PANEL_EPS) -> float:
    """log(p / (1 - p)) of ``p`` clipped to [eps, 1 - eps] (finite for p = 0 or 1), odd about 1/2: logit(1 - p)
    = -logit(p) exactly (p > 1/2 is computed from 1 - p); NaN gives NaN."""
    if p > 0.5:
        return -logit(1.0 - p, eps)
    q = max(p, eps)
    return math.log(q) - math.log1p(-q)


def _given(ps, weights=None) -> list[tuple[float, float]]:
    """(p, weight) of the members that gave a value (None and NaN left out)."""
    ws = [1.0] * len(ps) if weights is None else list(weights)
    if len(ws) != len(ps):
        raise ValueError(f"{len(ps)} labels against {len(ws)} weights")
    return [(float(p), float(w)) for p, w in zip(ps, ws) if not is_missing(p)]


def pool_log_odds(ps, weights=None, eps: float = PANEL_EPS) -> float | None:
    """A panel's P(a preferred) from its members' soft labels: the logarithmic opinion pool (Genest & Zidek
    1986; the geometric mean of the odds), p = sigmoid(sum_j w_j logit(p_j) / sum_j w_j), each p_j first clipped
    to [eps, 1 - eps] (so the result lies in [eps, 1 - eps] too). Equal weights by default; a member without a
    value (None, NaN) is left out; None when no member has one."""
    given = _given(ps, weights)
    total = sum(w for _, w in given)
    if not given or total <= 0:
        return None
    return sigmoid(sum(w * logit(p, eps) for p, w in given) / total)


def disagreement(ps) -> float | None:
    """How much a panel's members disagree on one pair: the population standard deviation of the members' soft
    labels p_j (unweighted, those with a value), sqrt(mean_j (p_j - mean p)^2), in [0, 1/2]: 0 when all give the
    same p, 1/2 when half say certainly a and half certainly b. On p rather than log-odds, so that two members
    both sure of a (0.99 and 0.9999) barely differ. None with fewer than two values."""
    vals = [p for p, _ in _given(ps)]
    if len(vals) < 2:
        return None
    mean = sum(vals) / len(vals)
    return math.sqrt(sum((p - mean) ** 2 for p in vals) / len(vals))
