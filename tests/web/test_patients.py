"""Patients, relatives and persons on the web: the patient page, creating a patient, adding a
relative, editing a person — against the real registry (history, audit, identity, centres)."""

from __future__ import annotations

import copy
import html
import re

import pytest
from fastapi.testclient import TestClient

from everydonor.adapters.inputs.casefile import load_case_data
from tests.web.conftest import CENTRE_A, EXAMPLES, WebEnv, csrf_of, user_name

PAYLOAD = "<script>alert(1)</script>"
ESCAPED = html.escape(PAYLOAD, quote=True)
PHYSICIAN = user_name("physician", CENTRE_A)


def form_of(c: TestClient, url: str) -> tuple[str, dict[str, str]]:
    """The page's CSRF token and the values its form fields hold (inputs, selects, textareas)."""
    r = c.get(url)
    assert r.status_code == 200, r.text
    text = r.text
    values: dict[str, str] = {}
    for m in re.finditer(r'<input type="(?:text|date|hidden)" id="f-([\w]+)" name="\1" '
                         r'value="([^"]*)"', text):
        values[m.group(1)] = html.unescape(m.group(2))
    for m in re.finditer(r'<select id="f-(\w+)" name="\1".*?</select>', text, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', m.group(0))
        values[m.group(1)] = html.unescape(chosen.group(1)) if chosen else ""
    for m in re.finditer(r'<textarea id="f-(\w+)" name="\1"[^>]*>(.*?)</textarea>', text, re.S):
        values[m.group(1)] = html.unescape(m.group(2))
    version = re.search(r'name="version" value="(\d+)"', text)
    if version:
        values["version"] = version.group(1)
    return csrf_of(text), values


def new_patient(**over: str) -> dict[str, str]:
    data = {"upn": "N-001", "sex": "female", "age": "29", "weight_kg": "55.5", "abo": "B+",
            "cmv_igg": "positive", "diagnosis": "ALL", "disease_status": "CR1",
            "disease_risk": "high",
            "hla_A_1": "A*02:01", "hla_A_2": "A*24:02", "hla_B_1": "B*46:01",
            "hla_B_2": "B*40:01", "hla_C_1": "C*01:02", "hla_C_2": "C*03:04",
            "hla_DRB1_1": "DRB1*09:01", "hla_DRB1_2": "DRB1*12:01",
            "hla_DQB1_1": "DQB1*03:03", "hla_DQB1_2": "DQB1*03:01",
            "hla_DPB1_1": "DPB1*05:01", "hla_DPB1_2": "DPB1*02:01",
            "ab_test_date": "2026-11-20", "ab_results": "A*11:01 6200\nDR4 900"}
    data.update(over)
    return data


def relative(**over: str) -> dict[str, str]:
    data = {"person_id": "B9", "relationship": "brother", "age": "33", "abo": "O+",
            "cmv_igg": "negative", "medically_eligible": "yes",
            "hla_A_1": "A*02:01", "hla_A_2": "A*33:03", "hla_B_1": "B*46:01",
            "hla_B_2": "B*58:01", "hla_DRB1_1": "DRB1*09:01", "hla_DRB1_2": "DRB1*03:01",
            "reason": "brother typed at the HLA lab"}
    data.update(over)
    return data


def audit_count(web: WebEnv) -> int:
    return web.registry.counts()["audit_log"]


def clinical_rows(web: WebEnv) -> dict[str, int]:
    counts = web.registry.counts()
    return {k: v for k, v in counts.items() if k not in ("web_session", "user_account",
                                                          "user_credential")}


def test_patient_page_shows_facts_pedigree_and_persons(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    r = c.get("/patients/A-002")
    assert r.status_code == 200
    text = r.text
    for fact in ("AML", "CR1", "standard", "A+", "positive", "40", "70 kg"):
        assert fact in text
    assert "<svg" in text and 'class="pedigree"' in text  # the report's drawing, inline
    assert " style=" not in text  # the CSP forbids inline style attributes
    # every person with its relationship and typings in GL form
    for pid, rel in (("F", "father"), ("M", "mother"), ("B2", "brother"), ("K1", "son")):
        assert f'id="person-{pid}"' in text
        row = text[text.index(f'id="person-{pid}"'):].split("</tr>")[0]
        assert rel in row
    assert "A*02:01+A*11:01" in text  # the patient's A locus as a GL string
    assert "A*24:02" in text and "15,000" in text  # the antibody screen
    for link in ("/patients/A-002/ranking?rules=beijing", "/patients/A-002/plan",
                 "/patients/A-002/followup",
                 "/patients/A-002/persons/new", "/patients/A-002/persons/F"):
        assert f'href="{link}"' in text
    # the row history is the audit trail's: not linked for a physician (no audit.read)
    assert 'href="/patients/A-002/history"' not in text
    assert "IPD-IMGT/HLA 3.58.0" in text and "beijing@" in text


def test_create_patient(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, _ = form_of(c, "/patients/new")
    r = c.post("/patients", data={**new_patient(), "csrf_token": token})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/patients/N-001"
    shown = web.registry.show("N-001")
    assert shown["centre"] == CENTRE_A  # the user's centre, never the default
    assert shown["disease"] == {"diagnosis": "ALL", "disease_status": "CR1",
                                "disease_risk": "high"}
    doc, _, version = web.registry.clinical_case("N-001")
    p = doc["patient"]
    assert version == 1
    assert p["hla"]["A"] == ["A*02:01", "A*24:02"] and p["hla"]["DPB1"] == ["DPB1*05:01",
                                                                             "DPB1*02:01"]
    assert (p["sex"], p["age"], p["weight_kg"], p["abo"], p["cmv_igg"]) == (
        "female", 29, 55.5, "B+", "positive")
    assert p["antibodies"]["results"] == [{"specificity": "A*11:01", "mfi": 6200},
                                          {"specificity": "DR4", "mfi": 900}]
    assert p["antibodies"]["method"] == "single_antigen_bead"
    history = web.registry.history("N-001")
    assert [(a["action"], a["actor"]) for a in history["audit"]] == [("case.add", PHYSICIAN)]
    page = c.get("/patients/N-001")
    assert page.status_code == 200 and "ALL" in page.text and "A*02:01+A*24:02" in page.text


def test_create_patient_as_gl_string(web: WebEnv) -> None:
    c = web.login(user_name("data_entry", CENTRE_A))
    token, _ = form_of(c, "/patients/new")
    gl = "HLA-A*02:01+HLA-A*11:01^HLA-B*46:01+HLA-B*51:01"
    data = {k: v for k, v in new_patient(upn="N-GL").items() if not k.startswith("hla_")}
    r = c.post("/patients", data={**data, "hla_gl": gl, "csrf_token": token})
    assert r.status_code == 303, r.text
    doc, _, _ = web.registry.clinical_case("N-GL")
    assert doc["patient"]["hla_gl"] == gl and "hla" not in doc["patient"]


def test_create_refuses_bad_values_keeping_every_input(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, _ = form_of(c, "/patients/new")
    before = clinical_rows(web)
    data = new_patient(upn="N-002", hla_B_2="B*40:9999", age="two hundred")
    r = c.post("/patients", data={**data, "csrf_token": token})
    assert r.status_code == 422
    assert "B*40:9999" in r.text and "not in IPD-IMGT/HLA 3.58.0" in r.text
    assert "age (years) must be a number" in r.text
    # every value as typed, the refused ones included
    assert 'name="hla_B_2" value="B*40:9999"' in r.text
    assert 'name="age" value="two hundred"' in r.text
    assert 'name="diagnosis" value="ALL"' in r.text
    assert 'name="hla_DPB1_1" value="DPB1*05:01"' in r.text
    assert "A*11:01 6200\nDR4 900</textarea>" in r.text
    assert re.search(r'name="hla_B_2" value="B\*40:9999"[^>]*aria-invalid="true"',
                     r.text, re.S)
    assert clinical_rows(web) == before
    assert web.registry.patient_centre("N-002") is None


def test_create_refuses_a_taken_upn_and_one_typing_of_two(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, _ = form_of(c, "/patients/new")
    r = c.post("/patients", data={**new_patient(upn="B-001"), "csrf_token": token})
    assert r.status_code == 422 and "already a patient" in r.text
    assert web.registry.patient_centre("B-001") == "OTHER"  # untouched
    r = c.post("/patients", data={**new_patient(upn="N-003", hla_C_2=""),
                                  "csrf_token": token})
    assert r.status_code == 422 and "locus C has one typing" in r.text


def test_who_may_create(web: WebEnv) -> None:
    for role in ("hla_lab", "monitor", "centre_admin"):
        c = web.login(user_name(role, CENTRE_A))
        assert c.get("/patients/new").status_code == 403
    c = web.login(user_name("monitor", CENTRE_A))
    token = csrf_of(c.get("/patients").text)
    assert c.post("/patients", data={**new_patient(), "csrf_token": token}).status_code == 403
    assert web.registry.patient_centre("N-001") is None


def test_add_relative(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, values = form_of(c, "/patients/A-001/persons/new")
    assert values["version"] == "1" and values["person_id"]
    r = c.post("/patients/A-001/persons", data={**relative(), "version": values["version"],
                                                "csrf_token": token})
    assert r.status_code == 303, r.text
    doc, _, version = web.registry.clinical_case("A-001")
    b9 = next(p for p in doc["relatives"] if p["id"] == "B9")
    assert b9["relationship"] == "brother" and b9["hla"]["A"] == ["A*02:01", "A*33:03"]
    assert b9["medically_eligible"] is True and version == 2
    audit = web.registry.history("A-001")["audit"]
    assert (audit[-1]["action"], audit[-1]["actor"], audit[-1]["reason"]) == (
        "case.update", PHYSICIAN, "brother typed at the HLA lab")
    page = c.get("/patients/A-001")
    assert 'id="person-B9"' in page.text


def test_add_relative_refuses_a_taken_id_and_a_wrong_sex(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, values = form_of(c, "/patients/A-001/persons/new")
    before = audit_count(web)
    r = c.post("/patients/A-001/persons", data={**relative(person_id="F"), "csrf_token": token,
                                                "version": values["version"]})
    assert r.status_code == 422 and "already a person 'F'" in html.unescape(r.text)
    r = c.post("/patients/A-001/persons", data={**relative(sex="female"), "csrf_token": token,
                                                "version": values["version"]})
    assert r.status_code == 422 and "a brother is male" in r.text
    assert audit_count(web) == before


def test_edit_with_reason_writes_history_with_the_user(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, values = form_of(c, "/patients/A-001/persons/F")
    assert values["abo"] == "O+" and values["hla_A_2"] == "A*24:02"
    values.update(abo="O-", hla_A_2="A*24:02:01:01", reason="ABO re-tested: Rh negative")
    r = c.post("/patients/A-001/persons/F", data={**values, "csrf_token": token})
    assert r.status_code == 303, r.text
    doc, _, version = web.registry.clinical_case("A-001")
    father = next(p for p in doc["relatives"] if p["id"] == "F")
    assert father["abo"] == "O-" and father["hla"]["A"] == ["A*02:01", "A*24:02:01:01"]
    assert version == 2
    history = web.registry.history("A-001")
    person = [v for v in history["versions"] if v["table"] == "person" and v["label"] == "F"]
    last = person[-1]
    assert (last["by"], last["reason"], last["version"]) == (
        PHYSICIAN, "ABO re-tested: Rh negative", 2)
    assert {"field": "abo", "old": "O+", "new": "O-"} in last["changes"]
    typing = [v for v in history["versions"] if v["label"] == "F.A"]
    assert typing[-1]["reason"] == "ABO re-tested: Rh negative"
    assert history["audit"][-1]["actor"] == PHYSICIAN
    # everything else of the case is as it was
    before = load_case_data(str(EXAMPLES / "01-matched-sibling-and-haplo-siblings.yaml"))
    assert len(doc["relatives"]) == len(before["relatives"])


def test_edit_without_reason_is_refused_and_writes_nothing(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, values = form_of(c, "/patients/A-001/persons/F")
    audit_before, rows_before = audit_count(web), clinical_rows(web)
    digest_before = web.registry.data_digest("A-001")
    values.update(abo="AB+", reason="   ")
    r = c.post("/patients/A-001/persons/F", data={**values, "csrf_token": token})
    assert r.status_code == 422
    assert "needs a reason" in r.text
    assert 'name="abo"' in r.text and '<option value="AB+" selected>' in r.text  # kept
    assert audit_count(web) == audit_before
    assert clinical_rows(web) == rows_before
    assert web.registry.data_digest("A-001") == digest_before


def test_bad_hla_on_save_is_refused_naming_the_value_and_keeping_input(web: WebEnv) -> None:
    c = web.login(user_name("hla_lab", CENTRE_A))
    token, values = form_of(c, "/patients/A-001/persons/S2")
    audit_before = audit_count(web)
    values.update(hla_DRB1_1="DRB1*12:0X", hla_B_1="B*40:01:9999", reason="re-typed")
    r = c.post("/patients/A-001/persons/S2", data={**values, "csrf_token": token})
    assert r.status_code == 422
    assert "DRB1*12:0X" in r.text and "not valid HLA nomenclature" in r.text
    assert "B*40:01:9999" in r.text and "not in IPD-IMGT/HLA 3.58.0" in r.text
    assert 'name="hla_DRB1_1" value="DRB1*12:0X"' in r.text
    assert 'name="hla_B_1" value="B*40:01:9999"' in r.text
    assert 'name="reason" value="re-typed"' in r.text
    assert audit_count(web) == audit_before


def test_hla_lab_changes_typings_not_clinical_facts(web: WebEnv) -> None:
    c = web.login(user_name("hla_lab", CENTRE_A))
    page = c.get("/patients/A-001/persons/M")
    assert page.status_code == 200 and "read-only" in page.text
    token, values = form_of(c, "/patients/A-001/persons/M")
    values.update(abo="AB-", hla_DRB1_2="DRB1*03:01:01:01", reason="high resolution")
    r = c.post("/patients/A-001/persons/M", data={**values, "csrf_token": token})
    assert r.status_code == 303, r.text
    doc, _, _ = web.registry.clinical_case("A-001")
    mother = next(p for p in doc["relatives"] if p["id"] == "M")
    assert mother["hla"]["DRB1"] == ["DRB1*15:01", "DRB1*03:01:01:01"]
    assert mother["abo"] == "A+"  # not this role's to change
    assert c.get("/patients/A-001/persons/new").status_code == 403


def test_patient_antibodies_edited(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, values = form_of(c, "/patients/A-002/persons/P")
    assert "A*24:02 15000" in values["ab_results"]
    values.update(ab_results="A*24:02 9000\nB*58:01 2500 negative\nDQA1*05:01/DQB1*02:01 4100",
                  ab_test_date="2026-11-28", reason="repeat SAB after desensitisation")
    r = c.post("/patients/A-002/persons/P", data={**values, "csrf_token": token})
    assert r.status_code == 303, r.text
    doc, _, _ = web.registry.clinical_case("A-002")
    ab = doc["patient"]["antibodies"]
    assert ab["test_date"] == "2026-11-28"
    assert ab["results"] == [{"specificity": "A*24:02", "mfi": 9000},
                             {"specificity": "B*58:01", "mfi": 2500, "c1q": "negative"},
                             {"specificity": "DQA1*05:01/DQB1*02:01", "mfi": 4100}]
    values.update(ab_results="A*24:02 lots", reason="x")
    r = c.post("/patients/A-002/persons/P", data={**values, "csrf_token": token})
    assert r.status_code == 422 and "line 1: the MFI 'lots' is not a number" in html.unescape(r.text)


def test_stale_form_is_refused(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, values = form_of(c, "/patients/A-001/persons/B1")
    other = web.login(user_name("data_manager", CENTRE_A))
    t2, v2 = form_of(other, "/patients/A-001/persons/B1")
    assert other.post("/patients/A-001/persons/B1",
                      data={**v2, "age": "27", "reason": "birthday",
                            "csrf_token": t2}).status_code == 303
    before = audit_count(web)
    r = c.post("/patients/A-001/persons/B1", data={**values, "abo": "B+", "reason": "typo",
                                                   "csrf_token": token})
    assert r.status_code == 422 and "reload" in r.text and "B+" in r.text
    assert audit_count(web) == before


def test_unknown_person_and_other_centre_answer_404(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token = csrf_of(c.get("/patients").text)
    assert c.get("/patients/A-001/persons/NOPE").status_code == 404
    before = audit_count(web)
    for url in ("/patients/B-001", "/patients/B-001/persons/P", "/patients/B-001/persons/new"):
        assert c.get(url).status_code == 404, url
    for url in ("/patients/B-001/persons/P", "/patients/B-001/persons",
                "/patients/A-001/persons/NOPE"):
        r = c.post(url, data={**relative(), "csrf_token": token})
        assert r.status_code == 404, url
    assert audit_count(web) == before
    assert 'href="/patients/B-001"' not in c.get("/patients?q=B-001").text


def test_search_stays_centre_scoped(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    r = c.get("/patients?q=00", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "A-001" in r.text and "/patients/B-001" not in r.text
    other = web.login(user_name("physician", "OTHER"))
    r = other.get("/patients?q=AML")
    assert "/patients/B-001" in r.text and "/patients/A-00" not in r.text


def test_identity_is_kept_by_an_edit(web: WebEnv) -> None:
    document = copy.deepcopy(load_case_data(str(EXAMPLES / "04-donor-specific-antibodies"
                                                ".yaml")))
    document["patient"]["name"] = "王小明"
    document["relatives"][0]["name"] = "王大明"
    document["relatives"][0].pop("age")
    document["relatives"][0]["birth_date"] = "1961-05-04"
    web.registry.add_case(document, actor="fixture", upn="A-ID", centre=CENTRE_A,
                          national_id="110101198601010011")
    c = web.login(PHYSICIAN)
    page = c.get("/patients/A-ID")
    assert "王" not in page.text and "1961" not in page.text  # no identity on the page
    token, values = form_of(c, "/patients/A-ID/persons/F")
    assert "王" not in c.get("/patients/A-ID/persons/F").text
    values.update(cmv_igg="negative", reason="CMV serology repeated")
    assert c.post("/patients/A-ID/persons/F",
                  data={**values, "csrf_token": token}).status_code == 303
    token, values = form_of(c, "/patients/A-ID/persons/F")
    before = audit_count(web)
    r = c.post("/patients/A-ID/persons/F", data={**values, "age": "50", "reason": "age",
                                                 "csrf_token": token})
    assert r.status_code == 422 and "follows from the birth date" in r.text
    assert audit_count(web) == before
    token, values = form_of(c, "/patients/A-ID/persons/P")
    values.update(weight_kg="68", reason="weighed today")
    assert c.post("/patients/A-ID/persons/P",
                  data={**values, "csrf_token": token}).status_code == 303
    exported = web.registry.export_case("A-ID", actor="test")
    father = exported["relatives"][0]
    assert father["name"] == "王大明" and father["birth_date"] == "1961-05-04"
    assert "age" not in father and father["cmv_igg"] == "negative"
    assert exported["patient"]["name"] == "王小明" and exported["patient"]["weight_kg"] == 68
    from sqlalchemy import select

    from everydonor.adapters.registry.models import Identity

    with web.registry.reading() as s:
        ids = {row.national_id for row in s.execute(select(Identity)).scalars()}
    assert "110101198601010011" in ids


@pytest.mark.parametrize("field", ["diagnosis", "disease_status"])
def test_script_in_patient_text_fields_is_escaped(web: WebEnv, field: str) -> None:
    c = web.login(PHYSICIAN)
    token, _ = form_of(c, "/patients/new")
    r = c.post("/patients", data={**new_patient(**{field: PAYLOAD}), "csrf_token": token})
    assert r.status_code == 303, r.text
    for url in ("/patients/N-001", "/patients/N-001/persons/P", "/patients?q=N-001"):
        text = c.get(url).text
        assert PAYLOAD not in text, url
        if field == "diagnosis" or url != "/patients?q=N-001":
            assert ESCAPED in text or html.escape(PAYLOAD, quote=False) in text, url


def test_script_in_relative_and_form_fields_is_escaped(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, values = form_of(c, "/patients/A-001/persons/new")
    data = {**relative(desensitization_plan=PAYLOAD, reason=PAYLOAD), "csrf_token": token,
            "version": values["version"]}
    assert c.post("/patients/A-001/persons", data=data).status_code == 303
    for url in ("/patients/A-001", "/patients/A-001/persons/B9"):
        text = c.get(url).text
        assert PAYLOAD not in text and (ESCAPED in text or html.escape(PAYLOAD, quote=False)
                                        in text), url
    # refused values come back escaped too: an HLA box, the UPN, the person id, the reason
    token, values = form_of(c, "/patients/A-001/persons/B9")
    values.update(hla_A_1=PAYLOAD, reason=PAYLOAD, age=PAYLOAD)
    r = c.post("/patients/A-001/persons/B9", data={**values, "csrf_token": token})
    assert r.status_code == 422 and PAYLOAD not in r.text and ESCAPED in r.text
    r = c.post("/patients", data={**new_patient(upn=PAYLOAD), "csrf_token": token})
    assert r.status_code == 422 and PAYLOAD not in r.text and "the UPN is" in r.text
    r = c.post("/patients/A-001/persons", data={**relative(person_id=PAYLOAD),
                                                "csrf_token": token})
    assert r.status_code == 422 and PAYLOAD not in r.text and "a person id is" in r.text


def test_pedigree_of_a_patient_alone(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    token, _ = form_of(c, "/patients/new")
    assert c.post("/patients", data={**new_patient(), "csrf_token": token}).status_code == 303
    r = c.get("/patients/N-001")
    assert r.status_code == 200 and "<svg" in r.text and " style=" not in r.text




def test_unrelated_donor_is_edited_without_a_relationship(web: WebEnv) -> None:
    web.registry.add_case(load_case_data(str(EXAMPLES / "06-unrelated-donors-and-father.yaml")),
                          actor="fixture", upn="A-UR", centre=CENTRE_A)
    c = web.login(PHYSICIAN)
    page = c.get("/patients/A-UR/persons/U1")
    assert page.status_code == 200 and "Unrelated donor" in page.text
    assert 'name="relationship"' not in page.text
    token, values = form_of(c, "/patients/A-UR/persons/U1")
    values.update(hla_DPB1_1="DPB1*04:01", hla_DPB1_2="DPB1*02:01", reason="DPB1 typed")
    r = c.post("/patients/A-UR/persons/U1", data={**values, "csrf_token": token})
    assert r.status_code == 303, r.text
    doc, _, _ = web.registry.clinical_case("A-UR")
    u1 = next(p for p in doc["unrelated"] if p["id"] == "U1")
    assert u1["hla"]["DPB1"] == ["DPB1*04:01", "DPB1*02:01"] and "relationship" not in u1
    assert u1["registry"] == "CMDP"  # what the form does not show is kept


def test_create_and_edit_on_both_databases(web_db: WebEnv) -> None:
    web = web_db
    c = web.login(PHYSICIAN)
    token, _ = form_of(c, "/patients/new")
    assert c.post("/patients", data={**new_patient(), "csrf_token": token}).status_code == 303
    token, values = form_of(c, "/patients/N-001/persons/new")
    r = c.post("/patients/N-001/persons", data={**relative(relationship="mother", person_id="M",
                                                           sex="female"),
                                                "csrf_token": token,
                                                "version": values["version"]})
    assert r.status_code == 303, r.text
    token, values = form_of(c, "/patients/N-001/persons/M")
    before = audit_count(web)
    r = c.post("/patients/N-001/persons/M", data={**values, "abo": "A-", "reason": "",
                                                  "csrf_token": token})
    assert r.status_code == 422 and audit_count(web) == before
    r = c.post("/patients/N-001/persons/M", data={**values, "abo": "A-",
                                                  "reason": "blood bank result",
                                                  "csrf_token": token})
    assert r.status_code == 303
    history = web.registry.history("N-001")
    assert [(a["action"], a["actor"], a["reason"]) for a in history["audit"]] == [
        ("case.add", PHYSICIAN, "initial entry"),
        ("case.update", PHYSICIAN, "brother typed at the HLA lab"),
        ("case.update", PHYSICIAN, "blood bank result")]
