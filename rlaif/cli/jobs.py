"""``rlaif label``, ``rlaif score`` and ``rlaif generate``: batch jobs over files, each run by ``_run`` through
``rlaif.jobs.pipeline.run_file`` (this process) or ``rlaif.distributed.engine.run_ray_job`` (``--engine ray``).
Their flags are generated from the job's config models (``rlaif.cli.flags``)."""

from __future__ import annotations

import argparse

from rlaif.cli.flags import add_model_args, given, option_of, table
from rlaif.cli.options import add_engine_args, add_job_args, add_judge_args, build, judge_spec, ray_options, run_options
from rlaif.cli.panel import add_calibration_arg, split_judges
from rlaif.cli.recipe import add_config_arg
from rlaif.cli.reasoning_options import add_reasoning_args, reasoning_settings
from rlaif.cli.sample_options import add_sample_args, sample_settings
from rlaif.core.errors import RlaifError


def label_args(p: argparse.ArgumentParser) -> None:
    from rlaif.jobs.spec import LabelJob
    from rlaif.labeling.settings import LabelerConfig

    add_job_args(p, "pairs: .jsonl, .parquet, .csv or a saved Hugging Face dataset folder")
    add_config_arg(p)
    add_model_args(p, LabelerConfig, "labeler", table=table(p))
    add_sample_args(p)
    add_reasoning_args(p)
    add_model_args(p, LabelJob, "job", table=table(p), skip=("calibration",))
    add_calibration_arg(p)
    add_engine_args(p)
    add_judge_args(p, panel=True)


def label(args: argparse.Namespace) -> int:
    from rlaif.data.candidates import parse_strategy
    from rlaif.jobs.spec import LabelJob
    from rlaif.labeling.settings import LabelerConfig

    calibration, panel = split_judges(args)
    cfg = build(LabelerConfig, args, "labeler", sampling=sample_settings(args), reasoning=reasoning_settings(args))
    job = build(LabelJob, args, "job", run=run_options(args), labeler=cfg, calibration=calibration,
                **({"panel": panel} if panel else {"judge": judge_spec(args)}))
    if job.pairs:
        try:
            parse_strategy(job.pairs)
        except ValueError as e:
            raise RlaifError(str(e)) from None
    print("\n".join(_run(job, args).lines()))
    return 0


def _run(job, args: argparse.Namespace):
    """The job on the engine asked for: this process, or Ray (then OUTPUT is a folder of shards); an error a
    setting gets past names its flag."""
    from rlaif.jobs.hints import SettingNeeded

    try:
        if args.engine == "ray":
            from rlaif.distributed.engine import run_ray_job

            return run_ray_job(job, ray_options(args))
        ray = given(args, "ray")
        if ray:
            raise RlaifError(f"{option_of(args, 'ray', ray)} applies to --engine ray only")
        from rlaif.jobs.pipeline import run_file

        return run_file(job)
    except SettingNeeded as e:
        raise e.as_flag() from None


def score_args(p: argparse.ArgumentParser) -> None:
    from rlaif.labeling.settings import ScorerConfig

    add_job_args(p, "rows with prompt and response (or completion): .jsonl, .parquet, .csv, dataset")
    add_config_arg(p)
    add_model_args(p, ScorerConfig, "scorer", table=table(p))
    add_engine_args(p)
    add_judge_args(p)


def score(args: argparse.Namespace) -> int:
    from rlaif.jobs.spec import ScoreJob
    from rlaif.labeling.settings import ScorerConfig

    job = ScoreJob(run=run_options(args), judge=judge_spec(args), scorer=build(ScorerConfig, args, "scorer"))
    print("\n".join(_run(job, args).lines()))
    return 0


def generate_args(p: argparse.ArgumentParser) -> None:
    from rlaif.judges.sampling import Sampling
    from rlaif.labeling.generator import GeneratorConfig

    add_job_args(p, "prompts: rows with a prompt (text or messages), messages, or chosen/rejected pairs (their "
                 "context); .jsonl, .parquet, .csv or a saved dataset")
    add_config_arg(p)
    add_model_args(p, Sampling, "sampling", table=table(p))
    add_model_args(p, GeneratorConfig, "generator", table=table(p))
    add_engine_args(p)
    add_judge_args(p, role="policy")


def generate(args: argparse.Namespace) -> int:
    from rlaif.jobs.spec import GenerateJob
    from rlaif.judges.sampling import Sampling
    from rlaif.labeling.generator import GeneratorConfig

    generator = build(GeneratorConfig, args, "generator", sampling=build(Sampling, args, "sampling"))
    job = GenerateJob(run=run_options(args), policy=judge_spec(args, role="policy"), generator=generator)
    print("\n".join(_run(job, args).lines()))
    return 0
