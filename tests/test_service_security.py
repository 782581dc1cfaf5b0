"""Attacks on ``rlaif serve`` over real HTTP (uvicorn on 127.0.0.1, the controlled judge, two keys): reading
another key's uploads, server files through settings, chunked bodies past the limit, unbounded metrics,
two servers on one data dir, lone surrogates and NaN, and the smaller ones of issue 25."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from servers import RlaifServer, add_key
from test_integrity import pairs
from test_service_jobs import upload, wait

pytestmark = pytest.mark.slow
LIMIT = 100_000


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("sec")
    keys = {"alice": add_key(d, "alice"), "bob": add_key(d, "bob")}
    s = RlaifServer(d, "--max-body-bytes", str(LIMIT), "--max-upload-bytes", str(2 * LIMIT), "--max-field-chars",
                    "1000", "--header-timeout", "1.5", "--max-samples", "40", "--max-new-tokens", "300",
                    "--max-key-upload-bytes", "300000",
                    scripted=True, delay=0.01)
    s.keys = keys
    yield s
    s.close()


def call(srv, method, path, key="alice", **kw):
    headers = {"Authorization": f"Bearer {srv.keys[key]}", **kw.pop("headers", {})} if key else kw.pop("headers", {})
    return httpx.request(method, srv.url + path, headers=headers, timeout=60, **kw)


def test_a_key_reads_only_its_own_uploads(srv):
    upload(srv, "private.jsonl", pairs(2), "alice")
    own = str(Path(srv.data_dir, "inputs", "alice", "private.jsonl"))
    answers = {}
    for given in ("alice/private.jsonl", "./alice/private.jsonl", "alice//private.jsonl", "../alice/private.jsonl",
                  "inputs/alice/private.jsonl", own, "private.jsonl",  # the last: Bob has no upload of that name
                  "alice/nothing.jsonl", "./alice/nothing.jsonl", "/etc/passwd", "../../etc/passwd"):
        r = call(srv, "POST", "/v1/jobs", "bob", json={"kind": "label", "input": given})
        answers[given] = (r.status_code, r.json()["detail"].replace(repr(given), "GIVEN"))
    assert set(answers.values()) == {(422, answers["private.jsonl"][1])}, answers  # one answer: nothing leaks
    assert "not one of your uploads" in answers["private.jsonl"][1]
    ok = call(srv, "POST", "/v1/jobs", "alice", json={"kind": "label", "input": "private.jsonl"})
    assert ok.status_code == 202, ok.text
    wait(srv, ok.json()["id"])


def _secret_constitution(folder: Path) -> Path:
    p = folder / "secret.yaml"
    p.write_text("name: secret-name\npreamble: Choose.\nprinciples:\n  - name: p-secret\n    text: Pick the better one.\n")
    return p


@pytest.mark.parametrize("path,body", [
    ("/v1/labels", {"pairs": [{"prompt": "User: q", "response_a": "GOOD", "response_b": "BAD"}]}),
    ("/v1/scores", {"items": [{"prompt": "User: q", "response": "GOOD"}]}),
    ("/v1/jobs", {"kind": "label", "input": "p.jsonl"}),
])
def test_settings_name_assets_never_server_paths(srv, tmp_path, path, body):
    upload(srv, "p.jsonl", pairs(1))
    secret = _secret_constitution(tmp_path)
    (tmp_path / "dir.yaml").mkdir()
    rel = "../" * 12 + str(secret).lstrip("/")
    for setting, values in [("constitution", [str(secret), rel, str(tmp_path / "none.yaml"), str(tmp_path / "dir.yaml"),
                                              "harmless/../../" + rel]),
                            ("template", [str(secret), rel, str(tmp_path / "none.yaml")])]:
        details = set()
        for value in values:
            r = call(srv, "POST", path, json={**body, "settings": {setting: value}})
            assert r.status_code == 422, (value, r.text)
            details.add(r.json()["detail"])
        assert len(details) == 1, details  # an existing path answers as a missing one
        detail = details.pop()
        assert f"settings.{setting}: unknown" in detail and "secret-name" not in detail and "p-secret" not in detail
        assert str(tmp_path) not in detail
    r = call(srv, "POST", path, json={**body, "settings": {"constitution": "no-such-name"}})
    assert r.status_code == 422 and "unknown constitution 'no-such-name'" in r.json()["detail"]


def test_an_operator_registers_assets_in_the_data_dir(srv):
    from rlaif.labeling.assets import resource_dir

    folder = Path(srv.data_dir, "assets", "constitutions")
    folder.mkdir(parents=True, exist_ok=True)
    text = (resource_dir("constitutions") / "harmless.yaml").read_text()
    (folder / "team.yaml").write_text(text.replace("name: harmless", "name: team", 1))
    r = call(srv, "POST", "/v1/labels", json={"pairs": [{"prompt": "User: q", "response_a": "GOOD", "response_b": "BAD"}],
                                              "settings": {"constitution": "team"}})
    assert r.status_code == 200 and r.json()["labels"][0]["constitution"] == "team", r.text


def _chunks(data: bytes, size: int = 8192):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_chunked_bodies_are_held_to_the_limit_on_every_route(srv):
    one = {"prompt": "User: q", "response_a": "GOOD", "response_b": "BAD"}
    body = json.dumps({"pairs": [one], "pad": "x" * (3 * LIMIT)}).encode()
    h = {"Content-Type": "application/json"}
    for path in ("/v1/labels", "/v1/scores", "/ui/session", "/v1/jobs"):
        r = call(srv, "POST", path, content=_chunks(body), headers=h)  # an iterator: chunked, no Content-Length
        assert r.status_code == 413 and f"over {LIMIT} bytes" in r.json()["detail"], (path, r.status_code, r.text)
    r = call(srv, "PUT", "/v1/files/big.jsonl", content=_chunks(b"{}\n" * LIMIT))
    assert r.status_code == 413, r.text
    r = httpx.get(srv.url + "/healthz", headers={"X-Big": "a" * 70_000})  # over the default --max-header-bytes
    assert r.status_code == 431 and "request headers over 65536 bytes" in r.json()["detail"], r.text
    small = json.dumps({"pairs": [one]}).encode()
    assert call(srv, "POST", "/v1/labels", content=_chunks(small, 7), headers=h).status_code == 200


def _series(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def test_metrics_stay_bounded_under_random_paths_and_job_ids(srv):
    call(srv, "GET", "/nothing-here")  # every route answered once, so that its series exist
    call(srv, "GET", "/v1/jobs/0000", "bob")
    before = httpx.get(srv.url + "/metrics").text
    rng = random.Random(0)
    with httpx.Client(timeout=30) as c:
        for i in range(300):
            tag = f"{rng.getrandbits(64):016x}"
            path = (f"/{tag}/x", f"/v1/jobs/{tag}", f"/ui/jobs/{tag}/pairs", f"/v1/{tag}")[i % 4]
            c.get(srv.url + path, headers={"Authorization": f"Bearer {srv.keys['bob']}"})
    after = httpx.get(srv.url + "/metrics").text
    assert _series(after) - _series(before) <= 40, (_series(before), _series(after))
    assert tag not in after and 'route="/v1/jobs/{job_id}"' in after and 'route="unmatched"' in after


def test_a_second_server_on_the_same_data_dir_refuses_to_start(srv):
    upload(srv, "slow.jsonl", pairs(60))
    job = call(srv, "POST", "/v1/jobs", json={"kind": "label", "input": "slow.jsonl", "chunk_size": 2}).json()
    wait(srv, job["id"], states=("running", "done"))
    second = subprocess.run([sys.executable, str(Path(__file__).parent / "scripted_cli.py"), "serve", "--port", "0",
                             "--data-dir", srv.data_dir], capture_output=True, text=True, timeout=120)
    assert second.returncode == 2, second
    assert "in use by another rlaif serve" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    j = wait(srv, job["id"])
    assert j["state"] == "done" and j["rows_done"] == 60, j


def test_lone_surrogates_and_non_finite_numbers_are_one_line_422s(srv):
    h = {"Content-Type": "application/json"}
    cases = [
        ("/v1/labels", '{"pairs": [{"prompt": "User: \\ud800", "response_a": "GOOD", "response_b": "BAD"}]}',
         "pairs[0] field 'prompt': a lone surrogate (\\ud800)"),
        ("/v1/scores", '{"items": [{"prompt": "User: q", "response": "x\\udfff"}]}', "items[0] field 'response': a lone"),
        ("/v1/labels", '{"pairs": [{"prompt": "p", "response_a": "a", "response_b": "b", "human_label": NaN}]}',
         "pairs[0] field 'human_label': NaN is not valid JSON"),
        ("/v1/labels", '{"pairs": [{"prompt": "p", "response_a": "a", "response_b": "b", "human_label": Infinity}]}',
         "pairs[0] field 'human_label': Infinity is not valid JSON"),
        ("/v1/labels", '{"pairs": [{"prompt": "p", "response_a": NaN, "response_b": "b"}]}',
         "pairs[0] field 'response_a': NaN is not valid JSON"),
        ("/get_reward", '{"query": ["a", "\\ud83d"]}', "query[1]: a lone surrogate"),
    ]
    for path, body, needle in cases:
        r = call(srv, "POST", path, content=body.encode(), headers=h)
        assert r.status_code == 422 and needle in r.json()["detail"], (path, body, r.status_code, r.text)
        assert "\n" not in r.json()["detail"]
    ok = call(srv, "POST", "/v1/labels", content='{"pairs": [{"prompt": "NaN? \\ud83d\\ude00", "response_a": "GOOD", '
              '"response_b": "Infinity"}]}'.encode(), headers=h)  # the words and a proper surrogate pair are fine
    assert ok.status_code == 200, ok.text


def test_a_lone_surrogate_in_a_job_file_is_refused_at_submission(srv):
    lines = json.dumps(pairs(1)[0]) + "\n" + '{"prompt": "User: \\ud800", "response_a": "GOOD", "response_b": "BAD"}\n'
    assert call(srv, "PUT", "/v1/files/surr.jsonl", content=lines.encode()).status_code == 201
    r = call(srv, "POST", "/v1/jobs", json={"kind": "label", "input": "surr.jsonl"})
    assert r.status_code == 422 and "surr.jsonl:2 field 'prompt': a lone surrogate" in r.json()["detail"], r.text
    assert srv.data_dir not in r.json()["detail"]


def test_replacing_an_upload_after_submission_changes_nothing(srv):
    upload(srv, "busy.jsonl", pairs(200))
    busy = call(srv, "POST", "/v1/jobs", json={"kind": "label", "input": "busy.jsonl", "chunk_size": 2}).json()
    upload(srv, "checked.jsonl", pairs(3))
    job = call(srv, "POST", "/v1/jobs", json={"kind": "label", "input": "checked.jsonl"}).json()
    assert job["state"] == "queued", job
    bad = [{"prompt": "p", "response_a": "a"}, {"id": "evil", "prompt": "p", "response_a": "x", "response_b": "y"}]
    upload(srv, "checked.jsonl", bad)  # replaced while the job waits
    call(srv, "DELETE", f"/v1/jobs/{busy['id']}")
    j = wait(srv, job["id"])
    assert j["state"] == "done" and j["rows_done"] == 3, j
    rows = [json.loads(x) for x in call(srv, "GET", f"/v1/jobs/{job['id']}/result").text.splitlines()]
    assert [r["id"] for r in rows] == ["row-0", "row-1", "row-2"]
    assert j["input"] == "checked.jsonl"
    assert not any(srv.data_dir in line or "/jobs/" in line for line in j["summary"]), j["summary"]  # no server paths


def test_api_docs_need_the_key(srv):
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert call(srv, "GET", path, key=None).status_code == 401, path
        assert call(srv, "GET", path).status_code == 200, path
    assert "/v1/labels" in call(srv, "GET", "/openapi.json").json()["paths"]
    assert httpx.get(srv.url + "/healthz").status_code == 200 and httpx.get(srv.url + "/metrics").status_code == 200


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Whether the server closes ``sock`` within ``seconds`` while we send ``trickle`` a byte at a time."""
    deadline = time.time() + seconds
    sock.settimeout(0.25)
    for i in range(10_000):
        if time.time() > deadline:
            return False
        try:
            if trickle:
                sock.send(trickle[i % len(trickle):i % len(trickle) + 1])
            if sock.recv(1024) == b"":
                return True
        except socket.timeout:
            continue
        except OSError:  # reset or broken pipe: closed
            return True
    return False


