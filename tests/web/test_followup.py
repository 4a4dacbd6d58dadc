"""Follow-up pages on a stored patient: live previews equal the core's answers, storing writes
one audited entry that appears in the timeline, SR-11 date refusals name the field and write
nothing, permissions, centres and escaping of free text."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from fastapi.testclient import TestClient

from everydonor.adapters.inputs.casefile import load_case_data
from everydonor.case import parse_case
from everydonor.scores.catalogue import compute_score
from everydonor.treatment.followup import assess_follow_up
from tests.web.conftest import CENTRE_A, EXAMPLES, WebEnv, csrf_of, user_name

UPN = "A-001"
DAY0 = "2026-06-15"


def audit_count(env: WebEnv) -> int:
    from sqlalchemy import func, select

    from everydonor.adapters.registry.models import AuditLog

    with env.registry.reading() as s:
        return int(s.execute(select(func.count()).select_from(AuditLog)).scalar() or 0)


@pytest.fixture
def env(web: WebEnv) -> WebEnv:
    web.registry.add_hct(UPN, day0=dt.date.fromisoformat(DAY0), donor="B1", actor="fixture",
                         reason="fixture")
    return web


def signed(env: WebEnv, role: str = "physician", upn: str = UPN) -> tuple[TestClient, str]:
    c = env.login(user_name(role, CENTRE_A))
    page = c.get(f"/patients/{upn}/followup")
    assert page.status_code == 200, page.text
    return c, csrf_of(page.text)


def registry_events(env: WebEnv, upn: str = UPN) -> list[dict]:
    return [e for e in env.registry.show(upn)["follow_up"] if e["source"] == "registry"]


@pytest.mark.parametrize("stages", [
    {"skin_stage": 3}, {"skin_stage": 1, "liver_stage": 2}, {"lower_gi_stage": 4},
    {"upper_gi_stage": 1}, {"skin_stage": 0}, {"skin_stage": 4, "lower_gi_stage": 1}])
def test_agvhd_preview_grade_is_the_cores(env: WebEnv, stages: dict) -> None:
    c, token = signed(env)
    data = {"csrf_token": token, "date": "2026-07-01", **{k: str(v) for k, v in stages.items()}}
    r = c.post(f"/patients/{UPN}/followup/agvhd/preview", data=data,
               headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text
    expected = compute_score("magic_agvhd_grade", stages)
    assert f"grade <strong>{expected['grade']}</strong>" in r.text
    assert expected["criteria"] in r.text and "Preview" in r.text
    assert registry_events(env) == []  # nothing stored


def test_keystone_criteria_preview(env: WebEnv) -> None:
    c, token = signed(env)
    page = c.get(f"/patients/{UPN}/followup?agvhd=keystone_glucksberg_agvhd_grade")
    assert 'name="gut_stage"' in page.text
    r = c.post(f"/patients/{UPN}/followup/agvhd/preview",
               data={"csrf_token": token, "date": "2026-07-01", "skin_stage": "2",
                     "gut_stage": "4", "criteria": "keystone_glucksberg_agvhd_grade"})
    expected = compute_score("keystone_glucksberg_agvhd_grade", {"skin_stage": 2, "gut_stage": 4})
    assert f"grade <strong>{expected['grade']}</strong>" in r.text


def test_storing_agvhd_writes_one_audit_entry_and_shows_in_timeline(env: WebEnv) -> None:
    c, token = signed(env, "data_entry")
    before = audit_count(env)
    r = c.post(f"/patients/{UPN}/followup/agvhd",
               data={"csrf_token": token, "date": "2026-07-01", "skin_stage": "3",
                     "liver_stage": "1"})
    assert r.status_code == 303, r.text
    assert audit_count(env) == before + 1
    events = registry_events(env)
    assert len(events) == 1 and events[0]["event_type"] == "score"
    p = events[0]["payload"]
    assert p["score"] == "magic_agvhd_grade" and p["criteria"] == "MAGIC-2016"
    assert p["inputs"] == {"skin_stage": 3, "liver_stage": 1}
    expected = compute_score("magic_agvhd_grade", {"skin_stage": 3, "liver_stage": 1})
    page = c.get(r.headers["location"])
    assert events[0]["id"] in page.text and "just stored" in page.text
    assert f"grade <strong>{expected['grade']}</strong>" in page.text
    assert "MAGIC-2016" in page.text and f"everydonor {p['software']}" in page.text
    assert "skin_stage</code> = 3" in page.text


def test_engraftment_counts_score_is_the_cores(env: WebEnv) -> None:
    c, token = signed(env)
    counts = "2026-06-20 0.1\n2026-06-25 0.6\n+11 0.8\n+12 1.2"
    r = c.post(f"/patients/{UPN}/followup/neutrophil",
               data={"csrf_token": token, "date": "2026-07-01",
                     "anc_by_day_x10e9_per_l": counts})
    assert r.status_code == 303, r.text
    expected = compute_score("neutrophil_engraftment_day",
                             {"anc_by_day_x10e9_per_l": [[5, 0.1], [10, 0.6], [11, 0.8],
                                                         [12, 1.2]]})
    stored = registry_events(env)[0]["payload"]
    assert stored["result"]["day"] == expected["day"] == 10


def test_anc_date_before_day0_is_refused_and_nothing_written(env: WebEnv) -> None:
    c, token = signed(env)
    before = audit_count(env)
    r = c.post(f"/patients/{UPN}/followup/engraftment",
               data={"csrf_token": token, "date": "2026-07-01", "anc_500_date": "2026-06-01",
                     "note": "kept note"})
    assert r.status_code == 422
    assert "anc_500_date" in r.text and "2026-06-01" in r.text
    assert 'value="2026-06-01"' in r.text and "kept note" in r.text  # input kept
    assert audit_count(env) == before and registry_events(env) == []


def test_late_agvhd_needs_the_late_onset_flag(env: WebEnv) -> None:
    c, token = signed(env)
    data = {"csrf_token": token, "date": "2026-10-15", "skin_stage": "2"}
    r = c.post(f"/patients/{UPN}/followup/agvhd", data=data)
    assert r.status_code == 422 and "late-onset" in r.text and "2026-10-15" in r.text
    assert registry_events(env) == []
    r = c.post(f"/patients/{UPN}/followup/agvhd", data={**data, "late_onset": "1"})
    assert r.status_code == 303


def test_bad_date_text_is_refused(env: WebEnv) -> None:
    c, token = signed(env)
    r = c.post(f"/patients/{UPN}/followup/chimerism",
               data={"csrf_token": token, "date": "2026-02-30", "donor_pct": "98"})
    assert r.status_code == 422 and "2026-02-30" in r.text and "date" in r.text
    r = c.post(f"/patients/{UPN}/followup/chimerism",
               data={"csrf_token": token, "date": "2026-07-30", "donor_pct": "130"})
    assert r.status_code == 422 and "donor_pct" in r.text and "130" in r.text
    assert registry_events(env) == []


def test_chimerism_and_cmv_stored_and_shown(env: WebEnv) -> None:
    c, token = signed(env)
    r = c.post(f"/patients/{UPN}/followup/chimerism/preview",
               data={"csrf_token": token, "date": "2026-07-30", "donor_pct": "92"})
    expected = compute_score("donor_chimerism_category", {"donor_pct": 92})
    assert f"category <strong>{expected['category']}</strong>" in r.text
    assert c.post(f"/patients/{UPN}/followup/chimerism",
                  data={"csrf_token": token, "date": "2026-07-30", "donor_pct": "92",
                        "method": "STR-PCR"}).status_code == 303
    assert c.post(f"/patients/{UPN}/followup/cmv",
                  data={"csrf_token": token, "date": "2026-07-20",
                        "load_iu_ml": "1500", "specimen": "plasma"}).status_code == 303
    types = [e["event_type"] for e in registry_events(env)]
    assert types == ["chimerism", "cmv"]
    page = c.get(f"/patients/{UPN}/followup").text
    assert "STR-PCR" in page and "1500" in page


def test_cgvhd_global_severity_is_the_cores(env: WebEnv) -> None:
    c, token = signed(env)
    r = c.post(f"/patients/{UPN}/followup/cgvhd/preview",
               data={"csrf_token": token, "date": "2027-01-10", "organ_scores.skin": "2",
                     "organ_scores.mouth": "1", "organ_scores.liver": "excluded"})
    expected = compute_score("nih2014_cgvhd_global_severity",
                             {"organ_scores": {"skin": 2, "mouth": 1, "liver": None}})
    assert f"global severity <strong>{expected['global_severity']}</strong>" in r.text


def test_mrd_recommendation_is_the_cores(web: WebEnv) -> None:
    web.registry.add_case(load_case_data(str(EXAMPLES / "07-post-transplant-mrd-follow-up.yaml")),
                          actor="fixture", upn="A-007", centre=CENTRE_A)
    c, token = signed(web, upn="A-007")
    assert "Needs day 0" in c.get("/patients/A-007/followup").text
    r = c.post("/patients/A-007/followup/mrd",
               data={"csrf_token": token, "date": "2026-10-01", "wt1_pct": "0.3"})
    assert r.status_code == 422 and "hct" in r.text  # day 0 first
    assert c.post("/patients/A-007/followup/hct",
                  data={"csrf_token": token, "day0": "2026-06-15",
                        "donor": "B1"}).status_code == 303
    document, _, _ = web.registry.clinical_case("A-007")
    case = parse_case(document, today=dt.date.today())
    expected = assess_follow_up(case.patient, dt.date(2026, 6, 15), case.follow_up)
    page = html.unescape(c.get("/patients/A-007/followup").text)
    assert expected["mrd_status"].upper() in page
    for rec in expected["recommendations"]:
        assert rec["action"] in page and rec["citation"] in page
        assert f"[{rec['confidence']}]" in page
    r = c.post("/patients/A-007/followup/mrd",
               data={"csrf_token": token, "date": "2026-10-01", "wt1_pct": "2.0",
                     "flow": "positive", "method": "WT1 RT-qPCR"})
    assert r.status_code == 303
    stored = registry_events(web, "A-007")[-1]
    assert stored["event_type"] == "mrd" and stored["payload"]["wt1_pct"] == 2.0


def test_hla_lab_cannot_store_followup(env: WebEnv) -> None:
    c, token = signed(env, "hla_lab")
    page = c.get(f"/patients/{UPN}/followup").text
    assert 'action="/patients/A-001/followup/agvhd"' not in page
    r = c.post(f"/patients/{UPN}/followup/agvhd",
               data={"csrf_token": token, "date": "2026-07-01", "skin_stage": "1"})
    assert r.status_code == 403
    r = c.post(f"/patients/{UPN}/followup/agvhd/preview",
               data={"csrf_token": token, "date": "2026-07-01", "skin_stage": "1"})
    assert r.status_code == 403
    assert registry_events(env) == []


def test_csrf_and_unknown_kind(env: WebEnv) -> None:
    c, token = signed(env)
    assert c.post(f"/patients/{UPN}/followup/agvhd",
                  data={"date": "2026-07-01", "skin_stage": "1"}).status_code == 403
    assert c.post(f"/patients/{UPN}/followup/nonsense",
                  data={"csrf_token": token}).status_code == 404
    assert registry_events(env) == []


def test_other_centre_gets_404(env: WebEnv) -> None:
    other = env.login(user_name("physician", "OTHER"))
    assert other.get(f"/patients/{UPN}/followup").status_code == 404
    page = other.get("/patients/B-001/followup")
    r = other.post(f"/patients/{UPN}/followup/agvhd",
                   data={"csrf_token": csrf_of(page.text), "date": "2026-07-01",
                         "skin_stage": "1"})
    assert r.status_code == 404
    assert registry_events(env) == []


def test_script_in_free_text_is_escaped(env: WebEnv) -> None:
    c, token = signed(env)
    evil = '<script>alert("x")</script>'
    assert c.post(f"/patients/{UPN}/followup/chimerism",
                  data={"csrf_token": token, "date": "2026-07-30", "donor_pct": "99",
                        "sample": evil, "note": evil, "method": evil}).status_code == 303
    assert c.post(f"/patients/{UPN}/followup/mrd",
                  data={"csrf_token": token, "date": "2026-08-30", "wt1_pct": "0.1",
                        "note": evil, "fusion_name": evil,
                        "fusion_result": "negative"}).status_code == 303
    page = c.get(f"/patients/{UPN}/followup").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    r = c.post(f"/patients/{UPN}/followup/engraftment",
               data={"csrf_token": token, "date": "bad", "note": evil})
    assert r.status_code == 422 and "<script>alert" not in r.text
