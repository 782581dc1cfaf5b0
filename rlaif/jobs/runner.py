"""The one resumable job: read the input, ask the *store* what is done already (validated, under its lock),
hand the rest in chunks to the *executor* and append what comes back durably, then summarise.

Stores: ``rlaif.jobs.file_store.FileStore`` (a JSONL or Parquet file) and the Ray shard folder
(``rlaif.distributed.shards.ShardStore``). Executors: ``LocalExecutor`` (this process; the service passes
its micro-batcher's function) and the Ray Data executor (``rlaif.distributed.engine``). Re-running the same
job skips the ids already stored; invalid-input rows are never counted as done.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from tqdm import tqdm

from rlaif.core.errors import RlaifError
from rlaif.core.schema import missing_reasons
from rlaif.data.sources import load_pairs
from rlaif.jobs.hints import SettingNeeded, braces
from rlaif.jobs.spec import RunOptions

Rows = list[dict[str, Any]]


@dataclass
class JobSummary:
    total: int = 0
    resumed: int = 0
    done_now: int = 0
    invalid: int = 0
    nan: int = 0
    nan_reasons: dict[str, int] = field(default_factory=dict)
    consistent: int = 0
    consistency_known: int = 0
    seconds: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    missing_name: str = "NaN labels"
    other_rows: int = 0
    notes: list[str] = field(default_factory=list)  # the executor's own figures (Ray: start-up, first rows)

    def lines(self) -> list[str]:
        rate = self.done_now / self.seconds if self.seconds > 0 else float("nan")
        out = [f"rows: {self.total} ({self.resumed} resumed from an earlier run, {self.done_now} done now, "
               f"{self.invalid} invalid input rows)",
               f"rate: {rate:.2f} rows/s over {self.seconds:.1f}s", *self.notes]
        if self.consistency_known:
            out.append(f"position consistency: {self.consistent / self.consistency_known:.1%} "
                       f"of {self.consistency_known} rows pick the same response in both orders")
        out.append(f"{self.missing_name}: {self.nan}" + "".join(f"\n  {n} x {r}" for r, n in sorted(self.nan_reasons.items())))
        if self.usage:
            out.append("usage: " + ", ".join(f"{k}={v}" for k, v in self.usage.items()))
        out.append(f"output: {self.output}" + (f" (also holds {self.other_rows} rows of earlier runs that are not "
                                                f"in this input)" if self.other_rows else ""))
        return out


@dataclass
class Task:
    """What a job does: ``process`` turns a chunk of input records into output records (None on a driver
    whose executor does the work elsewhere); the rest says how its output is recognised and reported."""

    process: Callable[[Rows], Rows] | None
    config_hash: str
    invalid_record: Callable[[str, str], dict[str, Any]] | None = None  # (row id, reason) -> record
    normalise: Callable | None = None  # input row -> record (default: pair records)
    value_field: str = "p_a"  # null/NaN here = a row without a result, reported with its ``error``
    missing_name: str = "NaN labels"
    desc: str = "labelling"


class Store(Protocol):
    """Where a job's rows live: validate what exists (the ids done), append chunks durably, finish."""

    def lock(self) -> AbstractContextManager: ...
    def open(self, config_hash: str, repair: bool) -> set[str]: ...
    def begin(self, order: dict[str, int], invalid: Rows) -> None: ...
    def append(self, rows: Rows) -> None: ...
    def close(self) -> None: ...
    def finish(self) -> None: ...
    def rows(self, columns: list[str] | None = None) -> Rows: ...


class Executor(Protocol):
    """How chunks are processed: ``run`` yields output records in input order (each id once)."""

    def start(self) -> None: ...
    def run(self, todo: Rows, chunk_size: int) -> Iterator[Rows]: ...
    def notes(self) -> list[str]: ...


