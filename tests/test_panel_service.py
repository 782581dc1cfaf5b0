"""Panels of judges in ``rlaif serve`` over real HTTP (scripted judges): members configured by the operator in the
serve recipe (one of them the service's own judge), named by clients; anything else refused with a 4xx naming the
field (a client never sends a judge spec or URL); a panel batch job; the review UI ordering pairs by the panel's
disagreement."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from conftest import ScriptedJudge, scripted_panel
from servers import RlaifServer, add_key
from test_panel import pairs

from rlaif.data import records_from_rows
from rlaif.labeling.panel import PanelLabeler
from rlaif.service.browse import most_disagreed

RECIPE = "panel:\n  own: {}\n  strong: {spec: 'scripted:2'}\n  biased: {spec: 'scripted:1/0.5'}\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("panel-svc")
    (d / "serve.yaml").write_text(RECIPE)
    key = add_key(d, "alice")
    s = RlaifServer(d, "--config", str(d / "serve.yaml"), scripted=True)
    s.key = key
    s.sid = httpx.post(s.url + "/ui/session", json={"key": key}).cookies["rlaif_session"]
    yield s
    s.close()


def api(srv, method, path, **kw):
    return httpx.request(method, srv.url + path, headers={"Authorization": f"Bearer {srv.key}"}, timeout=60, **kw)


def own_judge() -> ScriptedJudge:
    return ScriptedJudge(strength=2.0, position_bias=0.5)  # scripted_cli's judge of the service, "scripted:test"


def test_members_are_the_operators_and_label_like_the_library(srv):
    assert api(srv, "GET", "/v1/panel").json() == {"members": {"own": "scripted:test", "strong": "scripted:2",
                                                               "biased": "scripted:1/0.5"}}
    rows = pairs(6)
    r = api(srv, "POST", "/v1/labels", json={"pairs": rows, "panel": ["strong", "own"]})
    assert r.status_code == 200, r.text
    want = PanelLabeler([scripted_panel()[0], own_judge()]).label(records_from_rows(rows))
    for g, w in zip(r.json()["labels"], want):
        assert g["judge"] == "panel[scripted:2, scripted:test]" and g["config_hash"] == w["config_hash"]
        assert g["p_a"] == pytest.approx(w["p_a"], abs=1e-12) and g["panel"] == pytest.approx(w["panel"])


@pytest.mark.parametrize("body,needle", [
    ({"panel": ["strong", "nope"]}, "panel[1]: 'nope' is not a panel member of this service (members: biased, own, strong"),
    ({"panel": [{"spec": "openai:gpt-4o", "options": {"base_url": "http://169.254.169.254/v1"}}, "strong"]}, "panel[0]"),
    ({"panel": ["http://169.254.169.254/v1", "strong"]}, "panel[0]: 'http://169.254.169.254/v1' is not a panel member"),
    ({"panel": ["strong"]}, "panel: a panel has two or more members"),
    ({"panel": ["strong", "strong"]}, "panel[1]: 'strong' is named twice"),
    ({"settings": {"base_url": "http://169.254.169.254/v1"}}, "settings"),
    ({"judge": "openai:gpt-4o"}, "judge"),
])
def test_anything_but_member_names_is_refused(srv, body, needle):
    r = api(srv, "POST", "/v1/labels", json={"pairs": pairs(1), **body})
    assert r.status_code == 422 and needle in r.json()["detail"], r.text


def _job(srv, body: dict) -> httpx.Response:
    data = "".join(json.dumps(r) + "\n" for r in pairs(12)).encode()
    assert api(srv, "PUT", "/v1/files/pairs.jsonl", content=data).status_code == 201
    return api(srv, "POST", "/v1/jobs", json={"input": "pairs.jsonl", **body})


def test_panel_job_and_the_review_ui_ordered_by_disagreement(srv):
    assert _job(srv, {"kind": "score", "panel": ["strong", "biased"]}).status_code == 422
    r = _job(srv, {"kind": "label", "panel": ["strong", "biased"], "chunk_size": 5})
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    for _ in range(600):
        if api(srv, "GET", f"/v1/jobs/{job}").json()["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert api(srv, "GET", f"/v1/jobs/{job}").json()["state"] == "done"
    got = [json.loads(line) for line in api(srv, "GET", f"/v1/jobs/{job}/result").text.splitlines()]
    want = PanelLabeler(scripted_panel()).label(records_from_rows(pairs(12)))
    assert [g["panel_disagreement"] for g in got] == pytest.approx([w["panel_disagreement"] for w in want])
    order = [r["id"] for r in most_disagreed(want)]
    assert len({round(w["panel_disagreement"], 9) for w in want}) > 2  # the order is not the input's
    cookie = {"Cookie": f"rlaif_session={srv.sid}"}
    page = httpx.get(srv.url + f"/ui/jobs/{job}/pairs?sort=disagreement", headers=cookie).text
    assert re.findall(r'class="card pair" data-id="([^"]+)"', page) == order
    review = httpx.get(srv.url + f"/ui/jobs/{job}/review?order=disagreement", headers=cookie).text
    assert re.search(r'id="pair" data-id="([^"]+)"', review).group(1) == order[0]
