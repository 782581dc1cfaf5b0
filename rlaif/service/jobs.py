"""Batch jobs of the service (any job kind): kept in the job store as typed specs, run one at a time by a
manager thread through the one resumable runner, with an executor whose chunks go through the batcher at low
priority (interactive requests first). A job that a restart (even kill -9) interrupted resumes from its output
file."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from rlaif.core.batcher import LOW
from rlaif.core.errors import RlaifError
from rlaif.jobs.kinds import KINDS, JobKind, kind_of
from rlaif.jobs.pipeline import run_metered
from rlaif.jobs.runner import LocalExecutor, load_input
from rlaif.jobs.spec import RunOptions
from rlaif.service.redact import hide_paths
from rlaif.service.store import FINAL, JobStore

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SUFFIXES = (".jsonl", ".parquet", ".csv")
BLOCK = 4096  # the least a file is charged against its key's upload quota (an empty file takes disk too)


class JobCancelled(Exception):
    """Raised between chunks of a job whose cancellation was asked for."""


class TooManyJobs(RlaifError):
    """A key submitted a job while it has ``--max-jobs-per-key`` unfinished ones."""


def upload_path(data_dir: Path, owner: str, name: str) -> Path:
    """Where an uploaded input file lives: ``DATA/inputs/OWNER/NAME``; a plain file name only."""
    if not _NAME.match(name) or ".." in name or not name.endswith(SUFFIXES):
        raise RlaifError(f"file name {name!r}: use letters, digits, '.', '-', '_' and end in {', '.join(SUFFIXES)}")
    return data_dir / "inputs" / owner / name


def uploads_bytes(data_dir: Path, owner: str, but: str) -> int:
    """The bytes ``owner``'s uploads take together (each at least ``BLOCK``), the upload ``but`` (about to be
    replaced) left out."""
    folder, total = data_dir / "inputs" / owner, 0
    for p in folder.iterdir() if folder.is_dir() else ():
        try:
            total += max(p.stat().st_size, BLOCK) if p.name != but else 0
        except FileNotFoundError:  # an upload's temporary file, gone since
            pass
    return total


def resolve_input(data_dir: Path, owner: str, given: str) -> Path:
    """A job's input: the caller's own upload of that name (a plain file name, as ``PUT /v1/files/NAME``
    took it), nothing else. Another key's file, a path, and a name never uploaded all get one answer, so
    a caller learns nothing about files that are not its own."""
    folder = (data_dir / "inputs" / owner).resolve()
    if _NAME.match(given) and ".." not in given and given.endswith(SUFFIXES):
        path = folder / given
        if path.is_file() and path.resolve().parent == folder:
            return path
    raise RlaifError(f"input {given[:200]!r}: not one of your uploads (upload it with PUT /v1/files/NAME; "
                     f"NAME is a plain file name)")


def _snapshot(upload: Path, dest: Path) -> None:
    """The job's own copy of its input: a hard link (free), a copy where links are not possible. An
    upload replaced later (``os.replace``: a new file) leaves the job with the rows it was checked on."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(upload, dest)
    except OSError:
        shutil.copyfile(upload, dest)


