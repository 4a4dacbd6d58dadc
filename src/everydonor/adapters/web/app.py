"""The web app: :func:`create_app` builds the FastAPI application on a registry.

Every request goes through :func:`authorize` (an app-wide dependency): it loads the server-side
session, checks the CSRF token of every state-changing request (403 without it), checks the
permission the route declares (``policy.py``; a route that declares none is refused at start-up)
and the centre of every object named in the path (another centre's object: 404).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.routing import Mount

from everydonor import __version__
from everydonor.adapters.web import i18n, policy
from everydonor.adapters.web.http import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Forbidden,
    NotFound,
    NotSignedIn,
    input_error_response,
    render,
    services,
)
from everydonor.adapters.web.services import WebServices
from everydonor.adapters.web.settings import WebSettings
from everydonor.errors import EverydonorError

STATIC = Path(__file__).resolve().parent / "static"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: SR-16. No inline script or style anywhere; htmx is served from /static.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
log = logging.getLogger("everydonor.web")


class SecurityHeaders(BaseHTTPMiddleware):
    """SR-16 headers on every response; request bodies above the limit refused (SR-17)."""

    def __init__(self, app: Any, max_body: int) -> None:
        super().__init__(app)
        self.max_body = max_body

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            response: Response = JSONResponse(
                {"error": f"request body over {self.max_body:,} bytes", "field": "body"},
                status_code=413)
        else:
            started = time.perf_counter()
            response = await call_next(request)
            # SR-21: operational log, ids only (no names, no typings, no query strings)
            log.info("%s %s %s %.1fms", request.method, request.url.path, response.status_code,
                     (time.perf_counter() - started) * 1000)
        h = response.headers
        h["Content-Security-Policy"] = CSP
        h["X-Frame-Options"] = "DENY"
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "no-referrer"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        h["Strict-Transport-Security"] = "max-age=31536000"
        if not request.url.path.startswith(("/static/", "/fonts/")):
            h["Cache-Control"] = "no-store"
        return response


class _RateLimit:
    """Sign-in attempts per client address in a sliding minute (SR-02)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.hits: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str, now: float) -> bool:
        q = self.hits[key]
        while q and now - q[0] > 60:
            q.popleft()
        if len(q) >= self.per_minute:
            return False
        q.append(now)
        return True


async def authorize(request: Request) -> None:
    """Session, CSRF, permission and centre scope of every request (see the module doc)."""
    svc = services(request)
    endpoint = request.scope.get("endpoint")
    needed = policy.permission_of(endpoint)
    if needed is None:  # fail closed; create_app also refuses such routes at start-up
        raise Forbidden("this route declares no permission")
    request.state.lang = i18n.language_of(request.cookies.get(LANG_COOKIE),
                                          request.headers.get("accept-language"))
    token = request.cookies.get(SESSION_COOKIE)
    info = None
    if token:
        info = await run_in_threadpool(svc.accounts.session, token, now=svc.now(),
                                       idle=svc.settings.idle_timeout)
    request.state.session = info
    request.state.login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if request.method not in SAFE_METHODS:
        await _check_csrf(request, info)
    if needed == policy.PUBLIC:
        return
    if info is None:
        raise NotSignedIn()
    if needed == policy.PARTIAL:
        return
    if not info.complete:
        raise NotSignedIn()
    if not policy.allowed(info.account.role, needed):
        raise Forbidden(f"a {info.account.role} may not {policy.PERMISSIONS[needed]}")
    for name in policy.SCOPED_PARAMETERS:
        value = request.path_params.get(name)
        if value is not None:
            centre = await run_in_threadpool(_centre_of, svc, name, str(value))
            if centre is None or (info.account.centre is not None
                                  and centre != info.account.centre):
                raise NotFound(name)


def _centre_of(svc: WebServices, name: str, value: str) -> str | None:
    if name == "upn":
        return svc.registry.patient_centre(value)
    from everydonor.adapters.web.scoping import account_centre, snapshot_centre

    if name == "username":  # a system administrator's account: only system administrators
        return account_centre(svc.registry, value)
    return snapshot_centre(svc.registry, value)


