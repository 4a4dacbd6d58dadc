"""Accounts, sign-in, sessions and electronic signatures, kept in the registry (SR-01 to SR-04,
SR-07, SR-09).

Every change to an account, every sign-in (success, failure, lock-out), every logout and every
signature is an entry in the registry's hash-chained audit trail, written in the same
transaction. Secrets never enter the audit trail or the row history: passwords are kept only
as argon2id hashes (``$argon2id$``), TOTP secrets only in ``user_credential``, session tokens
only as their SHA-256.

Times are passed in (``now``) so that lock-out and time-outs are tested by moving a clock, not
by waiting.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update

from everydonor.adapters.registry import audit
from everydonor.adapters.registry.history import WriteContext, change
from everydonor.adapters.registry.models import (
    Patient,
    Signature,
    Snapshot,
    UserAccount,
    UserCredential,
    WebSession,
)
from everydonor.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from everydonor.adapters.registry.store import Registry

#: The roles of SR-06, in the order the user list shows them.
ROLES: dict[str, str] = {
    "system_admin": "System administrator (every centre)",
    "centre_admin": "Centre administrator",
    "data_manager": "Data manager",
    "data_entry": "Data entry",
    "physician": "Physician / PI (signs)",
    "hla_lab": "HLA laboratory",
    "statistician": "Statistician (de-identified data only)",
    "monitor": "Monitor / auditor (read and audit)",
}
#: Roles that must give a second factor (SR-03): administrators and every role that signs.
TOTP_ROLES = frozenset({"system_admin", "centre_admin", "physician"})
#: Roles whose signature means something clinically (SR-09).
SIGNING_ROLES = frozenset({"physician"})
SIGNATURE_MEANINGS: dict[str, str] = {
    "authored": "I authored this donor selection and take responsibility for it.",
    "reviewed": "I reviewed this donor selection and its reasons and found them correct.",
    "approved": "I approve this donor selection for the treating team.",
}
MIN_PASSWORD = 12
MAX_PASSWORD = 256
#: SR-02: after this many failures in a row the account is locked, for a time that doubles
#: with every further failure (``LOCK_BASE`` × 2^(n − 5)), up to ``LOCK_MAX``.
MAX_FAILURES = 5
LOCK_BASE = dt.timedelta(minutes=1)
LOCK_MAX = dt.timedelta(hours=1)
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")
_HASHER = PasswordHasher()  # argon2id, m=65536 KiB, t=3, p=4 (argon2-cffi defaults)
#: A hash to verify against when the username is unknown, so that the answer takes as long.
_DUMMY_HASH = _HASHER.hash("everydonor-no-such-user")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password_policy(password: str, *, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password has at least {MIN_PASSWORD} characters",
                         person=username, field="password", value=f"{len(password)} characters")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"a password has at most {MAX_PASSWORD} characters", person=username,
                         field="password", value=f"{len(password)} characters")
    if password.strip().lower() == username.lower():
        raise InputError("the password must not be the username", person=username,
                         field="password")


def check_role(role: str, centre: str | None) -> None:
    if role not in ROLES:
        raise InputError(f"unknown role; the roles are: {', '.join(ROLES)}", field="--role",
                         value=role)
    if role == "system_admin" and centre is not None:
        raise InputError("a system administrator works for every centre: give no --centre",
                         field="--centre", value=centre)
    if role != "system_admin" and not centre:
        raise InputError(f"a {role} works for one centre: give --centre CODE", field="--centre")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Account:
    """An account as the web app sees it (no secrets)."""

    id: str
    username: str
    display_name: str
    role: str
    centre: str | None
    disabled: bool
    needs_totp: bool
    has_totp: bool
    last_login_at: dt.datetime | None = None
    #: Sign-in state for the access review (SR-22): failures in a row, lock-out, password age.
    failed_logins: int = 0
    locked_until: dt.datetime | None = None
    password_changed_at: dt.datetime | None = None

    def document(self) -> dict[str, Any]:
        return {"username": self.username, "display_name": self.display_name,
                "role": self.role, "centre": self.centre, "disabled": self.disabled,
                "totp": self.has_totp, "totp_required": self.needs_totp,
                "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None}


def _account(user: UserAccount, cred: UserCredential | None) -> Account:
    return Account(user.id, user.username, user.display_name, user.role, user.centre_code,
                   user.disabled, user.role in TOTP_ROLES,
                   cred is not None and cred.totp_secret is not None,
                   cred.last_login_at if cred else None,
                   cred.failed_logins if cred else 0,
                   cred.locked_until if cred else None,
                   cred.password_changed_at if cred else None)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session: who, which CSRF token, whether the second factor was given."""

    id: str
    account: Account
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    mfa_at: dt.datetime | None

    @property
    def complete(self) -> bool:
        """Signed in fully: the second factor given wherever the role needs it."""
        return self.mfa_at is not None or not self.account.needs_totp


