"""``config_hash`` of existing outputs never changes: the hashes of a few fixed settings, as computed by
the release before the job-kind table (issue 24), are pinned here, through the workers and the kind table."""

from __future__ import annotations

import pytest

from conftest import ScriptedJudge
from rlaif.evaluation.calibration import Calibration
from rlaif.jobs.kinds import KINDS
from rlaif.jobs.spec import GenerateJob, JudgeSpec, LabelJob, RunOptions, ScoreJob
from rlaif.judges.sampling import Sampling
from rlaif.labeling.generator import Generator, GeneratorConfig
from rlaif.labeling.labeler import Labeler, LabelerConfig
from rlaif.labeling.scorer import Scorer, ScorerConfig

RUN = RunOptions(input="in.jsonl", output="out.jsonl")
JUDGE = JudgeSpec(spec="scripted")
LABEL = [(LabelerConfig(), None, "7e50ef9dcd2752d5"),
         (LabelerConfig(principles="all", ensemble_k=2, seed=3, orders="ab"), None, "0c0c4a1470cc9812"),
         (LabelerConfig(method="sample"), None, "38d5d71a106df9ab"),
         (LabelerConfig(constitution="helpful", shots=2), Calibration(temperature=1.5, bias=0.1), "b52e15b38e65b089")]
SCORE = [(ScorerConfig(), "f5f59d66c1b3ad3c"), (ScorerConfig(constitution="harmless", max_prompt_tokens=512), "c5e39205d0316aa0")]
GENERATE = [(GeneratorConfig(), "5fc84227334b8203"),
            (GeneratorConfig(sampling=Sampling(n=2, temperature=0.0, seed=7), system="Be brief."), "03cafa04472db9e3")]


@pytest.mark.parametrize("cfg,cal,want", LABEL)
def test_label_hash_is_pinned(cfg, cal, want, tmp_path):
    assert Labeler(ScriptedJudge(), cfg, calibration=cal).config_hash == want
    path = None
    if cal is not None:
        path = tmp_path / "cal.json"
        cal.save(path)
    job = LabelJob(run=RUN, judge=JUDGE, labeler=cfg, calibration=str(path) if path else None)
    assert KINDS["label"].config_hash(job, ScriptedJudge.judge_id) == want


@pytest.mark.parametrize("cfg,want", SCORE)
def test_score_hash_is_pinned(cfg, want):
    assert Scorer(ScriptedJudge(), cfg).config_hash == want
    assert KINDS["score"].config_hash(ScoreJob(run=RUN, judge=JUDGE, scorer=cfg), ScriptedJudge.judge_id) == want


@pytest.mark.parametrize("cfg,want", GENERATE)
def test_generate_hash_is_pinned(cfg, want):
    assert Generator(ScriptedJudge(), cfg).config_hash == want
    job = GenerateJob(run=RUN, policy=JUDGE, generator=cfg)
    assert KINDS["generate"].config_hash(job, ScriptedJudge.judge_id) == want
