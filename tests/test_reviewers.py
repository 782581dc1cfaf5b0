"""Several reviewers per job, over real HTTP against ``rlaif serve`` on loopback (the controlled judge): reviewer
keys (``rlaif keys add --role reviewer``), sharing through the API and the UI, a reviewer reaching that job's
pairs and nothing else, labels kept per reviewer, the owner's report (each reviewer against the judge, the
reviewers' kappa), the export naming each label's reviewer; a database from before roles keeps its keys and
its owner's labels."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time

import httpx
import pytest

from servers import RlaifServer, add_key
from test_integrity import pairs

pytestmark = pytest.mark.slow
HTML = {"Accept": "text/html"}
OLD_KEY = "rlaif_an-old-key-from-before-roles"


def _old_database(d) -> None:
    """The tables as the release before reviewer roles wrote them, with an owner key ``alice``."""
    with sqlite3.connect(d / "rlaif.db") as db:
        db.execute("CREATE TABLE api_keys (name TEXT PRIMARY KEY, digest TEXT NOT NULL UNIQUE, created REAL NOT NULL, "
                   "revoked REAL)")
        db.execute("INSERT INTO api_keys VALUES ('alice', ?, ?, NULL)", (hashlib.sha256(OLD_KEY.encode()).hexdigest(),
                                                                        time.time()))
        db.execute("CREATE TABLE reviews (job_id TEXT NOT NULL, pair_id TEXT NOT NULL, reviewer TEXT NOT NULL, "
                   "label REAL NOT NULL, created REAL NOT NULL, PRIMARY KEY (job_id, pair_id, reviewer))")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("reviewers")
    _old_database(d)
    keys = {"alice": OLD_KEY, "bob": add_key(d, "bob"), "rev1": add_key(d, "rev1", "reviewer"),
            "rev2": add_key(d, "rev2", "reviewer")}
    s = RlaifServer(d, scripted=True)
    s.keys, s.sid = keys, {}
    for name, key in keys.items():
        r = httpx.post(s.url + "/ui/session", json={"key": key})
        assert r.status_code == 200, r.text
        s.sid[name] = r.cookies["rlaif_session"]
    s.job = _finished_job(s, "alice", "pairs.jsonl", pairs(6, ids=True))
    s.bob_job = _finished_job(s, "bob", "bob.jsonl", pairs(2, ids=True))
    yield s
    s.close()


def api(srv, who, method, path, **kw):
    return httpx.request(method, srv.url + path, headers={"Authorization": f"Bearer {srv.keys[who]}"}, timeout=60, **kw)


def ui(srv, who, method, path, **kw):
    headers = {"Cookie": f"rlaif_session={srv.sid[who]}", **kw.pop("headers", {})}
    return httpx.request(method, srv.url + path, headers=headers, timeout=60, follow_redirects=False, **kw)


def _finished_job(srv, who, name, rows) -> str:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    assert api(srv, who, "PUT", f"/v1/files/{name}", content=data).status_code == 201
    job = api(srv, who, "POST", "/v1/jobs", json={"kind": "label", "input": name}).json()["id"]
    for _ in range(600):
        if api(srv, who, "GET", f"/v1/jobs/{job}").json()["state"] == "done":
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job} did not finish")


def label(srv, who, job, pair, choice):
    r = ui(srv, who, "POST", f"/ui/jobs/{job}/reviews", json={"pair_id": pair, "label": choice})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_database_from_before_roles_keeps_its_keys_and_labels(srv):
    assert api(srv, "alice", "GET", "/v1/jobs").status_code == 200  # the old key: an owner
    with sqlite3.connect(f"{srv.data_dir}/rlaif.db") as db:  # a label the old single-user UI stored
        db.execute("INSERT INTO reviews VALUES (?, 'q5', 'alice', 1.0, ?)", (srv.job, time.time()))
    page = ui(srv, "alice", "GET", f"/ui/jobs/{srv.job}", headers=HTML).text
    assert 'data-reviewer="alice"' in page
    rows = [json.loads(x) for x in api(srv, "alice", "GET", f"/v1/jobs/{srv.job}/human.jsonl").text.splitlines()]
    assert {"id": "q5", "human_label": 1.0, "reviewer": "alice"} in rows


def test_a_reviewer_key_reaches_nothing_before_a_share(srv):
    for method, path, kw in (("GET", "/v1/jobs", {}), ("POST", "/v1/labels", {"json": {"pairs": pairs(1)}}),
                             ("PUT", "/v1/files/x.jsonl", {"content": b"{}\n"}),
                             ("POST", "/v1/jobs", {"json": {"kind": "label", "input": "x.jsonl"}}),
                             ("GET", f"/v1/jobs/{srv.job}/result", {})):
        r = api(srv, "rev1", method, path, **kw)
        assert r.status_code == 403 and "reviewer key" in r.json()["detail"], (path, r.text)
    assert ui(srv, "rev1", "GET", f"/ui/jobs/{srv.job}").status_code == 404
    assert ui(srv, "rev1", "POST", f"/ui/jobs/{srv.job}/reviews", json={"pair_id": "q0", "label": "a"}).status_code == 404
    assert ui(srv, "rev1", "PUT", "/ui/files/x.jsonl", content=b"{}\n").status_code == 403
    assert ui(srv, "rev1", "GET", "/ui/jobs.json").status_code == 403


def test_only_the_owner_shares_and_only_with_a_live_key(srv):
    url = f"/v1/jobs/{srv.job}/reviewers"
    assert api(srv, "alice", "POST", url, json={"reviewer": "nobody"}).status_code == 422
    assert api(srv, "alice", "POST", url, json={"reviewer": "alice"}).status_code == 422
    assert api(srv, "bob", "POST", url, json={"reviewer": "bob"}).status_code == 404  # not bob's job
    assert ui(srv, "rev1", "POST", f"/ui/jobs/{srv.job}/reviewers", json={"reviewer": "rev1"}).status_code == 404
    assert api(srv, "alice", "POST", url, json={"reviewer": "rev1"}).json()["reviewers"] == ["rev1"]
    r = ui(srv, "alice", "POST", f"/ui/jobs/{srv.job}/reviewers", json={"reviewer": "rev2"})  # the UI's share
    assert r.status_code == 200 and r.json()["reviewers"] == ["rev1", "rev2"]
    assert api(srv, "alice", "GET", url).json()["reviewers"] == ["rev1", "rev2"]


def test_a_reviewer_labels_the_shared_job_and_nothing_else(srv):
    job = srv.job
    assert ui(srv, "rev1", "GET", f"/ui/jobs/{job}", headers=HTML).status_code == 200
    assert ui(srv, "rev1", "GET", f"/ui/jobs/{job}/pairs", headers=HTML).status_code == 200
    assert ui(srv, "rev1", "GET", f"/ui/jobs/{job}/review", headers=HTML).status_code == 200
    listing = ui(srv, "rev1", "GET", "/ui", headers=HTML).text
    assert f'href="/ui/jobs/{job}"' in listing and srv.bob_job not in listing and 'id="submit"' not in listing
    # the judge picks A everywhere (GOOD vs BAD); rev1: a a b b, rev2: a b b b on q0..q3
    for pid, one, two in zip(("q0", "q1", "q2", "q3"), "aabb", "abbb"):
        label(srv, "rev1", job, pid, one)
        label(srv, "rev2", job, pid, two)
    assert label(srv, "rev1", job, "q4", "tie")["ties"] == 1  # its own figures, not the others'
    for path in (f"/ui/jobs/{job}/result", f"/ui/jobs/{job}/human.jsonl", f"/ui/jobs/{job}/report/histogram.png"):
        assert ui(srv, "rev1", "GET", path).status_code == 403, path
    assert ui(srv, "rev1", "DELETE", f"/ui/jobs/{job}").status_code == 403
    assert ui(srv, "rev1", "GET", f"/ui/jobs/{srv.bob_job}").status_code == 404
    own = ui(srv, "rev1", "GET", f"/ui/jobs/{job}/pairs", headers=HTML).text
    assert "rev2" not in own  # a reviewer never sees another reviewer's labels
    mine = ui(srv, "rev1", "GET", f"/ui/jobs/{job}", headers=HTML).text
    assert "Download the result" not in mine and 'id="share"' not in mine and 'id="by-reviewer"' not in mine


def test_the_owner_sees_each_reviewer_and_their_kappa(srv):
    job = srv.job
    page = ui(srv, "alice", "GET", f"/ui/jobs/{job}", headers=HTML).text
    # judge says A on every pair: rev1 agrees on q0, q1 of 4 decided (q4 a tie): 50.0%; rev2 on q0: 25.0%
    assert '<tr data-reviewer="rev1"><td>rev1</td><td>5</td><td>4</td><td class="agreement">50.0%</td>' in page
    assert '<tr data-reviewer="rev2"><td>rev2</td><td>4</td><td>4</td><td class="agreement">25.0%</td>' in page
    # rev1 vs rev2 on q0..q4 (q4 rev1 only; alice's q5 is alice's alone): on q0..q3 p_o = 3/4,
    # p_e = P1(a) P2(a) + P1(b) P2(b) = .5 * .25 + .5 * .75 = .5; kappa = (.75 - .5) / .5 = 0.50
    assert "Krippendorff" in page and 'id="kappa"' not in page  # three reviewers (alice too): alpha
    rows = [json.loads(x) for x in api(srv, "alice", "GET", f"/v1/jobs/{job}/human.jsonl").text.splitlines()]
    assert {(r["reviewer"], r["id"]) for r in rows} >= {("rev1", "q4"), ("rev2", "q3"), ("alice", "q5")}
    one = [json.loads(x) for x in api(srv, "alice", "GET", f"/v1/jobs/{job}/human.jsonl?reviewer=rev2").text.splitlines()]
    assert [(r["id"], r["human_label"], r["reviewer"]) for r in one] == [(f"q{i}", h, "rev2") for i, h in
                                                                          enumerate([1.0, 0.0, 0.0, 0.0])]
    pairs_page = ui(srv, "alice", "GET", f"/ui/jobs/{job}/pairs?reviewers_disagree=true", headers=HTML).text
    assert sorted(set(re.findall(r'class="card pair" data-id="(q\d)"', pairs_page))) == ["q1"]
    vs = ui(srv, "alice", "GET", f"/ui/jobs/{job}/pairs?judge_vs=rev1", headers=HTML).text
    assert sorted(set(re.findall(r'class="card pair" data-id="(q\d)"', vs))) == ["q2", "q3"]
    # without alice's label, two reviewers: Cohen's kappa by hand, 0.50
    with sqlite3.connect(f"{srv.data_dir}/rlaif.db") as db:
        db.execute("DELETE FROM reviews WHERE reviewer = 'alice'")
    page = ui(srv, "alice", "GET", f"/ui/jobs/{job}", headers=HTML).text
    assert '<span class="big" id="kappa">0.50</span>' in page and '<span id="compared">4</span>' in page


def test_unsharing_closes_the_job_and_keeps_the_labels(srv):
    r = api(srv, "alice", "DELETE", f"/v1/jobs/{srv.job}/reviewers/rev2")
    assert r.status_code == 200 and r.json()["reviewers"] == ["rev1"]
    assert ui(srv, "rev2", "GET", f"/ui/jobs/{srv.job}").status_code == 404
    rows = api(srv, "alice", "GET", f"/v1/jobs/{srv.job}/human.jsonl?reviewer=rev2").text.splitlines()
    assert len(rows) == 4
