"""The web app's main flows in a real browser against the live server, as a transplant
physician goes through them: sign in (password + TOTP) → create a patient → enter the family
(HLA per locus, a wrong typing caught by the live check and corrected) → the donor ranking
(Beijing rule set) with its reasons and citations → keep it as a snapshot and sign it
(password + a fresh TOTP code) → the PDF report (its bytes: patient, signer, SHA-256) → day 0
and acute GVHD follow-up with the MAGIC grade → the treatment plan calendar; and the patient
and ranking pages in Chinese.

Every page is screenshot (``page.shot``) for review; the harness fails a test on any CSP
violation, JavaScript error, console error or 5xx response.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from everydonor.scores.catalogue import compute_score
from tests.web.conftest import password_of
from tests.web.e2e.conftest import LiveServer, Pages, sign_in

UPN = "E2E-001"
LOCI = ("A", "B", "C", "DRB1", "DQB1")


@dataclass(frozen=True)
class Person:
    id: str
    relationship: str | None  # None: the patient
    sex: str
    age: int
    weight: int
    height: int
    abo: str
    hla: dict[str, tuple[str, str]]


#: An invented family (realistic alleles): the patient P (paternal haplotype a, maternal c),
#: father F (a/b), mother M (c/d), brother B1 (a/d: haploidentical), brother B2 (b/c:
#: haploidentical). As examples/01 of the project, without the matched sister.
PATIENT = Person("P", None, "male", 34, 70, 172, "A+", {
    "A": ("A*02:01", "A*11:01"), "B": ("B*46:01", "B*51:01"), "C": ("C*01:02", "C*14:02"),
    "DRB1": ("DRB1*09:01", "DRB1*15:01"), "DQB1": ("DQB1*03:03", "DQB1*06:02")})
FAMILY = (
    Person("F", "father", "male", 61, 72, 170, "O+", {
        "A": ("A*02:01", "A*24:02"), "B": ("B*46:01", "B*40:01"),
        "C": ("C*01:02", "C*03:04"), "DRB1": ("DRB1*09:01", "DRB1*12:01"),
        "DQB1": ("DQB1*03:03", "DQB1*03:01")}),
    Person("M", "mother", "female", 59, 58, 160, "A+", {
        "A": ("A*11:01", "A*33:03"), "B": ("B*51:01", "B*58:01"),
        "C": ("C*14:02", "C*03:02"), "DRB1": ("DRB1*15:01", "DRB1*03:01"),
        "DQB1": ("DQB1*06:02", "DQB1*02:01")}),
    Person("B1", "brother", "male", 26, 75, 178, "A+", {
        "A": ("A*02:01", "A*33:03"), "B": ("B*46:01", "B*58:01"),
        "C": ("C*01:02", "C*03:02"), "DRB1": ("DRB1*09:01", "DRB1*03:01"),
        "DQB1": ("DQB1*03:03", "DQB1*02:01")}),
    Person("B2", "brother", "male", 24, 68, 175, "A+", {
        "A": ("A*24:02", "A*11:01"), "B": ("B*40:01", "B*51:01"),
        "C": ("C*03:04", "C*14:02"), "DRB1": ("DRB1*12:01", "DRB1*15:01"),
        "DQB1": ("DQB1*03:01", "DQB1*06:02")}),
)


def _fill_common(p: Any, person: Person) -> None:
    p.select_option("#f-sex", person.sex)
    p.fill("#f-age", str(person.age))
    p.fill("#f-weight_kg", str(person.weight))
    p.fill("#f-height_cm", str(person.height))
    p.select_option("#f-abo", person.abo)
    p.select_option("#f-cmv_igg", "positive")
    for locus in LOCI:
        for n, typing in enumerate(person.hla[locus], start=1):
            p.fill(f"#f-hla_{locus}_{n}", typing)


def live_check(pages: Pages, key: str, value: str, *, valid: bool) -> str:
    """Type ``value`` into an HLA box and wait for the live check (htmx) to answer it."""
    p = pages.page
    p.fill(f"#f-{key}", value)
    box = p.locator(f"#check-{key} .hla-check.{'good' if valid else 'bad'}")
    box.wait_for()
    # the answer shown is the one for this value (not a slower answer for an earlier one)
    p.wait_for_function(
        "([k, v]) => { const b = document.querySelector('#check-' + k + ' .hla-check');"
        " return b && b.textContent.includes(v); }", arg=[key, value])
    text = str(box.inner_text())
    assert value in text, text
    invalid = p.get_attribute(f"#f-{key}", "aria-invalid")
    assert (invalid == "true") is (not valid), (key, invalid)
    return text


def create_patient(pages: Pages, live: LiveServer) -> None:
    """The new-patient form: registry, patient facts, disease, HLA, antibodies."""
    p = pages.page
    p.goto(f"{live.base}/patients")
    p.get_by_role("link", name="New patient").click()
    p.wait_for_url(f"{live.base}/patients/new")
    p.fill("#f-upn", UPN)
    _fill_common(p, PATIENT)
    p.fill("#f-diagnosis", "AML")
    p.fill("#f-disease_status", "CR1")
    p.select_option("#f-disease_risk", "standard")
    p.fill("#f-ab_test_date", "2026-10-20")
    p.fill("#f-ab_results", "DR4 900\nA*24:02 1200")
    # the live check answered every box it was given: all valid, none refused
    p.locator("#check-hla_DQB1_2 .hla-check.good").wait_for()
    assert p.locator(".hla-check.bad").count() == 0
    pages.shot("patient-new")
    p.get_by_role("button", name="Create patient").click()
    p.wait_for_url(f"{live.base}/patients/{UPN}")


def add_relative(pages: Pages, live: LiveServer, person: Person,
                 wrong: tuple[str, str, str] | None = None) -> str | None:
    """The add-relative form; ``wrong`` = (field key, wrong value, what the check must say):
    typed first, the refusal checked and screenshot, then the right value typed."""
    p = pages.page
    p.goto(f"{live.base}/patients/{UPN}")
    p.get_by_role("link", name="Add relative").click()
    p.wait_for_url(f"{live.base}/patients/{UPN}/persons/new")
    p.fill("#f-person_id", person.id)
    assert person.relationship is not None
    p.select_option("#f-relationship", person.relationship)
    _fill_common(p, person)
    p.select_option("#f-medically_eligible", "yes")
    p.fill("#f-reason", f"family typing: {person.relationship} {person.id}")
    refusal = None
    if wrong is not None:
        key, value, problem = wrong
        right = p.input_value(f"#f-{key}")
        refusal = live_check(pages, key, value, valid=False)
        assert problem in refusal, refusal
        assert "IPD-IMGT/HLA" in refusal or "fields" in refusal, refusal
        pages.shot(f"relative-{person.id}-wrong-typing")
        ok = live_check(pages, key, right, valid=True)
        assert "✓" in ok and "IPD-IMGT/HLA 3." in ok, ok
        assert p.locator(".hla-check.bad").count() == 0
        pages.shot(f"relative-{person.id}-corrected")
    p.locator("#check-hla_DQB1_2 .hla-check.good").wait_for()
    if wrong is None and person.id == "F":
        pages.shot("relative-new")
    p.get_by_role("button", name="Add relative").click()
    p.wait_for_url(f"{live.base}/patients/{UPN}#person-{person.id}")
    return refusal


def build_family(pages: Pages, live: LiveServer) -> None:
    """Patient and family through the forms; one typing entered wrong per kind of error."""
    create_patient(pages, live)
    p = pages.page
    assert p.locator("h1").inner_text().startswith(f"Patient {UPN}")
    for person in FAMILY:
        wrong = {
            # well formed but not in the release: the check names the value and the release
            "F": ("hla_DRB1_2", "DRB1*12:999", "not in IPD-IMGT/HLA"),
            # not HLA nomenclature: five fields
            "M": ("hla_A_1", "A*11:01:01:01:01", "has 5 fields"),
        }.get(person.id)
        add_relative(pages, live, person, wrong)
    # the patient page: everyone with their typings, ranked under the Beijing rules
    rows = p.locator("table.persons tbody tr")
    assert rows.count() == 5
    for person in (PATIENT, *FAMILY):
        row = p.locator(f"#person-{person.id}")
        text = row.inner_text()
        for locus in LOCI:
            for typing in person.hla[locus]:
                assert typing in text, (person.id, typing, text)
    assert "beijing@" in p.locator(".provenance").inner_text()
    assert p.locator("#person-B1 .badge").inner_text().startswith("#")


def test_family_ranking_signature_and_pdf_report(live: LiveServer, page: Pages) -> None:
    user = live.add_user("wang.physician", "physician")
    sign_in(page, live, user)
    p = page.page
    page.shot("patients-empty")
    build_family(page, live)
    p.goto(f"{live.base}/patients/{UPN}")
    page.shot("patient")
    facts = p.locator("dl.facts").inner_text()
    assert "AML" in facts and "70 kg" in facts and "172 cm" in facts, facts
    assert "Decision support" in p.locator("footer").inner_text()

    # the ranking under the Beijing rule set: ranks, reasons, citations, provenance
    p.get_by_role("link", name="Donor ranking").click()
    p.wait_for_url(f"{live.base}/patients/{UPN}/ranking?rules=beijing")
    assert p.locator(".ranking-switch select").input_value() == "beijing"
    prov = p.locator(".ranking-provenance").inner_text()
    assert "beijing@" in prov and "IPD-IMGT/HLA 3." in prov and "everydonor" in prov
    view = p.locator(".report-view")
    view_text = view.inner_text()
    # everyone ranked (no matched sibling: both brothers and both parents haploidentical),
    # each row saying why it stands above the next, with citation markers
    ranked = [r.inner_text() for r in view.locator("table.ranking tbody tr").all()]
    assert [r.split("\t")[0] for r in ranked] == ["1", "2", "3", "4"], ranked
    ids = [r.split("\t")[1].split("\n")[0] for r in ranked]
    # the rule set's order; the first stands above the second by donor age, with its
    # citations (Wang 2014 is the Beijing protocol's donor-selection paper)
    assert ids == ["B1", "M", "B2", "F"], ids
    why = view.locator("table.ranking tbody tr").first.locator("td.why").inner_text()
    assert "donor_age_band" in why and "age 26" in why and "Wang 2014" in why, why
    assert ranked[-1].endswith("last ranked"), ranked[-1]
    assert all("haplo" in r.lower() for r in ranked), ranked
    assert view.locator("table.ranking td.why .ref").count() > 0
    # the reasons donor by donor, the rule set's criteria and the numbered references
    assert view.locator(".donor").count() == 4
    assert view.locator(".donor li .ref").count() > 0
    assert view.locator("#references").count() == 1
    assert view.locator("li[id^=ref-]").count() > 0
    assert "Rule set beijing@" in view_text
    page.shot("ranking")

    # keep it as a snapshot
    p.fill(".ranking-keep input[name=reason]", "donor selection meeting")
    p.get_by_role("button", name="Keep this ranking as a snapshot").click()
    p.wait_for_url(re.compile(r".*/snapshots/[0-9a-f]+$"))
    snapshot_url = p.url
    sha = p.locator("#snapshot-sha256").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", sha), sha
    assert "intact" in p.locator(".snapshot-facts").inner_text()
    assert "Not signed yet." in p.locator("body").inner_text()
    page.shot("snapshot")

    # sign: a wrong code is refused and signs nothing; then password + a fresh code
    sign = p.locator("#sign")
    sign.locator("input[name=meaning][value=approved]").check()
    sign.locator("input[name=password]").fill(password_of(user))
    sign.locator("input[name=code]").fill("000000" if live.code(user) != "000000"
                                          else "111111")
    sign.locator("input[name=confirm]").check()
    sign.get_by_role("button", name="Sign").click()
    p.locator("#sign .error").wait_for()
    assert "not signed" in p.locator("#sign .error").inner_text()
    assert "Not signed yet." in p.locator("body").inner_text()
    page.shot("sign-refused")
    sign = p.locator("#sign")
    sign.locator("input[name=meaning][value=approved]").check()
    sign.locator("input[name=password]").fill(password_of(user))
    sign.locator("input[name=code]").fill(live.next_code(user))
    sign.locator("input[name=confirm]").check()
    sign.get_by_role("button", name="Sign").click()
    p.wait_for_url(f"{snapshot_url}?signed=approved#signatures")
    assert "Signed: your signature is recorded" in p.locator(".signed-note").inner_text()
    sig_row = p.locator("table.signatures tbody tr")
    assert sig_row.count() == 1
    sig_text = sig_row.inner_text()
    assert "Dr Wang" in sig_text and sha in sig_text and "valid" in sig_text, sig_text
    page.shot("snapshot-signed")

    # the PDF report through the page's link: a PDF of this patient, signer and snapshot
    with p.expect_download() as info:
        p.get_by_role("link", name="Download the PDF report").click()
    download = info.value
    assert re.fullmatch(rf"everydonor-{UPN}-[0-9a-f]{{8}}\.pdf",
                        download.suggested_filename), download.suggested_filename
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    pypdf = pytest.importorskip("pypdf")
    text = "\n".join(pg.extract_text() or "" for pg in pypdf.PdfReader(io.BytesIO(data)).pages)
    flat = re.sub(r"\s+", "", text)
    assert UPN in flat, text[:2000]
    assert "DrWang" in flat, text[-3000:]
    assert sha in flat, text[-3000:]

    # the ranking page now lists the kept, signed snapshot
    p.goto(f"{live.base}/patients/{UPN}/ranking?rules=beijing")
    kept = p.locator("table.kept tbody tr")
    assert kept.count() == 1
    assert "Dr Wang" in kept.inner_text() and sha[:16] in kept.inner_text()
    page.shot("ranking-kept")


def test_day0_follow_up_grade_and_treatment_plan(live: LiveServer, page: Pages) -> None:
    user = live.add_user("li.physician", "physician")
    sign_in(page, live, user)
    p = page.page
    build_family(page, live)
    today = dt.date.today()
    day0 = today - dt.timedelta(days=21)

    # follow-up: no transplant yet → record day 0 with the donor
    p.goto(f"{live.base}/patients/{UPN}")
    p.get_by_role("link", name="Follow-up").click()
    p.wait_for_url(f"{live.base}/patients/{UPN}/followup")
    assert "No transplant recorded." in p.locator("main").inner_text()
    page.shot("followup-empty")
    hct = p.locator("form[action$='/followup/hct']")
    hct.locator("input[name=day0]").fill(day0.isoformat())
    hct.locator("select[name=donor]").select_option("B1")
    hct.locator("input[name=graft]").fill("G-CSF-primed BM + PBSC")
    hct.get_by_role("button", name="Record the transplant").click()
    p.wait_for_url(f"{live.base}/patients/{UPN}/followup")
    head = p.locator("main section.card").first.inner_text()
    assert f"day 0 {day0.isoformat()}" in head and "donor B1" in head, head

    # acute GVHD: skin stage 3, lower GI stage 2 → the live preview shows the MAGIC grade
    expected = compute_score("magic_agvhd_grade", {"skin_stage": 3, "lower_gi_stage": 2})
    assert expected["grade"] == "III"
    form = p.locator("#fu-agvhd")
    form.locator("input[name=date]").fill((day0 + dt.timedelta(days=18)).isoformat())
    form.locator("select[name=skin_stage]").select_option("3")
    form.locator("select[name=lower_gi_stage]").select_option("2")
    preview = p.locator("#preview-agvhd")
    preview.get_by_text("Preview — not stored yet").wait_for()
    # the answer for the stages chosen (not an earlier answer for the date alone)
    p.wait_for_function("() => { const t = document.querySelector('#preview-agvhd')"
                        ".textContent; return t.includes('skin_stage = 3')"
                        " && t.includes('lower_gi_stage = 2'); }")
    shown = preview.inner_text()
    assert re.search(r"grade\s+III\b", shown), shown
    assert "MAGIC-2016" in shown and "Harris" in shown, shown
    form.scroll_into_view_if_needed()
    page.shot("followup-agvhd-preview")
    form.get_by_role("button", name="Store").click()
    p.wait_for_url(re.compile(rf".*/patients/{UPN}/followup\?stored=.*"))
    stored = p.locator("tr.stored")
    assert stored.count() == 1
    row = stored.inner_text()
    assert re.search(r"grade\s+III\b", row) and "+18" in row, row
    assert "just stored" in row
    page.shot("followup-stored")

    # the treatment plan: regimen, day 0, donor → the dated calendar
    p.get_by_role("link", name="Treatment plan").click()
    p.wait_for_url(f"{live.base}/patients/{UPN}/plan")
    page.shot("plan-form")
    plan = p.locator("#plan-form")
    plan.locator("select[name=regimen]").select_option("beijing-mac-malignancy")
    plan.locator("input[name=day0]").fill(day0.isoformat())
    plan.locator("select[name=donor]").select_option("B1")
    donor = plan.locator("select[name=donor] option:checked").inner_text()
    assert donor == "B1 · brother · 26 y · 75 kg", donor
    plan.get_by_role("button", name="Show the plan").click()
    p.wait_for_url(re.compile(rf".*/patients/{UPN}/plan\?.*day0={day0.isoformat()}.*"))
    calendar = p.locator("table.plan-calendar")
    assert calendar.count() == 1, p.locator("main").inner_text()[:3000]
    rows = calendar.locator("tbody tr")
    assert rows.count() > 10
    cal = calendar.inner_text()
    assert day0.isoformat() in cal and "+0" in cal
    assert (day0 - dt.timedelta(days=1)).isoformat() in cal
    # every order shows a dose with its unit and the rounding rule
    assert calendar.locator("tr.plan-order").count() > 0
    assert "Rounding" in calendar.locator("tr.plan-order").first.inner_text()
    facts = p.locator("section.card dl.facts").inner_text()
    assert "B1" in facts and "Body-surface area" in facts, facts
    # Mosteller: sqrt(172 cm x 70 kg / 3600) = 1.8288 m2
    assert "1.8288 m²" in facts, facts
    assert "decision support" in p.locator("main").inner_text().lower()
    page.shot("plan-calendar")
    p.get_by_role("button", name="Keep this plan as a snapshot").click()
    p.wait_for_url(re.compile(r".*[?&]kept=[0-9a-f]+"))
    assert "Plan kept as a snapshot" in p.locator("section.kept").inner_text()
    page.shot("plan-kept")


def test_patient_and_ranking_pages_in_chinese(live: LiveServer, page: Pages) -> None:
    from everydonor.adapters.inputs.casefile import load_case_data
    from tests.web.conftest import EXAMPLES

    live.registry.add_case(load_case_data(str(EXAMPLES / "01-matched-sibling-and-haplo-"
                                                         "siblings.yaml")),
                           actor="e2e", upn=UPN, centre="PKUPH")
    user = live.add_user("zhang.physician", "physician")
    sign_in(page, live, user)
    p = page.page
    p.goto(f"{live.base}/patients/{UPN}")
    assert p.locator("html").get_attribute("lang") == "en"
    p.get_by_role("link", name="中文").click()
    p.wait_for_url(f"{live.base}/patients/{UPN}")
    assert p.locator("html").get_attribute("lang") == "zh-Hans"
    # the switch now offers English back; the clinical values are not translated
    assert p.get_by_role("link", name="English").is_visible()
    assert "DRB1*15:01" in p.locator("table.persons").inner_text()
    # page labels, the role in the header and the pedigree legend's sides in Chinese
    assert p.locator("h1").inner_text().startswith("患者 E2E-001")
    assert "医师" in p.locator("header .role").inner_text()
    legend = p.locator(".haplotype-legend").inner_text()
    assert "父系" in legend and "母系" in legend, legend
    assert "临床使用前" in p.locator("footer").inner_text()
    page.shot("patient-zh")
    p.goto(f"{live.base}/patients/{UPN}/ranking?rules=beijing")
    assert p.locator("html").get_attribute("lang") == "zh-Hans"
    assert p.locator("h1").inner_text() == f"供者排序 — {UPN}"
    assert "beijing@" in p.locator(".ranking-provenance").inner_text()
    # the report body's labels in Chinese; its notice says the clinical text stays English
    assert "供移植治疗团队参考的决策支持" in p.locator(".report-view").inner_text()
    page.shot("ranking-zh")
