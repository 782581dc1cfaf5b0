"""API keys in the service's SQLite database: only a SHA-256 of each key is stored; a presented key
is hashed and compared with ``hmac.compare_digest``. Keys are random 256-bit tokens, so a plain hash
is enough (nothing to brute-force). Each key has a role: ``owner`` (the default: labels, jobs, the UI) or
``reviewer`` (only reviews the jobs an owner shares with it)."""

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
ROLES = ("owner", "reviewer")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class KeyStore:
    """``add`` makes a key (shown once), ``check`` finds the live key a token belongs to, ``revoke``."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        db.create(self.db_path, "CREATE TABLE IF NOT EXISTS api_keys (name TEXT PRIMARY KEY, digest TEXT NOT NULL "
                  "UNIQUE, created REAL NOT NULL, revoked REAL, role TEXT NOT NULL DEFAULT 'owner')")
        with self._conn() as c:  # a database from before roles: its keys are owners
            if "role" not in {r[1] for r in c.execute("PRAGMA table_info(api_keys)")}:
                try:
                    c.execute("ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'owner'")
                except sqlite3.OperationalError as e:  # another process added it a moment ago
                    if "duplicate column" not in str(e):
                        raise

    def _conn(self) -> sqlite3.Connection:
        return db.connect(self.db_path)

    def add(self, name: str, role: str = "owner") -> str:
        if role not in ROLES:
            raise RlaifError(f"key role {role!r}: use one of {', '.join(ROLES)}")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise RlaifError(f"key name {name!r}: use letters, digits, '-' and '_'")
        token = PREFIX + secrets.token_urlsafe(32)
        try:
            with self._conn() as c:
                c.execute("INSERT INTO api_keys (name, digest, created, revoked, role) VALUES (?, ?, ?, NULL, ?)",
                          (name, _digest(token), time.time(), role))
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
            rows = c.execute("SELECT name, created, revoked, role FROM api_keys ORDER BY created").fetchall()
        return [{"name": n, "created": cr, "revoked": rv, "role": ro} for n, cr, rv, ro in rows]

    def role(self, name: str) -> str | None:
        """The role of the live key ``name``, or None when there is no such live key."""
        with self._conn() as c:
            row = c.execute("SELECT role FROM api_keys WHERE name = ? AND revoked IS NULL", (name,)).fetchone()
        return row[0] if row else None

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
