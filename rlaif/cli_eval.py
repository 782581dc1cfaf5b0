"""Evaluation subcommands: ``rlaif compare`` and ``rlaif calibrate``."""

from __future__ import annotations

import argparse

from rlaif.cli import command, fraction


@command("compare", "compare AI soft labels with human labels; writes a Markdown/HTML report with plots")
def _compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("labels", help="label records from 'rlaif label' (.jsonl or .parquet)")
    p.add_argument("--human", default=None, help="separate human labels: file with columns id, human_label")
    p.add_argument("-o", "--out-dir", default=None, help="report folder (default: LABELS stem + '-report')")
    p.add_argument("--title", default=None, help="report title")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the intervals")


@_compare_args.run
def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rlaif.evaluation.compare import load_for_compare, summary_rows, write_report

    out = Path(args.out_dir or Path(args.labels).with_name(Path(args.labels).stem + "-report"))
    recs = load_for_compare(args.labels, args.human)
    f = write_report(recs, out, title=args.title or f"AI vs human labels: {Path(args.labels).name}", n_boot=args.bootstrap)
    width = max(len(k) for k, _ in summary_rows(f))
    for k, v in summary_rows(f):
        print(f"{k:{width}s}  {v}")
    print(f"\nreport: {out / 'report.md'} and {out / 'report.html'}; figures: {out / 'figures.json'}")
    return 0


@command("calibrate", "fit a temperature (and bias) to human labels; report ECE before/after on held-out rows")
def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("labels", help="label records with human labels")
    p.add_argument("-o", "--output", required=True, help="calibration JSON to write (use with 'rlaif label --calibration')")
    p.add_argument("--human", default=None, help="separate human labels: file with columns id, human_label")
    p.add_argument("--fit-fraction", type=fraction, default=0.5, help="share of rows used to fit; the rest evaluate")
    p.add_argument("--bias", action="store_true", help="fit a bias term as well as the temperature")
    p.add_argument("--seed", type=int, default=0, help="split seed")


@_calibrate_args.run
def _calibrate(args: argparse.Namespace) -> int:
    from rlaif.evaluation.calibration import dumps, fit_and_evaluate
    from rlaif.evaluation.compare import load_for_compare

    cal, report = fit_and_evaluate(load_for_compare(args.labels, args.human), args.fit_fraction, args.seed, args.bias)
    cal.save(args.output)
    b, a = report["before"], report["after"]
    print(f"fitted T={cal.temperature:.3f} bias={cal.bias:.3f} on {report['fit_rows']} rows; "
          f"held-out {report['held_out_rows']} rows:")
    for k in ("ece", "log_loss", "brier", "accuracy"):
        print(f"  {k:9s} before {b[k]:.4f}  after {a[k]:.4f}")
    print(f"saved {args.output}")
    if args.output.endswith(".json"):
        from pathlib import Path

        Path(args.output[:-5] + ".report.json").write_text(dumps(report))
    return 0


@command("score", "rate single responses 1-10 with the judge (direct RLAIF); writes score, reward in [-1, 1]")
def _score_args(p: argparse.ArgumentParser) -> None:
    from rlaif.cli import add_job_args, add_judge_args

    p.add_argument("input", help="rows with prompt and response (or completion): .jsonl, .parquet, .csv, dataset")
    p.add_argument("-o", "--output", required=True, help="output .jsonl or .parquet (re-run to resume)")
    p.add_argument("--constitution", default="helpful", help="constitution whose principles are the criteria")
    p.add_argument("--template", default="score", help="rating template")
    p.add_argument("--max-prompt-tokens", type=int, default=None, help="cut longer contexts from the left")
    add_job_args(p)
    add_judge_args(p)


@_score_args.run
def _score(args: argparse.Namespace) -> int:
    import hashlib
    import json

    from rlaif.cli import judge_options
    from rlaif.labeling.constitutions import load_constitution
    from rlaif.data.normalise import normalise_single
    from rlaif.jobs.runner import run_job
    from rlaif.judges import load_judge
    from rlaif.core.schema import INVALID_INPUT
    from rlaif.labeling.scorer import Scorer, ScorerConfig

    cfg = ScorerConfig(constitution=args.constitution, template=args.template, max_prompt_tokens=args.max_prompt_tokens)
    load_constitution(cfg.constitution)
    scorer = Scorer(load_judge(args.judge, **judge_options(args)), cfg)
    chash = hashlib.sha256(json.dumps([cfg.model_dump(), scorer.judge.judge_id, scorer.template_tag, scorer.text,
                                       scorer.criteria], sort_keys=True).encode()).hexdigest()[:16]
    meta = {"judge": scorer.judge.judge_id, "constitution": scorer.constitution.name,
            "template": scorer.template_tag, "config_hash": chash}

    def process(rows):
        res = scorer.score([(r["prompt"], r["response"]) for r in rows])
        return [{**r, **x, **meta} for r, x in zip(rows, res)]

    def invalid_row(rid, msg):
        return {"id": rid, "prompt": "", "response": "", "score": None, "reward": None, "probs": None,
                "entropy": None, "truncated": False, "error": INVALID_INPUT + msg, **meta}

    summary = run_job(args.input, args.output, process, chash, limit=args.limit, split=args.split,
                      chunk_size=args.chunk_size, skip_invalid=args.skip_invalid, invalid_row=invalid_row,
                      progress=not args.no_progress, desc="scoring", normalise=normalise_single,
                      value_field="reward", missing_name="unscored rows", repair=args.repair)
    print("\n".join(summary.lines()))
    return 0
