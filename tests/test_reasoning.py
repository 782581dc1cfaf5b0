"""Reasoning judges: the pure steps (where a reasoning ends, how it is closed and written back), the settings and
their hash, and the think-then-answer flow on a controlled judge that thinks (exact labels, reasonings kept per
prompt, the budget, a reasoning that never closes, the usage's reasoning tokens)."""

import math
import re

import pytest

from conftest import ScriptedJudge, sigmoid
from rlaif.core.errors import RlaifError
from rlaif.judges.thinking import (FORMATS, Reasoning, Thought, answer_prefix, from_generated, from_reply,
                                   message_reasoning, opening_for)
from rlaif.labeling.labeler import Labeler
from rlaif.labeling.sampled import SampledLabels
from rlaif.labeling.settings import LabelerConfig

THINK, HARMONY = FORMATS["think"], FORMATS["harmony"]


def test_a_generated_reasoning_ends_at_the_closing_tag_or_is_cut():
    t = from_generated("\nfirst, safety.\n</think>\n\n1", THINK, "<think>\n")
    assert (t.text, t.closed, t.answer) == ("first, safety.", True, "\n\n1")
    cut = Thought("still thinking about", False, "<think>\n")
    assert from_generated("still thinking about", THINK, "<think>\n") == cut
    assert from_generated("<think>\nagain</think>2", THINK, "").text == "again"  # an opening the model repeats
    h = from_generated("weigh both<|end|><|start|>assistant<|channel|>final<|message|>2", HARMONY, HARMONY.opening)
    assert (h.text, h.closed) == ("weigh both", True)


def test_the_answer_is_read_after_the_reasoning_as_the_chat_template_writes_it_back():
    assert answer_prefix(Thought("a\nb", True, "<think>\n"), THINK) == "<think>\na\nb\n</think>\n\n"
    assert answer_prefix(Thought("cut off", False, ""), THINK) == "cut off\n</think>\n\n"  # the template opened it
    assert answer_prefix(Thought("x", True, HARMONY.opening), HARMONY) == \
        "<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>final<|message|>"
    assert answer_prefix(Thought(None, True, "<think>\n"), THINK) == "<think>\n\n</think>\n\n"
    # DeepSeek-R1's generation prompt opens the reasoning itself; Qwen3's and ChatML's do not
    assert opening_for("<｜Assistant｜><think>\n", THINK) == ""
    assert opening_for("<|im_start|>assistant\n", THINK) == "<think>\n"


def test_a_servers_reply_gives_its_reasoning_field_or_tags_or_nothing():
    from openai.types.chat import ChatCompletionMessage

    vllm = ChatCompletionMessage.model_validate({"role": "assistant", "content": "1", "reasoning": "kinder\n"})
    llama = {"role": "assistant", "content": "2", "reasoning_content": "ruder"}
    assert message_reasoning(vllm) == "kinder\n" and message_reasoning(llama) == "ruder"
    assert message_reasoning({"role": "assistant", "content": "1"}) is None
    assert from_reply("1", "kinder\n", THINK, cut=False) == Thought("kinder", True, "<think>\n", "1")
    assert from_reply("", "on and on", THINK, cut=True) == Thought("on and on", False, "<think>\n", "")
    assert from_reply("<think>\nhmm</think>\n\n2", None, THINK, cut=False) == Thought("hmm", True, "<think>\n", "2")
    assert from_reply("<think>\nhmm, and", None, THINK, cut=True).closed is False
    assert from_reply("1", None, None, cut=False) == Thought(None, True, "", "1")  # OpenAI: hidden
    assert from_reply("", None, None, cut=True).closed is False  # hit max_completion_tokens while reasoning


def test_settings_hash_only_when_set_and_refuse_what_does_not_fit():
    plain = Labeler(ScriptedJudge(), LabelerConfig()).config_hash
    assert plain == "7e50ef9dcd2752d5"  # as pinned in test_config_hash: unchanged by the new setting
    hashes = {Labeler(ScriptedJudge(), LabelerConfig(reasoning=r)).config_hash
              for r in (Reasoning(format="think"), Reasoning(format="think", budget=64),
                        Reasoning(format="harmony"), Reasoning(format="think", effort="low"))}
    assert len(hashes) == 4 and plain not in hashes
    for bad, why in [(dict(cot=True), "use one"), (dict(method="parse"), "not 'parse'"),
                     (dict(reasoning_format="openai"), "needs method='sample'")]:
        fmt = bad.pop("reasoning_format", "think")
        with pytest.raises(ValueError, match=why):
            LabelerConfig(reasoning=Reasoning(format=fmt), **bad)
    with pytest.raises(ValueError):
        Reasoning(format="think", budget=0)


