"""The rlaif console script end to end on the embedded judge: summary, resume after kill, bad input."""

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import write_jsonl


def rlaif(*args, check=True):
    res = subprocess.run([sys.executable, "-m", "rlaif", *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and res.returncode != 0:
        raise AssertionError(res.stderr)
    return res


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.fixture
def hh_small(hh_rows, tmp_path):
    return write_jsonl(tmp_path / "hh.jsonl", hh_rows[:12])


@pytest.mark.slow  # the embedded judge, in a subprocess
def test_label_writes_schema_and_summary(hh_small, tmp_path):
    from rlaif.core.schema import check_label_record

    out = tmp_path / "out.jsonl"
    res = rlaif("label", hh_small, "-o", out, "--limit", "5", "--no-progress")
    assert "rows: 5 (0 resumed" in res.stdout and "position consistency" in res.stdout and "NaN labels: 0" in res.stdout
    rows = lines(out)
    assert [r["id"] for r in rows] == [f"row-{i}" for i in range(5)]
    for i, r in enumerate(rows):
        check_label_record(r, f"out:{i + 1}")
        assert 0 <= r["p_a"] <= 1 and r["judge"].startswith("llamacpp:SmolLM2")
    # running again does nothing new; a parquet output carries the same labels
    again = rlaif("label", hh_small, "-o", out, "--limit", "5", "--no-progress")
    assert "5 resumed" in again.stdout and len(lines(out)) == 5
    pq = tmp_path / "out.parquet"
    rlaif("label", hh_small, "-o", pq, "--limit", "5", "--no-progress")
    import pandas as pd

    df = pd.read_parquet(pq)
    assert list(df["id"]) == [r["id"] for r in rows]
    assert list(df["p_a"]) == pytest.approx([r["p_a"] for r in rows], abs=1e-9)
    assert not (tmp_path / "out.parquet.partial.jsonl").exists()


@pytest.mark.slow  # the embedded judge, in a subprocess
def test_resume_after_kill_loses_and_duplicates_nothing(hh_small, tmp_path):
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "rlaif", "label", str(hh_small), "-o", str(out), "--chunk-size", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = lines(out)
    assert 3 <= len(first) < 12, "kill should land mid-job"
    with open(out, "a") as fh:  # simulate a torn write at the moment of the kill
        fh.write('{"id": "row-11", "p_a": 0.')
    res = rlaif("label", hh_small, "-o", out, "--chunk-size", "1", "--no-progress")
    assert f"{len(first)} resumed" in res.stdout
    final = lines(out)
    assert [r["id"] for r in final] == [f"row-{i}" for i in range(12)]
    assert final[:len(first)] == first  # finished rows untouched


@pytest.mark.slow  # the embedded judge, in a subprocess
def test_resume_refuses_other_settings(hh_small, tmp_path):
    out = tmp_path / "out.jsonl"
    rlaif("label", hh_small, "-o", out, "--limit", "1", "--no-progress")
    res = rlaif("label", hh_small, "-o", out, "--limit", "2", "--shots", "2", "--no-progress", check=False)
    assert res.returncode == 2 and "written with other settings" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # the embedded judge, in a subprocess
def test_bad_input_is_one_line_and_skip_invalid_keeps_going(tmp_path):
    p = tmp_path / "bad.jsonl"
    good = {"prompt": "User: hi", "response_a": "Hello! How can I help?", "response_b": "Go away."}
    p.write_bytes(json.dumps(good).encode() + b"\n" + b'{"prompt": "caf\xe9", "response_a": "a", "response_b": "b"}\n'
                  + json.dumps({**good, "response_b": "Hello! How can I help?"}).encode() + b"\n")
    out = tmp_path / "o.jsonl"
    res = rlaif("label", p, "-o", out, "--no-progress", check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == (f"rlaif: error: {p}:2: bytes are not UTF-8 (at byte 15 of the line); "
                                  "fix the input or pass --skip-invalid to label the other rows")
    res = rlaif("label", p, "-o", out, "--no-progress", "--skip-invalid")
    rows = {r["id"]: r for r in lines(out)}
    assert 0 <= rows["row-0"]["p_a"] <= 1
    bad = [r for r in rows.values() if r["id"].startswith("invalid-")]  # keyed by content, not position
    assert len(bad) == 1 and bad[0]["p_a"] is None and bad[0]["error"].startswith("invalid input:")
    assert rows["row-2"]["p_a"] is None and rows["row-2"]["error"].startswith("identical responses")
    assert "NaN labels: 2" in res.stdout
    for args, msg in [(["--constitution", "nope"], "unknown constitution 'nope'"),
                      (["--template", "nope"], "unknown template 'nope'"),
                      (["--principles", "nope"], "no principle 'nope'"),
                      (["--judge", "weird:x"], "unknown judge 'weird:x'")]:
        res = rlaif("label", p, "-o", tmp_path / "x.jsonl", *args, check=False)
        assert res.returncode == 2 and msg in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_judges_lists_kinds():
    out = rlaif("judges").stdout
    assert "openai:MODEL" in out and "SmolLM2-135M-Instruct.Q4_1.gguf" in out


def test_every_subcommand_has_working_help(capsys):
    from rlaif.cli import COMMANDS, main

    top = rlaif("--help").stdout
    as_module = subprocess.run([sys.executable, "-m", "rlaif.cli", "--help"], capture_output=True, text=True)
    assert as_module.returncode == 0 and as_module.stdout == top  # the same explicit command table
    assert {"label", "generate", "rank", "score", "compare", "export-dpo", "serve"} <= set(COMMANDS)
    for cmd in COMMANDS:  # in this process: one interpreter start per command cost a minute
        assert cmd in top
        with pytest.raises(SystemExit) as done:
            main([cmd, "--help"])
        assert done.value.code == 0 and "usage: rlaif " + cmd in capsys.readouterr().out


@pytest.mark.slow  # the embedded judge, in a subprocess
def test_score_command_and_compare_report(tmp_path, hh_small):
    src = write_jsonl(tmp_path / "s.jsonl", [{"prompt": "User: What is 2+2?", "response": "4"},
                                            {"prompt": [{"role": "user", "content": "Say hi"}],
                                             "completion": [{"role": "assistant", "content": "Hello!"}]}])
    out = tmp_path / "s_out.jsonl"
    res = rlaif("score", src, "-o", out, "--no-progress")
    assert "rows: 2" in res.stdout
    rows = lines(out)
    assert all(-1 <= r["reward"] <= 1 and abs(sum(r["probs"]) - 1) < 1e-6 for r in rows)
    labels = tmp_path / "l.jsonl"
    rlaif("label", hh_small, "-o", labels, "--no-progress")
    rep = rlaif("compare", labels, "-o", tmp_path / "rep", "--bootstrap", "200")
    assert "AI-labeler alignment" in rep.stdout and (tmp_path / "rep" / "report.html").exists()
    dpo = tmp_path / "dpo.jsonl"
    rlaif("export-dpo", labels, "-o", dpo)
    assert all({"prompt", "chosen", "rejected", "p_chosen", "judge"} <= set(r) for r in lines(dpo))


@pytest.mark.slow  # runs the CLI in subprocesses (or Ray): > 9 s on 2 cores
def test_training_and_report_commands_fail_in_one_line(tmp_path):
    scored = write_jsonl(tmp_path / "scored.jsonl", [{"id": "1", "prompt": "p", "response": "r", "reward": 0.1}])
    labels = write_jsonl(tmp_path / "labels.jsonl", [{"id": "1", "prompt": "p", "response_a": "a", "response_b": "b",
                                                                "human_label": 1.0}])
    cases = [(["compare", tmp_path / "nope.jsonl"], f"{tmp_path / 'nope.jsonl'}: no such file"),
             (["calibrate", tmp_path / "nope.jsonl", "-o", tmp_path / "c.json"], "no such file"),
             (["compare", scored], f"{scored}:1: missing field 'response_a'"),
             (["export-dpo", labels, "-o", tmp_path / "d.jsonl"], f"{labels}:1: missing field 'p_a'"),
             (["train-dpo", labels, "--base", "embedded", "-o", tmp_path / "p"], f"{labels}:1: missing field 'chosen'"),
             (["train-rm", labels, "--base", tmp_path / "nobase", "-o", tmp_path / "rm"], "missing field 'p_a'"),
             (["eval-rm", tmp_path / "nodir", labels], "not a reward model directory")]
    for args, msg in cases:
        res = rlaif(*args, check=False)
        assert res.returncode == 2 and msg in res.stderr and "Traceback" not in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1
