"""``rlaif label``, ``rlaif score`` and ``rlaif generate``: batch jobs over files, each run by ``_run`` through
``rlaif.jobs.pipeline.run_file`` (this process) or ``rlaif.distributed.engine.run_ray_job`` (``--engine ray``)."""

from __future__ import annotations

import argparse

from rlaif.core.errors import RlaifError
from rlaif.data.candidates import parse_strategy

from rlaif.cli.options import (add_engine_args, add_job_args, add_judge_args, build, fraction, judge_spec,
                               non_negative_float, positive_int, ray_options, run_options)
from rlaif.cli.sample_options import add_sample_args, sample_settings


def label_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="pairs: .jsonl, .parquet, .csv or a saved Hugging Face dataset folder")
    p.add_argument("--constitution", default="harmless", help="constitution name or YAML path")
    p.add_argument("--template", default="pairwise", help="prompt template name or YAML path")
    p.add_argument("--principles", default="sample", help="sample | all | PRINCIPLE_NAME")
    p.add_argument("--ensemble-k", type=int, default=None, help="with --principles all: k seeded principles per pair")
    p.add_argument("--seed", type=int, default=0, help="principle sampling seed")
    p.add_argument("--cot", action="store_true", help="generate a rationale first, then score the label")
    p.add_argument("--cot-max-tokens", type=int, default=128, help="rationale length limit")
    p.add_argument("--shots", type=int, default=0, help="few-shot exemplars")
    p.add_argument("--orders", choices=["both", "ab"], default="both", help="both orders (debiased) or one")
    p.add_argument("--method", choices=["logprob", "parse", "sample"], default="logprob",
                   help="logprob: soft labels from label-token log-probs; parse: generate-and-parse baseline; "
                   "sample: Jeffreys soft labels from sampled answers (judges without log-probs)")
    add_sample_args(p)
    p.add_argument("--calibration", default=None, help="calibration JSON from 'rlaif calibrate' to apply to p_a")
    p.add_argument("--max-prompt-tokens", type=int, default=None, help="cut longer contexts from the left")
    p.add_argument("--pairs", default=None, help="candidate rows from 'rlaif generate': all (n(n-1)/2 pairs), "
                   "adjacent (a cycle of n) or random:K (K seeded pairs per prompt)")
    p.add_argument("--pair-seed", type=int, default=0, help="seed of --pairs random:K")
    add_job_args(p)
    add_engine_args(p)
    add_judge_args(p)


def label(args: argparse.Namespace) -> int:
    from rlaif.jobs.spec import LabelJob
    from rlaif.labeling.labeler import LabelerConfig

    cfg = build(LabelerConfig, constitution=args.constitution, template=args.template, principles=args.principles,
                ensemble_k=args.ensemble_k, seed=args.seed, cot=args.cot, cot_max_tokens=args.cot_max_tokens,
                shots=args.shots, orders=args.orders, max_prompt_tokens=args.max_prompt_tokens, method=args.method,
                sampling=sample_settings(args))
    if args.pairs:
        try:
            parse_strategy(args.pairs)
        except ValueError as e:
            raise RlaifError(str(e)) from None
    job = LabelJob(run=run_options(args), judge=judge_spec(args), labeler=cfg, calibration=args.calibration,
                   pairs=args.pairs, pair_seed=args.pair_seed)
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
        given = [f for f in ("workers", "gpus_per_worker", "cpus_per_worker", "ray_address")
                 if getattr(args, f) not in (None, 0, 1)] + (["shard_rows"] if args.shard_rows != 512 else [])
        if given:
            raise RlaifError(f"--{given[0].replace('_', '-')} applies to --engine ray only")
        from rlaif.jobs.pipeline import run_file

        return run_file(job)
    except SettingNeeded as e:
        raise e.as_flag() from None


def score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="rows with prompt and response (or completion): .jsonl, .parquet, .csv, dataset")
    p.add_argument("--constitution", default="helpful", help="constitution whose principles are the criteria")
    p.add_argument("--template", default="score", help="rating template")
    p.add_argument("--max-prompt-tokens", type=int, default=None, help="cut longer contexts from the left")
    add_job_args(p)
    add_engine_args(p)
    add_judge_args(p)


def score(args: argparse.Namespace) -> int:
    from rlaif.jobs.spec import ScoreJob
    from rlaif.labeling.scorer import ScorerConfig

    cfg = build(ScorerConfig, constitution=args.constitution, template=args.template,
                max_prompt_tokens=args.max_prompt_tokens)
    job = ScoreJob(run=run_options(args), judge=judge_spec(args), scorer=cfg)
    print("\n".join(_run(job, args).lines()))
    return 0


def generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="prompts: rows with a prompt (text or messages), messages, or chosen/rejected pairs "
                   "(their context); .jsonl, .parquet, .csv or a saved dataset")
    p.add_argument("-n", type=positive_int, default=4, help="responses sampled per prompt")
    p.add_argument("--temperature", type=non_negative_float, default=0.8, help="sampling temperature (0: greedy)")
    p.add_argument("--top-p", type=fraction, default=0.95, help="nucleus sampling mass")
    p.add_argument("--max-new-tokens", type=positive_int, default=256, help="longest response in tokens")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (each prompt's seed derives from it)")
    p.add_argument("--system", default=None, help="system message put before every conversation")
    add_job_args(p)
    add_engine_args(p)
    add_judge_args(p, role="policy")


def generate(args: argparse.Namespace) -> int:
    from rlaif.jobs.spec import GenerateJob
    from rlaif.judges.sampling import Sampling
    from rlaif.labeling.generator import GeneratorConfig

    sampling = build(Sampling, n=args.n, temperature=args.temperature, top_p=args.top_p,
                     max_new_tokens=args.max_new_tokens, seed=args.seed)
    job = GenerateJob(run=run_options(args), policy=judge_spec(args, role="policy"),
                      generator=build(GeneratorConfig, sampling=sampling, system=args.system))
    print("\n".join(_run(job, args).lines()))
    return 0
