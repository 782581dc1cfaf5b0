"""Preference math: tensor-in/tensor-out, NaN-propagating.

References: Lee et al. 2023, "RLAIF" (arXiv 2309.00267), §2.1 (soft labels from label-token
log-probabilities, averaged over both orders to remove position bias) and §2.2.2 (direct RLAIF:
expected score from score-token probabilities).
"""

from __future__ import annotations

import torch
from torch import Tensor


def label_probability(logp_1: Tensor, logp_2: Tensor) -> Tensor:
    """P(label "1") renormalised over the two label tokens only.

    RLAIF §2.1: softmax over the label-token log-probs, p_1 = exp(l_1) / (exp(l_1) + exp(l_2)),
    which equals sigmoid(l_1 - l_2). Shapes: (...,), (...,) -> (...,). A NaN input gives NaN.
    """
    return torch.sigmoid(logp_1 - logp_2)


def debiased_preference(p_first: Tensor, p_swapped: Tensor) -> Tensor:
    """P(A preferred) averaged over both presentation orders.

    ``p_first`` = P(label "1") with A in slot 1; ``p_swapped`` = P(label "1") with B in slot 1.
    p = (p_first + 1 - p_swapped) / 2  (RLAIF §2.1, "Addressing position bias").
    Shapes: (...,), (...,) -> (...,).
    """
    return (p_first + (1.0 - p_swapped)) / 2.0


def orders_agree(p_first: Tensor, p_swapped: Tensor) -> Tensor:
    """Whether both orders pick the same response: (p_first > 1/2) == (p_swapped < 1/2).

    Shapes: (...,), (...,) -> (...,) bool. Exactly 1/2 counts as no pick, so it never agrees.
    """
    return ((p_first > 0.5) & (p_swapped < 0.5)) | ((p_first < 0.5) & (p_swapped > 0.5))


def expected_score(logp: Tensor, scores: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Expected score under the score-token distribution renormalised over the valid scores.

    RLAIF §2.2.2: s(y|x) = Σ_i i · P(i | x, y). ``logp``: (..., K) log-probs of the K scores (any
    normalisation; NaN where unknown), ``scores``: (K,) score values.
    Returns (probs (..., K), expected (...,), entropy in nats (...,)).
    """
    probs = torch.softmax(logp, dim=-1)
    expected = (probs * scores).sum(-1)
    entropy = -(probs * torch.log(probs.clamp_min(1e-30))).sum(-1)
    return probs, expected, entropy
