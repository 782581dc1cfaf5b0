"""The Python API (``rlaif.label``, ``rlaif.score``, ``rlaif.compare``, ``rlaif.load_judge``) on the controlled
judge: the same records as the labeler and scorer give, a Dataset back for a Dataset, and a light ``import rlaif``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import BaseModel

import rlaif
from conftest import ScriptedJudge
from rlaif.core.errors import RlaifError
from rlaif.judges import registry

PAIRS = [{"prompt": "hi", "chosen": "a GOOD one", "rejected": "a BAD one"},
         {"prompt": "yo", "chosen": "plain", "rejected": "a BAD reply"},
         {"prompt": "hey", "chosen": "plain", "rejected": "a GOOD reply"}]


def test_import_rlaif_is_light():
    code = "import json, sys, rlaif; print(json.dumps(sorted(m for m in ('torch', 'transformers', 'llama_cpp', " \
           "'rlaif.api', 'rlaif.judges') if m in sys.modules)))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert json.loads(res.stdout) == []


def test_label_gives_the_labelers_records():
    from rlaif.data.sources import records_from_rows
    from rlaif.labeling.labeler import Labeler
    from rlaif.labeling.settings import LabelerConfig

    got = rlaif.label(PAIRS, judge=ScriptedJudge(position_bias=0.5), principles="all")
    want = Labeler(ScriptedJudge(position_bias=0.5), LabelerConfig(principles="all")).label(records_from_rows(PAIRS))
    assert got == want and len(got) == 3


def test_a_dataset_comes_back_as_a_dataset_and_compare_reads_it():
    from datasets import Dataset

    from rlaif.evaluation.compare import compute

    ds = rlaif.label(Dataset.from_list(PAIRS * 4), judge=ScriptedJudge())
    assert isinstance(ds, Dataset) and len(ds) == 12 and "p_a" in ds.column_names
    listed = rlaif.label(PAIRS * 4, judge=ScriptedJudge())
    assert ds["p_a"] == pytest.approx([r["p_a"] for r in listed], abs=1e-12)
    figures = rlaif.compare(ds, n_boot=50)
    assert figures["accuracy"] == compute(listed, n_boot=50)["accuracy"] and figures["rows"] == 12


def test_a_spec_string_with_options_uses_the_registry():
    class Options(BaseModel):
        bias: float = 0.0

    registry.register("fake", registry.JudgeKind("fake", "X", "test", Options,
                                                 lambda arg, o: ScriptedJudge(position_bias=o.get("bias", 0.0))))
    try:
        got = rlaif.label(PAIRS, judge="fake:x", judge_options={"bias": 0.5})
        assert got == rlaif.label(PAIRS, judge=ScriptedJudge(position_bias=0.5))
        assert isinstance(rlaif.load_judge("fake:x"), ScriptedJudge)
        with pytest.raises(RlaifError, match="judge option 'colour' does not apply"):
            rlaif.label(PAIRS, judge="fake:x", judge_options={"colour": "red"})
    finally:
        registry.unregister("fake")


def test_bad_rows_and_settings_are_one_line_or_error_records():
    bad = PAIRS + [{"prompt": "x", "chosen": "", "rejected": "b"}]
    with pytest.raises(RlaifError, match=r"rows:4 field 'chosen' is empty"):
        rlaif.label(bad, judge=ScriptedJudge())
    got = rlaif.label(bad, judge=ScriptedJudge(), skip_invalid=True)
    assert [bool(r.get("error")) for r in got] == [False, False, False, True] and got[3]["error"].startswith("invalid input")
    with pytest.raises(RlaifError, match="^shots: Input should be greater than or equal to 0$"):
        rlaif.label(PAIRS, judge=ScriptedJudge(), shots=-1)


def test_score_gives_the_scorers_records():
    from rlaif.data.candidates import single_normaliser
    from rlaif.data.normalise import normalise_single
    from rlaif.labeling.scorer import Scorer

    rows = [{"prompt": "p", "response": "a GOOD reply"}, {"prompt": "q", "response": "a BAD reply"}]
    got = rlaif.score(rows, judge=ScriptedJudge())
    norm = single_normaliser(normalise_single)
    assert got == Scorer(ScriptedJudge()).score_records([norm(r, i, f"x:{i}") for i, r in enumerate(rows)])
    assert got[0]["reward"] > 0 > got[1]["reward"]
