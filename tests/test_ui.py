"""The review UI in a real headless browser: Debian's Chromium driven by Playwright against a real
``rlaif serve`` (embedded judge) on loopback. Log in, submit a job on shared-data pairs, watch it
finish, read the report, filter to disagreements, review five pairs with the keyboard and see the
agreement change; bad input shows a message on the page. Two reviewer keys label one shared job and its
owner sees both and their kappa. A screenshot of every page is saved (the folder is printed;
RLAIF_SCREENSHOTS sets it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import httpx
import pytest

from rlaif.core.prefs import agrees

from conftest import write_jsonl
from servers import RlaifServer, add_key
from test_integrity import pairs as scripted_pairs

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed (.ci/run installs it)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Tab:
    """A page that records console errors and page exceptions, and saves screenshots."""

    def __init__(self, browser, shots: Path, **viewport):
        self.ctx = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.shots = shots

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def clean(self) -> None:
        assert not self.errors, self.errors
        width = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert width <= 1, f"the page is {width}px wider than the viewport"


def _disagrees(r) -> bool:
    return agrees(r["p_a"], r["human_label"]) is False


def test_review_ui_end_to_end(browser, tmp_path, hh_rows):
    shots = Path(os.environ.get("RLAIF_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {shots}")
    data = tmp_path / "data"
    data.mkdir()
    alice, bob = add_key(data, "alice"), add_key(data, "bob")
    pairs = write_jsonl(tmp_path / "hh8.jsonl", hh_rows[:8])
    (tmp_path / "broken.jsonl").write_text(json.dumps(hh_rows[0]) + "\n{not json\n")
    srv = RlaifServer(data)
    try:
        t = Tab(browser, shots)
        pg = t.page
        # no key: the login page; a wrong key: a message on the page
        pg.goto(srv.url + "/ui/jobs/123")
        assert pg.url.endswith("/ui/login")
        pg.fill("#key", "not-a-key")
        pg.click("button[type=submit]")
        pg.wait_for_selector("#message:has-text('not valid')")
        t.shot("login")
        t.errors.clear()  # the 401 of the wrong key is logged by the browser; nothing else may be
        pg.fill("#key", alice)
        pg.click("button[type=submit]")
        pg.wait_for_url(srv.url + "/ui")
        # a file that does not parse: a clear message, no job
        pg.set_input_files("#file", str(tmp_path / "broken.jsonl"))
        pg.click("#go")
        pg.wait_for_selector("#message:has-text('broken.jsonl:2')")
        assert str(tmp_path) not in pg.inner_text("#message")  # the server's paths stay on the server
        assert "Traceback" not in pg.content()
        t.shot("jobs-bad-file")
        t.errors.clear()  # the 422 of the refused job
        # submit a real job and watch it finish
        pg.set_input_files("#file", str(pairs))
        pg.click("#go")
        pg.wait_for_selector("#jobs tr[data-id]")
        job_id = pg.get_attribute("#jobs tr[data-id]", "data-id")
        pg.wait_for_selector(f"tr[data-id='{job_id}'] .state:text-is('done')", timeout=240_000)
        assert pg.inner_text(f"tr[data-id='{job_id}'] .rows") == "8/8"
        t.shot("jobs")
        t.clean()
        # the report
        pg.click(f"a[href='/ui/jobs/{job_id}']")
        pg.wait_for_selector("#report")
        assert "AI-labeler alignment" in pg.inner_text("#report")
        for img in pg.query_selector_all(".figures img"):
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        t.shot("report")
        t.clean()
        # the pair browser, filtered to disagreements with humans
        result = [json.loads(x) for x in httpx.get(f"{srv.url}/v1/jobs/{job_id}/result",
                                                   headers={"Authorization": f"Bearer {alice}"}).text.splitlines()]
        pg.goto(f"{srv.url}/ui/jobs/{job_id}/pairs")
        assert pg.inner_text("#count").startswith("8 pairs match")
        pg.fill("input[name=q]", "zzz-no-such-text")
        pg.click("#filters button[type=submit]")
        assert pg.inner_text("#count").startswith("0 pairs match")
        pg.fill("input[name=q]", "")
        pg.check("input[name=disagree]")
        pg.click("#filters button[type=submit]")
        pg.wait_for_url("**disagree=true**")
        want = sorted(r["id"] for r in result if _disagrees(r))
        assert pg.inner_text("#count").startswith(f"{len(want)} pair{'' if len(want) == 1 else 's'} match")
        assert sorted(e.get_attribute("data-id") for e in pg.query_selector_all(".pair")) == want
        t.shot("pairs-disagree")
        t.clean()
        # review five pairs with the keyboard; the agreement figure changes
        pg.goto(f"{srv.url}/ui/jobs/{job_id}/review")
        assert pg.inner_text("#agreement") == "n/a"
        given = {}
        for key in "12012":
            pid = pg.get_attribute("#pair", "data-id")
            pg.keyboard.press(key)
            pg.wait_for_function(f"() => !document.querySelector('#pair') || "
                                 f"document.querySelector('#pair').dataset.id !== {json.dumps(pid)}")
            given[pid] = {"1": 1.0, "2": 0.0, "0": 0.5}[key]
        by_id = {r["id"]: r for r in result}
        verdicts = [agrees(by_id[i]["p_a"], h) for i, h in given.items()]
        decided = [v for v in verdicts if v is not None]
        agree = sum(decided)
        assert pg.inner_text("#decided") == str(len(decided)) == "4"
        assert pg.inner_text("#agreement") == f"{100 * agree / len(decided):.1f}%"
        t.shot("review")
        t.clean()
        pg.goto(f"{srv.url}/ui/jobs/{job_id}")
        assert pg.inner_text("#review-figures #agreement") == f"{100 * agree / len(decided):.1f}%"
        exported = pg.request.get(f"{srv.url}/ui/jobs/{job_id}/human.jsonl").text().splitlines()
        assert {json.loads(x)["id"]: json.loads(x)["human_label"] for x in exported} == given
        t.shot("report-with-reviews")
        # another key's job: a clear page, not a stack trace
        hb = {"Authorization": f"Bearer {bob}"}
        httpx.put(f"{srv.url}/v1/files/bob.jsonl", content=pairs.read_bytes(), headers=hb).raise_for_status()
        bob_job = httpx.post(f"{srv.url}/v1/jobs", json={"kind": "label", "input": "bob.jsonl", "limit": 1},
                             headers=hb).json()["id"]
        resp = pg.goto(f"{srv.url}/ui/jobs/{bob_job}")
        assert resp.status == 404 and f"There is no job {bob_job} among your jobs." in pg.inner_text("#error")
        assert "Traceback" not in pg.content()
        t.shot("not-your-job")
        resp = pg.goto(f"{srv.url}/ui/jobs/{job_id}/pairs?conf_min=lots")
        assert resp.status == 422 and "conf_min" in pg.inner_text("#error")
        t.ctx.close()
        # a phone-sized screen: the same pages fit
        phone = Tab(browser, shots, width=390, height=844)
        assert phone.ctx.request.post(srv.url + "/ui/session", data={"key": alice}).ok  # the context's own session
        for name, path in (("phone-jobs", "/ui"), ("phone-report", f"/ui/jobs/{job_id}"),
                           ("phone-pairs", f"/ui/jobs/{job_id}/pairs"), ("phone-review", f"/ui/jobs/{job_id}/review")):
            phone.page.goto(srv.url + path)
            phone.shot(name)
            phone.clean()
        phone.ctx.close()
    finally:
        srv.close()


def _log_in(tab: Tab, url: str, key: str) -> None:
    tab.page.goto(url + "/ui/login")
    tab.page.fill("#key", key)
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(url + "/ui")


def test_two_reviewers_label_one_job_and_the_owner_sees_their_kappa(browser, tmp_path):
    shots = Path(os.environ.get("RLAIF_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {shots}")
    data = tmp_path / "data"
    data.mkdir()
    alice, rev1, rev2 = add_key(data, "alice"), add_key(data, "rev1", "reviewer"), add_key(data, "rev2", "reviewer")
    srv = RlaifServer(data, scripted=True)
    try:
        hb = {"Authorization": f"Bearer {alice}"}
        body = "".join(json.dumps(r) + "\n" for r in scripted_pairs(6, ids=True))
        httpx.put(f"{srv.url}/v1/files/six.jsonl", content=body, headers=hb).raise_for_status()
        job = httpx.post(f"{srv.url}/v1/jobs", json={"kind": "label", "input": "six.jsonl"}, headers=hb).json()["id"]
        owner = Tab(browser, shots)
        _log_in(owner, srv.url, alice)
        owner.page.goto(f"{srv.url}/ui/jobs/{job}")
        owner.page.wait_for_selector("#state:text-is('done')", timeout=120_000)
        for name in ("rev1", "rev2"):  # the owner shares the job from its page
            owner.page.fill("#reviewer", name)
            owner.page.click("#share button[type=submit]")
            owner.page.wait_for_selector(f"#reviewers [data-reviewer='{name}']")
        owner.clean()
        # rev1: a a b b a b, rev2: a b b b a a on q0..q5 (the judge picks a everywhere: GOOD vs BAD)
        choices = {"rev1": dict(zip(("q0", "q1", "q2", "q3", "q4", "q5"), "112212")),
                   "rev2": dict(zip(("q0", "q1", "q2", "q3", "q4", "q5"), "122211"))}
        for name, key in (("rev1", rev1), ("rev2", rev2)):
            t = Tab(browser, shots)
            _log_in(t, srv.url, key)
            t.page.click(f"#shared a[href='/ui/jobs/{job}/review']")
            while t.page.query_selector("#pair"):
                pid = t.page.get_attribute("#pair", "data-id")
                t.page.keyboard.press(choices[name][pid])
                t.page.wait_for_function(f"() => !document.querySelector('#pair') || "
                                         f"document.querySelector('#pair').dataset.id !== {json.dumps(pid)}")
            assert "6 of 6 pairs reviewed by you" in t.page.inner_text("main")
            assert "export the labels" not in t.page.inner_text("main")  # the owner's, not a reviewer's
            t.shot(f"review-{name}")
            t.clean()
            t.ctx.close()
        owner.page.goto(f"{srv.url}/ui/jobs/{job}")
        cells = {n: owner.page.inner_text(f"#by-reviewer tr[data-reviewer='{n}'] .agreement") for n in ("rev1", "rev2")}
        assert cells == {"rev1": "50.0%", "rev2": "50.0%"}  # each picked a on 3 of 6
        # rev1 vs rev2: same label on q0, q2, q3, q4: p_o = 4/6; both pick a on 3 of 6: p_e = 1/4 + 1/4 = 1/2;
        # kappa = (2/3 - 1/2) / (1 - 1/2) = 1/3
        assert owner.page.inner_text("#kappa") == "0.33" and owner.page.inner_text("#compared") == "6"
        owner.shot("owner-two-reviewers")
        owner.clean()
        owner.page.click("#reviewers-disagree")
        owner.page.wait_for_url("**reviewers_disagree=true**")
        assert sorted(e.get_attribute("data-id") for e in owner.page.query_selector_all(".pair")) == ["q1", "q5"]
        assert "rev1 A, rev2 B" in owner.page.inner_text(".pair[data-id='q1'] .reviews")
        owner.shot("owner-reviewers-disagree")
        owner.clean()
        owner.ctx.close()
    finally:
        srv.close()
