"""What every endpoint shares: the ``Service`` (judge, batcher, each job kind's workers by settings, key
and job stores, metrics) and the FastAPI dependencies that hand it and the caller's key name to a route."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any, Sequence

from fastapi import Depends, HTTPException, Request
from pydantic import ValidationError

from rlaif.core.batcher import Batcher
from rlaif.core.errors import RlaifError, first_error
from rlaif.jobs.kinds import JobKind
from rlaif.jobs.spec import PanelMember, RunOptions
from rlaif.judges.base import JudgeBackend
from rlaif.service import datadir_lock
from rlaif.service.assets import AssetRegistry
from rlaif.service.caps import over_cap
from rlaif.service.config import LOOPBACK, ServeConfig
from rlaif.service.jobs import JobManager
from rlaif.service.keys import KeyStore
from rlaif.service.metrics import Metrics
from rlaif.service.panel import judges_of, load_members
from rlaif.service.redact import hide_paths
from rlaif.service.reviews import ReviewStore
from rlaif.service.sessions import SessionStore
from rlaif.service.sharing import ShareStore
from rlaif.service.store import SqliteJobStore


WORKER_CACHE = 64
NO_FILE = RunOptions(input="", output="")  # a worker's spec over the shared judge reads and writes no file


class Service:
    """What the endpoints share: the judge, its one worker (the batcher), each kind's workers (labelers,
    scorers, generators) by settings, the key store and the metrics."""

    def __init__(self, cfg: ServeConfig, judge: JudgeBackend):
        self.cfg, self.judge = cfg, judge
        self.data_dir = Path(cfg.data_dir).resolve()  # absolute: a message's server paths are then cut (redact)
        self.lock = datadir_lock.acquire(self.data_dir)  # before anything starts or the job store requeues
        try:
            self.members = load_members(cfg, judge)  # the operator's panel members, by name
        except BaseException:
            datadir_lock.release(self.lock)
            raise
        self.batcher = Batcher(cfg.max_batch, cfg.max_wait_ms)
        self.assets = AssetRegistry(self.data_dir)
        self.keys = KeyStore(self.data_dir / "rlaif.db")
        self._workers: dict[str, Any] = {}  # by kind + settings, most recently used last
        self._workers_lock = threading.Lock()  # routes, the threadpool and the job thread all ask
        self.metrics = Metrics(self)
        self.jobs = JobManager(self, SqliteJobStore(self.data_dir / "rlaif.db"), self.data_dir)
        self.reviews = ReviewStore(self.data_dir / "rlaif.db")
        self.shares = ShareStore(self.data_dir / "rlaif.db")
        self.sessions = SessionStore(self.data_dir / "rlaif.db", cfg.session_hours * 3600)

    def close(self) -> None:
        """Stop taking jobs (the running one stops between chunks and resumes at the next start), then
        let the judge's worker finish what is queued."""
        self.jobs.close()
        self.batcher.close()
        datadir_lock.release(self.lock)

    def worker(self, kind: JobKind, settings: dict[str, Any], panel: Sequence[PanelMember] = ()):
        """The labeler, scorer or generator of ``kind`` for ``settings`` over the shared judge (or over the
        members of ``panel``, from ``panel.chosen``), built once (through the kind, as every job builds it); the
        ``WORKER_CACHE`` most recently used are kept (clients cannot grow memory without bound)."""
        key = kind.name + json.dumps(settings, sort_keys=True, default=str)
        key += json.dumps([m.model_dump() for m in panel], sort_keys=True) if panel else ""
        with self._workers_lock:
            worker = self._workers.pop(key, None)
        if worker is None:
            extra = {kind.panel_field: list(panel)} if panel else {}
            model = _settings(kind.settings_model, self.assets.settings(settings))
            if (over := over_cap(model, self.cfg)) is not None:
                raise HTTPException(422, over)
            job = kind.spec(NO_FILE, model, **extra)
            worker = kind.worker(job, judges_of(self.cfg, self.members, panel) if panel else self.judge)
        with self._workers_lock:
            self._workers[key] = worker
            while len(self._workers) > WORKER_CACHE:
                self._workers.pop(next(iter(self._workers)))
        return worker

    async def judged(self, kind: JobKind, settings: dict[str, Any], records: list[dict[str, Any]],
                     panel: Sequence[PanelMember] = ()) -> list[dict]:
        """The records of ``kind``'s worker for ``settings`` (labels or scores; a panel's labels), through the
        batcher; counted in the metrics."""
        if not records:
            return []
        worker = self.worker(kind, settings, panel)
        out = await self.run(f"{kind.name}:{worker.config_hash}", kind.process(worker), records)
        self.metrics.rows(kind, out)
        return out

    async def run(self, key: str, fn, items: list) -> list:
        """``fn(items)`` on the judge's worker, in a batch with other requests of the same ``key``; a
        judge failure (e.g. a remote judge that gave up) is a 502."""
        try:
            return await asyncio.wrap_future(self.batcher.submit(key, fn, items))
        except RlaifError as e:
            raise HTTPException(502, f"judge failed: {hide_paths(str(e))}") from None


def _settings(model, settings: dict[str, Any]):
    try:
        return model(**settings)
    except ValidationError as e:
        loc, msg = first_error(e.errors())
        raise HTTPException(422, f"settings.{loc}: {msg}") from None
    except TypeError as e:
        raise HTTPException(422, f"settings: {e}") from None


def service(request: Request) -> Service:
    return request.app.state.service


def caller(request: Request, svc: Service = Depends(service)) -> str:
    """The name of the caller's API key (``anonymous`` under ``--no-auth``); 401 without a live key, 403 for a
    reviewer key (it only reviews shared jobs, in the UI). The key comes as ``Authorization: Bearer KEY``, or as
    ``Authorization: Basic base64(USER:KEY)``, which clients that cannot set a header (OpenRLHF) send for a URL
    with the key as its password, ``http://rlaif:KEY@HOST/``; never from a cookie (the review UI's cookie is a
    session id, sent to /ui only)."""
    if svc.cfg.no_auth:
        loopback_only(request)
        return "anonymous"
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else basic_password(value) if scheme.lower() == "basic" \
        else None
    name = svc.keys.check(token)  # hashed, compared in constant time, never logged: the same for every scheme
    if name is None:
        raise HTTPException(401, "missing or invalid API key (Authorization: Bearer KEY, or the URL "
                                 "http://rlaif:KEY@HOST:PORT/...)")
    if svc.keys.role(name) != "owner":
        raise HTTPException(403, f"key {name!r} is a reviewer key: it can only review the jobs shared with it, in the UI")
    return name


def loopback_only(request: Request) -> None:
    """403 for a request without keys (``--no-auth``) addressed to anything but a loopback name: a web page whose
    host name an attacker made resolve to 127.0.0.1 (DNS rebinding) is its own origin to the browser, which would
    let it send requests to the service and read the answers; its requests carry its own name in ``Host``."""
    host = request.headers.get("host", "")
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:  # "[::1" and the like
        name = None
    if name not in LOOPBACK:
        raise HTTPException(403, f"Host {host[:100]!r}: without API keys (--no-auth) this service answers only "
                                 f"requests to a loopback name ({', '.join(LOOPBACK)})")


def basic_password(value: str) -> str | None:
    """The key in HTTP Basic credentials ``base64(USER:KEY)``: the password (the user name is free), or the
    user name when the password is empty (``http://KEY@HOST/``); None when they do not decode."""
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    return password or user or None
