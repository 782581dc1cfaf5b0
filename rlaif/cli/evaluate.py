"""``rlaif compare`` and ``rlaif calibrate``: AI labels against human labels."""

from __future__ import annotations

import argparse

from rlaif.cli.options import fraction


def compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("labels", help="label records from 'rlaif label' (.jsonl or .parquet)")
    p.add_argument("--human", default=None, help="separate human labels: file with columns id, human_label")
    p.add_argument("-o", "--out-dir", default=None, help="report folder (default: LABELS stem + '-report')")
    p.add_argument("--title", default=None, help="report title")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the intervals")
    p.add_argument("--against", default=None, help="label records of the same pairs under another template or "
                   "judge: the audit adds their agreement and the difference in alignment with humans")
    p.add_argument("--self-source", default=None, metavar="NAME", help="the source_a/source_b name of the judge's "
                   "own responses, for the self-preference audit (default: each row's judge id)")


def compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rlaif.evaluation.compare import load_for_compare, panel_rows, summary_rows, write_report

    out = Path(args.out_dir or Path(args.labels).with_name(Path(args.labels).stem + "-report"))
    recs = load_for_compare(args.labels, args.human)
    other = load_for_compare(args.against, args.human) if args.against else None
    f = write_report(recs, out, title=args.title or f"AI vs human labels: {Path(args.labels).name}", n_boot=args.bootstrap,
                     against=other, self_source=args.self_source)
    lines = summary_rows(f) + [(f"audit: {k}", v) for k, v in f["audit"]["verdicts"].items()]
    lines += [(f"panel: {what}", f"{v}  [{who}]") for what, who, v in (panel_rows(f["panel"]) if "panel" in f else [])]
    width = max(len(k) for k, _ in lines)  # who (judge ids, long) goes last: the names column stays narrow
    for k, v in lines:
        print(f"{k:{width}s}  {v}")
    print(f"\nreport: {out / 'report.md'} and {out / 'report.html'}; figures: {out / 'figures.json'}")
    return 0


def calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("labels", help="label records with human labels")
    p.add_argument("-o", "--output", required=True, help="calibration JSON to write (use with 'rlaif label --calibration')")
    p.add_argument("--human", default=None, help="separate human labels: file with columns id, human_label")
    p.add_argument("--fit-fraction", type=fraction, default=0.5, help="share of rows used to fit; the rest evaluate")
    p.add_argument("--bias", action="store_true", help="fit a bias term as well as the temperature")
    p.add_argument("--seed", type=int, default=0, help="split seed")
    p.add_argument("--member", metavar="JUDGE", default=None, help="a panel's label file: fit this member judge "
                   "(its id, as in the rows' 'panel' field) on its own p_a, for 'rlaif label --calibration'")


def calibrate(args: argparse.Namespace) -> int:
    from rlaif.evaluation.calibration import dumps, fit_and_evaluate
    from rlaif.evaluation.compare import load_for_compare
    from rlaif.evaluation.panel_agreement import member_records

    records = load_for_compare(args.labels, args.human)
    if args.member:
        records = member_records(records, args.member)
    cal, report = fit_and_evaluate(records, args.fit_fraction, args.seed, args.bias)
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
