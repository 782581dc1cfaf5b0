"""``rlaif label|score --engine ray``: the resumable job of ``rlaif.jobs.runner``, with the judge work on a
pool of Ray actors and the output a folder of Parquet shards (``rlaif.distributed.shards``).

The driver reads the input with the local engine's loader (same ids, same bad-row errors), checks what
the folder holds against the job's ``config_hash`` before any worker starts, sends only the rows not yet
labelled, and writes shards as results stream back in input order. Ray retries the batch of an actor
that dies; the driver keeps the first copy of any id it receives, so a row is never written twice, and a
killed driver loses at most the rows not yet in a shard.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from rlaif.core.errors import RlaifError
from rlaif.distributed.arrow import from_table, to_table
from rlaif.distributed.datasets import map_judge, start_ray
from rlaif.distributed.shards import check_output_dir, read_dir, scan, write_invalid, write_shard
from rlaif.distributed.spec import RayOptions
from rlaif.jobs.outputs import OutputLock
from rlaif.jobs.pipeline import build_labeler, build_scorer, label_task, score_task
from rlaif.jobs.runner import JobSummary, Task, add_figures, load_input
from rlaif.jobs.spec import LabelJob, ScoreJob


class JudgeIdentity:
    """A stand-in judge that only knows its id: enough to compute a job's settings hash on the driver
    without loading the model there."""

    context_length = None

    def __init__(self, judge_id: str):
        self.judge_id = judge_id


def driver_task(kind: str, job: LabelJob | ScoreJob, judge_factory: Callable | None = None) -> Task:
    """The job's task as the driver needs it: config_hash, error records, input normalisation."""
    from rlaif import judges

    judge = judge_factory() if judge_factory else JudgeIdentity(judges.judge_id(job.judge.spec, job.judge.options))
    return (label_task(build_labeler(job, judge), job.pairs, job.pair_seed) if kind == "label"
            else score_task(build_scorer(job, judge)))


def _stream(out: Path, kind: str, job, todo: list[tuple[int, dict]], opts: RayOptions, task: Task,
            factory: Callable | None, fault: dict | None, progress: bool) -> tuple[int, float]:
    """Label ``todo`` (input position, record) on Ray and write shards; returns (rows written, seconds to
    the first result)."""
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # our bar and summary say it once
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    chunk = job.run.chunk_size
    records = [r for _, r in todo]
    ds = ray.data.from_arrow([to_table(records[s:s + chunk]) for s in range(0, len(records), chunk)])
    ds = map_judge(ds, kind, job, workers=opts.workers, gpus_per_worker=opts.gpus_per_worker,
                   cpus_per_worker=opts.cpus_per_worker, batch_size=chunk, normalised=True,
                   judge_factory=factory, fault=fault)
    position = {r["id"]: i for i, r in todo}
    seen: set[str] = set()
    buf: list[dict[str, Any]] = []
    written, first, start = 0, float("nan"), time.perf_counter()
    bar = tqdm(total=len(todo), desc=f"{task.desc} on ray", unit="row", disable=not progress)
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        first = first if first == first else time.perf_counter() - start
        for row in from_table(batch):
            if row.get("config_hash") != task.config_hash:
                raise RlaifError(f"a worker labelled row {row['id']!r} with other settings (config_hash "
                                 f"{row.get('config_hash')} != {task.config_hash}); is the same rlaif installed "
                                 "on every node?")
            if row["id"] in position and row["id"] not in seen:
                seen.add(row["id"])
                buf.append(row)
        bar.update(len(batch))
        while len(buf) >= opts.shard_rows or (buf and len(seen) == len(todo)):
            part, buf = buf[:opts.shard_rows], buf[opts.shard_rows:]
            write_shard(out, part, position[part[0]["id"]])
            written += len(part)
    bar.close()
    if buf:
        write_shard(out, buf, position[buf[0]["id"]])
        written += len(buf)
    if written < len(todo):
        raise RlaifError(f"Ray returned {written} of {len(todo)} rows; re-run the same command to label the rest")
    return written, first


def _finish(summary: JobSummary, out: Path, ids: set[str], task: Task) -> JobSummary:
    """Fill in the summary's figures from the rows of this input in the folder (only the columns needed)."""
    cols = ["id", task.value_field, "error"] + (["consistent"] if task.value_field == "p_a" else [])
    rows = read_dir(out, columns=cols)
    mine = [r for r in rows if r["id"] in ids]
    return add_figures(summary, mine, len(rows) - len(mine), task.value_field)


def run_ray_job(kind: str, job: LabelJob | ScoreJob, opts: RayOptions, *, judge_factory: Callable | None = None,
                fault: dict | None = None) -> JobSummary:
    """Run a label or score job on Ray into the folder ``job.run.output``; see the module doc."""
    run = job.run
    out = check_output_dir(run.output, run.input)
    task = driver_task(kind, job, judge_factory)
    loaded = load_input(run.input, limit=run.limit, split=run.split, normalise=task.normalise,
                        skip_invalid=run.skip_invalid)
    with OutputLock(out):
        done = scan(out, task.config_hash, run.repair)
        todo = [(i, r) for i, r in enumerate(loaded.records) if r["id"] not in done]
        bad = [task.invalid_record(rid, msg) for rid, msg in loaded.invalid]
        write_invalid(out, bad)
        summary = JobSummary(total=len(loaded.records) + len(bad), resumed=len(loaded.records) - len(todo),
                             invalid=len(bad), output=str(out), missing_name=task.missing_name)
        if todo:
            t0 = time.perf_counter()
            start_ray(opts.address, opts.num_cpus)
            summary.startup = time.perf_counter() - t0
            t1 = time.perf_counter()
            summary.done_now, summary.first_result = _stream(out, kind, job, todo, opts, task, judge_factory,
                                                             fault, run.progress)
            summary.seconds = time.perf_counter() - t1
    ids = {r["id"] for r in loaded.records} | {r["id"] for r in bad}
    return _finish(summary, out, ids, task)
