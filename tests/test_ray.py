"""The Ray engine on a real local Ray (``num_cpus=2``): the same records as the local engine, resume after
a killed driver, a worker killed mid-batch, scoring, and the library entry point on a Ray dataset."""

from __future__ import annotations

import functools
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ScriptedJudge, scripted_panel, write_jsonl
from rlaif.core.errors import RlaifError
from rlaif.data.records import read_records
from rlaif.distributed import RayOptions, label_dataset, read_dir, run_ray_job, score_dataset
from rlaif.jobs.pipeline import label_file, score_file
from rlaif.jobs.spec import LabelJob, PanelMember, RunOptions, ScoreJob
from rlaif.labeling.labeler import LabelerConfig
from rlaif.labeling.sampled import SampledLabels

ray = pytest.importorskip("ray")
TESTS = Path(__file__).resolve().parent
JUDGE = functools.partial(ScriptedJudge, position_bias=0.5)  # picklable: workers import conftest


@pytest.fixture(scope="module")
def local_ray():
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", runtime_env={"env_vars": env})
    yield
    ray.shutdown()


def pairs(n: int) -> list[dict]:
    """Rows with known labels: GOOD/BAD responses in both slots, some neutral."""
    words = ["GOOD", "BAD", "fine"]
    return [{"id": f"p{i}", "prompt": f"question {i}", "response_a": f"{words[i % 3]} answer {i}",
             "response_b": f"{words[(i // 3) % 3]} reply {i}", "human_label": float(i % 2)} for i in range(n)]


def assert_same_records(got: list[dict], want: list[dict], tol: float = 1e-6) -> None:
    """Same ids once each, same fields, floats within ``tol`` (NaN = NaN, null human_label = NaN)."""
    assert [r["id"] for r in got] == [r["id"] for r in want]
    for g, w in zip(got, want):
        assert set(g) == set(w), (g["id"], set(g) ^ set(w))
        for k, v in w.items():
            if isinstance(v, float) or isinstance(g[k], float):
                a, b = (math.nan if x is None else x for x in (g[k], v))
                assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol, (g["id"], k, g[k], v)
            elif isinstance(v, list) and v and isinstance(v[0], float):
                assert g[k] == pytest.approx(v, abs=tol), (g["id"], k)
            else:
                assert g[k] == v, (g["id"], k, g[k], v)


def local_records(tmp_path: Path, job: LabelJob | ScoreJob, judge) -> list[dict]:
    out = tmp_path / "local.jsonl"
    run = job.run.model_copy(update={"output": str(out)})
    job = job.model_copy(update={"run": run})
    (label_file if isinstance(job, LabelJob) else score_file)(job, judge)
    return read_records(out)


def test_labels_equal_the_local_engine_and_a_rerun_does_nothing(local_ray, tmp_path):
    rows = pairs(23) + [{"id": "broken", "prompt": "q", "response_a": "only one side"}]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    job = LabelJob(run=RunOptions(input=str(src), output=str(tmp_path / "out"), chunk_size=3, progress=False,
                                  skip_invalid=True))
    s = run_ray_job(job, RayOptions(workers=2, shard_rows=5), judge_factory=JUDGE)
    assert (s.total, s.done_now, s.invalid, s.resumed) == (24, 23, 1, 0)
    got = read_dir(tmp_path / "out")
    want = local_records(tmp_path, job, JUDGE())
    by_id = {r["id"]: r for r in got}
    assert_same_records([by_id[r["id"]] for r in want], want)
    assert len(got) == len(want) == 24
    assert [r["id"] for r in got[:23]] == [f"p{i}" for i in range(23)]  # shard names sort in input order
    assert len(list((tmp_path / "out").glob("part-*"))) == 5  # 23 rows in shards of 5
    assert_same_records(read_records(tmp_path / "out", unique_ids=True), got, tol=0)  # compare & co read folders
    again = run_ray_job(job, RayOptions(workers=2, shard_rows=5), judge_factory=JUDGE)
    assert (again.resumed, again.done_now, again.notes) == (23, 0, [])  # nothing to do: Ray not even asked
    assert_same_records(read_dir(tmp_path / "out"), got, tol=0)


def test_other_settings_are_refused_before_any_worker_starts(local_ray, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", pairs(6))
    job = LabelJob(run=RunOptions(input=str(src), output=str(tmp_path / "out"), chunk_size=3, progress=False))
    run_ray_job(job, RayOptions(workers=1), judge_factory=JUDGE)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "out").iterdir())
    other = job.model_copy(update={"labeler": LabelerConfig(constitution="helpful")})
    with pytest.raises(RlaifError, match="other settings"):
        run_ray_job(other, RayOptions(workers=1), judge_factory=JUDGE)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "out").iterdir()) == before


