"""`everydonor plan`, `regimens` and `followup` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pypdf
import pytest

from everydonor.adapters.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_regimens_list(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "regimens", "--format", "json")
    assert status == 0
    ids = {r["id"] for r in json.loads(out)["regimens"]}
    assert {"beijing-mac-malignancy", "beijing-saa", "beijing-ric-elderly"} <= ids
    status, out, _ = run(capsys, "regimens")
    assert "doses not set (template)" in out and "Lin R" in out


def test_plan_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "plan", "--example", "--regimen", "beijing-mac-malignancy",
                         "--day0", "2026-12-15", "--donor", "S2")
    assert status == 0
    doc = json.loads(out)
    assert doc["patient"]["bsa_formula"] == "mosteller" and doc["patient"]["weight_kg"] == 68.0
    assert doc["orders"][0]["drug"] == "cytarabine" and doc["orders"][0]["date"] == "2026-12-05"
    assert doc["donor_plan"]["donor"] == "S2"
    status, out, _ = run(capsys, "plan", "--example", "--regimen", "beijing-saa", "--day0",
                         "2026-12-15", "--format", "text", "--bsa", "dubois")
    assert status == 0 and "DuBois" in out and "[M] to be verified by the centre" in out


def test_plan_refusals_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "plan.pdf"
    for argv, fragment in (
        (["--regimen", "beijing-ric-elderly", "--day0", "2026-12-15"], "unset"),
        (["--regimen", "nope", "--day0", "2026-12-15"], "unknown regimen"),
        (["--regimen", "beijing-mac-malignancy", "--day0", "15/12/2026"], "--day0"),
        (["--regimen", "beijing-mac-malignancy", "--day0", "2026-12-15", "--donor", "S4"],
         "weight"),
        (["--regimen", "beijing-mac-malignancy", "--day0", "2026-12-15", "--option",
          "atg_total_mg_per_kg=7.5"], "atg_days"),
        (["--regimen", "beijing-mac-malignancy", "--day0", "2026-12-15", "--option", "x"],
         "NAME=VALUE"),
    ):
        status, out, err = run(capsys, "plan", "--example", *argv, "--format", "pdf", "-o",
                               str(target))
        assert status == 2 and out == "" and fragment in err, (argv, err)
        assert not target.exists()


def test_plan_ics_is_rfc5545(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "plan", "--example", "--regimen", "beijing-mac-malignancy",
                         "--day0", "2027-01-03", "--format", "ics")
    assert status == 0
    assert out.startswith("BEGIN:VCALENDAR\r\n") and out.endswith("END:VCALENDAR\r\n")
    assert "DTSTART;VALUE=DATE:20261224\r\n" in out  # day -10 before the year end
    assert "SUMMARY:Day -10: cytarabine" in out
    lines = out.split("\r\n")
    assert all(len(x.encode("utf-8")) <= 75 for x in lines)
    uids = [x for x in lines if x.startswith("UID:")]
    assert len(uids) == len(set(uids)) == out.count("BEGIN:VEVENT")


def test_plan_pdf_shows_doses_and_the_verification_mark(tmp_path: Path) -> None:
    target = tmp_path / "plan.pdf"
    assert main(["plan", "--example", "--regimen", "beijing-mac-malignancy", "--day0",
                 "2026-12-15", "--format", "pdf", "-o", str(target)]) == 0
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(target)).pages)
    assert "Treatment plan" in text and "陈志强" in text
    assert "7210 mg" in text and "cytarabine" in text
    assert "to be verified by the centre" in text
    assert "Pharmacist (name, signature)" in text


def test_followup_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "fu.json"
    case.write_text(json.dumps({
        "format": "everydonor.case/1",
        "patient": {"id": "P", "age": 40, "weight_kg": 70},
        "follow_up": {"active_gvhd": False, "uncontrolled_infection": False,
                      "dli_donor_available": True,
                      "mrd": [{"date": "2027-01-14", "wt1_pct": 0.9, "flow": "positive"}]}}))
    status, out, _ = run(capsys, "followup", str(case), "--day0", "2026-12-15",
                         "--format", "text")
    assert status == 0 and "MRD status: POSITIVE" in out and "Modified DLI" in out
    status, _, err = run(capsys, "followup", str(case), "--day0", "2027-02-01")
    assert status == 2 and "before day 0" in err


RAW_TOKENS = ("True", "False", "None")


def _tokens(text: str) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z]+", text))


def test_plan_every_output_shows_the_rounded_dose_and_the_exact_figure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("plan", "--example", "--regimen", "beijing-mac-malignancy", "--day0", "2026-12-15",
            "--donor", "S2")
    _, out, _ = run(capsys, *argv)
    sem = next(o for o in json.loads(out)["orders"] if o["drug"] == "semustine")
    assert (sem["dose"], sem["dose_rounded"], sem["rounding"]["kind"]) == (450.625, 451, "display")
    assert {"dose", "unit", "per_administration", "arithmetic"} <= set(sem)  # keys kept
    _, out, _ = run(capsys, *argv, "--format", "text")
    row = next(ln for ln in out.splitlines() if " semustine " in ln)
    assert row.split()[3:7] == ["451", "450.625", "mg", "PO"] and "display" in row
    assert "display rounding — the pharmacy rounds to the product" in out
    _, out, _ = run(capsys, *argv, "--format", "html")
    assert "451 mg" in out and "exact 450.625 mg" in out and "display rounding" in out
    assert "the pharmacy rounds to the product" in out
    _, out, _ = run(capsys, *argv, "--format", "ics")
    unfolded = out.replace("\r\n ", "")
    assert "SUMMARY:Day -3: semustine PO 451 mg (exact 450.625 mg)" in unfolded
    assert "display rounding — the pharmacy rounds to the product" in unfolded
    target = tmp_path / "plan.pdf"
    assert main([*argv, "--format", "pdf", "-o", str(target)]) == 0
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(target)).pages)
    assert "451 mg" in text and "exact 450.625 mg" in text


def test_followup_text_reads_yes_no_not_recorded(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    case = tmp_path / "fu.json"
    case.write_text(json.dumps({
        "format": "everydonor.case/1", "patient": {"id": "P", "age": 40, "weight_kg": 70},
        "follow_up": {"mrd": [
            {"date": "2027-01-14", "wt1_pct": 0.4, "flow": "negative"},
            {"date": "2027-02-13", "wt1_pct": 0.9},
            {"date": "2027-03-15", "flow": "positive",
             "fusion": {"name": "RUNX1::RUNX1T1", "positive": True}},
            {"date": "2027-04-15", "fusion": {"name": "RUNX1::RUNX1T1", "positive": False}}]}}))
    status, out, _ = run(capsys, "followup", str(case), "--day0", "2026-12-15", "--format",
                         "text")
    assert status == 0 and not _tokens(out) & set(RAW_TOKENS), out
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip().startswith("+")}
    assert rows["+30"].split()[2:5] == ["0.4", "no", "no"]
    assert "0.9  yes           not recorded   not recorded" in rows["+60"]
    assert "not recorded  not recorded  yes            RUNX1::RUNX1T1 positive" in rows["+90"]
    assert rows["+121"].endswith("RUNX1::RUNX1T1 negative")
    _, out, _ = run(capsys, "followup", str(case), "--day0", "2026-12-15")
    assert json.loads(out)["results"][1]["flow_positive"] is None  # JSON unchanged
