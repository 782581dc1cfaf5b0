"""The HTTP service: FastAPI endpoints over one shared judge. Labels, scores and rewards go through the
micro-batcher; inputs are checked item by item (a 4xx names the item and field); batch jobs are in
``job_routes``; every route but ``/healthz`` and ``/metrics`` needs an API key unless the service runs
with ``--no-auth`` on loopback."""

from __future__ import annotations

import json
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from rlaif.core.errors import RlaifError
from rlaif.data.records import strict_json
from rlaif.integrations.openrlhf import parse_rewards_request, reward_outputs
from rlaif.jobs.kinds import LABEL, SCORE
from rlaif.judges.base import JudgeBackend
from rlaif.service import apidocs, job_routes, rank_routes, review_routes, ui
from rlaif.service.config import ServeConfig
from rlaif.service.deps import Service, caller, service
from rlaif.service.limits import BodyLimits
from rlaif.service.metrics import route_label
from rlaif.service.panel import chosen
from rlaif.service.redact import hide_paths


access_log = logging.getLogger("rlaif.access")


class LabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a judge, URL or misspelt field is a 422 naming it, never ignored

    pairs: list[dict[str, Any]] = Field(min_length=1, description="Pairs in any row shape 'rlaif label' reads.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Labeler settings (LabelerConfig fields).")
    panel: list[str] | None = Field(None, max_length=16, description="A panel of judges: two or more names of the "
                                    "service's panel members (GET /v1/panel lists them); default: the service's judge.")


class ScoreRequest(BaseModel):
    items: list[dict[str, Any]] = Field(min_length=1, description="Rows with prompt and response (or completion).")
    settings: dict[str, Any] = Field(default_factory=dict, description="Scorer settings (ScorerConfig fields).")


class RewardRequest(BaseModel):
    """OpenRLHF's remote reward-model request: ``query`` = prompt + response as the trainer renders it."""

    query: list[str] = Field(min_length=1)
    prompts: list[str] | None = None
    labels: list[Any] | None = None


def _records(rows: list[dict[str, Any]], field: str, normalise, limit: int) -> list[dict[str, Any]]:
    """Normalised records, or a 422 naming the first bad item and field (a repeated id too: each row's
    label is found by its id)."""
    _check_lengths(rows, field, limit)
    out, seen = [], {}
    for i, row in enumerate(rows):
        loc = f"{field}[{i}]"
        try:
            out.append(normalise(row, i, loc))
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        rid = out[-1]["id"]
        if rid in seen:
            raise HTTPException(422, f"{loc} field 'id': {rid[:200]!r} repeats the id of {field}[{seen[rid]}]")
        seen[rid] = i
    return out


router = APIRouter()