class LoginFailed(InputError):
    """Wrong username or password, or a locked or disabled account (the message never says
    which of username and password was wrong)."""


class Accounts:
    """The account operations on one registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # -- accounts ------------------------------------------------------------------------------

    def create(self, username: str, *, role: str, centre: str | None, display_name: str,
               password: str, actor: str, reason: str = "account created",
               now: dt.datetime) -> dict[str, Any]:
        """A new account. Returns its document and, for roles that need a second factor, the
        TOTP secret and provisioning URI (shown once)."""
        username = username.strip()
        if not _USERNAME.match(username):
            raise InputError("a username is 3-64 characters: lower-case letters, digits, '.', "
                             "'_' or '-', starting with a letter", person=username,
                             field="username", value=repr(username))
        display_name = " ".join(display_name.split())
        if not display_name or len(display_name) > 200:
            raise InputError("the printed name (for signatures) is 1-200 characters",
                             person=username, field="display_name", value=repr(display_name))
        centre = centre.strip() if centre else None
        check_role(role, centre)
        check_password_policy(password, username=username)
        secret = pyotp.random_base32() if role in TOTP_ROLES else None
        password_hash = hash_password(password)
        with self.registry.transaction(actor, reason) as (s, ctx):
            known = s.execute(select(UserAccount).where(UserAccount.username == username)
                              ).scalar_one_or_none()
            if known is not None:
                state = "disabled" if known.disabled else "active"
                raise InputError(f"the username {username!r} exists ({state}); usernames are "
                                 "never reused", person=username, field="username",
                                 value=username)
            user = UserAccount(id=_new_id(), username=username, display_name=display_name,
                               role=role, centre_code=centre, disabled=False, **ctx.stamp())
            s.add(user)
            s.flush()
            s.add(UserCredential(user_id=user.id, password_hash=password_hash,
                                 password_changed_at=ctx.now, totp_secret=secret,
                                 totp_last_step=None, failed_logins=0))
            audit.append(s, now=ctx.now, actor=ctx.actor, action="user.create",
                         object_type="user", object_id=username, reason=ctx.reason,
                         payload={"role": role, "centre": centre, "display_name": display_name,
                                  "totp": secret is not None}, request_id=ctx.request_id)
        out: dict[str, Any] = {"username": username, "role": role, "centre": centre,
                               "display_name": display_name}
        if secret is not None:
            out["totp_secret"] = secret
            out["totp_uri"] = pyotp.TOTP(secret).provisioning_uri(name=username,
                                                                   issuer_name="everydonor")
        return out

    def get(self, username: str) -> Account:
        with self.registry.reading() as s:
            user = s.execute(select(UserAccount).where(UserAccount.username == username)
                             ).scalar_one_or_none()
            if user is None:
                raise InputError(f"no account {username!r}", field="username", value=username)
            return _account(user, s.get(UserCredential, user.id))

    def list(self, *, centre: str | None = None) -> builtins.list[Account]:
        """Every account (SR-22 access review: role, centre, last sign-in), or one centre's."""
        with self.registry.reading() as s:
            query = select(UserAccount, UserCredential).join(
                UserCredential, UserCredential.user_id == UserAccount.id)
            if centre is not None:
                query = query.where(UserAccount.centre_code == centre)
            return [_account(u, c) for u, c in
                    s.execute(query.order_by(UserAccount.username)).all()]

    def count(self) -> int:
        with self.registry.reading() as s:
            return len(s.execute(select(UserAccount.id)).all())

    def _change(self, username: str, values: Mapping[str, Any], *, action: str, actor: str,
                reason: str, revoke: bool) -> Account:
        with self.registry.transaction(actor, reason) as (s, ctx):
            user = s.execute(select(UserAccount).where(UserAccount.username == username)
                             .with_for_update()).scalar_one_or_none()
            if user is None:
                raise InputError(f"no account {username!r}", field="username", value=username)
            if "role" in values:
                check_role(values["role"], values.get("centre_code", user.centre_code))
            diffs = change(s, user, dict(values), ctx, patient_id=None)
            if revoke:
                _revoke_all(s, user.id, ctx.now, "account change")
            audit.append(s, now=ctx.now, actor=ctx.actor, action=action, object_type="user",
                         object_id=username, reason=ctx.reason, payload={"changes": diffs},
                         request_id=ctx.request_id)
            return _account(user, s.get(UserCredential, user.id))

    def disable(self, username: str, *, actor: str, reason: str) -> Account:
        """SR-01: disabled, never deleted; its sessions end now."""
        return self._change(username, {"disabled": True}, action="user.disable", actor=actor,
                            reason=reason, revoke=True)

    def enable(self, username: str, *, actor: str, reason: str) -> Account:
        return self._change(username, {"disabled": False}, action="user.enable", actor=actor,
                            reason=reason, revoke=True)

    def set_role(self, username: str, role: str, centre: str | None, *, actor: str,
                 reason: str) -> Account:
        """A privilege change: every session of the account ends (SR-04)."""
        return self._change(username, {"role": role, "centre_code": centre},
                            action="user.role", actor=actor, reason=reason, revoke=True)

    def set_password(self, username: str, password: str, *, actor: str, reason: str,
                     now: dt.datetime) -> None:
        check_password_policy(password, username=username)
        digest = hash_password(password)
        with self.registry.transaction(actor, reason) as (s, ctx):
            user, cred = _user_and_credential(s, username)
            cred.password_hash = digest
            cred.password_changed_at = ctx.now
            cred.failed_logins = 0
            cred.locked_until = None
            _revoke_all(s, user.id, ctx.now, "password change")
            audit.append(s, now=ctx.now, actor=ctx.actor, action="user.password",
                         object_type="user", object_id=username, reason=ctx.reason,
                         payload={}, request_id=ctx.request_id)

    def reset_totp(self, username: str, *, actor: str, reason: str) -> dict[str, Any]:
        """A new TOTP secret (the old one stops working), shown once."""
        secret = pyotp.random_base32()
        with self.registry.transaction(actor, reason) as (s, ctx):
            user, cred = _user_and_credential(s, username)
            cred.totp_secret = secret
            cred.totp_last_step = None
            _revoke_all(s, user.id, ctx.now, "second factor reset")
            audit.append(s, now=ctx.now, actor=ctx.actor, action="user.totp_reset",
                         object_type="user", object_id=username, reason=ctx.reason,
                         payload={}, request_id=ctx.request_id)
        return {"username": username, "totp_secret": secret,
                "totp_uri": pyotp.TOTP(secret).provisioning_uri(name=username,
                                                                issuer_name="everydonor")}

    def unlock(self, username: str, *, actor: str, reason: str) -> None:
        with self.registry.transaction(actor, reason) as (s, ctx):
            _, cred = _user_and_credential(s, username)
            cred.failed_logins = 0
            cred.locked_until = None
            audit.append(s, now=ctx.now, actor=ctx.actor, action="user.unlock",
                         object_type="user", object_id=username, reason=ctx.reason,
                         payload={}, request_id=ctx.request_id)

    # -- signing in ----------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, *, now: dt.datetime,
                     ip: str | None = None) -> Account:
        """Check a password (SR-02). A failure is audited and counted; the fifth in a row locks
        the account (back-off doubling per further failure). Raises :class:`LoginFailed`."""
        username = username.strip()[:64]
        where = {"ip": ip} if ip else {}
        with self.registry.transaction(username or "(blank)", "sign-in") as (s, ctx):
            row = s.execute(select(UserAccount, UserCredential)
                            .join(UserCredential, UserCredential.user_id == UserAccount.id)
                            .where(UserAccount.username == username)).one_or_none()
            if row is None:
                _verify(_DUMMY_HASH, password)
                audit.append(s, now=now, actor=username or "(blank)", action="login.failed",
                             object_type="user", object_id=username or "(blank)",
                             reason="unknown username", payload=where,
                             request_id=ctx.request_id)
                failure: str | None = "wrong username or password"
            else:
                user, cred = row
                failure = self._check(s, ctx, user, cred, password, now=now, where=where)
                if failure is None:
                    return _account(user, cred)
        raise LoginFailed(failure or "wrong username or password", person=username,
                          field="password")

    def _check(self, s: Session, ctx: WriteContext, user: UserAccount, cred: UserCredential,
               password: str, *, now: dt.datetime, where: dict[str, Any]) -> str | None:
        def note(action: str, reason: str, payload: dict[str, Any]) -> None:
            audit.append(s, now=now, actor=user.username, action=action, object_type="user",
                         object_id=user.username, reason=reason, payload={**where, **payload},
                         request_id=ctx.request_id)

        if cred.locked_until is not None and now < cred.locked_until:
            _verify(_DUMMY_HASH, password)
            note("login.failed", "account locked", {"locked_until":
                                                    cred.locked_until.isoformat()})
            return (f"the account is locked after {cred.failed_logins} failed sign-ins until "
                    f"{cred.locked_until:%Y-%m-%d %H:%M:%S} UTC")
        if not _verify(cred.password_hash, password):
            cred.failed_logins += 1
            payload: dict[str, Any] = {"failures": cred.failed_logins}
            if cred.failed_logins >= MAX_FAILURES:
                wait = min(LOCK_BASE * 2 ** (cred.failed_logins - MAX_FAILURES), LOCK_MAX)
                cred.locked_until = now + wait
                payload["locked_until"] = cred.locked_until.isoformat()
                note("login.locked", "too many failed sign-ins", payload)
                return (f"wrong username or password; the account is now locked until "
                        f"{cred.locked_until:%Y-%m-%d %H:%M:%S} UTC")
            note("login.failed", "wrong password", payload)
            return "wrong username or password"
        if user.disabled:
            note("login.failed", "account disabled", {})
            return "this account is disabled; ask your centre administrator"
        if _HASHER.check_needs_rehash(cred.password_hash):
            cred.password_hash = hash_password(password)  # SR-02: rehash on new parameters
        cred.failed_logins = 0
        cred.locked_until = None
        cred.last_login_at = now
        note("login.password", "password accepted", {})
        return None

    def verify_totp(self, username: str, code: str, *, now: dt.datetime) -> bool:
        """A TOTP code (30-second steps, one step of clock drift either side), never the same
        step twice. Failures count towards the lock-out like wrong passwords."""
        code = code.strip().replace(" ", "")
        with self.registry.transaction(username, "second factor") as (s, ctx):
            user, cred = _user_and_credential(s, username)
            ok = False
            if cred.totp_secret and code.isdigit() and len(code) == 6 and not (
                    cred.locked_until is not None and now < cred.locked_until):
                totp = pyotp.TOTP(cred.totp_secret)
                step = int(now.timestamp()) // totp.interval
                for candidate in (step, step - 1, step + 1):
                    if hmac.compare_digest(totp.generate_otp(candidate), code) and (
                            cred.totp_last_step is None or candidate > cred.totp_last_step):
                        cred.totp_last_step = candidate
                        ok = True
                        break
            if ok:
                cred.failed_logins = 0
            else:
                cred.failed_logins += 1
                if cred.failed_logins >= MAX_FAILURES:
                    wait = min(LOCK_BASE * 2 ** (cred.failed_logins - MAX_FAILURES), LOCK_MAX)
                    cred.locked_until = now + wait
            audit.append(s, now=now, actor=username, action="login.totp" if ok
                         else "login.totp_failed", object_type="user", object_id=username,
                         reason="second factor accepted" if ok else "wrong or reused code",
                         payload={"failures": cred.failed_logins}, request_id=ctx.request_id)
            del user
        return ok

    # -- sessions ------------------------------------------------------------------------------

    def open_session(self, account: Account, *, now: dt.datetime, absolute: dt.timedelta,
                     mfa: bool, ip: str | None, user_agent: str | None,
                     replaces: str | None = None) -> tuple[str, SessionInfo]:
        """A new session (a new id: SR-04 rotation), ending ``replaces`` if given. Returns the
        cookie token (never stored) and the session."""
        token = secrets.token_urlsafe(32)
        sid = token_digest(token)
        csrf = secrets.token_urlsafe(32)
        with self.registry.transaction(account.username, "sign-in") as (s, ctx):
            created = now
            if replaces is not None:
                old = s.get(WebSession, replaces)
                if old is not None and old.revoked_at is None:
                    old.revoked_at = now
                    old.revoked_why = "rotated"
                    # the second factor completing this account's password step keeps that
                    # step's start (the absolute time-out counts from it); a new sign-in,
                    # by anyone, starts a session of its own
                    if mfa and old.user_id == account.id and old.mfa_at is None:
                        created = old.created_at
            s.add(WebSession(id=sid, user_id=account.id, created_at=created, last_seen_at=now,
                             expires_at=created + absolute, mfa_at=now if mfa else None,
                             revoked_at=None, revoked_why=None, csrf_token=csrf,
                             ip=(ip or "")[:64] or None, user_agent=(user_agent or "")[:500]
                             or None))
            if mfa or not account.needs_totp:
                audit.append(s, now=now, actor=account.username, action="login",
                             object_type="user", object_id=account.username,
                             reason="signed in", payload={"session": sid[:12],
                                                          "mfa": mfa},
                             request_id=ctx.request_id)
        return token, SessionInfo(sid, account, csrf, created, now, now if mfa else None)

    def session(self, token: str | None, *, now: dt.datetime, idle: dt.timedelta,
                touch_every: dt.timedelta = dt.timedelta(seconds=30)) -> SessionInfo | None:
        """The live session of a cookie token, or None (unknown, revoked, idle too long, past
        its absolute time-out, or its account disabled). A session found expired is ended and
        audited."""
        if not token or len(token) > 100:
            return None
        sid = token_digest(token)
        with self.registry.reading() as s:
            row = s.execute(select(WebSession, UserAccount, UserCredential)
                            .join(UserAccount, UserAccount.id == WebSession.user_id)
                            .join(UserCredential, UserCredential.user_id == UserAccount.id)
                            .where(WebSession.id == sid)).one_or_none()
            if row is None or row[0].revoked_at is not None:
                return None
            ws, user, cred = row
            why = ("disabled" if user.disabled else "absolute time-out"
                   if now >= ws.expires_at else "idle time-out"
                   if now - ws.last_seen_at >= idle else None)
            info = SessionInfo(sid, _account(user, cred), ws.csrf_token, ws.created_at, now,
                               ws.mfa_at)
            stale = now - ws.last_seen_at >= touch_every
        if why is not None:
            self.end_session(sid, now=now, why=why, actor=info.account.username)
            return None
        if stale:
            with self.registry.engine.begin() as conn:
                conn.execute(update(WebSession).where(WebSession.id == sid)
                             .values(last_seen_at=now))
        return info

    def end_session(self, sid: str, *, now: dt.datetime, why: str, actor: str) -> bool:
        """Logout (or a time-out): the session is revoked server-side and the end audited."""
        with self.registry.transaction(actor, why) as (s, ctx):
            ws = s.get(WebSession, sid)
            if ws is None or ws.revoked_at is not None:
                return False
            ws.revoked_at = now
            ws.revoked_why = why[:32]
            audit.append(s, now=now, actor=actor, action="logout" if why == "logout"
                         else "session.end", object_type="user", object_id=actor, reason=why,
                         payload={"session": sid[:12]}, request_id=ctx.request_id)
        return True

    # -- signatures ----------------------------------------------------------------------------

    def sign(self, snapshot_id: str, *, account: Account, meaning: str, now: dt.datetime,
             reason: str) -> dict[str, Any]:
        """Sign a snapshot (the caller has just re-authenticated the signer: password and
        TOTP). Bound to the snapshot's SHA-256 and to the digest of the case data now."""
        if account.role not in SIGNING_ROLES:
            raise InputError(f"a {account.role} does not sign donor selections",
                             person=account.username, field="role", value=account.role)
        if meaning not in SIGNATURE_MEANINGS:
            raise InputError(f"the meaning of a signature is one of: "
                             f"{', '.join(SIGNATURE_MEANINGS)}", person=account.username,
                             field="meaning", value=meaning)
        with self.registry.transaction(account.username, reason) as (s, ctx):
            snap = s.get(Snapshot, snapshot_id)
            if snap is None:
                raise InputError(f"no snapshot {snapshot_id!r}", field="snapshot",
                                 value=snapshot_id)
            if hashlib.sha256(snap.answer.encode()).hexdigest() != snap.sha256:
                raise InputError("the snapshot does not match its SHA-256: it cannot be signed",
                                 field="snapshot", value=snapshot_id)
            patient = s.get(Patient, snap.patient_id)
            assert patient is not None
            data_sha, version = self.registry.data_digest_in(s, patient)
            sig = Signature(id=_new_id(), snapshot_id=snap.id, patient_id=patient.id,
                            user_id=account.id, username=account.username,
                            printed_name=account.display_name, role=account.role,
                            meaning=meaning, statement=SIGNATURE_MEANINGS[meaning],
                            signed_at=now, snapshot_sha256=snap.sha256, data_sha256=data_sha,
                            patient_version=version)
            s.add(sig)
            audit.append(s, now=now, actor=account.username, action="sign",
                         object_type="patient", object_id=patient.upn, reason=ctx.reason,
                         payload={"snapshot": snap.id, "kind": snap.kind, "meaning": meaning,
                                  "snapshot_sha256": snap.sha256, "data_sha256": data_sha},
                         request_id=ctx.request_id)
            return signature_document(sig, current_data=data_sha, snapshot_sha=snap.sha256)

    def signatures(self, snapshot_id: str) -> builtins.list[dict[str, Any]]:
        """The signatures of a snapshot, each with its state now: ``valid``, or ``superseded``
        (the case data changed since signing) or ``broken`` (the snapshot no longer matches)."""
        with self.registry.reading() as s:
            snap = s.get(Snapshot, snapshot_id)
            if snap is None:
                return []
            patient = s.get(Patient, snap.patient_id)
            assert patient is not None
            data_sha, _ = self.registry.data_digest_in(s, patient)
            actual = hashlib.sha256(snap.answer.encode()).hexdigest()
            rows = s.execute(select(Signature).where(Signature.snapshot_id == snapshot_id)
                             .order_by(Signature.signed_at)).scalars()
            return [signature_document(r, current_data=data_sha, snapshot_sha=actual)
                    for r in rows]


