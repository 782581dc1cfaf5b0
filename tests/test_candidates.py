"""From prompts to preferences: sampled generation (embedded model on llama.cpp and transformers), pairing
strategies, the Bradley-Terry fit, ranking with a controlled judge, DPO export strategies, bad input."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pydantic
import pytest

from conftest import ScriptedJudge, write_jsonl
from rlaif.core.errors import RlaifError
from rlaif.data.candidates import candidate_pairs, pair_normaliser, parse_strategy
from rlaif.data.records import read_records
from rlaif.data.sources import load_pairs
from rlaif.evaluation.bradley_terry import fit, ranks
from rlaif.evaluation.ranking import best_agreement, ranked_records
from rlaif.jobs.kinds import KINDS
from rlaif.jobs.pipeline import generate_file, label_file, score_file
from rlaif.jobs.spec import GenerateJob, LabelJob, RunOptions, ScoreJob
from rlaif.judges.sampling import Sampling, nucleus, sample_token
from rlaif.labeling.generator import GeneratorConfig
from rlaif.training.conversations import reply
from rlaif.training.dpo import export_ranked_rows, ranked_pairs

PROMPTS = [[{"role": "user", "content": "Give me one tip for sleeping better."}],
           [{"role": "user", "content": "Name a fruit."}]]


def test_nucleus_keeps_the_smallest_set_reaching_top_p_and_samples_by_its_probabilities():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    ids, p = nucleus(logits, 1.0, 0.8)
    assert list(ids) == [0, 1] and p == pytest.approx([0.5 / 0.8, 0.3 / 0.8])
    ids, p = nucleus(logits, 1.0, 0.81)
    assert list(ids) == [0, 1, 2]
    assert list(nucleus(logits, 0.0, 0.5)[0]) == [0]  # temperature 0: greedy
    ids, p = nucleus(logits, 2.0, 1.0)  # temperature flattens: p ∝ sqrt(original)
    assert p == pytest.approx(np.sqrt([0.5, 0.3, 0.15, 0.05]) / np.sqrt([0.5, 0.3, 0.15, 0.05]).sum())
    rng = np.random.default_rng(0)
    draws = np.bincount([sample_token(logits, 1.0, 0.8, rng) for _ in range(4000)], minlength=4)
    assert draws[2] == draws[3] == 0 and abs(draws[0] / 4000 - 0.625) < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["llamacpp_judge", "hf_judge"])
def test_sampling_is_reproducible_with_a_seed_and_differs_across_seeds(engine, request):
    policy = request.getfixturevalue(engine)
    s0 = Sampling(n=3, max_new_tokens=16, seed=0)
    first = policy.sample(PROMPTS, s0)
    assert [len(r) for r in first] == [3, 3] and all(t.strip() for r in first for t in r)
    assert len(set(first[0])) > 1  # n different samples, not n copies
    assert policy.sample(PROMPTS[:1], s0) == first[:1]  # same seed, alone in its batch: same responses
    assert policy.sample(PROMPTS[:1], Sampling(n=3, max_new_tokens=16, seed=1)) != first[:1]
    greedy = policy.sample(PROMPTS[:1], Sampling(n=2, max_new_tokens=12, temperature=0))[0]
    assert greedy[0] == greedy[1] == policy.generate(PROMPTS[:1], 12)[0]


def test_pairing_strategies():
    assert candidate_pairs(4, "all") == list(itertools.combinations(range(4), 2))
    assert candidate_pairs(4, "adjacent") == [(0, 1), (0, 3), (1, 2), (2, 3)]  # the cycle 0-1-2-3-0
    assert candidate_pairs(2, "adjacent") == [(0, 1)]
    r = candidate_pairs(5, "random", 3, seed=0, group="g1")
    assert len(set(r)) == 3 and all(i < j < 5 for i, j in r)
    assert r == candidate_pairs(5, "random", 3, seed=0, group="g1")  # seeded: the same on every run
    others = {tuple(candidate_pairs(5, "random", 3, seed=s, group=g)) for s in range(3) for g in ("g1", "g2")}
    assert len(others) > 1
    assert candidate_pairs(3, "random", 10) == [(0, 1), (0, 2), (1, 2)]
    for bad in ("some", "random", "random:0", "all:2"):
        with pytest.raises(ValueError, match="--pairs"):
            parse_strategy(bad)


def test_candidate_rows_become_pairs_and_bad_rows_name_row_and_field(tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", [
        {"id": "q1", "prompt": "p", "responses": ["a", "b", "c"]},
        {"id": "q2", "prompt": "p", "responses": ["only one"]},
        {"id": "q3", "responses": ["a", "b"]},
        {"id": "q4", "prompt": "p", "responses": "not a list"},
        {"id": "q5", "prompt": "User: p", "messages": [{"role": "user", "content": "p"}], "responses": ["a", "b"]},
        {"id": "q6", "prompt": "p", "messages": [{"role": "user", "content": 3}], "responses": ["a", "b"]},
        {"id": "q7", "prompt": "p", "messages": "p", "responses": ["a", "b"]}])
    loaded = load_pairs(src, normalise=pair_normaliser("all"))
    assert [r["id"] for r in loaded.records] == ["q1:0-1", "q1:0-2", "q1:1-2", "q5:0-1"]
    assert loaded.records[2] == {"id": "q1:1-2", "prompt": "p", "response_a": "b", "response_b": "c",
                                 "human_label": None, "group": "q1", "candidate_a": 1, "candidate_b": 2}
    assert loaded.records[3]["messages"] == [{"role": "user", "content": "p"}]  # kept for training
    reasons = [msg for _, msg in loaded.invalid]
    assert f"{src}:2 field 'responses' has 1 response(s); pairs need at least 2" in reasons
    assert f"{src}:3 field 'prompt' is missing" in reasons
    assert f"{src}:4 field 'responses' must be a list of strings" in reasons
    assert f"{src}:6 field 'messages[0].content' must be a string, got int" in reasons
    assert any(r.startswith(f"{src}:7 field 'messages' must be a list of chat messages") for r in reasons)
    no_strategy = load_pairs(src, limit=1)
    assert "label it with --pairs" in no_strategy.invalid[0][1]


def test_bradley_terry_recovers_known_scores_and_stays_finite():
    true = np.array([1.2, 0.4, -0.1, -1.5])
    comps = [(i, j, 1 / (1 + math.exp(-(true[i] - true[j])))) for i, j in itertools.combinations(range(4), 2)]
    s, ll = fit(4, comps, l2=1e-8)
    assert s == pytest.approx(true - true.mean(), abs=1e-5) and ranks(s) == [1, 2, 3, 4]
    assert ll == pytest.approx(sum(p * math.log(p) + (1 - p) * math.log(1 - p) for *_, p in comps), abs=1e-6)
    rng = np.random.default_rng(0)  # noisy soft labels around the truth, each pair once in each order
    noisy = [(i, j, float(np.clip(p + rng.normal(0, 0.05), 0, 1))) for i, j, p in comps]
    assert ranks(fit(4, noisy)[0]) == [1, 2, 3, 4]
    s, _ = fit(3, [(0, 1, 1.0), (1, 2, 1.0)])  # unanimous: finite, ordered
    assert np.all(np.isfinite(s)) and s[0] > s[1] > s[2]
    s, _ = fit(4, [(0, 1, 0.9), (2, 3, 0.2)])  # disconnected: finite, each component ordered
    assert np.all(np.isfinite(s)) and s[0] > s[1] and s[3] > s[2] and s.sum() == pytest.approx(0, abs=1e-9)


def _controlled_run(tmp_path, n=4, pairs="all"):
    tmp_path.mkdir(exist_ok=True)
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": f"q{i}", "prompt": f"question {i}"} for i in range(3)])
    run = lambda out: RunOptions(input=str(prompts), output=str(tmp_path / out), progress=False)  # noqa: E731
    gen = generate_file(GenerateJob(run=run("c.jsonl"), generator=GeneratorConfig(sampling=Sampling(n=n))),
                        ScriptedJudge())
    cands = RunOptions(input=str(tmp_path / "c.jsonl"), output=str(tmp_path / "l.jsonl"), progress=False)
    label_file(LabelJob(run=cands, pairs=pairs), ScriptedJudge(position_bias=0.5))
    score_file(ScoreJob(run=cands.model_copy(update={"output": str(tmp_path / "s.jsonl")})), ScriptedJudge())
    return gen, read_records(tmp_path / "l.jsonl"), read_records(tmp_path / "s.jsonl")


def test_ranking_with_a_controlled_judge_puts_good_first_and_bad_last(tmp_path):
    gen, labels, scores = _controlled_run(tmp_path)
    assert gen.done_now == 3 and len(labels) == 3 * 6 and len(scores) == 3 * 4
    ranked = ranked_records(labels, scores, "bt")
    assert len(ranked) == 3
    for r in ranked:  # candidates: GOOD, plain, BAD, plain
        assert r["responses"] == list(ScriptedJudge.CANDIDATES[:4])
        assert r["ranks"][0] == 1 and r["ranks"][2] == 4 and r["pairs_used"] == 6
        assert r["bt_scores"][1] == pytest.approx(r["bt_scores"][3], abs=1e-9)  # two plain replies tie
        assert r["bt_log_likelihood"] < 0
    assert best_agreement(ranked) == (3, 3)
    by_score = ranked_records(labels, scores, "score")
    assert [r["ranks"][0] for r in by_score] == [1, 1, 1] and by_score[0]["ranked_by"] == "score"
    adjacent = _controlled_run(tmp_path / "adjacent", pairs="adjacent")[1]
    assert len(adjacent) == 3 * 4 and ranked_records(adjacent, None)[0]["ranks"] == [1, 2, 4, 2]


def test_export_strategies_orient_pairs_by_the_ranking():
    ranked = [{"id": "q", "prompt": "p", "responses": ["r0", "r1", "r2", "r3"], "scores": [0.1, 2.0, -1.0, 0.1]}]
    assert ranked_pairs(ranked[0]["scores"], "best-worst") == [(1, 2)]
    assert ranked_pairs(ranked[0]["scores"], "best-vs-rest") == [(1, 0), (1, 3), (1, 2)]
    assert sorted(ranked_pairs(ranked[0]["scores"], "all-pairs")) == [(0, 2), (1, 0), (1, 2), (1, 3), (3, 2)]
    rows = export_ranked_rows(ranked, "all-pairs", min_margin=1.0)
    assert {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows} == {("r1", "r0"), ("r1", "r2"), ("r1", "r3"), ("r0", "r2"),
                                                            ("r3", "r2")}
    best = export_ranked_rows(ranked, "best-worst")[0]
    assert (best["chosen"], best["rejected"], best["id"]) == (reply("r1"), reply("r2"), "q:1>2")
    assert best["prompt"] == [{"role": "user", "content": "p"}]
    assert best["p_chosen"] == pytest.approx(1 / (1 + math.exp(-3.0)))
    assert export_ranked_rows(ranked, "all-pairs", min_margin=2.5) == [best]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rlaif", *map(str, args)], capture_output=True, text=True)


@pytest.mark.slow  # runs the CLI in subprocesses (or Ray): > 9 s on 2 cores
def test_cli_prompts_to_dpo_rows_and_bad_input(tmp_path):
    _, labels, _ = _controlled_run(tmp_path)
    out = _cli("rank", tmp_path / "l.jsonl", "--scores", tmp_path / "s.jsonl", "-o", tmp_path / "r.jsonl")
    assert out.returncode == 0 and "BT-best = score-best in 3 of 3 prompts" in out.stdout, out.stderr
    out = _cli("export-dpo", tmp_path / "r.jsonl", "-o", tmp_path / "d.jsonl", "--strategy", "best-vs-rest")
    assert out.returncode == 0, out.stderr
    rows = read_records(tmp_path / "d.jsonl")
    assert len(rows) == 3 * 3 and all(r["chosen"] == reply("a GOOD reply") for r in rows)
    mixed = [dict(r, config_hash="other") if i == 4 else r for i, r in enumerate(labels)]
    write_jsonl(tmp_path / "mixed.jsonl", mixed)
    out = _cli("rank", tmp_path / "mixed.jsonl", "-o", tmp_path / "x.jsonl")
    assert out.returncode == 2 and f"{tmp_path / 'mixed.jsonl'}:5: config_hash other differs" in out.stderr
    assert not (tmp_path / "x.jsonl").exists()
    write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "prompt": "hi"}, {"id": "b", "text": "no prompt"}])
    out = _cli("generate", tmp_path / "bad.jsonl", "-o", tmp_path / "g.jsonl")
    assert out.returncode == 2 and f"{tmp_path / 'bad.jsonl'}:2 field 'prompt' is missing" in out.stderr
    out = _cli("label", tmp_path / "c.jsonl", "-o", tmp_path / "y.jsonl", "--pairs", "random:0")
    assert out.returncode == 2 and "--pairs 'random:0'" in out.stderr and len(out.stderr.splitlines()) == 1


def test_generate_resumes_and_refuses_other_sampling(tmp_path):
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": f"q{i}"} for i in range(5)]
                          + [{"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: yo"}])
    job = GenerateJob(run=RunOptions(input=str(prompts), output=str(tmp_path / "c.jsonl"), progress=False, limit=3))
    assert generate_file(job, ScriptedJudge()).done_now == 3
    full = job.model_copy(update={"run": job.run.model_copy(update={"limit": None})})
    s = generate_file(full, ScriptedJudge())
    assert (s.resumed, s.done_now) == (3, 3)
    rows = read_records(tmp_path / "c.jsonl")
    assert [r["id"] for r in rows] == [f"row-{i}" for i in range(6)]
    assert rows[5]["messages"] == [{"role": "user", "content": "hi"}] and rows[5]["prompt"] == "User: hi"
    assert json.loads(json.dumps(rows[0]["sampling"]))["n"] == 4 and rows[0]["policy"] == "scripted:test"
    other = full.model_copy(update={"generator": GeneratorConfig(sampling=Sampling(seed=1))})
    with pytest.raises(RlaifError, match="other settings"):
        generate_file(other, ScriptedJudge())


def test_sources_of_candidates_and_input_pairs_reach_the_pair_records(tmp_path):
    rows = [{"id": "q1", "prompt": "p", "responses": ["a", "b", "c"], "policy": "hf:pol"},
            {"id": "q2", "prompt": "p", "responses": ["a", "b", "c"], "policy": "hf:pol", "kept_label": "b",
             "sources": ["dataset", "dataset", "hf:pol"]},
            {"id": "q3", "prompt": "p", "responses": ["a", "b"], "sources": ["one"]},
            {"id": "q4", "prompt": "p", "response_a": "a", "response_b": "b", "source_a": "m1", "source_b": "m2"},
            {"id": "q5", "prompt": "p", "response_a": "a", "response_b": "b", "source_a": "m1"}]
    loaded = load_pairs(write_jsonl(tmp_path / "c.jsonl", rows), normalise=pair_normaliser("all"))
    got = {r["id"]: (r.get("source_a"), r.get("source_b")) for r in loaded.records}
    assert got == {"q1:0-1": ("hf:pol", "hf:pol"), "q1:0-2": ("hf:pol", "hf:pol"), "q1:1-2": ("hf:pol", "hf:pol"),
                   "q2:0-1": ("dataset", "dataset"), "q2:0-2": ("dataset", "hf:pol"), "q2:1-2": ("dataset", "hf:pol"),
                   "q4": ("m1", "m2")}
    # the kept pair's human label (humans preferred responses[1]) goes to pair 0-1 only
    assert [r["human_label"] for r in loaded.records if r["id"].startswith("q2")] == [0.0, None, None]
    assert [msg for _, msg in loaded.invalid] == [
        f"{tmp_path / 'c.jsonl'}:3 field 'sources' must be a list of 2 names, one per response",
        f"{tmp_path / 'c.jsonl'}:5 field 'source_b' is missing"]


class _NoOptions(pydantic.BaseModel):
    pass


def _policy(name):
    """A ScriptedJudge recording ``name`` as its id (as a policy: it replies "a GOOD reply" first)."""
    judge = ScriptedJudge()
    judge.judge_id = name
    return judge


def test_keep_responses_chains_policies_and_keeps_who_wrote_what(tmp_path):
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": "q0", "prompt": "question 0"},
                                                   {"id": "q1", "chosen": "\n\nHuman: hi\n\nAssistant: hello",
                                                    "rejected": "\n\nHuman: hi\n\nAssistant: yo"}])
    run = lambda i, o: RunOptions(input=str(tmp_path / i), output=str(tmp_path / o), progress=False)  # noqa: E731
    keep = GeneratorConfig(sampling=Sampling(n=1, seed=1), keep_responses=True)
    generate_file(GenerateJob(run=run("p.jsonl", "a.jsonl"), generator=keep), _policy("policy:A"))
    a = read_records(tmp_path / "a.jsonl")
    assert (a[0]["responses"], a[0]["sources"]) == (["a plain reply"], ["policy:A"])
    assert sorted(a[1]["responses"][:2]) == ["hello", "yo"] and a[1]["sources"] == ["dataset", "dataset", "policy:A"]
    assert a[1]["kept_label"] == (1.0 if a[1]["responses"][0] == "hello" else 0.0) and "kept_label" not in a[0]
    generate_file(GenerateJob(run=run("a.jsonl", "ab.jsonl"), generator=keep), _policy("policy:B"))
    ab = read_records(tmp_path / "ab.jsonl")
    assert ab[0]["sources"] == ["policy:A", "policy:B"] and ab[1]["sources"] == ["dataset", "dataset", "policy:A", "policy:B"]
    assert ab[1]["kept_label"] == a[1]["kept_label"]
    assert [(r["prompt"], r["messages"]) for r in ab] == [(r["prompt"], r["messages"]) for r in a]  # A's conversation
    plain = GeneratorConfig(sampling=Sampling(n=1, seed=1))
    assert KINDS["generate"].config_hash(GenerateJob(run=run("p.jsonl", "x"), generator=plain), "policy:A") != \
        KINDS["generate"].config_hash(GenerateJob(run=run("p.jsonl", "x"), generator=keep), "policy:A")


def test_cli_self_preference_from_generate_to_compare(tmp_path, capsys):
    """The judge's model as the policy, its responses kept beside the dataset's, labelled by the same judge: the
    label records say who wrote each response and ``compare`` audits self-preference against human labels."""
    from rlaif.cli import main
    from rlaif.judges import judge_id, registry

    # the same model as judge and as policy records one id, however its spec is spelled
    assert judge_id(None) == judge_id("embedded") == judge_id("llamacpp:embedded")
    prompts = write_jsonl(tmp_path / "hh.jsonl", [{"id": f"q{i}", "prompt": f"question {i}", "chosen": f"plain {i}",
                                                     "rejected": f"other {i}"} for i in range(8)])
    registry.register("selfjudge", registry.JudgeKind("selfjudge", "X", "test", _NoOptions, lambda a, o: ScriptedJudge(),
                                                      lambda a, o: ScriptedJudge.judge_id))
    try:
        assert main(["generate", str(prompts), "-o", str(tmp_path / "c.jsonl"), "--policy", "selfjudge:x", "-n", "1",
                     "--keep-responses", "--no-progress"]) == 0
        assert main(["label", str(tmp_path / "c.jsonl"), "-o", str(tmp_path / "l.jsonl"), "--judge", "selfjudge:x",
                     "--pairs", "all", "--no-progress"]) == 0
    finally:
        registry.unregister("selfjudge")
    labels = {r["id"]: r for r in read_records(tmp_path / "l.jsonl")}
    assert len(labels) == 8 * 3 and {(r["source_a"], r["source_b"]) for r in labels.values()} == {
        ("dataset", "dataset"), ("dataset", "scripted:test")}  # the policy's reply is candidate 2, in slot b
    own = [k for k, r in labels.items() if r["source_b"] == "scripted:test"]
    assert all(labels[k]["response_b"] == "a GOOD reply" and labels[k]["p_a"] < 0.5 for k in own)
    # the dataset's pairs keep their human labels (chosen is "plain i"), so compare runs on this file as it is
    assert all(r["human_label"] == float(r["response_a"].startswith("plain")) for k, r in labels.items() if k.endswith(":0-1"))
    assert main(["compare", str(tmp_path / "l.jsonl"), "-o", str(tmp_path / "rep0"), "--bootstrap", "20"]) == 0
    alone = json.loads((tmp_path / "rep0" / "figures.json").read_text())["audit"]["verdicts"]["self-preference"]
    assert alone.startswith("the judge picks its own response more often than not (100.0% of 16 pairs, p = 3.1e-05")
    # humans prefer the judge's reply in the pairs of q0-q3 (label 0: slot b), the dataset's in those of q4-q7
    human = write_jsonl(tmp_path / "h.jsonl", [{"id": k, "human_label": float(k >= "q4")} for k in own])
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "l.jsonl"), "--human", str(human), "-o", str(tmp_path / "rep"),
                 "--bootstrap", "50"]) == 0
    sp = json.loads((tmp_path / "rep" / "figures.json").read_text())["audit"]["self_preference"]
    assert (sp["n"], sp["wins"], sp["binomial_p"], sp["self_source"]) == (16, 16, pytest.approx(2 / 2 ** 16), ["scripted:test"])
    assert (sp["ai_rate"], sp["human_rate"], sp["ai_only"], sp["human_only"], sp["mcnemar_p"]) == (
        1.0, 0.5, 8, 0, pytest.approx(2 / 256))
    assert "audit: self-preference" in capsys.readouterr().out
    verdict = "the judge prefers its own responses more often than humans do (excess +0.500, p = 0.0078 < 0.01)"
    assert verdict in (tmp_path / "rep" / "report.md").read_text()
