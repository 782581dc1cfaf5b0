"""The review UI's login is a server-side session, attacked over real HTTP against ``rlaif serve`` on loopback:
the cookie is a random id (not the key, not derived from it, stored only hashed), scoped to /ui, HttpOnly and
SameSite=Strict (Secure behind TLS); it is no API credential; logout, key revocation and expiry each make an
old cookie useless; cross-origin changes are refused; UI pages carry a nonce CSP, nosniff and no framing."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from http.cookies import SimpleCookie

import httpx
import pytest

from servers import RlaifServer, add_key, keys_cli

pytestmark = pytest.mark.slow
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("sessions")
    keys = {n: add_key(d, n) for n in ("alice", "bob", "carol")}
    s = RlaifServer(d, scripted=True)
    s.keys = keys
    yield s
    s.close()


class Sid(str):
    """The value of the cookie a login set, knowing its name."""
    name = "rlaif_session"


def login(srv, name: str) -> tuple[Sid, SimpleCookie, httpx.Response]:
    """POST the key to /ui/session: (the value of the one cookie it sets, every cookie set, the response)."""
    r = httpx.post(srv.url + "/ui/session", json={"key": srv.keys[name]})
    assert r.status_code == 200, r.text
    jar = SimpleCookie()
    for header in r.headers.get_list("set-cookie"):
        jar.load(header)
    (cookie,) = [m for m in jar.values() if m.value]
    sid = Sid(cookie.value)
    sid.name = cookie.key
    return sid, jar, r


def ui(srv, sid: Sid, path: str = "/ui", method: str = "GET", **kw) -> httpx.Response:
    """A UI request carrying only the session cookie (sent by hand: the cookie may be Secure)."""
    headers = {"Cookie": f"{sid.name}={sid}", **kw.pop("headers", {})}
    return httpx.request(method, srv.url + path, headers=headers, follow_redirects=False, **kw)


def test_the_cookie_is_a_random_session_id_not_the_key(srv):
    key = srv.keys["alice"]
    sid, jar, r = login(srv, "alice")
    assert all(key not in h for h in r.headers.get_list("set-cookie"))
    assert sid != key and key not in sid and sid not in key
    assert sid not in (hashlib.sha256(key.encode()).hexdigest(), hashlib.sha256(key.encode()).hexdigest()[:len(sid)])
    again, _, _ = login(srv, "alice")
    assert again != sid  # a new random id per login: nothing about it follows from the key
    assert sid.name == "rlaif_session"
    c = jar["rlaif_session"]
    assert c["httponly"] and c["samesite"].lower() == "strict" and c["path"] == "/ui" and not c["secure"]
    assert int(c["max-age"]) == 12 * 3600
    assert jar["rlaif_key"].value == "" and jar["rlaif_key"]["max-age"] == "0"  # an old release's key cookie: gone
    with sqlite3.connect(f"{srv.data_dir}/rlaif.db") as db:  # stored hashed, with its key and expiry
        rows = db.execute("SELECT digest, key_name, expires - created FROM ui_sessions").fetchall()
    assert (hashlib.sha256(sid.encode()).hexdigest(), "alice", pytest.approx(12 * 3600)) in rows
    assert not any(sid in str(row) or key in str(row) for row in rows)
    assert ui(srv, sid).status_code == 200
    page = ui(srv, sid, "/ui", headers=HTML)
    assert page.status_code == 200 and "key: alice" in page.text
    # neither the session nor a key in a cookie opens the API: only Authorization does
    assert httpx.get(srv.url + "/v1/jobs", headers={"Cookie": f"rlaif_session={sid}"}).status_code == 401
    assert httpx.get(srv.url + "/v1/jobs", headers={"Cookie": f"rlaif_key={key}"}).status_code == 401
    assert httpx.get(srv.url + "/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_logout_ends_the_session_on_the_server(srv):
    sid, _, _ = login(srv, "alice")
    other, _, _ = login(srv, "alice")
    out = ui(srv, sid, "/ui/logout", "POST")
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert any(h.startswith(f"{sid.name}=") and "Max-Age=0" in h for h in out.headers.get_list("set-cookie"))
    assert ui(srv, sid).status_code == 401  # the replayed old cookie is useless
    gone = ui(srv, sid, "/ui", headers=HTML)
    assert gone.status_code == 303 and gone.headers["location"] == "/ui/login"
    assert ui(srv, other).status_code == 200  # the key's other session (another browser) goes on


def test_revoking_the_key_ends_its_sessions(srv):
    first, _, _ = login(srv, "bob")
    second, _, _ = login(srv, "bob")
    assert ui(srv, first).status_code == ui(srv, second).status_code == 200
    out = keys_cli(srv.data_dir, "revoke", "bob").stdout
    assert "revoked bob (ended 2 UI sessions)" in out
    assert ui(srv, first).status_code == ui(srv, second).status_code == 401
    carol, _, _ = login(srv, "carol")
    with sqlite3.connect(f"{srv.data_dir}/rlaif.db") as db:  # a revoke the sessions table missed: still dead
        db.execute("UPDATE api_keys SET revoked = 1 WHERE name = 'carol'")
    assert ui(srv, carol).status_code == 401


def test_a_cross_origin_change_is_refused(srv):
    sid, _, _ = login(srv, "alice")
    evil = {"Origin": "http://127.0.0.1:1"}  # another port of the same host: same site, other origin
    assert ui(srv, sid, "/ui/logout", "POST", headers=evil).status_code == 403
    assert ui(srv, sid, "/ui/jobs", "POST", headers=evil, json={"kind": "label", "input": "x.jsonl"}).status_code == 403
    assert ui(srv, sid).status_code == 200  # the refused logout did not end it
    same = {"Origin": srv.url}
    assert ui(srv, sid, "/ui/logout", "POST", headers=same).status_code == 303


def test_ui_pages_carry_security_headers(srv):
    sid, _, _ = login(srv, "alice")
    for r in (httpx.get(srv.url + "/ui/login"), ui(srv, sid, "/ui", headers=HTML), ui(srv, sid, "/ui/jobs.json")):
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    page = httpx.get(srv.url + "/ui/login")
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"]).group(1)
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)
    assert "unsafe-inline" not in page.headers["content-security-policy"] and ' style="' not in page.text
    assert httpx.get(srv.url + "/ui/login").headers["content-security-policy"] != page.headers["content-security-policy"]


def test_sessions_expire_and_are_secure_behind_tls(tmp_path):
    key = add_key(tmp_path, "dana")
    s = RlaifServer(tmp_path, "--session-hours", "0.001", "--behind-tls", scripted=True)  # 3.6 s
    try:
        s.keys = {"dana": key}
        start = time.time()
        sid, jar, _ = login(s, "dana")
        assert jar[sid.name]["secure"] and int(jar[sid.name]["max-age"]) == 3
        assert ui(s, sid).status_code == 200 or time.time() - start > 3.6
        time.sleep(max(0.0, start + 4.0 - time.time()))
        assert ui(s, sid).status_code == 401
        # the proxy's public name counts as this origin (past the origin check: 401, the session is over)
        proxied = {"Origin": "https://rlaif.example", "X-Forwarded-Host": "rlaif.example"}
        assert ui(s, sid, "/ui/logout", "POST", headers=proxied).status_code == 303
        proxied["X-Forwarded-Host"] = "elsewhere.example"
        assert ui(s, sid, "/ui/logout", "POST", headers=proxied).status_code == 403
    finally:
        s.close()
