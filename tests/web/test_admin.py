"""Accounts on the web (SR-01, SR-03, SR-06, SR-07, SR-22): the access review, creating an
account, and per account changing the role, disabling/enabling, a new password, a new second
factor, unlocking — each audited with the administrator's name and the reason, each refused
without a reason (422, input kept), centre-scoped (another centre's account: 404), never on
one's own account, never a reused username; free text escaped."""

from __future__ import annotations

import html
import re
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from everydonor.adapters.registry.accounts import LoginFailed
from everydonor.adapters.registry.models import AuditLog
from tests.web.conftest import CENTRE_A, CENTRE_B, WebEnv, csrf_of, password_of, user_name

PAYLOAD = "<script>alert(1)</script>"
ESCAPED = html.escape(PAYLOAD, quote=False)
SYSADMIN = user_name("system_admin", None)
ADMIN_A = user_name("centre_admin", CENTRE_A)
ADMIN_B = user_name("centre_admin", CENTRE_B)
ENTRY_A = user_name("data_entry", CENTRE_A)
ENTRY_B = user_name("data_entry", CENTRE_B)
PHYSICIAN_A = user_name("physician", CENTRE_A)


def audit(web: WebEnv, action: str, object_id: str) -> list[dict[str, Any]]:
    with web.registry.reading() as s:
        rows = s.execute(select(AuditLog).where(AuditLog.action == action,
                                                AuditLog.object_id == object_id)
                         .order_by(AuditLog.seq)).scalars()
        return [{"actor": e.actor, "reason": e.reason, "payload": e.payload} for e in rows]


def audit_total(web: WebEnv) -> int:
    return web.registry.counts()["audit_log"]


def post(c: TestClient, page: str, url: str, data: dict[str, str]) -> Any:
    """POST a form of ``page`` (its CSRF token read from the page, as a browser would)."""
    r = c.get(page)
    assert r.status_code == 200, r.text
    return c.post(url, data={**data, "csrf_token": csrf_of(r.text)})


def sign_in_fails(web: WebEnv, username: str, password: str) -> str | None:
    try:
        web.accounts.authenticate(username, password, now=web.clock())
    except LoginFailed as exc:
        return exc.message
    return None


# -- the access review -------------------------------------------------------------------------

def test_access_review_of_a_centre_admin_shows_only_its_centre(web: WebEnv) -> None:
    web.login(PHYSICIAN_A)
    c = web.login(ADMIN_A)
    for _ in range(5):  # data entry of PKUPH locks itself out (for a minute)
        sign_in_fails(web, ENTRY_A, "wrong password 123")
    r = c.get("/admin/users")
    assert r.status_code == 200
    text = r.text
    for username in (ENTRY_A, PHYSICIAN_A, ADMIN_A, user_name("monitor", CENTRE_A)):
        assert f'href="/admin/users/{username}"' in text
    for username in (ENTRY_B, ADMIN_B, SYSADMIN):
        assert username not in text
    row = re.search(rf'<tr>\s*<td><a href="/admin/users/{re.escape(ENTRY_A)}">.*?</tr>',
                    text, re.S)
    assert row, text
    assert "locked until" in row.group(0) and ">5<" in row.group(0)
    assert "not required" in row.group(0)  # data entry: no second factor
    physician = re.search(rf'<tr>\s*<td><a href="/admin/users/{re.escape(PHYSICIAN_A)}">.*?</tr>',
                          text, re.S)
    assert physician and '<span class="ok">set up</span>' in physician.group(0)
    assert "2026-12-03" in physician.group(0)
    assert "Printed name" in text and "Last sign-in" in text and "Failed sign-ins" in text


def test_access_review_of_the_system_admin_shows_every_account(web: WebEnv) -> None:
    c = web.login(SYSADMIN)
    text = c.get("/admin/users").text
    for username in (ENTRY_A, ENTRY_B, ADMIN_B, SYSADMIN):
        assert f'href="/admin/users/{username}"' in text


