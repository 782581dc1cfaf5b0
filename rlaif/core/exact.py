"""Exact small-sample statistics: the two-sided binomial test and Beta quantiles (Jeffreys intervals)."""

from __future__ import annotations

import math


def binom_two_sided(k: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test of ``k`` successes in ``n`` trials against success rate ``p``.

    The p-value is the total probability of every outcome i with P(X = i) <= P(X = k) (the
    "minimum likelihood" rule R's binom.test and scipy's binomtest use; a relative tolerance of
    1e-7 keeps outcomes of equal probability together). n = 0 gives 1.0.
    """
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 1.0
    pmf = [math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(n + 1)]
    cut = pmf[k] * (1 + 1e-7)
    return min(1.0, sum(x for x in pmf if x <= cut))


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: the discordant counts b and c of a paired 2x2 table, tested for b = c
    (a two-sided binomial test of b in b + c trials at 1/2)."""
    return binom_two_sided(b, b + c, 0.5)


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (mpmath, in double precision)."""
    import mpmath

    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    return float(mpmath.betainc(a, b, 0, x, regularized=True))


def beta_quantile(q: float, a: float, b: float, tol: float = 1e-10) -> float:
    """The q-quantile of Beta(a, b), by bisection on ``beta_cdf`` (exact to ``tol``)."""
    lo, hi = 0.0, 1.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def jeffreys_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Equal-tailed Jeffreys interval: the quantiles of Beta(s + 1/2, n - s + 1/2); the ends are 0 and 1
    when s = 0 and s = n (Brown, Cai & DasGupta 2001)."""
    a, b = successes + 0.5, trials - successes + 0.5
    tail = (1 - level) / 2
    lo = 0.0 if successes == 0 else beta_quantile(tail, a, b)
    hi = 1.0 if successes == trials else beta_quantile(1 - tail, a, b)
    return lo, hi
