"""Requests as the service admits them (an ASGI middleware in front of every route): a limit on the
size of the headers, and on the bytes of the body actually received, chunked bodies without ``Content-Length`` included (``--max-body-bytes``;
``--max-upload-bytes`` for uploads, ``PUT /v1/files/NAME`` and the UI's ``/ui/files/NAME``), and strict JSON (no lone surrogate such as
``"\\ud800"``, no ``NaN``/``Infinity``) answered with one line naming the item and field."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from starlette.exceptions import HTTPException

from rlaif.data.jsonstrict import loads_marked, problem

UPLOADS = ("/v1/files/", "/ui/files/")
# what a body must hold for strict JSON to refuse it: a surrogate escape, a raw (surrogatepass) one, NaN, Infinity
_SUSPECT = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]|NaN|Infinity")
_TOKENS = (b"\\u", b"\xed", b"NaN", b"Infinity")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body over {limit} bytes")


class BodyLimits:
    """Admit a request body only up to its limit, counting what arrives; buffer the (small) bodies of
    every route but uploads and refuse non-strict JSON; stream uploads, counting as they stream."""

    def __init__(self, app, body_limit: int, upload_limit: int, header_limit: int):
        self.app, self.body_limit, self.upload_limit, self.header_limit = app, body_limit, upload_limit, header_limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if sum(len(k) + len(v) for k, v in scope.get("headers", [])) > self.header_limit:  # h11's own limit
            return await _answer(send, 431, f"request headers over {self.header_limit} bytes")  # is only on slow input
        upload = scope["path"].startswith(UPLOADS)
        limit = self.upload_limit if upload else self.body_limit
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _answer(send, 413, f"request body over {limit} bytes")
        if upload:
            return await self._counted(scope, receive, send, limit)
        parts, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            more = message.get("more_body", False)
            if size > limit:
                return await _answer(send, 413, f"request body over {limit} bytes")
        body = b"".join(parts)
        if _is_json(scope) and (bad := strict_json_problem(body)) is not None:
            return await _answer(send, 422, bad)
        await self.app(scope, _replay(body, receive), send)

    async def _counted(self, scope: dict, receive: Callable, send: Callable, limit: int) -> None:
        seen, started = 0, False

        async def counting() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def sending(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, counting, sending)
        except BodyTooLarge as e:  # a route that let it through: answer here if nothing was sent yet
            if started:
                raise
            await _answer(send, 413, e.detail)


def strict_json_problem(body: bytes) -> str | None:
    """One line naming the first lone surrogate, NaN or Infinity of a JSON body; None when there is
    none, or the body is not JSON at all (the route's own validation says so)."""
    if not any(token in body for token in _TOKENS) or not _SUSPECT.search(body):  # a full parse only on a hit
        return None
    try:
        value = loads_marked(body)
    except (ValueError, RecursionError):
        return None
    return problem(value)


def _header(scope: dict, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return v.decode("latin-1").strip()
    return None


def _is_json(scope: dict) -> bool:
    """A body FastAPI parses as JSON: sent as JSON, or with no Content-Type at all."""
    ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return not ctype or ctype == "application/json" or ctype.endswith("+json")


def _replay(body: bytes, receive: Callable) -> Callable:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes
    return replay


async def _answer(send: Callable, status: int, detail: str) -> None:
    data = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
