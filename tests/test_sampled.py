"""Sampled soft labels (method='sample'): Jeffreys counts and intervals exact on controlled judges, 'auto' stopping
where it should, unparsed answers counted (never a tie), the log-prob config_hash unchanged, and on the embedded
judge the sampled estimate converging to the log-prob soft label restricted to the label tokens."""

import hashlib
import json
import math
import re

import numpy as np
import pytest

from conftest import ScriptedJudge
from rlaif.core.exact import jeffreys_interval
from rlaif.labeling.labeler import Labeler, LabelerConfig
from rlaif.labeling.sampled import SampledLabels, pair_interval, Counts


class SamplingJudge(ScriptedJudge):
    """``sample`` answers ``script(r1, r2, k)`` for sample k of a prompt showing r1 in slot 1, r2 in slot 2
    (k counts over all calls for that prompt, so 'auto' rounds continue the script); records each call's n."""

    def __init__(self, script):
        super().__init__()
        self.script, self.calls, self.drawn = script, [], {}

    def sample(self, prompts, sampling):
        self.calls.append((len(prompts), sampling.n, sampling.temperature, sampling.max_new_tokens))
        out = []
        for msgs in prompts:
            text = msgs[-1]["content"]
            r1 = re.search(r"Response 1:\n(.*?)\n\nResponse 2:", text, re.S).group(1)
            r2 = re.search(r"Response 2:\n(.*?)(?:\n\n|\n?\Z)", text, re.S).group(1)
            k0 = self.drawn.get(text, 0)
            self.drawn[text] = k0 + sampling.n
            out.append([self.script(r1, r2, k) for k in range(k0, k0 + sampling.n)])
        return out


def pair(i, a="A", b="B"):
    return {"id": f"r{i}", "prompt": f"User: q{i}", "response_a": a, "response_b": b, "human_label": None}


def counted(r1, r2, k):
    """a in slot 1: 7 x "1", 2 x "2", 1 unparsable; b in slot 1: 4 x "1" (= b), 6 x "2" (= a)."""
    if r1 == "A":
        return ["1", "1 is better", "1", "1", "1", "1", "(1)", "2", "Response 2", "twelve"][k]
    return ["1", "1", "1", "1", "2", "2", "2", "2", "2", "2"][k]


def test_jeffreys_counts_and_interval_exact():
    judge = SamplingJudge(counted)
    cfg = LabelerConfig(method="sample", sampling=SampledLabels(samples=10, temperature=0.7, max_new_tokens=3))
    [row] = Labeler(judge, cfg).label([pair(0)])
    assert judge.calls == [(2, 10, 0.7, 3)]  # one call: both orders, 10 answers each
    assert row["sample_counts"] == {"ab": [7, 2, 1], "ba": [4, 6, 0]} and row["samples_drawn"] == 10
    first, second = 7.5 / 10, 1 - 4.5 / 11  # (n1 + 1/2) / (n + 1) over the parsed answers
    assert (row["p_a_first"], row["p_a_second"], row["p_a"]) == pytest.approx((first, second, (first + second) / 2))
    # the interval: Beta matched to the mean and variance of (X + 1 - Y) / 2, X ~ Beta(7.5, 2.5), Y ~ Beta(4.5, 6.5)
    rng = np.random.default_rng(0)
    draws = (rng.beta(7.5, 2.5, 400_000) + 1 - rng.beta(4.5, 6.5, 400_000)) / 2
    assert row["p_a_ci95"] == pytest.approx(list(np.quantile(draws, [0.025, 0.975])), abs=0.01)
    # one order: exactly the Jeffreys interval of 7 of 9
    [one] = Labeler(SamplingJudge(counted), cfg.model_copy(update={"orders": "ab"})).label([pair(0)])
    assert one["p_a"] == pytest.approx(0.75) and one["p_a_ci95"] == pytest.approx(list(jeffreys_interval(7, 9)), abs=1e-8)


def test_unparsable_answers_are_counted_never_a_tie():
    judge = SamplingJudge(lambda r1, r2, k: "I cannot decide" if r1 == "A" else "2")
    [row] = Labeler(judge, LabelerConfig(method="sample", sampling=SampledLabels(samples=4))).label([pair(0)])
    assert row["p_a"] is None and row["sample_counts"] == {"ab": [0, 0, 4], "ba": [0, 4, 0]}
    assert row["error"] == "no label in any of 4 sampled answers (e.g. 'I cannot decide')"
    assert row["p_a_ci95"] == [None, None]  # a missing value is None, in lists too
    assert judge.usage.extra == {"sampled_answers": 8, "unparsed_answers": 4}


