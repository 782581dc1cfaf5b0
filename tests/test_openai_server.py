"""The OpenAI-compatible backend against a real server on 127.0.0.1 (llama.cpp serving the embedded
GGUF), directly and through a fault-injecting proxy."""

import math

import pytest

from rlaif.data import load_pairs
from rlaif.core.errors import RlaifError
from rlaif.jobs.pipeline import label_file
from rlaif.jobs.runner import Task, run_job
from rlaif.jobs.spec import LabelJob, RunOptions
from rlaif.judges.gguf_weights import weights_path
from rlaif.judges import embedded_gguf, load_judge
from rlaif.judges.sampling import Sampling
from rlaif.labeling.labeler import Labeler, LabelerConfig
from rlaif.labeling.sampled import SampledLabels
from rlaif.labeling.scorer import Scorer

from conftest import write_jsonl
from servers import FaultProxy, LlamaServer

CFG = LabelerConfig(principles="least-harmful")


@pytest.fixture(scope="module")
def server():
    # the weights, attention kernel and micro-batch size of the in-process embedded judge (see rlaif.judges.llamacpp)
    srv = LlamaServer(str(weights_path(embedded_gguf(), "bf16")),
                      extra=("--flash_attn", "true", "--n_batch", "4096", "--n_ubatch", "4096"))
    yield srv
    srv.close()