def test_worker_killed_mid_batch_every_row_exactly_once(local_ray, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", pairs(30))
    job = LabelJob(run=RunOptions(input=str(src), output=str(tmp_path / "out"), chunk_size=3, progress=False))
    marker = tmp_path / "worker-died"
    s = run_ray_job(job, RayOptions(workers=2, shard_rows=4), judge_factory=JUDGE,
                    fault={"after_batches": 2, "marker": str(marker)})
    assert marker.exists(), "the test hook did not kill a worker"
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # that worker process is really gone
    got = read_dir(tmp_path / "out")
    assert s.done_now == 30 and len(got) == 30 and len({r["id"] for r in got}) == 30
    want = local_records(tmp_path, job, JUDGE())
    by_id = {r["id"]: r for r in got}
    assert_same_records([by_id[r["id"]] for r in want], want)


def test_panel_on_ray_equals_the_local_engine(local_ray, tmp_path):
    """A panel job on Ray (each actor holds both members) writes the local engine's panel rows."""
    src = write_jsonl(tmp_path / "in.jsonl", pairs(10))
    job = LabelJob(run=RunOptions(input=str(src), output=str(tmp_path / "out"), chunk_size=3, progress=False),
                   panel=[PanelMember(spec="scripted:2"), PanelMember(spec="scripted:1/0.5", weight=2.0)])
    s = run_ray_job(job, RayOptions(workers=2, shard_rows=4), judge_factory=scripted_panel)
    assert s.done_now == 10
    got = {r["id"]: r for r in read_dir(tmp_path / "out")}
    want = local_records(tmp_path, job, scripted_panel())
    assert_same_records([got[r["id"]] for r in want], want, tol=0)
    assert {r["judge"] for r in want} == {"panel[scripted:2, scripted:1/0.5]"}
    assert all(set(r["panel"]) == {"scripted:2", "scripted:1/0.5"} for r in want)


def _scripted_cli(args: list[str], delay: float) -> subprocess.Popen:
    env = {**os.environ, "RLAIF_TEST_DELAY": str(delay)}
    return subprocess.Popen([sys.executable, str(TESTS / "scripted_cli.py"), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # starts Ray
def test_resume_after_the_driver_is_killed(tmp_path):
    """The real CLI (scripted judge in every Ray worker): kill -9 the driver once a shard is written,
    re-run the same command: every row exactly once, equal to the local engine's."""
    src = write_jsonl(tmp_path / "in.jsonl", pairs(40))
    out = tmp_path / "out"
    cmd = ["label", str(src), "-o", str(out), "--engine", "ray", "--workers", "2", "--chunk-size", "2",
           "--shard-rows", "4", "--no-progress"]
    proc = _scripted_cli(cmd, delay=0.15)
    deadline = time.monotonic() + 120
    while not list(out.glob("part-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = read_dir(out)
    assert 0 < len(first) < 40 and len({r["id"] for r in first}) == len(first)
    proc = _scripted_cli(cmd, delay=0.0)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert f"{len(first)} resumed from an earlier run, {40 - len(first)} done now" in stdout
    got = read_dir(out)
    job = LabelJob(run=RunOptions(input=str(src), output="unused", progress=False))
    want = local_records(tmp_path, job, ScriptedJudge(strength=2.0, position_bias=0.5))
    by_id = {r["id"]: r for r in got}
    assert len(got) == 40 and set(by_id) == {r["id"] for r in want}
    assert_same_records([by_id[r["id"]] for r in want], want)
    for r in first:  # the rows of the killed run were kept, not relabelled
        assert by_id[r["id"]]["p_a"] == r["p_a"]


def test_score_on_ray_equals_the_local_engine(local_ray, tmp_path):
    rows = [{"id": f"s{i}", "prompt": f"q{i}", "response": ["GOOD one", "BAD one", "plain"][i % 3]} for i in range(9)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    job = ScoreJob(run=RunOptions(input=str(src), output=str(tmp_path / "out"), chunk_size=2, progress=False))
    s = run_ray_job(job, RayOptions(workers=2, shard_rows=4), judge_factory=JUDGE)
    assert s.done_now == 9 and s.nan == 0
    got = {r["id"]: r for r in read_dir(tmp_path / "out")}
    want = local_records(tmp_path, job, JUDGE())
    assert_same_records([got[r["id"]] for r in want], want)
    assert [got[f"s{i}"]["reward"] > 0 for i in range(3)] == [True, False, False]


def test_library_entry_point_on_a_ray_dataset(local_ray, tmp_path, hh_rows):
    import ray.data

    src = write_jsonl(tmp_path / "hh.jsonl", hh_rows[:10] + [{"chosen": "only chosen"}])
    labelled = label_dataset(ray.data.read_json(str(src)), judge=JUDGE, workers=2, batch_size=4).take_all()
    assert len(labelled) == 11 and len({r["id"] for r in labelled}) == 11
    bad = [r for r in labelled if r["error"]]
    assert len(bad) == 1 and "field 'rejected'" in bad[0]["error"]
    job = LabelJob(run=RunOptions(input=str(write_jsonl(tmp_path / "ok.jsonl", hh_rows[:10])), output="x"))
    want = {(r["prompt"], r["response_a"]): r for r in local_records(tmp_path, job, JUDGE())}
    for r in labelled:
        if not r["error"]:
            w = want[(r["prompt"], r["response_a"])]
            assert r["p_a"] == pytest.approx(w["p_a"], abs=1e-6) and r["config_hash"] == w["config_hash"]
    scored = score_dataset(ray.data.from_items([{"prompt": "q", "response": "GOOD"}]), judge=JUDGE).take_all()
    assert scored[0]["reward"] > 0.5 and scored[0]["id"].startswith("row-")


@pytest.mark.slow
@pytest.mark.parametrize("labeler", [LabelerConfig(), LabelerConfig(method="sample", sampling=SampledLabels(
    samples=16, max_new_tokens=1))], ids=["logprob", "sampled"])
def test_embedded_judge_on_ray_equals_the_local_engine(local_ray, tmp_path, hh_rows, llamacpp_judge, labeler):
    """The real embedded judge (llama.cpp) in two actors of one thread each gives the local engine's labels; sampled
    labels too: each reply's answer token is drawn from the prompt's logits, whatever its context held before."""
    src = write_jsonl(tmp_path / "hh.jsonl", hh_rows[:6])
    job = LabelJob(run=RunOptions(input=str(src), output=str(tmp_path / "out"), chunk_size=2, progress=False),
                   labeler=labeler)
    s = run_ray_job(job, RayOptions(workers=2, shard_rows=4))
    assert s.done_now == 6 and s.nan == 0
    want = local_records(tmp_path, job, llamacpp_judge)
    got = {r["id"]: r for r in read_dir(tmp_path / "out")}
    assert_same_records([got[r["id"]] for r in want], want, tol=1e-6)
    assert len({round(r["p_a"], 6) for r in want}) > 1  # real, varied labels


def test_cli_errors_are_one_line(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", pairs(2))
    (tmp_path / "file.jsonl").write_text("")
    for args, msg in ((["-o", str(tmp_path / "o.jsonl"), "--workers", "2"], "--workers applies to --engine ray"),
                      (["-o", str(tmp_path / "file.jsonl"), "--engine", "ray"], "writes a folder of Parquet shards"),
                      (["-o", str(tmp_path / "d"), "--engine", "ray", "--workers", "0"], "--workers")):
        p = subprocess.run([sys.executable, "-m", "rlaif", "label", str(src), *args], capture_output=True, text=True)
        assert p.returncode == 2 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_worker_resources_split_cpus_and_place_tensor_parallel_vllm(local_ray):
    from rlaif.distributed.datasets import tensor_parallel_args, worker_resources
    from rlaif.jobs.spec import JudgeSpec

    spec, reserve, gpus = worker_resources(JudgeSpec(), workers=2)
    assert spec.options == {"n_threads": 1} and reserve == 0.5 and gpus == 0  # one CPU left for reading
    spec, reserve, _ = worker_resources(JudgeSpec(spec="llamacpp:m.gguf", options={"n_threads": 4}), workers=1)
    assert spec.options == {"n_threads": 4} and reserve == 1.0  # the user's threads are kept
    spec, reserve, gpus = worker_resources(JudgeSpec(spec="vllm:big"), workers=4, gpus=4)
    assert spec.options == {"tensor_parallel_size": 4} and (reserve, gpus) == (1.0, 4)
    args = tensor_parallel_args(spec, gpus)
    assert args["num_gpus"] == 0 and callable(args["ray_remote_args_fn"])
    assert tensor_parallel_args(JudgeSpec(spec="vllm:small"), 1) == {"num_gpus": 1}
    assert tensor_parallel_args(JudgeSpec(), 0) == {"num_gpus": None}
