"""Benchmark (not a test): does llama.cpp's ``use_extra_bufts`` (ggml-cpu's extra buffer types: AMX where built
for it, the "repack" kernels on x86 and Arm) change the embedded judge's speed or labels on this CPU?

For each weight format, the same HH dev pairs are labelled with extra buffer types on and off (default labeler,
both orders, 2 contexts as the default judge), alternating twice to spread the noise of a shared machine.

    python bench/extra_buffers.py [--pairs 40] [--weights bf16,stored] [--rounds 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rlaif.core.cpu import describe_cpu, read_cpuinfo
from rlaif.data import load_pairs
from rlaif.judges import embedded_gguf
from rlaif.judges.llamacpp import LlamaCppJudge, ident
from rlaif.labeling.labeler import Labeler, LabelerConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"


def label(weights: str, extra: bool, recs: list) -> tuple[float, np.ndarray, float]:
    """(load seconds, p_a per order, labelling seconds) with extra buffer types on or off."""
    t0 = time.perf_counter()
    judge = LlamaCppJudge(embedded_gguf(), weights=weights, extra_bufts=extra, judge_id=ident(embedded_gguf(), weights))
    load = time.perf_counter() - t0
    lab = Labeler(judge, LabelerConfig())
    lab.label(recs[:2])  # warm-up
    t0, out = time.perf_counter(), []
    for s in range(0, len(recs), 32):  # the CLI's chunk
        out.extend(lab.label(recs[s:s + 32]))
    dt = time.perf_counter() - t0
    for llm in judge.contexts:
        llm.close()
    return load, np.array([[r["p_a_first"], r["p_a_second"]] for r in out], dtype=float), dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--weights", default="bf16,stored")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    recs = load_pairs(args.data, limit=args.pairs).records
    print(f"{len(recs)} HH dev pairs, default labeler, both orders\n{describe_cpu(read_cpuinfo())}\n")
    print("| weights | extra buffer types | load s | pairs/s (each round) | max abs dp vs extra off |\n|---|---|---|---|---|")
    for weights in args.weights.split(","):
        runs: dict[bool, list] = {True: [], False: []}
        for _ in range(args.rounds):
            for extra in (True, False):
                runs[extra].append(label(weights, extra, recs))
        for extra in (True, False):
            dp = max(float(np.nanmax(np.abs(r[1] - runs[False][0][1]))) for r in runs[extra])
            rates = ", ".join(f"{len(recs) / r[2]:.2f}" for r in runs[extra])
            print(f"| {weights} | {'on' if extra else 'off'} | {runs[extra][0][0]:.1f} | {rates} | {dp:.1e} |", flush=True)


if __name__ == "__main__":
    main()
