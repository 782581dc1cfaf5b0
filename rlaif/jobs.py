"""Resumable batch jobs: label (or score) a file in chunks, appending durable JSONL lines.

Work goes to ``OUTPUT`` itself for .jsonl outputs, or to ``OUTPUT.partial.jsonl`` for .parquet
outputs (converted with an atomic rename at the end). Every chunk is written with one write,
flushed and fsynced, so a kill loses at most the chunk in flight; a torn last line is dropped on
resume. Re-running the same command skips the ids already present, and refuses to mix rows made
with other settings (``config_hash``).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from .data import load_pairs, read_records, to_json_line, write_atomic
from .errors import RlaifError


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

    def lines(self) -> list[str]:
        rate = self.done_now / self.seconds if self.seconds > 0 else float("nan")
        out = [f"rows: {self.total} ({self.resumed} resumed from an earlier run, {self.done_now} done now, "
               f"{self.invalid} invalid input rows)",
               f"rate: {rate:.2f} rows/s over {self.seconds:.1f}s"]
        if self.consistency_known:
            out.append(f"position consistency: {self.consistent / self.consistency_known:.1%} "
                       f"of {self.consistency_known} rows pick the same response in both orders")
        out.append(f"{self.missing_name}: {self.nan}" + "".join(f"\n  {n} x {r}" for r, n in sorted(self.nan_reasons.items())))
        if self.usage:
            out.append("usage: " + ", ".join(f"{k}={v}" for k, v in self.usage.items()))
        out.append(f"output: {self.output}")
        return out


def _read_partial(work: Path) -> list[dict[str, Any]]:
    """Rows already written to ``work``; a torn final line (killed mid-write) is cut off."""
    rows: list[dict[str, Any]] = []
    good = 0
    with open(work, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                rows.append(json.loads(raw))
            except json.JSONDecodeError:
                break
            good += len(raw)
    if good != work.stat().st_size:
        with open(work, "r+b") as fh:
            fh.truncate(good)
    return rows


def run_job(input_path: str | Path, output: str | Path, process: Callable[[list[dict]], list[dict]],
            config_hash: str, *, limit: int | None = None, split: str | None = None, chunk_size: int = 8,
            skip_invalid: bool = False, invalid_row: Callable[[str, str], dict] | None = None,
            usage: Callable[[], dict[str, Any]] | None = None, progress: bool = True,
            desc: str = "labelling", normalise: Callable | None = None, value_field: str = "p_a",
            missing_name: str = "NaN labels") -> JobSummary:
    """Run ``process`` over the records of ``input_path`` in chunks, resumably; see module doc.

    ``value_field`` is the output field whose null/NaN counts as a row without a result
    (reported as ``missing_name`` with the rows' ``error`` reasons).
    """
    output = Path(output)
    if output.suffix.lower() not in (".jsonl", ".parquet"):
        raise RlaifError(f"{output}: output must end in .jsonl or .parquet")
    if not output.parent.exists():
        raise RlaifError(f"{output}: folder {output.parent} does not exist")
    loaded = load_pairs(input_path, limit=limit, split=split, **({"normalise": normalise} if normalise else {}))
    if loaded.invalid and not skip_invalid:
        n = len(loaded.invalid)
        raise RlaifError(f"{loaded.invalid[0][1]}" + (f" (and {n - 1} more bad rows)" if n > 1 else "")
                         + "; fix the input or pass --skip-invalid to label the other rows")
    work = output if output.suffix.lower() == ".jsonl" else output.with_name(output.name + ".partial.jsonl")
    done: list[dict[str, Any]] = []
    if work.exists():
        done = _read_partial(work)
    elif output.exists():
        done = read_records(output)
    for i, row in enumerate(done):
        if row.get("config_hash") != config_hash:
            raise RlaifError(f"{work if work.exists() else output}:{i + 1}: written with other settings "
                             f"(config_hash {row.get('config_hash')} != {config_hash}); use another -o to start afresh")
    done_ids = {r["id"] for r in done}
    summary = JobSummary(total=len(loaded.records) + len(loaded.invalid), resumed=len(done_ids),
                         invalid=len(loaded.invalid), output=str(output))
    todo = [r for r in loaded.records if r["id"] not in done_ids]
    bad = [invalid_row(rid, msg) for rid, msg in loaded.invalid if rid not in done_ids] if invalid_row else []
    start = time.perf_counter()
    if todo or bad or output != work:
        with open(work, "a", encoding="utf-8") as fh:
            def write(rows: list[dict[str, Any]]) -> None:
                fh.write("".join(to_json_line(r) for r in rows))
                fh.flush()
                os.fsync(fh.fileno())

            if bad:
                write(bad)
            bar = tqdm(total=len(todo), desc=desc, unit="row", disable=not progress)
            for s in range(0, len(todo), chunk_size):
                rows = process(todo[s:s + chunk_size])
                write(rows)
                done.extend(rows)
                summary.done_now += len(rows)
                bar.update(len(rows))
            bar.close()
        done.extend(bad)
    summary.seconds = time.perf_counter() - start
    if output != work:
        order = {r["id"]: i for i, r in enumerate(loaded.records)}
        final = sorted(done, key=lambda r: order.get(r["id"], len(order)))
        write_atomic(output, final)
        work.unlink()
    summary.missing_name = missing_name
    for r in done:
        p = r.get(value_field)
        if p is None or (isinstance(p, float) and math.isnan(p)):
            summary.nan += 1
            reason = str(r.get("error") or "unknown")
            summary.nan_reasons[reason] = summary.nan_reasons.get(reason, 0) + 1
        if r.get("consistent") is not None:
            summary.consistency_known += 1
            summary.consistent += bool(r["consistent"])
    if usage:
        summary.usage = usage()
    return summary
