"""Writes the files in this folder with the code of rlaif at commit c7d7c29 (before the record codec), so that
tests/test_records.py can check that today's code reads them and writes them back byte for byte, and labels
the same pairs into the same bytes. Run from a checkout of that commit:
``PYTHONPATH=CHECKOUT python tests/data/main_written/make.py OUTDIR`` (CHECKOUT/tests holds its conftest)."""

import sys
from pathlib import Path

import pyarrow.parquet as pq

import rlaif

from rlaif.data.records import write_atomic
from rlaif.distributed.arrow import to_table
from rlaif.evaluation.calibration import Calibration
from rlaif.evaluation.ranking import ranked_records
from rlaif.labeling.labeler import Labeler, LabelerConfig
from rlaif.labeling.scorer import Scorer

PAIRS = [
    {"id": "good-a", "prompt": "q1", "response_a": "a GOOD reply", "response_b": "a BAD reply", "human_label": 1.0},
    {"id": "same", "prompt": "q2", "response_a": "same reply", "response_b": "same reply", "human_label": None},
    {"id": "good-b", "prompt": "q3", "response_a": "plain", "response_b": "GOOD one", "human_label": 0.0},
    {"id": "tie", "prompt": "q4", "response_a": "plain", "response_b": "also plain", "human_label": 0.5},
]
UNLABELLED = [dict(p, human_label=None) for p in PAIRS]
CANDIDATE_PAIRS = [
    {"id": f"g:{a}-{b}", "prompt": "q", "response_a": ra, "response_b": rb, "human_label": None, "group": "g",
     "candidate_a": a, "candidate_b": b}
    for a, b, ra, rb in [(0, 1, "a GOOD reply", "plain"), (1, 2, "plain", "a BAD reply"), (0, 3, "a GOOD reply", "")]]


sys.path.insert(0, str(Path(rlaif.__file__).parents[1] / "tests"))
from conftest import ScriptedJudge  # noqa: E402  (the checkout's controlled judge)


def labels(records, judge=None, **cfg):
    calibration = Calibration(temperature=2.0) if cfg.pop("calibrated", False) else None
    return Labeler(judge or ScriptedJudge(), LabelerConfig(**cfg), calibration=calibration).label(records)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sets = {
        "labels": labels(PAIRS),
        "labels-one-order": labels(PAIRS, orders="ab"),
        "labels-calibrated": labels(PAIRS, calibrated=True),
        "labels-token-missing": labels(PAIRS, ScriptedJudge(drop="2"), calibrated=True),
        "labels-unlabelled-input": labels(UNLABELLED),
        "labels-all-errors": labels([dict(p, response_b=p["response_a"]) for p in UNLABELLED]),
        "scores": Scorer(ScriptedJudge()).score_records(
            [{"id": "s1", "prompt": "q", "response": "a GOOD reply"}, {"id": "s2", "prompt": "q", "response": ""}]),
    }
    cand = labels(CANDIDATE_PAIRS)
    sets["ranked"] = ranked_records(cand, None, by="bt")
    for name, rows in sets.items():
        write_atomic(out / f"{name}.jsonl", rows)
        write_atomic(out / f"{name}.parquet", rows)
        if name.startswith("labels") or name == "scores":
            pq.write_table(to_table(rows), out / f"{name}.shard.parquet")  # as the Ray engine writes shards


if __name__ == "__main__":
    main(Path(sys.argv[1]))
