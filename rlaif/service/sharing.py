"""Who may review which job: an owner shares a job with other keys as its reviewers (rows ``(job, reviewer)``
in the service database). A reviewer sees that job's pairs and labels them; nothing else of it."""

from __future__ import annotations

import time
from pathlib import Path

from rlaif.service import db


class ShareStore:
    """``share`` / ``unshare`` a job with a key, the ``reviewers`` of a job, the jobs ``shared_with`` a key."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        db.create(self.db_path, "CREATE TABLE IF NOT EXISTS job_reviewers (job_id TEXT NOT NULL, reviewer TEXT NOT "
                  "NULL, added REAL NOT NULL, PRIMARY KEY (job_id, reviewer))")

    def share(self, job_id: str, reviewer: str) -> None:
        with db.connect(self.db_path) as c:
            c.execute("INSERT OR IGNORE INTO job_reviewers VALUES (?, ?, ?)", (job_id, reviewer, time.time()))

    def unshare(self, job_id: str, reviewer: str) -> bool:
        with db.connect(self.db_path) as c:
            return c.execute("DELETE FROM job_reviewers WHERE job_id = ? AND reviewer = ?",
                             (job_id, reviewer)).rowcount > 0

    def reviewers(self, job_id: str) -> list[str]:
        with db.connect(self.db_path) as c:
            return [r[0] for r in c.execute("SELECT reviewer FROM job_reviewers WHERE job_id = ? ORDER BY added",
                                            (job_id,))]

    def shared_with(self, reviewer: str) -> list[str]:
        """The ids of the jobs ``reviewer`` may review, oldest share first."""
        with db.connect(self.db_path) as c:
            return [r[0] for r in c.execute("SELECT job_id FROM job_reviewers WHERE reviewer = ? ORDER BY added",
                                            (reviewer,))]

    def may_review(self, job_id: str, reviewer: str) -> bool:
        with db.connect(self.db_path) as c:
            return c.execute("SELECT 1 FROM job_reviewers WHERE job_id = ? AND reviewer = ?",
                             (job_id, reviewer)).fetchone() is not None
