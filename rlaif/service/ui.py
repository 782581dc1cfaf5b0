"""The review UI under ``/ui``: server-rendered pages (Jinja2 templates in ``service/templates``, a little
inline JavaScript, nothing to build) for jobs, job reports, the pair browser and human review. The API
key is given once on the login page and kept in an HttpOnly, SameSite=Strict cookie, which the JSON API
accepts too (so the pages' scripts call it); a page never shows a stack trace."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from rlaif.core.errors import RlaifError
from rlaif.data.records import strict_json
from rlaif.evaluation.compare import summary_rows, write_report
from rlaif.jobs.runner import work_path
from rlaif.service.browse import PAGE, PairFilter, RowCache, confidence, principles, select
from rlaif.service.deps import COOKIE, service
from rlaif.service.jobs import view
from rlaif.service.reviews import LABELS, agreement, as_human_rows, sample_ids

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["pct"] = lambda x: "n/a" if x is None or x != x else f"{100 * x:.1f}%"
templates.env.filters["num"] = lambda x, d=3: "n/a" if x is None or x != x else f"{x:.{d}f}"
templates.env.filters["urlencode_page"] = lambda qp, n: urlencode([(k, v) for k, v in qp.multi_items() if k != "page"]
                                                                  + [("page", n)])
rows_cache = RowCache()
PLOTS = ("reliability.png", "histogram.png", "agreement_vs_confidence.png")
SAMPLE = 200


class LoginNeeded(Exception):
    """A page was asked for without a valid key cookie: the handler sends the browser to the login page."""


def reviewer(request: Request, svc=Depends(service)) -> str:
    """The name of the key in the cookie (``anonymous`` under --no-auth); otherwise to the login page."""
    if svc.cfg.no_auth:
        return "anonymous"
    name = svc.keys.check(request.cookies.get(COOKIE))
    if name is None:
        raise LoginNeeded()
    return name


def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def own_job(svc, who: str, job_id: str) -> dict[str, Any]:
    job = svc.jobs.owned(who, job_id)
    if job is None:
        raise HTTPException(404, f"There is no job {job_id} among your jobs.")
    return job


def job_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The finished (or partial) output rows of a job; [] before the first chunk is written."""
    out = Path(job["spec"]["run"]["output"])
    for path in (out, work_path(out)):
        if path.is_file() and path.stat().st_size:
            try:
                return rows_cache.rows(path)
            except RlaifError:
                return []
    return []


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    return page(request, "login.html", title="Log in")


class Session(BaseModel):
    key: str = Field(min_length=1, max_length=512, description="An API key from 'rlaif keys add NAME'.")


@router.post("/session")
def login(body: Session, svc=Depends(service)):
    if svc.keys.check(body.key.strip()) is None:
        raise HTTPException(401, "That key is not valid. Ask the service's admin for one ('rlaif keys add NAME').")
    resp = JSONResponse({"ok": True})
    resp.set_cookie(COOKIE, body.key.strip(), httponly=True, samesite="strict", max_age=7 * 86400, path="/")
    return resp


@router.post("/logout")
def logout():
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("", response_class=HTMLResponse)
def jobs_page(request: Request, svc=Depends(service), who: str = Depends(reviewer)):
    jobs = [view(j) for j in reversed(svc.jobs.store.list(who))]
    from rlaif.labeling.constitutions import available

    return page(request, "jobs.html", title="Jobs", who=who, jobs=jobs, constitutions=available())


