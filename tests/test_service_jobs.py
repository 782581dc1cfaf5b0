"""Batch jobs of ``rlaif serve`` over real HTTP: upload, submit, follow, download, cancel, isolation
between keys, bad input, and kill -9 of the server mid-job, restart, every row exactly once."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

from servers import RlaifServer, add_key
from test_integrity import pairs


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("jobs")
    keys = {"alice": add_key(d, "alice"), "bob": add_key(d, "bob")}
    s = RlaifServer(d, scripted=True, delay=0.02)
    s.keys = keys
    yield s
    s.close()


def call(srv, method, path, key="alice", **kw):
    return httpx.request(method, srv.url + path, headers={"Authorization": f"Bearer {srv.keys[key]}"}, timeout=60, **kw)


def upload(srv, name, rows, key="alice"):
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    r = call(srv, "PUT", f"/v1/files/{name}", key, content=data)
    assert r.status_code == 201, r.text
    return r.json()


def wait(srv, job_id, key="alice", states=("done", "failed", "cancelled"), limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        j = call(srv, "GET", f"/v1/jobs/{job_id}", key).json()
        if j["state"] in states:
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {j['state']} after {limit} s")


def test_job_lifecycle_and_result_match_the_library(srv):
    from rlaif.data import records_from_rows
    from rlaif.labeling.labeler import Labeler
    from scripted_cli import SlowScriptedJudge

    rows = pairs(12)
    upload(srv, "pairs.jsonl", rows)
    r = call(srv, "POST", "/v1/jobs", json={"kind": "label", "input": "pairs.jsonl", "chunk_size": 4})
    assert r.status_code == 202, r.text
    job = wait(srv, r.json()["id"])
    assert job["state"] == "done" and job["rows_done"] == job["rows_total"] == 12, job
    assert any(line.startswith("rows: 12") for line in job["summary"])
    got = [json.loads(x) for x in call(srv, "GET", f"/v1/jobs/{job['id']}/result").text.splitlines()]
    want = Labeler(SlowScriptedJudge(0.0)).label(records_from_rows(rows))
    assert [g["id"] for g in got] == [w["id"] for w in want]
    assert [g["p_a"] for g in got] == pytest.approx([w["p_a"] for w in want], abs=1e-12)
    assert job["id"] in [j["id"] for j in call(srv, "GET", "/v1/jobs").json()["jobs"]]


def test_score_job_and_parquet_result(srv, tmp_path):
    upload(srv, "items.jsonl", [{"prompt": "User: hi", "response": "GOOD"}, {"prompt": "User: yo", "response": "BAD"}])
    r = call(srv, "POST", "/v1/jobs", json={"kind": "score", "input": "items.jsonl", "output_format": "parquet"})
    job = wait(srv, r.json()["id"])
    assert job["state"] == "done", job
    (tmp_path / "r.parquet").write_bytes(call(srv, "GET", f"/v1/jobs/{job['id']}/result").content)
    import pandas as pd

    df = pd.read_parquet(tmp_path / "r.parquet")
    assert list(df["id"]) == ["row-0", "row-1"] and df["reward"][0] > df["reward"][1]


def test_a_job_by_recipe_name(srv):
    """An operator's recipe (DATA/assets/recipes/NAME.yaml) gives a job its settings; the request's own win."""
    from pathlib import Path

    from rlaif.labeling.labeler import Labeler
    from rlaif.labeling.settings import LabelerConfig
    from scripted_cli import SlowScriptedJudge

    folder = Path(srv.data_dir) / "assets" / "recipes"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "helpful-all.yaml").write_text("constitution: helpful\nprinciples: all\nshots: 2\n")
    (folder / "judged.yaml").write_text("judge: openai:gpt-4o\nconstitution: helpful\n")
    upload(srv, "r.jsonl", pairs(3))
    r = call(srv, "POST", "/v1/jobs", json={"kind": "label", "input": "r.jsonl", "recipe": "helpful-all",
                                            "settings": {"shots": 0}})
    assert r.status_code == 202, r.text
    job = wait(srv, r.json()["id"])
    got = [json.loads(x) for x in call(srv, "GET", f"/v1/jobs/{job['id']}/result").text.splitlines()]
    want = Labeler(SlowScriptedJudge(0.0), LabelerConfig(constitution="helpful", principles="all", shots=0))
    assert {g["config_hash"] for g in got} == {want.config_hash} and len(got) == 3
    for name, needle in [("nope", "recipe: unknown recipe 'nope'; available: helpful-all, judged"),
                         ("../x", "(a name is expected, never a path)"), ("judged", "this server's judge is fixed")]:
        r = call(srv, "POST", "/v1/jobs", json={"kind": "label", "input": "r.jsonl", "recipe": name})
        assert r.status_code == 422 and needle in r.json()["detail"], r.text


def test_recipes_are_the_operators_files_by_name(tmp_path):
    from rlaif.core.errors import RlaifError
    from rlaif.service.assets import AssetRegistry

    assets = AssetRegistry(tmp_path)
    with pytest.raises(RlaifError, match="recipe: unknown recipe 'x'; available: none"):
        assets.recipe("x")
    (tmp_path / "assets" / "recipes").mkdir(parents=True)
    (tmp_path / "assets" / "recipes" / "r.yaml").write_text("principles: all\nsampling: {samples: 8}\n")
    (tmp_path / "elsewhere.yaml").write_text("shots: 1\n")
    assert assets.recipe("r") == {"principles": "all", "sampling": {"samples": 8}}
    with pytest.raises(RlaifError, match="a name is expected, never a path"):
        assets.recipe("../../elsewhere")


def test_keys_see_only_their_own_jobs_and_files(srv):
    upload(srv, "mine.jsonl", pairs(2))
    job = call(srv, "POST", "/v1/jobs", json={"kind": "label", "input": "mine.jsonl"}).json()
    for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/result"):
        assert call(srv, "GET", path, "bob").status_code == 404
    assert call(srv, "DELETE", f"/v1/jobs/{job['id']}", "bob").status_code == 404
    assert job["id"] not in [j["id"] for j in call(srv, "GET", "/v1/jobs", "bob").json()["jobs"]]
    r = call(srv, "POST", "/v1/jobs", "bob", json={"kind": "label", "input": "mine.jsonl"})
    assert r.status_code == 422 and "not one of your uploads" in r.json()["detail"]
    wait(srv, job["id"])


@pytest.mark.parametrize("body,needle", [
    ({"kind": "label", "input": "../../etc/passwd"}, "not one of your uploads"),
    ({"kind": "label", "input": "/etc/passwd"}, "not one of your uploads"),
    ({"kind": "label", "input": "nothing.jsonl"}, "not one of your uploads"),
    ({"kind": "rank", "input": "pairs.jsonl"}, "kind"),
    ({"kind": "label", "input": "pairs.jsonl", "settings": {"constitution": "nope"}}, "unknown constitution"),
    ({"kind": "label", "input": "broken.jsonl"}, "broken.jsonl:2 field 'response_b' is missing"),
    ({"kind": "label", "input": "broken.jsonl"}, "fix the input or send skip_invalid: true to label the other rows"),
    ({"kind": "generate", "input": "pairs.jsonl", "settings": {"constitution": "harmless"}}, "settings.constitution"),
    ({"kind": "label", "input": "pairs.jsonl", "settings": {"method": "sample", "sampling": {"samples": 0}}},
     "settings.sampling.samples"),
    ({"kind": "label", "input": "pairs.jsonl", "settings": {"sampling": {"samples": 8}}}, "need method='sample'"),
])
def test_bad_job_requests_are_4xx_naming_the_problem(srv, body, needle):
    upload(srv, "pairs.jsonl", pairs(2))
    upload(srv, "broken.jsonl", [pairs(1)[0], {"prompt": "p", "response_a": "a"}])
    r = call(srv, "POST", "/v1/jobs", json=body)
    assert r.status_code == 422 and needle in r.json()["detail"], r.text


def test_bad_upload_names_and_sizes(srv):
    for name in ("..evil.jsonl", "x.exe", ".hidden.jsonl"):
        r = call(srv, "PUT", f"/v1/files/{name}", content=b"{}\n")
        assert r.status_code == 422 and "file name" in r.json()["detail"], (name, r.text)
    assert call(srv, "PUT", "/v1/files/a%2F..%2Fb.jsonl", content=b"{}\n").status_code in (404, 422)


def test_cancel_a_running_job_keeps_what_was_labelled(srv):
    upload(srv, "long.jsonl", pairs(200))
    job = call(srv, "POST", "/v1/jobs", json={"kind": "label", "input": "long.jsonl", "chunk_size": 2}).json()
    wait(srv, job["id"], states=("running",))
    deadline = time.time() + 60
    while call(srv, "GET", f"/v1/jobs/{job['id']}").json()["rows_done"] < 4 and time.time() < deadline:
        time.sleep(0.05)
    r = call(srv, "DELETE", f"/v1/jobs/{job['id']}")
    assert r.status_code == 200
    j = wait(srv, job["id"])
    assert j["state"] == "cancelled" and 4 <= j["rows_done"] < 200
    assert call(srv, "GET", f"/v1/jobs/{job['id']}/result").status_code == 409
    assert call(srv, "DELETE", f"/v1/jobs/{job['id']}").status_code == 409


@pytest.mark.slow  # starts two servers
@pytest.mark.parametrize("kind,rows", [("label", pairs(40)), ("generate", [{"prompt": f"q{i}"} for i in range(40)])])
def test_kill_9_mid_job_then_restart_finishes_every_row_once(kind, rows, tmp_path):
    key = add_key(tmp_path, "alice")
    first = RlaifServer(tmp_path, scripted=True, delay=0.05)
    first.keys = {"alice": key}
    upload(first, "big.jsonl", rows)
    job = call(first, "POST", "/v1/jobs", json={"kind": kind, "input": "big.jsonl", "chunk_size": 2}).json()
    deadline = time.time() + 60
    while call(first, "GET", f"/v1/jobs/{job['id']}").json()["rows_done"] < 6 and time.time() < deadline:
        time.sleep(0.05)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    first.log.close()
    out = tmp_path / "jobs" / job["id"] / "output.jsonl"
    before = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    assert 6 <= len(before) < 40, len(before)
    second = RlaifServer(tmp_path, scripted=True, delay=0.0)
    second.keys = {"alice": key}
    try:
        j = wait(second, job["id"])
        assert j["state"] == "done" and j["rows_done"] == 40
        rows = [json.loads(x) for x in call(second, "GET", f"/v1/jobs/{job['id']}/result").text.splitlines()]
    finally:
        second.close()
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(f"row-{i}" for i in range(40)) and len(set(ids)) == 40
    assert rows[:len(before)] == before  # rows labelled before the kill are untouched
    assert "resuming 1 job" in (tmp_path / "server.log").read_text()