def test_auto_stops_where_the_interval_decides():
    # pair 0: a always wins (interval excludes 1/2 after the first round of 8);
    # pair 1: a coin (alternating answers), stops once the interval is narrower than 0.2
    def script(r1, r2, k):
        if "sure" in r1 + r2:
            return "1" if r1.startswith("A") else "2"
        return "12"[k % 2]

    cfg = SampledLabels(samples="auto", auto_step=8, auto_max=64, auto_width=0.2)
    judge = SamplingJudge(script)
    sure, coin = Labeler(judge, LabelerConfig(method="sample", sampling=cfg)).label(
        [pair(0, "A sure", "B sure"), pair(1)])
    assert sure["samples_drawn"] == 8 and sure["sample_counts"] == {"ab": [8, 0, 0], "ba": [0, 8, 0]}
    # the coin: after r rounds each order has 4r of 8r; the width first falls under 0.2 at r = 6 (by hand with
    # the normal approximation: sd^2 = 2 Var(Beta(4r+.5, 4r+.5)) / 4 ~ 1 / (64 r + 16), 3.92 sd < 0.2 <=> r > 5.75)
    assert coin["samples_drawn"] == 48 and coin["p_a"] == pytest.approx(0.5)
    widths = [pair_interval([Counts(4 * r, 4 * r), Counts(4 * r, 4 * r)], [False, True]) for r in (5, 6)]
    assert widths[0][2] - widths[0][1] > 0.2 > widths[1][2] - widths[1][1]
    # round 1 asks for all 4 prompts, then only the coin's 2
    assert [c[:2] for c in judge.calls] == [(4, 8)] + [(2, 8)] * 5
    capped = Labeler(SamplingJudge(script), LabelerConfig(method="sample", sampling=cfg.model_copy(
        update={"auto_max": 20}))).label([pair(1)])[0]
    assert capped["samples_drawn"] == 20  # rounds of 8, 8, then the 4 left under the cap


def test_logprob_config_hash_is_unchanged_and_settings_checked():
    lab = Labeler(ScriptedJudge())
    old_fields = ("constitution", "template", "principles", "ensemble_k", "seed", "cot", "cot_max_tokens", "shots",
                  "max_prompt_tokens", "method", "orders")  # LabelerConfig before method='sample'
    blob = json.dumps({"cfg": {k: getattr(lab.cfg, k) for k in old_fields}, "judge": lab.judge.judge_id,
                       "constitution": lab.constitution.model_dump(), "template": lab.template.model_dump(),
                       "calibration": None}, sort_keys=True, default=str)
    assert lab.config_hash == hashlib.sha256(blob.encode()).hexdigest()[:16]
    a = Labeler(ScriptedJudge(), LabelerConfig(method="sample")).config_hash
    b = Labeler(ScriptedJudge(), LabelerConfig(method="sample", sampling=SampledLabels(samples=8))).config_hash
    assert len({a, b, lab.config_hash}) == 3
    assert LabelerConfig(method="sample").sampling == SampledLabels()
    with pytest.raises(ValueError, match="sampling settings need method='sample'"):
        LabelerConfig(sampling=SampledLabels())


def test_cli_flags_build_the_settings():
    import argparse

    from rlaif.cli.jobs import label_args
    from rlaif.cli.sample_options import sample_settings
    from rlaif.core.errors import RlaifError

    p = argparse.ArgumentParser()
    label_args(p)
    args = p.parse_args(["in.jsonl", "-o", "o.jsonl", "--method", "sample", "--samples", "auto", "--temperature", "0.5",
                         "--auto-width", "0.1"])
    assert sample_settings(args) == SampledLabels(samples="auto", temperature=0.5, auto_width=0.1)
    with pytest.raises(RlaifError, match="--samples needs --method sample"):
        sample_settings(p.parse_args(["in.jsonl", "-o", "o.jsonl", "--samples", "8"]))


@pytest.mark.slow
def test_sampled_labels_converge_to_the_label_token_logprobs(llamacpp_judge, hh_rows):
    """The embedded judge at T = 1 sampling only the answer token: P(slot 1) estimated from K = 1000 answers (those
    naming a label) matches the log-prob soft label renormalised over the label tokens within 3 binomial standard
    errors on each of 4 HH pairs (fixed seeds). They measure the same quantity."""
    from rlaif.data.normalise import normalise_row

    rows = [normalise_row(r, i, f"hh:{i}") for i, r in enumerate(hh_rows[:4])]
    logprob = Labeler(llamacpp_judge, LabelerConfig(orders="ab")).label(rows)
    cfg = LabelerConfig(orders="ab", method="sample", sampling=SampledLabels(samples=1000, temperature=1.0, max_new_tokens=1))
    sampled = Labeler(llamacpp_judge, cfg).label(rows)
    for lp, sp in zip(logprob, sampled):
        n1, n2, unparsed = sp["sample_counts"]["ab"]
        assert n1 + n2 + unparsed == 1000 and n1 + n2 >= 100  # the label tokens take ~1/4 of this judge's mass
        p = lp["p_a"]
        se = math.sqrt(p * (1 - p) / (n1 + n2))
        assert abs(sp["p_a"] - p) < 3 * se, (sp["id"], sp["p_a"], p, se)
        assert sp["p_a_ci95"][0] < sp["p_a"] < sp["p_a_ci95"][1]