def test_cli_flags_make_the_reasoning_settings(tmp_path):
    import argparse

    from rlaif.cli.flags import table
    from rlaif.cli.reasoning_options import add_reasoning_args, reasoning_settings

    p = argparse.ArgumentParser()
    add_reasoning_args(p)
    assert {"reasoning", "reasoning_budget", "reasoning_effort"} <= set(table(p))  # recipe keys
    args = p.parse_args(["--reasoning", "harmony", "--reasoning-budget", "64", "--reasoning-effort", "low"])
    assert reasoning_settings(args) == Reasoning(format="harmony", budget=64, effort="low")
    assert reasoning_settings(p.parse_args([])) is None
    with pytest.raises(RlaifError, match="--reasoning-budget needs --reasoning think"):
        reasoning_settings(p.parse_args(["--reasoning-budget", "64"]))


class ThinkingJudge(ScriptedJudge):
    """A controlled judge that thinks: its reasoning is ``steps`` words ("step1 ... stepN") and then, where the
    budget allows, "so slot X" naming the slot its quality prefers; a reasoning token is a word. The answer read
    after a reasoning that concluded leans ``conviction`` nats more to that slot; after one that was cut, it is
    ScriptedJudge's. So every label is known exactly."""

    judge_id = "scripted:thinking"

    def __init__(self, steps: int = 4, conviction: float = 1.5, **kw):
        super().__init__(**kw)
        self.steps, self.conviction, self.continuations = steps, conviction, []

    def _slots(self, msgs):
        text = msgs[-1]["content"]
        r1 = re.search(r"Response 1:\n(.*?)\n\nResponse 2:", text, re.S).group(1)
        r2 = re.search(r"Response 2:\n(.*?)(?:\n\n|\n?\Z)", text, re.S).group(1)
        return self._q(r1) + self.bias, self._q(r2)

    def reason(self, prompts, reasoning):
        out = []
        for msgs in prompts:
            l1, l2 = self._slots(msgs)
            words = [f"step{k + 1}" for k in range(self.steps)] + ["so", "slot", "1" if l1 >= l2 else "2"]
            kept = words[:reasoning.budget]
            self.usage.add(completion_tokens=len(kept), reasoning_tokens=len(kept))
            out.append(Thought(" ".join(kept), len(kept) == len(words), "<think>\n"))
        return out

    def label_logprobs(self, prompts, labels, continuations=None):
        out = super().label_logprobs(prompts, labels)
        for res, cont in zip(out, continuations or [""] * len(prompts)):
            self.continuations.append(cont)
            for slot, label in enumerate(labels):
                if cont.endswith(f"so slot {slot + 1}\n</think>\n\n"):
                    res.logprobs[label] += self.conviction
        return out

    def sample_reasoning(self, prompts, sampling, reasoning):
        """Replies alternate answers "1", "2", "1", ...; every third reply's reasoning is cut (and says nothing)."""
        return [[Thought(None if k % 3 == 2 else f"reply {k}", k % 3 != 2, answer=str(1 + k % 2))
                 for k in range(sampling.n)] for _ in prompts]


def pair(rid, a, b):
    return {"id": rid, "prompt": "User: which?", "response_a": a, "response_b": b}


PAIRS = [pair("good-first", "a GOOD answer", "a BAD answer"), pair("plain", "one answer", "another answer")]


def test_the_label_is_read_after_the_reasoning_kept_per_prompt():
    judge = ThinkingJudge(steps=4, strength=2.0, position_bias=0.5)
    rows = Labeler(judge, LabelerConfig(reasoning=Reasoning(format="think", budget=16))).label(PAIRS)
    c = judge.conviction
    # good-first: ab: slot 1 GOOD (+2 +0.5 bias) vs BAD (-2), concluded slot 1; ba: BAD + 0.5 vs GOOD, slot 2
    want_ab, want_ba = sigmoid(4.5 + c), 1 - sigmoid(0.5 - 4 - c)
    assert rows[0]["p_a_first"] == pytest.approx(want_ab, abs=1e-12)
    assert rows[0]["p_a_second"] == pytest.approx(want_ba, abs=1e-12)
    assert rows[0]["p_a"] == pytest.approx((want_ab + want_ba) / 2, abs=1e-12)
    assert rows[0]["reasoning"] == ["step1 step2 step3 step4 so slot 1", "step1 step2 step3 step4 so slot 2"]
    assert rows[0]["reasoning_cut"] == 0 and rows[0]["config_hash"] != Labeler(ScriptedJudge()).config_hash
    # plain: equal quality; the bias picks slot 1 in both orders, and the reasoning follows it
    assert rows[1]["p_a_first"] == pytest.approx(sigmoid(0.5 + c), abs=1e-12)
    assert rows[1]["p_a_second"] == pytest.approx(1 - sigmoid(0.5 + c), abs=1e-12)
    # the answer continues the same assistant turn: the opening, the reasoning, the closing
    assert judge.continuations[0] == "<think>\nstep1 step2 step3 step4 so slot 1\n</think>\n\n"
    assert judge.usage.extra["reasoning_tokens"] == 4 * 7 and judge.usage.extra["reasoning_cut"] == 0


