"""Signing in (password, then TOTP where the role needs it), signing out, the language switch."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from everydonor.adapters.registry.accounts import LoginFailed
from everydonor.adapters.web import i18n
from everydonor.adapters.web.http import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    maybe_session,
    render,
    services,
    session,
)
from everydonor.adapters.web.policy import PARTIAL, PUBLIC, permission

router = APIRouter(include_in_schema=False)


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    svc = services(request)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=svc.settings.secure_cookies, path="/",
                        max_age=int(svc.settings.absolute_timeout.total_seconds()))


def _login_page(request: Request, *, error: str | None = None, username: str = "",
                status_code: int = 200) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    request.state.login_csrf = token
    response = render(request, "login.html.j2", status_code=status_code, error=error,
                      username=username, title="Sign in")
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=services(request).settings.secure_cookies, path="/")
    return response


@router.get("/", name="home")
@permission(PUBLIC)
def home(request: Request) -> Response:
    info = maybe_session(request)
    return RedirectResponse("/patients" if info and info.complete else "/login",
                            status_code=303)


@router.get("/healthz", name="healthz")
@permission(PUBLIC)
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


@router.get("/login", name="login_form")
@permission(PUBLIC)
def login_form(request: Request) -> Response:
    """The sign-in form; shown to a signed-in browser too (a shared ward computer: the next
    person signs in here, and the session the browser holds ends)."""
    return _login_page(request)


@router.post("/login", name="login")
@permission(PUBLIC)
def login(request: Request, username: Annotated[str, Form(max_length=64)] = "",
          password: Annotated[str, Form(max_length=256)] = "") -> Response:
    svc = services(request)
    client = request.client.host if request.client else "unknown"
    if not request.app.state.login_limit.allow(client, time.monotonic()):
        return _login_page(request, error="too many sign-in attempts from this address: wait "
                           "a minute", username=username, status_code=429)
    try:
        account = svc.accounts.authenticate(username, password, now=svc.now(), ip=client)
    except LoginFailed as exc:
        return _login_page(request, error=exc.message, username=username, status_code=401)
    old = maybe_session(request)
    # SR-04: a new session id at every sign-in; any session the browser brought ends
    token, _ = svc.accounts.open_session(
        account, now=svc.now(), absolute=svc.settings.absolute_timeout, mfa=False, ip=client,
        user_agent=request.headers.get("user-agent"), replaces=old.id if old else None)
    target = "/login/totp" if account.needs_totp else "/patients"
    response = RedirectResponse(target, status_code=303)
    _set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.get("/login/totp", name="totp_form")
@permission(PARTIAL)
def totp_form(request: Request) -> Response:
    info = session(request)
    if info.complete:
        return RedirectResponse("/patients", status_code=303)
    return render(request, "totp.html.j2", title="Second factor", error=None,
                  enrolled=info.account.has_totp)


@router.post("/login/totp", name="totp")
@permission(PARTIAL)
def totp(request: Request, code: Annotated[str, Form(max_length=12)] = "") -> Response:
    svc = services(request)
    info = session(request)
    if info.complete:
        return RedirectResponse("/patients", status_code=303)
    if not svc.accounts.verify_totp(info.account.username, code, now=svc.now()):
        return render(request, "totp.html.j2", status_code=401, title="Second factor",
                      error="the code is wrong, expired or already used",
                      enrolled=info.account.has_totp)
    client = request.client.host if request.client else None
    # SR-04: the privilege changes (second factor given): the session id rotates again
    token, _ = svc.accounts.open_session(
        info.account, now=svc.now(), absolute=svc.settings.absolute_timeout, mfa=True,
        ip=client, user_agent=request.headers.get("user-agent"), replaces=info.id)
    response = RedirectResponse("/patients", status_code=303)
    _set_session_cookie(request, response, token)
    return response


@router.post("/logout", name="logout")
@permission(PARTIAL)
def logout(request: Request) -> Response:
    svc = services(request)
    info = session(request)
    svc.accounts.end_session(info.id, now=svc.now(), why="logout",
                             actor=info.account.username)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}", name="language")
@permission(PUBLIC)
def language(request: Request, code: str, next: str = "/") -> Response:
    """The language switch: a preference cookie, then back where the user was (a path of
    this site only: never an open redirect)."""
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next \
        else "/"
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, samesite="lax", path="/",
                            secure=services(request).settings.secure_cookies,
                            max_age=365 * 24 * 3600)
    return response


@router.get("/account", name="account")
@permission("self")
async def account(request: Request) -> Response:
    info = session(request)
    svc = services(request)
    acc = await run_in_threadpool(svc.accounts.get, info.account.username)
    return render(request, "account.html.j2", title="My account", account=acc,
                  signed_in_at=info.created_at)
