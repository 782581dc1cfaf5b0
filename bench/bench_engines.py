"""Benchmark (not a test): label the same pairs with both local engines of the embedded judge.

Prints load time, pairs/second, and agreement with the human labels (debiased p_a and, for
contrast, the single-order figure that position bias inflates).

    python bench/bench_engines.py [--pairs 50] [--data ../shared/data/hh-harmless-dev.jsonl]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rlaif.data import load_pairs
from rlaif.judges import load_judge
from rlaif.labeling.labeler import Labeler, LabelerConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=50)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--engines", default="llamacpp,hf")
    ap.add_argument("--hf-batch-size", type=int, default=8)
    args = ap.parse_args()
    recs = load_pairs(args.data, limit=args.pairs).records
    print(f"{len(recs)} pairs from {args.data}, constitution harmless, default labeler settings\n")
    print(f"{'engine':10s} {'load s':>7s} {'pairs/s':>8s} {'agree(debiased)':>16s} {'agree(1 order)':>15s} {'consistent':>10s}")
    for engine in args.engines.split(","):
        t0 = time.perf_counter()
        opts = {"batch_size": args.hf_batch_size} if engine == "hf" else {}
        judge = load_judge(f"{engine}:embedded", **opts)
        load = time.perf_counter() - t0
        lab = Labeler(judge, LabelerConfig())
        lab.label(recs[:2])  # warm-up
        t0 = time.perf_counter()
        out = []
        for s in range(0, len(recs), 8):
            out.extend(lab.label(recs[s:s + 8]))
        rate = len(out) / (time.perf_counter() - t0)
        ok = [r for r in out if r["error"] is None]
        agree = sum((r["p_a"] > 0.5) == (r["human_label"] > 0.5) for r in ok) / len(ok)
        agree1 = sum((r["p_a_first"] > 0.5) == (r["human_label"] > 0.5) for r in ok) / len(ok)
        cons = sum(bool(r["consistent"]) for r in ok) / len(ok)
        print(f"{engine:10s} {load:7.1f} {rate:8.2f} {agree:16.1%} {agree1:15.1%} {cons:10.1%}")


if __name__ == "__main__":
    main()
