"""``rlaif label|score|generate --engine ray``: the one resumable job (``rlaif.jobs.runner``) with Ray Data as its
executor and a folder of Parquet shards as its store (``rlaif.distributed.shards.ShardStore``).

The driver reads the input with the local engine's loader (same ids, same bad-row errors), checks what the
folder holds against the job's ``config_hash`` (computed from the spec and the judge id, no model loaded)
before any worker starts, sends only the rows not yet done, and gets results back in input order. Ray
retries the batch of an actor that dies; the executor keeps the first copy of any id it receives, so a row is
never written twice, and a killed driver loses at most the rows not yet in a shard.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator

from pydantic import BaseModel
from tqdm import tqdm

from rlaif.core.errors import RlaifError
from rlaif.distributed.arrow import from_table, to_table
from rlaif.distributed.datasets import map_judge, start_ray
from rlaif.distributed.shards import ShardStore
from rlaif.distributed.spec import RayOptions
from rlaif.jobs.kinds import kind_of
from rlaif.jobs.runner import JobSummary, run_job
from rlaif.labeling.panel import judge_id_of

Rows = list[dict[str, Any]]


class RayExecutor:
    """Chunks processed by a pool of judge actors on Ray Data, results streamed back in input order.

    Its notes: seconds to start or join Ray (not in the job's rate) and until the first rows came back."""

    def __init__(self, job: BaseModel, opts: RayOptions, config_hash: str, *, judge_factory: Callable | None = None,
                 fault: dict | None = None):
        self.job, self.opts, self.config_hash = job, opts, config_hash
        self.factory, self.fault = judge_factory, fault
        self.startup: float | None = None
        self.first: float | None = None

    def start(self) -> None:
        t0 = time.perf_counter()
        start_ray(self.opts.address, self.opts.num_cpus)
        self.startup = time.perf_counter() - t0

    def _dataset(self, todo: Rows, chunk: int):
        import ray.data

        logging.getLogger("ray.data").setLevel(logging.WARNING)  # our bar and summary say it once
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        ds = ray.data.from_arrow([to_table(todo[s:s + chunk]) for s in range(0, len(todo), chunk)])
        return map_judge(ds, self.job, workers=self.opts.workers, gpus_per_worker=self.opts.gpus_per_worker,
                         cpus_per_worker=self.opts.cpus_per_worker, batch_size=chunk, normalised=True,
                         judge_factory=self.factory, fault=self.fault)

    def run(self, todo: Rows, chunk_size: int) -> Iterator[Rows]:
        wanted, seen = {r["id"] for r in todo}, set()
        start = time.perf_counter()
        bar = tqdm(total=len(todo), desc=f"{kind_of(self.job).desc} on ray", unit="row",
                   disable=not self.job.run.progress)
        for batch in self._dataset(todo, chunk_size).iter_batches(batch_size=None, batch_format="pyarrow"):
            self.first = self.first if self.first is not None else time.perf_counter() - start
            rows = [r for r in from_table(batch) if self._check(r) and r["id"] in wanted and r["id"] not in seen]
            seen.update(r["id"] for r in rows)
            bar.update(len(batch))
            if rows:
                yield rows
        bar.close()
        if len(seen) < len(todo):
            raise RlaifError(f"Ray returned {len(seen)} of {len(todo)} rows; re-run the same command to do the rest")

    def _check(self, row: dict[str, Any]) -> bool:
        if row.get("config_hash") != self.config_hash:
            raise RlaifError(f"a worker made row {row['id']!r} with other settings (config_hash "
                             f"{row.get('config_hash')} != {self.config_hash}); is the same rlaif installed on "
                             "every node?")
        return True

    def notes(self) -> list[str]:
        if self.startup is None:
            return []
        return [f"ray: {self.startup:.1f}s to start or join Ray (not in the rate); first rows after "
                f"{self.first or 0.0:.1f}s (actors starting and loading the judge, in the rate)"]


def ray_job(job: BaseModel, opts: RayOptions, *, judge_factory: Callable | None = None,
            fault: dict | None = None) -> tuple[JobSummary, RayExecutor]:
    """Run a label, score or generate job on Ray into the folder ``job.run.output``; see the module doc.
    ``judge_factory`` (picklable, returning a judge; for a panel, its members' judges in order) replaces the
    job's judge on the driver and the workers.
    Returns the summary and the executor (its Ray figures: ``startup``, ``first``)."""
    kind = kind_of(job)
    judge_id = judge_id_of(judge_factory()) if judge_factory else kind.judge_id(job)
    store = ShardStore(job.run.output, job.run.input, opts.shard_rows)
    task = kind.plan(job, judge_id)
    executor = RayExecutor(job, opts, task.config_hash, judge_factory=judge_factory, fault=fault)
    return run_job(job.run, task, store=store, executor=executor), executor  # usage: the workers' judges, not here


def run_ray_job(job: BaseModel, opts: RayOptions, **kw: Any) -> JobSummary:
    """``ray_job``'s summary."""
    return ray_job(job, opts, **kw)[0]
