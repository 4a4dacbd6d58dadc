"""/stats/outcomes with "Include the pooled cohort": another centre's de-identified export
imported into the web app's registry, shown beside the user's own centre (never another local
centre), its counts those of the registry adapter, a period inside a year refused with the
reason, the choice escaped and refused when malformed, roles refused, views audited, the label
in Chinese."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from everydonor.adapters.registry import exports
from everydonor.adapters.registry import outcomes_data as od
from everydonor.adapters.registry.config import PseudonymKey
from everydonor.adapters.registry.models import AuditLog
from everydonor.adapters.registry.pooled import import_pooled
from everydonor.adapters.registry.store import Registry
from tests.web.conftest import CENTRE_A, CENTRE_B, WebEnv, user_name
from tests.web.test_stats_outcomes import transplants

STATISTICIAN = user_name("statistician", CENTRE_A)
POOLED = "XZ"


def pool(web: WebEnv, tmp_path: Path) -> int:
    """Centre XZ (its own registry) exports three transplanted patients de-identified; the web
    app's registry imports them. Returns the number of pooled transplants."""
    source = Registry(f"sqlite:///{tmp_path / 'xz.sqlite'}",
                      key=PseudonymKey(b"xz-centre-key-0123456789abcdef", "test"))
    source.init(actor="xz-admin")
    try:
        doc = {"format": "everydonor.case/1",
               "patient": {"id": "P", "sex": "male", "age": 33, "diagnosis": "AML"},
               "relatives": [{"id": "F", "relationship": "father"}]}
        for i, (day0, death) in enumerate(((dt.date(2023, 2, 1), 150),
                                           (dt.date(2024, 6, 1), None),
                                           (dt.date(2025, 3, 3), 40))):
            upn = f"XZ-{i}"
            source.add_case(doc, actor="t", upn=upn, centre=POOLED)
            source.set_consent(upn, research=True, international_transfer=True,
                               consent_date=dt.date(2022, 1, 1), scope=None, actor="t",
                               reason="consent")
            source.add_hct(upn, day0=day0, donor="F", actor="t", reason="r")
            if death is None:
                source.record_event(upn, "last_contact", day0 + dt.timedelta(days=300),
                                    {"vital_status": "alive"}, actor="t", reason="r")
            else:
                source.record_event(upn, "death", day0 + dt.timedelta(days=death),
                                    {"cause": "infection"}, actor="t", reason="r")
        exports.export(source, "deidentified", destination="international",
                       output=tmp_path / "xz-deid", actor="xz-dm", reason="pooled study")
    finally:
        source.close()
    import_pooled(web.registry, tmp_path / "xz-deid", actor="dm", reason="pooled study")
    return 3


def _main(html: str) -> str:
    return html.split("<main>")[1]


def test_the_pooled_cohort_beside_the_users_centre(web: WebEnv, tmp_path: Path) -> None:
    transplants(web)
    n_pooled = pool(web, tmp_path)
    c = web.login(STATISTICIAN)
    without = _main(c.get("/stats/outcomes?endpoint=os").text)
    assert f"included: {POOLED}" not in without and "Pooled cohort" not in without
    r = c.get("/stats/outcomes?endpoint=os&pooled=1")
    assert r.status_code == 200, r.text
    html = _main(r.text)
    assert 'name="pooled" value="1" checked' in html
    assert f"included: {POOLED}" in html
    own = od.transplants(web.registry, od.parse_cohort(f"centre={CENTRE_A}"))
    assert re.search(rf"<th>Transplants</th><td>{len(own) + n_pooled}</td>", html)
    assert CENTRE_B not in html  # another local centre stays out
    # the same numbers as the registry adapter: the user's centre and the pooled cohort
    data = od.endpoint_data(web.registry, "os", od.Cohort(source="all",
                                                          local_centre=(CENTRE_A,)))
    assert sorted(set(data.centre)) == [CENTRE_A, POOLED]
    assert f"<td class=\"num\">{len(data.time)}</td>" in html
    pdf = c.get("/stats/outcomes.pdf?pooled=1")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_a_period_inside_a_year_is_refused_with_the_pooled_cohort(web: WebEnv,
                                                                   tmp_path: Path) -> None:
    transplants(web)
    pool(web, tmp_path)
    c = web.login(STATISTICIAN)
    r = c.get("/stats/outcomes?pooled=1&from=2024-03-01")
    assert r.status_code == 422
    assert "only the transplant&#39;s year is real" in r.text or \
        "only the transplant's year is real" in r.text
    assert c.get("/stats/outcomes.pdf?pooled=1&from=2024-03-01").status_code == 422
    assert c.get("/stats/outcomes?pooled=1&from=2024-01-01&to=2025-12-31").status_code == 200
    assert c.get("/stats/outcomes?from=2024-03-01").status_code == 200  # own patients only
    r = c.get("/stats/outcomes?pooled=1&cohort=source=pooled")
    assert r.status_code == 422 and "give it once" in r.text


@pytest.mark.parametrize("value", ["<script>alert(1)</script>", "yes", "0"])
def test_the_choice_is_checked_and_escaped(web: WebEnv, value: str) -> None:
    r = web.login(STATISTICIAN).get("/stats/outcomes", params={"pooled": value})
    assert r.status_code == 422
    assert "<script>" not in _main(r.text)
    assert "pooled is 1" in r.text


@pytest.mark.parametrize("role", ["physician", "data_entry", "hla_lab", "monitor"])
def test_roles_without_statistics_are_refused(web: WebEnv, role: str, tmp_path: Path) -> None:
    pool(web, tmp_path)
    c = web.login(user_name(role, CENTRE_A))
    assert c.get("/stats/outcomes?pooled=1").status_code == 403
    assert c.get("/stats/outcomes.pdf?pooled=1").status_code == 403


def test_views_are_audited_with_the_pooled_choice(web: WebEnv, tmp_path: Path) -> None:
    transplants(web)
    n_pooled = pool(web, tmp_path)
    c = web.login(STATISTICIAN)
    assert c.get("/stats/outcomes?endpoint=os&pooled=1").status_code == 200
    with web.registry.reading() as s:
        view = s.execute(select(AuditLog.payload).where(
            AuditLog.action == "stats.outcomes.view")).scalar_one()
        reads = [e.payload for e in s.execute(select(AuditLog).where(
            AuditLog.action.in_(("outcomes.read", "outcomes.activity")),
            AuditLog.actor == STATISTICIAN)).scalars()]
    assert view["request"]["pooled"] is True and view["request"]["centre"] == CENTRE_A
    assert {p["source"] for p in reads} == {"all"}
    assert [p["pooled_transplants"] for p in reads if "endpoint" not in p] == [n_pooled]
    assert web.registry.verify_audit()["intact"]


def test_the_choice_in_chinese(web: WebEnv, tmp_path: Path) -> None:
    transplants(web)
    pool(web, tmp_path)
    c = web.login(STATISTICIAN)
    c.cookies.set("everydonor_lang", "zh")
    html = c.get("/stats/outcomes?endpoint=os&pooled=1").text
    for text in ("纳入汇集队列", "汇集队列", f"已纳入：{POOLED}"):
        assert text in html