class JobManager:
    """Submits, runs, cancels and reports jobs; one job runs at a time."""

    def __init__(self, svc: Any, store: JobStore, data_dir: Path):
        self.svc, self.store, self.data_dir = svc, store, data_dir
        self._cancel: set[str] = set()
        self._wake = threading.Event()
        self._stop = False
        self._submitting = threading.Lock()  # a key's count of unfinished jobs and its new job, as one step
        self.resumed_at_start = store.requeue_running()
        self._thread = threading.Thread(target=self._loop, name="rlaif-jobs", daemon=True)
        self._thread.start()

    def submit(self, owner: str, kind: JobKind, upload: Path, settings: dict[str, Any], options: dict[str, Any],
               panel: list | None = None) -> str:
        """Snapshot the input, check settings and every row now (a bad row is a 4xx, not a failed job
        later), then queue. ``panel``: the members (``service.panel.chosen``) of a panel job. A key with
        ``max_jobs_per_key`` unfinished jobs gets ``TooManyJobs`` (before its file is read, and again as it queues)."""
        self._room_for(owner)
        self.svc.worker(kind, settings, panel or ())
        fmt = options.pop("output_format", "jsonl")
        job_id = secrets.token_hex(8)
        folder = self.data_dir / "jobs" / job_id
        try:
            _snapshot(upload, folder / "input" / upload.name)
            run = RunOptions(input=str(folder / "input" / upload.name), output=str(folder / f"output.{fmt}"),
                             progress=False, **options)
            spec = kind.spec(run, kind.settings_model(**settings), **({kind.panel_field: panel} if panel else {}))
            loaded = load_input(run.input, limit=run.limit, split=None, normalise=kind.normaliser(spec),
                                skip_invalid=run.skip_invalid)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._submitting:
            try:
                self._room_for(owner)
            except TooManyJobs:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self.store.create(owner, kind.name, spec, len(loaded.records) + len(loaded.invalid), job_id=job_id)
        self._wake.set()
        return job_id

    def _room_for(self, owner: str) -> None:
        cap = self.svc.cfg.max_jobs_per_key
        if self.store.unfinished(owner) >= cap:
            raise TooManyJobs(f"key {owner!r} has {cap} unfinished jobs, the most this service allows "
                              "(--max-jobs-per-key); wait for one to finish or cancel one")

    def owned(self, owner: str, job_id: str) -> dict[str, Any] | None:
        """The job if ``owner`` submitted it; another key's job does not exist, as far as its caller knows."""
        job = self.store.get(job_id)
        return job if job is not None and job["owner"] == owner else None

    def cancel(self, job: dict[str, Any]) -> None:
        if job["state"] in FINAL:
            raise RlaifError(f"job {job['id']} is {job['state']} already")
        if job["state"] == "queued":
            self.store.update(job["id"], state="cancelled", finished=time.time())
        self._cancel.add(job["id"])

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop:
            job = self.store.next_queued()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self._run(job)

    def _run(self, job: dict[str, Any]) -> None:
        jid, spec, kind = job["id"], job["spec"], KINDS[job["kind"]]
        self.store.update(jid, state="running", started=job["started"] or time.time(), error=None)
        progress = lambda done, total: self.store.update(jid, rows_done=done, rows_total=total)  # noqa: E731
        try:
            task = kind.task(spec, worker=self.svc.worker(kind, settings_of(spec), kind.panel(spec)))
            summary = run_metered(spec.run, task, executor=LocalExecutor(self._through_batcher(jid, task.process)),
                                  on_progress=progress)
            self.store.update(jid, state="done", finished=time.time(), rows_done=summary.total,
                              summary={**dataclasses.asdict(summary), "lines": summary.lines()})
        except JobCancelled:
            if not self._stop:  # a shutdown leaves it running: the next start resumes it
                self.store.update(jid, state="cancelled", finished=time.time())
        except Exception as e:  # the job fails with its reason; the service goes on
            self.store.update(jid, state="failed", finished=time.time(), error=hide_paths(
                str(e) if isinstance(e, RlaifError) else f"{type(e).__name__}: {e}"))
        self._cancel.discard(jid)

    def _through_batcher(self, jid: str, process):
        """The job's chunk function on the judge's worker, at low priority; stops between chunks when the
        job is cancelled or the service stops."""
        def run(rows: list[dict]) -> list[dict]:
            if jid in self._cancel or self._stop:
                raise JobCancelled()
            return self.svc.batcher.submit(f"job:{jid}", process, rows, priority=LOW).result()
        return run


def settings_of(spec) -> dict[str, Any]:
    """The settings a job was submitted with (the names of uploaded assets unresolved)."""
    return kind_of(spec).settings(spec).model_dump(exclude_unset=True)


def view(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the API shows it: state, progress, rate, ETA and the summary ``rlaif label`` prints."""
    now = time.time()
    elapsed = ((job["finished"] or now) - job["started"]) if job["started"] else 0.0
    done, total = job["rows_done"], job["rows_total"]
    rate = done / elapsed if elapsed > 0 and done else None
    eta = (total - done) / rate if rate and job["state"] == "running" else None
    summary = job["summary"] or {}
    return {"id": job["id"], "kind": job["kind"], "state": job["state"], "rows_done": done, "rows_total": total,
            "rows_per_second": rate, "eta_seconds": eta, "created": job["created"], "finished": job["finished"],
            "settings": settings_of(job["spec"]), "error": job["error"] and hide_paths(job["error"]),
            "summary": [hide_paths(line) for line in summary["lines"]] if summary.get("lines") else None,
            "input": Path(job["spec"].run.input).name, "pairwise": KINDS[job["kind"]].pairwise}
