"""An attacker's pass on ``rlaif serve``: every setting a client may send that multiplies the judge's work has a
server-side cap (``service.caps``) or is bounded by something the operator owns; a service on a relative data
dir (the default) names no server path in its errors; a key has a bounded number of unfinished jobs; one without keys (``--no-auth``) answers only requests
addressed to a loopback name (a web page cannot drive it through DNS rebinding)."""

from __future__ import annotations

import json
import os
import typing

import httpx
import pytest
from pydantic import BaseModel

from servers import RlaifServer

from rlaif.jobs.kinds import KINDS
from rlaif.service.caps import CAPPED

# int settings that bound no work, or whose work something the operator owns bounds already
BOUNDED_ELSEWHERE = {
    ("LabelerConfig", "seed"), ("SampledLabels", "seed"), ("Sampling", "seed"),  # no work
    ("LabelerConfig", "ensemble_k"),  # at most the constitution's principles
    ("LabelerConfig", "shots"),  # at most the template's exemplars (more is a 422)
    ("LabelerConfig", "max_prompt_tokens"), ("ScorerConfig", "max_prompt_tokens"),  # at most the judge's context
    ("SampledLabels", "auto_step"),  # a round draws at most auto_max answers
}


def _fields(model: type[BaseModel]):
    for name, field in model.model_fields.items():
        yield model, name, field
        for t in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(t, type) and issubclass(t, BaseModel):
                yield from _fields(t)


def _is_int(annotation) -> bool:
    return annotation is int or any(_is_int(a) for a in typing.get_args(annotation))  # in a union, an Annotated


def test_every_int_setting_of_every_kind_is_capped_or_bounded():
    capped = {(m.__name__, f) for m, f in CAPPED}
    loose = []
    for kind in KINDS.values():
        for model, name, field in _fields(kind.settings_model):
            upper = any(hasattr(c, "le") or hasattr(c, "lt") for c in field.metadata)
            if _is_int(field.annotation) and not upper and (model.__name__, name) not in capped | BOUNDED_ELSEWHERE:
                loose.append(f"{kind.name}: {model.__name__}.{name}")
    assert not loose, f"settings a client may raise without bound (add them to service.caps.CAPPED): {loose}"
    assert {("SampledLabels", "samples"), ("Sampling", "n"), ("Reasoning", "budget")} <= capped

# a panel member behind a server that is down, its URL carrying credentials (a proxy's basic auth)
SERVE = ("panel:\n  own: {}\n  down: {spec: 'openai:m', options: {base_url: 'http://user:s3cret@127.0.0.1:9/v1', "
         "api_key: sk-secret, max_retries: 0, timeout: 1}}\n")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("attack")
    (d / "serve.yaml").write_text(SERVE)
    s = RlaifServer(os.path.relpath(d), "--no-auth", "--max-jobs-per-key", "2", "--config", str(d / "serve.yaml"),
                    scripted=True, delay=0.005)  # a relative data dir, as the default is
    yield s
    s.close()


def test_errors_name_the_file_not_where_a_relative_data_dir_keeps_it(srv):
    for name, data, start in [("bad.jsonl", b'{"prompt": 3}\n', "bad.jsonl:1: "),
                              ("bad.parquet", b"PAR1garbage", "bad.parquet: cannot read parquet"),
                              ("empty.jsonl", b"", "empty.jsonl: no rows")]:
        assert httpx.put(f"{srv.url}/v1/files/{name}", content=data).status_code == 201
        r = httpx.post(srv.url + "/v1/jobs", json={"kind": "label", "input": name}, timeout=60)
        detail = r.json()["detail"]
        assert r.status_code == 422 and detail.startswith(start), detail
        assert "jobs/" not in detail and "input/" not in detail and os.path.basename(srv.data_dir) not in detail, detail


def test_without_keys_only_requests_to_a_loopback_name_are_served(srv):
    """A web page on evil.example whose name now resolves to 127.0.0.1 (DNS rebinding) is the page's own origin
    to the browser: its requests carry ``Host: evil.example:PORT`` and may read the answers."""
    port = srv.url.rsplit(":", 1)[1]
    rows = b'{"prompt": "User: q", "response_a": "GOOD", "response_b": "BAD"}\n'
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.nip.io:{port}"):
        evil = {"Host": host, "Origin": f"http://{host}"}
        for method, path, kw in [("GET", "/v1/jobs", {}), ("PUT", "/v1/files/x.jsonl", {"content": rows}),
                                 ("POST", "/v1/jobs", {"json": {"kind": "label", "input": "x.jsonl"}}),
                                 ("GET", "/ui/jobs.json", {}), ("POST", "/ui/jobs", {"json": {"kind": "label",
                                                                                             "input": "x.jsonl"}})]:
            r = httpx.request(method, srv.url + path, headers=evil, timeout=60, **kw)
            assert r.status_code == 403 and "loopback" in r.json()["detail"], (host, path, r.status_code, r.text)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert httpx.get(srv.url + "/v1/jobs", headers={"Host": host}).status_code == 200, host
    assert httpx.get(srv.url + "/v1/jobs", headers={"Host": "[::1"}).status_code == 403  # not a name at all


def test_a_key_has_a_bounded_number_of_unfinished_jobs(srv):
    rows = "".join(json.dumps({"prompt": f"User: q{i}", "response_a": "GOOD", "response_b": "BAD"}) + "\n"
                   for i in range(300))
    assert httpx.put(srv.url + "/v1/files/many.jsonl", content=rows.encode()).status_code == 201
    job = {"kind": "label", "input": "many.jsonl", "chunk_size": 2}
    ids = [httpx.post(srv.url + "/v1/jobs", json=job, timeout=60).json()["id"] for _ in range(2)]
    r = httpx.post(srv.url + "/v1/jobs", json=job, timeout=60)
    assert r.status_code == 429 and r.json()["detail"] == "key 'anonymous' has 2 unfinished jobs, the most this " \
        "service allows (--max-jobs-per-key); wait for one to finish or cancel one", r.text
    assert httpx.delete(f"{srv.url}/v1/jobs/{ids[1]}").status_code == 200  # queued: cancelled at once
    r = httpx.post(srv.url + "/v1/jobs", json=job, timeout=60)
    assert r.status_code == 202, r.text
    for jid in (ids[0], r.json()["id"]):
        httpx.delete(f"{srv.url}/v1/jobs/{jid}")


def test_a_judge_failure_names_no_judge_server_url(srv):
    pair = {"prompt": "User: q", "response_a": "GOOD", "response_b": "BAD"}
    r = httpx.post(srv.url + "/v1/labels", json={"pairs": [pair], "panel": ["own", "down"]}, timeout=60)
    detail = r.json()["detail"]
    assert r.status_code == 502 and detail.startswith("judge failed: openai judge m at "), detail
    assert "cannot connect" in detail and not any(s in detail for s in ("s3cret", "user:", "127.0.0.1:9", "sk-")), detail
