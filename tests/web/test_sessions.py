"""Sessions and signing in, through the real app on a real registry (SR-02, SR-03, SR-04).

Sessions: idle and absolute time-outs (the app's clock is moved, not waited for), a new session
id at sign-in and again after the second factor (fixation), logout revoking server-side, every
session of an account ending on a privilege change, a disabled account, a new password or a
new second factor; cookie flags. Signing in: argon2id and rehash on new parameters, lock-out
with doubling back-off, audited failures that never say which of username and password was
wrong, the per-address rate limit, and TOTP (required per role, wrong and replayed codes
refused, counted towards the lock-out).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from everydonor.adapters.registry.accounts import MAX_FAILURES, TOTP_ROLES, token_digest
from everydonor.adapters.registry.models import AuditLog, UserAccount, UserCredential, WebSession
from everydonor.adapters.web.http import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from tests.web.conftest import CENTRE_A, WebEnv, csrf_of, password_of, user_name

PHYSICIAN = user_name("physician", CENTRE_A)
ENTRY = user_name("data_entry", CENTRE_A)  # no second factor needed


def audit(web: WebEnv, action: str, object_id: str | None = None) -> list[AuditLog]:
    with web.registry.reading() as s:
        q = select(AuditLog).where(AuditLog.action == action)
        if object_id is not None:
            q = q.where(AuditLog.object_id == object_id)
        rows = list(s.execute(q.order_by(AuditLog.seq)).scalars())
        s.expunge_all()
        return rows


def credential(web: WebEnv, username: str) -> UserCredential:
    with web.registry.reading() as s:
        cred = s.execute(select(UserCredential).join(
            UserAccount, UserAccount.id == UserCredential.user_id)
            .where(UserAccount.username == username)).scalar_one()
        s.expunge(cred)
        return cred


def session_row(web: WebEnv, token: str) -> WebSession | None:
    with web.registry.reading() as s:
        row = s.get(WebSession, token_digest(token))
        if row is not None:
            s.expunge(row)
        return row


def post_login(web: WebEnv, client: TestClient, username: str, password: str) -> Any:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


def post_code(client: TestClient, code: str) -> Any:
    token = csrf_of(client.get("/login/totp").text)
    return client.post("/login/totp", data={"code": code, "csrf_token": token})


def signed_in(client: TestClient) -> bool:
    r = client.get("/patients")
    if r.status_code == 200:
        return True
    assert r.status_code == 303 and r.headers["location"] == "/login", r.status_code
    return False


def with_cookie(web: WebEnv, token: str) -> TestClient:
    """A new browser that presents ``token`` as its session cookie (a stolen or kept one)."""
    c = web.client()
    # the domain the test client's jar files the app's own cookie under ("testserver" + .local)
    c.cookies.set(SESSION_COOKIE, token, domain="testserver.local", path="/")
    return c


def cookie_header(response: Any, name: str) -> str:
    found = [v for k, v in response.headers.multi_items()
             if k.lower() == "set-cookie" and v.startswith(f"{name}=")]
    assert len(found) == 1, found
    return found[0]


# -- SR-04 time-outs ------------------------------------------------------------------------------

def test_idle_timeout_ends_the_session_and_audits_it(web_db: WebEnv) -> None:
    c = web_db.login(ENTRY)
    web_db.clock.advance(minutes=29)
    assert signed_in(c)  # used within the idle time: still signed in (and touched)
    web_db.clock.advance(minutes=29)
    assert signed_in(c)
    web_db.clock.advance(minutes=31)
    assert not signed_in(c)
    ends = audit(web_db, "session.end", ENTRY)
    assert [e.reason for e in ends] == ["idle time-out"]
    # the row is revoked: moving the clock back does not bring the session back
    token = c.cookies[SESSION_COOKIE]
    row = session_row(web_db, token)
    assert row is not None and row.revoked_at is not None and row.revoked_why == "idle time-out"
    web_db.clock.advance(minutes=-31)
    assert not signed_in(with_cookie(web_db, token))


def test_idle_timeout_for_htmx_and_api_requests(web: WebEnv) -> None:
    c = web.login(ENTRY)
    web.clock.advance(minutes=31)
    r = c.get("/patients", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login"
    c = web.login(ENTRY)
    web.clock.advance(minutes=31)
    assert c.get("/api/v1/session").status_code == 401


def test_absolute_timeout_ends_even_a_busy_session(web: WebEnv) -> None:
    c = web.login(ENTRY)
    started = web.clock()
    while web.clock() - started + dt.timedelta(minutes=25) < dt.timedelta(hours=12):
        web.clock.advance(minutes=25)
        assert signed_in(c), web.clock() - started
    web.clock.now = started + dt.timedelta(hours=12)
    assert not signed_in(c)
    assert [e.reason for e in audit(web, "session.end", ENTRY)] == ["absolute time-out"]


def test_absolute_timeout_counts_from_the_password_step(web: WebEnv) -> None:
    """The TOTP step rotates the id but does not restart the absolute time-out."""
    c = web.client()
    assert post_login(web, c, PHYSICIAN, password_of(PHYSICIAN)).status_code == 303
    started = web.clock()
    web.clock.advance(minutes=5)
    assert post_code(c, web.code(PHYSICIAN)).status_code == 303
    row = session_row(web, c.cookies[SESSION_COOKIE])
    assert row is not None and row.created_at == started
    assert row.expires_at == started + dt.timedelta(hours=12)


def test_a_new_sign_in_restarts_the_absolute_timeout_and_never_inherits_another_users(
        web: WebEnv) -> None:
    """Signing in as someone else in a browser with an old session: the new session is the new
    user's own, with its own 12 hours (not what was left of the previous user's)."""
    c = web.login(ENTRY)
    for _ in range(11 * 60 // 20):  # 11 hours of use (never idle for 30 minutes)
        web.clock.advance(minutes=20)
        assert signed_in(c)
    other = user_name("data_manager", CENTRE_A)
    r = post_login(web, c, other, password_of(other))
    assert r.status_code == 303
    row = session_row(web, c.cookies[SESSION_COOKIE])
    assert row is not None and row.created_at == web.clock()
    for _ in range(2 * 60 // 20):  # past the first user's 12 hours
        web.clock.advance(minutes=20)
        assert signed_in(c)
    assert c.get("/api/v1/session").json()["username"] == other


# -- SR-04 rotation (session fixation) ----------------------------------------------------------

def test_a_planted_cookie_is_not_the_session_after_sign_in(web_db: WebEnv) -> None:
    planted = "attacker-chosen-session-token-0123456789"
    c = with_cookie(web_db, planted)
    assert not signed_in(c)
    web_db.login(ENTRY, client=c)
    assert c.cookies[SESSION_COOKIE] != planted
    assert signed_in(c)
    assert not signed_in(with_cookie(web_db, planted))


def test_sign_in_rotates_the_session_id_and_revokes_the_old_one(web_db: WebEnv) -> None:
    c = web_db.login(ENTRY)
    before = c.cookies[SESSION_COOKIE]
    r = post_login(web_db, c, ENTRY, password_of(ENTRY))  # signing in again, same browser
    assert r.status_code == 303
    after = c.cookies[SESSION_COOKIE]
    assert after != before
    row = session_row(web_db, before)
    assert row is not None and row.revoked_at is not None and row.revoked_why == "rotated"
    assert not signed_in(with_cookie(web_db, before))
    assert signed_in(c)


def test_the_second_factor_rotates_the_session_id_again(web_db: WebEnv) -> None:
    c = web_db.client()
    r = post_login(web_db, c, PHYSICIAN, password_of(PHYSICIAN))
    assert r.status_code == 303 and r.headers["location"] == "/login/totp"
    partial = c.cookies[SESSION_COOKIE]
    assert not signed_in(c)  # password only: no patient pages yet
    r = post_code(c, web_db.code(PHYSICIAN))
    assert r.status_code == 303 and r.headers["location"] == "/patients"
    full = c.cookies[SESSION_COOKIE]
    assert full != partial
    assert signed_in(c)
    # the password-only session is gone: it cannot be completed or used again
    stale = with_cookie(web_db, partial)
    assert stale.get("/login/totp").status_code == 303
    assert not signed_in(stale)


def test_the_database_keeps_only_the_digest_of_session_tokens(web: WebEnv) -> None:
    c = web.login(ENTRY)
    token = c.cookies[SESSION_COOKIE]
    with web.registry.reading() as s:
        rows = list(s.execute(select(WebSession)).scalars())
        assert any(r.id == hashlib.sha256(token.encode()).hexdigest() for r in rows)
        assert all(token not in str(getattr(r, col.key)) for r in rows
                   for col in WebSession.__table__.columns)


# -- SR-04 logout and account changes -------------------------------------------------------------

def test_logout_revokes_the_session_server_side_and_is_audited(web_db: WebEnv) -> None:
    c = web_db.login(ENTRY)
    token = c.cookies[SESSION_COOKIE]
    csrf = csrf_of(c.get("/patients").text)
    r = c.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert SESSION_COOKIE not in c.cookies
    # the old cookie, kept by a copy of the browser, no longer works
    kept = with_cookie(web_db, token)
    assert not signed_in(kept)
    assert kept.get("/api/v1/session").status_code == 401
    entries = audit(web_db, "logout", ENTRY)
    assert len(entries) == 1 and entries[0].actor == ENTRY
    assert entries[0].payload["session"] == token_digest(token)[:12]
    row = session_row(web_db, token)
    assert row is not None and row.revoked_why == "logout"


def test_logout_of_a_password_only_session(web: WebEnv) -> None:
    c = web.client()
    post_login(web, c, PHYSICIAN, password_of(PHYSICIAN))
    token = c.cookies[SESSION_COOKIE]
    csrf = csrf_of(c.get("/login/totp").text)
    assert c.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert with_cookie(web, token).get("/login/totp").status_code == 303  # to /login
    assert len(audit(web, "logout", PHYSICIAN)) == 1


def test_logout_needs_the_csrf_token(web: WebEnv) -> None:
    """A cross-site form cannot sign the user out (nor anything else)."""
    c = web.login(ENTRY)
    assert c.post("/logout").status_code == 403
    assert c.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert signed_in(c)


@pytest.mark.parametrize("change", ["set_role", "disable", "set_password", "reset_totp"])
def test_account_changes_end_every_session_of_the_account(web_db: WebEnv, change: str) -> None:
    user = PHYSICIAN
    first, second = web_db.login(user), web_db.login(user)
    bystander = web_db.login(ENTRY)
    acc = web_db.accounts
    if change == "set_role":
        acc.set_role(user, "monitor", CENTRE_A, actor="admin.test", reason="moved to QA")
    elif change == "disable":
        acc.disable(user, actor="admin.test", reason="left the centre")
    elif change == "set_password":
        acc.set_password(user, "a-brand-new-password-42", actor="admin.test",
                         reason="forgotten", now=web_db.clock())
    else:
        acc.reset_totp(user, actor="admin.test", reason="lost phone")
    assert not signed_in(first) and not signed_in(second)
    assert signed_in(bystander)


def test_a_role_change_takes_effect_at_the_next_sign_in(web: WebEnv) -> None:
    c = web.login(ENTRY)
    assert c.get("/patients/new").status_code == 200
    web.accounts.set_role(ENTRY, "monitor", CENTRE_A, actor="admin.test", reason="QA")
    assert not signed_in(c)
    web.login(ENTRY, client=c)
    assert c.get("/patients/new").status_code == 403


def test_a_disabled_account_cannot_sign_in_and_its_session_is_ended_even_without_revoking(
        web: WebEnv) -> None:
    c = web.login(ENTRY)
    token = c.cookies[SESSION_COOKIE]
    # disabled behind the app's back (a raw UPDATE adding a version): the session check itself
    # looks at the account on every request
    with web.registry.engine.begin() as conn:
        conn.execute(update(UserAccount).where(UserAccount.username == ENTRY)
                     .values(disabled=True, version=UserAccount.version + 1))
    assert not signed_in(c)
    assert [e.reason for e in audit(web, "session.end", ENTRY)] == ["disabled"]
    assert not signed_in(with_cookie(web, token))
    r = post_login(web, web.client(), ENTRY, password_of(ENTRY))
    assert r.status_code == 401 and "disabled" in r.text


# -- SR-04 cookies --------------------------------------------------------------------------------

def test_session_cookie_flags(web: WebEnv) -> None:
    c = web.client()
    page = c.get("/login")
    csrf_cookie = cookie_header(page, LOGIN_CSRF_COOKIE).lower()
    for flag in ("secure", "httponly", "samesite=strict", "path=/"):
        assert flag in csrf_cookie, (flag, csrf_cookie)
    r = c.post("/login", data={"username": PHYSICIAN, "password": password_of(PHYSICIAN),
                               "csrf_token": csrf_of(page.text)})
    for response in (r, post_code(c, web.code(PHYSICIAN))):
        header = cookie_header(response, SESSION_COOKIE).lower()
        for flag in ("secure", "httponly", "samesite=strict", "path=/", "max-age=43200"):
            assert flag in header, (flag, header)
        assert "domain=" not in header


# -- SR-02 passwords ------------------------------------------------------------------------------

def test_password_hashes_are_argon2id(web: WebEnv) -> None:
    with web.registry.reading() as s:
        hashes = list(s.execute(select(UserCredential.password_hash)).scalars())
    assert len(hashes) == 15
    assert all(h.startswith("$argon2id$v=19$") for h in hashes), hashes[:2]
    assert len(set(hashes)) == len(hashes)  # salted


def test_sign_in_rehashes_when_the_parameters_change(web_db: WebEnv) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    old = weak.hash(password_of(ENTRY))
    with web_db.registry.engine.begin() as conn:
        user_id = conn.execute(select(UserAccount.id).where(UserAccount.username == ENTRY)
                               ).scalar_one()
        conn.execute(update(UserCredential).where(UserCredential.user_id == user_id)
                     .values(password_hash=old))
    assert PasswordHasher().check_needs_rehash(old)
    web_db.login(ENTRY)
    new = credential(web_db, ENTRY).password_hash
    assert new != old and new.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not PasswordHasher().check_needs_rehash(new)
    PasswordHasher().verify(new, password_of(ENTRY))
    web_db.login(ENTRY)  # and the new hash signs in
    assert credential(web_db, ENTRY).password_hash == new  # no rehash when not needed


def test_lockout_after_five_failures_with_doubling_backoff(web_db: WebEnv) -> None:
    c = web_db.client()
    for n in range(1, MAX_FAILURES + 1):
        r = post_login(web_db, c, ENTRY, f"wrong-password-{n:02d}")
        assert r.status_code == 401
        assert "wrong username or password" in r.text
        assert f"wrong-password-{n:02d}" not in r.text  # never echoed
    assert "locked until 2026-12-03 09:01:00 UTC" in r.text
    cred = credential(web_db, ENTRY)
    assert cred.failed_logins == MAX_FAILURES
    assert cred.locked_until == web_db.clock() + dt.timedelta(minutes=1)
    # locked: even the right password is refused, and the refusal is audited
    r = post_login(web_db, c, ENTRY, password_of(ENTRY))
    assert r.status_code == 401 and "locked" in r.text
    assert audit(web_db, "login.failed", ENTRY)[-1].reason == "account locked"
    # the wait passes; one more wrong password locks for twice as long
    web_db.clock.advance(minutes=1, seconds=1)
    assert post_login(web_db, c, ENTRY, "wrong-password-06").status_code == 401
    assert credential(web_db, ENTRY).locked_until == web_db.clock() + dt.timedelta(minutes=2)
    web_db.clock.advance(minutes=2, seconds=1)
    assert post_login(web_db, c, ENTRY, "wrong-password-07").status_code == 401
    assert credential(web_db, ENTRY).locked_until == web_db.clock() + dt.timedelta(minutes=4)
    web_db.clock.advance(minutes=3, seconds=59)
    assert "locked" in post_login(web_db, c, ENTRY, password_of(ENTRY)).text
    web_db.clock.advance(seconds=2)
    r = post_login(web_db, c, ENTRY, password_of(ENTRY))
    assert r.status_code == 303 and signed_in(c)
    cred = credential(web_db, ENTRY)
    assert cred.failed_logins == 0 and cred.locked_until is None
    assert [e.action for e in audit(web_db, "login.locked", ENTRY)] == ["login.locked"] * 3
    failed = audit(web_db, "login.failed", ENTRY)
    assert [e.payload.get("failures") for e in failed if e.reason == "wrong password"] == [
        1, 2, 3, 4]
    assert all(e.payload.get("ip") == "testclient" for e in failed)


def test_backoff_stops_at_one_hour(web: WebEnv) -> None:
    c = web.client()
    web.app.state.login_limit.per_minute = 10_000
    for _ in range(12):
        post_login(web, c, ENTRY, "wrong-password-xx")
        web.clock.advance(hours=2)
    post_login(web, c, ENTRY, "wrong-password-xx")
    assert credential(web, ENTRY).locked_until == web.clock() + dt.timedelta(hours=1)


def test_unknown_username_is_audited_and_answered_like_a_wrong_password(web: WebEnv) -> None:
    c = web.client()
    unknown = post_login(web, c, "no.such.user", "whatever-password-1")
    wrong = post_login(web, c, ENTRY, "whatever-password-1")
    assert unknown.status_code == wrong.status_code == 401

    def message(html: str) -> str:
        start = html.index('<p class="error"')
        return html[start:html.index("</p>", start)]

    assert message(unknown.text) == message(wrong.text)
    assert "wrong username or password" in message(unknown.text)
    entries = audit(web, "login.failed", "no.such.user")
    assert len(entries) == 1 and entries[0].reason == "unknown username"
    assert entries[0].payload == {"ip": "testclient"}
    assert "whatever-password-1" not in str(entries[0].payload)
    blank = post_login(web, c, "", "")
    assert blank.status_code == 401
    assert audit(web, "login.failed", "(blank)")


def test_sign_in_rate_limit_per_address(web: WebEnv) -> None:
    c = web.client()
    per_minute = web.app.state.login_limit.per_minute
    assert per_minute == 20
    for _ in range(per_minute):
        assert post_login(web, c, "no.such.user", "x" * 12).status_code == 401
    r = post_login(web, c, ENTRY, password_of(ENTRY))  # even the right password
    assert r.status_code == 429
    assert "too many sign-in attempts" in r.text
    assert SESSION_COOKIE not in c.cookies
    # the 429 is answered before the password is looked at: nothing counted, nothing audited
    assert credential(web, ENTRY).failed_logins == 0
    assert len(audit(web, "login.failed", "no.such.user")) == per_minute


# -- SR-03 second factor --------------------------------------------------------------------------

@pytest.mark.parametrize("role", sorted(TOTP_ROLES))
def test_roles_that_need_a_second_factor(web: WebEnv, role: str) -> None:
    username = user_name(role, None if role == "system_admin" else CENTRE_A)
    c = web.client()
    r = post_login(web, c, username, password_of(username))
    assert r.status_code == 303 and r.headers["location"] == "/login/totp"
    # a password-only session opens no patient page, no API, no account page
    for path in ("/patients", "/patients/A-001", "/account", "/audit", "/admin/users"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    assert c.get("/api/v1/session").status_code == 401
    assert c.get("/login/totp").status_code == 200
    assert not audit(web, "login", username)  # not signed in yet
    assert post_code(c, web.code(username)).status_code == 303
    assert c.get("/account").status_code == 200
    assert len(audit(web, "login", username)) == 1


@pytest.mark.parametrize("role", ["data_manager", "data_entry", "hla_lab", "statistician",
                                  "monitor"])
def test_roles_without_a_second_factor_sign_in_with_the_password(web: WebEnv,
                                                                 role: str) -> None:
    username = user_name(role, CENTRE_A)
    r = post_login(web, c := web.client(), username, password_of(username))
    assert r.status_code == 303 and r.headers["location"] == "/patients"
    assert c.get("/account").status_code == 200


def test_a_partial_session_cannot_write(web: WebEnv) -> None:
    c = web.client()
    post_login(web, c, PHYSICIAN, password_of(PHYSICIAN))
    csrf = csrf_of(c.get("/login/totp").text)
    r = c.post("/patients", data={"csrf_token": csrf, "upn": "A-999"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert web.registry.patient_centre("A-999") is None


def test_wrong_code_is_refused(web_db: WebEnv) -> None:
    c = web_db.client()
    post_login(web_db, c, PHYSICIAN, password_of(PHYSICIAN))
    right = web_db.code(PHYSICIAN)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for code in (wrong, "abcdef", right[:5]):  # 3 failures (5 would lock the account)
        r = post_code(c, code)
        assert r.status_code == 401, code
        assert "wrong, expired or already used" in r.text
        assert not signed_in(c)
    assert audit(web_db, "login.totp_failed", PHYSICIAN)
    # an old code (two steps back) is refused too; the current one works
    old = pyotp.TOTP(web_db.totp[PHYSICIAN]).at(web_db.clock() - dt.timedelta(seconds=90))
    if old != right:
        assert post_code(c, old).status_code == 401
    assert post_code(c, right).status_code == 303
    assert signed_in(c)


def test_a_code_is_never_accepted_twice(web_db: WebEnv) -> None:
    c = web_db.client()
    post_login(web_db, c, PHYSICIAN, password_of(PHYSICIAN))
    code = web_db.code(PHYSICIAN)
    assert post_code(c, code).status_code == 303
    # an eavesdropper with the password and the code just used, in the same 30 seconds
    thief = web_db.client()
    post_login(web_db, thief, PHYSICIAN, password_of(PHYSICIAN))
    assert post_code(thief, code).status_code == 401
    # nor the previous step's code (an earlier step than the one accepted)
    earlier = pyotp.TOTP(web_db.totp[PHYSICIAN]).at(web_db.clock() - dt.timedelta(seconds=30))
    if earlier != code:
        assert post_code(thief, earlier).status_code == 401
    assert not signed_in(thief)
    web_db.clock.advance(seconds=30)
    assert post_code(thief, web_db.code(PHYSICIAN)).status_code == 303  # the next step


def test_wrong_codes_count_towards_the_lockout(web_db: WebEnv) -> None:
    c = web_db.client()
    post_login(web_db, c, PHYSICIAN, password_of(PHYSICIAN))
    for _ in range(MAX_FAILURES):
        assert post_code(c, "000000" if web_db.code(PHYSICIAN) != "000000" else "111111"
                         ).status_code == 401
    cred = credential(web_db, PHYSICIAN)
    assert cred.failed_logins == MAX_FAILURES and cred.locked_until is not None
    # while locked, even the right code is refused, and so is the password
    assert post_code(c, web_db.code(PHYSICIAN)).status_code == 401
    r = post_login(web_db, web_db.client(), PHYSICIAN, password_of(PHYSICIAN))
    assert r.status_code == 401 and "locked" in r.text
