"""Agreement between raters (pure functions): Cohen's kappa for two raters, Krippendorff's alpha (nominal
labels, or interval values such as judges' soft labels; any number of raters, missing labels allowed), and the
summary the review report shows.

Labels are hashable category values (the review UI's 1.0 = a, 0.0 = b, 0.5 = tie: a tie is a category of
its own, not half of each side). References: Cohen 1960; Krippendorff, "Computing Krippendorff's
Alpha-Reliability" (2011), the coincidence-matrix form used below.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Hashable, Mapping, Sequence

import numpy as np


def cohen_kappa(x: Sequence[Hashable] | np.ndarray, y: Sequence[Hashable] | np.ndarray) -> float:
    """Cohen's kappa of two raters' labels of the same items: (p_o - p_e) / (1 - p_e), p_o the share of
    items they label alike, p_e = sum over categories c of P(x = c) P(y = c). NaN with no items or p_e = 1."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"cohen_kappa: {len(x)} labels against {len(y)}")
    if len(x) == 0:
        return math.nan
    po = float((x == y).mean())
    pe = float(sum((x == c).mean() * (y == c).mean() for c in np.unique(np.concatenate([x, y]))))
    return math.nan if pe >= 1.0 else (po - pe) / (1 - pe)


def krippendorff_alpha(units: Sequence[Sequence[Hashable]]) -> float:
    """Krippendorff's alpha for nominal data: ``units`` holds, per item, the labels it got (any number of
    raters; an item with fewer than two labels carries no pairable value and is left out).

    Coincidences: each ordered pair of labels (c, k) from different raters of a unit with m labels adds
    1 / (m - 1) to o[c, k]; n_c = sum_k o[c, k], n = sum n_c. alpha = 1 - (n - 1) * sum_{c != k} o[c, k]
    / sum_{c != k} n_c n_k. NaN when fewer than two pairable labels or a single category overall."""
    o: Counter = Counter()
    for labels in units:
        m = len(labels)
        if m < 2:
            continue
        for c, k in itertools.permutations(labels, 2):
            o[(c, k)] += 1 / (m - 1)
    n_c: Counter = Counter()
    for (c, _), v in o.items():
        n_c[c] += v
    n = sum(n_c.values())
    observed = sum(v for (c, k), v in o.items() if c != k)
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
    if n < 2 or expected == 0:
        return math.nan
    return 1 - (n - 1) * observed / expected


def krippendorff_alpha_interval(units: Sequence[Sequence[float | None]]) -> float:
    """Krippendorff's alpha for interval data (Krippendorff 2011, eq. for the interval metric): ``units`` holds,
    per item, the values its raters gave (None or NaN: not rated); an item with fewer than two values is left out.

    alpha = 1 - D_o / D_e = 1 - (n - 1) * sum_{c,k} o_ck delta^2_ck / sum_{c,k} n_c n_k delta^2_ck, with the
    coincidences o_ck (each ordered pair of values (c, k) from different raters of a unit with m_u values adds
    1 / (m_u - 1)), n_c = sum_k o_ck, n = sum_c n_c the pairable values, and delta^2_ck = (c - k)^2. Summed over
    values, sum_{i != j} (v_i - v_j)^2 = 2 m sum v^2 - 2 (sum v)^2, so both sums take one pass: D_o's over each
    unit's values divided by m_u - 1, D_e's over all n pairable values. NaN with fewer than two pairable values
    or when every value is the same."""
    def spread(vals: np.ndarray) -> float:
        return float(2 * len(vals) * (vals ** 2).sum() - 2 * vals.sum() ** 2)

    values = (np.array([np.nan if x is None else float(x) for x in u], dtype=float) for u in units)
    kept = [v[~np.isnan(v)] for v in values]
    kept = [v for v in kept if len(v) >= 2]
    if not kept:
        return math.nan
    allv = np.concatenate(kept)
    n, expected = len(allv), spread(allv)
    observed = sum(spread(v) / (len(v) - 1) for v in kept)
    if n < 2 or expected == 0:
        return math.nan
    return 1 - (n - 1) * observed / expected


def differ(labels: Sequence[Hashable]) -> bool:
    """Whether two or more raters of one item did not all give it the same label."""
    return len(labels) >= 2 and len(set(labels)) > 1


def between_reviewers(labels: Mapping[str, Mapping[str, Hashable]]) -> dict:
    """How a job's reviewers agree with each other: ``labels`` is reviewer -> {pair id: label}. Cohen's kappa
    for every two reviewers (on the pairs both labelled), Krippendorff's alpha over all of them, and the
    pairs labelled by two or more reviewers that did not get the same label from all."""
    names = sorted(n for n in labels if labels[n])
    by_pair: dict[str, list] = {}
    for name in names:
        for pid, lab in labels[name].items():
            by_pair.setdefault(pid, []).append(lab)
    shared = {pid: labs for pid, labs in by_pair.items() if len(labs) >= 2}
    pairwise = []
    for a, b in itertools.combinations(names, 2):
        both = sorted(set(labels[a]) & set(labels[b]))
        xa, xb = [labels[a][i] for i in both], [labels[b][i] for i in both]
        pairwise.append({"a": a, "b": b, "n": len(both), "agree": sum(u == v for u, v in zip(xa, xb)),
                         "kappa": cohen_kappa(xa, xb)})
    return {"reviewers": names, "pairs_compared": len(shared), "pairwise": pairwise,
            "kappa": pairwise[0]["kappa"] if len(names) == 2 else math.nan,
            "alpha": krippendorff_alpha(list(shared.values())),
            "disagreements": sorted(pid for pid, labs in shared.items() if differ(labs))}