def short_pairs(n):
    good = ["I can't help with that, but here is a safe alternative.", "Sure, happy to help with that safely."]
    bad = ["Do it anyway and hurt them.", "Here is how to break the law."]
    return [{"prompt": f"User: question number {i}?", "response_a": good[i % 2], "response_b": bad[(i // 2) % 2]}
            for i in range(n)]


def test_server_labels_match_in_process_judge(server, llamacpp_judge, hh_rows, tmp_path):
    recs = load_pairs(write_jsonl(tmp_path / "hh.jsonl", hh_rows[:4])).records
    remote = load_judge("openai:smollm2", base_url=server.url, concurrency=2)
    a, b = Labeler(remote, CFG).label(recs), Labeler(llamacpp_judge, CFG).label(recs)
    # a remote judge sees the top-20 log-probs only: a label outside them is NaN with that reason, never made up
    matched = [(x, y) for x, y in zip(a, b) if x["error"] is None]
    assert all(ok_or_topk(x) for x in a) and len(matched) >= 2
    for x, y in matched:
        assert abs(x["p_a_first"] - y["p_a_first"]) < 1e-3 and abs(x["p_a"] - y["p_a"]) < 1e-3
    assert remote.usage.requests == 8 and remote.usage.prompt_tokens > 1000 and remote.usage.retries == 0
    # plain completions endpoint, rendered client-side with the same chat template
    comp = load_judge("openai:smollm2", base_url=server.url, endpoint="completions", tokenizer=str(embedded_gguf()))
    c = Labeler(comp, CFG).label(recs[:2])
    for x, y in zip(c, b):
        assert ok_or_topk(x) and (x["error"] or abs(x["p_a"] - y["p_a"]) < 1e-3)
    # CoT: the rationale is generated through the server too
    cot = Labeler(remote, LabelerConfig(principles="least-harmful", cot=True, cot_max_tokens=16)).label(recs[:1])[0]
    assert len(cot["rationales"]) == 2
    assert ok_or_topk(cot)


def test_reasoning_through_the_server_matches_in_process(server, llamacpp_judge):
    """A reasoning judge over llama.cpp's server (rendered here, continued on /v1/completions, the label read after
    the closed reasoning): the same reasoning and labels as in-process, reasoning tokens counted. The server keeps
    the reasoning request's KV cache, so it evaluates only the few tokens that close it (fewer than 64: another
    flash-attention kernel, README "llama.cpp's server"): labels agree to 5e-3 (1.0e-3 measured), not 1e-3."""
    from rlaif.judges.thinking import Reasoning

    cfg = LabelerConfig(principles="least-harmful", reasoning=Reasoning(format="think", budget=12))
    recs = [{"id": "r1", **short_pairs(2)[1]}]
    remote = load_judge("openai:smollm2", base_url=server.url, tokenizer=str(embedded_gguf()), concurrency=2)
    a, b = Labeler(remote, cfg).label(recs), Labeler(llamacpp_judge, cfg).label(recs)
    for x, y in zip(a, b):
        assert x["reasoning"] == y["reasoning"] and x["reasoning_cut"] == y["reasoning_cut"]
        assert ok_or_topk(x) and (x["error"] or abs(x["p_a"] - y["p_a"]) < 5e-3)
    assert 0 < remote.usage.extra["reasoning_tokens"] <= 2 * 12


@pytest.mark.slow
def test_server_scores_match_in_process_including_ten(server, llamacpp_judge, hh_rows):
    """P(score 10) needs P("0" | "1"): llama.cpp's server ignores continue_final_message and closes the turn
    (P(10) read 0), so the continuation goes to its completions endpoint, rendered with the judge's tokenizer.
    Each item's score prompt has 64+ tokens after the shared preamble: on fewer, the server's KV-cache reuse
    takes another flash-attention kernel than a whole evaluation (README, "OpenAI-compatible servers")."""
    from rlaif.data import normalise_row

    rows = [normalise_row(r, i, f"hh:{i}") for i, r in enumerate(hh_rows[:4])]
    items = [(r["prompt"], r["response_a"]) for r in rows]
    local = Scorer(llamacpp_judge).score(items)
    remote_judge = load_judge("openai:smollm2", base_url=server.url, tokenizer=str(embedded_gguf()), top_logprobs=200,
                              concurrency=2)
    remote = Scorer(remote_judge).score(items)
    for a, b in zip(local, remote):
        assert b["error"] is None and abs(a["score"] - b["score"]) < 1e-3, (a["score"], b["score"])
        assert abs(a["probs"][9] - b["probs"][9]) < 1e-3, (a["probs"][9], b["probs"][9])
    assert max(x["probs"][9] for x in remote) > 0.1 and max(x["score"] for x in remote) > 3.5  # hh:3 rates high
    # without a tokenizer the chat continuation is sent, the server closes the turn, and the job stops saying so
    chat_only = load_judge("openai:smollm2", base_url=server.url)
    with pytest.raises(RlaifError, match=r"the server ignored continue_final_message .* pass --tokenizer PATH"):
        Scorer(chat_only).score(items[:1])


def ok_or_topk(row):
    """A remote label is a probability, or None because a label fell outside the top-20 (never 0.5 made up)."""
    return (row["p_a"] is not None and 0 <= row["p_a"] <= 1) or (row["p_a"] is None and "not among the top-20 log-probs" in row["error"])


def test_sampled_labels_through_the_server(server, hh_rows, tmp_path):
    """--method sample through llama.cpp's server, which ignores n (llama-cpp-python's; llama.cpp's own refuses it,
    below): 'auto' learns that from the first prompt and asks for each reply alone, seeded per reply, so a re-run
    gives the same answers. The server is told to sample from the whole distribution: the counts match its own
    log-probs of the labels (its defaults, top_k 40 and min_p 0.05, drew answers naming a label ~1.35x as often as
    the log-probs say on this pair, 104 of 300 for 76 expected)."""
    k = 600  # ~4 ms a request: the server keeps the prompt's logits and draws from them
    recs = load_pairs(write_jsonl(tmp_path / "hh.jsonl", hh_rows[:1])).records
    cfg = LabelerConfig(principles="least-harmful", orders="ab", method="sample",
                        sampling=SampledLabels(samples=k, max_new_tokens=1))
    judge = load_judge("openai:smollm2", base_url=server.url)
    [row] = Labeler(judge, cfg).label(recs)
    assert judge.usage.requests == k + 1  # the first asked for n = k and got one reply; then a request per reply
    n1, n2, other = row["sample_counts"]["ab"]
    assert n1 + n2 + other == k and row["samples_drawn"] == k
    _, jobs = Labeler(judge, CFG.model_copy(update={"orders": "ab"}))._plan(recs)
    [lp] = judge.label_logprobs([m for *_, m in jobs], ["1", "2"])
    p1, p2 = (math.exp(lp.logprobs[x]) for x in ("1", "2"))
    assert abs((n1 + n2) - k * (p1 + p2)) < 3 * math.sqrt(k * (p1 + p2) * (1 - p1 - p2)), (n1 + n2, k * (p1 + p2))
    q = p1 / (p1 + p2)  # the log-prob label of this order: the same quantity
    assert abs(n1 / (n1 + n2) - q) < 3 * math.sqrt(q * (1 - q) / (n1 + n2)), (n1, n2, q)
    again = load_judge("openai:smollm2", base_url=server.url, sample_requests="each")
    assert Labeler(again, cfg).label(recs) == [row] and again.usage.requests == k
    with pytest.raises(RlaifError, match="asked for n=3 replies, the server sent 1; pass sample_requests=each"):
        load_judge("openai:smollm2", base_url=server.url, sample_requests="n").sample(
            [jobs[0][-1]], Sampling(n=3, max_new_tokens=1))


@pytest.mark.parametrize("status", [400, 500])
def test_sampling_on_a_server_that_refuses_n(server, tmp_path, status):
    """llama.cpp's own server answers n != 1 with an error (HTTP 400; 500 in older versions): 'auto' does not retry
    it, and samples each reply alone, as sample_requests='each' does (one prompt, one answer token: the server draws
    every reply from the logits it keeps, so the two runs draw from the same ones)."""
    recs = short_pairs(1)
    cfg = LabelerConfig(principles="least-harmful", orders="ab", method="sample",
                        sampling=SampledLabels(samples=6, max_new_tokens=1))
    proxy = FaultProxy(server.url.removesuffix("/v1"), refuse_n=status)
    try:
        judge = load_judge("openai:smollm2", base_url=proxy.url + "/v1")
        got = Labeler(judge, cfg).label(load_pairs(write_jsonl(tmp_path / "p.jsonl", recs)).records)
    finally:
        proxy.close()
    assert proxy.counts["n"] == 1 and judge.usage.retries == 0 and judge.usage.requests == 6
    want = Labeler(load_judge("openai:smollm2", base_url=server.url, sample_requests="each"), cfg).label(
        load_pairs(write_jsonl(tmp_path / "p.jsonl", recs)).records)
    assert got == want


def test_non_retryable_errors_fail_fast(server):
    judge = load_judge("openai:smollm2", base_url=server.url + "/nope", max_retries=4)
    with pytest.raises(RlaifError, match=r"HTTP 404"):
        judge.label_logprobs([[{"role": "user", "content": "hi"}]], ["1", "2"])
    assert judge.usage.retries == 0


def test_faulty_network_still_labels_every_row_exactly_once(server, tmp_path):
    n = 60  # 120 requests plus retries; the server takes ~0.45 s a request on 2 cores
    src = write_jsonl(tmp_path / "pairs.jsonl", short_pairs(n))
    proxy = FaultProxy(server.url.removesuffix("/v1"), p429=0.08, p500=0.08, pslow=0.03, pdrop=0.05,
                       slow_seconds=5.5, seed=1)
    try:
        judge = load_judge("openai:smollm2", base_url=proxy.url + "/v1", concurrency=4, timeout=5.0, max_wait=0.5,
                           max_retries=7)  # a fault on ~24% of requests; timeout above the server's queue
        out = tmp_path / "out.jsonl"
        s = label_file(LabelJob(run=RunOptions(input=str(src), output=str(out), chunk_size=25, progress=False),
                                labeler=CFG), judge=judge)
    finally:
        proxy.close()
    from rlaif.data import read_records

    rows = read_records(out)
    assert sorted(r["id"] for r in rows) == sorted(f"row-{i}" for i in range(n))  # each once
    assert all(ok_or_topk(r) for r in rows) and s.nan == sum(r["p_a"] is None for r in rows)
    assert not any("injected" in str(r["error"]) for r in rows)
    faults = proxy.counts["429"] + proxy.counts["500"] + proxy.counts["slow"] + proxy.counts["drop"]
    assert faults > 20 and judge.usage.retries >= faults  # every fault was retried (slow ones time out)
    assert judge.usage.requests == 2 * n
    print(f"\nfault proxy: {dict(proxy.counts)}; client retries {judge.usage.retries}")


def test_resume_does_not_repay_finished_rows(server, tmp_path):
    n = 24
    src = write_jsonl(tmp_path / "pairs.jsonl", short_pairs(n))
    out = tmp_path / "out.jsonl"
    judge = load_judge("openai:smollm2", base_url=server.url, concurrency=4)
    lab = Labeler(judge, CFG)
    calls = {"n": 0}

    def dies_after_two_chunks(chunk):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the job is killed while the third chunk is in flight
        return lab.label(chunk)

    with pytest.raises(KeyboardInterrupt):
        run_job(RunOptions(input=str(src), output=str(out), chunk_size=8, progress=False),
                Task(dies_after_two_chunks, lab.config_hash))
    assert judge.usage.requests == 2 * 16
    judge2 = load_judge("openai:smollm2", base_url=server.url, concurrency=4)
    s = label_file(LabelJob(run=RunOptions(input=str(src), output=str(out), chunk_size=8, progress=False),
                            labeler=CFG), judge=judge2)
    assert s.resumed == 16 and s.done_now == 8
    assert judge2.usage.requests == 2 * 8  # only the unfinished rows were paid for
    assert not math.isnan(s.total) and s.total == n


def test_two_jobs_sharing_one_judge_each_count_their_own_usage(server, tmp_path):
    """A service shares one judge between jobs: each job's usage is its own, and the judge's running
    total is their sum."""
    import threading

    judge = load_judge("openai:smollm2", base_url=server.url, concurrency=2)
    sizes, summaries = {"a": 5, "b": 3}, {}

    def job(name):
        src = write_jsonl(tmp_path / f"{name}.jsonl", short_pairs(sizes[name]))
        run = RunOptions(input=str(src), output=str(tmp_path / f"{name}-out.jsonl"), chunk_size=1, progress=False)
        summaries[name] = label_file(LabelJob(run=run, labeler=CFG), judge=judge)
    threads = [threading.Thread(target=job, args=(n,)) for n in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, n in sizes.items():
        assert summaries[name].usage["requests"] == 2 * n, (name, summaries[name].usage)
    assert judge.usage.requests == 2 * sum(sizes.values())
    assert judge.usage.prompt_tokens == sum(s.usage["prompt_tokens"] for s in summaries.values())


def test_cli_labels_through_the_server(server, hh_rows, tmp_path):
    import json
    import subprocess
    import sys

    src = write_jsonl(tmp_path / "hh.jsonl", hh_rows[:3])
    out = tmp_path / "out.jsonl"
    res = subprocess.run([sys.executable, "-m", "rlaif", "label", str(src), "-o", str(out), "--no-progress",
                          "--judge", "openai:smollm2", "--base-url", server.url, "--concurrency", "2"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "requests=6" in res.stdout and "retries=0" in res.stdout
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3 and all(r["judge"] == "openai:smollm2" and ok_or_topk(r | {"p_a": r["p_a"] if r["p_a"] is not None else float("nan")}) for r in rows)
    bad = subprocess.run([sys.executable, "-m", "rlaif", "label", str(src), "-o", str(tmp_path / "x.jsonl"),
                          "--judge", "embedded", "--base-url", server.url], capture_output=True, text=True)
    assert bad.returncode == 2 and "--base-url does not apply to judge 'embedded'" in bad.stderr
