import math

import pytest

from rlaif.core.errors import RlaifError
from rlaif.labeling.labeler import Labeler, LabelerConfig

from conftest import sigmoid


def rec(rid, a, b, prompt="User: question"):
    return {"id": rid, "prompt": prompt, "response_a": a, "response_b": b, "human_label": 1.0}


def test_exact_soft_label_from_controlled_logits(scripted):
    s, bias = 1.5, 0.8
    lab = Labeler(scripted(strength=s, position_bias=bias), LabelerConfig(principles="least-harmful"))
    out = lab.label([rec("r", "a GOOD answer", "a BAD answer")])[0]
    p12 = sigmoid(2 * s + bias)          # a in slot 1
    p21 = sigmoid(-2 * s + bias)         # b in slot 1
    assert out["p_a_first"] == pytest.approx(p12, abs=1e-12)
    assert out["p_a_second"] == pytest.approx(1 - p21, abs=1e-12)
    assert out["p_a"] == pytest.approx((p12 + 1 - p21) / 2, abs=1e-12)
    assert out["consistent"] is True and out["error"] is None


def test_order_swap_symmetry_and_position_bias_cancels(scripted):
    judge = scripted(strength=0.0, position_bias=3.0)  # no signal, always prefers slot 1
    lab = Labeler(judge, LabelerConfig())
    ab, ba = lab.label([rec("r", "x one", "y two"), rec("r", "y two", "x one")])
    assert ab["p_a_first"] > 0.9 and ab["consistent"] is False
    assert ab["p_a"] == pytest.approx(0.5, abs=1e-12)
    judge2 = scripted(strength=1.0, position_bias=0.7)
    lab2 = Labeler(judge2, LabelerConfig())
    ab, ba = lab2.label([rec("r", "GOOD one", "plain"), rec("r", "plain", "GOOD one")])
    assert ab["p_a"] + ba["p_a"] == pytest.approx(1.0, abs=1e-12)


def test_one_order_only_exposes_the_bias(scripted):
    lab = Labeler(scripted(strength=0.0, position_bias=3.0), LabelerConfig(orders="ab"))
    out = lab.label([rec("r", "x", "y")])[0]
    assert out["p_a"] == pytest.approx(sigmoid(3.0)) and out["p_a_second"] is None


def test_missing_label_token_gives_nan_with_reason(scripted):
    out = Labeler(scripted(drop="2"), LabelerConfig()).label([rec("r", "GOOD", "BAD")])[0]
    assert out["p_a"] is None and "['2'] not returned" in out["error"] and "top-20" in out["error"]
    assert out["consistent"] is None


def test_identical_responses_are_flagged_not_judged(scripted):
    judge = scripted()
    out = Labeler(judge, LabelerConfig()).label([rec("r", "same ", "same")])[0]
    assert out["p_a"] is None and out["error"].startswith("identical responses")
    assert judge.seen == []


def test_ensemble_averages_principles_and_sampling_is_per_row(scripted):
    judge = scripted(strength=1.0)
    lab = Labeler(judge, LabelerConfig(principles="all"))
    out = lab.label([rec("r", "GOOD", "BAD")])[0]
    assert len(out["principles"]) == 5 and len(out["p_a_principles"]) == 5
    assert out["p_a"] == pytest.approx(sum(out["p_a_principles"]) / 5)
    assert len(judge.seen) == 10  # 5 principles x 2 orders
    k = Labeler(scripted(), LabelerConfig(principles="all", ensemble_k=2)).label([rec("r", "a", "b")])[0]
    assert len(k["principles"]) == 2
    sampled = Labeler(scripted(), LabelerConfig(principles="sample")).label([rec(f"r{i}", "a", "b") for i in range(20)])
    assert len({r["principles"][0] for r in sampled}) > 1 and all(len(r["principles"]) == 1 for r in sampled)


