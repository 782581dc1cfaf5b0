"""``rlaif serve`` over real HTTP: uvicorn on 127.0.0.1 in a subprocess, with the controlled ScriptedJudge
(exact, known labels) or the embedded judge; every endpoint, auth, limits and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from servers import RlaifServer, add_key

PAIRS = [{"prompt": "User: q1?", "response_a": "GOOD one", "response_b": "BAD one"},
         {"prompt": "User: q2?", "chosen": "BAD two", "rejected": "GOOD two"},
         {"prompt": [{"role": "user", "content": "q3?"}], "response_a": "plain", "response_b": "GOOD three"}]


@pytest.fixture(scope="module")
def scripted_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("svc")
    keys = {"alice": add_key(d, "alice"), "bob": add_key(d, "bob")}
    srv = RlaifServer(d, "--max-items", "64", "--max-body-bytes", "200000", "--max-field-chars", "1000",
                      "--max-wait-ms", "50",
                      scripted=True, delay=0.01)
    srv.keys = keys
    yield srv
    srv.close()


def post(srv, path, body, key="alice", **kw):
    headers = {"Authorization": f"Bearer {srv.keys[key]}"} if key else {}
    return httpx.post(srv.url + path, json=body, headers=headers, timeout=60, **kw)


def test_labels_match_the_library(scripted_server):
    from rlaif.data import records_from_rows
    from rlaif.labeling.labeler import Labeler

    from scripted_cli import SlowScriptedJudge

    r = post(scripted_server, "/v1/labels", {"pairs": PAIRS})
    assert r.status_code == 200, r.text
    got = r.json()["labels"]
    want = Labeler(SlowScriptedJudge(0.0)).label(records_from_rows(PAIRS))
    assert [g["id"] for g in got] == [w["id"] for w in want]
    for g, w in zip(got, want):
        for k in ("p_a", "p_a_first", "p_a_second"):
            assert g[k] == pytest.approx(w[k], abs=1e-12)
        assert (g["consistent"], g["config_hash"], g["principles"]) == (w["consistent"], w["config_hash"], w["principles"])
    assert got[0]["p_a"] > 0.5 and got[2]["p_a"] < 0.5  # GOOD wins, in either slot


def test_settings_and_per_row_errors(scripted_server):
    r = post(scripted_server, "/v1/labels", {"pairs": PAIRS[:1] + [{"prompt": "p", "response_a": "x", "response_b": "x"}],
                                             "settings": {"principles": "all", "constitution": "helpful"}})
    assert r.status_code == 200, r.text
    a, b = r.json()["labels"]
    assert a["constitution"] == "helpful" and len(a["p_a_principles"]) > 1
    assert b["p_a"] is None and b["error"] == "identical responses: nothing to prefer"


@pytest.mark.parametrize("body,status,needle", [
    ({"pairs": []}, 422, "pairs"),
    ({"pairs": [PAIRS[0], {"prompt": "p", "response_a": "a"}]}, 422, "pairs[1] field 'response_b' is missing"),
    ({"pairs": [{"prompt": "p", "response_a": "a", "response_b": "b" * 2000}]}, 422,
     "pairs[0] field 'response_b' is longer than 1000 characters"),
    ({"pairs": "not a list"}, 422, "pairs"),
    ({"pairs": PAIRS, "settings": {"constitution": "nope"}}, 422, "unknown constitution 'nope'"),
    ({"pairs": PAIRS, "settings": {"ensemble_k": 0}}, 422, "settings.ensemble_k"),
    ({"pairs": PAIRS, "settings": {"no_such": 1}}, 422, "settings"),
    ({"pairs": PAIRS[:1] * 65}, 413, "pairs: 65 items"),
])
def test_bad_label_requests_name_item_and_field(scripted_server, body, status, needle):
    r = post(scripted_server, "/v1/labels", body)
    assert r.status_code == status and needle in r.json()["detail"], r.text


def test_malformed_json_oversized_bodies_and_long_fields(scripted_server):
    h = {"Authorization": f"Bearer {scripted_server.keys['alice']}", "Content-Type": "application/json"}
    r = httpx.post(scripted_server.url + "/v1/labels", content=b'{"pairs": [', headers=h)
    assert r.status_code == 422 and "JSON" in r.json()["detail"], r.text
    r = httpx.post(scripted_server.url + "/v1/labels", content=b"x" * 300_000, headers=h)
    assert r.status_code == 413
    r = post(scripted_server, "/v1/scores", {"items": [{"prompt": "p", "response": "r" * 250_000}]})
    assert r.status_code == 413  # the body limit comes first
    r = post(scripted_server, "/get_reward", {"query": ["q" * 1500]})
    assert r.status_code == 422 and "query[0] field 'response' is longer than 1000" in r.json()["detail"]
    assert httpx.get(scripted_server.url + "/healthz").json()["status"] == "ok"  # still serving


def test_auth_keys(scripted_server, tmp_path):
    for headers in ({}, {"Authorization": "Bearer rlaif_wrong"}, {"Authorization": "Basic abc"}):
        r = httpx.post(scripted_server.url + "/v1/labels", json={"pairs": PAIRS}, headers=headers)
        assert r.status_code == 401 and "API key" in r.json()["detail"]
    temp = add_key(scripted_server.data_dir, "temp")
    ok = httpx.post(scripted_server.url + "/v1/labels", json={"pairs": PAIRS[:1]}, headers={"Authorization": f"Bearer {temp}"})
    assert ok.status_code == 200
    subprocess.run([sys.executable, "-m", "rlaif", "keys", "revoke", "temp", "--data-dir", scripted_server.data_dir],
                   check=True, capture_output=True)
    gone = httpx.post(scripted_server.url + "/v1/labels", json={"pairs": PAIRS[:1]}, headers={"Authorization": f"Bearer {temp}"})
    assert gone.status_code == 401
    listing = subprocess.run([sys.executable, "-m", "rlaif", "keys", "list", "--data-dir", scripted_server.data_dir],
                             check=True, capture_output=True, text=True).stdout
    assert "temp" in listing and "revoked" in listing and temp not in listing
    # keys are stored hashed: the token itself is nowhere in the database files
    raw = b"".join(p.read_bytes() for p in Path(scripted_server.data_dir).glob("rlaif.db*"))
    assert raw and temp.encode() not in raw


def test_scores_and_openrlhf_get_reward(scripted_server):
    r = post(scripted_server, "/v1/scores", {"items": [{"prompt": "User: hi", "response": "GOOD"},
                                                       {"prompt": [{"role": "user", "content": "hi"}], "completion": "ok"}]})
    assert r.status_code == 200, r.text
    scores = r.json()["scores"]
    assert all(-1 <= s["reward"] <= 1 and abs(sum(s["probs"]) - 1) < 1e-6 for s in scores)
    q = ["<|user|>hi<|assistant|>GOOD answer", "<|user|>yo<|assistant|>"]
    g = post(scripted_server, "/get_reward", {"query": q, "prompts": ["<|user|>hi<|assistant|>", "<|user|>yo<|assistant|>"],
                                              "labels": ["", ""]})
    assert g.status_code == 200, g.text
    body = g.json()
    assert set(body) == {"rewards", "scores", "extra_logs"} and len(body["rewards"]) == 2
    assert body["rewards"][1] == 0.0 and body["extra_logs"]["judge_unscored"] == 1.0  # empty response
    assert body["scores"][0] == pytest.approx((body["rewards"][0] + 1) / 2)
    bad = post(scripted_server, "/get_reward", {"query": q, "prompts": ["x"]})
    assert bad.status_code == 422 and "prompts" in bad.json()["detail"]


def test_concurrent_requests_share_judge_calls(scripted_server):
    before = httpx.get(scripted_server.url + "/metrics").text
    results = []

    def one(i):
        results.append(post(scripted_server, "/v1/labels", {"pairs": [dict(PAIRS[0], prompt=f"User: q{i}?")]}))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 and r.json()["labels"][0]["p_a"] > 0.5 for r in results)
    after = httpx.get(scripted_server.url + "/metrics").text

    def metric(text, name):
        return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))
    calls = metric(after, "rlaif_batches") - metric(before, "rlaif_batches")
    assert calls < 16, f"16 concurrent requests took {calls} judge calls: no micro-batching"
    assert 'rlaif_requests_total{route="/v1/labels",status="200"}' in after
    log = [json.loads(x) for x in (Path(scripted_server.data_dir) / "server.log").read_text().splitlines()
           if x.startswith("{")]  # the structured access log: one JSON object per request
    assert any(e["path"] == "/v1/labels" and e["status"] == 200 and e["ms"] > 0 for e in log)


def test_remote_judge_reward_in_a_real_trl_trainer(scripted_server, tiny_lm, smol_tokenizer, tmp_path):
    from conftest import grpo_train
    from rlaif.integrations.remote import RemoteJudgeReward

    reward = RemoteJudgeReward(scripted_server.url, api_key=scripted_server.keys["bob"])
    direct = reward(prompts=["User: hi", "User: hi", "User: hi"], completions=["GOOD", "", "GOOD"])
    assert direct[1] is None and direct[0] == direct[2] and -1 <= direct[0] <= 1
    logged = grpo_train([reward], tiny_lm, smol_tokenizer, tmp_path, steps=1)
    assert logged and all(-1 <= h["reward"] <= 1 for h in logged)


@pytest.mark.slow  # loads the embedded judge in a server process
def test_no_auth_only_on_loopback_and_serve_needs_a_key(tmp_path):
    res = subprocess.run([sys.executable, "-m", "rlaif", "serve", "--no-auth", "--host", "0.0.0.0",
                          "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "only allowed on a loopback address" in res.stderr
    res = subprocess.run([sys.executable, "-m", "rlaif", "serve", "--data-dir", str(tmp_path / "empty")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "no API keys" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_embedded_judge_over_http_matches_in_process(tmp_path, llamacpp_judge, hh_rows):
    from rlaif.data import records_from_rows
    from rlaif.labeling.labeler import Labeler

    srv = RlaifServer(tmp_path, "--no-auth")
    try:
        rows = hh_rows[:3]
        r = httpx.post(srv.url + "/v1/labels", json={"pairs": rows}, timeout=120)
        assert r.status_code == 200, r.text
        health = httpx.get(srv.url + "/healthz").json()
    finally:
        srv.close()
    want = Labeler(llamacpp_judge).label(records_from_rows(rows))
    for g, w in zip(r.json()["labels"], want):
        assert g["id"] == w["id"] and g["p_a"] == pytest.approx(w["p_a"], abs=1e-4)
    assert health["judge"].startswith("llamacpp:SmolLM2")


def test_batcher_priority_order_and_errors():
    import time

    from rlaif.core.batcher import HIGH, LOW, Batcher

    calls = []

    def fn(items):
        calls.append(list(items))
        time.sleep(0.05)
        if "boom" in items:
            raise ValueError("boom")
        return [x * 2 for x in items]
    b = Batcher(max_batch=4, max_wait_ms=0)
    first = b.submit("k", fn, [1])  # occupies the worker
    time.sleep(0.01)
    low = b.submit("k", fn, [10, 11], priority=LOW)
    high = b.submit("k", fn, [20], priority=HIGH)
    other = b.submit("other", fn, [30])
    assert first.result(5) == [2] and high.result(5) == [40] and low.result(5) == [20, 22] and other.result(5) == [60]
    assert calls[1] == [20, 10, 11]  # high first, low joins the same batch (same key, room left)
    bad = b.submit("k", fn, ["boom"])
    with pytest.raises(ValueError, match="boom"):
        bad.result(5)

    def stops(items):
        raise StopIteration("oops")
    with pytest.raises(RuntimeError, match="StopIteration"):  # would hang an asyncio caller otherwise
        b.submit("s", stops, [1]).result(5)
    assert b.submit("k", fn, [3]).result(5) == [6]  # the worker goes on
    b.close()
