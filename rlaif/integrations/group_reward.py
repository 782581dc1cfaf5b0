"""Group-relative pairwise rewards for GRPO/RLOO: each prompt's completions compared with each other by the
pairwise labeler (both orders), a soft Bradley-Terry fit per group, one reward per completion.

The pure steps, shared with ``POST /v1/rank`` and ``RemotePairwiseGroupReward``: ``row_groups`` (which rows
of a trainer's batch form a group), ``plan_group`` (distinct candidates and the pairs to judge),
``pair_records`` (one pair record per chosen pair, for the labeler), ``fit_group`` (BT scores from the
labels) and ``group_rewards`` (scores -> rewards).
"""

from __future__ import annotations

import asyncio
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

from rlaif.core.text import as_text
from rlaif.data.candidates import candidate_pairs, parse_strategy
from rlaif.evaluation.bradley_terry import fit, ranks
from rlaif.judges import load_judge
from rlaif.labeling.labeler import Labeler, LabelerConfig

REWARDS = ("centered_bt", "win_rate")


def row_groups(n: int, size: int, offset: int = 0) -> list[range]:
    """The rows of each prompt's group in a batch of ``n`` rows laid out as TRL's ``RepeatSampler`` lays
    them out: ``size`` (= num_generations) consecutive rows per prompt, groups starting at multiples of
    ``size`` in the global batch, of which this batch starts at row ``offset``. Rows are grouped by
    position only, never by prompt text. The first and the last group are partial when the batch cuts
    a group (a process that holds only part of it)."""
    if size < 1:
        raise ValueError(f"num_generations must be >= 1, got {size}")
    starts = sorted({0, *range((-offset) % size, n, size)})
    return [range(a, b) for a, b in zip(starts, starts[1:] + [n]) if b > a]


@dataclass
class GroupPlan:
    """One group: its responses, each response's distinct candidate (None: empty), the candidates'
    first rows, and the candidate pairs (i, j) to judge."""

    prompt: str
    responses: list[str]
    candidate: list[int | None]
    first_row: list[int] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)


def plan_group(prompt: str, responses: Sequence[str], pairs: str = "adjacent", seed: int = 0) -> GroupPlan:
    """Distinct non-empty responses (the labeler's rule: equal after stripping whitespace) become the
    candidates; ``pairs`` (all, adjacent or random:K, see ``candidate_pairs``) chooses which of them
    the judge compares. Identical responses share a candidate, so they are never judged against each other."""
    name, k = parse_strategy(pairs)
    seen: dict[str, int] = {}
    plan = GroupPlan(prompt, list(responses), [])
    for row, text in enumerate(responses):
        key = text.strip()
        if not key:
            plan.candidate.append(None)
            continue
        if key not in seen:
            seen[key] = len(plan.first_row)
            plan.first_row.append(row)
        plan.candidate.append(seen[key])
    n = len(plan.first_row)
    plan.pairs = candidate_pairs(n, name, k, seed, prompt) if n >= 2 else []
    return plan


def pair_records(plans: Sequence[GroupPlan]) -> list[dict[str, Any]]:
    """One pair record per planned pair of every group, in order (id ``GROUP:ROW_A-ROW_B``, with
    ``group``, ``candidate_a``, ``candidate_b`` as the response rows of the two candidates)."""
    out = []
    for g, plan in enumerate(plans):
        for i, j in plan.pairs:
            a, b = plan.first_row[i], plan.first_row[j]
            out.append({"id": f"{g}:{a}-{b}", "prompt": plan.prompt, "response_a": plan.responses[a],
                        "response_b": plan.responses[b], "human_label": None, "group": g,
                        "candidate_a": a, "candidate_b": b})
    return out


