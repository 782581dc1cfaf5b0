"""Command-line options shared by several subcommands: checked number types, the judge flags (one per
backend option, from the judge registry), the job flags, and turning them into job specs."""

from __future__ import annotations

import argparse
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rlaif.core.errors import RlaifError
from rlaif.jobs.spec import DEFAULT_CHUNK_SIZE, JudgeSpec, RunOptions

M = TypeVar("M", bound=BaseModel)


def _number(kind: type, low: float, strict: bool, what: str, high: float | None = None):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < low or (strict and value == low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value
    return parse


positive_int = _number(int, 1, False, "a whole number of at least 1")
non_negative_int = _number(int, 0, False, "a whole number of at least 0")
positive_float = _number(float, 0.0, True, "a number above 0")
non_negative_float = _number(float, 0.0, False, "a number of at least 0")
fraction = _number(float, 0.0, False, "in [0, 1]", high=1.0)


def add_judge_args(p: argparse.ArgumentParser, role: str = "judge") -> None:
    """``--judge`` (or ``--policy``) and one flag per backend option (see ``rlaif.judges.registry``)."""
    from rlaif.judges.registry import cli_options

    p.add_argument(f"--{role}", default=None, help=f"{role} spec (see 'rlaif judges'); default: embedded")
    for name, (typ, choices, help_text, _) in cli_options().items():
        flag = "--" + name.replace("_", "-")
        if typ is bool:
            p.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            # ranges are checked by the backend's options model (one line naming the option)
            p.add_argument(flag, type=typ, choices=choices, default=None, help=help_text)


def add_job_args(p: argparse.ArgumentParser) -> None:
    """Options shared by the resumable batch jobs (label, score)."""
    p.add_argument("-o", "--output", required=True, help="output .jsonl or .parquet, or a folder with --engine ray (re-run to resume)")
    p.add_argument("--limit", type=positive_int, default=None, help="process only the first N rows")
    p.add_argument("--split", default=None, help="split of a saved DatasetDict")
    p.add_argument("--chunk-size", type=positive_int, default=DEFAULT_CHUNK_SIZE,
                   help=f"rows per durable write and judge call (default {DEFAULT_CHUNK_SIZE})")
    p.add_argument("--skip-invalid", action="store_true", help="write bad input rows with the reason and go on "
                   "(they are tried again on every run, so a fixed row gets labelled)")
    p.add_argument("--repair", action="store_true", help="move unreadable lines and repeated ids of an existing "
                   "OUTPUT to OUTPUT.rejected.jsonl instead of stopping")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine ray`` and its settings (see ``rlaif.distributed.spec.RayOptions``)."""
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process; ray: a pool of Ray actors, OUTPUT is then a folder of Parquet shards")
    p.add_argument("--workers", type=positive_int, default=1, help="ray: judge actors (each loads the judge once)")
    p.add_argument("--gpus-per-worker", type=non_negative_float, default=0,
                   help="ray: GPUs per actor (a vllm judge runs tensor parallel over them)")
    p.add_argument("--cpus-per-worker", type=positive_float, default=None,
                   help="ray: CPUs per actor (default: the cluster's CPUs split between the workers)")
    p.add_argument("--ray-address", default=None, help="ray: cluster to join ('auto' or ray://HOST:PORT); "
                   "default: start a local Ray")
    p.add_argument("--shard-rows", type=positive_int, default=512, help="ray: rows per output shard")


def ray_options(args: argparse.Namespace):
    from rlaif.distributed.spec import RayOptions

    return build(RayOptions, address=args.ray_address, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                 cpus_per_worker=args.cpus_per_worker, shard_rows=args.shard_rows)


def judge_spec(args: argparse.Namespace, role: str = "judge") -> JudgeSpec:
    """The judge spec from ``--judge`` (or ``--policy``) and the backend flags given; a flag that does not
    apply to that backend is a one-line error (checked by the registry, before anything loads)."""
    from rlaif.judges.registry import check_options, cli_options

    spec = getattr(args, role)
    given = {n: getattr(args, n) for n in cli_options() if getattr(args, n, None) is not None}
    return JudgeSpec(spec=spec, options=check_options(spec, given))


def run_options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(input=str(args.input), output=str(args.output), limit=args.limit, split=args.split,
                      chunk_size=args.chunk_size, skip_invalid=args.skip_invalid, repair=args.repair,
                      progress=not args.no_progress)


def build(model: type[M], **data: Any) -> M:
    """``model(**data)``; a bad value is a one-line error naming the flag (``--ensemble-k: ...``)."""
    try:
        return model(**data)
    except ValidationError as e:
        err = e.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        where = f"--{str(err['loc'][-1]).replace('_', '-')}: " if err["loc"] else ""
        raise RlaifError(where + msg) from None
