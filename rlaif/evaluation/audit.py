"""Audit statistics of a judge's labels: position bias, length bias and self-preference with exact tests,
and the sensitivity of the labels to the template or judge (two label files of the same pairs).

Conventions as in ``metrics``: ``p`` = P(a preferred), ``y`` the human label, an AI decision at
exactly 1/2 is a tie. Every test here is exact (``rlaif.core.exact``); ties are counted and left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlaif.core.exact import binom_two_sided, jeffreys_interval, mcnemar_exact
from rlaif.core.prefs import hits
from rlaif.evaluation import metrics as M

ALPHA = 0.01  # the report says "bias" below this p-value (a planted bias must clear it; see tests/test_audit.py)


def position_audit(p_first: np.ndarray, p_second: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Position bias from the two presentation orders of each pair.

    McNemar's exact test on the orders' hard decisions: the first order (a in slot 1) picks a or b,
    the second order (a in slot 2) picks a or b; the discordant pairs are ``slot1_both`` (first picks
    a, second picks b: slot 1 won twice) and ``slot2_both`` (the reverse); no position bias means
    they are equally likely. The sign test: per pair P(first slot) = (p_first + 1 - p_second) / 2,
    an exact binomial test of #(> 1/2) among the pairs not at exactly 1/2 against 1/2; it sees a
    bias that shifts the probabilities without flipping decisions. Pairs with a NaN order are left out.
    """
    m = ~(np.isnan(p_first) | np.isnan(p_second))
    f, s = p_first[m], p_second[m]
    decided = (f != 0.5) & (s != 0.5)
    b = int(((f > 0.5) & (s < 0.5)).sum())
    c = int(((f < 0.5) & (s > 0.5)).sum())
    slot1 = (f + 1 - s) / 2
    above, below = int((slot1 > 0.5).sum()), int((slot1 < 0.5).sum())
    return {
        "n": int(m.sum()), "p_first_slot": float(slot1.mean()) if m.any() else float("nan"),
        "p_first_slot_ci95": M.bootstrap_ci(lambda x: float(x.mean()), slot1, n_boot=n_boot, seed=seed),
        "slot1_both": b, "slot2_both": c, "order_ties": int((~decided).sum()),
        "mcnemar_p": mcnemar_exact(b, c),
        "first_slot_favoured": above, "second_slot_favoured": below,
        "sign_test_p": binom_two_sided(above, above + below, 0.5),
    }


