"""API keys in the service's SQLite database: only a SHA-256 of each key is stored; a presented key
is hashed and compared with ``hmac.compare_digest``. Keys are random 256-bit tokens, so a plain hash
is enough (nothing to brute-force)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from pathlib import Path

from rlaif.core.errors import RlaifError
from rlaif.service import db

PREFIX = "rlaif_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class KeyStore:
    """``add`` makes a key (shown once), ``check`` finds the live key a token belongs to, ``revoke``."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        db.create(self.db_path, "CREATE TABLE IF NOT EXISTS api_keys (name TEXT PRIMARY KEY, digest TEXT NOT NULL "
                  "UNIQUE, created REAL NOT NULL, revoked REAL)")

    def _conn(self) -> sqlite3.Connection:
        return db.connect(self.db_path)

    def add(self, name: str) -> str:
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise RlaifError(f"key name {name!r}: use letters, digits, '-' and '_'")
        token = PREFIX + secrets.token_urlsafe(32)
        try:
            with self._conn() as c:
                c.execute("INSERT INTO api_keys VALUES (?, ?, ?, NULL)", (name, _digest(token), time.time()))
        except sqlite3.IntegrityError:
            raise RlaifError(f"a key named {name!r} exists already") from None
        return token

    def revoke(self, name: str) -> None:
        with self._conn() as c:
            if c.execute("UPDATE api_keys SET revoked = ? WHERE name = ? AND revoked IS NULL",
                         (time.time(), name)).rowcount == 0:
                raise RlaifError(f"no live key named {name!r}")

    def list(self) -> list[dict]:
        with self._conn() as c:
            rows = c.execute("SELECT name, created, revoked FROM api_keys ORDER BY created").fetchall()
        return [{"name": n, "created": cr, "revoked": rv} for n, cr, rv in rows]

    def check(self, token: str | None) -> str | None:
        """The name of the live key ``token`` is, or None."""
        if not token:
            return None
        digest = _digest(token)
        with self._conn() as c:
            rows = c.execute("SELECT name, digest FROM api_keys WHERE revoked IS NULL").fetchall()
        found = None
        for name, stored in rows:  # compare with every live key, in constant time each
            if hmac.compare_digest(stored, digest):
                found = name
        return found
