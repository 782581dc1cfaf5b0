"""The Ray engine against the local engine on this machine (a benchmark, not a test): pairs/s of the
embedded judge (or --judge) on the same HH pairs, local vs Ray with 1 and 2 workers, with Ray's
start-up and the actors' start (judge load) shown apart from the labelling rate.

    python bench/bench_ray.py [--pairs 40] [--workers 1,2] [--chunk-size 4] [--judge SPEC]

Each configuration writes to a fresh temporary folder; the labels of every Ray run are checked
against the local engine's (max |delta p_a| is printed).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rlaif.core.cpu import describe_cpu, read_cpuinfo

HERE = Path(__file__).resolve()
DEFAULT_DATA = HERE.parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--chunk-size", type=int, default=4)
    ap.add_argument("--judge", default=None)
    args = ap.parse_args()

    import ray

    from rlaif.data.records import read_records
    from rlaif.distributed import RayOptions, read_dir, start_ray
    from rlaif.distributed.engine import ray_job
    from rlaif.jobs.pipeline import label_file
    from rlaif.jobs.spec import JudgeSpec, LabelJob, RunOptions

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    src = tmp / "in.jsonl"
    with open(args.data) as fh, open(src, "w") as out:
        out.writelines(line for _, line in zip(range(args.pairs), fh))

    def job(output: Path) -> LabelJob:
        return LabelJob(run=RunOptions(input=str(src), output=str(output), chunk_size=args.chunk_size, progress=False),
                        judge=JudgeSpec(spec=args.judge))

    print(f"{args.pairs} HH pairs, both orders, judge {args.judge or 'embedded'}\n{describe_cpu(read_cpuinfo())}\n")
    t = time.perf_counter()
    local = label_file(job(tmp / "local.jsonl"))
    total = time.perf_counter() - t
    want = {r["id"]: r["p_a"] for r in read_records(tmp / "local.jsonl")}
    rows = [("local (1 process, all cores)", "-", f"{total - local.seconds:.1f}", local.done_now / local.seconds,
             local.done_now / total, local.done_now / total, 0.0)]

    t = time.perf_counter()
    start_ray(num_cpus=os.cpu_count())
    startup = time.perf_counter() - t
    for n in map(int, args.workers.split(",")):
        out = tmp / f"ray-{n}"
        s, ex = ray_job(job(out), RayOptions(workers=n, shard_rows=args.chunk_size * n))
        steady = (s.done_now - args.chunk_size) / (s.seconds - ex.first)
        delta = max(abs(r["p_a"] - want[r["id"]]) for r in read_dir(out))
        rows.append((f"ray, {n} worker{'s' * (n > 1)}", f"{startup:.1f}", f"{ex.first:.1f}", steady,
                     s.done_now / s.seconds, s.done_now / (s.seconds + startup), delta))
    ray.shutdown()

    head = ("engine", "ray start s", "load s", "steady pairs/s", "pairs/s (with load)", "pairs/s (all)", "max |dp_a|")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, st, load, steady, rate, whole, delta in rows:
        print(f"| {name} | {st} | {load} | {steady:.2f} | {rate:.2f} | {whole:.2f} | {delta:.1e} |")
    print("\nload s: local = judge load; ray = until the first batch came back (actors start, load the judge, "
          "label one batch).\nsteady: rows after the first batch / time after it.")


if __name__ == "__main__":
    main()
