"""Resumable batch jobs: label (or score) a file in chunks, appending durable JSONL lines.

Work goes to ``OUTPUT`` itself for .jsonl outputs, or to ``OUTPUT.partial.jsonl`` for .parquet
outputs (converted with an atomic rename at the end). One job at a time holds ``OUTPUT.lock``.
Every chunk is written with one write, flushed and fsynced, so a kill loses at most the chunk in
flight. Before anything is written, the existing output is read and validated (``rlaif.jobs.outputs``):
only a torn final line is cut, rows made with other settings (``config_hash``) are refused, and
other bad lines stop the job (or, with ``repair``, move to ``OUTPUT.rejected.jsonl``). Re-running
the same command skips the ids already present; invalid-input rows are never counted as done.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from rlaif.data.records import to_json_line, write_atomic
from rlaif.data.sources import load_pairs
from rlaif.core.errors import RlaifError
from rlaif.jobs.outputs import (Existing, OutputLock, check_settings, move_bad_lines, refuse_bad, rewrite,
                                scan_jsonl, scan_table)
from rlaif.core.schema import is_invalid_input, missing_reasons
from rlaif.jobs.spec import RunOptions


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
    startup: float | None = None  # Ray engine: seconds to start or join Ray (not in ``seconds``)
    first_result: float | None = None  # Ray engine: seconds until the first rows came back


    def lines(self) -> list[str]:
        rate = self.done_now / self.seconds if self.seconds > 0 else float("nan")
        out = [f"rows: {self.total} ({self.resumed} resumed from an earlier run, {self.done_now} done now, "
               f"{self.invalid} invalid input rows)",
               f"rate: {rate:.2f} rows/s over {self.seconds:.1f}s"]
        if self.startup is not None:
            out.append(f"ray: {self.startup:.1f}s to start or join Ray (not in the rate); first rows after "
                       f"{self.first_result:.1f}s (actors starting and loading the judge, in the rate)")
        if self.consistency_known:
            out.append(f"position consistency: {self.consistent / self.consistency_known:.1%} "
                       f"of {self.consistency_known} rows pick the same response in both orders")
        out.append(f"{self.missing_name}: {self.nan}" + "".join(f"\n  {n} x {r}" for r, n in sorted(self.nan_reasons.items())))
        if self.usage:
            out.append("usage: " + ", ".join(f"{k}={v}" for k, v in self.usage.items()))
        out.append(f"output: {self.output}" + (f" (also holds {self.other_rows} rows of earlier runs that are not "
                                                f"in this input)" if self.other_rows else ""))
        return out


def work_path(output: Path) -> Path:
    """Where rows are appended: the JSONL output itself, or ``OUTPUT.partial.jsonl`` for Parquet."""
    return output if output.suffix.lower() == ".jsonl" else output.with_name(output.name + ".partial.jsonl")


def check_output_path(output: str | Path, input_path: str | Path) -> Path:
    """The output as a Path, refused when it cannot be written or would overwrite the input."""
    output = Path(output)
    if output.suffix.lower() not in (".jsonl", ".parquet"):
        raise RlaifError(f"{output}: output must end in .jsonl or .parquet")
    if not output.parent.exists():
        raise RlaifError(f"{output}: folder {output.parent} does not exist")
    src = Path(input_path).resolve()
    for o in (output, work_path(output)):
        if o.resolve() == src or (o.exists() and src.exists() and os.path.samefile(o, src)):
            raise RlaifError(f"{output}: the output is the input file {input_path}; choose another -o")
    return output


def load_input(input_path: str | Path, *, limit: int | None, split: str | None, normalise: Callable | None,
               skip_invalid: bool):
    """The job's input records; bad rows stop the job unless ``skip_invalid``; no rows is an error."""
    loaded = load_pairs(input_path, limit=limit, split=split, **({"normalise": normalise} if normalise else {}))
    if not loaded.records and not loaded.invalid:
        raise RlaifError(f"{input_path}: no rows (the input is empty)")
    if loaded.invalid and not skip_invalid:
        n = len(loaded.invalid)
        raise RlaifError(f"{loaded.invalid[0][1]}" + (f" (and {n - 1} more bad rows)" if n > 1 else "")
                         + "; fix the input or pass --skip-invalid to label the other rows")
    return loaded


