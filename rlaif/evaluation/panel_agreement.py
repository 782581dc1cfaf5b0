"""A panel's figures for ``rlaif compare``: how its judges agree with each other (Krippendorff's interval alpha
on their soft labels, Cohen's kappa on their decisions for every two) and each judge's own agreement with humans."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from rlaif.core.errors import RlaifError
from rlaif.core.prefs import decision, disagreement
from rlaif.evaluation import metrics as M
from rlaif.evaluation.interrater import cohen_kappa, krippendorff_alpha_interval


def members(records: list[dict[str, Any]]) -> list[str]:
    """The judges of the panel rows among ``records`` (the ``panel`` field), in the order they first appear."""
    return list(dict.fromkeys(j for r in records for j in (r.get("panel") or {})))


def member_records(records: list[dict[str, Any]], judge: str) -> list[dict[str, Any]]:
    """The rows as one member of their panel labelled them: ``p_a`` that judge's (its ``panel`` value),
    ``judge`` its id; a judge that is no member is a one-line error naming the members."""
    known = members(records)
    if judge not in known:
        raise RlaifError(f"--member {judge!r}: not a judge of this file's panel (members: {', '.join(known) or 'none'})")
    return [{**r, "p_a": r["panel"].get(judge), "judge": judge} for r in records if isinstance(r.get("panel"), dict)]


def _pairwise(rows: list[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    """Two judges' decisions (a / b / tie) on the rows both labelled: how many, how many alike, Cohen's kappa."""
    both = [(decision(r["panel"].get(a)), decision(r["panel"].get(b))) for r in rows]
    both = [(x, y) for x, y in both if x is not None and y is not None]
    return {"a": a, "b": b, "n": len(both), "agree": sum(x == y for x, y in both),
            "kappa": cohen_kappa([x for x, _ in both], [y for _, y in both])}


def _alignment(rows: list[dict[str, Any]], judge: str, n_boot: int, seed: int) -> dict[str, Any]:
    """One judge's agreement with the human labels (0 or 1) on the rows it labelled: accuracy (``metrics``:
    the mean of ``core.prefs.hits``, ties scoring 1/2) with a bootstrap 95% interval, and Cohen's kappa."""
    pairs = [(r["panel"].get(judge), r.get("human_label")) for r in rows]
    pairs = [(p, y) for p, y in pairs if p is not None and y in (0.0, 1.0)]
    p, y = np.array([p for p, _ in pairs], dtype=float), np.array([y for _, y in pairs], dtype=float)
    return {"judge": judge, "n": len(pairs), "unlabelled": sum(r["panel"].get(judge) is None for r in rows),
            "accuracy": M.accuracy(p, y), "accuracy_ci95": M.bootstrap_ci(M.accuracy, p, y, n_boot=n_boot, seed=seed),
            "cohen_kappa": M.cohen_kappa(p, y) if len(p) else float("nan")}


def panel_agreement(records: list[dict[str, Any]], *, n_boot: int = 2000, seed: int = 0) -> dict[str, Any] | None:
    """The panel's figures over its rows (those with a ``panel``; None when there are none): ``alpha``,
    Krippendorff's alpha (interval metric) with judges as raters and pairs as units, on the soft labels;
    ``pairwise``, Cohen's kappa of every two judges' decisions; ``alignment``, each judge's agreement with the
    human labels; ``mean_disagreement``, the mean of the rows' ``panel_disagreement``."""
    rows = [r for r in records if isinstance(r.get("panel"), dict)]
    if not rows:
        return None
    judges = members(rows)
    spread = [d for d in (disagreement([r["panel"].get(j) for j in judges]) for r in rows) if d is not None]
    return {"judges": judges, "rows": len(rows),
            "alpha": krippendorff_alpha_interval([[r["panel"].get(j) for j in judges] for r in rows]),
            "pairwise": [_pairwise(rows, a, b) for a, b in itertools.combinations(judges, 2)],
            "alignment": [_alignment(rows, j, n_boot, seed) for j in judges],
            "mean_disagreement": float(np.mean(spread)) if spread else float("nan")}
