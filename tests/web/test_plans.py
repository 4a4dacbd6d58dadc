"""Treatment plan pages on a stored patient: the core's doses as the core gives them, the ICS
download, the plan kept as a snapshot, refusals that name the field, permissions and centres."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json

import pytest

from everydonor.adapters.inputs.casefile import load_case_data
from everydonor.adapters.inputs.regimens import load_regimen
from everydonor.case import parse_case
from everydonor.treatment.plan import exact, plan_regimen
from tests.web.conftest import CENTRE_A, EXAMPLES, WebEnv, csrf_of, user_name

UPN = "A-007"
REGIMEN = "beijing-mac-malignancy"
DAY0 = "2026-12-10"


@pytest.fixture
def env(web: WebEnv) -> WebEnv:
    """The example post-transplant patient (weight, height, brother donor with a weight)."""
    web.registry.add_case(load_case_data(str(EXAMPLES / "07-post-transplant-mrd-follow-up.yaml")),
                          actor="fixture", upn=UPN, centre=CENTRE_A)
    return web


def core_plan(env: WebEnv, donor: str | None = "B1", **options: str) -> dict:
    document, _, _ = env.registry.clinical_case(UPN)
    case = parse_case(document, today=dt.date.today())
    return plan_regimen(load_regimen(REGIMEN), case.patient, dt.date.fromisoformat(DAY0),
                        options=options, donor=case.person(donor) if donor else None)


def query(**extra: str) -> str:
    params = {"regimen": REGIMEN, "day0": DAY0, "donor": "B1", **extra}
    return "&".join(f"{k}={v}" for k, v in params.items())


def test_form_lists_regimens_options_and_relatives(env: WebEnv) -> None:
    c = env.login(user_name("physician", CENTRE_A))
    r = c.get(f"/patients/{UPN}/plan")
    assert r.status_code == 200
    for rid in ("beijing-mac-malignancy", "beijing-saa", "beijing-ric-elderly"):
        assert f'value="{rid}"' in r.text
    assert 'name="opt_atg_total_mg_per_kg"' in r.text
    assert 'value="B1"' in r.text and 'value="F"' in r.text
    assert 'value="dubois"' in r.text


def test_plan_page_shows_the_cores_doses(env: WebEnv) -> None:
    c = env.login(user_name("physician", CENTRE_A))
    r = c.get(f"/patients/{UPN}/plan?{query()}")
    assert r.status_code == 200, r.text
    text = html.unescape(r.text)
    doc = core_plan(env)
    assert doc["orders"], "the regimen plans orders"
    for o in doc["orders"] + doc["donor_plan"]["orders"]:
        assert f"{exact(o['dose_rounded'])} {o['unit']}" in text, o
        assert o["arithmetic"] in text
        assert o["rounding"]["text"] in text
        if o["dose_rounded"] != o["dose"]:
            assert f"{exact(o['dose'])} {o['unit']}" in text
    for d in {o["date"] for o in doc["orders"]}:
        assert d in text
    assert "[M]" in text
    for note in doc["notes"]:
        assert note in text
    for ref in doc["regimen"]["references"]:
        assert ref in text
    assert f"{doc['patient']['bsa_m2']:.4f} m²" in text


def test_option_changes_the_dose_as_the_core_does(env: WebEnv) -> None:
    c = env.login(user_name("physician", CENTRE_A))
    r = c.get(f"/patients/{UPN}/plan?{query(opt_atg_total_mg_per_kg='7.5', opt_atg_days='-4,-3,-2')}")
    assert r.status_code == 200, r.text
    doc = core_plan(env, atg_total_mg_per_kg="7.5", atg_days="-4,-3,-2")
    atg = [o for o in doc["orders"] if o["line"] == "antithymocyte_globulin"]
    assert [o["day"] for o in atg] == [-4, -3, -2]
    assert html.unescape(atg[0]["arithmetic"]) in html.unescape(r.text)


def test_missing_height_is_refused_naming_the_field(web: WebEnv) -> None:
    c = web.login(user_name("physician", CENTRE_A))
    r = c.get(f"/patients/A-001/plan?regimen={REGIMEN}&day0={DAY0}")
    assert r.status_code == 422
    assert "height_cm" in r.text and "height is required" in r.text
    assert f'value="{DAY0}"' in r.text  # the form keeps what was typed


def test_bad_day0_and_template_regimen_are_refused(env: WebEnv) -> None:
    c = env.login(user_name("physician", CENTRE_A))
    r = c.get(f"/patients/{UPN}/plan?regimen={REGIMEN}&day0=2026-13-45")
    assert r.status_code == 422 and "day0" in r.text and "2026-13-45" in r.text
    r = c.get(f"/patients/{UPN}/plan?regimen=beijing-ric-elderly&day0={DAY0}")
    assert r.status_code == 422 and "unset" in r.text
    r = c.get(f"/patients/{UPN}/plan?regimen=../../etc/passwd&day0={DAY0}")
    assert r.status_code == 422 and "bundled regimens" in r.text


def test_ics_has_one_event_per_dated_item(env: WebEnv) -> None:
    c = env.login(user_name("monitor", CENTRE_A))
    r = c.get(f"/patients/{UPN}/plan.ics?{query()}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    assert "attachment" in r.headers["content-disposition"]
    body = r.text
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    doc = core_plan(env)
    assert body.count("BEGIN:VEVENT") == len(doc["calendar"]) == body.count("END:VEVENT")
    unfolded = body.replace("\r\n ", "")
    first = doc["calendar"][0]
    assert f"DTSTART;VALUE=DATE:{first['date'].replace('-', '')}" in unfolded


def test_plan_kept_as_snapshot_with_sha256(env: WebEnv) -> None:
    c = env.login(user_name("physician", CENTRE_A))
    page = c.get(f"/patients/{UPN}/plan?{query()}")
    before = env.registry.show(UPN)["snapshots"]
    r = c.post(f"/patients/{UPN}/plan", data={"regimen": REGIMEN, "day0": DAY0, "donor": "B1",
                                               "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    snaps = env.registry.show(UPN)["snapshots"]
    assert len(snaps) == len(before) + 1
    snap = snaps[-1]
    assert snap["kind"] == "plan" and snap["created_by"] == user_name("physician", CENTRE_A)
    stored = env.registry.snapshot(snap["id"])
    assert stored["intact"]
    assert stored["answer"]["orders"] == json.loads(json.dumps(core_plan(env)["orders"]))
    assert len(snap["sha256"]) == 64 and hashlib.sha256  # the digest is shown on the page
    shown = c.get(r.headers["location"])
    assert shown.status_code == 200 and snap["sha256"] in shown.text and snap["id"] in shown.text


def test_keeping_needs_rank_save_and_csrf(env: WebEnv) -> None:
    c = env.login(user_name("data_entry", CENTRE_A))
    page = c.get(f"/patients/{UPN}/plan?{query()}")
    assert page.status_code == 200
    assert "Keep this plan" not in page.text
    r = c.post(f"/patients/{UPN}/plan", data={"regimen": REGIMEN, "day0": DAY0,
                                               "csrf_token": csrf_of(page.text)})
    assert r.status_code == 403
    p = env.login(user_name("physician", CENTRE_A))
    r = p.post(f"/patients/{UPN}/plan", data={"regimen": REGIMEN, "day0": DAY0})
    assert r.status_code == 403
    assert env.registry.show(UPN)["snapshots"] == []


def test_other_centre_gets_404(env: WebEnv) -> None:
    c = env.login(user_name("physician", "OTHER"))
    assert c.get(f"/patients/{UPN}/plan?{query()}").status_code == 404
    assert c.get(f"/patients/{UPN}/plan.ics?{query()}").status_code == 404
    mine = env.login(user_name("physician", CENTRE_A))
    assert mine.get("/patients/B-001/plan").status_code == 404
