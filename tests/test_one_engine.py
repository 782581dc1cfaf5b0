"""One job engine: the same input labelled, scored and generated through the CLI (a subprocess), the service
(``rlaif serve`` on 127.0.0.1) and Ray (a local Ray, ``num_cpus=2``) gives identical records, all from the
controlled ScriptedJudge; generate on Ray and in the service resumes without duplicates."""

from __future__ import annotations

import functools
import time
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import ScriptedJudge, write_jsonl
from servers import RlaifServer, add_key
from test_ray import assert_same_records, local_ray  # noqa: F401 (a fixture)
from rlaif.data.records import read_records
from rlaif.distributed import RayOptions, read_dir, run_ray_job
from rlaif.jobs.kinds import KINDS
from rlaif.jobs.spec import RunOptions

ray = pytest.importorskip("ray")
TESTS = Path(__file__).resolve().parent
JUDGE = functools.partial(ScriptedJudge, position_bias=0.5)  # what scripted_cli.py puts behind every judge spec
PAIRS = [{"id": f"p{i}", "prompt": f"q{i}", "response_a": ["GOOD a", "BAD a", "plain a"][i % 3],
          "response_b": ["BAD b", "plain b", "GOOD b"][i % 3], "human_label": float(i % 2)} for i in range(6)]
# a pair with identical responses first in a chunk (rows 3-5): a row without a label, nor sampled counts
SAME = {"id": "same", "prompt": "q", "response_a": "a reply", "response_b": "a reply", "human_label": None}
INPUTS = {
    "label": PAIRS[:3] + [SAME] + PAIRS[3:],
    "score": [{"id": f"s{i}", "prompt": f"q{i}", "response": ["GOOD one", "BAD one", "plain"][i % 3]} for i in range(7)],
    "generate": [{"id": f"g{i}", "prompt": f"question {i}"} for i in range(7)],
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("one-engine")
    key = add_key(d, "alice")
    s = RlaifServer(d, scripted=True)
    s.key = key
    yield s
    s.close()


def cli(kind: str, src: Path, out: Path, *extra: str) -> str:
    res = subprocess.run([sys.executable, str(TESTS / "scripted_cli.py"), kind, str(src), "-o", str(out),
                          "--no-progress", "--chunk-size", "3", *extra], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def served(srv, kind: str, src: Path, settings: dict | None = None) -> list[dict]:
    auth = {"Authorization": f"Bearer {srv.key}"}
    r = httpx.put(f"{srv.url}/v1/files/{kind}.jsonl", content=src.read_bytes(), headers=auth, timeout=60)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{srv.url}/v1/jobs", json={"kind": kind, "input": f"{kind}.jsonl", "chunk_size": 3,
                                               "settings": settings or {}}, headers=auth, timeout=60)
    assert r.status_code == 202, r.text
    for _ in range(1200):
        job = httpx.get(f"{srv.url}/v1/jobs/{r.json()['id']}", headers=auth, timeout=60).json()
        if job["state"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert job["state"] == "done", job
    result = httpx.get(f"{srv.url}/v1/jobs/{job['id']}/result", headers=auth, timeout=60)
    return [json.loads(x) for x in result.text.splitlines()]


# sampled labels (--method sample, 'auto' rounds): the settings as CLI flags and as the service's and Ray's settings
SAMPLED = {"method": "sample", "sampling": {"samples": "auto", "auto_step": 4, "auto_max": 12, "auto_width": 0.3,
                                            "seed": 5}}
SAMPLED_FLAGS = ("--method", "sample", "--samples", "auto", "--auto-step", "4", "--auto-max", "12", "--auto-width",
                 "0.3", "--sample-seed", "5")


@pytest.mark.parametrize("kind,settings,flags", [("label", {}, ()), ("label", SAMPLED, SAMPLED_FLAGS),
                                                 ("score", {}, ()), ("generate", {}, ())],
                         ids=["label", "label-sampled", "score", "generate"])
def test_cli_service_and_ray_give_identical_records(kind, settings, flags, local_ray, srv, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", INPUTS[kind])
    cli(kind, src, tmp_path / "cli.jsonl", *flags)
    by_cli = read_records(tmp_path / "cli.jsonl")
    by_service = served(srv, kind, src, settings)
    job = KINDS[kind].spec(RunOptions(input=str(src), output=str(tmp_path / "ray"), chunk_size=3, progress=False),
                           settings)
    s = run_ray_job(job, RayOptions(workers=2, shard_rows=4), judge_factory=JUDGE)
    assert (s.total, s.done_now) == (7, 7)
    by_ray = read_dir(tmp_path / "ray")
    assert [r["id"] for r in by_cli] == [r["id"] for r in INPUTS[kind]]
    assert_same_records(by_service, by_cli, tol=0)
    assert_same_records(by_ray, by_cli, tol=0)
    if kind == "generate":
        assert all(len(r["responses"]) == 4 for r in by_ray)
    if settings:  # real sampled labels: 'auto' stopped some pairs after one round of 4 answers, others after two
        sampled = [r for r in by_cli if r["id"] != "same"]
        assert {r["samples_drawn"] for r in sampled} == {4, 8} and "sample_counts" not in by_cli[3]
        assert all(sum(map(sum, r["sample_counts"].values())) == 2 * r["samples_drawn"] for r in sampled)
        assert all(r["p_a_ci95"][0] < r["p_a"] < r["p_a_ci95"][1] for r in sampled)


def test_generate_on_ray_resumes_without_duplicates(local_ray, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", INPUTS["generate"])
    job = KINDS["generate"].spec(RunOptions(input=str(src), output=str(tmp_path / "ray"), chunk_size=2,
                                            progress=False, limit=3))
    assert run_ray_job(job, RayOptions(workers=1, shard_rows=2), judge_factory=JUDGE).done_now == 3
    full = job.model_copy(update={"run": job.run.model_copy(update={"limit": None})})
    s = run_ray_job(full, RayOptions(workers=1, shard_rows=2), judge_factory=JUDGE)
    assert (s.resumed, s.done_now, s.nan) == (3, 4, 0)
    again = run_ray_job(full, RayOptions(workers=1, shard_rows=2), judge_factory=JUDGE)
    assert (again.resumed, again.done_now) == (7, 0)
    got = read_dir(tmp_path / "ray")
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in INPUTS["generate"])
    cli("generate", src, tmp_path / "cli.jsonl")
    assert_same_records(got, read_records(tmp_path / "cli.jsonl"), tol=0)


@pytest.mark.slow  # runs the CLI in subprocesses (or Ray): > 9 s on 2 cores
def test_generate_in_the_cli_resumes_on_ray_flags(tmp_path):
    """``rlaif generate --engine ray`` (the real CLI, scripted policy in every worker), run twice."""
    src = write_jsonl(tmp_path / "in.jsonl", INPUTS["generate"])
    first = cli("generate", src, tmp_path / "out", "--engine", "ray", "--workers", "1", "--limit", "4")
    assert "0 resumed from an earlier run, 4 done now" in first and "ray: " in first
    second = cli("generate", src, tmp_path / "out", "--engine", "ray", "--workers", "1")
    assert "4 resumed from an earlier run, 3 done now" in second
    got = read_dir(tmp_path / "out")
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in INPUTS["generate"])
