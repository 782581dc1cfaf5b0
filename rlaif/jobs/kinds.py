"""Job kinds as one table (``KINDS``): for label, score and generate, the spec and settings models, the
worker that does the work, the input normaliser, the record's value field, and ``config_hash`` as one pure
function of the spec, the judge id and the loaded assets (what a Ray driver needs without a model)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

from pydantic import BaseModel

from rlaif.data.candidates import pair_normaliser, prompt_normaliser, single_normaliser
from rlaif.data.normalise import normalise_prompt, normalise_row, normalise_single
from rlaif.jobs.runner import Task
from rlaif.jobs.spec import GenerateJob, JudgeSpec, LabelJob, RunOptions, ScoreJob
from rlaif.judges.base import JudgeBackend
from rlaif.labeling.generator import Generator, GeneratorConfig, generate_hash, invalid_candidate, sampled_by
from rlaif.labeling.labeler import Labeler, LabelerConfig, invalid_label, label_hash
from rlaif.labeling.labeler import check_settings as check_label_settings
from rlaif.labeling.panel import PanelLabeler, panel_id
from rlaif.labeling.provenance import judged_by
from rlaif.labeling.scorer import Scorer, ScorerConfig, invalid_score, score_hash


@dataclass(frozen=True)
class JobKind:
    """One kind of job. ``assets(job)`` loads (and so checks) what the settings name before any model is
    loaded; ``plan(job, judge_id)`` is the job's task without a worker (config_hash, error records, input
    normaliser); ``task(job, judge)`` adds the worker's ``process``."""

    name: str
    job_model: type[BaseModel]
    settings_field: str  # the spec's field holding the settings model (``labeler``, ``scorer``, ``generator``)
    settings_model: type[BaseModel]
    judge_field: str  # the spec's field naming the model (``judge``; ``policy`` for generate)
    row_normaliser: Callable  # one raw row (HTTP, a Ray dataset) -> the worker's input record
    value_field: str  # null/NaN here = a row without a result, reported with its ``error``
    missing_name: str
    desc: str
    title: str  # what the kind does, in a few words
    pairwise: bool  # rows are pairs: browsable, reviewable, comparable with human labels
    assets: Callable[[Any], tuple]
    _hash: Callable[..., str]
    _provenance: Callable[..., dict[str, Any]]
    _invalid: Callable[[dict[str, Any], str, str], dict[str, Any]]
    _worker: Callable[..., Any]
    process: Callable[[Any], Callable[[list[dict]], list[dict]]]  # worker -> its chunk function
    normaliser: Callable[[Any], Callable]  # job -> its input-file row normaliser
    panel_field: str | None = None  # the spec's field holding a panel of judges (``panel``), None: one judge only

    def spec(self, run: RunOptions, settings: BaseModel | dict[str, Any] | None = None,
             judge: JudgeSpec | None = None, **extra: Any) -> BaseModel:
        """A job spec of this kind."""
        fields = {"run": run, self.settings_field: settings if settings is not None else self.settings_model()}
        if judge is not None:
            fields[self.judge_field] = judge
        return self.job_model(**fields, **extra)

    def settings(self, job: BaseModel) -> BaseModel:
        return getattr(job, self.settings_field)

    def judge(self, job: BaseModel) -> JudgeSpec:
        return getattr(job, self.judge_field)

    def panel(self, job: BaseModel) -> list[JudgeSpec]:
        """The job's panel of member judges ([]: the job has one judge)."""
        return list(getattr(job, self.panel_field)) if self.panel_field else []

    def judges(self, job: BaseModel) -> list[JudgeSpec]:
        """Every judge the job loads: its panel's members, or its one judge."""
        return self.panel(job) or [self.judge(job)]

    def judge_id(self, job: BaseModel) -> str:
        """The ``judge`` the job's rows record, known without loading a model (a panel's names every member)."""
        from rlaif.judges.registry import judge_id

        ids = [judge_id(j.spec, j.options) for j in self.judges(job)]
        return panel_id(ids) if self.panel(job) else ids[0]

    def config_hash(self, job: BaseModel, judge_id: str, assets: tuple | None = None) -> str:
        """The settings fingerprint of ``job``'s rows: a pure function of (spec, judge id, loaded assets)."""
        return self._hash(self.settings(job), judge_id, *(self.assets(job) if assets is None else assets))

    def plan(self, job: BaseModel, judge_id: str) -> Task:
        """The job's task as a driver needs it, with no worker (``process`` is None)."""
        assets = self.assets(job)
        h = self.config_hash(job, judge_id, assets)
        provenance = self._provenance(judge_id, self.settings(job), assets, h)
        return Task(None, h, invalid_record=partial(self._invalid, provenance), normalise=self.normaliser(job),
                    value_field=self.value_field, missing_name=self.missing_name, desc=self.desc)

    def worker(self, job: BaseModel, judge: JudgeBackend | Sequence[JudgeBackend]):
        """The labeler, scorer or generator of ``job`` over a loaded judge (a panel's: its members' judges, in
        the order of ``judges(job)``)."""
        return self._worker(job, judge, self.assets(job))

    def task(self, job: BaseModel, judge: JudgeBackend | Sequence[JudgeBackend] | None = None,
             worker: Any = None) -> Task:
        """The job's task with its worker (built over ``judge``, or the one given)."""
        worker = worker if worker is not None else self.worker(job, judge)
        return Task(self.process(worker), worker.config_hash, invalid_record=worker.invalid_record,
                    normalise=self.normaliser(job), value_field=self.value_field, missing_name=self.missing_name,
                    desc=self.desc)