async def _check_csrf(request: Request, info: Any) -> None:
    """SR-05: the token from the form field ``csrf_token`` or the ``X-CSRF-Token`` header
    (htmx sends it from ``hx-headers``) must equal the session's (signed in) or the sign-in
    cookie's (signing in)."""
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    expected = info.csrf_token if info is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("the form's security token (CSRF) is missing or wrong: reload the "
                        "page and send it again")


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    app = FastAPI(title="everydonor", version=__version__,
                  description="Beijing Protocol haploidentical transplantation: the web app "
                              "and its JSON API (decision support for the treating team).",
                  dependencies=[Depends(authorize)], docs_url=None, redoc_url=None,
                  openapi_url="/api/v1/openapi.json")
    app.state.services = WebServices(settings)
    app.state.login_limit = _RateLimit(settings.login_rate_per_minute)
    app.add_middleware(SecurityHeaders, max_body=settings.max_body)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    # The report's CJK font (Noto Sans SC, OFL), so Chinese renders the same on every browser
    from everydonor.adapters.report.html import report_asset

    app.mount("/fonts", StaticFiles(directory=str(report_asset("fonts"))), name="fonts")

    from everydonor.adapters.web.routers import ROUTERS

    for router in ROUTERS:
        app.include_router(router)
    _install_errors(app)
    missing = [r.path for r in api_routes(app) if policy.permission_of(r.endpoint) is None]
    if missing:
        raise RuntimeError(f"routes without a permission: {', '.join(missing)}")
    return app


@dataclass(frozen=True, slots=True)
class AppRoute:
    """One route as the app serves it: the path with any router prefix, the name, the methods
    and the endpoint (whose permission ``policy.permission_of`` reads)."""

    path: str
    name: str
    methods: frozenset[str]
    endpoint: Callable[..., Any]


def api_routes(app: FastAPI) -> list[AppRoute]:
    """Every route of the app (the start-up check's and the matrix test's source). FastAPI
    0.16x keeps included routers as one entry each in ``app.routes`` (no APIRoute is listed
    there), so the routes are read through the route contexts that requests are matched on."""
    out = []
    for route, path, name, methods in _route_table(app):
        if isinstance(route, APIRoute):
            out.append(AppRoute(path, name, frozenset(methods), route.endpoint))
    return out


def _route_table(app: FastAPI) -> list[tuple[Any, str, str, set[str]]]:
    """(declared route, served path, name, methods) of every route, included routers opened."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - FastAPI that lists included routes itself
        return [(r, getattr(r, "path", ""), getattr(r, "name", ""),
                 set(getattr(r, "methods", None) or ())) for r in app.routes]
    return [(c.original_route, str(c.path or ""), str(c.name or ""), set(c.methods or ()))
            for c in iter_route_contexts(app.routes)]


def unguarded_routes(app: FastAPI) -> list[str]:
    """Paths of routes that are neither APIRoutes nor static mounts: ``authorize`` does not run
    for them (FastAPI's own OpenAPI document is one)."""
    return [path for route, path, _, _ in _route_table(app)
            if not isinstance(route, (APIRoute, Mount))]


def static_mounts(app: FastAPI) -> list[Mount]:
    return [r for r in app.routes if isinstance(r, Mount)]


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.message}, status_code=403)
        return render(request, "error.html.j2", status_code=403, title="Not allowed",
                      error={"error": exc.message})

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "not found"}, status_code=404)
        return render(request, "error.html.j2", status_code=404, title="Not found",
                      error={"error": "There is no such page, or it is not yours to see."})

    @app.exception_handler(EverydonorError)
    async def bad_input(request: Request, exc: EverydonorError) -> Response:
        return input_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or None,
                     "error": str(e.get("msg")), "value": _short(e.get("input"))}
                    for e in exc.errors()]
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "; ".join(
                f"field {p['field']!r}: {p['error']}" for p in problems), "problems": problems},
                status_code=422)
        return render(request, "error.html.j2", status_code=422, title="Input refused",
                      error={"error": "; ".join(f"{p['field']}: {p['error']}"
                                                for p in problems)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path.startswith("/static/"):
            return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
        return render(request, "error.html.j2", status_code=exc.status_code,
                      title=str(exc.detail), error={"error": str(exc.detail)})


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)