def test_silent_and_slow_header_connections_are_closed(srv):
    port = int(srv.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as idle:
        assert _closed_within(idle, 6.0)
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert _closed_within(slow, 6.0, trickle=b"X-Slow: aaaa\r\n")
    assert httpx.get(srv.url + "/healthz").status_code == 200  # others are still served


@pytest.mark.parametrize("body,needle", [
    ({"pairs": [{"prompt": "p", "response_a": "a", "response_b": "b"}], "settings": {"cot": True, "cot_max_tokens": 1e9}},
     "settings.cot_max_tokens"),
    ({"pairs": [{"id": "x1", "prompt": "p", "response_a": "a", "response_b": "b"},
                {"id": "x1", "prompt": "q", "response_a": "a", "response_b": "b"}]}, "pairs[1] field 'id': 'x1' repeats"),
])
def test_bounded_settings_and_repeated_ids_are_422(srv, body, needle):
    r = call(srv, "POST", "/v1/labels", json=body)
    assert r.status_code == 422 and needle in r.json()["detail"], r.text


def test_repeated_ids_in_scores_are_422(srv):
    r = call(srv, "POST", "/v1/scores", json={"items": [{"id": 7, "prompt": "p", "response": "a"},
                                                        {"id": "7", "prompt": "q", "response": "b"}]})
    assert r.status_code == 422 and "items[1] field 'id': '7' repeats the id of items[0]" in r.json()["detail"], r.text



def test_settings_asking_the_judge_for_unbounded_work_are_422(srv):
    upload(srv, "prompts.jsonl", [{"prompt": "User: hi"}])
    upload(srv, "p.jsonl", pairs(1))
    recipes = Path(srv.data_dir, "assets", "recipes")
    recipes.mkdir(parents=True, exist_ok=True)
    (recipes / "heavy.yaml").write_text("method: sample\nsampling: {samples: 41}\n")  # the operator's caps hold too
    one = {"prompt": "User: q", "response_a": "GOOD", "response_b": "BAD"}
    sample = {"method": "sample"}
    cases = [
        ("/v1/labels", {"settings": {**sample, "sampling": {"samples": 41}}}, "settings.sampling.samples: 41 is over "
         "this service's cap of 40 (--max-samples)"),
        ("/v1/labels", {"settings": {**sample, "sampling": {"samples": "auto", "auto_max": 41}}}, "sampling.auto_max: 41"),
        ("/v1/labels", {"settings": {**sample, "sampling": {"max_new_tokens": 301}}}, "settings.sampling.max_new_tokens: "
         "301 is over this service's cap of 300 (--max-new-tokens)"),
        ("/v1/labels", {"settings": {"reasoning": {"format": "think", "budget": 301}}}, "settings.reasoning.budget: 301"),
        ("/v1/labels", {"settings": {"cot": True, "cot_max_tokens": 301}}, "settings.cot_max_tokens: 301"),
        ("/v1/rank", {"groups": [{"prompt": "p", "responses": ["a", "b"]}], "settings": {**sample, "sampling": {
            "samples": 41}}}, "settings.sampling.samples: 41"),
        ("/v1/jobs", {"kind": "generate", "input": "prompts.jsonl", "settings": {"sampling": {"n": 41}}},
         "settings.sampling.n: 41"),
        ("/v1/jobs", {"kind": "generate", "input": "prompts.jsonl", "settings": {"sampling": {"max_new_tokens": 301}}},
         "settings.sampling.max_new_tokens: 301"),
        ("/v1/jobs", {"kind": "label", "input": "p.jsonl", "recipe": "heavy"}, "settings.sampling.samples: 41"),
    ]
    for path, body, needle in cases:
        body = {"pairs": [one], **body} if path == "/v1/labels" else body
        r = call(srv, "POST", path, json=body)
        assert r.status_code == 422 and needle in r.json()["detail"], (body, r.text)
    within = {**sample, "sampling": {"samples": 40, "max_new_tokens": 300}, "cot_max_tokens": 4096}  # cot is off
    r = call(srv, "POST", "/v1/labels", json={"pairs": [one], "settings": within})
    assert r.status_code == 200 and r.json()["labels"][0]["samples_drawn"] == 40, r.text


def test_a_text_setting_is_held_to_the_field_limit(srv):
    upload(srv, "prompts.jsonl", [{"prompt": "User: hi"}])
    big = "x" * 1001  # the fixture's --max-field-chars is 1000
    for path, body, where in [
        ("/v1/jobs", {"kind": "generate", "input": "prompts.jsonl", "settings": {"system": big}}, "settings.system"),
        ("/v1/labels", {"pairs": pairs(1), "settings": {"principles": big}}, "settings.principles"),
    ]:
        r = call(srv, "POST", path, json=body)
        detail = r.json()["detail"]
        assert r.status_code == 422 and detail == f"{where}: 1001 characters, over this service's cap of 1000 " \
                                                  "(--max-field-chars)", (path, r.status_code, detail[:300])


def test_messages_are_held_to_the_field_limit(srv):
    big = "x" * 1001  # the fixture's --max-field-chars is 1000
    turns = [{"role": "user", "content": "q"}, {"role": "assistant", "content": big}]
    for path, row, where in [
        ("/v1/labels", {"prompt": [{"role": "user", "content": big}], "response_a": "a", "response_b": "b"},
         "pairs[0] field 'prompt'"),
        ("/v1/labels", {"chosen": turns, "rejected": turns[:1] + [{"role": "assistant", "content": "b"}]},
         "pairs[0] field 'chosen'"),
        ("/v1/scores", {"prompt": [{"role": "user", "content": "q" * 500}, {"role": "user", "content": "q" * 501}],
                        "response": "r"}, "items[0] field 'prompt'"),
    ]:
        r = call(srv, "POST", path, json={"pairs" if path == "/v1/labels" else "items": [row]})
        assert r.status_code == 422 and r.json()["detail"] == f"{where} is longer than 1000 characters", (path, r.text[:300])


def test_a_malformed_origin_is_refused_not_a_server_error(srv):
    for origin in ("http://[", "http://[::1"):
        r = httpx.post(srv.url + "/ui/session", json={"key": srv.keys["alice"]}, headers={"Origin": origin})
        assert r.status_code == 403 and r.json()["detail"] == f"cross-origin request from {origin} refused", r.text


def test_a_stalled_body_is_closed_and_a_slow_one_is_served(srv):
    """Headers in time, then a body that stops (or a chunked upload that stops): without a deadline between the
    body's bytes, --max-connections such sockets shut the service for everyone."""
    port = int(srv.url.rsplit(":", 1)[1])
    auth = f"Authorization: Bearer {srv.keys['alice']}\r\n"
    for head in (f"POST /v1/labels HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 500"
                 "\r\n\r\n{", f"PUT /v1/files/stall.jsonl HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\n\r\n"
                 "1\r\n{\r\n"):
        with socket.create_connection(("127.0.0.1", port)) as stalled:
            stalled.send(head.encode())
            assert _closed_within(stalled, 6.0), head[:30]
    body = json.dumps({"pairs": [{"prompt": "User: q", "response_a": "GOOD", "response_b": "BAD"}]}).encode()
    with socket.create_connection(("127.0.0.1", port)) as slow:  # 3 s of body, a byte every 0.3 s (deadline 1.5 s)
        slow.send(f"POST /v1/labels HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode())
        for i in range(10):
            slow.send(body[i:i + 1])
            time.sleep(0.3)
        slow.send(body[10:])
        slow.settimeout(30)
        assert slow.recv(100).startswith(b"HTTP/1.1 200"), "a slow but steady body is served"


def test_a_keys_uploads_together_are_held_to_a_quota(srv):
    line = json.dumps({"prompt": "User: q", "response_a": "GOOD", "response_b": "BAD"}) + "\n"
    data = (line * (160_000 // len(line) + 1)).encode()  # 160 kB; the fixture's quota is 300 kB a key
    assert call(srv, "PUT", "/v1/files/q1.jsonl", "bob", content=data).status_code == 201
    assert call(srv, "PUT", "/v1/files/q1.jsonl", "bob", content=data).status_code == 201  # a replacement: no more
    r = call(srv, "PUT", "/v1/files/q2.jsonl", "bob", content=_chunks(data))  # chunked: counted as it arrives
    assert r.status_code == 413 and r.json()["detail"] == "uploads of key 'bob' over 300000 bytes together " \
        "(--max-key-upload-bytes); replace one of them with a smaller file", r.text
    assert call(srv, "GET", "/v1/jobs", "bob").status_code == 200
    assert sorted(p.name for p in Path(srv.data_dir, "inputs", "bob").iterdir()) == ["q1.jsonl"]  # nothing left over
    assert call(srv, "PUT", "/v1/files/q1.jsonl", "bob", content=line.encode()).status_code == 201
    assert call(srv, "PUT", "/v1/files/q2.jsonl", "bob", content=data).status_code == 201