def signature_document(sig: Signature, *, current_data: str, snapshot_sha: str
                       ) -> dict[str, Any]:
    state = ("broken" if snapshot_sha != sig.snapshot_sha256 else
             "superseded" if current_data != sig.data_sha256 else "valid")
    return {"id": sig.id, "snapshot": sig.snapshot_id, "username": sig.username,
            "printed_name": sig.printed_name, "role": sig.role, "meaning": sig.meaning,
            "statement": sig.statement, "signed_at": sig.signed_at.isoformat(),
            "snapshot_sha256": sig.snapshot_sha256, "data_sha256": sig.data_sha256,
            "patient_version": sig.patient_version, "state": state,
            "explanation": {
                "valid": "the signed snapshot and the case data are unchanged since signing",
                "superseded": "the case data changed after signing: this decision is "
                              "superseded and must be re-ranked and re-signed",
                "broken": "the snapshot no longer matches the SHA-256 that was signed"}[state]}


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _user_and_credential(s: Session, username: str) -> tuple[UserAccount, UserCredential]:
    row = s.execute(select(UserAccount, UserCredential)
                    .join(UserCredential, UserCredential.user_id == UserAccount.id)
                    .where(UserAccount.username == username)).one_or_none()
    if row is None:
        raise InputError(f"no account {username!r}", field="username", value=username)
    return row[0], row[1]


def _revoke_all(s: Session, user_id: str, now: dt.datetime, why: str) -> None:
    s.execute(update(WebSession).where(WebSession.user_id == user_id,
                                       WebSession.revoked_at.is_(None))
              .values(revoked_at=now, revoked_why=why[:32]))


def _new_id() -> str:
    from everydonor.adapters.registry.store import new_id

    return new_id()
