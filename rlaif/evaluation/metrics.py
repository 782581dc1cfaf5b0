"""Agreement and calibration of soft AI labels against human labels (pure numpy).

Conventions: ``p`` is P(response_a preferred) per row (NaN = unlabelled), ``y`` the human label
(1 = a preferred, 0 = b). The AI's hard label is p > 1/2; p == 1/2 is a tie and counts as half
right in accuracy (what a coin flip would score) and is left out of Cohen's kappa.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from rlaif.core.prefs import confidence, hits, orders_agree
from rlaif.evaluation.interrater import cohen_kappa as cohen_kappa_nominal


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    """Mean agreement of the AI's hard label with y (``core.prefs.hits``); ties score 1/2. Shapes (n,), (n,) -> scalar."""
    hit = hits(p, y)
    return float(hit.mean()) if len(hit) else float("nan")


def bootstrap_ci(stat: Callable[..., float], *arrays: np.ndarray, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(*arrays)``, resampling rows with replacement."""
    n = len(arrays[0])
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    vals = np.array([stat(*(a[i] for a in arrays)) for i in idx])
    if np.isnan(vals).all():
        return float("nan"), float("nan")
    lo, hi = np.nanquantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def cohen_kappa(p: np.ndarray, y: np.ndarray) -> float:
    """Cohen's kappa of hard AI labels vs human labels, ties (p == 1/2) excluded: ``interrater.cohen_kappa``
    of (p > 1/2, y > 1/2), i.e. (p_o - p_e) / (1 - p_e), p_e = P(ai=1)P(h=1) + P(ai=0)P(h=0). NaN when p_e == 1.
    """
    keep = p != 0.5
    return cohen_kappa_nominal(p[keep] > 0.5, y[keep] > 0.5)


def log_loss(p: np.ndarray, y: np.ndarray, eps: float = 1e-12) -> float:
    """Mean binary cross-entropy -[y log p + (1-y) log(1-p)], p clipped to [eps, 1-eps]."""
    q = np.clip(p, eps, 1 - eps)
    return float(-(y * np.log(q) + (1 - y) * np.log(1 - q)).mean())


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error (p - y)^2."""
    return float(((p - y) ** 2).mean())


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width bins of p over [0, 1]: count, mean p and human rate per non-empty bin."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    out = []
    for b in range(bins):
        m = which == b
        if m.any():
            out.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(m.sum()),
                        "mean_p": float(p[m].mean()), "human_rate": float(y[m].mean())})
    return out


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: Σ_b (n_b / n) |mean p_b - mean y_b| over equal-width bins of p."""
    n = len(p)
    return float(sum(r["n"] / n * abs(r["mean_p"] - r["human_rate"]) for r in reliability(p, y, bins))) if n else float("nan")


def by_confidence(p: np.ndarray, y: np.ndarray, edges=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0)) -> list[dict[str, float]]:
    """Accuracy per bucket of confidence c = |2p - 1| (0 = undecided, 1 = certain)."""
    c = confidence(p)
    out = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        m = (c >= lo) & ((c < hi) if i < len(edges) - 2 else (c <= hi))
        out.append({"lo": lo, "hi": hi, "n": int(m.sum()), "accuracy": accuracy(p[m], y[m]) if m.any() else float("nan")})
    return out


def length_bias(p: np.ndarray, y: np.ndarray, len_a: np.ndarray, len_b: np.ndarray) -> dict[str, float]:
    """P(AI prefers the longer response) and P(human prefers the longer), over rows of unequal length.

    The AI's preference for the longer one is its soft probability for that response (so a tie at
    1/2 counts half), the human's is 1 or 0.
    """
    m = len_a != len_b
    a_longer = len_a[m] > len_b[m]
    ai = np.where(a_longer, p[m], 1 - p[m])
    hu = np.where(a_longer, y[m], 1 - y[m])
    ai_hard = np.where(ai == 0.5, 0.5, (ai > 0.5).astype(float))
    return {"n": int(m.sum()), "ai_prefers_longer": float(ai_hard.mean()) if m.any() else float("nan"),
            "human_prefers_longer": float(hu.mean()) if m.any() else float("nan")}


def position_bias(p_first: np.ndarray, p_second: np.ndarray) -> dict[str, float]:
    """How the two presentation orders behave.

    ``p_first`` = P(a) with a in slot 1, ``p_second`` = P(a) with a in slot 2. The judge's
    P(slot 1) is p_first in one order and 1 - p_second in the other, so
    P(prefer first slot) = mean((p_first + 1 - p_second) / 2); the orders disagree when they do not
    pick the same response (``prefs.orders_agree``: a tie in either order is a disagreement).
    """
    m = ~(np.isnan(p_first) | np.isnan(p_second))
    f, s = p_first[m], p_second[m]
    return {"n": int(m.sum()), "p_first_slot": float(((f + 1 - s) / 2).mean()) if m.any() else float("nan"),
            "order_disagreement": float((~orders_agree(f, s)).mean()) if m.any() else float("nan")}
