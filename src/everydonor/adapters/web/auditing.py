"""The audit trail as the web app shows it (SR-07), scoped by centre (SR-06).

Which entries a user sees (the rule is part of the query, so a page can never show more):

- a **system administrator** (an account with no centre) sees every entry;
- **everyone else** with ``audit.read`` (centre administrator, data manager, monitor) sees an
  entry when

  1. it is about a **patient of the user's centre** (object type ``patient``, the patient's
     centre now; soft-deleted patients included). The registry audits everything done to a
     patient under its UPN: case entry and edits, events, scores, snapshots, signatures,
     exports, consent, deletion;
  2. it is about an **account of the user's centre** (object type ``user``, the account's
     centre now): account creation and changes, sign-ins, failed sign-ins, lock-outs,
     logouts and time-outs of that centre's staff;
  3. or the user made it **and** it names neither a patient nor an account (own actions on
     the user's centre's patients and accounts are already shown by 1 and 2).

So a centre never sees another centre's UPNs or usernames, not even through its own staff's
actions (an account moved to another centre by a system administrator takes its account
entries with it). Entries about system-administrator accounts, about usernames that do not
exist (failed sign-ins with a mistyped name) and about the registry itself (initialisation,
upgrades, backups) are for system administrators only.

Filters: actor (part of the username), action (its beginning: ``user.`` gives every account
action), object (part of the UPN or username), and a UTC date range (entry times are stored as
UTC ISO 8601 strings, so a date compares as text). Newest first.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from everydonor.adapters.registry.models import AuditLog, Centre, Patient, UserAccount
from everydonor.adapters.registry.store import Registry

PAGE = 50


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    object_id: str = ""
    since: dt.date | None = None
    until: dt.date | None = None

    @property
    def active(self) -> bool:
        return bool(self.actor or self.action or self.object_id or self.since or self.until)


def visible_to(centre: str | None, username: str) -> ColumnElement[bool] | None:
    """The scoping rule of the module docstring as a WHERE clause (None: everything)."""
    if centre is None:
        return None
    patients = (select(Patient.upn).join(Centre, Centre.id == Patient.centre_id)
                .where(Centre.code == centre))
    accounts = select(UserAccount.username).where(UserAccount.centre_code == centre)
    return or_(
        and_(AuditLog.object_type == "patient", AuditLog.object_id.in_(patients)),
        and_(AuditLog.object_type == "user", AuditLog.object_id.in_(accounts)),
        and_(AuditLog.actor == username, AuditLog.object_type.not_in(("patient", "user"))),
    )


def _where(centre: str | None, username: str, f: AuditFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    scope = visible_to(centre, username)
    if scope is not None:
        where.append(scope)
    if f.actor:
        where.append(AuditLog.actor.contains(f.actor, autoescape=True))
    if f.action:
        where.append(AuditLog.action.startswith(f.action, autoescape=True))
    if f.object_id:
        where.append(AuditLog.object_id.contains(f.object_id, autoescape=True))
    if f.since is not None:
        where.append(AuditLog.at >= f.since.isoformat())
    if f.until is not None:
        where.append(AuditLog.at < (f.until + dt.timedelta(days=1)).isoformat())
    return where


def entry(e: AuditLog) -> dict[str, Any]:
    return {"seq": e.seq, "at": e.at, "time": utc_seconds(e.at), "actor": e.actor, "action": e.action,
            "object_type": e.object_type, "object_id": e.object_id, "reason": e.reason,
            "payload": payload_text(e.payload), "request_id": e.request_id, "hash": e.hash}


def utc_seconds(at: str) -> str:
    """A stored UTC time (ISO 8601) to the second, as the trail shows it."""
    try:
        when = dt.datetime.fromisoformat(at)
    except ValueError:
        return at
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def payload_text(payload: Any) -> str:
    """The payload as one line of JSON (shown as escaped text, never as HTML)."""
    if payload in (None, {}, []):
        return ""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)


def search(registry: Registry, *, centre: str | None, username: str, f: AuditFilter,
           page: int = 1, per_page: int = PAGE) -> dict[str, Any]:
    """One page of the entries the user may see, newest first, and how many there are."""
    where = _where(centre, username, f)
    with registry.reading() as s:
        total = int(s.execute(select(func.count()).select_from(AuditLog).where(*where))
                    .scalar_one())
        rows = s.execute(select(AuditLog).where(*where).order_by(AuditLog.seq.desc())
                         .limit(per_page).offset((page - 1) * per_page)).scalars()
        entries = [entry(e) for e in rows]
    return {"entries": entries, "total": total, "page": page,
            "pages": max(1, -(-total // per_page))}


def actions(registry: Registry, *, centre: str | None, username: str) -> list[str]:
    """The actions of the entries the user may see (the filter's suggestions)."""
    where = _where(centre, username, AuditFilter())
    with registry.reading() as s:
        return sorted(str(a) for a in s.execute(select(AuditLog.action).where(*where)
                                                .distinct()).scalars())


def about_patient(registry: Registry, upn: str) -> list[dict[str, Any]]:
    """Every entry about one patient (the caller has checked the patient is the user's)."""
    with registry.reading() as s:
        rows = s.execute(select(AuditLog).where(AuditLog.object_type == "patient",
                                                AuditLog.object_id == upn)
                         .order_by(AuditLog.seq.desc())).scalars()
        return [entry(e) for e in rows]


def about_account(registry: Registry, username: str, limit: int = 20) -> list[dict[str, Any]]:
    """The latest entries about one account (the caller has checked it is the user's to see):
    its changes, sign-ins, failures, logouts."""
    with registry.reading() as s:
        rows = s.execute(select(AuditLog).where(AuditLog.object_type == "user",
                                                AuditLog.object_id == username)
                         .order_by(AuditLog.seq.desc()).limit(limit)).scalars()
        return [entry(e) for e in rows]
