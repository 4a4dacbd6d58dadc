"""Accounts (SR-01, SR-03, SR-22), the audit trail (SR-07) and a patient's row history (SR-08).

``/admin/users`` (``users.manage``) is the access review: every account of the administrator's
centre (a system administrator: every account) with role, centre, second factor, status, last
sign-in and failed sign-ins. ``/admin/users/new`` creates an account; ``/admin/users/{username}``
changes its role, disables or enables it (never deletes: SR-01), sets a new password, resets the
second factor or unlocks it. Every change goes through :class:`Accounts`, so the row history and
the audit entry (with the administrator's name and the reason given) are written in the same
transaction; every change needs a reason. Rules, checked here before anything is written:

- a centre administrator works on its own centre's accounts only (another centre's account, and
  any system administrator's, answers 404: the app's scoping of ``{username}``), never creates a
  system administrator nor promotes anyone to one;
- nobody changes their own account on these pages (role, status, password, second factor): a
  second administrator does, so that no one can raise or keep their own access alone;
- a username is never reused (SR-01), a disabled account included.

A new TOTP secret (a new account of a role that needs one, or a reset) and a generated password
are shown once, as text, on the page that answers the POST (``Cache-Control: no-store``); they
are never stored in clear nor written to the audit trail. A password the administrator typed is
not sent back in a refused form.

``/audit`` (``audit.read``): the hash-chained trail, its verification first, newest first, with
filters; what each user sees is scoped by centre (the rule: :mod:`..auditing`).
``/patients/{upn}/history`` (``audit.read``): every version of every row of the patient (who,
when, why, what changed; soft deletes marked) and the audit entries about it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from everydonor.adapters.registry.accounts import (
    MIN_PASSWORD,
    ROLES,
    TOTP_ROLES,
    Account,
    check_password_policy,
)
from everydonor.adapters.registry.models import Centre, UserAccount
from everydonor.adapters.web import auditing
from everydonor.adapters.web.http import Forbidden, actor, render, services, session
from everydonor.adapters.web.i18n import N_
from everydonor.adapters.web.policy import permission
from everydonor.errors import InputError

router = APIRouter(include_in_schema=False)
_REASON_MAX = 500
_TEXT_MAX = 200
_CENTRE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: An account not signed in for this long is flagged in the access review (SR-22).
INACTIVE_DAYS = 90
#: Generated passwords: 4 groups of 5 from 31 unambiguous characters (about 99 bits).
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_FIELDS = ("username", "display_name", "role", "centre", "password", "reason")
#: What the error summary calls each field.
LABELS = {"username": N_("Username"), "display_name": N_("Printed name (signatures)"),
          "role": N_("Role"), "centre": N_("Centre"), "password": N_("Password"),
          "reason": N_("Reason")}
#: The form each account action posts, and what its audit entry is called.
ACTIONS = ("role", "disable", "enable", "password", "totp", "unlock")


def generate_password() -> str:
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(4))


def _values(form: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for key in _FIELDS:
        raw = form.get(key)
        out[key] = raw[:1000] if isinstance(raw, str) else ""
    return out


def _me(request: Request) -> Account:
    return session(request).account


def _role_options(me: Account) -> list[tuple[str, str]]:
    """The roles this administrator may give (a centre administrator: not system admin)."""
    return [(r, label) for r, label in ROLES.items()
            if me.centre is None or r != "system_admin"]


def _reason(values: dict[str, str], errors: dict[str, str], *, required: bool = True) -> str:
    reason = " ".join(values["reason"].split())
    if not reason and required:
        errors["reason"] = N_("every change to an account needs a reason")
    elif len(reason) > _REASON_MAX:
        errors["reason"] = N_("the reason is at most 500 characters")
    return reason


def _known_centres(request: Request) -> list[str]:
    with services(request).registry.reading() as s:
        codes = set(s.execute(select(Centre.code)).scalars())
        codes |= {c for c in s.execute(select(UserAccount.centre_code).distinct()).scalars()
                  if c}
    return sorted(codes)


# -- the access review ---------------------------------------------------------------------------

def review_row(account: Account, now: dt.datetime) -> dict[str, Any]:
    locked = account.locked_until is not None and now < account.locked_until
    days = None if account.last_login_at is None else (now - account.last_login_at).days
    return {"account": account, "locked": locked, "days": days,
            "inactive": not account.disabled and (days is None or days >= INACTIVE_DAYS),
            "totp_missing": account.needs_totp and not account.has_totp}


@router.get("/admin/users", name="user_list")
@permission("users.manage")
def user_list(request: Request) -> Response:
    svc = services(request)
    me = _me(request)
    now = svc.now()
    rows = [review_row(a, now) for a in svc.accounts.list(centre=me.centre)]
    return render(request, "users.html.j2", title="Accounts", rows=rows, now=now,
                  centre=me.centre, inactive_days=INACTIVE_DAYS,
                  counts={"total": len(rows),
                          "active": sum(1 for r in rows if not r["account"].disabled),
                          "locked": sum(1 for r in rows if r["locked"]),
                          "inactive": sum(1 for r in rows if r["inactive"])})


# -- creating an account ---------------------------------------------------------------------------

def _new_form(request: Request, values: dict[str, str], errors: dict[str, str] | None = None,
              status_code: int = 200) -> Response:
    me = _me(request)
    return render(request, "user_new.html.j2", status_code=status_code, title="New account",
                  values=values, errors=errors or {}, role_options=_role_options(me),
                  centres=_known_centres(request) if me.centre is None else [],
                  totp_roles=sorted(TOTP_ROLES), min_password=MIN_PASSWORD, labels=LABELS)


@router.get("/admin/users/new", name="user_new")
@permission("users.manage")
def user_new(request: Request) -> Response:
    return _new_form(request, dict.fromkeys(_FIELDS, ""))


@router.post("/admin/users", name="user_create")
@permission("users.manage")
async def user_create(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(_create, request, _values(form))


def _centre_for(me: Account, role: str, values: dict[str, str], errors: dict[str, str]
                ) -> str | None:
    """The centre an account of ``role`` gets: a centre administrator's own; chosen by a
    system administrator (none for a system administrator's account)."""
    if me.centre is not None:
        return me.centre
    centre = values["centre"].strip()
    if role == "system_admin":
        if centre:
            errors["centre"] = N_("a system administrator works for every centre: leave the "
                                  "centre empty")
        return None
    if not centre:
        errors["centre"] = N_("choose the centre the account works for")
    elif not _CENTRE_RE.match(centre):
        errors["centre"] = N_("a centre code is 1-64 letters, digits, '.', '_' or '-'")
    return centre or None


def _check_role(me: Account, role: str, errors: dict[str, str]) -> None:
    if role not in ROLES:
        errors["role"] = N_("choose a role")
    elif role == "system_admin" and me.centre is not None:
        errors["role"] = N_("a centre administrator cannot make anyone a system administrator: "
                            "ask a system administrator")


def _password(values: dict[str, str], username: str, errors: dict[str, str]
              ) -> tuple[str, bool]:
    """The password typed, or a generated one (and whether it was generated)."""
    typed = values["password"]
    if not typed:
        return generate_password(), True
    try:
        check_password_policy(typed, username=username)
    except InputError as exc:
        errors["password"] = exc.message
    return typed, False


_ERROR_FIELDS = {"username": "username", "display_name": "display_name", "--role": "role",
                 "--centre": "centre", "password": "password"}


def _exists(svc: Any, username: str) -> bool:
    try:
        svc.accounts.get(username)
    except InputError:
        return False
    return True


def _create(request: Request, values: dict[str, str]) -> Response:
    svc = services(request)
    me = _me(request)
    errors: dict[str, str] = {}
    username = values["username"].strip()
    display_name = " ".join(values["display_name"].split())
    if not username:
        errors["username"] = N_("give the username the person signs in with")
    elif _exists(svc, username):  # SR-01 (Accounts.create refuses it too)
        errors["username"] = N_("this username exists (perhaps disabled): usernames are never "
                                "reused; choose another")
    if not display_name:
        errors["display_name"] = N_("give the printed name (it appears on signatures)")
    elif len(display_name) > _TEXT_MAX:
        errors["display_name"] = N_("the printed name is at most 200 characters")
    role = values["role"].strip()
    _check_role(me, role, errors)
    centre = _centre_for(me, role, values, errors)
    password, generated = _password(values, username, errors)
    reason = _reason(values, errors, required=False) or "account created"
    if errors:
        return _new_form(request, values, errors, 422)
    try:
        out = svc.accounts.create(username, role=role, centre=centre,
                                  display_name=display_name, password=password,
                                  actor=actor(request), reason=reason, now=svc.now())
    except InputError as exc:
        errors[_ERROR_FIELDS.get(exc.field or "", "_form")] = exc.message
        return _new_form(request, values, errors, 422)
    return render(request, "user_created.html.j2", title="Account created", created=out,
                  password=password if generated else None,
                  account=svc.accounts.get(username))


# -- one account -------------------------------------------------------------------------------

def _user_page(request: Request, account: Account, *, form: str | None = None,
               values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
               shown: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    svc = services(request)
    me = _me(request)
    done = request.query_params.get("done")
    return render(request, "user.html.j2", status_code=status_code,
                  title="Account", row=review_row(account, svc.now()), a=account,
                  own=account.username == me.username, form=form,
                  values=values or dict.fromkeys(_FIELDS, ""), errors=errors or {},
                  shown=shown, done=done if done in ACTIONS else None,
                  role_options=_role_options(me),
                  centres=_known_centres(request) if me.centre is None else [],
                  entries=auditing.about_account(svc.registry, account.username),
                  min_password=MIN_PASSWORD)


@router.get("/admin/users/{username}", name="user_page")
@permission("users.manage")
def user_page(request: Request, username: str) -> Response:
    return _user_page(request, services(request).accounts.get(username))


async def _post(request: Request, username: str, action: str) -> Response:
    form = await request.form()
    return await run_in_threadpool(_act, request, username, action, _values(form))


@router.post("/admin/users/{username}/role", name="user_role")
@permission("users.manage")
async def user_role(request: Request, username: str) -> Response:
    return await _post(request, username, "role")


@router.post("/admin/users/{username}/disable", name="user_disable")
@permission("users.manage")
async def user_disable(request: Request, username: str) -> Response:
    return await _post(request, username, "disable")


@router.post("/admin/users/{username}/enable", name="user_enable")
@permission("users.manage")
async def user_enable(request: Request, username: str) -> Response:
    return await _post(request, username, "enable")


@router.post("/admin/users/{username}/password", name="user_password")
@permission("users.manage")
async def user_password(request: Request, username: str) -> Response:
    return await _post(request, username, "password")


@router.post("/admin/users/{username}/totp", name="user_totp")
@permission("users.manage")
async def user_totp(request: Request, username: str) -> Response:
    return await _post(request, username, "totp")


@router.post("/admin/users/{username}/unlock", name="user_unlock")
@permission("users.manage")
async def user_unlock(request: Request, username: str) -> Response:
    return await _post(request, username, "unlock")


def _act(request: Request, username: str, action: str, values: dict[str, str]) -> Response:
    svc = services(request)
    me = _me(request)
    account = svc.accounts.get(username)  # the app has checked it is this admin's to see
    if account.username == me.username:
        raise Forbidden("nobody changes their own account here (role, status, password, "
                        "second factor): ask another administrator")
    errors: dict[str, str] = {}
    reason = _reason(values, errors)
    who = actor(request)
    role, centre = account.role, account.centre
    password, generated = "", False
    now = svc.now()
    if action == "role":
        role = values["role"].strip()
        _check_role(me, role, errors)
        if "role" not in errors:
            centre = _centre_for(me, role, values, errors)
            if role == account.role and centre == account.centre:
                errors["role"] = N_("the account already has this role and centre")
    elif action == "disable" and account.disabled:
        errors["_form"] = N_("the account is already disabled")
    elif action == "enable" and not account.disabled:
        errors["_form"] = N_("the account is not disabled")
    elif action == "password":
        password, generated = _password(values, username, errors)
    elif action == "totp" and account.role not in TOTP_ROLES:
        errors["_form"] = N_("this role signs in without a second factor")
    elif action == "unlock" and not (account.failed_logins or account.locked_until):
        errors["_form"] = N_("the account is not locked and has no failed sign-ins")
    if errors:
        return _user_page(request, account, form=action, values=values, errors=errors,
                          status_code=422)
    shown: dict[str, Any] | None = None
    try:
        if action == "role":
            svc.accounts.set_role(username, role, centre, actor=who, reason=reason)
        elif action == "disable":
            svc.accounts.disable(username, actor=who, reason=reason)
        elif action == "enable":
            svc.accounts.enable(username, actor=who, reason=reason)
        elif action == "password":
            svc.accounts.set_password(username, password, actor=who, reason=reason, now=now)
            if generated:
                shown = {"password": password}
        elif action == "totp":
            shown = svc.accounts.reset_totp(username, actor=who, reason=reason)
        else:
            svc.accounts.unlock(username, actor=who, reason=reason)
    except InputError as exc:
        errors[_ERROR_FIELDS.get(exc.field or "", "_form")] = exc.message
        return _user_page(request, account, form=action, values=values, errors=errors,
                          status_code=422)
    if shown is not None:  # a secret to hand over: shown on this answer only
        return _user_page(request, svc.accounts.get(username), shown=shown, form=action)
    return RedirectResponse(f"/admin/users/{username}?done={action}", status_code=303)


# -- the audit trail ---------------------------------------------------------------------------

def _date(text: str, field: str, errors: dict[str, str]) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[field] = N_("a date is YYYY-MM-DD")
        return None


@router.get("/audit", name="audit_trail")
@permission("audit.read")
def audit_trail(request: Request, *,
                who: Annotated[str, Query(alias="actor", max_length=128)] = "",
                action: Annotated[str, Query(max_length=64)] = "",
                object_id: Annotated[str, Query(max_length=128)] = "",
                since: Annotated[str, Query(alias="from", max_length=10)] = "",
                until: Annotated[str, Query(alias="to", max_length=10)] = "",
                page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    svc = services(request)
    me = _me(request)
    errors: dict[str, str] = {}
    f = auditing.AuditFilter(actor=who.strip(), action=action.strip(),
                             object_id=object_id.strip(),
                             since=_date(since, "from", errors),
                             until=_date(until, "to", errors))
    result = auditing.search(svc.registry, centre=me.centre, username=me.username, f=f,
                             page=page)
    chain = svc.registry.verify_audit()
    query = {k: v for k, v in (("actor", f.actor), ("action", f.action),
                               ("object_id", f.object_id), ("from", since.strip()),
                               ("to", until.strip())) if v}
    return render(request, "audit.html.j2", status_code=422 if errors else 200,
                  title="Audit trail", result=result, chain=chain, errors=errors,
                  values={"actor": who, "action": action, "object_id": object_id,
                          "from": since, "to": until},
                  query=query, filtered=f.active, centre=me.centre,
                  actions=auditing.actions(svc.registry, centre=me.centre,
                                          username=me.username), checked_at=svc.now())


# -- a patient's history -------------------------------------------------------------------------

#: What the history calls each table of a patient's record.
TABLE_LABELS = {"patient": N_("patient record"), "person": N_("person"),
                "typing": N_("HLA typing"), "disease": N_("disease"), "consent": N_("consent"),
                "hct": N_("transplant"), "follow_up_event": N_("follow-up event"),
                "antibody_test": N_("antibody test"), "antibody_result": N_("antibody result")}
#: Object types of audit entries (translated where shown).
OBJECT_TYPES = (N_("patient"), N_("user"), N_("registry"))


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def change_sets(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Row versions grouped by the write that made them (time, who, why), newest first; each
    change as text (old → new)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for version in versions:
        v: dict[str, Any] = {**version, "changes": [
            {"field": c["field"], "old": _shown(c["old"]), "new": _shown(c["new"])}
            for c in version["changes"]]}
        groups.setdefault((v["at"], v["by"], v["reason"]), []).append(v)
    out: list[dict[str, Any]] = []
    for (at, by, reason), rows in groups.items():
        rows.sort(key=lambda v: (v["table"] != "patient", v["table"], v["label"] or ""))
        out.append({"at": at, "time": auditing.utc_seconds(at), "by": by, "reason": reason,
                    "rows": rows,
                    "deletes": sum(1 for r in rows if r["operation"] == "delete"),
                    "inserts": sum(1 for r in rows if r["operation"] == "insert"),
                    "updates": sum(1 for r in rows if r["operation"] == "update")})
    out.sort(key=lambda g: g["at"], reverse=True)
    return out


@router.get("/patients/{upn}/history", name="patient_history")
@permission("audit.read")
def patient_history(request: Request, upn: str) -> Response:
    svc = services(request)
    history = svc.registry.history(upn)
    return render(request, "patient_history.html.j2", title=f"Patient {upn}: history", upn=upn,
                  history=history, sets=change_sets(history["versions"]),
                  table_labels=TABLE_LABELS,
                  entries=auditing.about_patient(svc.registry, upn))