def versus_humans(ai: np.ndarray, hu: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The judge against humans on the same pairs, for one response of each pair singled out (the longer, the
    judge's own): ``ai`` the judge's P(that response preferred), ``hu`` whether the humans preferred it.

    ``ai_rate``: the judge's share of picks of it (hard decisions, a tie at 1/2 counts half), with a bootstrap
    CI; ``human_rate``: the humans' share; ``excess`` = ai_rate - human_rate with a paired bootstrap CI over
    pairs; McNemar's exact test on the pairs where exactly one of judge and humans picks it (``ai_only`` vs
    ``human_only``; judge ties left out), so a judge that merely agrees with humans is not flagged.
    """
    ai_hard = np.where(ai == 0.5, 0.5, (ai > 0.5).astype(float))
    h = hu.astype(float)
    mean = lambda a: float(a.mean()) if len(a) else float("nan")  # noqa: E731
    excess = lambda a, b: mean(a) - mean(b)  # noqa: E731
    ai_only, human_only = int(((ai > 0.5) & ~hu).sum()), int(((ai < 0.5) & hu).sum())
    return {"ai_rate": mean(ai_hard), "ai_rate_ci95": M.bootstrap_ci(mean, ai_hard, n_boot=n_boot, seed=seed),
            "human_rate": mean(h), "excess": excess(ai_hard, h),
            "excess_ci95": M.bootstrap_ci(excess, ai_hard, h, n_boot=n_boot, seed=seed),
            "ai_only": ai_only, "human_only": human_only, "mcnemar_p": mcnemar_exact(ai_only, human_only)}


def length_audit(p: np.ndarray, y: np.ndarray, len_a: np.ndarray, len_b: np.ndarray, *, n_boot: int = 2000,
                 seed: int = 0) -> dict[str, Any]:
    """Length bias: the share of unequal-length pairs where the judge prefers the longer response
    (``metrics.length_bias``: a tie counts half) against the humans' share on the same pairs, compared
    by ``versus_humans`` (excess with a paired bootstrap CI, McNemar's exact test)."""
    m = len_a != len_b
    a_longer = len_a[m] > len_b[m]
    v = versus_humans(np.where(a_longer, p[m], 1 - p[m]), np.where(a_longer, y[m], 1 - y[m]) > 0.5,
                      n_boot=n_boot, seed=seed)
    return {**M.length_bias(p, y, len_a, len_b), "ai_prefers_longer_ci95": v["ai_rate_ci95"],
            **{k: v[k] for k in ("excess", "excess_ci95", "ai_only", "human_only", "mcnemar_p")}}


def self_preference_audit(p_own: np.ndarray, y_own: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Self-preference, on the pairs where exactly one response is the judge's own: ``p_own`` the judge's
    P(its own response preferred), ``y_own`` the humans' label of the own response (1 preferred, 0 not,
    NaN unknown).

    The judge alone: ``wins`` = #(p_own > 1/2), ``losses`` = #(p_own < 1/2), ties left out; win rate
    w = wins / (wins + losses) with its Jeffreys 95% interval and the exact binomial test of w = 1/2, and the
    mean P(own). A judge whose own responses are better also wins more, so this alone is no proof of bias.
    Against humans, on the pairs with a human label: ``versus_humans`` (the judge's and the humans' rate of
    preferring the own response, the excess with a paired bootstrap CI, McNemar's exact test), which a
    judge that prefers its own responses only as often as humans do passes.
    """
    wins, losses = int((p_own > 0.5).sum()), int((p_own < 0.5).sum())
    h = np.isin(y_own, (0.0, 1.0))
    return {"n": len(p_own), "wins": wins, "losses": losses, "ties": len(p_own) - wins - losses,
            "win_rate": wins / (wins + losses) if wins + losses else float("nan"),
            "win_rate_ci95": jeffreys_interval(wins, wins + losses) if wins + losses else (float("nan"), float("nan")),
            "binomial_p": binom_two_sided(wins, wins + losses, 0.5),
            "mean_p_own": float(p_own.mean()) if len(p_own) else float("nan"), "with_human_label": int(h.sum()),
            **versus_humans(p_own[h], y_own[h] > 0.5, n_boot=n_boot, seed=seed)}


def sensitivity_audit(p_a: np.ndarray, p_b: np.ndarray, y: np.ndarray, *, n_boot: int = 2000,
                      seed: int = 0) -> dict[str, Any]:
    """The same pairs labelled twice (two templates or judges): how far the labels move.

    ``p_a``/``p_b``: P(a preferred) from label files A and B on the pairs both labelled (aligned by id);
    ``y``: the human label or NaN. Agreement = share of pairs where both pick the same response
    (pairs with a tie in either left out), Cohen's kappa between the two, mean |p_A - p_B|; on pairs
    with a human label, Δ alignment = accuracy(A) - accuracy(B) with a paired bootstrap CI (the same
    resampled pairs for both) and McNemar's exact test on the pairs exactly one of them gets right.
    """
    decided = (p_a != 0.5) & (p_b != 0.5)
    da, db = p_a[decided] > 0.5, p_b[decided] > 0.5
    h = np.isin(y, (0.0, 1.0))
    pa, pb, yh = p_a[h], p_b[h], y[h]
    delta = lambda a, b, t: M.accuracy(a, t) - M.accuracy(b, t) if len(t) else float("nan")  # noqa: E731
    right_a, right_b = hits(pa, yh) == 1, hits(pb, yh) == 1  # the one "agrees with the human" rule
    only_a = int((right_a & ~right_b & (pa != 0.5) & (pb != 0.5)).sum())
    only_b = int((right_b & ~right_a & (pa != 0.5) & (pb != 0.5)).sum())
    return {
        "n": len(p_a), "agreement": float((da == db).mean()) if decided.any() else float("nan"),
        "ties_left_out": int((~decided).sum()),
        "kappa": M.cohen_kappa(p_a[decided], db.astype(float)) if decided.any() else float("nan"),
        "mean_abs_diff": float(np.abs(p_a - p_b).mean()) if len(p_a) else float("nan"),
        "with_human_label": int(h.sum()), "accuracy_a": M.accuracy(pa, yh) if h.any() else float("nan"),
        "accuracy_b": M.accuracy(pb, yh) if h.any() else float("nan"), "delta_alignment": delta(pa, pb, yh),
        "delta_alignment_ci95": M.bootstrap_ci(delta, pa, pb, yh, n_boot=n_boot, seed=seed),
        "only_a_right": only_a, "only_b_right": only_b, "mcnemar_p": mcnemar_exact(only_a, only_b),
    }


def self_preference_verdict(sp: dict[str, Any]) -> str:
    """The self-preference reading: against humans where the pairs have human labels, else the judge's win rate
    alone (which better own responses raise as well); why it is absent when it is."""
    if "absent" in sp:
        return f"not measured: {sp['absent']}"
    if sp["with_human_label"]:
        if sp["mcnemar_p"] < ALPHA:
            more = "more" if sp["excess"] > 0 else "less"
            return (f"the judge prefers its own responses {more} often than humans do (excess {sp['excess']:+.3f}, "
                    f"p = {sp['mcnemar_p']:.2g} < {ALPHA})")
        return (f"no significant self-preference relative to humans (p = {sp['mcnemar_p']:.2g}, "
                f"{sp['with_human_label']} pairs with a human label)")
    rate = f"{sp['win_rate']:.1%} of {sp['wins'] + sp['losses']} pairs, p = {sp['binomial_p']:.2g}"
    if sp["binomial_p"] < ALPHA:
        side = "more" if sp["win_rate"] > 0.5 else "less"
        lead = f"the judge picks its own response {side} often than not ({rate} < {ALPHA})"
    else:
        lead = f"no significant preference for its own responses ({rate})"
    return lead + "; no human label on these pairs, so better own responses would read the same"


def verdicts(audit: dict[str, Any]) -> list[tuple[str, str]]:
    """One plain-language line per audit test: (test, reading)."""
    out = []
    pos = audit.get("position")
    if pos and pos["n"]:
        worst = min(pos["mcnemar_p"], pos["sign_test_p"])
        side = "first" if pos["p_first_slot"] > 0.5 else "second"
        out.append(("position bias", f"the judge favours the {side} slot (p = {worst:.2g} < {ALPHA})" if worst < ALPHA
                    else f"no significant position bias (p = {worst:.2g})"))
    ln = audit.get("length")
    if ln and ln["n"]:
        more = "more" if ln["excess"] > 0 else "less"
        out.append(("length bias", f"the judge prefers the longer response {more} often than humans "
                    f"(p = {ln['mcnemar_p']:.2g} < {ALPHA})" if ln["mcnemar_p"] < ALPHA
                    else f"no significant length bias relative to humans (p = {ln['mcnemar_p']:.2g})"))
    if "self_preference" in audit:
        out.append(("self-preference", self_preference_verdict(audit["self_preference"])))
    sen = audit.get("against")
    if sen and sen["n"]:
        better = "A" if sen["delta_alignment"] > 0 else "B"
        out.append(("template / judge sensitivity", f"labels agree on {sen['agreement']:.1%} of pairs; "
                    + (f"{better} aligns better with humans (p = {sen['mcnemar_p']:.2g})" if sen["mcnemar_p"] < ALPHA
                       else f"no significant difference in alignment (p = {sen['mcnemar_p']:.2g})")))
    return out