def test_cot_generates_rationale_then_scores(scripted):
    judge = scripted(strength=1.0)
    out = Labeler(judge, LabelerConfig(cot=True)).label([rec("r", "GOOD", "BAD")])[0]
    assert judge.generated == 2 and out["rationales"] == ["rationale 0", "rationale 1"]
    last = judge.seen[0]
    assert last[-2]["role"] == "assistant" and last[-2]["content"] == "rationale 0"
    assert out["p_a"] > 0.5


def test_long_context_is_cut_from_the_left_and_flagged(scripted):
    judge = scripted(context_length=None)
    lab = Labeler(judge, LabelerConfig(max_prompt_tokens=120))
    long_ctx = " ".join(f"w{i}" for i in range(500)) + " END"
    out = lab.label([rec("r", "GOOD", "BAD", prompt=long_ctx), rec("s", "GOOD", "BAD")])
    assert out[0]["truncated"] is True and out[1]["truncated"] is False
    sent = judge.seen[0][-1]["content"]
    assert "[...] " in sent and "END" in sent and "w0 " not in sent
    assert judge.count_tokens(judge.seen[0]) <= 120
    huge = Labeler(scripted(), LabelerConfig(max_prompt_tokens=64)).label([rec("t", "GOOD " * 80, "BAD")])[0]
    assert huge["p_a"] is None and "responses alone exceed" in huge["error"]


def test_config_errors(scripted):
    with pytest.raises(RlaifError, match="no principle 'kindness'"):
        Labeler(scripted(), LabelerConfig(principles="kindness"))
    with pytest.raises(RlaifError, match="unknown constitution"):
        Labeler(scripted(), LabelerConfig(constitution="nope"))
    a, b = Labeler(scripted(), LabelerConfig()), Labeler(scripted(), LabelerConfig(shots=2))
    assert a.config_hash != b.config_hash and a.config_hash == Labeler(scripted(), LabelerConfig()).config_hash


class ParseJudge:
    """Answers with fixed text, to exercise the generate-and-parse baseline."""

    judge_id, context_length = "parse:test", None

    def __init__(self, answers):
        from rlaif.judges.base import Usage

        self.answers, self.usage = list(answers), Usage()

    def count_tokens(self, messages):
        return 10

    def generate(self, prompts, max_new_tokens):
        return [self.answers.pop(0) for _ in prompts]

    def label_logprobs(self, *a, **k):
        raise AssertionError("the parse baseline must not read log-probs")


def test_generate_and_parse_baseline():
    lab = Labeler(ParseJudge(["1", "Response 2 is better.", "I think 1.", "1", "hmm", "2"]), LabelerConfig(method="parse"))
    a, b, c = lab.label([rec("a", "x", "y"), rec("b", "x", "y"), rec("c", "x", "y")])
    assert (a["p_a_first"], a["p_a_second"], a["p_a"], a["consistent"]) == (1.0, 1.0, 1.0, True)
    assert (b["p_a"], b["consistent"]) == (0.5, False)  # "1" in both orders: position bias shows as a tie
    assert c["p_a"] is None and "no label in generated answer 'hmm'" in c["error"]


def test_calibration_is_applied_and_raw_kept(scripted):
    from rlaif.evaluation.calibration import Calibration

    plain = Labeler(scripted(strength=1.0), LabelerConfig()).label([rec("r", "GOOD", "BAD")])[0]
    cal = Labeler(scripted(strength=1.0), LabelerConfig(), calibration=Calibration(temperature=2.0))
    row = cal.label([rec("r", "GOOD", "BAD")])[0]
    assert row["p_a_raw"] == pytest.approx(plain["p_a"])
    logit = math.log(plain["p_a"] / (1 - plain["p_a"]))
    assert row["p_a"] == pytest.approx(1 / (1 + math.exp(-logit / 2)))
    assert cal.config_hash != Labeler(scripted(), LabelerConfig()).config_hash
