"""The pair browser's server side: a job's output rows loaded once per file version, then filtered,
sorted and paged by pure functions (so a 100k-row job sends one page, never the whole file)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import BaseModel, Field

from rlaif.core.prefs import agrees, confidence
from rlaif.core.errors import RlaifError
from rlaif.data.records import read_records
from rlaif.evaluation.interrater import differ
from rlaif.jobs.file_store import work_path

PAGE = 25


class PairFilter(BaseModel):
    """What the browser's filter form asks for (every field optional)."""

    disagree: bool = Field(False, description="Only rows where the judge and the human label disagree.")
    inconsistent: bool = Field(False, description="Only rows whose two orders pick different responses.")
    errors: bool = Field(False, description="Only rows without a label (NaN) or with an error.")
    conf_min: float = Field(0.0, ge=0, le=1, description="Lowest confidence |2p - 1|.")
    conf_max: float = Field(1.0, ge=0, le=1, description="Highest confidence |2p - 1|.")
    principle: str = Field("", description="Only rows judged under this principle.")
    q: str = Field("", max_length=200, description="Text that the prompt or a response contains (any case).")
    reviewers_disagree: bool = Field(False, description="Only pairs that two or more reviewers labelled differently.")
    judge_vs: str = Field("", max_length=128, description="Only pairs where the judge disagrees with this reviewer.")
    sort: str = Field("", pattern="^(|confidence|-confidence|disagreement)$", description="confidence / -confidence "
                      "/ disagreement (a panel's most disagreed pairs first).")
    page: int = Field(1, ge=1, description="Page number, 1-based.")


def _keep(r: dict[str, Any], f: PairFilter, q: str, reviews: Mapping[str, float]) -> bool:
    p = r.get("p_a")
    labelled = p is not None
    if f.errors and labelled and not r.get("error"):
        return False
    if f.disagree and agrees(p, r.get("human_label")) is not False:
        return False
    if f.reviewers_disagree and not differ(list(reviews.values())):
        return False
    if f.judge_vs and agrees(p, reviews.get(f.judge_vs)) is not False:
        return False
    if f.inconsistent and r.get("consistent") is not False:
        return False
    if (f.conf_min > 0 or f.conf_max < 1) and not (labelled and f.conf_min <= confidence(p) <= f.conf_max):
        return False
    if f.principle and f.principle not in (r.get("principles") or []):
        return False
    return not q or any(q in str(r.get(k) or "").lower() for k in ("prompt", "response_a", "response_b"))


def select(rows: Sequence[dict[str, Any]], f: PairFilter,
           reviews: Mapping[str, Mapping[str, float]] | None = None) -> tuple[list[dict[str, Any]], int]:
    """(the rows of page ``f.page`` after filtering and sorting, how many rows match); ``reviews``: pair id ->
    {reviewer: label}, for the reviewer filters."""
    q, reviews = f.q.strip().lower(), reviews or {}
    hits = [r for r in rows if _keep(r, f, q, reviews.get(r["id"], {}))]
    if f.sort == "disagreement":
        hits = most_disagreed(hits)
    elif f.sort:
        sign = -1 if f.sort.startswith("-") else 1
        hits.sort(key=lambda r: (r.get("p_a") is None, sign * (confidence(r.get("p_a")) or 0)))
    start = (f.page - 1) * PAGE
    return hits[start:start + PAGE], len(hits)


def most_disagreed(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows by their panel's disagreement (``panel_disagreement``), largest first; rows without one (not a
    panel's, or fewer than two members labelled) last; ties in input order."""
    return sorted(rows, key=lambda r: (r.get("panel_disagreement") is None, -(r.get("panel_disagreement") or 0.0)))


def principles(rows: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({p for r in rows for p in (r.get("principles") or [])})


class RowCache:
    """Job outputs read once per (path, size, mtime); the few most recent are kept."""

    def __init__(self, size: int = 4):
        self.size, self._rows, self._lock = size, OrderedDict(), threading.Lock()

    def rows(self, path: str | Path) -> list[dict[str, Any]]:
        st = Path(path).stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            if key in self._rows:
                self._rows.move_to_end(key)
                return self._rows[key]
        rows = read_records(path)
        with self._lock:
            self._rows[key] = rows
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)
        return rows


rows_cache = RowCache()


def job_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The finished (or partial) output rows of a job; [] before the first chunk is written."""
    out = Path(job["spec"].run.output)
    for path in (out, work_path(out)):
        if path.is_file() and path.stat().st_size:
            try:
                return rows_cache.rows(path)
            except RlaifError:
                return []
    return []
