"""The batch-job endpoints: upload an input file, submit a job, follow it, download its result, cancel
it. A caller sees only the jobs and uploads of its own API key."""

from __future__ import annotations

import os
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from rlaif.core.errors import RlaifError
from rlaif.jobs.hints import SettingNeeded
from rlaif.jobs.kinds import KINDS
from rlaif.jobs.spec import DEFAULT_CHUNK_SIZE
from rlaif.service.deps import caller, service
from rlaif.service.jobs import TooManyJobs, resolve_input, upload_path, uploads_bytes, view
from rlaif.service.panel import chosen
from rlaif.service.redact import hide_paths

router = APIRouter()


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a judge, URL or misspelt field is a 422 naming it, never ignored

    kind: Literal[tuple(KINDS)] = Field(description="; ".join(f"{k.name}: {k.title}" for k in KINDS.values()))
    input: str = Field(max_length=256, description="The name of one of your uploads (PUT /v1/files/NAME).")
    settings: dict[str, Any] = Field(default_factory=dict, description="The kind's settings (labeler, scorer or "
                                     "generator settings).")
    recipe: str | None = Field(None, max_length=64, description="An operator's recipe (DATA/assets/recipes/NAME.yaml): "
                               "its settings, under those given in settings.")
    limit: int | None = Field(None, ge=1, description="Only the first N rows.")
    skip_invalid: bool = Field(False, description="Write bad rows with their reason instead of refusing the file.")
    chunk_size: int = Field(DEFAULT_CHUNK_SIZE, ge=1, le=4096, description="Rows per durable write (and per judge batch).")
    output_format: Literal["jsonl", "parquet"] = Field("jsonl", description="Result file format.")
    panel: list[str] | None = Field(None, max_length=16, description="label jobs: a panel of judges, two or more "
                                    "names of the service's panel members (GET /v1/panel lists them).")


@router.put("/v1/files/{name}", status_code=201)
async def upload(name: str, request: Request, svc=Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    """Store the request body as an input file (streamed to disk; ``limits`` stops it at --max-upload-bytes, and
    here at what is left of the key's --max-key-upload-bytes)."""
    try:
        path = upload_path(svc.data_dir, who, name)
    except RlaifError as e:
        raise HTTPException(422, str(e)) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    room = svc.cfg.max_key_upload_bytes - uploads_bytes(svc.data_dir, who, name)
    tmp, size = path.with_name(f".{name}.upload"), 0
    try:
        with open(tmp, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > room:
                    raise HTTPException(413, f"uploads of key {who!r} over {svc.cfg.max_key_upload_bytes} bytes "
                                             "together (--max-key-upload-bytes); replace one of them with a smaller file")
                fh.write(chunk)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return {"name": name, "bytes": size}


@router.post("/v1/jobs", status_code=202)
def submit(req: JobRequest, svc=Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    try:
        path = resolve_input(svc.data_dir, who, req.input)
        settings = {**svc.assets.recipe(req.recipe), **req.settings} if req.recipe else req.settings
    except RlaifError as e:
        raise HTTPException(422, str(e)) from None
    options = req.model_dump(include={"limit", "skip_invalid", "chunk_size", "output_format"})
    kind = KINDS[req.kind]
    if req.panel and not kind.panel_field:
        raise HTTPException(422, f"panel: a {kind.name} job has one judge (panels label pairs)")
    panel = chosen(svc.cfg, req.panel)
    try:
        job_id = svc.jobs.submit(who, kind, path, settings, options, panel)
    except TooManyJobs as e:
        raise HTTPException(429, str(e)) from None
    except SettingNeeded as e:  # a bad input row: named by the caller's file name, not the server's path
        raise HTTPException(422, hide_paths(e.worded(f"send {e.setting}: true"))) from None
    except RlaifError as e:
        raise HTTPException(422, hide_paths(str(e))) from None
    return view(svc.jobs.store.get(job_id))


def _own(svc, who: str, job_id: str) -> dict[str, Any]:
    job = svc.jobs.owned(who, job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return job


@router.get("/v1/jobs")
def jobs(svc=Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    return {"jobs": [view(j) for j in svc.jobs.store.list(who)]}


@router.get("/v1/jobs/{job_id}")
def job(job_id: str, svc=Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    return view(_own(svc, who, job_id))


@router.get("/v1/jobs/{job_id}/result")
def result(job_id: str, svc=Depends(service), who: str = Depends(caller)):
    j = _own(svc, who, job_id)
    if j["state"] != "done":
        raise HTTPException(409, f"job {job_id} is {j['state']}; the result is ready when it is done")
    out = j["spec"].run.output
    media = "application/x-ndjson" if out.endswith(".jsonl") else "application/vnd.apache.parquet"
    return FileResponse(out, media_type=media, filename=f"{job_id}-{os.path.basename(out)}")


@router.delete("/v1/jobs/{job_id}")
def cancel(job_id: str, svc=Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    j = _own(svc, who, job_id)
    try:
        svc.jobs.cancel(j)
    except RlaifError as e:
        raise HTTPException(409, str(e)) from None
    return view(svc.jobs.store.get(job_id))
