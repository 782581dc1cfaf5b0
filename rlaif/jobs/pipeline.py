"""Whole jobs, the one entry point that the CLI, the HTTP service and the Ray engine call: a typed job
spec in; its kind (``rlaif.jobs.kinds``) builds the judge's worker; the resumable job (``rlaif.jobs.runner``)
runs with its own usage meter, on a store and an executor; a summary out. The service builds its workers
over its shared judge through the same kinds; nothing above this layer hashes settings or writes records."""

from __future__ import annotations

from typing import Callable, Sequence

from pydantic import BaseModel

from rlaif.jobs.kinds import kind_of
from rlaif.jobs.runner import Executor, JobSummary, Store, Task, run_job
from rlaif.jobs.spec import JudgeSpec
from rlaif.judges.base import JudgeBackend, metered


def build_judge(spec: JudgeSpec) -> JudgeBackend:
    """The judge a spec names, its options checked by the backend's registry entry."""
    from rlaif import judges

    return judges.load_judge(spec.spec, **spec.options)


def build_judges(job: BaseModel) -> JudgeBackend | list[JudgeBackend]:
    """The judge a job spec names, loaded; a panel's: each member's, in order."""
    kind = kind_of(job)
    judges = [build_judge(spec) for spec in kind.judges(job)]
    return judges if kind.panel(job) else judges[0]


def build_task(job: BaseModel, judge: JudgeBackend | Sequence[JudgeBackend] | None = None) -> Task:
    """The task of any job spec; its settings and assets are checked before the model is loaded."""
    kind = kind_of(job)
    kind.assets(job)
    if judge is None and kind.panel(job):
        kind.judge_id(job)  # a judge twice in the panel is refused before any model loads
    return kind.task(job, judge or build_judges(job))


def run_file(job: BaseModel, judge: JudgeBackend | Sequence[JudgeBackend] | None = None) -> JobSummary:
    """Run a label, score or generate job over its file (resumable); ``judge`` shares a loaded model (a
    panel's: its members' judges)."""
    return run_metered(job.run, build_task(job, judge))


label_file = score_file = generate_file = run_file  # the names callers (and notebooks) already use


def run_metered(run, task: Task, store: Store | None = None, executor: Executor | None = None,
                on_progress: Callable[[int, int], None] | None = None) -> JobSummary:
    """``run_job`` with the job's own usage meter: correct even when other jobs share the judge."""
    with metered() as usage:
        summary = run_job(run, task, store=store, executor=executor, on_progress=on_progress)
    summary.usage = usage.as_dict()
    return summary
