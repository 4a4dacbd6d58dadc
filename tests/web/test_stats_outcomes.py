"""The statistician's outcomes page (/stats/outcomes) and its PDF: who may open it, whose
patients it counts, that cohort inputs are escaped and refusals are 4xx with the message, that
it shows the numbers the core computes, and that every view is audited."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from sqlalchemy import select

from everydonor.adapters.registry import outcomes_data
from everydonor.adapters.registry.models import AuditLog
from everydonor.outcomes import kaplan_meier
from tests.web.conftest import CENTRE_A, CENTRE_B, WebEnv, user_name

STATISTICIAN = user_name("statistician", CENTRE_A)


def transplants(web: WebEnv) -> None:
    """A-001 (parent donor → haploidentical), A-002 (no donor), B-001 of the other centre;
    A-001 dies on day 200, A-002 is alive at day 400."""
    for upn, donor, day0 in (("A-001", "F", dt.date(2024, 3, 1)), ("A-002", None,
                                                                  dt.date(2025, 1, 9)),
                             ("B-001", None, dt.date(2025, 2, 2))):
        web.registry.add_hct(upn, day0=day0, hct_type="allo", donor=donor, graft="PBSC",
                             actor="fixture", reason="t")
    web.registry.record_event("A-001", "death", dt.date(2024, 9, 17), {"cause": "infection"},
                              actor="fixture", reason="t", hct_number=1)
    web.registry.record_event("A-002", "last_contact", dt.date(2026, 2, 13),
                              {"vital_status": "alive"}, actor="fixture", reason="t",
                              hct_number=1)


def test_the_page_shows_the_users_centre_with_the_cores_numbers(web: WebEnv) -> None:
    transplants(web)
    r = web.login(STATISTICIAN).get("/stats/outcomes?endpoint=os")
    assert r.status_code == 200, r.text
    html = r.text
    assert "data:image/svg+xml;base64," in html  # the curves and the activity chart
    assert "/stats/outcomes.pdf" in html
    data = outcomes_data.endpoint_data(web.registry, "os", outcomes_data.parse_cohort(
        f"centre={CENTRE_A}"), actor="test", reason="check")
    km = kaplan_meier(data.time, data.event)
    assert km.n == 2 and km.events == 1
    value = km.at([365])["survival"][0]
    assert f"{100 * value:.1f}%" in html
    assert f"at risk {int(np.count_nonzero(data.time >= 365))}" in html
    # the other centre's transplant is not counted; no UPN leaks
    assert "B-001" not in html and "A-001" not in html and CENTRE_B not in html
    main = html.split("<main>")[1]
    assert "/patients/" not in main


def test_another_centre_is_404_and_a_system_admin_sees_every_centre(web: WebEnv) -> None:
    transplants(web)
    assert web.login(STATISTICIAN).get(f"/stats/outcomes?centre={CENTRE_B}").status_code == 404
    assert web.login(STATISTICIAN).get(
        f"/stats/outcomes.pdf?centre={CENTRE_B}").status_code == 404
    admin = web.login(user_name("system_admin", None))
    html = admin.get("/stats/outcomes").text
    assert CENTRE_A in html and CENTRE_B in html
    one = admin.get(f"/stats/outcomes?centre={CENTRE_B}").text
    assert re.search(r"<th>Transplants</th><td>1</td>", one)


@pytest.mark.parametrize("role", ["physician", "data_entry", "hla_lab", "monitor"])
def test_roles_without_statistics_are_refused(web: WebEnv, role: str) -> None:
    c = web.login(user_name(role, CENTRE_A))
    assert c.get("/stats/outcomes").status_code == 403
    assert c.get("/stats/outcomes.pdf").status_code == 403


def test_the_pdf_is_the_centre_report_of_the_same_cohort(web: WebEnv) -> None:
    transplants(web)
    r = web.login(STATISTICIAN).get("/stats/outcomes.pdf?from=2024-01-01")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert f"centre-report-{CENTRE_A}.pdf" in r.headers["content-disposition"]


@pytest.mark.parametrize(("query", "field", "status"), [
    ("cohort=<script>alert(1)</script>", "<script>", 422),
    # a valid filter (a diagnosis nobody has): shown in the form and on the title block
    ("cohort=disease=<img src=x onerror=alert(1)>", "<img src=x onerror", 200),
    ("donor_type=<b>x</b>", "<b>", 422),
    ("endpoint=<i>os</i>", "<i>", 422),
    ("from=<svg onload=alert(1)>", "<svg onload", 422),
])
def test_cohort_inputs_are_escaped(web: WebEnv, query: str, field: str, status: int) -> None:
    r = web.login(STATISTICIAN).get(f"/stats/outcomes?{query}")
    assert r.status_code == status
    assert field not in r.text.split("<main>")[1]
    assert "&lt;" in r.text


def test_a_cohort_filter_cannot_leave_the_users_centre(web: WebEnv) -> None:
    r = web.login(STATISTICIAN).get(f"/stats/outcomes?cohort=centre={CENTRE_B}")
    assert r.status_code == 422
    assert "give it once" in r.text


def test_each_view_and_download_is_audited(web: WebEnv) -> None:
    transplants(web)
    c = web.login(STATISTICIAN)
    assert c.get("/stats/outcomes?endpoint=os").status_code == 200
    assert c.get("/stats/outcomes.pdf").status_code == 200
    with web.registry.reading() as s:
        got = [(e.actor, e.action, e.object_id, e.payload["transplants"]) for e in s.execute(
            select(AuditLog).where(AuditLog.action.like("stats.outcomes.%"))
            .order_by(AuditLog.seq)).scalars()]
    assert got == [(STATISTICIAN, "stats.outcomes.view", CENTRE_A, 2),
                   (STATISTICIAN, "stats.outcomes.pdf", CENTRE_A, 2)]
    assert web.registry.verify_audit()["intact"]


def test_the_page_in_chinese(web: WebEnv) -> None:
    transplants(web)
    c = web.login(STATISTICIAN)
    c.cookies.set("everydonor_lang", "zh")
    html = c.get("/stats/outcomes?endpoint=os").text
    for text in ("中心疗效报告", "总生存", "下载中心报告（PDF）", "供者类型"):
        assert text in html


def test_pooled_asked_for_but_none_imported_is_said(web: WebEnv) -> None:
    """Ticking 'Include the pooled cohort' on a registry with no imported export says so in the
    report, instead of leaving the reader to guess whether the choice was applied."""
    transplants(web)
    c = web.login(STATISTICIAN)
    html = c.get("/stats/outcomes?endpoint=os&pooled=1").text
    assert "no pooled patient is in this cohort" in html
    assert 'name="pooled" value="1" checked aria-describedby="pooled-help"' in html
    assert "no pooled patient" not in c.get("/stats/outcomes?endpoint=os").text
