"""Who is looking at the review UI: log in (an API key, once) and out, the session cookie (a random id kept
server-side, never the key: HttpOnly, SameSite=Strict, Path=/ui, Secure behind TLS), the viewer of a
request (key name and role), a same-origin check for every UI request that changes something, and the
security headers of UI responses (a per-page CSP nonce, nosniff, no framing)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from rlaif.service.deps import loopback_only, service
from rlaif.service.sessions import COOKIE, COOKIE_PATH

LEGACY_COOKIE = "rlaif_key"  # where versions before sessions kept the raw key (Path=/): deleted at login/logout
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")

router = APIRouter(prefix="/ui", include_in_schema=False)


class LoginNeeded(Exception):
    """A page was asked for without a live session: the handler sends the browser to the login page."""


@dataclass(frozen=True)
class Viewer:
    name: str
    role: str  # "owner" (submits jobs, shares them) or "reviewer" (labels jobs shared with it)

    @property
    def owner(self) -> bool:
        return self.role == "owner"


def same_origin(request: Request) -> None:
    """403 for a request that changes something and comes from another origin. SameSite=Strict keeps other
    sites' pages from sending the cookie, but a page served from another port of the same host is the
    same *site*; its requests carry its own ``Origin``, which must name this host and port (behind a TLS
    proxy, the ``X-Forwarded-Host`` it passes counts too)."""
    origin = request.headers.get("origin")
    if request.method not in UNSAFE or origin is None:
        return
    hosts = {request.headers.get("host")}
    if request.app.state.service.cfg.behind_tls:
        hosts.add(request.headers.get("x-forwarded-host"))
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:  # "http://[": no origin at all
        netloc = None
    if netloc not in hosts - {None}:
        raise HTTPException(403, f"cross-origin request from {origin} refused")


def viewer(request: Request, svc=Depends(service)) -> Viewer:
    """The key behind the request's session (``anonymous``, an owner, under --no-auth); else to the login page."""
    same_origin(request)
    if svc.cfg.no_auth:
        loopback_only(request)
        return Viewer("anonymous", "owner")
    name = svc.sessions.check(request.cookies.get(COOKIE))
    role = svc.keys.role(name) if name else None
    if role is None:
        raise LoginNeeded()
    return Viewer(name, role)


def owner(v: Viewer = Depends(viewer)) -> Viewer:
    """The viewer, if an owner key: reviewer keys only review shared jobs."""
    if not v.owner:
        raise HTTPException(403, f"key {v.name!r} is a reviewer key: it can review the jobs shared with it, nothing else")
    return v


class Login(BaseModel):
    key: str = Field(min_length=1, max_length=512, description="An API key from 'rlaif keys add NAME'.")


@router.post("/session")
def login(body: Login, request: Request, svc=Depends(service)):
    """Check the key and open a session; the cookie holds the session's random id, not the key."""
    same_origin(request)
    name = svc.keys.check(body.key.strip())
    if name is None:
        raise HTTPException(401, "That key is not valid. Ask the service's admin for one ('rlaif keys add NAME').")
    resp = JSONResponse({"ok": True, "key": name, "expires_in": int(svc.sessions.ttl)})
    resp.set_cookie(COOKIE, svc.sessions.open(name), max_age=int(svc.sessions.ttl), path=COOKIE_PATH,
                    httponly=True, samesite="strict", secure=svc.cfg.behind_tls)
    resp.delete_cookie(LEGACY_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(request: Request, svc=Depends(service)):
    """End the session on the server (its id is useless from now on) and drop the cookie."""
    same_origin(request)
    svc.sessions.close(request.cookies.get(COOKIE))
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=svc.cfg.behind_tls)
    resp.delete_cookie(LEGACY_COOKIE, path="/")
    return resp


def csp(nonce: str) -> str:
    """The pages' Content-Security-Policy: only this origin, scripts and styles only with the page's nonce."""
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


HEADERS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"same-origin"), (b"cache-control", b"no-store"))


class SecurityHeaders:
    """ASGI middleware: every response under /ui (and the / redirect) gets nosniff, no framing, no referrer
    to other origins, no caching, and a deny-all CSP unless the page set its own (with its nonce)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not (scope["path"] == "/" or scope["path"].startswith("/ui")):
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in have]
                if b"content-security-policy" not in have:
                    headers.append((b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"))
                message = {**message, "headers": headers}
            await send(message)
        await self.app(scope, receive, with_headers)