def test_who_may_manage_accounts(web: WebEnv) -> None:
    for role in ("data_manager", "physician", "monitor", "data_entry"):
        c = web.login(user_name(role, CENTRE_A))
        assert c.get("/admin/users").status_code == 403
        assert c.get(f"/admin/users/{ENTRY_A}").status_code == 403


# -- creating an account -------------------------------------------------------------------------

def test_create_a_physician_with_a_generated_password_and_totp(web_db: WebEnv) -> None:
    c = web_db.login(ADMIN_A)
    r = post(c, "/admin/users/new", "/admin/users",
             {"username": "wang.li", "display_name": "Dr Wang Li", "role": "physician",
              "password": "", "reason": "new consultant"})
    assert r.status_code == 200, r.text
    assert "Shown once" in r.text
    password = re.search(r'<dt>Password</dt><dd><code class="secret">([^<]+)</code>', r.text)
    secret = re.search(r'<dt>TOTP secret</dt><dd><code class="secret">([A-Z2-7]+)</code>', r.text)
    uri = re.search(r'<code class="secret uri">(otpauth://totp/[^<]+)</code>', r.text)
    assert password and secret and uri, r.text
    assert len(password.group(1)) >= 12
    assert f"secret={secret.group(1)}" in html.unescape(uri.group(1))
    account = web_db.accounts.get("wang.li")
    assert (account.role, account.centre, account.display_name, account.has_totp) == (
        "physician", CENTRE_A, "Dr Wang Li", True)
    entry = audit(web_db, "user.create", "wang.li")
    assert [(e["actor"], e["reason"]) for e in entry] == [(ADMIN_A, "new consultant")]
    assert password.group(1) not in str(entry) and secret.group(1) not in str(entry)
    # the secret is never shown again
    page = c.get("/admin/users/wang.li").text
    assert secret.group(1) not in page and password.group(1) not in page
    # the new physician signs in with what was handed over
    n = web_db.client()
    token = csrf_of(n.get("/login").text)
    r = n.post("/login", data={"username": "wang.li", "password": password.group(1),
                               "csrf_token": token})
    assert r.headers["location"] == "/login/totp"
    token = csrf_of(n.get("/login/totp").text)
    code = pyotp.TOTP(secret.group(1)).at(web_db.clock())
    r = n.post("/login/totp", data={"code": code, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/patients"


def test_create_with_a_typed_password_by_the_system_admin(web: WebEnv) -> None:
    c = web.login(SYSADMIN)
    r = post(c, "/admin/users/new", "/admin/users",
             {"username": "lab.other", "display_name": "Lab Tech", "role": "hla_lab",
              "centre": CENTRE_B, "password": "a typed password 42"})
    assert r.status_code == 200, r.text
    assert "Shown once" not in r.text and "a typed password 42" not in r.text
    assert web.accounts.get("lab.other").centre == CENTRE_B
    assert sign_in_fails(web, "lab.other", "a typed password 42") is None
    assert audit(web, "user.create", "lab.other")[0]["reason"] == "account created"


def test_create_refuses_bad_input_keeping_it(web: WebEnv) -> None:
    c = web.login(SYSADMIN)
    before = audit_total(web)
    r = post(c, "/admin/users/new", "/admin/users",
             {"username": "Bad Name", "display_name": "Someone Kept", "role": "monitor",
              "centre": "", "password": "short"})
    assert r.status_code == 422
    assert 'value="Bad Name"' in r.text and 'value="Someone Kept"' in r.text
    assert '<option value="monitor" selected>' in r.text
    assert "choose the centre the account works for" in r.text
    assert "at least 12 characters" in r.text
    assert 'value="short"' not in r.text  # a password is never sent back
    assert audit_total(web) == before


def test_a_centre_admin_cannot_create_a_system_admin(web: WebEnv) -> None:
    c = web.login(ADMIN_A)
    form = c.get("/admin/users/new").text
    assert 'value="system_admin"' not in form  # not offered
    r = post(c, "/admin/users/new", "/admin/users",
             {"username": "sneaky", "display_name": "Sneaky", "role": "system_admin",
              "password": "long enough password"})
    assert r.status_code == 422
    assert "cannot make anyone a system administrator" in r.text
    assert 'value="sneaky"' in r.text
    assert "sneaky" not in [a.username for a in web.accounts.list()]


def test_a_centre_admin_creates_accounts_of_its_own_centre_only(web: WebEnv) -> None:
    c = web.login(ADMIN_A)
    r = post(c, "/admin/users/new", "/admin/users",
             {"username": "mover", "display_name": "Mover", "role": "monitor",
              "centre": CENTRE_B, "password": "long enough password"})
    assert r.status_code == 200
    assert web.accounts.get("mover").centre == CENTRE_A


@pytest.mark.parametrize("taken", [ENTRY_A, "gone.user"])
def test_a_username_is_never_reused(web_db: WebEnv, taken: str) -> None:
    if taken == "gone.user":
        web_db.add_user("gone.user", "data_entry", CENTRE_B)
        web_db.accounts.disable("gone.user", actor="fixture", reason="left the centre")
    c = web_db.login(SYSADMIN)
    r = post(c, "/admin/users/new", "/admin/users",
             {"username": taken, "display_name": "Someone Else", "role": "data_entry",
              "centre": CENTRE_A, "password": "long enough password"})
    assert r.status_code == 422
    assert "never reused" in r.text and 'value="Someone Else"' in r.text
    assert web_db.accounts.get(taken).display_name == f"Dr {taken.title()}"
    assert len(audit(web_db, "user.create", taken)) == 1


# -- changing an account ---------------------------------------------------------------------------

def test_role_change_disable_enable_audited_on_both_databases(web_db: WebEnv) -> None:
    target = web_db.login(ENTRY_A)
    c = web_db.login(ADMIN_A)
    page = f"/admin/users/{ENTRY_A}"
    r = post(c, page, f"{page}/role", {"role": "data_manager", "reason": "now manages data"})
    assert r.status_code == 303 and r.headers["location"] == f"{page}?done=role"
    assert "Role changed" in c.get(r.headers["location"]).text
    assert web_db.accounts.get(ENTRY_A).role == "data_manager"
    [entry] = audit(web_db, "user.role", ENTRY_A)
    assert (entry["actor"], entry["reason"]) == (ADMIN_A, "now manages data")
    assert {"field": "role", "old": "data_entry", "new": "data_manager"} in \
        entry["payload"]["changes"]
    assert target.get("/account").status_code == 303  # SR-04: the privilege change ends it

    r = post(c, page, f"{page}/disable", {"reason": "left the department"})
    assert r.status_code == 303
    assert web_db.accounts.get(ENTRY_A).disabled
    assert "disabled" in (sign_in_fails(web_db, ENTRY_A, password_of(ENTRY_A)) or "")
    assert [(e["actor"], e["reason"]) for e in audit(web_db, "user.disable", ENTRY_A)] == [
        (ADMIN_A, "left the department")]
    # disabled, still listed (SR-01: never deleted), and can be enabled again
    assert f'href="{page}"' in c.get("/admin/users").text
    r = post(c, page, f"{page}/enable", {"reason": "came back"})
    assert r.status_code == 303
    assert not web_db.accounts.get(ENTRY_A).disabled
    assert audit(web_db, "user.enable", ENTRY_A)[0]["reason"] == "came back"


def test_new_password_typed_and_generated(web_db: WebEnv) -> None:
    c = web_db.login(ADMIN_A)
    page = f"/admin/users/{ENTRY_A}"
    r = post(c, page, f"{page}/password", {"password": "brand new password 1",
                                            "reason": "forgot it"})
    assert r.status_code == 303
    assert sign_in_fails(web_db, ENTRY_A, password_of(ENTRY_A)) is not None
    assert sign_in_fails(web_db, ENTRY_A, "brand new password 1") is None
    r = post(c, page, f"{page}/password", {"password": "", "reason": "forgot it again"})
    assert r.status_code == 200 and "Shown once" in r.text
    generated = re.search(r'<dt>Password</dt><dd><code class="secret">([^<]+)</code>', r.text)
    assert generated
    assert sign_in_fails(web_db, ENTRY_A, generated.group(1)) is None
    assert [(e["actor"], e["reason"]) for e in audit(web_db, "user.password", ENTRY_A)] == [
        (ADMIN_A, "forgot it"), (ADMIN_A, "forgot it again")]


def test_reset_second_factor(web_db: WebEnv) -> None:
    old = web_db.totp[PHYSICIAN_A]
    c = web_db.login(ADMIN_A)
    page = f"/admin/users/{PHYSICIAN_A}"
    r = post(c, page, f"{page}/totp", {"reason": "lost phone"})
    assert r.status_code == 200, r.text
    secret = re.search(r'<dt>TOTP secret</dt><dd><code class="secret">([A-Z2-7]+)</code>', r.text)
    assert secret and secret.group(1) != old and "otpauth://totp/" in r.text
    web_db.totp[PHYSICIAN_A] = secret.group(1)
    web_db.login(PHYSICIAN_A)  # signs in with the new secret
    assert [(e["actor"], e["reason"]) for e in audit(web_db, "user.totp_reset", PHYSICIAN_A)] \
        == [(ADMIN_A, "lost phone")]
    # a role without a second factor: refused, nothing written
    before = audit_total(web_db)
    r = post(c, f"/admin/users/{ENTRY_A}", f"/admin/users/{ENTRY_A}/totp", {"reason": "x"})
    assert r.status_code == 422 and "without a second factor" in r.text
    assert audit_total(web_db) == before


def test_unlock(web_db: WebEnv) -> None:
    for _ in range(5):
        sign_in_fails(web_db, ENTRY_A, "wrong password 123")
    assert "locked" in (sign_in_fails(web_db, ENTRY_A, password_of(ENTRY_A)) or "")
    c = web_db.login(ADMIN_A)
    page = f"/admin/users/{ENTRY_A}"
    assert 'action="/admin/users/data-entry.pkuph/unlock"' in c.get(page).text
    r = post(c, page, f"{page}/unlock", {"reason": "called the help desk, identity checked"})
    assert r.status_code == 303
    assert sign_in_fails(web_db, ENTRY_A, password_of(ENTRY_A)) is None
    assert [(e["actor"], e["reason"]) for e in audit(web_db, "user.unlock", ENTRY_A)] == [
        (ADMIN_A, "called the help desk, identity checked")]


@pytest.mark.parametrize("action", ["role", "disable", "password", "unlock", "totp"])
def test_every_change_needs_a_reason(web: WebEnv, action: str) -> None:
    for _ in range(5):
        sign_in_fails(web, PHYSICIAN_A, "wrong password 123")
    c = web.login(SYSADMIN)
    page = f"/admin/users/{PHYSICIAN_A}"
    before = audit_total(web)
    data = {"reason": "   ", "role": "hla_lab", "centre": CENTRE_A,
            "password": "typed password 123"}
    r = post(c, page, f"{page}/{action}", data)
    assert r.status_code == 422, r.text
    assert "every change to an account needs a reason" in r.text
    assert f'id="f-{action}-reason"' in r.text and 'aria-invalid="true"' in r.text
    if action == "role":  # what was chosen is kept
        assert '<option value="hla_lab" selected>' in r.text
    assert "typed password 123" not in r.text
    assert audit_total(web) == before
    account = web.accounts.get(PHYSICIAN_A)
    assert (account.role, account.disabled, account.failed_logins) == ("physician", False, 5)


def test_a_centre_admin_cannot_promote_to_system_admin(web: WebEnv) -> None:
    c = web.login(ADMIN_A)
    page = f"/admin/users/{ENTRY_A}"
    assert 'value="system_admin"' not in c.get(page).text
    r = post(c, page, f"{page}/role", {"role": "system_admin", "reason": "promotion"})
    assert r.status_code == 422
    assert "cannot make anyone a system administrator" in r.text
    assert web.accounts.get(ENTRY_A).role == "data_entry"


def test_the_system_admin_moves_an_account_and_makes_a_system_admin(web: WebEnv) -> None:
    c = web.login(SYSADMIN)
    page = f"/admin/users/{ENTRY_A}"
    r = post(c, page, f"{page}/role", {"role": "data_entry", "centre": CENTRE_B,
                                        "reason": "moved to the other centre"})
    assert r.status_code == 303
    assert web.accounts.get(ENTRY_A).centre == CENTRE_B
    r = post(c, page, f"{page}/role", {"role": "system_admin", "centre": CENTRE_B,
                                        "reason": "x"})
    assert r.status_code == 422 and "leave the centre empty" in r.text
    r = post(c, page, f"{page}/role", {"role": "system_admin", "centre": "", "reason": "IT"})
    assert r.status_code == 303
    assert (web.accounts.get(ENTRY_A).role, web.accounts.get(ENTRY_A).centre) == (
        "system_admin", None)
    # now no centre admin sees it
    assert web.login(ADMIN_B).get(page).status_code == 404


def test_another_centres_account_answers_404(web: WebEnv) -> None:
    c = web.login(ADMIN_A)
    token = csrf_of(c.get("/admin/users").text)
    before = audit_total(web)
    for username in (ENTRY_B, ADMIN_B, SYSADMIN, "no.such.user"):
        assert c.get(f"/admin/users/{username}").status_code == 404, username
        for action in ("role", "disable", "password", "totp", "unlock", "enable"):
            r = c.post(f"/admin/users/{username}/{action}",
                       data={"csrf_token": token, "reason": "take over", "role": "monitor"})
            assert r.status_code == 404, (username, action)
    assert audit_total(web) == before
    assert not web.accounts.get(ENTRY_B).disabled
    # the system administrator opens every account, its own too
    s = web.login(SYSADMIN)
    for username in (ENTRY_B, ADMIN_A, SYSADMIN):
        assert s.get(f"/admin/users/{username}").status_code == 200


@pytest.mark.parametrize("admin", [ADMIN_A, SYSADMIN])
def test_nobody_changes_their_own_account(web: WebEnv, admin: str) -> None:
    c = web.login(admin)
    page = f"/admin/users/{admin}"
    text = c.get(page).text
    assert "This is your own account" in text and f'action="{page}/role"' not in text
    token = csrf_of(text)
    before = audit_total(web)
    for action, data in (("role", {"role": "monitor", "centre": CENTRE_A}),
                         ("disable", {}), ("password", {"password": "my own new pw 12"}),
                         ("totp", {})):
        r = c.post(f"{page}/{action}", data={**data, "reason": "self", "csrf_token": token})
        assert r.status_code == 403, action
        assert "ask another administrator" in r.text
    assert audit_total(web) == before
    account = web.accounts.get(admin)
    assert (account.role, account.disabled) == (
        "system_admin" if admin == SYSADMIN else "centre_admin", False)


# -- free text ---------------------------------------------------------------------------------

def test_script_in_names_and_reasons_is_escaped(web: WebEnv) -> None:
    c = web.login(ADMIN_A)
    r = post(c, "/admin/users/new", "/admin/users",
             {"username": "xss.user", "display_name": PAYLOAD, "role": "monitor",
              "password": "long enough password", "reason": PAYLOAD})
    assert r.status_code == 200
    assert PAYLOAD not in r.text and ESCAPED in r.text
    page = "/admin/users/xss.user"
    r = post(c, page, f"{page}/disable", {"reason": PAYLOAD})
    assert r.status_code == 303
    for url in ("/admin/users", page, f"{page}?done=disable"):
        text = c.get(url).text
        assert PAYLOAD not in text and ESCAPED in text, url
    # refused forms send the text back escaped too
    r = post(c, "/admin/users/new", "/admin/users",
             {"username": PAYLOAD, "display_name": PAYLOAD, "role": PAYLOAD,
              "reason": PAYLOAD})
    assert r.status_code == 422 and PAYLOAD not in r.text
    r = post(c, page, f"{page}/role", {"role": PAYLOAD, "reason": PAYLOAD})
    assert r.status_code == 422 and PAYLOAD not in r.text
    # the audit page (centre admins read it) escapes name and reason
    text = web.login(user_name("monitor", CENTRE_A)).get("/audit?object_id=xss.user").text
    assert PAYLOAD not in text and ESCAPED in text
