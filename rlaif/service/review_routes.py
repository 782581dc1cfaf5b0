"""Sharing a job with reviewers, over the API (``/v1/jobs/{id}/reviewers``) and the UI: the checks both
share, and the human labels of a job as a ``--human`` file that names each label's reviewer."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from rlaif.jobs.kinds import KINDS
from rlaif.service.browse import job_rows
from rlaif.service.deps import caller, service
from rlaif.service.reviews import as_human_rows

router = APIRouter()


class Share(BaseModel):
    reviewer: str = Field(min_length=1, max_length=128, description="The name of the key to share the job with.")


def owned(svc, who: str, job_id: str) -> dict[str, Any]:
    job = svc.jobs.owned(who, job_id)
    if job is None:
        raise HTTPException(404, f"There is no job {job_id} among your jobs.")
    return job


def share(svc, job: dict[str, Any], reviewer: str) -> dict[str, Any]:
    """Let the key ``reviewer`` review ``job`` (a label job; any other live key than its owner's)."""
    if not KINDS[job["kind"]].pairwise:
        raise HTTPException(409, f"job {job['id']} is a {job['kind']} job; only jobs of pairs have pairs to review")
    if reviewer == job["owner"]:
        raise HTTPException(422, f"reviewer: {reviewer!r} owns job {job['id']} already")
    if svc.keys.role(reviewer) is None:
        raise HTTPException(422, f"reviewer: no live key named {reviewer!r} ('rlaif keys add {reviewer} --role reviewer')")
    svc.shares.share(job["id"], reviewer)
    return reviewers_of(svc, job)


def reviewers_of(svc, job: dict[str, Any]) -> dict[str, Any]:
    return {"job": job["id"], "reviewers": svc.shares.reviewers(job["id"])}


def human_file(svc, job_id: str, rows: list[dict[str, Any]], reviewer: str | None) -> Response:
    lines = "".join(json.dumps(r) + "\n" for r in as_human_rows(rows, svc.reviews.by_reviewer(job_id), reviewer))
    name = f"{job_id}-{reviewer}-human.jsonl" if reviewer else f"{job_id}-human.jsonl"
    return Response(lines, media_type="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/v1/jobs/{job_id}/reviewers")
def list_reviewers(job_id: str, svc=Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    return reviewers_of(svc, owned(svc, who, job_id))


@router.post("/v1/jobs/{job_id}/reviewers")
def add_reviewer(job_id: str, body: Share, svc=Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    """Share your job with another key: it may then browse and label the job's pairs in the UI."""
    return share(svc, owned(svc, who, job_id), body.reviewer.strip())


@router.delete("/v1/jobs/{job_id}/reviewers/{reviewer}")
def remove_reviewer(job_id: str, reviewer: str, svc=Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    """Stop sharing; the labels the reviewer gave stay (and stay theirs)."""
    job = owned(svc, who, job_id)
    if not svc.shares.unshare(job_id, reviewer):
        raise HTTPException(404, f"job {job_id} is not shared with {reviewer!r}")
    return reviewers_of(svc, job)


@router.get("/v1/jobs/{job_id}/human.jsonl")
def export_human(job_id: str, reviewer: str | None = None, svc=Depends(service), who: str = Depends(caller)):
    """The job's human labels (id, human_label, reviewer), all reviewers' or one's."""
    return human_file(svc, job_id, job_rows(owned(svc, who, job_id)), reviewer)
