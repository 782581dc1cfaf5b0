"""``rlaif train-rm``, ``eval-rm``, ``export-dpo`` and ``train-dpo``: from soft labels to training."""

from __future__ import annotations

import argparse
import json

from rlaif.cli.options import fraction
from rlaif.core.errors import RlaifError


def train_rm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("labels", help="label records from 'rlaif label'")
    p.add_argument("--base", required=True, help="local model dir or GGUF ('embedded' for SmolLM2-135M)")
    p.add_argument("-o", "--output", required=True, help="directory for the reward model")
    p.add_argument("--label-source", choices=["ai", "human"], default="ai", help="AI soft labels or human labels")
    p.add_argument("--min-confidence", type=fraction, default=0.0, help="keep AI pairs with |2p-1| >= this")
    p.add_argument("--eval-fraction", type=fraction, default=0.2, help="held-out share")
    add_train_args(p, epochs=2.0, batch_size=8)
    p.add_argument("--seed", type=int, default=0)


def add_train_args(p: argparse.ArgumentParser, epochs: float, batch_size: int) -> None:
    p.add_argument("--max-length", type=int, default=384, help="tokens per prompt+response (prompt cut from the left)")
    p.add_argument("--epochs", type=float, default=epochs)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lora", action="store_true", help="LoRA adapter (for DPO the reference is the base with it off)")


def train_rm(args: argparse.Namespace) -> int:
    from rlaif.data.records import read_records
    from rlaif.training.reward_model import RMConfig, train_reward_model
    from rlaif.core.schema import check_label_record

    cfg = RMConfig(label_source=args.label_source, min_confidence=args.min_confidence, eval_fraction=args.eval_fraction,
                   max_length=args.max_length, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                   lora=args.lora, seed=args.seed)
    m = train_reward_model(read_records(args.labels, check_label_record, unique_ids=True), args.base, args.output, cfg)
    print(json.dumps({k: v for k, v in m.items() if not k.endswith(("runtime", "per_second"))}, indent=2))
    return 0


def eval_rm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="reward model directory from 'rlaif train-rm'")
    p.add_argument("pairs", help="pairs with human labels (any 'rlaif label' input, or label records)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--ids", default=None, help="file of ids (one per line) to evaluate on, e.g. a held-out split")


def eval_rm(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rlaif.data.sources import load_pairs
    from rlaif.core.errors import RlaifError
    from rlaif.training.reward_model import RewardModelScorer

    recs = [r for r in load_pairs(args.pairs, limit=args.limit).records if r["human_label"] in (0.0, 1.0)]
    if args.ids:
        try:
            keep = set(Path(args.ids).read_text().split())
        except OSError as e:
            raise RlaifError(f"{args.ids}: cannot read ids ({e.strerror})") from None
        recs = [r for r in recs if r["id"] in keep]
    if not recs:
        raise RlaifError(f"{args.pairs}: no pairs with human labels to evaluate on")
    acc, ci = RewardModelScorer(args.model_dir).accuracy_vs_humans(recs)
    print(f"pairwise accuracy vs human labels: {acc:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f}) on {len(recs)} pairs")
    return 0


def export_dpo_args(p: argparse.ArgumentParser) -> None:
    from rlaif.training.dpo import STRATEGIES

    p.add_argument("labels", help="label records from 'rlaif label', or ranked rows from 'rlaif rank'")
    p.add_argument("-o", "--output", required=True, help=".jsonl or .parquet")
    p.add_argument("--min-confidence", type=fraction, default=0.0, help="label records: keep pairs with |2p-1| >= this")
    p.add_argument("--strategy", choices=STRATEGIES, default=None,
                   help="ranked rows: which pairs of each prompt's ranking to write (default best-worst)")
    p.add_argument("--min-margin", type=float, default=0.0,
                   help="ranked rows: keep pairs whose score difference is at least this")


def _export_ranked(args: argparse.Namespace, recs: list) -> int:
    from rlaif.core.schema import DPO_EXPORT_FIELDS
    from rlaif.data.records import write_atomic
    from rlaif.training.dpo import export_ranked_rows

    rows = export_ranked_rows(recs, args.strategy or "best-worst", args.min_margin)
    write_atomic(args.output, rows, columns=DPO_EXPORT_FIELDS + ("margin",))
    print(f"wrote {len(rows)} pairs from {len(recs)} ranked prompts to {args.output} (strategy "
          f"{args.strategy or 'best-worst'}, margin >= {args.min_margin})")
    return 0


def export_dpo(args: argparse.Namespace) -> int:
    from rlaif.data.records import read_records, write_atomic
    from rlaif.training.dpo import export_rows
    from rlaif.core.schema import DPO_EXPORT_FIELDS, check_label_record

    recs = read_records(args.labels, unique_ids=True)
    if recs and "ranked_by" in recs[0]:
        return _export_ranked(args, recs)
    if args.strategy or args.min_margin:
        raise RlaifError(f"{args.labels}: --strategy and --min-margin apply to ranked rows from 'rlaif rank'")
    recs = read_records(args.labels, check_label_record, unique_ids=True)
    rows = export_rows(recs, args.min_confidence)
    write_atomic(args.output, rows, columns=DPO_EXPORT_FIELDS)
    print(f"wrote {len(rows)} of {len(recs)} pairs to {args.output} (dropped: unlabelled, ties, "
          f"confidence below {args.min_confidence})")
    return 0


def train_dpo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="rows from 'rlaif export-dpo'")
    p.add_argument("--base", required=True, help="policy: local causal LM dir or GGUF ('embedded')")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--loss", choices=["soft", "hard", "trl"], default="soft",
                   help="soft target p_chosen; hard: plain DPO (p=1); trl: plain DPO with TRL's DPOTrainer")
    p.add_argument("--beta", type=float, default=0.1)
    add_train_args(p, epochs=1.0, batch_size=4)


def train_dpo(args: argparse.Namespace) -> int:
    from transformers import AutoModelForCausalLM

    from rlaif.data.records import read_records
    from rlaif.training.dpo import DPOConfig, train_dpo
    from rlaif.training.models import load_trainable
    from rlaif.core.schema import check_dpo_row

    rows = read_records(args.data, check_dpo_row)  # before loading the model
    tok, model = load_trainable(AutoModelForCausalLM, args.base)
    cfg = DPOConfig(loss=args.loss, beta=args.beta, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                    max_length=args.max_length, lora=args.lora)
    print(json.dumps(train_dpo(rows, model, tok, args.output, cfg), indent=2))
    return 0
