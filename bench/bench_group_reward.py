"""Group rewards for GRPO (a benchmark, not a test): judge cost and wall time of one GRPO batch for
``JudgeReward`` (1-10 scores), ``PairwiseGroupReward(pairs="adjacent")`` and ``(pairs="all")``, at G = 4 and
8 completions per prompt, and how often each pairwise reward's best completion is the score's best.

The embedded model samples the G completions of each of the first N HH dev prompts once (the policy), then
judges them (the same model); every reward gets the same batch, laid out as TRL lays it out (G
consecutive rows per prompt). "judged prompts" counts what the judge evaluates: one per scored
completion (its second, continuation query reuses the KV cache), two per compared pair (both orders).

    python bench/bench_group_reward.py [--prompts 4] [--groups 4,8] [--max-new-tokens 48] [--constitution helpful]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve()
DEFAULT_DATA = HERE.parents[2] / "shared" / "data" / "hh-harmless-dev.jsonl"


class Counting:
    """The judge, counting its calls and the prompts it evaluates (a continuation query does not count)."""

    def __init__(self, judge):
        self.judge, self.calls, self.prompts = judge, 0, 0

    def __getattr__(self, name):
        return getattr(self.judge, name)

    def label_logprobs(self, prompts, labels, continuations=None):
        out = self.judge.label_logprobs(prompts, labels, continuations=continuations)  # a refused call is not counted
        self.calls += 1
        self.prompts += len(prompts) if continuations is None else sum(c == "" for c in continuations)
        return out


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")),
                platform.processor() or "unknown")


def best(values) -> int | None:
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    return max(known)[1] if known else None


def run(name: str, fn, judge: Counting, prompts: list[str], completions: list[str]) -> tuple[dict, list]:
    judge.calls = judge.prompts = 0
    t = time.perf_counter()
    out = fn(prompts=prompts, completions=completions)
    return {"reward": name, "seconds": time.perf_counter() - t, "calls": judge.calls, "prompts": judge.prompts}, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--groups", default="4,8", help="completions per prompt (G), comma-separated")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--constitution", default="helpful", help="for both the scorer and the labeler")
    args = ap.parse_args()

    from rlaif.data import load_pairs
    from rlaif.integrations.trl import JudgeReward, PairwiseGroupReward
    from rlaif.judges import load_judge
    from rlaif.judges.sampling import Sampling
    from rlaif.labeling.labeler import LabelerConfig
    from rlaif.labeling.scorer import ScorerConfig

    print(f"CPU: {cpu_model()}; embedded judge as policy and judge; {args.prompts} HH dev prompts per batch, "
          f"--max-new-tokens {args.max_new_tokens}, constitution {args.constitution}")
    judge = Counting(load_judge("llamacpp:embedded"))
    texts = [r["prompt"] for r in load_pairs(args.data, limit=args.prompts).records]
    print("| G | reward | judge calls | judged prompts per group | seconds per batch | best = score-best |")
    print("|---|---|---|---|---|---|")
    for g in (int(x) for x in args.groups.split(",")):
        t = time.perf_counter()
        samples = judge.sample([[{"role": "user", "content": p}] for p in texts],
                               Sampling(n=g, max_new_tokens=args.max_new_tokens, seed=0))
        sampled = time.perf_counter() - t
        prompts = [p for p in texts for _ in range(g)]
        completions = [c for cs in samples for c in cs]
        rewards = {"JudgeReward": JudgeReward(judge, ScorerConfig(constitution=args.constitution), batch_size=4096)}
        for pairs in ("adjacent", "all"):
            rewards[f"PairwiseGroupReward({pairs})"] = PairwiseGroupReward(
                judge=judge, pairs=pairs, config=LabelerConfig(constitution=args.constitution), num_generations=g)
        results, outs = [], {}
        for name, fn in rewards.items():
            res, outs[name] = run(name, fn, judge, prompts, completions)
            results.append(res)
        score_best = [best(outs["JudgeReward"][k:k + g]) for k in range(0, len(prompts), g)]
        for res in results:
            mine = [best(outs[res["reward"]][k:k + g]) for k in range(0, len(prompts), g)]
            same = sum(a == b and a is not None for a, b in zip(mine, score_best))
            agree = "—" if res["reward"] == "JudgeReward" else f"{same}/{len(mine)}"
            print(f"| {g} | {res['reward']} | {res['calls']} | {res['prompts'] / len(texts):.0f} | "
                  f"{res['seconds']:.1f} | {agree} |")
        print(f"(G={g}: sampling the {len(completions)} completions took {sampled:.1f} s)")
    print(f"chance that two rankings pick the same best: 1/G; both judged by the same {judge.judge_id}")


if __name__ == "__main__":
    main()
