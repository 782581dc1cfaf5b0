"""Bradley-Terry scores from soft pairwise preferences (pure numpy).

Candidates i = 0..n-1 have scores s; the model says P(i preferred to j) = σ(s_i − s_j) (Bradley & Terry
1952). Given soft labels p_ij (the judge's P(i preferred), both orders averaged), the fit maximises

    L(s) = Σ_(i,j) [ p_ij log σ(s_i − s_j) + (1 − p_ij) log σ(s_j − s_i) ] − (λ/2) ‖s‖²

with Newton's method (L is concave). The small L2 prior λ keeps the scores finite when a group is
unanimous (p = 1) or its comparison graph is disconnected, and fixes the free shift of s (the scores sum
to 0). ``log_likelihood`` is the data term alone, at the fitted s.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def log_likelihood(scores: np.ndarray, comparisons: Sequence[tuple[int, int, float]]) -> float:
    """Σ p log σ(s_i − s_j) + (1 − p) log σ(s_j − s_i) over the comparisons (i, j, p_ij)."""
    if not comparisons:
        return 0.0
    i, j, p = (np.array(c) for c in zip(*comparisons))
    d = scores[i.astype(int)] - scores[j.astype(int)]
    return float(np.sum(-p * np.logaddexp(0.0, -d) - (1 - p) * np.logaddexp(0.0, d)))


def fit(n: int, comparisons: Sequence[tuple[int, int, float]], l2: float = 1e-2, tol: float = 1e-10,
        max_iter: int = 100) -> tuple[np.ndarray, float]:
    """(scores s of the n candidates, log-likelihood) maximising L(s) above; ``comparisons`` are
    (i, j, p_ij) with p_ij in [0, 1] the probability that i is preferred to j."""
    s = np.zeros(n)
    if n == 0:
        return s, 0.0
    i, j, p = (np.array(c, dtype=float) for c in zip(*comparisons)) if comparisons else (np.zeros(0),) * 3
    i, j = i.astype(int), j.astype(int)
    for _ in range(max_iter):
        q = _sigmoid(s[i] - s[j])
        r = p - q  # dL/d(s_i - s_j) per comparison
        grad = np.bincount(i, r, n) - np.bincount(j, r, n) - l2 * s
        w = q * (1 - q)
        hess = -l2 * np.eye(n)
        np.add.at(hess, (i, i), -w)
        np.add.at(hess, (j, j), -w)
        np.add.at(hess, (i, j), w)
        np.add.at(hess, (j, i), w)
        step = np.linalg.solve(hess, -grad)
        s = s + step
        if np.max(np.abs(step)) < tol:
            break
    return s, log_likelihood(s, comparisons)


def ranks(scores: Sequence[float | None], tie: float = 1e-9) -> list[int]:
    """Rank of each candidate, 1 = highest score; scores within ``tie`` of each other share the better
    rank (a fit gives equal candidates equal scores only up to rounding); a missing score (None) ranks last."""
    vals = [(float("inf") if v is None else -v) for v in scores]
    return [1 + sum(1 for u in vals if u < v - tie) for v in vals]
