"""Labeler-variant sweep (like Table 2 of the RLAIF paper), on a sample of the shared HH dev slice.

Each variant labels the same pairs with the embedded judge; the table gives AI-labeler alignment
(debiased, with a bootstrap 95% interval), ECE, position consistency, NaN rows and pairs/second.
Labels of every variant are kept in --out for 'rlaif compare' / 'rlaif calibrate'.

    python bench/sweep.py [--pairs 80] [--out runs/sweep]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from rlaif.core.cpu import describe_cpu, read_cpuinfo
from rlaif.evaluation import metrics as M
from rlaif.data import load_pairs, to_json_line
from rlaif.judges import load_judge
from rlaif.labeling.labeler import Labeler, LabelerConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"
VARIANTS = {
    "base 0-shot (one principle)": dict(principles="least-harmful"),
    "few-shot (2 exemplars)": dict(principles="least-harmful", shots=2),
    "chain-of-thought": dict(principles="least-harmful", cot=True, cot_max_tokens=64),
    "principle sampling": dict(principles="sample"),
    "principle ensemble (all 5)": dict(principles="all"),
    "generate-and-parse baseline": dict(principles="least-harmful", method="parse"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=80)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--judge", default="embedded")
    ap.add_argument("--out", default="runs/sweep")
    ap.add_argument("--only", default=None, help="comma-separated variant numbers (1-based)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recs = load_pairs(args.data, limit=args.pairs).records
    judge = load_judge(args.judge)
    chosen = [int(x) for x in args.only.split(",")] if args.only else range(1, len(VARIANTS) + 1)
    print(f"{len(recs)} pairs, judge {judge.judge_id}, constitution harmless\n{describe_cpu(read_cpuinfo())}\n")
    print("| variant | alignment [95% CI] | ECE | position consistency | NaN | pairs/s |")
    print("|---|---|---|---|---|---|")
    results = {}
    for i, (name, kw) in enumerate(VARIANTS.items(), start=1):
        if i not in chosen:
            continue
        lab = Labeler(judge, LabelerConfig(**kw))
        t0 = time.perf_counter()
        rows = []
        for s in range(0, len(recs), 8):
            rows.extend(lab.label(recs[s:s + 8]))
        rate = len(rows) / (time.perf_counter() - t0)
        (out / f"variant{i}.jsonl").write_text("".join(to_json_line(r) for r in rows))
        p = np.array([r["p_a"] for r in rows], dtype=float)
        y = np.array([r["human_label"] for r in rows], dtype=float)
        ok = ~np.isnan(p)
        acc, ci = M.accuracy(p[ok], y[ok]), M.bootstrap_ci(M.accuracy, p[ok], y[ok])
        cons = np.mean([bool(r["consistent"]) for r in rows if r["consistent"] is not None]) if ok.any() else float("nan")
        e = M.ece(p[ok], y[ok])
        results[name] = {"alignment": acc, "ci95": ci, "ece": e, "consistency": float(cons), "nan": int((~ok).sum()),
                         "pairs_per_s": rate, "file": str(out / f"variant{i}.jsonl")}
        print(f"| {name} | {acc:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | {e:.3f} | {cons:.1%} | {int((~ok).sum())} | {rate:.2f} |",
              flush=True)
    (out / "sweep.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
