"""Group-relative pairwise rewards: the batch layout against TRL's real RepeatSampler, the BT fit against a
controlled judge with known scores, identical/empty completions and groups of one, the async variant as
TRL sees it, and a real TRL GRPOTrainer step."""

from __future__ import annotations

import asyncio
import hashlib
import math

import pytest

from conftest import ScriptedJudge, sigmoid
from rlaif.judges.base import LabelLogprobs
from rlaif.integrations.group_reward import group_rewards, plan_group, row_groups
from rlaif.integrations.trl import AsyncPairwiseGroupReward, PairwiseGroupReward


def known_quality(text: str) -> float:
    """The controlled judge's score of a response: q=VALUE where the text says so, else a hash in [-2, 2]."""
    text = text.strip()
    if text.startswith("q="):
        return float(text[2:].split()[0])
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 2001 / 500 - 2


class KnownJudge(ScriptedJudge):
    """P(label "1") = σ(q(response 1) − q(response 2) + position_bias), exactly (``known_quality``);
    records every pair it is shown and counts its calls."""

    def __init__(self, position_bias: float = 0.0):
        super().__init__(position_bias=position_bias)
        self.calls, self.pairs = 0, []

    def label_logprobs(self, prompts, labels, continuations=None):
        self.calls += 1
        out = []
        for msgs in prompts:
            text = msgs[-1]["content"]
            r1 = text[text.index("Response 1:\n") + 12:text.index("\n\nResponse 2:\n")]
            r2 = text[text.index("\n\nResponse 2:\n") + 14:text.rindex("\n\nWhich response is better")]
            self.pairs.append((r1.strip(), r2.strip()))
            l1, l2 = known_quality(r1) + self.bias, known_quality(r2)
            z = math.log(math.exp(l1) + math.exp(l2))
            out.append(LabelLogprobs({labels[0]: l1 - z - 3, labels[1]: l2 - z - 3}))
        return out