def fit_group(plan: GroupPlan, labels: Sequence[dict[str, Any]], l2: float = 1e-2) -> dict[str, Any]:
    """The BT fit of one group from the label records of its planned pairs (in plan order): ``scores``
    per response (None for an empty one, or one in no usable pair; 0 when the group has one distinct
    response), ``ranks`` (1 = best; None where no score), ``log_likelihood``, ``pairs_used``."""
    comps = [(i, j, lab["p_a"]) for (i, j), lab in zip(plan.pairs, labels)
             if lab.get("p_a") is not None]
    s, ll = fit(len(plan.first_row), comps, l2=l2)
    scored = {c for i, j, _ in comps for c in (i, j)} if len(plan.first_row) > 1 else set(range(len(plan.first_row)))
    scores = [float(s[c]) if c is not None and c in scored else None for c in plan.candidate]
    order = ranks(scores)
    return {"scores": scores, "ranks": [r if v is not None else None for r, v in zip(order, scores)],
            "log_likelihood": ll, "pairs_used": len(comps)}


def _sigmoid(x: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * x))


def group_rewards(scores: Sequence[float | None], kind: str = "centered_bt") -> list[float | None]:
    """Rewards from one group's BT scores. ``centered_bt``: the score minus the group's mean (the
    rewards of a group sum to 0); ``win_rate``: the mean BT probability σ(s_i − s_j) of beating each
    other scored completion j of the group, in [0, 1]. None stays None; a group with one scored
    completion gets 0."""
    if kind not in REWARDS:
        raise ValueError(f"reward {kind!r}: use one of {', '.join(REWARDS)}")
    known = [v for v in scores if v is not None]
    if len(known) <= 1:
        return [None if v is None else 0.0 for v in scores]
    if kind == "centered_bt":
        mean = sum(known) / len(known)
        return [None if v is None else v - mean for v in scores]
    return [None if v is None else (sum(_sigmoid(v - u) for u in known) - 0.5) / (len(known) - 1)
            for v in scores]


def trainer_layout(kwargs: dict[str, Any]) -> tuple[int | None, int]:
    """(num_generations, process index) of the TRL trainer calling a reward function. GRPO and RLOO pass
    their bound ``log_metric`` to reward functions, so the trainer is its ``__self__``: its
    num_generations (num_generations_eval in evaluation) and accelerator's process index. Without
    it: (None, the torch.distributed rank, or 0)."""
    trainer = getattr(kwargs.get("log_metric"), "__self__", None)
    if trainer is not None and hasattr(trainer, "num_generations"):
        training = getattr(getattr(trainer, "model", None), "training", True)
        g = trainer.num_generations if training else getattr(trainer, "num_generations_eval", trainer.num_generations)
        return int(g), int(trainer.accelerator.process_index)
    import torch.distributed as dist

    return None, dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def batch_groups(prompts: Sequence[Any], completions: Sequence[Any], num_generations: int | None,
                 kwargs: dict[str, Any]) -> tuple[list[range], list[str], list[str]]:
    """The groups of a TRL batch (see ``row_groups``) and its prompts and completions as text. A
    group's rows must share one prompt text: if not, ``num_generations`` is not the trainer's."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    found, index = trainer_layout(kwargs)
    size = found or num_generations  # the calling trainer's (train or eval) wins
    if size is None:
        raise ValueError("pass num_generations= (the trainer's GRPOConfig/RLOOConfig.num_generations): "
                         "the reward function was called outside a TRL trainer")
    ptext, ctext = [as_text(p) for p in prompts], [as_text(c) for c in completions]
    groups = row_groups(len(ptext), size, index * len(ptext))
    for rows in groups:
        odd = next((r for r in rows if ptext[r] != ptext[rows[0]]), None)
        if odd is not None:
            raise ValueError(f"rows {rows[0]} and {odd} fall in one group of num_generations={size} but have "
                             "different prompts: num_generations does not match the trainer's")
    if any(len(rows) < size for rows in groups):
        warnings.warn(f"a prompt's {size} completions are split between processes, so each part is ranked on "
                      "its own: make per_device_train_batch_size * steps_per_generation a multiple of "
                      "num_generations to keep every group whole", stacklevel=3)
    return groups, ptext, ctext


def fit_groups(plans: Sequence[GroupPlan], labels: Sequence[dict[str, Any]], l2: float = 1e-2) -> list[dict[str, Any]]:
    """``fit_group`` of every plan, from the label records of ``pair_records(plans)`` (in its order);
    each result also has ``labels``, the group's label records."""
    out, at = [], 0
    for plan in plans:
        mine = list(labels[at:at + len(plan.pairs)])
        at += len(plan.pairs)
        out.append({**fit_group(plan, mine, l2), "labels": mine})
    return out


