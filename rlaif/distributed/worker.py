"""The Ray Data actor: loads the judge once, then labels, scores or generates whole batches through the same
job kind and task as the local engine, so its records are the local engine's records."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from rlaif.data.sources import row_bytes
from rlaif.distributed.arrow import from_table, to_table
from rlaif.jobs.kinds import KINDS
from rlaif.jobs.pipeline import build_task


def content_id(row: dict[str, Any]) -> str:
    """Id of a row that has none, from its content (a Ray dataset has no global row positions)."""
    return "row-" + hashlib.sha256(row_bytes(row)).hexdigest()[:16]


class JudgeWorker:
    """One actor: ``__init__`` builds the judge and the job's task; ``__call__`` processes a batch.

    ``job`` is a job spec as JSON, of the kind named ``kind`` (the actor is constructed on another process or
    machine). ``normalised``: rows are already the kind's input records (the CLI path); otherwise each row is
    a raw source row, normalised here, and a bad row becomes an error record naming its field.
    ``judge_factory`` (a picklable callable returning a judge) replaces the job's judge spec.
    ``fault`` is a test hook: ``{"after_batches": N, "marker": PATH}`` makes the process exit in the middle
    of its N-th batch once (the marker file remembers it), as a crashed worker would.
    """

    def __init__(self, job: str, kind: str, normalised: bool = True, judge_factory: Callable | None = None,
                 fault: dict[str, Any] | None = None):
        spec = KINDS[kind].job_model.model_validate_json(job)
        self.task = build_task(spec, judge_factory() if judge_factory is not None else None)
        self.normalise = None if normalised else KINDS[kind].row_normaliser
        self.fault, self.batches = fault, 0

    def _records(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(records to process, error records of rows that cannot be used)."""
        if self.normalise is None:
            return rows, []
        good, bad = [], []
        for row in rows:
            rid = row.get("id")
            rid = content_id(row) if rid is None else str(rid)
            try:
                good.append(self.normalise({**row, "id": rid}, 0, f"row id {rid!r}"))
            except ValueError as e:
                bad.append(self.task.invalid_record(rid, str(e)))
        return good, bad

    def __call__(self, batch: pa.Table) -> pa.Table:
        good, bad = self._records(from_table(batch))
        out = (self.task.process(good) if good else []) + bad
        self.batches += 1
        if self.fault and self.batches >= self.fault["after_batches"] and not Path(self.fault["marker"]).exists():
            Path(self.fault["marker"]).write_text(str(os.getpid()))
            os._exit(1)  # the batch was labelled but never returned: Ray must retry it elsewhere
        return to_table(out)