@router.post("/v1/labels")
async def labels(req: LabelRequest, svc: Service = Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    """Soft labels for pairs in any row shape ``rlaif label`` reads: the records it writes."""
    _check_count(len(req.pairs), "pairs", svc.cfg.max_items)
    panel = chosen(svc.cfg, req.panel)
    records = _records(req.pairs, "pairs", LABEL.row_normaliser, svc.cfg.max_field_chars)
    return {"labels": [strict_json(r) for r in await svc.judged(LABEL, req.settings, records, panel)]}


@router.post("/v1/scores")
async def scores(req: ScoreRequest, svc: Service = Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    """1-10 judge scores and rewards in [-1, 1] for (prompt, response) items: the records ``rlaif score`` writes."""
    _check_count(len(req.items), "items", svc.cfg.max_items)
    records = _records(req.items, "items", SCORE.row_normaliser, svc.cfg.max_field_chars)
    return {"scores": [strict_json(r) for r in await svc.judged(SCORE, req.settings, records)]}


@router.post("/get_reward")
async def get_reward(req: RewardRequest, svc: Service = Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    """OpenRLHF's remote reward model (``--reward.remote_url http://rlaif:KEY@HOST:PORT/get_reward``): the
    response in each query rated against its prompt (``integrations.openrlhf`` parses them)."""
    _check_count(len(req.query), "query", svc.cfg.max_items)
    try:
        pairs = parse_rewards_request(req.query, req.prompts)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    items = [{"id": f"query-{i}", "prompt": p, "response": r} for i, (p, r) in enumerate(pairs)]
    _check_lengths(items, "query", svc.cfg.max_field_chars)
    return reward_outputs([r["reward"] for r in await svc.judged(SCORE, {}, items)])


@router.get("/v1/panel")
def panel_members(svc: Service = Depends(service), who: str = Depends(caller)) -> dict[str, Any]:
    """The judges this service's operator configured as panel members: name -> judge id (name them in a
    request's ``panel``)."""
    return {"members": {name: judge.judge_id for name, judge in svc.members.items()}}


@router.get("/healthz")
def healthz(svc: Service = Depends(service)) -> dict[str, Any]:
    return {"status": "ok", "judge": svc.judge.judge_id, "queue_depth": svc.batcher.depth()}


@router.get("/metrics")
def metrics(svc: Service = Depends(service)) -> Response:
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")


def create_app(cfg: ServeConfig, judge: JudgeBackend) -> FastAPI:
    """The FastAPI app over ``judge`` (already loaded)."""
    svc = Service(cfg, judge)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        svc.close()  # on shutdown: the running job stops between chunks, queued judge calls finish

    app = FastAPI(title="rlaif", description="Soft preference labels and rewards from a judge LLM.", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)  # apidocs serves them, behind the key
    app.state.service = svc
    app.include_router(router)
    app.include_router(job_routes.router)
    app.include_router(rank_routes.router)
    app.include_router(review_routes.router)
    app.include_router(apidocs.router)
    ui.install(app)

    app.add_middleware(BodyLimits, body_limit=cfg.max_body_bytes, upload_limit=cfg.max_upload_bytes,
                       header_limit=cfg.max_header_bytes)

    @app.middleware("http")
    async def metrics_and_log(request: Request, call_next):
        start = time.perf_counter()
        resp: Response = await call_next(request)
        took = time.perf_counter() - start
        svc.metrics.request(route_label(request.scope), resp.status_code, took)
        size = request.headers.get("content-length")
        access_log.info(json.dumps({"ts": round(time.time(), 3), "client": request.client.host if request.client else None,
                                    "method": request.method, "path": request.url.path, "status": resp.status_code,
                                    "ms": round(took * 1000, 1), "bytes_in": int(size) if size and size.isdigit() else None}))
        return resp

    @app.exception_handler(RequestValidationError)
    async def one_line_validation(request: Request, exc: RequestValidationError):
        if ui.wants_html(request):
            return ui.error_page(request, 422, _first_error(exc.errors()))
        return JSONResponse({"detail": _first_error(exc.errors())}, status_code=422)

    @app.exception_handler(RlaifError)
    async def rlaif_error(request: Request, exc: RlaifError):
        return JSONResponse({"detail": hide_paths(str(exc))}, status_code=422)
    return app


def _first_error(errors: list[dict[str, Any]]) -> str:
    """One line for a request that failed validation: where (``pairs[2]``, ``body``) and what."""
    err = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    if err.get("type") == "json_invalid":  # loc is ("body", character position)
        pos = err.get("loc", ("body", "?"))[-1]
        return f"body: not valid JSON ({err.get('ctx', {}).get('error', 'parse error')} at character {pos})"
    where = ""
    for part in err.get("loc", ())[1:]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    msg = err.get("msg", "invalid")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where or 'body'}: {msg}{more}"


def _check_lengths(rows: list[dict[str, Any]], field: str, limit: int) -> None:
    for i, row in enumerate(rows):
        for k, v in row.items():
            if _chars(v) > limit:
                raise HTTPException(422, f"{field}[{i}] field '{k}' is longer than {limit} characters")


def _chars(value: Any) -> int:
    """The characters of every text in a field's value: a string, or messages (lists and objects of them)."""
    total, todo = 0, [value]
    while todo:
        v = todo.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, (list, dict)):
            todo.extend(v.values() if isinstance(v, dict) else v)
    return total


def _check_count(n: int, field: str, limit: int) -> None:
    if n > limit:
        raise HTTPException(413, f"{field}: {n} items, more than the {limit} allowed in one request")
