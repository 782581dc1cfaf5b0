"""One server per data dir: an exclusive ``flock`` on ``DATA/serve.lock``, held for the server's life
and dropped by the kernel when its process ends (even by kill -9, so a lock is never stale). A second
``rlaif serve`` on the same data dir is refused before it touches a job."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from rlaif.core.errors import RlaifError

LOCK_NAME = "serve.lock"
_held: dict[str, list] = {}  # resolved lock path -> [file, holders]: one flock per process and data dir
_guard = threading.Lock()


def acquire(data_dir: str | Path) -> Path:
    """Hold the data dir's lock (again, if this process holds it already); refuse if another process does."""
    path = (Path(data_dir) / LOCK_NAME).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _guard:
        if str(path) in _held:
            _held[str(path)][1] += 1
            return path
        fh = open(path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            who = fh.read().strip() or "another process"
            fh.close()
            raise RlaifError(f"data dir {data_dir} is in use by another rlaif serve ({who}); stop it or use "
                             f"another --data-dir") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        _held[str(path)] = [fh, 1]
    return path


def release(path: Path) -> None:
    """Let go of one hold; the lock is dropped with the last."""
    with _guard:
        entry = _held.get(str(path))
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[str(path)]
            fcntl.flock(entry[0], fcntl.LOCK_UN)
            entry[0].close()
