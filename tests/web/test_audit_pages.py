"""The audit trail page (SR-07) and a patient's history (SR-08) on the web: the hash-chain check
first, entries newest first with filters and pages, centre scoping in the query (a centre never
sees another centre's UPNs or usernames), every version of every row with who/when/why and soft
deletes, the History link only for audit readers; free text escaped."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from everydonor.adapters.web import auditing
from tests.web.conftest import CENTRE_A, CENTRE_B, WebEnv, user_name
from tests.web.test_patients import form_of

PAYLOAD = "<script>alert(1)</script>"
ESCAPED = html.escape(PAYLOAD, quote=False)
SYSADMIN = user_name("system_admin", None)
MONITOR_A = user_name("monitor", CENTRE_A)
MONITOR_B = user_name("monitor", CENTRE_B)
MANAGER_A = user_name("data_manager", CENTRE_A)
ADMIN_A = user_name("centre_admin", CENTRE_A)
ENTRY_B = user_name("data_entry", CENTRE_B)


def seqs(page: str) -> list[int]:
    return [int(s) for s in re.findall(r'<td class="num small">(\d+)</td>', page)]


def objects(page: str) -> set[str]:
    return set(re.findall(r"<code>([^<]+)</code>", page))


def edit_father(web: WebEnv, c: TestClient, reason: str, **changes: str) -> None:
    token, values = form_of(c, "/patients/A-001/persons/F")
    values.update(changes, reason=reason)
    r = c.post("/patients/A-001/persons/F", data={**values, "csrf_token": token})
    assert r.status_code == 303, r.text


# -- the audit trail -------------------------------------------------------------------------------

def test_audit_page_shows_the_chain_check_and_entries_newest_first(web: WebEnv) -> None:
    c = web.login(SYSADMIN)
    r = c.get("/audit")
    assert r.status_code == 200
    page = r.text
    assert "Audit trail intact" in page
    assert page.index("Audit trail intact") < page.index("<table")
    numbers = seqs(page)
    assert numbers == sorted(numbers, reverse=True) and len(numbers) == len(set(numbers))
    assert numbers[0] == web.registry.verify_audit()["entries"]  # the newest entry first
    # each entry: UTC time, actor, action, object, reason, payload as text
    assert "UTC" in page and "<code>case.add</code>" in page and "<code>user.create</code>" in page
    assert "&#34;role&#34;" in page or "&quot;role&quot;" in page  # payload JSON, escaped


def test_a_broken_chain_is_shown_first(web: WebEnv) -> None:
    with web.registry.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_append_only_update"))
        conn.execute(text("UPDATE audit_log SET reason = 'rewritten' WHERE seq = 3"))
    page = web.login(SYSADMIN).get("/audit").text
    assert "Audit trail BROKEN" in page and "#3" in page and "edited" in page
    assert "Audit trail intact" not in page


def test_monitor_of_one_centre_never_sees_the_other_centres_entries(web: WebEnv) -> None:
    # activity at both centres: B-001 edited, OTHER's staff signing in and failing
    other = web.login(user_name("physician", CENTRE_B))
    web.registry.edit_case("B-001", lambda d: d["patient"].update(weight_kg=61),
                           actor=user_name("physician", CENTRE_B), reason="weighed B")
    del other
    web.accounts.disable(ENTRY_B, actor=SYSADMIN, reason="left OTHER")
    web.login(MANAGER_A)
    c = web.login(MONITOR_A)
    everything = web.login(SYSADMIN).get("/audit?object_id=B-001").text
    assert "B-001" in objects(everything)

    seen: set[str] = set()
    for page_no in range(1, 10):
        page = c.get(f"/audit?page={page_no}").text
        seen |= objects(page)
        if "Older" not in page:
            break
    assert "A-001" in seen and "A-002" in seen and MANAGER_A in seen
    assert "B-001" not in seen
    for username in (ENTRY_B, user_name("physician", CENTRE_B), SYSADMIN):
        assert username not in seen, username
    filtered = c.get("/audit?object_id=B-001").text
    assert "B-001" not in objects(filtered) and "0 entries" in filtered
    assert "weighed B" not in c.get("/audit?actor=physician").text
    # the same rule in the query, for each centre
    for centre, own, foreign in ((CENTRE_A, "A-001", "B-001"), (CENTRE_B, "B-001", "A-001")):
        monitor = user_name("monitor", centre)
        result = auditing.search(web.registry, centre=centre, username=monitor,
                                 f=auditing.AuditFilter(), per_page=10_000)
        ids = {e["object_id"] for e in result["entries"]}
        assert own in ids and foreign not in ids
        assert all(e["object_type"] in ("patient", "user") for e in result["entries"])
    full = auditing.search(web.registry, centre=None, username=SYSADMIN,
                           f=auditing.AuditFilter(), per_page=10_000)
    assert full["total"] == web.registry.verify_audit()["entries"]


def test_monitor_of_the_other_centre_sees_its_own(web: WebEnv) -> None:
    seen = objects(web.login(MONITOR_B).get("/audit").text)
    assert "B-001" in seen and "A-001" not in seen and MONITOR_A not in seen


def test_registry_entries_are_for_the_system_admin_only(web: WebEnv) -> None:
    assert "<code>registry.init</code>" in web.login(SYSADMIN).get("/audit?action=reg").text
    page = web.login(ADMIN_A).get("/audit?action=reg").text
    assert "registry.init" not in page and "0 entries" in page


def test_audit_filters(web: WebEnv) -> None:
    m = web.login(MANAGER_A)
    edit_father(web, m, "ABO re-tested", abo="O-")
    c = web.login(MONITOR_A)
    page = c.get(f"/audit?actor={MANAGER_A}").text
    actors = set(re.findall(r"<tr>\s*<td[^>]*>\d+</td>\s*<td[^>]*>[^<]*</td>\s*"
                            r"<td><code>([^<]+)</code>", page))
    assert actors == {MANAGER_A}
    page = c.get("/audit?action=case.update").text
    assert "ABO re-tested" in page and "<code>case.add</code>" not in page
    page = c.get("/audit?action=login").text
    assert "<code>login</code>" in page and "<code>login.password</code>" in page
    assert "<code>case.update</code>" not in page and "<code>user.create</code>" not in page
    page = c.get("/audit?object_id=A-002").text
    assert "A-002" in objects(page) and "A-001" not in objects(page)
    # registry writes are stamped with the server's time, sign-ins with the app's test clock
    today = dt.datetime.now(dt.UTC).date()
    first, last = sorted((today, web.clock().date()))
    assert "<code>case.update</code>" in c.get(f"/audit?from={today}&to={today}").text
    later = c.get(f"/audit?from={last + dt.timedelta(days=1)}").text
    assert "0 entries" in later and not seqs(later)
    earlier = c.get(f"/audit?to={first - dt.timedelta(days=1)}").text
    assert "0 entries" in earlier
    logins = c.get(f"/audit?action=login&from={web.clock().date()}&to={web.clock().date()}")
    assert f"<code>{MONITOR_A}</code>" in logins.text
    bad = c.get("/audit?from=yesterday")
    assert bad.status_code == 422 and "a date is YYYY-MM-DD" in bad.text
    assert 'value="yesterday"' in bad.text
    # filters are kept in the form
    page = c.get("/audit?actor=monitor&action=login&object_id=pkuph").text
    assert 'value="monitor"' in page and 'value="login"' in page and 'value="pkuph"' in page


def test_audit_pages(web: WebEnv) -> None:
    for i in range(60):
        web.accounts.unlock(ENTRY_B, actor=SYSADMIN, reason=f"drill {i}")
    c = web.login(SYSADMIN)
    first = c.get("/audit").text
    second = c.get("/audit?page=2").text
    one, two = seqs(first), seqs(second)
    assert len(one) == 50 and two and max(two) < min(one)
    assert "drill 59" in first and "drill 0" in second
    assert 'href="/audit?page=2"' in first
    filtered = c.get("/audit?action=user.unlock").text
    assert "60 entries match the filters" in filtered
    assert 'href="/audit?action=user.unlock&amp;page=2"' in filtered


@pytest.mark.parametrize("role", ["physician", "data_entry", "hla_lab", "statistician"])
def test_who_may_read_the_audit_trail(web: WebEnv, role: str) -> None:
    c = web.login(user_name(role, CENTRE_A))
    assert c.get("/audit").status_code == 403
    assert c.get("/patients/A-001/history").status_code == 403


# -- a patient's history ----------------------------------------------------------------------------

def test_history_shows_an_edit_made_through_the_app(web_db: WebEnv) -> None:
    m = web_db.login(MANAGER_A)
    edit_father(web_db, m, f"ABO re-tested {PAYLOAD}", abo="O-")
    r = m.get("/patients/A-001/history")
    assert r.status_code == 200
    page = r.text
    assert PAYLOAD not in page and f"ABO re-tested {ESCAPED}" in page
    newest = page.split('<section class="card change-set">')[1]
    assert MANAGER_A in newest and f"ABO re-tested {ESCAPED}" in newest
    assert re.search(r"<code>abo</code>: <span class=\"old\">O\+</span> → "
                     r"<span class=\"new\">O-</span>", newest), newest
    assert "person</" in newest or "person <code>F</code>" in newest
    assert "initial entry" in page and "fixture" in page  # the first version, by whom
    # the audit entries about the patient, with the reason
    audit_part = page.split("Audit entries about this patient")[1]
    assert "<code>case.update</code>" in audit_part and "<code>case.add</code>" in audit_part
    assert f"ABO re-tested {ESCAPED}" in audit_part
    # the audit page escapes it too
    trail = web_db.login(MONITOR_A).get("/audit?object_id=A-001").text
    assert PAYLOAD not in trail and ESCAPED in trail


def test_history_shows_soft_deletes(web: WebEnv) -> None:
    def drop_father(document: dict[str, Any]) -> None:
        document["relatives"] = [p for p in document["relatives"] if p["id"] != "F"]

    web.registry.edit_case("A-001", drop_father, actor=MANAGER_A, reason="entered in error")
    page = web.login(MONITOR_A).get("/patients/A-001/history").text
    newest = page.split('<section class="card change-set">')[1]
    assert "entered in error" in newest
    assert 'class="is-deleted"' in newest and "person <code>F</code>" in newest
    assert "deleted" in newest


def test_history_link_only_for_audit_readers(web: WebEnv) -> None:
    assert 'href="/patients/A-001/history"' in web.login(MANAGER_A).get("/patients/A-001").text
    assert 'href="/patients/A-001/history"' in web.login(MONITOR_A).get("/patients/A-001").text
    physician = web.login(user_name("physician", CENTRE_A))
    assert 'href="/patients/A-001/history"' not in physician.get("/patients/A-001").text


def test_history_of_another_centres_patient_answers_404(web: WebEnv) -> None:
    assert web.login(MONITOR_A).get("/patients/B-001/history").status_code == 404
    assert web.login(SYSADMIN).get("/patients/B-001/history").status_code == 200

