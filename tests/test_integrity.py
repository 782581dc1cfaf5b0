"""Output integrity of batch jobs (issue 14): resume never deletes or repeats labelled rows, one writer
per output, invalid rows are retried once fixed, text stays text, remote judges time out.

Jobs run the real CLI in a subprocess with the controlled ScriptedJudge (``scripted_cli.py``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import write_jsonl

DRIVER = Path(__file__).resolve().parent / "scripted_cli.py"


def run(*args, delay=0.0, check=False, timeout=300):
    env = {**os.environ, "RLAIF_TEST_DELAY": str(delay)}
    res = subprocess.run([sys.executable, str(DRIVER), *map(str, args)], capture_output=True, text=True,
                         timeout=timeout, env=env)
    if check and res.returncode != 0:
        raise AssertionError(res.stderr)
    return res


def start(*args, delay=0.0):
    env = {**os.environ, "RLAIF_TEST_DELAY": str(delay)}
    return subprocess.Popen([sys.executable, str(DRIVER), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def pairs(n, ids=False):
    rows = [{"prompt": f"User: question {i}?", "response_a": f"GOOD answer {i}", "response_b": f"BAD answer {i}"}
            for i in range(n)]
    return [{"id": f"q{i}", **r} for i, r in enumerate(rows)] if ids else rows


def records(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def one_line_error(res, *needles):
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def labelled30(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", pairs(30))
    out = tmp_path / "out.jsonl"
    run("label", src, "-o", out, "--no-progress", check=True)
    return src, out


# -- defect 1: resume reads before it writes; only a torn final line is cut ----------------------

def test_blank_line_then_other_settings_changes_nothing(labelled30):
    src, out = labelled30
    text = out.read_text().splitlines(keepends=True)
    out.write_text("".join(text[:5]) + "\n" + "".join(text[5:]))
    before = out.read_bytes()
    res = run("label", src, "-o", out, "--seed", "1", "--no-progress")
    one_line_error(res, f"{out}:1", "written with other settings")
    assert out.read_bytes() == before


def test_blank_line_same_settings_relabels_nothing(labelled30):
    src, out = labelled30
    text = out.read_text().splitlines(keepends=True)
    out.write_text("".join(text[:5]) + "\n" + "".join(text[5:]))
    res = run("label", src, "-o", out, "--no-progress", check=True)
    assert "30 resumed" in res.stdout and "0 done now" in res.stdout
    assert [r["id"] for r in records(out)] == [f"row-{i}" for i in range(30)]


def test_bad_middle_line_stops_with_file_line_and_repair_keeps_it(labelled30):
    src, out = labelled30
    text = out.read_text().splitlines(keepends=True)
    out.write_text("".join(text[:7]) + '{"id": "row-7", "p_a": 0.\n' + "".join(text[8:]))
    before = out.read_bytes()
    res = run("label", src, "-o", out, "--no-progress")
    one_line_error(res, f"{out}:8", "--repair")
    assert out.read_bytes() == before
    res = run("label", src, "-o", out, "--no-progress", "--repair", check=True)
    rejected = Path(str(out) + ".rejected.jsonl")
    assert rejected.read_text() == '{"id": "row-7", "p_a": 0.\n'
    assert "1 done now" in res.stdout and "29 resumed" in res.stdout
    assert sorted(r["id"] for r in records(out)) == sorted(f"row-{i}" for i in range(30))
    assert records(out)[:7] == [json.loads(x) for x in text[:7]]


def test_torn_final_line_is_the_only_thing_cut(labelled30):
    src, out = labelled30
    with open(out, "a") as fh:
        fh.write('{"id": "row-30", "p_a": 0.')
    run("label", src, "-o", out, "--no-progress", check=True)
    assert len(records(out)) == 30


def test_output_may_not_be_the_input(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", pairs(5))
    before = src.read_bytes()
    one_line_error(run("label", src, "-o", src, "--no-progress"), "is the input")
    link = tmp_path / "alias.jsonl"
    link.symlink_to(src)
    one_line_error(run("label", src, "-o", link, "--no-progress"), "is the input")
    assert src.read_bytes() == before


@pytest.mark.slow  # runs the CLI in subprocesses (or Ray): > 9 s on 2 cores
def test_parquet_output_keeps_earlier_rows_when_a_later_run_is_killed(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", pairs(12))
    out = tmp_path / "out.parquet"
    run("label", src, "-o", out, "--limit", "4", "--no-progress", check=True)
    proc = start("label", src, "-o", out, "--chunk-size", "1", "--no-progress", delay=0.3)
    partial = Path(str(out) + ".partial.jsonl")
    deadline = time.time() + 60
    while time.time() < deadline and (not partial.exists() or len(records(partial)) < 2):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    run("label", src, "-o", out, "--no-progress", check=True)
    import pandas as pd

    assert sorted(pd.read_parquet(out)["id"]) == sorted(f"row-{i}" for i in range(12))


# -- defect 2: one writer per output; readers refuse duplicates -----------------------------------

@pytest.mark.slow  # runs the CLI in subprocesses (or Ray): > 9 s on 2 cores
def test_second_writer_fails_at_once_naming_the_first(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", pairs(40))  # ~12 s of work: the second starts well before the end
    out = tmp_path / "same.jsonl"
    first = start("label", src, "-o", out, "--chunk-size", "1", "--no-progress", delay=0.3)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or not records(out)):
        time.sleep(0.05)
    second = run("label", src, "-o", out, "--chunk-size", "1", "--no-progress")
    one_line_error(second, f"{out} is being written by process {first.pid}")
    assert first.wait(120) == 0
    assert sorted(r["id"] for r in records(out)) == sorted(f"row-{i}" for i in range(40))
    assert not Path(str(out) + ".lock").exists()


@pytest.mark.slow  # runs the CLI in subprocesses (or Ray): > 9 s on 2 cores
def test_readers_refuse_duplicate_ids(labelled30, tmp_path):
    src, out = labelled30
    dup = tmp_path / "dup.jsonl"
    dup.write_text(out.read_text() + out.read_text().splitlines(keepends=True)[3])
    for args in (["compare", dup], ["export-dpo", dup, "-o", tmp_path / "d.jsonl"], ["calibrate", dup, "-o", tmp_path / "c.json"]):
        one_line_error(run(*args), f"{dup}:31", "id 'row-3'", "line 4")
    res = run("label", src, "-o", dup, "--no-progress", "--repair", check=True)
    assert "30 resumed" in res.stdout and len(records(dup)) == 30


# -- defect 3: --skip-invalid rows are retried once the input is fixed ----------------------------

@pytest.mark.parametrize("explicit_ids", [False, True])
def test_fixed_invalid_row_is_labelled_and_replaces_its_error_record(tmp_path, explicit_ids):
    rows = pairs(6, ids=explicit_ids)
    broken = [dict(r) for r in rows]
    del broken[2]["response_b"]
    src = write_jsonl(tmp_path / "in.jsonl", broken)
    out = tmp_path / "out.jsonl"
    res = run("label", src, "-o", out, "--skip-invalid", "--no-progress", check=True)
    assert "1 invalid input rows" in res.stdout and "5 done now" in res.stdout
    again = run("label", src, "-o", out, "--skip-invalid", "--no-progress", check=True)
    assert "5 resumed" in again.stdout and "1 invalid input rows" in again.stdout and len(records(out)) == 6
    write_jsonl(src, rows)  # the user fixes the row
    fixed = run("label", src, "-o", out, "--no-progress", check=True)
    assert "5 resumed" in fixed.stdout and "1 done now" in fixed.stdout and "0 invalid" in fixed.stdout
    got = records(out)
    want = [r.get("id", f"row-{i}") for i, r in enumerate(rows)]
    assert sorted(r["id"] for r in got) == sorted(want)
    assert all(r["error"] is None and 0.5 < r["p_a"] < 1 for r in got)


# -- defect 4: CSV columns are text ---------------------------------------------------------------

def test_csv_numeric_looking_text_stays_text(tmp_path):
    import pandas as pd

    src = tmp_path / "in.csv"
    pd.DataFrame({"id": ["007", "008"], "prompt": ["What is 2+2?", "None"],
                  "response_a": ["4", "NA"], "response_b": ["5", "null"], "human_label": ["1", "0.25"]}).to_csv(src, index=False)
    out = tmp_path / "out.jsonl"
    run("label", src, "-o", out, "--no-progress", check=True)
    got = {r["id"]: r for r in records(out)}
    assert set(got) == {"007", "008"}
    assert (got["007"]["response_a"], got["007"]["response_b"], got["007"]["human_label"]) == ("4", "5", 1.0)
    assert (got["008"]["prompt"], got["008"]["response_a"], got["008"]["human_label"]) == ("None", "NA", 0.25)


# -- defect 5: remote judges time out -------------------------------------------------------------

class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (holds them until closed)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                continue

    def close(self):
        self.stop = True
        for s in self.held:
            s.close()
        self.sock.close()


def label_remote(tmp_path, base_url, *extra):
    from rlaif.cli import main  # noqa: F401  (import check only; the job runs in a subprocess)

    src = write_jsonl(tmp_path / "in.jsonl", pairs(2))
    cmd = [sys.executable, "-m", "rlaif", "label", str(src), "-o", str(tmp_path / "o.jsonl"), "--judge", "openai:m",
           "--base-url", base_url, "--no-progress", *extra]
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return res, time.monotonic() - t0


def test_silent_server_times_out_after_the_retries_asked_for(tmp_path):
    srv = SilentServer()
    try:
        res, took = label_remote(tmp_path, f"http://127.0.0.1:{srv.port}/v1", "--timeout", "1", "--max-retries", "1")
    finally:
        srv.close()
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert "gave up after 2 attempts" in last and "Timeout" in last, res.stderr
    assert took < 60, took  # 2 attempts of 1 s each plus start-up; today's default was 8 x 60 s


def test_dead_port_fails_in_seconds(tmp_path):
    from servers import free_port

    res, took = label_remote(tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    assert res.returncode == 2
    assert "cannot connect" in res.stderr.strip().splitlines()[-1], res.stderr
    assert took < 40, took  # today: 66 s of retries


# -- defect 6: the small items --------------------------------------------------------------------

@pytest.mark.slow  # runs the CLI in subprocesses (or Ray): > 9 s on 2 cores
def test_empty_input_and_bad_numbers_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("  \n\n")
    out = tmp_path / "o.jsonl"
    one_line_error(run("label", empty, "-o", out, "--no-progress"), f"{empty}: no rows")
    assert not out.exists()
    src = write_jsonl(tmp_path / "in.jsonl", pairs(2))
    one_line_error(run("label", src, "-o", out, "--limit", "-1"), "--limit")
    one_line_error(run("label", src, "-o", out, "--chunk-size", "0"), "--chunk-size")
    run("label", src, "-o", out, "--no-progress", check=True)
    one_line_error(run("export-dpo", out, "-o", tmp_path / "d.jsonl", "--min-confidence", "2"), "--min-confidence")


@pytest.mark.slow  # runs the CLI in subprocesses (or Ray): > 9 s on 2 cores
def test_empty_exports_have_columns_and_normal_permissions(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "p", "response_a": "same", "response_b": "same"}])
    out = tmp_path / "o.jsonl"
    run("label", src, "-o", out, "--no-progress", check=True)
    old = os.umask(0o022)
    try:
        for ext in ("jsonl", "parquet"):
            dst = tmp_path / f"dpo.{ext}"
            res = run("export-dpo", out, "-o", dst, check=True)
            assert "wrote 0 of 1" in res.stdout
            assert dst.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
    import pandas as pd

    assert {"prompt", "chosen", "rejected", "p_chosen"} <= set(pd.read_parquet(tmp_path / "dpo.parquet").columns)


def test_compare_on_all_nan_labels_is_a_clear_line_without_warnings(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "p", "chosen": "same", "rejected": "same"}] * 1
                      + [{"prompt": "q", "chosen": "x", "rejected": "x"}])
    out = tmp_path / "o.jsonl"
    run("label", src, "-o", out, "--no-progress", check=True)
    res = run("compare", out, "-o", tmp_path / "rep")
    one_line_error(res, "no labelled rows", "identical responses")
    assert "Warning" not in res.stderr


def test_json_error_message_reads_well(tmp_path):
    from rlaif.data import load_pairs

    p = tmp_path / "x.jsonl"
    p.write_text('{"prompt": "p, "response_a": "a"}\n{"prompt": "unterminated\n')
    msgs = [m for _, m in load_pairs(p).invalid]
    assert all("at at" not in m for m in msgs) and f"{p}:2: not valid JSON" in msgs[1]