def test_row_groups_follow_trls_repeat_sampler_across_processes():
    """Each group row_groups finds on a process holds one dataset index; a prompt's parts over all
    processes add up to num_generations rows (real RepeatSampler, batches cut per process as accelerate does)."""
    from trl.trainer.utils import RepeatSampler

    for g, per_process, procs in [(4, 8, 1), (4, 6, 2), (3, 4, 3), (8, 4, 4), (2, 2, 2)]:
        global_batch = per_process * procs
        idx = list(RepeatSampler(list(range(50)), mini_repeat_count=g, batch_size=global_batch // g, seed=1))[:global_batch]
        rows_of: dict[int, int] = {}
        for k in range(procs):
            local = idx[k * per_process:(k + 1) * per_process]
            for rows in row_groups(per_process, g, k * per_process):
                assert len({local[r] for r in rows}) == 1, (g, per_process, procs, k)
                rows_of[local[rows[0]]] = rows_of.get(local[rows[0]], 0) + len(rows)
        assert set(rows_of.values()) == {g}
    assert [list(r) for r in row_groups(6, 4, 6)] == [[0, 1], [2, 3, 4, 5]]  # GPU 1 of 2, 6 rows each


def test_plan_dedups_and_counts_pairs():
    plan = plan_group("p", ["a", " a ", "", "b", "c"], "adjacent")
    assert plan.candidate == [0, 0, None, 1, 2] and plan.first_row == [0, 3, 4]
    assert len(plan.pairs) == 3
    assert len(plan_group("p", [f"r{i}" for i in range(8)], "adjacent").pairs) == 8
    assert len(plan_group("p", [f"r{i}" for i in range(8)], "all").pairs) == 28
    assert len(plan_group("p", [f"r{i}" for i in range(8)], "random:5").pairs) == 5
    with pytest.raises(ValueError, match="random:K"):
        plan_group("p", ["a"], "best")


def test_group_rewards_by_hand():
    assert group_rewards([1.0, None, -0.5, 0.5]) == pytest.approx([0.6666667, None, -0.8333333, 0.1666667])
    win = group_rewards([1.0, -1.0, None], "win_rate")
    assert win[0] == pytest.approx(sigmoid(2.0)) and win[1] == pytest.approx(sigmoid(-2.0)) and win[2] is None
    assert group_rewards([0.3, None]) == [0.0, None] and group_rewards([None]) == [None]
    with pytest.raises(ValueError, match="centered_bt"):
        group_rewards([1.0], "rank")


@pytest.mark.parametrize("pairs", ["adjacent", "all"])
def test_bt_scores_recover_the_judges_known_scores(pairs):
    q = [1.5, -0.7, 0.2, -2.0, 0.9, 0.1]
    judge = KnownJudge()
    reward = PairwiseGroupReward(judge=judge, pairs=pairs, l2=1e-8)  # (the default prior shrinks scores a little)
    (fit,) = reward.rank([("User: hi", [f"q={v + 1}" for v in q])])
    assert fit["scores"] == pytest.approx(q, abs=1e-4)  # the known scores, centred (sum(q) = 0)
    assert fit["ranks"] == [1, 5, 3, 6, 2, 4]
    assert fit["pairs_used"] == (6 if pairs == "adjacent" else 15) and judge.calls == 1
    assert len(judge.pairs) == 2 * fit["pairs_used"]  # both orders of every pair


def test_position_bias_is_removed_and_the_order_kept():
    q = [1.0, -1.0, 0.0, 2.0]
    fits = [PairwiseGroupReward(judge=KnownJudge(bias), pairs="all").rank([("p", [f"q={v}" for v in q])])[0]
            for bias in (0.0, 1.5)]
    assert fits[0]["ranks"] == fits[1]["ranks"] == [2, 4, 3, 1]


def test_identical_empty_and_single_completions():
    judge = KnownJudge()
    reward = PairwiseGroupReward(judge=judge, num_generations=3)
    out = reward(prompts=["p1"] * 3 + ["p2"] * 3, completions=["same", "same ", "same", "q=1", "", "q=-1"])
    assert out[:3] == [0.0, 0.0, 0.0] and out[4] is None and out[3] == pytest.approx(-out[5]) and out[3] > 0
    assert judge.pairs == [("q=1", "q=-1"), ("q=-1", "q=1")]  # identical and empty ones never judged
    dup = reward(prompts=["p"] * 3, completions=["q=1", "q=-1", "q=1"])
    assert dup[0] == dup[2] and dup[0] > dup[1] and sum(dup) == pytest.approx(0, abs=1e-12)
    assert ("q=1", "q=1") not in judge.pairs
    calls = judge.calls
    assert PairwiseGroupReward(judge=judge, num_generations=1)(prompts=["a", "b"], completions=["x", "y"]) == [0.0, 0.0]
    assert reward(prompts=["p"] * 3, completions=["z", "z", ""]) == [0.0, 0.0, None] and judge.calls == calls


def test_groups_are_positions_not_prompt_texts():
    judge = KnownJudge()
    reward = PairwiseGroupReward(judge=judge, num_generations=2, pairs="all", l2=1e-8)
    out = reward(prompts=["same"] * 4, completions=["q=2", "q=0", "q=-1", "q=-3"])
    assert out == pytest.approx([1.0, -1.0, 1.0, -1.0], abs=1e-4)  # two groups of 2, each centred on its own
    assert {frozenset(p) for p in judge.pairs} == {frozenset({"q=2", "q=0"}), frozenset({"q=-1", "q=-3"})}
    with pytest.raises(ValueError, match="rows 0 and 1 .* num_generations does not match"):
        reward(prompts=["a", "b", "c", "d"], completions=["w", "x", "y", "z"])
    with pytest.raises(ValueError, match="pass num_generations="):
        PairwiseGroupReward(judge=judge)(prompts=["a"], completions=["b"])


class StandInTrainer:
    """What a reward function reads from TRL's trainer through ``log_metric.__self__`` (a real trainer in
    the GRPO test below): here process 1 of 2, 6 rows each, G = 4, so its first two rows end a group."""

    num_generations = num_generations_eval = 4
    accelerator = type("Accelerator", (), {"process_index": 1})()
    model = type("Model", (), {"training": True})()

    def __init__(self):
        self.metrics = []

    def log_metric(self, name, value):
        self.metrics.append((name, value))


def test_a_group_split_between_processes_is_ranked_in_parts():
    trainer, judge = StandInTrainer(), KnownJudge()
    reward = PairwiseGroupReward(judge=judge, pairs="all", l2=1e-8)
    with pytest.warns(UserWarning, match="multiple of num_generations"):
        out = reward(prompts=["a", "a", "b", "b", "b", "b"], completions=["q=1", "q=0", "q=2", "q=1", "q=0", "q=-1"],
                     log_metric=trainer.log_metric)
    assert out == pytest.approx([0.5, -0.5, 1.5, 0.5, -0.5, -1.5], abs=1e-4)
    assert {frozenset(p) for p in judge.pairs} >= {frozenset({"q=1", "q=0"})} and len(judge.pairs) == 2 * (1 + 6)
    (name, value), = trainer.metrics
    assert name == "rlaif_pairwise_group_reward/bt_log_likelihood_per_pair" and -0.7 < value < 0


def test_async_variant_is_async_for_trl_and_gives_the_same_rewards():
    from trl.trainer.utils import is_async_callable

    sync, asy = PairwiseGroupReward(judge=KnownJudge(), num_generations=4), AsyncPairwiseGroupReward(judge=KnownJudge(), num_generations=4)
    assert is_async_callable(asy) and not is_async_callable(sync)
    batch = {"prompts": ["p"] * 4, "completions": ["q=0.5", "q=-0.5", "q=1", "q=0"]}
    assert asyncio.run(asy(**batch)) == sync(**batch)


@pytest.mark.slow
def test_real_grpo_trainer_step_ranks_within_every_group(tiny_lm, smol_tokenizer, tmp_path):
    """GRPOTrainer (TRL, real) with both variants; every prompt row has the same text, so two groups of one
    batch share a prompt: their rewards follow the judge's known scores group by group."""
    import copy

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    class Recording:
        def rewards(self, prompts, completions, **kwargs):
            out = super().rewards(prompts, completions, **kwargs)
            self.batches.append(([str(p) for p in prompts], [c[0]["content"] for c in completions], out))
            return out

    class Sync(Recording, PairwiseGroupReward):
        pass

    class Async(Recording, AsyncPairwiseGroupReward):
        pass

    judges = KnownJudge(), KnownJudge()
    funcs = Sync(judge=judges[0], pairs="all", l2=1e-8), Async(judge=judges[1], pairs="adjacent", reward="win_rate")
    for f in funcs:
        f.batches = []
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": "Say something kind"}]} for _ in range(4)])
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=8, num_generations=4,
                      max_completion_length=6, max_steps=1, report_to="none", use_cpu=True, logging_steps=1,
                      save_strategy="no", bf16=False)
    trainer = GRPOTrainer(model=copy.deepcopy(tiny_lm), reward_funcs=list(funcs), args=args, train_dataset=ds,
                          processing_class=smol_tokenizer)
    trainer.train()
    for f, judge in zip(funcs, judges):
        assert f.batches and judge.calls == len(f.batches)  # one judge call per batch
        for prompts, completions, out in f.batches:
            assert len(set(prompts)) == 1 and len(out) == 8  # two groups, one prompt text
            groups = [range(0, 4), range(4, 8)]
            for rows in groups:
                q = {r: known_quality(completions[r]) for r in rows if completions[r].strip()}
                for i in q:
                    for j in q:
                        if completions[i].strip() != completions[j].strip():
                            assert (out[i] > out[j]) == (q[i] > q[j]), (completions, out)
                if f is funcs[0] and len({completions[r].strip() for r in q}) == len(q):
                    mean = sum(q.values()) / len(q)
                    assert [out[r] for r in q] == pytest.approx([v - mean for v in q.values()], abs=1e-3)
        texts = [{b[1][r].strip() for r in rows} for b in f.batches for rows in (range(0, 4), range(4, 8))]
        assert all(any({a, b} <= t for t in texts) for a, b in judge.pairs)  # no pair across groups
    logged = [h for h in trainer.state.log_history if "rewards/rlaif_pairwise_group_reward/mean" in h]
    assert logged and "rewards/rlaif_pairwise_group_reward_async/mean" in logged[0]
    assert -0.7 < logged[0]["rlaif_pairwise_group_reward/bt_log_likelihood_per_pair"] < 0
