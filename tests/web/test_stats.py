"""The de-identified page for statisticians (SR-06, SR-13): what it shows, what it never shows,
whose patients it counts, and that every view is audited."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import select

from everydonor.adapters.registry.deidentified import age_band, donor_group
from everydonor.adapters.registry.models import AuditLog, Patient
from tests.web.conftest import CENTRE_A, CENTRE_B, WebEnv, user_name

STATISTICIAN = user_name("statistician", CENTRE_A)


def pseudonyms(web: WebEnv) -> dict[str, str]:
    with web.registry.reading() as s:
        return {str(r[0]): str(r[1]) for r in s.execute(select(Patient.upn, Patient.pseudonym))}


def transplant(web: WebEnv, upn: str, day0: dt.date, donor: str | None,
               hct_type: str = "allo") -> None:
    web.registry.add_hct(upn, day0=day0, hct_type=hct_type, donor=donor, graft="PBSC",
                         actor="fixture", reason="transplant recorded")


@pytest.mark.parametrize(("age", "band"), [(0, "0-4"), (4.99, "0-4"), (34, "30-34"),
                                           (35, "35-39"), (89.9, "85-89"), (90, "90+"),
                                           (104, "90+"), (None, None), (-1, None)])
def test_age_bands_are_five_years_and_ages_over_89_are_90_plus(age: float | None,
                                                               band: str | None) -> None:
    assert age_band(age) == band


def test_the_page_shows_only_de_identified_fields_of_the_users_centre(web: WebEnv) -> None:
    transplant(web, "A-001", dt.date(2025, 3, 14), "S1")      # sister
    transplant(web, "A-002", dt.date(2026, 1, 9), None)       # donor not recorded
    transplant(web, "B-001", dt.date(2026, 2, 2), None)       # the other centre's
    names = pseudonyms(web)
    c = web.login(STATISTICIAN)
    r = c.get("/stats")
    assert r.status_code == 200
    html = r.text
    for upn in ("A-001", "A-002"):
        assert names[upn][:12] in html
        assert upn not in html  # no UPN anywhere, not even in a link
        assert names[upn] not in html  # the short form only
    assert names["B-001"][:12] not in html and "OTHER" not in html
    # no exact date of anything: the transplant shows as its year
    assert "2025-03-14" not in html and "2026-01-09" not in html
    assert "#1 2025" in html
    assert "30-34" in html  # example 01's patient is 34
    assert "/patients/" not in html.split("<main>")[1]  # no way back to identified pages
    # statisticians open no identified page
    assert c.get("/patients").status_code == 403
    assert c.get("/patients/A-001").status_code == 403


def test_the_activity_table_counts_transplants_per_year_and_donor_relation(web: WebEnv) -> None:
    transplant(web, "A-001", dt.date(2025, 3, 14), "S1")   # sister → sibling
    transplant(web, "A-001", dt.date(2026, 6, 1), "F")     # second HCT, father → parent
    transplant(web, "A-002", dt.date(2026, 1, 9), None)
    c = web.login(STATISTICIAN)
    data = c.get("/stats/cohort.json").json()
    table = {(row["centre"], row["year"]): row for row in data["activity"]}
    assert set(table) == {(CENTRE_A, 2025), (CENTRE_A, 2026)}
    assert table[(CENTRE_A, 2025)]["counts"]["sibling"] == 1
    assert table[(CENTRE_A, 2025)]["total"] == 1
    assert table[(CENTRE_A, 2026)]["counts"]["parent"] == 1
    assert table[(CENTRE_A, 2026)]["counts"]["not recorded"] == 1
    assert table[(CENTRE_A, 2026)]["total"] == 2
    assert data["transplants"] == 3
    # nothing in the JSON is a UPN, a case person id with a name, or a full date
    text = json.dumps(data)
    assert "A-001" not in text and "A-002" not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert data["centre"] == CENTRE_A
    assert data["patients"][0].keys() >= {"pseudonym", "age_band", "diagnosis", "transplants"}
    assert "upn" not in data["patients"][0]


def test_a_system_admin_sees_every_centre_pooled(web: WebEnv) -> None:
    transplant(web, "A-001", dt.date(2025, 3, 14), "S1")
    transplant(web, "B-001", dt.date(2025, 5, 5), None)
    data = web.login(user_name("system_admin", None)).get("/stats/cohort.json").json()
    assert data["centre"] is None
    assert {p["centre"] for p in data["patients"]} == {CENTRE_A, CENTRE_B}
    assert {(r["centre"], r["year"]) for r in data["activity"]} == {(CENTRE_A, 2025),
                                                                    (CENTRE_B, 2025)}


def test_each_view_is_audited(web_db: WebEnv) -> None:
    c = web_db.login(STATISTICIAN)
    assert c.get("/stats").status_code == 200
    assert c.get("/stats/cohort.json").status_code == 200
    with web_db.registry.reading() as s:
        rows = list(s.execute(select(AuditLog).where(AuditLog.action == "stats.view")
                              .order_by(AuditLog.seq)).scalars())
        got = [(r.actor, r.object_id, r.payload["path"], r.payload["patients"]) for r in rows]
    assert got == [(STATISTICIAN, CENTRE_A, "/stats", 2),
                   (STATISTICIAN, CENTRE_A, "/stats/cohort.json", 2)]
    assert web_db.registry.verify_audit()["intact"]


def test_donor_groups_follow_the_recorded_relation() -> None:
    from everydonor.adapters.registry.models import Person

    def person(role: str, relationship: str | None) -> Person:
        return Person(role=role, relationship=relationship)

    assert donor_group("auto", None) == "autologous"
    assert donor_group("allo", None) == "not recorded"
    assert donor_group("allo", person("relative", "brother")) == "sibling"
    assert donor_group("allo", person("relative", "mother")) == "parent"
    assert donor_group("allo", person("relative", "daughter")) == "child"
    assert donor_group("allo", person("relative", "half_sister")) == "other family"
    assert donor_group("allo", person("relative", "uncle")) == "other family"
    assert donor_group("allo", person("unrelated", None)) == "unrelated"


def test_free_text_is_escaped_on_the_stats_page(web: WebEnv) -> None:
    """Diagnosis is a coded field, but what the database holds is shown escaped all the same."""
    from sqlalchemy import update

    from everydonor.adapters.registry.models import Disease

    payload = "<script>alert(1)</script>"
    with web.registry.engine.begin() as conn:
        conn.execute(update(Disease).values(diagnosis=payload, version=Disease.version + 1))
    html = web.login(STATISTICIAN).get("/stats").text
    assert payload not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
