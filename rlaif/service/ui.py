"""The review UI under ``/ui``: server-rendered pages (Jinja2 templates in ``service/templates``, a little
inline JavaScript with a per-page CSP nonce, nothing to build) for jobs, job reports, the pair browser,
human review and sharing a job with reviewers. A login opens a server-side session (``ui_session``); the
pages' scripts call the UI's own JSON routes here (the session cookie is sent to /ui only); a page never
shows a stack trace."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from rlaif.core.errors import RlaifError
from rlaif.data.records import strict_json
from rlaif.evaluation.compare import summary_rows, write_report
from rlaif.jobs.kinds import KINDS
from rlaif.service import job_routes, review_routes, ui_session
from rlaif.service.browse import PAGE, PairFilter, confidence, job_rows, most_disagreed, principles, select
from rlaif.service.deps import service
from rlaif.service.jobs import view
from rlaif.service.reviews import LABELS, agreement, report, sample_ids
from rlaif.service.ui_session import LoginNeeded, Viewer, csp, new_nonce, owner, viewer

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["pct"] = lambda x: "n/a" if x is None or x != x else f"{100 * x:.1f}%"
templates.env.filters["num"] = lambda x, d=3: "n/a" if x is None or x != x else f"{x:.{d}f}"
templates.env.filters["urlencode_page"] = lambda qp, n: urlencode([(k, v) for k, v in qp.multi_items() if k != "page"]
                                                                  + [("page", n)])
templates.env.filters["ab"] = lambda h: {1.0: "A", 0.0: "B", 0.5: "tie"}.get(h, str(h))
PLOTS = ("reliability.png", "histogram.png", "agreement_vs_confidence.png")
SAMPLE = 200


def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    nonce = new_nonce()
    resp = templates.TemplateResponse(request, name, {**ctx, "csp_nonce": nonce}, status_code=status)
    resp.headers["content-security-policy"] = csp(nonce)
    return resp


def job_for(svc, v: Viewer, job_id: str) -> tuple[dict[str, Any], bool]:
    """(the job, whether ``v`` owns it) for its owner or a reviewer it is shared with; else a 404 that says
    nothing of other keys' jobs."""
    job = svc.jobs.store.get(job_id)
    if job is not None and job["owner"] == v.name:
        return job, True
    if job is not None and svc.shares.may_review(job_id, v.name):
        return job, False
    raise HTTPException(404, f"There is no job {job_id} among your jobs.")


def own_job(svc, v: Viewer, job_id: str) -> dict[str, Any]:
    job, mine = job_for(svc, v, job_id)
    if not mine:
        raise HTTPException(403, f"Job {job_id} is shared with you to review; only its owner can do that.")
    return job


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, svc=Depends(service)):
    return page(request, "login.html", title="Log in", hours=f"{svc.cfg.session_hours:g}")


@router.get("", response_class=HTMLResponse)
def jobs_page(request: Request, svc=Depends(service), v: Viewer = Depends(viewer)):
    mine = [view(j) for j in reversed(svc.jobs.store.list(v.name))] if v.owner else []
    shared = [view(j) for j in map(svc.jobs.store.get, reversed(svc.shares.shared_with(v.name))) if j is not None]
    from rlaif.labeling.constitutions import available

    kinds = [k for k in KINDS.values() if "constitution" in k.settings_model.model_fields]  # what the form sets
    return page(request, "jobs.html", title="Jobs", who=v.name, owner=v.owner, jobs=mine, shared=shared,
                constitutions=available(), kinds=kinds)


