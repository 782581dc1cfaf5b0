"""Direct RLAIF: expected-score math, the two-token "10", the TRL contract (OpenRLHF's: test_openrlhf)."""

import math

import pytest
import torch

from rlaif.core.errors import RlaifError
from rlaif.judges.base import LabelLogprobs, Usage
from rlaif.integrations.trl import AsyncJudgeReward, JudgeReward
from rlaif.labeling.scorer import SCORES, Scorer, expected_score, reward_from_score, score_distribution


def test_expected_score_and_reward_mapping_by_hand():
    # P(3) = 0.5, P(8) = 0.5 -> s = 5.5 -> r = 0; all mass on 10 -> r = 1; on 1 -> r = -1
    mass = torch.zeros(3, 10, dtype=torch.float64)
    mass[0, 2] = mass[0, 7] = 0.25  # unnormalised: renormalisation over the ten scores
    mass[1, 9] = 1.0
    mass[2, 0] = 0.3
    probs, s, h = expected_score(torch.log(mass), SCORES)
    assert torch.allclose(s, torch.tensor([5.5, 10.0, 1.0], dtype=torch.float64))
    assert torch.allclose(reward_from_score(s), torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64))
    assert h[0] == pytest.approx(math.log(2)) and h[1] == pytest.approx(0.0)


def test_two_token_ten():
    # first token: P("1") = 0.4, P("9") = 0.2; after "1": P("0") = 0.75, P("2") = 0.05 (an invalid "12")
    first = torch.zeros(1, 9, dtype=torch.float64)
    first[0, 0], first[0, 8] = 0.4, 0.2
    after = torch.zeros(1, 10, dtype=torch.float64)
    after[0, 0], after[0, 2] = 0.75, 0.05
    mass = score_distribution(first, torch.zeros(1, dtype=torch.float64), after)
    assert mass[0, 9] == pytest.approx(0.4 * 0.75)   # "10" = "1" then "0"
    assert mass[0, 0] == pytest.approx(0.4 * 0.20)   # "1" then a non-digit
    assert mass[0, 8] == pytest.approx(0.2)
    # a tokenizer with a single "10" token adds its own mass
    mass2 = score_distribution(first, torch.tensor([0.1], dtype=torch.float64), after)
    assert mass2[0, 9] == pytest.approx(0.1 + 0.3)


class DigitJudge:
    """Controlled next-token probabilities for scoring prompts.

    ``ten_single``: whether "10" is one token (else asking for it raises, as local backends do).
    First token: P("1") = .3, P("7") = .4, P("10") = .2 if ten_single; after "1": P("0") = .5.
    """

    judge_id, context_length = "digits:test", None

    def __init__(self, ten_single):
        self.ten_single, self.usage, self.calls = ten_single, Usage(), 0

    def count_tokens(self, messages):
        return 10

    def label_logprobs(self, prompts, labels, continuations=None):
        if "10" in labels and not self.ten_single:
            self.raised = getattr(self, "raised", 0) + 1
            raise RlaifError("label '10' is not a single token for this judge's tokenizer")
        self.calls += 1
        out = []
        for m, cont in zip(prompts, continuations or [""] * len(prompts)):
            table = {"0": 0.5} if cont == "1" else {"1": 0.3, "7": 0.4, "10": 0.2}
            lp = {k: math.log(v) for k, v in table.items() if k in labels}
            if "empty-judge" in m[-1]["content"]:
                lp = {}
            out.append(LabelLogprobs(lp, None if lp else "not in top-20"))
        return out

    def generate(self, prompts, n):
        return ["7"] * len(prompts)


@pytest.mark.parametrize("ten_single", [False, True])
def test_scorer_with_split_and_single_ten(ten_single):
    judge = DigitJudge(ten_single)
    scorer = Scorer(judge)
    res = scorer.score([("User: q", "an answer")])[0]
    scorer.score([("User: q", "another answer")])
    assert getattr(judge, "raised", 0) == (0 if ten_single else 1)  # probed once, then remembered
    p10 = 0.3 * 0.5 + (0.2 if ten_single else 0.0)
    mass = {1: 0.3 * 0.5, 7: 0.4, 10: p10}
    z = sum(mass.values())
    s = sum(k * v for k, v in mass.items()) / z
    assert res["score"] == pytest.approx(s) and res["reward"] == pytest.approx((s - 5.5) / 4.5)
    assert res["probs"][9] == pytest.approx(p10 / z) and sum(res["probs"]) == pytest.approx(1.0)


def test_scorer_on_real_tokenizer_splitting_ten(tiny_lm, smol_tokenizer):
    """SmolLM2's tokenizer spells "10" as "1","0": P(10) must come from the two-step product."""
    from rlaif.judges.hf import HFJudge

    judge = HFJudge(tiny_lm, smol_tokenizer, "hf:tiny")
    scorer = Scorer(judge)
    res = scorer.score([("User: q", "answer")])[0]
    msgs = scorer.messages("User: q", "answer")
    full = judge.next_token_logprobs([judge.render(msgs), judge.render(msgs) + "1"])
    ids = {d: smol_tokenizer.encode(d, add_special_tokens=False)[0] for d in "0123456789"}
    p = {d: float(full[0, ids[d]].exp()) for d in "123456789"}
    after = {d: float(full[1, ids[d]].exp()) for d in "0123456789"}
    mass = [p["1"] * (1 - sum(after.values()))] + [p[str(i)] for i in range(2, 10)] + [p["1"] * after["0"]]
    expect = sum((i + 1) * m for i, m in enumerate(mass)) / sum(mass)
    assert res["score"] == pytest.approx(expect, rel=1e-4)


def test_none_for_unscorable_and_cache_and_batching():
    judge = DigitJudge(False)
    fn = JudgeReward(judge, batch_size=2)
    out = fn(prompts=["User: a", "User: b", "User: a", "User: empty-judge"],
             completions=["x", "y", "x", "z"])
    assert out[0] == out[2] and out[3] is None and isinstance(out[1], float)
    calls = judge.calls
    again = fn(prompts=["User: a"], completions=["x"])
    assert again == [out[0]] and judge.calls == calls  # cached: no judge call
    assert fn.__name__ == "rlaif_judge_reward"
    assert JudgeReward(DigitJudge(False))(prompts=["q"], completions=[""])[0] is None  # empty completion


def test_conversational_inputs_and_async_variant():
    import asyncio

    fn = AsyncJudgeReward(DigitJudge(False))
    prompts = [[{"role": "user", "content": "hi"}]]
    comps = [[{"role": "assistant", "content": "hello"}]]
    out = asyncio.run(fn(prompts=prompts, completions=comps))
    assert len(out) == 1 and -1 <= out[0] <= 1


def test_real_trl_grpo_trainer_calls_the_reward(tiny_lm, smol_tokenizer, llamacpp_judge, tmp_path):
    """A real TRL GRPOTrainer runs two steps with a tiny in-process policy and the embedded judge."""
    from conftest import grpo_train

    reward = JudgeReward(llamacpp_judge)
    seen = []

    def spy(prompts, completions, **kw):
        seen.append(len(completions))
        return reward(prompts=prompts, completions=completions, **kw)
    spy.__name__ = "spy"
    logged = grpo_train([spy], tiny_lm, smol_tokenizer, tmp_path, steps=2)
    assert seen and all(n == 2 for n in seen)
    assert logged and all(-1 <= h["reward"] <= 1 for h in logged)
