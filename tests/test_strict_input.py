"""The pure parts of the service's input hygiene: strict-JSON problems named by location, lone surrogates in
JSONL files refused at reading, server paths hidden from messages, the data-dir lock across processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rlaif.data.jsonstrict import loads_marked, problem
from rlaif.service import datadir_lock
from rlaif.service.redact import hide_paths


@pytest.mark.parametrize("text,want", [
    ('{"pairs": [{"prompt": "ok"}, {"prompt": [{"content": "\\ud800"}]}]}',
     "pairs[1].prompt[0] field 'content': a lone surrogate (\\ud800)"),
    ('{"pairs": [{"human_label": NaN}]}', "pairs[0] field 'human_label': NaN is not valid JSON"),
    ('{"settings": {"seed": -Infinity}}', "settings.seed: -Infinity is not valid JSON"),
    ('{"\\udc00": 1}', "body: a key with a lone surrogate (\\udc00)"),
    ('["\\udfff"]', "[0]: a lone surrogate"),
])
def test_strict_json_problems_name_the_place(text, want):
    assert problem(loads_marked(text)).startswith(want)


def test_strict_json_accepts_what_is_valid():
    assert problem(loads_marked('{"a": ["NaN", "\\ud83d\\ude00", 1e308, null, {"b": "Infinity"}]}')) is None
    assert problem({"h": float("nan")}, root="f.jsonl:1", non_finite=False) is None


def test_a_jsonl_file_with_a_lone_surrogate_is_refused_at_its_line(tmp_path):
    from rlaif.data import load_pairs

    p = tmp_path / "s.jsonl"
    p.write_text('{"prompt": "fine", "response_a": "a", "response_b": "b"}\n'
                 '{"prompt": "x\\ud800", "response_a": "a", "response_b": "b"}\n')
    loaded = load_pairs(p)
    assert len(loaded.records) == 1 and len(loaded.invalid) == 1
    assert loaded.invalid[0][1] == f"{p}:2 field 'prompt': a lone surrogate (\\ud800) is not valid Unicode text"


@pytest.mark.parametrize("text,want", [
    ("/srv/data/jobs/ab12/input/pairs.jsonl:3 field 'prompt' is missing", "pairs.jsonl:3 field 'prompt' is missing"),
    ("output: /tmp/x/jobs/1/output.jsonl (also holds 2 rows)", "output: output.jsonl (also holds 2 rows)"),
    ("'/etc/app/secret.yaml': not valid YAML", "'secret.yaml': not valid YAML"),
    ("judge at http://127.0.0.1:8080/v1/chat failed", "judge at (a server) failed"),  # a URL is not cut as a path:
    ("at http://u:pw@gpu-box:8000/v1: cannot connect", "at (a server): cannot connect"),  # it goes, credentials too
    ("3/4 rows, ratio 1/2", "3/4 rows, ratio 1/2"),
])
def test_server_paths_become_their_last_part(text, want):
    assert hide_paths(text) == want


def test_the_data_dir_lock_holds_across_processes(tmp_path):
    held = datadir_lock.acquire(tmp_path)
    assert datadir_lock.acquire(tmp_path) == held  # the same process may ask again
    code = ("import sys; from rlaif.service import datadir_lock as d\n"
            "try:\n    d.acquire(sys.argv[1])\nexcept Exception as e:\n    print(e); sys.exit(2)")
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert other.returncode == 2 and "in use by another rlaif serve (pid" in other.stdout, other
    datadir_lock.release(held)
    datadir_lock.release(held)
    free = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert free.returncode == 0, free