def _label_assets(job: LabelJob) -> tuple:
    from rlaif.evaluation.calibration import Calibration
    from rlaif.labeling.constitutions import load_constitution
    from rlaif.labeling.prompts import load_template

    constitution, template = load_constitution(job.labeler.constitution), load_template(job.labeler.template)
    check_label_settings(job.labeler, constitution, template)
    members = tuple((Calibration.load(m.calibration) if m.calibration else None, m.weight) for m in job.panel)
    return constitution, template, Calibration.load(job.calibration) if job.calibration else None, members


def _label_worker(job: LabelJob, judge, assets: tuple):
    """A panel's labeler over its members' judges, or the labeler over the one judge."""
    if job.panel:
        return PanelLabeler(judge, job.labeler, [c for c, _ in assets[3]], [w for _, w in assets[3]])
    return Labeler(judge, job.labeler, calibration=assets[2])


def _score_assets(job: ScoreJob) -> tuple:
    from rlaif.labeling.constitutions import load_constitution
    from rlaif.labeling.prompts import load_score_template

    return load_constitution(job.scorer.constitution), load_score_template(job.scorer.template)


LABEL = JobKind(
    "label", LabelJob, "labeler", LabelerConfig, "judge", normalise_row, "p_a", "NaN labels", "labelling",
    "label pairs", True, assets=_label_assets, _hash=label_hash,
    _provenance=lambda jid, cfg, assets, h: judged_by(jid, assets[0], assets[1], h), _invalid=invalid_label,
    _worker=_label_worker, process=lambda w: w.label,
    normaliser=lambda job: pair_normaliser(job.pairs, job.pair_seed), panel_field="panel")

SCORE = JobKind(
    "score", ScoreJob, "scorer", ScorerConfig, "judge", normalise_single, "reward", "unscored rows", "scoring",
    "score responses", False, assets=_score_assets, _hash=score_hash,
    _provenance=lambda jid, cfg, assets, h: judged_by(jid, assets[0], assets[1], h), _invalid=invalid_score,
    _worker=lambda job, judge, assets: Scorer(judge, job.scorer),
    process=lambda w: w.score_records, normaliser=lambda job: single_normaliser(normalise_single))

GENERATE = JobKind(
    "generate", GenerateJob, "generator", GeneratorConfig, "policy", normalise_prompt, "responses",
    "prompts without responses", "generating", "generate candidates", False, assets=lambda job: (), _hash=generate_hash,
    _provenance=lambda jid, cfg, assets, h: sampled_by(jid, cfg, h), _invalid=invalid_candidate,
    _worker=lambda job, policy, assets: Generator(policy, job.generator),
    process=lambda w: w.generate, normaliser=lambda job: prompt_normaliser(job.generator.keep_responses))

KINDS: dict[str, JobKind] = {k.name: k for k in (LABEL, SCORE, GENERATE)}


def kind_of(job: BaseModel) -> JobKind:
    """The kind of a job spec."""
    for kind in KINDS.values():
        if isinstance(job, kind.job_model):
            return kind
    raise TypeError(f"not a job spec: {type(job).__name__}")