def row_rewards(groups: Sequence[range], rewards: Sequence[Sequence[float | None]]) -> list[float | None]:
    """One reward per batch row from each group's rewards (in the group's row order)."""
    out: list[float | None] = [None] * sum(len(rows) for rows in groups)
    for rows, values in zip(groups, rewards, strict=True):
        for r, v in zip(rows, values, strict=True):
            out[r] = v
    return out


class PairwiseGroupReward:
    """A TRL reward function (GRPO, RLOO) that ranks each prompt's completions against each other.

    Every group's chosen pairs (``pairs``: adjacent = G pairs, all = G(G-1)/2, random:K) go to the
    labeler in both orders in one ``Labeler.label`` call for the whole batch; a soft Bradley-Terry fit
    per group gives the rewards (``reward``: centered_bt or win_rate, see ``group_rewards``). Identical
    completions share one candidate (equal rewards, no judge call between them); empty ones get None;
    a group of one gets 0. Inside a TRL trainer the group size is the trainer's (``trainer_layout``);
    ``num_generations`` gives it elsewhere. ``last`` holds the last batch's per-group fits; ``calls`` counts labeler calls.
    """

    __name__ = "rlaif_pairwise_group_reward"

    def __init__(self, judge: Any = None, pairs: str = "adjacent", reward: str = "centered_bt",
                 constitution: str | None = None, config: LabelerConfig | None = None,
                 num_generations: int | None = None, seed: int = 0, l2: float = 1e-2):
        parse_strategy(pairs)
        group_rewards([], reward)  # validates the name now
        cfg = config or LabelerConfig()
        if constitution is not None:
            cfg = LabelerConfig(**{**cfg.model_dump(), "constitution": constitution})
        self.labeler = Labeler(judge if judge is not None and not isinstance(judge, str) else load_judge(judge), cfg)
        self.pairs, self.reward, self.num_generations, self.seed, self.l2 = pairs, reward, num_generations, seed, l2
        self.calls = 0
        self.last: list[dict[str, Any]] = []

    def rank(self, groups: Sequence[tuple[str, Sequence[str]]]) -> list[dict[str, Any]]:
        """(prompt, responses) groups -> their fits (``fit_groups``), with one labeler call for all."""
        plans = [plan_group(p, list(r), self.pairs, self.seed) for p, r in groups]
        records = pair_records(plans)
        if records:
            self.calls += 1
        return fit_groups(plans, self.labeler.label(records) if records else [], self.l2)

    def rewards(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        groups, p, c = batch_groups(prompts, completions, self.num_generations, kwargs)
        self.last = self.rank([(p[rows[0]], [c[i] for i in rows]) for rows in groups])
        used, log_metric = sum(f["pairs_used"] for f in self.last), kwargs.get("log_metric")
        if used and callable(log_metric):  # TRL logs it with the step's metrics; log(1/2) = a judge at chance
            log_metric(f"{self.__name__}/bt_log_likelihood_per_pair", sum(f["log_likelihood"] for f in self.last) / used)
        return row_rewards(groups, [group_rewards(f["scores"], self.reward) for f in self.last])

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return self.rewards(prompts, completions, **kwargs)


class AsyncPairwiseGroupReward(PairwiseGroupReward):
    """The same reward with ``async def __call__`` (TRL's ``is_async_callable`` sees it and runs it on its
    event loop, concurrently with other async reward functions); the judge runs in a worker thread."""

    __name__ = "rlaif_pairwise_group_reward_async"

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return await asyncio.to_thread(self.rewards, prompts, completions, **kwargs)
