"""``rlaif rank``: rank each prompt's candidates from their pairs' soft labels (Bradley-Terry) or the
judge's 1-10 scores, and say how often the two agree on the best."""

from __future__ import annotations

import argparse
import statistics


def rank_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("labels", nargs="?", default=None, help="label records of candidate pairs ('rlaif label --pairs')")
    p.add_argument("-o", "--output", required=True, help="ranked rows, one per prompt: .jsonl or .parquet")
    p.add_argument("--scores", default=None, help="score records of the same candidates ('rlaif score CANDIDATES')")
    p.add_argument("--by", choices=["bt", "score"], default="bt",
                   help="bt: Bradley-Terry fit to the soft labels; score: the judge's expected 1-10 score")


def rank(args: argparse.Namespace) -> int:
    from rlaif.core.errors import RlaifError
    from rlaif.core.schema import RANKED_FIELDS
    from rlaif.data.records import read_records, write_atomic
    from rlaif.evaluation.ranking import best_agreement, ranked_records

    if not args.labels and not args.scores:
        raise RlaifError("give label records (LABELS) or --scores SCORES")
    labels = read_records(args.labels, unique_ids=True) if args.labels else None
    scores = read_records(args.scores, unique_ids=True) if args.scores else None
    ranked = ranked_records(labels, scores, args.by, (str(args.labels), str(args.scores)))
    write_atomic(args.output, ranked, columns=RANKED_FIELDS)
    n = [len(r["responses"]) for r in ranked]
    print(f"ranked {len(ranked)} prompts by {args.by} ({statistics.mean(n) if n else 0:.1f} candidates each) -> "
          f"{args.output}")
    if labels:
        used = [r["pairs_used"] for r in ranked if r["pairs_used"] is not None]
        lls = [r["bt_log_likelihood"] / max(r["pairs_used"], 1) for r in ranked if r["pairs_used"]]
        print(f"Bradley-Terry: {sum(used)} labelled pairs, mean log-likelihood per pair "
              f"{statistics.mean(lls) if lls else float('nan'):.3f} (chance: {-0.693:.3f})")
    same, both = best_agreement(ranked)
    if both:
        print(f"BT-best = score-best in {same} of {both} prompts ({same / both:.0%}; chance with "
              f"{statistics.mean(n):.0f} candidates: {1 / statistics.mean(n):.0%})")
    return 0
