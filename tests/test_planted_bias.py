"""Planted-bias self-test: a controlled judge with a position, length or self-preference bias of known size,
labelled by the real Labeler and audited by the real ``compare``; the audit must flag the planted bias (p < 0.01)
and pass the unbiased judge (p > 0.05 on a fixed seed, and false alarms at about the nominal rate over many seeds)."""

import hashlib
import math
import re

import numpy as np
import pytest

from conftest import ScriptedJudge
from rlaif.evaluation.audit import ALPHA, self_preference_verdict
from rlaif.evaluation.compare import compute
from rlaif.labeling.labeler import Labeler


class PlantedJudge(ScriptedJudge):
    """Label logit of slot s = quality(response in s) + length_bias * chars / 100 (+ position_bias for slot 1)
    (+ self_bias for a response in its own style, OWN), plus independent N(0, noise^2) per prompt (seeded by the
    prompt text), so the two orders disagree by chance."""

    judge_id = "planted:test"
    OWN = "Certainly! "  # the judge's own responses start so: it recognises them by their style

    def __init__(self, position_bias=0.0, length_bias=0.0, noise=1.0, seed=0, self_bias=0.0):
        super().__init__(position_bias=position_bias)
        self.length_bias, self.noise, self.seed, self.self_bias = length_bias, noise, seed, self_bias

    def _q(self, text):
        return (float(re.search(r"Q([-+0-9.]+)", text).group(1)) + self.length_bias * len(text) / 100
                + self.self_bias * text.startswith(self.OWN))

    def label_logprobs(self, prompts, labels, continuations=None):
        out = super().label_logprobs(prompts, labels, continuations)
        for msgs, res in zip(prompts, out):
            h = hashlib.sha256(f"{self.seed}|{msgs[-1]['content']}".encode()).digest()
            res.logprobs[labels[0]] += self.noise * float(np.random.default_rng(int.from_bytes(h[:8], "big")).normal())
        return out


def pairs(n=200, seed=0):
    """Pairs of random quality and length (independent); humans prefer the better one with logistic noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        qa, qb = rng.normal(0, 1, 2)
        la, lb = rng.integers(20, 300, 2)
        rows.append({"id": f"p{i}", "prompt": f"User: question {i}",
                     "response_a": f"Q{qa:+.3f} " + "a" * int(la), "response_b": f"Q{qb:+.3f} " + "b" * int(lb),
                     "human_label": float(rng.random() < 1 / (1 + math.exp(-(qa - qb))))})
    return rows


def audit(judge, rows):
    return compute(Labeler(judge).label(rows), n_boot=50)["audit"]


def position_p(a):
    return min(a["position"]["mcnemar_p"], a["position"]["sign_test_p"])


def test_planted_position_bias_is_detected():
    a = audit(PlantedJudge(position_bias=0.5), pairs())  # +0.5 logit for slot 1 (P(slot 1) 0.5 -> ~0.6 at equal quality)
    assert position_p(a) < ALPHA and a["position"]["p_first_slot"] > 0.5
    assert a["position"]["slot1_both"] > a["position"]["slot2_both"]
    assert "favours the first slot" in a["verdicts"]["position bias"]
    assert a["length"]["mcnemar_p"] > 0.05  # the position bias is not mistaken for a length bias


def test_planted_length_bias_is_detected():
    a = audit(PlantedJudge(length_bias=0.5), pairs())  # +0.5 logit per 100 characters of extra length
    assert a["length"]["mcnemar_p"] < ALPHA and a["length"]["excess"] > 0 and a["length"]["ai_only"] > a["length"]["human_only"]
    assert "prefers the longer response more often than humans" in a["verdicts"]["length bias"]
    assert position_p(a) > 0.05


def test_unbiased_judge_is_not_flagged():
    a = audit(PlantedJudge(), pairs())
    assert position_p(a) > 0.05 and a["length"]["mcnemar_p"] > 0.05
    assert a["verdicts"]["position bias"].startswith("no significant")
    # over 20 seeds (new noise and new pairs), the 0.01-level tests raise at most 2 false alarms (expected 0.2 per
    # test; each test is at or below its level, being exact)
    alarms = sum(position_p(b) < ALPHA or b["length"]["mcnemar_p"] < ALPHA
                 for b in (audit(PlantedJudge(seed=s), pairs(seed=s)) for s in range(1, 21)))
    assert alarms <= 2


def sourced_pairs(n=200, seed=0, own_edge=0.0):
    """Pairs of one response by the judge (source ``PlantedJudge.judge_id``, in its style, slot a or b at random) and
    one by another model, of random quality (the judge's ``own_edge`` better on average) and equal length; humans
    prefer the better one with logistic noise, whoever wrote it."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        q_own, q_other = rng.normal(own_edge, 1), rng.normal(0, 1)
        own = f"{PlantedJudge.OWN}Q{q_own:+.3f} " + "o" * 40
        other = f"Q{q_other:+.3f} " + "x" * (40 + len(PlantedJudge.OWN))
        own_in_a = bool(rng.random() < 0.5)
        qa, qb = (q_own, q_other) if own_in_a else (q_other, q_own)
        a, b = (own, other) if own_in_a else (other, own)
        src = (PlantedJudge.judge_id, "other:model") if own_in_a else ("other:model", PlantedJudge.judge_id)
        rows.append({"id": f"s{i}", "prompt": f"User: question {i}", "response_a": a, "response_b": b,
                     "source_a": src[0], "source_b": src[1],
                     "human_label": float(rng.random() < 1 / (1 + math.exp(-(qa - qb))))})
    return rows


def test_planted_self_preference_is_detected():
    a = audit(PlantedJudge(self_bias=0.5), sourced_pairs())  # +0.5 logit for its own style, at equal quality
    sp = a["self_preference"]
    assert (sp["n"], sp["with_human_label"], sp["self_source"]) == (200, 200, ["planted:test"])
    assert sp["mcnemar_p"] < ALPHA and sp["excess"] > 0 and sp["ai_only"] > sp["human_only"]
    assert sp["binomial_p"] < ALPHA and sp["win_rate"] > 0.5 and sp["mean_p_own"] > 0.5
    assert a["verdicts"]["self-preference"].startswith("the judge prefers its own responses more often than humans do")
    assert position_p(a) > 0.05  # not mistaken for a position bias (the own response is in slot a or b at random)


def test_better_own_responses_are_not_self_preference():
    """An unbiased judge whose own responses are better (by 1 logit on average) picks them more often, which the
    binomial test sees; the audit against humans does not flag it. (It is not blind to it either: this judge is
    less noisy than the humans, so it picks the better response, here its own, a little more often than they
    do: excess +0.085, p = 0.033. A judge more decisive than the humans reads so on any property that goes
    with quality.)"""
    sp = audit(PlantedJudge(), sourced_pairs(own_edge=1.0))["self_preference"]
    assert sp["binomial_p"] < ALPHA and sp["win_rate"] > 0.6
    assert sp["mcnemar_p"] > ALPHA
    assert self_preference_verdict(sp).startswith("no significant self-preference relative to humans")
    alarms = sum(audit(PlantedJudge(seed=s), sourced_pairs(seed=s))["self_preference"]["mcnemar_p"] < ALPHA
                 for s in range(1, 11))
    assert alarms <= 1  # 10 seeds at the 0.01 level (an exact test stays at or below it): 0.1 expected
