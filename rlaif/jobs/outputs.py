"""A job's output file: the single-writer lock, a validated read of the rows already there, repair.

Nothing here modifies an output until it has been read whole and validated: an unparsable line
other than a torn *final* line (a kill mid-write) stops the job with ``FILE:LINE``; ``repair``
moves such lines (and repeated ids) to ``OUTPUT.rejected.jsonl`` before rewriting, never deleting.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.data.records import read_records
from rlaif.core.errors import RlaifError, where
from rlaif.jobs.hints import SettingNeeded, braces as _braces


class OutputLock:
    """Exclusive OS lock (``flock``) on the sidecar ``OUTPUT.lock`` for a job's lifetime.

    A second writer, in this process or another, fails at once naming the holder's PID. The lock
    dies with its process (kill -9 included); the sidecar is removed on a clean exit.
    """

    def __init__(self, output: str | Path):
        self.output = Path(output)
        self.path = Path(str(output) + ".lock")
        self.fd: int | None = None

    def __enter__(self) -> "OutputLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise RlaifError(f"{self.path}: cannot lock ({e.strerror})") from None
                raise RlaifError(f"{self.output} is being written by process {holder}; wait for it to finish "
                                 "or stop it, then re-run to resume") from None
            if self._still_linked(fd):
                break
            os.close(fd)  # the holder removed the file between our open and our lock: try again
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def _still_linked(self, fd: int) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.unlink(self.path)  # while still holding the lock, so no one can lock the old file
            os.close(self.fd)
            self.fd = None


@dataclass
class Existing:
    """What an output already holds: records in file order (with their raw lines for JSONL), and
    where anything is wrong with it."""

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    locs: list[str] = field(default_factory=list)
    bad: list[tuple[str, str, bytes]] = field(default_factory=list)  # (location, reason, raw line)
    torn_at: int | None = None  # byte offset of a torn final line to cut
    needs_newline: bool = False  # a complete final record without its newline


def scan_jsonl(path: Path) -> Existing:
    """Read a JSONL output without modifying it. Blank lines are skipped; a final line with no
    newline that does not parse is torn (to be cut); every other unparsable line, a row that is not
    an object with a string ``id``, and a repeated id are ``bad``."""
    ex = Existing(path)
    if not path.exists():
        return ex
    first: dict[str, str] = {}
    offset = 0
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    for lineno, raw in enumerate(lines, start=1):
        loc, last = where(path, lineno), lineno == len(lines)
        if raw.strip():
            rec, reason = _parse(raw)
            if reason and last and not raw.endswith(b"\n"):
                ex.torn_at = offset
            elif reason:
                ex.bad.append((loc, reason, raw))
            elif rec["id"] in first:
                ex.bad.append((loc, f"id {rec['id']!r} repeats line {first[rec['id']].rsplit(':', 1)[1]}", raw))
            else:
                first[rec["id"]] = loc
                ex.rows.append(rec)
                ex.raw.append(raw if raw.endswith(b"\n") else raw + b"\n")
                ex.locs.append(loc)
                ex.needs_newline = last and not raw.endswith(b"\n")
        offset += len(raw)
    return ex


def _parse(raw: bytes) -> tuple[dict[str, Any], str | None]:
    try:
        rec = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return {}, f"not a JSON record ({str(e).splitlines()[0]})"
    if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
        return {}, "not a record with a string 'id'"
    return rec, None


def scan_table(path: Path) -> Existing:
    """The rows of a finished Parquet (or any rlaif) output; ids must be unique."""
    ex = Existing(path)
    if path.exists():
        ex.rows = read_records(path, unique_ids=True)
        ex.locs = [where(path, i + 1) for i in range(len(ex.rows))]
    return ex


def check_settings(ex: Existing, config_hash: str) -> None:
    """Refuse an output holding rows made with other settings, naming the first one's line."""
    for rec, loc in zip(ex.rows, ex.locs):
        if rec.get("config_hash") != config_hash:
            raise RlaifError(f"{loc}: written with other settings (config_hash {rec.get('config_hash')} != "
                             f"{config_hash}); use another -o to start afresh")


def refuse_bad(ex: Existing) -> None:
    if ex.bad:
        loc, reason, _ = ex.bad[0]
        more = f" (and {len(ex.bad) - 1} more bad lines)" if len(ex.bad) > 1 else ""
        raise SettingNeeded(_braces(f"{loc}: {reason}{more}; nothing was changed: fix the file, or ") + "{how} "
                            + _braces(f"to move bad lines to {rejected_path(ex.path)}"), "repair")


def rejected_path(path: Path) -> Path:
    return Path(str(path) + ".rejected.jsonl")


def move_bad_lines(ex: Existing) -> int:
    """Append the bad lines to ``OUTPUT.rejected.jsonl`` (durably) and forget them; returns how many."""
    if not ex.bad:
        return 0
    with open(rejected_path(ex.path), "ab") as fh:
        fh.write(b"".join(raw if raw.endswith(b"\n") else raw + b"\n" for _, _, raw in ex.bad))
        fh.flush()
        os.fsync(fh.fileno())
    n, ex.bad = len(ex.bad), []
    return n


def rewrite(ex: Existing, keep: list[bool]) -> None:
    """Atomically replace the JSONL file with the kept rows' original lines (bytes unchanged)."""
    tmp = ex.path.with_name(f".{ex.path.name}.rewrite.tmp")
    with open(tmp, "wb") as fh:
        fh.write(b"".join(raw for raw, k in zip(ex.raw, keep) if k))
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, ex.path.stat().st_mode & 0o777)
    os.replace(tmp, ex.path)
    ex.rows = [r for r, k in zip(ex.rows, keep) if k]
    ex.raw = [r for r, k in zip(ex.raw, keep) if k]
    ex.locs = [r for r, k in zip(ex.locs, keep) if k]
    ex.torn_at, ex.needs_newline = None, False
