"""Soft-label preference losses (tensor in, tensor out).

Both are the binary cross-entropy between a soft target p = P(a preferred) and the model's
Bradley-Terry probability; at p ∈ {0, 1} they reduce to the usual hard losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def soft_bt_loss(r_a: Tensor, r_b: Tensor, p: Tensor) -> Tensor:
    """Soft Bradley-Terry reward-model loss, RLAIF §2.2.1 (Lee et al. 2023):

        L = -[p · log σ(r_a - r_b) + (1 - p) · log σ(r_b - r_a)]

    r_a, r_b: (B,) scalar rewards of the two responses; p: (B,) soft labels. Returns (B,) losses.
    Symmetric: soft_bt_loss(r_b, r_a, 1 - p) == soft_bt_loss(r_a, r_b, p).
    """
    d = r_a - r_b
    return -(p * F.logsigmoid(d) + (1 - p) * F.logsigmoid(-d))


def soft_dpo_loss(pi_a: Tensor, pi_b: Tensor, ref_a: Tensor, ref_b: Tensor, p: Tensor, beta: float) -> Tensor:
    """DPO with a per-example soft target (conservative DPO with ε = 1 - p per example):

        Δ = (log π(a) - log π_ref(a)) - (log π(b) - log π_ref(b))
        L = -[p · log σ(βΔ) + (1 - p) · log σ(-βΔ)]

    Rafailov et al. 2023 (DPO, eq. 7) at p = 1; Mitchell 2023 (cDPO) with ε = 1 - p.
    Inputs: (B,) summed sequence log-probs of responses a and b under the policy and the reference,
    p: (B,) soft labels. Returns (B,) losses.
    """
    delta = (pi_a - ref_a) - (pi_b - ref_b)
    return soft_bt_loss(beta * delta, torch.zeros_like(delta), p)
