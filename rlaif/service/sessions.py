"""The review UI's server-side sessions: logging in with an API key opens a session whose random id (never
the key, nor anything derived from it) is the browser's cookie; only a SHA-256 of the id is stored, with
its key and expiry. A session ends at logout, at its expiry, and when its key is revoked."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from pathlib import Path

from rlaif.service import db

COOKIE = "rlaif_session"
COOKIE_PATH = "/ui"  # the browser sends it to the UI's pages and their JSON routes, never to /v1


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionStore:
    """``open`` a session for a key (the id is shown once, to set the cookie), ``check`` the key name a
    live session belongs to, ``close`` one session, ``end_key`` every session of a key."""

    def __init__(self, db_path: str | Path, ttl_seconds: float = 12 * 3600):
        self.db_path, self.ttl = Path(db_path), ttl_seconds
        db.create(self.db_path, "CREATE TABLE IF NOT EXISTS ui_sessions (digest TEXT PRIMARY KEY, key_name TEXT "
                  "NOT NULL, created REAL NOT NULL, expires REAL NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        return db.connect(self.db_path)

    def open(self, key_name: str) -> str:
        token, now = secrets.token_urlsafe(32), time.time()
        with self._conn() as c:
            c.execute("DELETE FROM ui_sessions WHERE expires <= ?", (now,))  # the table holds live sessions only
            c.execute("INSERT INTO ui_sessions VALUES (?, ?, ?, ?)", (_digest(token), key_name, now, now + self.ttl))
        return token

    def check(self, token: str | None) -> str | None:
        """The name of the key whose live session ``token`` is: not expired, not closed, its key not revoked.
        (The id is 256 random bits, so looking its hash up by equality leaks nothing worth timing.)"""
        if not token:
            return None
        with self._conn() as c:
            row = c.execute("SELECT s.key_name FROM ui_sessions s JOIN api_keys k ON k.name = s.key_name "
                            "WHERE s.digest = ? AND s.expires > ? AND k.revoked IS NULL",
                            (_digest(token), time.time())).fetchone()
        return row[0] if row else None

    def close(self, token: str | None) -> None:
        if token:
            with self._conn() as c:
                c.execute("DELETE FROM ui_sessions WHERE digest = ?", (_digest(token),))

    def end_key(self, key_name: str) -> int:
        """End every session of a key (``rlaif keys revoke``); how many there were."""
        with self._conn() as c:
            return c.execute("DELETE FROM ui_sessions WHERE key_name = ?", (key_name,)).rowcount
