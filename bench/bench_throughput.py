"""Benchmark (not a test): labelling throughput of the embedded judge against this machine's FLOP bound.

For each engine and setting, on the same HH dev pairs (default labeler, both orders, soft labels): pairs/s,
prompt tokens rendered and evaluated per pair, evaluated tokens/s, and the fraction of the bound, where
bound = (matmul GFLOP/s of this machine in the engine's dtype, measured in this run with torch)
        / (model FLOP per token, C = 2N + 2 n_layer n_ctx d_attn: Kaplan et al. 2020, Table 1).
Settings of one engine and weight format must give the same labels (max |dp| <= 1e-4, checked); other
formats are compared with the exact stored weights (llama.cpp f32). The generate-and-parse baseline (the judge
writes a short rationale, then answers; the answer is parsed) runs on the same model for the ratio.

    python bench/bench_throughput.py [--pairs 100] [--parse-pairs 20] [--rationale-tokens 48,96] [--only N,...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from rlaif.core.cpu import describe_cpu, read_cpuinfo
from rlaif.data import load_pairs
from rlaif.judges import load_judge
from rlaif.labeling.labeler import Labeler, LabelerConfig
from two_streams import TwoStreamJudge

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"

# name, judge spec, backend options, dtype of the matmuls, family (same family: labels must match)[, rows per
# labeller call, as the CLI's --chunk-size: 8 unless given (the CLI's default was 8; it is 32 since this table)]
SETTINGS = [
    ("llamacpp q4_1 (stored), prefix reuse", "llamacpp:embedded", {"weights": "stored"}, "int8", "q4_1"),
    ("llamacpp f32, prefix reuse", "llamacpp:embedded", {"weights": "f32"}, "fp32", "f32"),
    ("llamacpp bf16, whole prompts, 1 context", "llamacpp:embedded", {"reuse_prefix": False, "contexts": 1}, "bf16", "bf16"),
    ("llamacpp bf16, prefix reuse, 1 context x 2 threads", "llamacpp:embedded", {"contexts": 1}, "bf16", "bf16"),
    ("llamacpp bf16, prefix reuse, 2 contexts x 1 thread", "llamacpp:embedded", {}, "bf16", "bf16"),
    ("llamacpp bf16, prefix reuse, 2 contexts x 1 thread, 32-row chunks (the default)", "llamacpp:embedded", {},
     "bf16", "bf16", 32),
    ("llamacpp bf16, a pair's two orders per llama_decode (bench/two_streams.py), 2 contexts x 1 thread, 32-row chunks",
     "llamacpp:embedded", {"two_streams": True}, "bf16", "bf16", 32),
    ("transformers fp32, whole prompts, batch 8", "hf:embedded", {"dtype": "float32", "reuse_prefix": False}, "fp32",
     "hf-fp32"),
    ("transformers fp32, shared-prefix KV cache", "hf:embedded", {"dtype": "float32"}, "fp32", "hf-fp32"),
    ("transformers bf16, whole prompts, batch 8 (auto here)", "hf:embedded", {"dtype": "bfloat16"}, "bf16", "hf-bf16"),
    ("transformers bf16, shared-prefix KV cache", "hf:embedded", {"dtype": "bfloat16", "reuse_prefix": True}, "bf16",
     "hf-bf16"),
    ("transformers bf16, whole prompts, batch 8, 32-row chunks (as the CLI)", "hf:embedded", {"dtype": "bfloat16"},
     "bf16", "hf-bf16", 32),
    ("transformers bf16, whole prompts, batch 8, 32-row chunks, torch.compile", "hf:embedded",
     {"dtype": "bfloat16", "compile": True}, "bf16", "hf-bf16-compile", 32),
]
# the soft-label setting each generate-and-parse baseline is compared with: the same engine with its defaults
PARSE_AGAINST = {"embedded": 5, "hf:embedded": 11}


def matmul_gflops(dtype: str, n: int = 1024, seconds: float = 1.5) -> float:
    """Measured n x n x n matmul rate of this machine on every core (int8: torch._int_mm, int32 accumulate)."""
    torch.set_num_threads(torch.get_num_threads())
    if dtype == "int8":
        a = torch.randint(-128, 127, (n, n), dtype=torch.int8)
        b = torch.randint(-128, 127, (n, n), dtype=torch.int8)
        mm = torch._int_mm
    else:
        dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
        a, b, mm = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt), torch.mm
    mm(a, b)
    t0, reps = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        mm(a, b)
        reps += 1
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def flop_per_token(meta: dict, n_ctx: float) -> float:
    """Forward FLOP per token, 2N + 2 n_layer n_ctx d_attn (N: non-embedding weights; the output layer runs
    only for the one token whose logits are read, so it is left out)."""
    n_layer, d = int(meta["llama.block_count"]), int(meta["llama.embedding_length"])
    d_ff, heads = int(meta["llama.feed_forward_length"]), int(meta["llama.attention.head_count"])
    d_head = d // heads
    d_kv = int(meta["llama.attention.head_count_kv"]) * d_head
    n = n_layer * (2 * d * d + 2 * d * d_kv + 3 * d * d_ff)
    return 2 * n + 2 * n_layer * n_ctx * d


def run(spec: str, options: dict, recs: list, cfg: LabelerConfig, chunk: int = 8) -> dict:
    t0 = time.perf_counter()
    options = dict(options)
    wrap = TwoStreamJudge if options.pop("two_streams", False) else (lambda j: j)
    judge = wrap(load_judge(spec, **options))
    load = time.perf_counter() - t0
    lab = Labeler(judge, cfg)
    t0 = time.perf_counter()
    lab.label(recs[:2])  # warm-up (torch.compile compiles here)
    warm = time.perf_counter() - t0
    judge.usage.prompt_tokens, judge.usage.extra = 0, {}
    t0, out = time.perf_counter(), []
    for s in range(0, len(recs), chunk):  # as the CLI's job runner calls it
        out.extend(lab.label(recs[s:s + chunk]))
    dt = time.perf_counter() - t0
    rendered = judge.usage.prompt_tokens
    evaluated = judge.usage.extra.get("prompt_tokens_evaluated", rendered)
    for llm in getattr(judge, "contexts", []):
        llm.close()
    for streams in getattr(judge, "streams", {}).values():
        streams.ctx.close()
    return {"load": load, "warm": warm, "seconds": dt, "rendered": rendered, "evaluated": evaluated, "out": out}


def probs(out: list) -> np.ndarray:
    return np.array([[r["p_a_first"], r["p_a_second"]] for r in out], dtype=float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--parse-pairs", type=int, default=20, help="pairs for the (slow) generate-and-parse baseline")
    ap.add_argument("--rationale-tokens", default="48,96", help="the parse baseline's rationale lengths (comma-separated)")
    ap.add_argument("--parse-engines", default="embedded,hf:embedded",
                    help="judges the parse baseline runs on (comma-separated); each is compared with the soft "
                         "labels of the same engine and settings (PARSE_AGAINST)")
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--only", default=None, help="comma-separated setting numbers (1-based) to run")
    args = ap.parse_args()
    recs = load_pairs(args.data, limit=args.pairs).records
    rates = {d: matmul_gflops(d) for d in ("fp32", "bf16", "int8")}
    print(machine(rates))
    meta = load_judge("llamacpp:embedded", weights="stored").llm.metadata
    chosen = [int(x) - 1 for x in args.only.split(",")] if args.only else range(len(SETTINGS))
    results = {}
    for i in chosen:
        name, spec, options, dtype, family, *chunk = SETTINGS[i]
        results[name] = r = run(spec, options, recs, LabelerConfig(), *chunk)
        r.update(dtype=dtype, family=family)
        print(f"  done: {name} ({r['seconds']:.0f} s)", flush=True)
    parses = {(spec, int(t)): run(spec, {}, recs[:args.parse_pairs], LabelerConfig(method="parse", cot=True,
                                                                                   cot_max_tokens=int(t)))
              for spec in args.parse_engines.split(",") for t in args.rationale_tokens.split(",")}
    report(results, parses, rates, meta, len(recs))


def machine(rates: dict) -> str:
    """What the figures were measured on: the CPU (model and kernel flags), threads, and the matmul rate per dtype."""
    return (f"{describe_cpu(read_cpuinfo())}; torch {torch.get_num_threads()} threads\n"
            "matmul rate of this machine: " + ", ".join(f"{d} {r:.0f} GFLOP/s" for d, r in rates.items()))


def report(results: dict, parses: dict, rates: dict, meta: dict, n: int) -> None:
    first = {}
    exact = next((r for r in results.values() if r["family"] == "f32"), None)
    print(f"\n{n} HH dev pairs, constitution harmless, default labeler, both orders\n{machine(rates)}")
    print("\n| engine, setting | load s | warm-up s (2 pairs) | pairs/s | rendered tok/pair | evaluated tok/pair | evaluated tok/s | "
          "bound tok/s (dtype) | of bound | max abs dp vs its family's first | max abs dp vs f32 weights |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        ref = first.setdefault(r["family"], r)
        same = np.nanmax(np.abs(probs(r["out"]) - probs(ref["out"])))
        vs_exact = np.nanmax(np.abs(probs(r["out"]) - probs(exact["out"]))) if exact else float("nan")
        tok_s = r["evaluated"] / r["seconds"]
        bound = rates[r["dtype"]] * 1e9 / flop_per_token(meta, r["rendered"] / (2 * n))
        flag = "" if same <= 1e-4 else " (NOT identical)"
        print(f"| {name} | {r['load']:.1f} | {r['warm']:.1f} | {n / r['seconds']:.2f} | {r['rendered'] / n:.0f} | {r['evaluated'] / n:.0f} | "
              f"{tok_s:.0f} | {bound:.0f} ({r['dtype']}) | {tok_s / bound:.0%} | {same:.1e}{flag} | {vs_exact:.1e} |")
    best = max(results.items(), key=lambda kv: n / kv[1]["seconds"])
    print(f"\nfastest soft-label setting: {best[0]}, {n / best[1]['seconds']:.2f} pairs/s")
    for (spec, tokens), parse in parses.items():
        soft_name = SETTINGS[PARSE_AGAINST[spec]][0] if spec in PARSE_AGAINST else None
        if soft_name not in results:
            continue
        soft = results[soft_name]
        m = len(parse["out"])
        rate = m / parse["seconds"]
        nan = sum(r["p_a"] is None for r in parse["out"])
        print(f"generate-and-parse baseline ({spec}, {tokens}-token rationale then an answer, both orders, {m} pairs): "
              f"{rate:.3f} pairs/s, {nan} of {m} without a label; soft labels of the same engine and weights "
              f"({soft_name}) {n / soft['seconds'] / rate:.1f}x faster")

if __name__ == "__main__":
    main()