def _report(job: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The compare figures of a finished label job whose rows carry human labels (plots written once)."""
    if job["kind"] != "label" or job["state"] != "done" or not any(r.get("human_label") in (0.0, 1.0) for r in rows):
        return None
    out = Path(job["spec"]["run"]["output"]).parent / "report"
    done = out / "figures.json"
    try:
        figures = json.loads(done.read_text()) if done.exists() else write_report(rows, out, n_boot=500)
    except RlaifError as e:
        return {"error": str(e)}
    return {"rows": summary_rows(figures), "by_confidence": figures["by_confidence"]}


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, svc=Depends(service), who: str = Depends(reviewer)):
    job = own_job(svc, who, job_id)
    rows = job_rows(job) if job["kind"] == "label" else []
    reviews = svc.reviews.of_job(job_id)
    return page(request, "job.html", title=f"Job {job_id}", who=who, job=view(job), report=_report(job, rows),
                review=agreement(rows, reviews) if reviews else None)


@router.get("/jobs/{job_id}/report/{name}")
def report_plot(job_id: str, name: str, svc=Depends(service), who: str = Depends(reviewer)):
    job = own_job(svc, who, job_id)
    path = Path(job["spec"]["run"]["output"]).parent / "report" / name
    if name not in PLOTS or not path.is_file():
        raise HTTPException(404, f"No plot {name} for job {job_id}.")
    return FileResponse(path, media_type="image/png")


@router.get("/jobs/{job_id}/pairs", response_class=HTMLResponse)
def pairs_page(job_id: str, request: Request, f: Annotated[PairFilter, Query()], svc=Depends(service),
               who: str = Depends(reviewer)):
    job = own_job(svc, who, job_id)
    if job["kind"] != "label":
        raise HTTPException(409, f"Job {job_id} scored single responses; the pair browser shows label jobs.")
    rows = job_rows(job)
    hits, total = select(rows, f)
    return page(request, "pairs.html", title=f"Pairs of {job_id}", who=who, job=view(job), f=f, hits=hits,
                total=total, pages=max(1, math.ceil(total / PAGE)), principles=principles(rows), confidence=confidence)


@router.get("/jobs/{job_id}/review", response_class=HTMLResponse)
def review_page(job_id: str, request: Request, seed: int = 0, svc=Depends(service), who: str = Depends(reviewer)):
    job = own_job(svc, who, job_id)
    rows = [r for r in job_rows(job) if not r.get("error")] if job["kind"] == "label" else []
    if not rows:
        raise HTTPException(409, f"Job {job_id} has no labelled pairs to review yet.")
    mine = svc.reviews.of_job(job_id, who)
    order = sample_ids([r["id"] for r in rows], SAMPLE, seed)
    todo = [i for i in order if i not in mine]
    by_id = {r["id"]: r for r in rows}
    return page(request, "review.html", title=f"Review {job_id}", who=who, job=view(job), seed=seed,
                pair=by_id[todo[0]] if todo else None, done=len(order) - len(todo), sample=len(order),
                stats=agreement(rows, svc.reviews.of_job(job_id)))


class Review(BaseModel):
    pair_id: str = Field(min_length=1, max_length=512, description="The id of the reviewed pair.")
    label: str = Field(pattern="^(a|b|tie)$", description="a, b or tie.")


@router.post("/jobs/{job_id}/reviews")
def add_review(job_id: str, body: Review, svc=Depends(service), who: str = Depends(reviewer)):
    job = own_job(svc, who, job_id)
    rows = job_rows(job)
    if body.pair_id not in {r["id"] for r in rows}:
        raise HTTPException(422, f"pair_id: job {job_id} has no pair {body.pair_id!r}")
    svc.reviews.put(job_id, body.pair_id, who, LABELS[body.label])
    return strict_json(agreement(rows, svc.reviews.of_job(job_id)))


@router.get("/jobs/{job_id}/human.jsonl")
def export_reviews(job_id: str, svc=Depends(service), who: str = Depends(reviewer)):
    job = own_job(svc, who, job_id)
    lines = "".join(json.dumps(r) + "\n" for r in as_human_rows(job_rows(job), svc.reviews.of_job(job_id)))
    return Response(lines, media_type="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="{job_id}-human.jsonl"'})


def wants_html(request: Request) -> bool:
    """A browser navigating to a page (not a page's script calling the API)."""
    return request.url.path.startswith("/ui") and "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", status=status, title="Error", status_code=status, message=message)


def install(app) -> None:
    """Add the pages and their error handling to the app: no key → the login page; an error on a page →
    a page saying what went wrong (the API keeps its JSON errors)."""
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def home():
        return RedirectResponse("/ui", status_code=303)

    @app.exception_handler(LoginNeeded)
    async def to_login(request: Request, exc: LoginNeeded):
        if not wants_html(request):
            return JSONResponse({"detail": "log in first (no valid key cookie)"}, status_code=401)
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
