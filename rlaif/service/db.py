"""The service's embedded SQLite database (``DATA/rlaif.db``): connections in autocommit mode with a
busy timeout, WAL journaling so readers never block the writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30, isolation_level=None)


def create(path: Path, ddl: str) -> None:
    """Make sure the database and the table ``ddl`` creates exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute(ddl)
