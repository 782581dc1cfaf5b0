"""Sampled soft labels against log-prob labels (a benchmark, not a test): on the first N HH dev pairs with the
embedded judge, log-prob labels and ``--method sample`` at K = 8, 32 and 'auto' (answer token only, T = 1):
alignment with humans, ECE, mean |p_sampled - p_logprob|, share of answers naming no label, answers drawn per
prompt, pairs/s; and the compare report's audit verdicts for the log-prob labels.

    python bench/bench_sampled.py [--pairs 100] [--ks 8,32,auto] [--sample-tokens 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
DEFAULT_DATA = HERE.parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--ks", default="8,32,auto")
    ap.add_argument("--sample-tokens", type=int, default=1)
    args = ap.parse_args()

    from rlaif.data.normalise import normalise_row
    from rlaif.evaluation import metrics as M
    from rlaif.evaluation.compare import compute
    from rlaif.judges import load_judge
    from rlaif.labeling.labeler import Labeler, LabelerConfig
    from rlaif.labeling.sampled import SampledLabels

    with open(args.data) as fh:
        rows = [normalise_row(json.loads(line), i, f"hh:{i}") for i, line in zip(range(args.pairs), fh)]
    judge = load_judge("llamacpp:embedded")
    y = np.array([r["human_label"] for r in rows])

    def run(cfg):
        t = time.perf_counter()
        out = Labeler(judge, cfg).label(rows)
        return out, time.perf_counter() - t

    base, secs = run(LabelerConfig())
    p0 = np.array([r["p_a"] for r in base], dtype=float)
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.split(":")[-1].strip()
    print(f"{len(rows)} HH dev pairs, embedded judge, {cpu or platform.processor()} (shared CPU)")
    print(f"{'labels':18s} {'alignment':>9s} {'ECE':>6s} {'mean|dp|':>8s} {'unparsed':>8s} {'K/prompt':>8s} {'pairs/s':>7s}")
    print(f"{'log-prob':18s} {M.accuracy(p0, y):9.3f} {M.ece(p0, y):6.3f} {'':>8s} {'':>8s} {'':>8s} {len(rows) / secs:7.2f}")
    for k in args.ks.split(","):
        s = SampledLabels(samples=k if k == "auto" else int(k), max_new_tokens=args.sample_tokens)
        judge.usage.extra.clear()
        out, secs = run(LabelerConfig(method="sample", sampling=s))
        p = np.array([r["p_a"] for r in out], dtype=float)  # a missing label (None) is NaN here
        ok = ~np.isnan(p)
        drawn = np.mean([r["samples_drawn"] for r in out])
        unparsed = judge.usage.extra.get("unparsed_answers", 0) / max(1, judge.usage.extra.get("sampled_answers", 1))
        print(f"{'sample K=' + k:18s} {M.accuracy(p[ok], y[ok]):9.3f} {M.ece(p[ok], y[ok]):6.3f} "
              f"{np.abs(p[ok] - p0[ok]).mean():8.3f} {unparsed:8.1%} {drawn:8.1f} {len(rows) / secs:7.2f}"
              + (f"  ({(~ok).sum()} NaN)" if (~ok).any() else ""))
    audit = compute(base, n_boot=500)["audit"]
    for name, verdict in audit["verdicts"].items():
        print(f"audit (log-prob): {name}: {verdict}")
    pos, ln = audit["position"], audit["length"]
    print(f"  position: slot 1 won both orders {pos['slot1_both']}x, slot 2 {pos['slot2_both']}x, McNemar p "
          f"{pos['mcnemar_p']:.2g}; P(first slot) {pos['p_first_slot']:.3f}, sign test p {pos['sign_test_p']:.2g}")
    print(f"  length: judge {ln['ai_prefers_longer']:.3f} vs humans {ln['human_prefers_longer']:.3f} prefer the longer, "
          f"excess {ln['excess']:+.3f} 95% CI [{ln['excess_ci95'][0]:+.3f}, {ln['excess_ci95'][1]:+.3f}], McNemar p {ln['mcnemar_p']:.2g}")


if __name__ == "__main__":
    main()
