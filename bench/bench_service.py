"""Load on ``rlaif serve`` over loopback (a benchmark, not a test): a fixed count of OpenRLHF
``/get_reward`` calls at several client concurrencies, against the in-process ``JudgeReward`` on the
same items.

Starts ``rlaif serve --no-auth`` on 127.0.0.1 with the embedded judge (or --judge) and stops it at the
end. Every call carries one (prompt, response) from the HH dev slice; the count and time are bounded.

    python bench/bench_service.py [--calls 64] [--concurrency 1,8,32,64] [--max-batch 32] [--max-wait-ms 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "tests"))
DEFAULT_DATA = HERE.parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"


def items(path: str, n: int) -> list[tuple[str, str]]:
    from rlaif.data import load_pairs

    recs = load_pairs(path, limit=n).records
    return [(r["prompt"] + "\n\nAssistant: ", r["response_a"]) for r in recs]


def metric(text: str, name: str) -> float:
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


async def load(url: str, work: list[tuple[str, str]], concurrency: int) -> dict:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=600) as client:
        before = (await client.get(url + "/metrics")).text

        async def one(prompt: str, response: str) -> None:
            nonlocal errors
            async with sem:
                t = time.perf_counter()
                r = await client.post(url + "/get_reward", json={"query": [prompt + response], "prompts": [prompt]})
                lat.append(time.perf_counter() - t)
                errors += r.status_code != 200
        t0 = time.perf_counter()
        await asyncio.gather(*(one(p, r) for p, r in work))
        wall = time.perf_counter() - t0
        after = (await client.get(url + "/metrics")).text
    calls = metric(after, "rlaif_batches") - metric(before, "rlaif_batches")
    q = statistics.quantiles(lat, n=100)
    return {"rps": len(work) / wall, "p50": q[49], "p95": q[94], "p99": q[98], "batch": len(work) / max(calls, 1),
            "errors": errors}


def in_process(work: list[tuple[str, str]], judge: str | None) -> float:
    from rlaif.integrations.trl import JudgeReward

    reward = JudgeReward(judge, batch_size=32)
    t0 = time.perf_counter()
    reward.rewards([p for p, _ in work], [r for _, r in work])
    return len(work) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=64)
    ap.add_argument("--concurrency", default="1,8,32,64")
    ap.add_argument("--max-batch", default="32")
    ap.add_argument("--max-wait-ms", default="10")
    ap.add_argument("--judge", default=None)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    from servers import RlaifServer

    extra = ["--no-auth", "--max-batch", args.max_batch, "--max-wait-ms", args.max_wait_ms]
    extra += ["--judge", args.judge] if args.judge else []
    base = items(args.data, args.calls)
    srv = RlaifServer(tempfile.mkdtemp(prefix="rlaif-bench-"), *extra)
    try:
        print(f"{args.calls} get_reward calls (1 item each), max-batch {args.max_batch}, max-wait {args.max_wait_ms} ms")
        print(f"{'clients':>7} {'req/s':>7} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} {'batch':>6} {'errors':>6}")
        for i, c in enumerate(int(x) for x in args.concurrency.split(",")):
            work = [(p + f"[{i}] ", r) for p, r in base]  # new text each round: nothing cached
            m = asyncio.run(load(srv.url, work, c))
            print(f"{c:>7} {m['rps']:>7.2f} {m['p50']:>7.2f} {m['p95']:>7.2f} {m['p99']:>7.2f} {m['batch']:>6.1f} "
                  f"{m['errors']:>6}")
    finally:
        srv.close()
    ips = in_process(base, args.judge)
    print(f"in-process JudgeReward on the same {len(base)} items: {ips:.2f} items/s "
          f"(service at the highest concurrency / in-process: {m['rps'] / ips:.2f})")


if __name__ == "__main__":
    main()