def _report(job: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The compare figures of a finished label job whose rows carry human labels (plots written once)."""
    if not KINDS[job["kind"]].pairwise or job["state"] != "done" or not any(r.get("human_label") in (0.0, 1.0) for r in rows):
        return None
    out = Path(job["spec"].run.output).parent / "report"
    done = out / "figures.json"
    try:
        figures = json.loads(done.read_text()) if done.exists() else write_report(rows, out, n_boot=500)
    except RlaifError as e:
        return {"error": str(e)}
    return {"rows": summary_rows(figures), "by_confidence": figures["by_confidence"]}


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, svc=Depends(service), v: Viewer = Depends(viewer)):
    """The owner: the report, every reviewer against the judge and each other, sharing. A reviewer: the
    job's links and the judge against their own labels."""
    job, mine = job_for(svc, v, job_id)
    rows = job_rows(job) if KINDS[job["kind"]].pairwise else []
    labels = svc.reviews.by_reviewer(job_id)
    if not mine:
        labels = {v.name: labels.get(v.name, {})}
    return page(request, "job.html", title=f"Job {job_id}", who=v.name, mine=mine, job=view(job),
                report=_report(job, rows) if mine else None, review=report(rows, labels),
                reviewers=svc.shares.reviewers(job_id) if mine else [])


@router.get("/jobs/{job_id}/report/{name}")
def report_plot(job_id: str, name: str, svc=Depends(service), v: Viewer = Depends(viewer)):
    job = own_job(svc, v, job_id)
    path = Path(job["spec"].run.output).parent / "report" / name
    if name not in PLOTS or not path.is_file():
        raise HTTPException(404, f"No plot {name} for job {job_id}.")
    return FileResponse(path, media_type="image/png")


def _label_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    if not KINDS[job["kind"]].pairwise:
        raise HTTPException(409, f"Job {job['id']} is a {job['kind']} job; the pair browser shows jobs of pairs.")
    return job_rows(job)


@router.get("/jobs/{job_id}/pairs", response_class=HTMLResponse)
def pairs_page(job_id: str, request: Request, f: Annotated[PairFilter, Query()], svc=Depends(service),
               v: Viewer = Depends(viewer)):
    """The pair browser; the owner sees (and filters on) every reviewer's labels, a reviewer only their own."""
    job, mine = job_for(svc, v, job_id)
    rows = _label_rows(job)
    labels = svc.reviews.by_reviewer(job_id) if mine else {v.name: svc.reviews.of_job(job_id, v.name)}
    by_pair: dict[str, dict[str, float]] = {}
    for name, ls in sorted(labels.items()):
        for pid, h in ls.items():
            by_pair.setdefault(pid, {})[name] = h
    hits, total = select(rows, f, by_pair)
    return page(request, "pairs.html", title=f"Pairs of {job_id}", who=v.name, mine=mine, job=view(job), f=f,
                hits=hits, total=total, pages=max(1, math.ceil(total / PAGE)), principles=principles(rows),
                confidence=confidence, reviews=by_pair, reviewer_names=sorted(labels),
                panel=any(r.get("panel") for r in rows))


@router.get("/jobs/{job_id}/review", response_class=HTMLResponse)
def review_page(job_id: str, request: Request, seed: int = 0, order: Literal["sample", "disagreement"] = "sample",
                svc=Depends(service), v: Viewer = Depends(viewer)):
    """The review queue: a seeded sample of the labelled pairs, or (``order=disagreement``) the pairs a panel of
    judges disagreed on most, most first."""
    job, owns = job_for(svc, v, job_id)
    rows = [r for r in _label_rows(job) if not r.get("error")]
    if not rows:
        raise HTTPException(409, f"Job {job_id} has no labelled pairs to review yet.")
    mine = svc.reviews.of_job(job_id, v.name)
    ids = [r["id"] for r in rows]
    queue = [r["id"] for r in most_disagreed(rows)][:SAMPLE] if order == "disagreement" else sample_ids(ids, SAMPLE, seed)
    todo = [i for i in queue if i not in mine]
    by_id = {r["id"]: r for r in rows}
    return page(request, "review.html", title=f"Review {job_id}", who=v.name, mine=owns, job=view(job), seed=seed,
                order=order, pair=by_id[todo[0]] if todo else None, done=len(queue) - len(todo), sample=len(queue),
                stats=agreement(rows, mine))


class Review(BaseModel):
    pair_id: str = Field(min_length=1, max_length=512, description="The id of the reviewed pair.")
    label: str = Field(pattern="^(a|b|tie)$", description="a, b or tie.")


@router.post("/jobs/{job_id}/reviews")
def add_review(job_id: str, body: Review, svc=Depends(service), v: Viewer = Depends(viewer)):
    """Your label for one pair (replacing your earlier one); the judge's agreement with your labels."""
    job, _ = job_for(svc, v, job_id)
    rows = _label_rows(job)
    if body.pair_id not in {r["id"] for r in rows}:
        raise HTTPException(422, f"pair_id: job {job_id} has no pair {body.pair_id!r}")
    svc.reviews.put(job_id, body.pair_id, v.name, LABELS[body.label])
    return strict_json(agreement(rows, svc.reviews.of_job(job_id, v.name)))


@router.get("/jobs/{job_id}/human.jsonl")
def export_reviews(job_id: str, reviewer: str | None = None, svc=Depends(service), v: Viewer = Depends(viewer)):
    return review_routes.human_file(svc, job_id, job_rows(own_job(svc, v, job_id)), reviewer)


@router.post("/jobs/{job_id}/reviewers")
def share_job(job_id: str, body: review_routes.Share, svc=Depends(service), v: Viewer = Depends(viewer)):
    return review_routes.share(svc, own_job(svc, v, job_id), body.reviewer.strip())


@router.delete("/jobs/{job_id}/reviewers/{reviewer}")
def unshare_job(job_id: str, reviewer: str, svc=Depends(service), v: Viewer = Depends(viewer)):
    own_job(svc, v, job_id)
    return review_routes.remove_reviewer(job_id, reviewer, svc, v.name)


# the jobs page's scripts: the API's job routes, behind the session (the cookie never reaches /v1)
@router.put("/files/{name}", status_code=201)
async def upload(name: str, request: Request, svc=Depends(service), v: Viewer = Depends(owner)):
    return await job_routes.upload(name, request, svc, v.name)


@router.post("/jobs", status_code=202)
def submit(req: job_routes.JobRequest, svc=Depends(service), v: Viewer = Depends(owner)):
    return job_routes.submit(req, svc, v.name)


@router.get("/jobs.json")
def jobs_json(svc=Depends(service), v: Viewer = Depends(owner)):
    return job_routes.jobs(svc, v.name)


@router.delete("/jobs/{job_id}")
def cancel(job_id: str, svc=Depends(service), v: Viewer = Depends(owner)):
    return job_routes.cancel(job_id, svc, v.name)


@router.get("/jobs/{job_id}/result")
def result(job_id: str, svc=Depends(service), v: Viewer = Depends(owner)):
    return job_routes.result(job_id, svc, v.name)


def wants_html(request: Request) -> bool:
    """A browser navigating to a page (not a page's script calling the API)."""
    return request.url.path.startswith("/ui") and "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", status=status, title="Error", status_code=status, message=message)


def install(app) -> None:
    """Add the pages and their error handling to the app: no key → the login page; an error on a page →
    a page saying what went wrong (the API keeps its JSON errors)."""
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app.include_router(ui_session.router)
    app.include_router(router)
    app.add_middleware(ui_session.SecurityHeaders)

    @app.get("/", include_in_schema=False)
    def home():
        return RedirectResponse("/ui", status_code=303)

    @app.exception_handler(LoginNeeded)
    async def to_login(request: Request, exc: LoginNeeded):
        if not wants_html(request):
            return JSONResponse({"detail": "log in first (no live session: POST /ui/session)"}, status_code=401)
        return RedirectResponse("/ui/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if wants_html(request):
            return error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception):
        import logging

        logging.getLogger("rlaif.service").exception("unhandled error on %s", request.url.path)
        message = "Something went wrong on the server; it is in the service's log."
        if wants_html(request):
            return error_page(request, 500, message)
        return JSONResponse({"detail": message}, status_code=500)