def open_existing(output: Path, config_hash: str, repair: bool) -> tuple[Existing, list[dict[str, Any]]]:
    """Validate what the output already holds, then make the work file ready to append to.

    Returns the work file's state and the labelled rows (from the work file and, for Parquet, the
    finished file). Error records of invalid input rows are dropped: they are made afresh each run,
    so a fixed row is labelled and its error record does not linger.
    """
    work = work_path(output)
    ex = scan_jsonl(work)
    table = scan_table(output) if work != output else None
    check_settings(ex, config_hash)
    if table is not None:
        check_settings(table, config_hash)
    if not repair:
        refuse_bad(ex)
    moved = move_bad_lines(ex)  # nothing to move unless repairing
    keep = [not is_invalid_input(r) for r in ex.rows]
    if moved or not all(keep):
        rewrite(ex, keep)
    elif ex.torn_at is not None:
        with open(work, "r+b") as fh:
            fh.truncate(ex.torn_at)
        ex.torn_at = None
    rows = list(ex.rows)
    if table is not None:  # a row in both: killed between the Parquet rename and removing the partial
        in_work = {r["id"] for r in rows}
        rows = [r for r in table.rows if r["id"] not in in_work and not is_invalid_input(r)] + rows
    return ex, rows


def _append(work: Path, ex: Existing):
    """A durable appender: each call is one write, flushed and fsynced."""
    fh = open(work, "ab")
    if ex.needs_newline:
        fh.write(b"\n")

    def write(rows: list[dict[str, Any]]) -> None:
        fh.write("".join(to_json_line(r) for r in rows).encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    return fh, write


@dataclass
class Task:
    """What a job does: ``process`` turns a chunk of input records into output records; the rest
    says how its output is recognised and reported."""

    process: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    config_hash: str
    invalid_record: Callable[[str, str], dict[str, Any]] | None = None  # (row id, reason) -> record
    normalise: Callable | None = None  # input row -> record (default: pair records)
    value_field: str = "p_a"  # null/NaN here = a row without a result, reported with its ``error``
    missing_name: str = "NaN labels"
    desc: str = "labelling"


def run_job(run: RunOptions, task: Task, on_progress: Callable[[int, int], None] | None = None) -> JobSummary:
    """Run ``task`` over the records of ``run.input`` in chunks, resumably; see the module doc.

    ``on_progress(rows done, rows in the job)`` is called after every durable write (resumed rows count
    as done)."""
    output = check_output_path(run.output, run.input)
    loaded = load_input(run.input, limit=run.limit, split=run.split, normalise=task.normalise,
                        skip_invalid=run.skip_invalid)
    with OutputLock(output):
        ex, done = open_existing(output, task.config_hash, run.repair)
        done_by_id = {r["id"]: r for r in done}
        todo = [r for r in loaded.records if r["id"] not in done_by_id]
        bad = [task.invalid_record(rid, msg) for rid, msg in loaded.invalid] if task.invalid_record else []
        summary = JobSummary(total=len(loaded.records) + len(loaded.invalid), resumed=len(loaded.records) - len(todo),
                             invalid=len(loaded.invalid), output=str(output), missing_name=task.missing_name)
        start = time.perf_counter()
        report = (lambda n: on_progress(summary.resumed + n, summary.total)) if on_progress else None
        new = _process(work_path(output), ex, task, todo, bad, run, report)
        summary.done_now = len(new) - len(bad)
        summary.seconds = time.perf_counter() - start
        if output != work_path(output):
            order = {r["id"]: i for i, r in enumerate(loaded.records)}
            write_atomic(output, sorted(done + new, key=lambda r: order.get(r["id"], len(order))))
            work_path(output).unlink(missing_ok=True)
    ids = {r["id"] for r in loaded.records}
    return add_figures(summary, [r for r in done if r["id"] in ids] + new, len(done) - summary.resumed,
                       task.value_field)


def add_figures(summary: JobSummary, mine: list[dict[str, Any]], other_rows: int, value_field: str) -> JobSummary:
    """The summary's figures from the output rows of this input (``mine``): rows without a value by
    reason, position consistency; ``other_rows`` are rows of earlier runs not in this input."""
    summary.nan_reasons = missing_reasons(mine, value_field)
    summary.nan = sum(summary.nan_reasons.values())
    known = [r["consistent"] for r in mine if r.get("consistent") is not None]
    summary.consistency_known, summary.consistent = len(known), sum(map(bool, known))
    summary.other_rows = other_rows
    return summary


def _process(work: Path, ex: Existing, task: Task, todo: list[dict], bad: list[dict], run: RunOptions,
             report: Callable[[int], None] | None) -> list[dict[str, Any]]:
    """Write the invalid-row records, then process ``todo`` chunk by chunk with durable appends."""
    new: list[dict[str, Any]] = []
    if not (todo or bad):
        return new
    fh, write = _append(work, ex)
    with fh:
        if bad:
            write(bad)
            new.extend(bad)
        bar = tqdm(total=len(todo), desc=task.desc, unit="row", disable=not run.progress)
        for s in range(0, len(todo), run.chunk_size):
            rows = task.process(todo[s:s + run.chunk_size])
            write(rows)
            new.extend(rows)
            bar.update(len(rows))
            if report:
                report(len(new))
        bar.close()
    return new
