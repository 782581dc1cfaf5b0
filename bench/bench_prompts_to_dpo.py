"""Prompts to DPO rows with the real CLI (a benchmark, not a test): ``rlaif generate`` → ``label --pairs``
→ ``score`` → ``rank`` → ``export-dpo``, timing each step, on the first N prompts of the HH dev slice.

    python bench/bench_prompts_to_dpo.py [--prompts 20] [-n 4] [--max-new-tokens 256] [--pairs all]

Prints the generation rate (tokens/s), the labelling and scoring rates, how often the Bradley-Terry best
and the score best agree, and the time of the whole run. Policy and judge: the embedded model unless
--policy/--judge are given.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rlaif.core.cpu import describe_cpu, read_cpuinfo

HERE = Path(__file__).resolve()
DEFAULT_DATA = HERE.parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"


def step(name: str, args: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "rlaif", *args, *(["--no-progress"] if name in ("generate", "label",
                       "score") else [])], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"{name} failed: {p.stderr}")
    return time.perf_counter() - t, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("-n", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--pairs", default="all")
    ap.add_argument("--policy", default=None)
    ap.add_argument("--judge", default=None)
    args = ap.parse_args()

    from rlaif.data.records import read_records

    w = Path(tempfile.mkdtemp(prefix="bench-p2d-"))
    pol = ["--policy", args.policy] if args.policy else []
    jud = ["--judge", args.judge] if args.judge else []
    times = {}
    times["generate"], _ = step("generate", ["generate", args.data, "-o", str(w / "c.jsonl"), "--limit",
                                             str(args.prompts), "-n", str(args.n), "--max-new-tokens",
                                             str(args.max_new_tokens), *pol])
    times["label"], _ = step("label", ["label", str(w / "c.jsonl"), "-o", str(w / "l.jsonl"), "--pairs", args.pairs, *jud])
    times["score"], _ = step("score", ["score", str(w / "c.jsonl"), "-o", str(w / "s.jsonl"), *jud])
    times["rank"], rank_out = step("rank", ["rank", str(w / "l.jsonl"), "--scores", str(w / "s.jsonl"), "-o",
                                           str(w / "r.jsonl")])
    times["export-dpo"], _ = step("export-dpo", ["export-dpo", str(w / "r.jsonl"), "-o", str(w / "d.jsonl")])

    cands, labels, scores = (read_records(w / f) for f in ("c.jsonl", "l.jsonl", "s.jsonl"))
    from transformers import AutoTokenizer  # token counts of the responses with the embedded tokenizer

    from rlaif.judges import embedded_gguf
    tok = AutoTokenizer.from_pretrained(str(embedded_gguf().parent), gguf_file=embedded_gguf().name)
    tokens = sum(len(tok(r, add_special_tokens=False)["input_ids"]) for c in cands for r in c["responses"])
    print(f"{args.prompts} prompts x n={args.n}, max {args.max_new_tokens} new tokens, pairs {args.pairs}; "
          f"files in {w}\n")
    print(f"{describe_cpu(read_cpuinfo())}\n| step | seconds (incl. start-up) | rate |\n|---|---|---|")
    print(f"| generate | {times['generate']:.0f} | {tokens / times['generate']:.1f} tokens/s ({tokens} tokens, "
          f"{len(cands) * args.n} responses) |")
    print(f"| label --pairs {args.pairs} | {times['label']:.0f} | {len(labels) / times['label']:.2f} pairs/s "
          f"({len(labels)} pairs, both orders) |")
    print(f"| score | {times['score']:.0f} | {len(scores) / times['score']:.2f} responses/s ({len(scores)}) |")
    print(f"| rank + export-dpo | {times['rank'] + times['export-dpo']:.0f} | |")
    print(f"| **whole run** | **{sum(times.values()):.0f}** | |\n")
    print(rank_out.strip())


if __name__ == "__main__":
    main()
