"""Whole jobs, the one entry point that the CLI, the HTTP service and the Ray engine call: a typed job
spec in; the judge and labeler (or scorer) built; the resumable job run with its own usage meter; a
summary out. Nothing above this layer builds judges, hashes settings or writes records itself."""

from __future__ import annotations

from rlaif.data.candidates import pair_normaliser, single_normaliser
from rlaif.data.normalise import normalise_prompt, normalise_single
from rlaif.jobs.runner import JobSummary, Task, run_job
from rlaif.jobs.spec import GenerateJob, JudgeSpec, LabelJob, ScoreJob
from rlaif.judges.base import JudgeBackend, metered


def build_judge(spec: JudgeSpec) -> JudgeBackend:
    """The judge a spec names, its options checked by the backend's registry entry."""
    from rlaif import judges

    return judges.load_judge(spec.spec, **spec.options)


def build_labeler(job: LabelJob, judge: JudgeBackend | None = None):
    """The labeler of a label job; the settings are checked before a model is loaded."""
    from rlaif.evaluation.calibration import Calibration
    from rlaif.labeling.constitutions import load_constitution
    from rlaif.labeling.labeler import Labeler
    from rlaif.labeling.prompts import load_template

    load_constitution(job.labeler.constitution)
    load_template(job.labeler.template)
    cal = Calibration.load(job.calibration) if job.calibration else None
    return Labeler(judge or build_judge(job.judge), job.labeler, calibration=cal)


def build_scorer(job: ScoreJob, judge: JudgeBackend | None = None):
    """The scorer of a score job; the settings are checked before a model is loaded."""
    from rlaif.labeling.constitutions import load_constitution
    from rlaif.labeling.prompts import load_score_template
    from rlaif.labeling.scorer import Scorer

    load_constitution(job.scorer.constitution)
    load_score_template(job.scorer.template)
    return Scorer(judge or build_judge(job.judge), job.scorer)


def build_generator(job: GenerateJob, policy: JudgeBackend | None = None):
    """The generator of a generate job, with its policy."""
    from rlaif.labeling.generator import Generator

    return Generator(policy or build_judge(job.policy), job.generator)


def label_task(labeler, pairs: str | None = None, pair_seed: int = 0) -> Task:
    """What a label job does with each chunk, and how its output is recognised; ``pairs`` turns
    candidate rows into the pairs to label (``rlaif.data.candidates``)."""
    return Task(labeler.label, labeler.config_hash, invalid_record=labeler.invalid_record,
                normalise=pair_normaliser(pairs, pair_seed))


def score_task(scorer) -> Task:
    """What a score job does with each chunk (candidate rows give one row per response)."""
    return Task(scorer.score_records, scorer.config_hash, invalid_record=scorer.invalid_record,
                normalise=single_normaliser(normalise_single), value_field="reward", missing_name="unscored rows",
                desc="scoring")


def generate_task(generator) -> Task:
    """What a generate job does with each chunk of prompts."""
    return Task(generator.generate, generator.config_hash, invalid_record=generator.invalid_record,
                normalise=normalise_prompt, value_field="responses", missing_name="prompts without responses",
                desc="generating")


def label_file(job: LabelJob, judge: JudgeBackend | None = None) -> JobSummary:
    """Label a file of pairs (resumable); ``judge`` shares an already loaded judge."""
    return run_metered(job.run, label_task(build_labeler(job, judge), job.pairs, job.pair_seed))


def score_file(job: ScoreJob, judge: JudgeBackend | None = None) -> JobSummary:
    """Score a file of (prompt, response) rows (resumable); ``judge`` shares a loaded judge."""
    return run_metered(job.run, score_task(build_scorer(job, judge)))


def generate_file(job: GenerateJob, policy: JudgeBackend | None = None) -> JobSummary:
    """Sample candidates for every prompt of a file (resumable); ``policy`` shares a loaded model."""
    return run_metered(job.run, generate_task(build_generator(job, policy)))


def run_metered(run, task: Task, on_progress=None) -> JobSummary:
    """``run_job`` with the job's own usage meter: correct even when other jobs share the judge (the
    service calls it with a task adapted to its batcher)."""
    with metered() as usage:
        summary = run_job(run, task, on_progress=on_progress)
    summary.usage = usage.as_dict()
    return summary

