"""Benchmark (not a test): the transformers judge's attention kernel (sdpa, eager) and batch shape (size, padding cap) on this CPU.

Labels the same HH dev pairs (default labeler, both orders, whole prompts as the judge's default in bf16) per
kernel and batch size, and prints pairs/s, the share of evaluated tokens that are padding, and the labels'
max |dp| against the first row (the default: sdpa, batch 8).

    python bench/hf_kernels.py [--pairs 40] [--dtype bfloat16] [--batch-sizes 8,16] [--kernels sdpa,eager]
        [--max-paddings 1,0.1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rlaif.core.cpu import describe_cpu, read_cpuinfo
from rlaif.data import load_pairs
from rlaif.judges import load_judge
from rlaif.labeling.labeler import Labeler, LabelerConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"


def run(judge, kernel: str, batch: int, padding: float, recs: list) -> tuple[float, np.ndarray, float]:
    """(seconds, p_a per order, padding share of the evaluated tokens)."""
    judge.model.set_attn_implementation(kernel)
    judge.batch_size, judge.max_padding = batch, padding
    lab = Labeler(judge, LabelerConfig())
    lab.label(recs[:2])  # warm-up
    real, padded = 0, 0
    batches = judge._batches

    def counted(texts):
        nonlocal real, padded
        for idx, ids, mask in batches(texts):
            real, padded = real + int(mask.sum()), padded + mask.numel()
            yield idx, ids, mask

    judge._batches = counted
    t0, out = time.perf_counter(), []
    for s in range(0, len(recs), 32):  # the CLI's chunk
        out.extend(lab.label(recs[s:s + 32]))
    dt = time.perf_counter() - t0
    judge._batches = batches
    return dt, np.array([[r["p_a_first"], r["p_a_second"]] for r in out], dtype=float), 1 - real / max(padded, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--batch-sizes", default="8,16")
    ap.add_argument("--kernels", default="sdpa,eager")
    ap.add_argument("--max-paddings", default="1,0.1", help="the judge's max_padding (1: batches cut by count only)")
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    recs = load_pairs(args.data, limit=args.pairs).records
    t0 = time.perf_counter()
    judge = load_judge("hf:embedded", dtype=args.dtype, reuse_prefix=False)
    print(f"{len(recs)} HH dev pairs, default labeler, both orders, whole prompts, {args.dtype}; judge loaded in "
          f"{time.perf_counter() - t0:.1f} s\n{describe_cpu(read_cpuinfo())}\n")
    print("| attention | batch | max padding | pairs/s | padding share | max abs dp vs first row |\n|---|---|---|---|---|---|")
    first = None
    for kernel in args.kernels.split(","):
        for batch in map(int, args.batch_sizes.split(",")):
            for padding in map(float, args.max_paddings.split(",")):
                dt, p, pad = run(judge, kernel, batch, padding, recs)
                first = p if first is None else first
                print(f"| {kernel} | {batch} | {padding:g} | {len(recs) / dt:.2f} | {pad:.1%} | "
                      f"{np.nanmax(np.abs(p - first)):.1e} |", flush=True)


if __name__ == "__main__":
    main()
