"""Human review of a job's labels: reviewers' A / B / tie labels in the service database (never in the
job's output), one set per reviewer; a seeded sample of the job's pairs to review; the judge's agreement
with each reviewer and with all of them; the reviewers' agreement with each other."""

from __future__ import annotations

import hashlib
import math
import random
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from rlaif.core.prefs import agrees
from rlaif.evaluation.interrater import between_reviewers
from rlaif.service import db

LABELS = {"a": 1.0, "b": 0.0, "tie": 0.5}


class ReviewStore:
    """Reviews as rows ``(job, pair, reviewer) -> label``; a reviewer's new label for a pair replaces
    their own earlier one, and no one else's."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        db.create(self.db_path, "CREATE TABLE IF NOT EXISTS reviews (job_id TEXT NOT NULL, pair_id TEXT NOT NULL, "
                  "reviewer TEXT NOT NULL, label REAL NOT NULL, created REAL NOT NULL, "
                  "PRIMARY KEY (job_id, pair_id, reviewer))")

    def put(self, job_id: str, pair_id: str, reviewer: str, label: float) -> None:
        with db.connect(self.db_path) as c:
            c.execute("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?)", (job_id, pair_id, reviewer, label,
                                                                                time.time()))

    def of_job(self, job_id: str, reviewer: str | None = None) -> dict[str, float]:
        """pair id -> label, of one reviewer or (the latest of) any."""
        q, args = "SELECT pair_id, label FROM reviews WHERE job_id = ?", [job_id]
        if reviewer is not None:
            q, args = q + " AND reviewer = ?", args + [reviewer]
        with db.connect(self.db_path) as c:
            return dict(c.execute(q + " ORDER BY created", args).fetchall())

    def by_reviewer(self, job_id: str) -> dict[str, dict[str, float]]:
        """reviewer -> {pair id: label} for one job."""
        out: dict[str, dict[str, float]] = {}
        with db.connect(self.db_path) as c:
            for reviewer, pair_id, label in c.execute("SELECT reviewer, pair_id, label FROM reviews WHERE job_id = ? "
                                                      "ORDER BY reviewer, created", (job_id,)):
                out.setdefault(reviewer, {})[pair_id] = label
        return out


def sample_ids(ids: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """A seeded random sample of ``n`` ids (the same on every visit): the order to review pairs in."""
    digest = hashlib.sha256(f"{seed}\x1f{len(ids)}".encode()).digest()
    return random.Random(digest).sample(list(ids), min(n, len(ids)))


def needed_for_margin(p: float | None, margin: float = 0.05, z: float = 1.96) -> int:
    """Labels needed for a ±``margin`` 95% interval on an agreement rate near ``p`` (normal approximation,
    n = z² p (1 − p) / margin²; p = None (nothing known yet) counts as 0.5: 385)."""
    p = 0.5 if p is None else p
    return math.ceil(z * z * max(p * (1 - p), 1e-4) / (margin * margin))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion k / n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return ((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n))


def agreement(rows: Sequence[dict[str, Any]], reviews: Mapping[str, float] | Iterable[tuple[str, float]]) -> dict[str, Any]:
    """How often the judge's soft label picks the response the reviewers picked (``core.prefs.agrees``), on
    reviewed pairs with a label and no tie on either side; with its Wilson interval and the labels a ±5%
    interval needs. ``reviews``: pair id -> label of one reviewer, or (pair id, label) items of several."""
    by_id = {r["id"]: r for r in rows}
    items = reviews.items() if isinstance(reviews, Mapping) else reviews
    pairs = [(by_id[i]["p_a"], h) for i, h in items if i in by_id]
    verdicts = [v for v in (agrees(p, h) for p, h in pairs) if v is not None]
    k, n = sum(verdicts), len(verdicts)
    rate, ci = (k / n if n else math.nan), wilson(k, n)
    # plan with the rate in the interval closest to 1/2 (the most labels): a few unanimous labels say
    # little, and p(1 - p) at their rate of 1.0 would claim a handful of labels suffice
    plan = None if not n else min(max(0.5, ci[0]), ci[1])
    return {"reviewed": len(pairs), "decided": n, "ties": sum(1 for _, h in pairs if h == 0.5), "agree": k,
            "agreement": rate, "ci95": list(ci), "needed_for_5pct": needed_for_margin(plan)}


def report(rows: Sequence[dict[str, Any]], labels: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """A job's review figures from ``labels`` (reviewer -> {pair id: label}): the judge against all labels
    pooled and against each reviewer, and the reviewers against each other (kappa, alpha, the pairs
    they disagree on)."""
    pooled = [(i, h) for name in labels for i, h in labels[name].items()]
    known = {r["id"] for r in rows}
    between = between_reviewers({n: {i: h for i, h in ls.items() if i in known} for n, ls in labels.items()})
    return {"all": agreement(rows, pooled), "by_reviewer": {n: agreement(rows, ls) for n, ls in sorted(labels.items())},
            "between": between}


def as_human_rows(rows: Sequence[dict[str, Any]], labels: Mapping[str, Mapping[str, float]],
                  reviewer: str | None = None) -> list[dict[str, Any]]:
    """The reviews as a ``--human`` file for ``rlaif compare``: id, human_label and the reviewer who gave it
    (one row per reviewer and pair; ``reviewer`` keeps one reviewer's, which is what ``--human`` wants)."""
    known = {r["id"] for r in rows}
    return [{"id": i, "human_label": h, "reviewer": name} for name, ls in sorted(labels.items())
            if reviewer is None or name == reviewer for i, h in ls.items() if i in known]