class LocalExecutor:
    """Chunks processed one after another in this process by ``process``, with a progress bar."""

    def __init__(self, process: Callable[[Rows], Rows], desc: str = "labelling", progress: bool = False):
        self.process, self.desc, self.progress = process, desc, progress

    def start(self) -> None:
        pass

    def run(self, todo: Rows, chunk_size: int) -> Iterator[Rows]:
        bar = tqdm(total=len(todo), desc=self.desc, unit="row", disable=not self.progress)
        for s in range(0, len(todo), chunk_size):
            rows = self.process(todo[s:s + chunk_size])
            bar.update(len(rows))
            yield rows
        bar.close()

    def notes(self) -> list[str]:
        return []


def load_input(input_path, *, limit: int | None, split: str | None, normalise: Callable | None,
               skip_invalid: bool):
    """The job's input records; bad rows stop the job unless ``skip_invalid``; no rows is an error."""
    loaded = load_pairs(input_path, limit=limit, split=split, **({"normalise": normalise} if normalise else {}))
    if not loaded.records and not loaded.invalid:
        raise RlaifError(f"{input_path}: no rows (the input is empty)")
    if loaded.invalid and not skip_invalid:
        n = len(loaded.invalid)
        raise SettingNeeded(braces(f"{loaded.invalid[0][1]}" + (f" (and {n - 1} more bad rows)" if n > 1 else ""))
                            + "; fix the input or {how} to label the other rows", "skip_invalid")
    return loaded


def run_job(run: RunOptions, task: Task, store: Store | None = None, executor: Executor | None = None,
            on_progress: Callable[[int, int], None] | None = None) -> JobSummary:
    """Run ``task`` over the records of ``run.input`` in chunks, resumably; see the module doc.

    Defaults: the output file of ``run.output`` and this process. ``on_progress(rows done, rows in the job)``
    is called after every durable write (resumed rows count as done)."""
    if store is None:
        from rlaif.jobs.file_store import FileStore

        store = FileStore(run.output, run.input)
    executor = executor or LocalExecutor(task.process, task.desc, run.progress)
    loaded = load_input(run.input, limit=run.limit, split=run.split, normalise=task.normalise,
                        skip_invalid=run.skip_invalid)
    bad = [task.invalid_record(rid, msg) for rid, msg in loaded.invalid] if task.invalid_record else []
    with store.lock():
        done = store.open(task.config_hash, run.repair)
        todo = [r for r in loaded.records if r["id"] not in done]
        summary = JobSummary(total=len(loaded.records) + len(loaded.invalid), resumed=len(loaded.records) - len(todo),
                             invalid=len(loaded.invalid), output=str(store.output), missing_name=task.missing_name)
        try:
            store.begin({r["id"]: i for i, r in enumerate(loaded.records)}, bad)
            if todo:
                executor.start()
            start, written = time.perf_counter(), len(bad)
            for rows in executor.run(todo, run.chunk_size) if todo else ():
                store.append(rows)
                written += len(rows)
                if on_progress:
                    on_progress(summary.resumed + written, summary.total)
            summary.done_now, summary.seconds = written - len(bad), time.perf_counter() - start
            summary.notes = executor.notes()
            store.finish()
        finally:
            store.close()
    ids = {r["id"] for r in loaded.records} | {r["id"] for r in bad}
    return add_figures(summary, store.rows(["id", task.value_field, "error", "consistent"]), ids, task.value_field)


def add_figures(summary: JobSummary, rows: Rows, ids: set[str], value_field: str) -> JobSummary:
    """The summary's figures from the stored rows of this input (ids ``ids``): rows without a value by
    reason, position consistency, and how many stored rows belong to earlier runs of other inputs."""
    mine = [r for r in rows if r["id"] in ids]
    summary.nan_reasons = missing_reasons(mine, value_field)
    summary.nan = sum(summary.nan_reasons.values())
    known = [r["consistent"] for r in mine if r.get("consistent") is not None]
    summary.consistency_known, summary.consistent = len(known), sum(map(bool, known))
    summary.other_rows = len(rows) - len(mine)
    return summary