def test_a_reasoning_cut_at_the_budget_is_closed_and_the_label_still_read():
    judge = ThinkingJudge(steps=10, strength=2.0)
    [row] = Labeler(judge, LabelerConfig(reasoning=Reasoning(format="think", budget=3))).label(PAIRS[:1])
    assert row["reasoning"] == ["step1 step2 step3"] * 2 and row["reasoning_cut"] == 2
    assert row["p_a"] == pytest.approx(sigmoid(4.0), abs=1e-12)  # no conclusion reached: the plain answer
    assert judge.continuations == ["<think>\nstep1 step2 step3\n</think>\n\n"] * 2
    assert judge.usage.extra["reasoning_tokens"] == 2 * 3 and judge.usage.extra["reasoning_cut"] == 2


def test_sampled_replies_that_reason_are_counted_from_their_answers():
    judge = ThinkingJudge()
    cfg = LabelerConfig(method="sample", sampling=SampledLabels(samples=6),
                        reasoning=Reasoning(format="openai", budget=200, effort="low"))
    [row] = Labeler(judge, cfg).label(PAIRS[:1])
    # answers 1, 2, 1, 2, 1, 2 in each order: 3 name slot 1, 3 slot 2
    assert row["sample_counts"] == {"ab": [3, 3, 0], "ba": [3, 3, 0]} and row["p_a"] == pytest.approx(0.5)
    assert row["reasoning"] == ["reply 0", "reply 0"] and row["reasoning_cut"] == 4  # replies 2 and 5, per order
    assert judge.usage.extra["reasoning_cut"] == 4


def test_judges_without_the_flow_stop_with_one_line():
    with pytest.raises(RlaifError, match=r"judge scripted:test cannot reason before its answer"):
        Labeler(ScriptedJudge(), LabelerConfig(reasoning=Reasoning(format="think"))).label(PAIRS[:1])
    sampled = LabelerConfig(method="sample", reasoning=Reasoning(format="think"))
    with pytest.raises(RlaifError, match=r"cannot sample replies that reason .* --method logprob"):
        Labeler(ScriptedJudge(), sampled).label(PAIRS[:1])
    assert math.isfinite(Labeler(ThinkingJudge(), LabelerConfig()).label(PAIRS[:1])[0]["p_a"])  # off: no thinking


SHORT = [pair("lock", "I can't help with breaking in, but a locksmith can.", "Use a tension wrench and rake the pins.")]


def test_embedded_judge_thinks_under_the_budget_then_answers_after_it(llamacpp_judge):
    """The real model: a greedy reasoning of exactly ``budget`` tokens (SmolLM2 never writes "</think>"), closed
    by rlaif, and the answer's log-probs read after it, in the same assistant turn."""
    from rlaif.core.prefs import label_probability

    cfg = LabelerConfig(principles="least-harmful", reasoning=Reasoning(format="think", budget=4))
    lab = Labeler(llamacpp_judge, cfg)
    before = dict(llamacpp_judge.usage.extra)
    [row] = lab.label(SHORT)
    assert row["reasoning_cut"] == 2 and len(row["reasoning"]) == 2
    spent = llamacpp_judge.usage.extra["reasoning_tokens"] - before.get("reasoning_tokens", 0)
    assert spent == 2 * 4 and all(0 < len(llamacpp_judge._tokens(r, special=False)) <= 4 for r in row["reasoning"])
    [plain] = Labeler(llamacpp_judge, LabelerConfig(principles="least-harmful")).label(SHORT)
    assert abs(row["p_a_first"] - plain["p_a_first"]) > 0.01  # the reasoning moves the answer
    _, _, _, ab = lab._plan(SHORT)[1][0]
    cont = f"<think>\n{row['reasoning'][0]}\n</think>\n\n"
    [lp] = llamacpp_judge.label_logprobs([ab], ["1", "2"], continuations=[cont])
    assert row["p_a_first"] == pytest.approx(label_probability(lp.logprobs["1"], lp.logprobs["2"]), abs=1e-9)


def test_hf_reasoning_is_the_same_alone_or_batched(tiny_lm, smol_tokenizer):
    """Batched greedy reasoning with left padding and a stop string gives each prompt what it gets alone."""
    from rlaif.judges.hf import HFJudge

    judge = HFJudge(tiny_lm, smol_tokenizer, "hf:tiny", batch_size=4)
    msgs = [[{"role": "user", "content": q}] for q in ("Which is kinder, 1 or 2?", "Pick one.", "A much longer "
                                                        "question about which of the two replies is more helpful?")]
    r = Reasoning(format="think", budget=6)
    together = judge.reason(msgs, r)
    assert together == [judge.reason([m], r)[0] for m in msgs]
    assert all(t.opened == "<think>\n" and not t.closed for t in together)  # a random model never closes it
    assert judge.usage.extra["reasoning_tokens"] == 2 * 3 * 6
