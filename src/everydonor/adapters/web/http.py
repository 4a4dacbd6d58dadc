"""Request helpers every router uses: the signed-in session, rendering, errors, the actor."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from everydonor.adapters.registry.accounts import SessionInfo
from everydonor.adapters.web import i18n
from everydonor.adapters.web.services import WebServices
from everydonor.errors import EverydonorError

SESSION_COOKIE = "everydonor_session"
LOGIN_CSRF_COOKIE = "everydonor_login_csrf"
LANG_COOKIE = "everydonor_lang"


class NotFound(Exception):
    """404: no such object — or one of another centre, which is answered the same way."""

    def __init__(self, what: str = "page") -> None:
        super().__init__(what)
        self.what = what


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotSignedIn(Exception):
    pass


def services(request: Request) -> WebServices:
    svc = request.app.state.services
    assert isinstance(svc, WebServices)
    return svc


def session(request: Request) -> SessionInfo:
    """The signed-in session (the app's authorisation has already required one)."""
    info = getattr(request.state, "session", None)
    if not isinstance(info, SessionInfo):
        raise NotSignedIn()
    return info


def maybe_session(request: Request) -> SessionInfo | None:
    info = getattr(request.state, "session", None)
    return info if isinstance(info, SessionInfo) else None


def actor(request: Request) -> str:
    """The name written into the registry's history and audit trail."""
    return session(request).account.username


def lang(request: Request) -> str:
    value = getattr(request.state, "lang", None)
    return value if isinstance(value, str) else i18n.DEFAULT_LANGUAGE


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(request: Request, template: str, status_code: int = 200, **context: Any
           ) -> HTMLResponse:
    svc = services(request)
    language = lang(request)
    info = maybe_session(request)
    base = {
        "request": request, "session": info,
        "user": info.account if info else None,
        "csrf_token": info.csrf_token if info else getattr(request.state, "login_csrf", ""),
        "lang": language, "demo": svc.settings.demo,
        "path": request.url.path,
        "can": (lambda perm: _can(info, perm)),
    }
    html = svc.env(language).get_template(template).render(**base, **context)
    return HTMLResponse(html, status_code=status_code)


def _can(info: SessionInfo | None, perm: str) -> bool:
    from everydonor.adapters.web.policy import allowed

    return info is not None and info.complete and allowed(info.account.role, perm)


def error_fields(exc: EverydonorError) -> dict[str, Any]:
    return {"error": str(exc), "message": exc.message, "person": exc.person,
            "field": exc.field, "value": exc.value, "locus": exc.locus, "role": exc.role}


def input_error_response(request: Request, exc: EverydonorError, status_code: int = 422
                         ) -> Response:
    """Bad input: a 4xx naming the person, field and value (the command line's message)."""
    if request.url.path.startswith("/api/"):
        return JSONResponse(error_fields(exc), status_code=status_code)
    if is_htmx(request):
        return render(request, "fragments/error.html.j2", status_code=status_code,
                      error=error_fields(exc))
    return render(request, "error.html.j2", status_code=status_code, title="Input refused",
                  error=error_fields(exc))
