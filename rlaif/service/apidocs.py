"""The API's own documentation (``/openapi.json``, ``/docs``, ``/redoc``) behind the API key like every
route but ``/healthz`` and ``/metrics``: a browser logged in to ``/ui`` opens them; a script sends the key."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse

from rlaif.service.deps import caller

router = APIRouter(include_in_schema=False, dependencies=[Depends(caller)])


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def swagger(request: Request):
    return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} - API docs")


@router.get("/redoc")
def redoc(request: Request):
    return get_redoc_html(openapi_url="/openapi.json", title=f"{request.app.title} - API docs")
