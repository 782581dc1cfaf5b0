"""Persistent batch jobs of the service: a small store interface, and its SQLite implementation (WAL
mode, in ``--data-dir/rlaif.db``). A job's ``spec`` is its typed job spec (``rlaif.jobs.kinds``), stored as
JSON. Another SQL database can stand behind the same interface."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from rlaif.jobs.kinds import KINDS
from rlaif.jobs.spec import RunOptions
from rlaif.service import db

FINAL = ("done", "failed", "cancelled")


class JobStore(Protocol):
    def create(self, owner: str, kind: str, spec: BaseModel, total: int, job_id: str | None = None) -> str: ...
    def get(self, job_id: str) -> dict[str, Any] | None: ...
    def list(self, owner: str) -> list[dict[str, Any]]: ...
    def update(self, job_id: str, **fields: Any) -> None: ...
    def next_queued(self) -> dict[str, Any] | None: ...
    def unfinished(self, owner: str) -> int: ...
    def requeue_running(self) -> int: ...


_COLUMNS = ("id", "owner", "kind", "state", "spec", "created", "started", "finished", "rows_done", "rows_total",
            "summary", "error")


class SqliteJobStore:
    """Jobs as rows of one table; ``spec`` and ``summary`` are JSON."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        db.create(self.db_path, "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, kind TEXT "
                  "NOT NULL, state TEXT NOT NULL, spec TEXT NOT NULL, created REAL NOT NULL, started REAL, finished "
                  "REAL, rows_done INTEGER NOT NULL DEFAULT 0, rows_total INTEGER NOT NULL DEFAULT 0, summary TEXT, "
                  "error TEXT)")

    def _conn(self) -> sqlite3.Connection:
        return db.connect(self.db_path)

    @staticmethod
    def _row(r: tuple | None) -> dict[str, Any] | None:
        if r is None:
            return None
        d = dict(zip(_COLUMNS, r))
        d["spec"] = typed_spec(d["kind"], json.loads(d["spec"]))
        d["summary"] = json.loads(d["summary"]) if d["summary"] else None
        return d

    def create(self, owner: str, kind: str, spec: BaseModel, total: int, job_id: str | None = None) -> str:
        job_id = job_id or secrets.token_hex(8)
        with self._conn() as c:
            c.execute("INSERT INTO jobs (id, owner, kind, state, spec, created, rows_total) VALUES (?, ?, ?, 'queued', "
                      "?, ?, ?)", (job_id, owner, kind, spec.model_dump_json(), time.time(), total))
        return job_id

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._conn() as c:
            return self._row(c.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def list(self, owner: str) -> list[dict[str, Any]]:
        with self._conn() as c:
            rows = c.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE owner = ? ORDER BY created", (owner,))
            return [self._row(r) for r in rows.fetchall()]

    def update(self, job_id: str, **fields: Any) -> None:
        if fields.get("summary") is not None:
            fields["summary"] = json.dumps(fields["summary"])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._conn() as c:
            c.execute(f"UPDATE jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))

    def next_queued(self) -> dict[str, Any] | None:
        with self._conn() as c:
            return self._row(c.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE state = 'queued' "
                                       "ORDER BY created LIMIT 1").fetchone())

    def unfinished(self, owner: str) -> int:
        """How many of ``owner``'s jobs are queued or running."""
        final = ", ".join("?" * len(FINAL))
        with self._conn() as c:
            return c.execute(f"SELECT COUNT(*) FROM jobs WHERE owner = ? AND state NOT IN ({final})",
                             (owner, *FINAL)).fetchone()[0]

    def requeue_running(self) -> int:
        """After a restart: jobs that were running go back to the queue (their output resumes)."""
        with self._conn() as c:
            return c.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'").rowcount


def typed_spec(kind: str, data: dict[str, Any]) -> BaseModel:
    """A stored job's spec as its kind's model; a job stored by an earlier release (``run``, ``settings``,
    ``format``) too, so it still resumes."""
    k = KINDS[kind]
    if "settings" in data:
        return k.spec(RunOptions(**data["run"]), k.settings_model(**data["settings"]))
    return k.job_model.model_validate(data)
