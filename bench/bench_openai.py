"""Throughput of the OpenAI-compatible backend at several concurrencies (a benchmark, not a test).

Without --base-url it starts llama.cpp's server on 127.0.0.1 serving the embedded GGUF.

    python bench/bench_openai.py [--pairs 24] [--concurrency 1,4,16] [--base-url URL --model NAME]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rlaif.data import load_pairs
from rlaif.judges import embedded_gguf, load_judge
from rlaif.labeling.labeler import Labeler, LabelerConfig

HERE = Path(__file__).resolve()
DEFAULT_DATA = HERE.parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=24)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    server = None
    if args.base_url is None:
        sys.path.insert(0, str(HERE.parents[1] / "tests"))
        from servers import LlamaServer

        server = LlamaServer(str(embedded_gguf()))
        args.base_url = server.url
    try:
        recs = load_pairs(args.data, limit=args.pairs).records
        print(f"{len(recs)} pairs ({2 * len(recs)} requests) against {args.base_url}\n")
        print(f"{'concurrency':>11s} {'pairs/s':>8s} {'requests/s':>11s} {'retries':>8s}")
        for c in [int(x) for x in args.concurrency.split(",")]:
            judge = load_judge(f"openai:{args.model}", base_url=args.base_url, concurrency=c)
            lab = Labeler(judge, LabelerConfig(principles="least-harmful"))
            t0 = time.perf_counter()
            lab.label(recs)
            dt = time.perf_counter() - t0
            print(f"{c:11d} {len(recs) / dt:8.2f} {judge.usage.requests / dt:11.2f} {judge.usage.retries:8d}")
    finally:
        if server:
            server.close()


if __name__ == "__main__":
    main()
