"""The centre outcomes report (``everydonor outcomes report``): the PDF carries the estimates
the core computes for the same cohort, the activity counts equal a direct count of the
registry's transplants, the SVG plots are deterministic, bad options exit 2 with nothing
written, and producing a report is audited."""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from everydonor.adapters.cli import main
from everydonor.adapters.registry import outcomes_data
from everydonor.adapters.registry.models import AuditLog, Centre, Hct, Patient
from everydonor.adapters.registry.store import Registry
from everydonor.adapters.report.centre_report import (
    DEFAULT_TIMES,
    ReportRequest,
    report_document,
)
from everydonor.outcomes import aalen_johansen, kaplan_meier
from tests.outcomes.report_cohort import seed
from tests.registry.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cohort_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One seeded SQLite registry for the module (seeding takes seconds)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EVERYDONOR_PSEUDONYM_KEY", TEST_KEY)
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'registry.sqlite'}"
    reg = Registry(url)
    reg.init(actor="fixture")
    seed(reg, 15)
    reg.close()
    yield url
    mp.undo()


@pytest.fixture(scope="module")
def report_pdf(cohort_db: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("pdf") / "centre-report.pdf"
    assert main(["outcomes", "report", "--db", cohort_db, "-o", str(out),
                 "--user", "stat.one"]) == 0
    return out, pdf_text(out)


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(
        path.read_bytes())).pages)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def test_the_pdf_holds_the_estimates_the_core_computes_for_the_cohort(
        cohort_db: str, report_pdf: tuple[Path, str]) -> None:
    path, text = report_pdf
    assert path.read_bytes().startswith(b"%PDF")
    flat = " ".join(text.split())
    reg = Registry(cohort_db)
    try:
        cohort = outcomes_data.parse_cohort(None)
        os_data = outcomes_data.endpoint_data(reg, "os", cohort, actor="test", reason="check")
        rel = outcomes_data.endpoint_data(reg, "relapse", cohort, actor="test", reason="check")
    finally:
        reg.close()
    km = kaplan_meier(os_data.time, os_data.event)
    values = km.at(list(DEFAULT_TIMES["os"]))
    assert km.events > 0
    for i in range(len(DEFAULT_TIMES["os"])):
        assert pct(values["survival"][i]) in flat
        if np.isfinite(values["lower"][i]):
            assert f"({pct(values['lower'][i])}–{pct(values['upper'][i])})" in flat
    cif = aalen_johansen(rel.time, rel.event, n_causes=max(rel.cause_labels))
    values = cif.at(1, list(DEFAULT_TIMES["relapse"]))
    assert cif.n_event[:, 1].sum() > 0
    for i in range(len(DEFAULT_TIMES["relapse"])):
        assert pct(values["cif"][i]) in flat
    # numbers at risk at day 365 for all patients
    assert f"at risk {int(np.count_nonzero(os_data.time >= 365))}" in flat
    # the exclusions, with their reasons, and who
    for pid, reason in os_data.excluded:
        assert pid in flat
        assert " ".join(reason.split())[:40] in flat
    # title page: provenance and notice
    assert "Decision support for the treating transplant team" in flat
    from everydonor import __version__
    assert f"everydonor {__version__}" in flat
    assert "Kaplan-Meier" in flat and "Aalen-Johansen" in flat and "[M]" in flat


def test_the_activity_equals_a_direct_count_of_the_registry(cohort_db: str) -> None:
    reg = Registry(cohort_db)
    try:
        doc = report_document(reg, ReportRequest(), actor="test", reason="check")
        with reg.reading() as s:
            rows = s.execute(select(Centre.code, Hct.day0).join(Patient, Patient.id ==
                                                                Hct.patient_id)
                             .join(Centre, Centre.id == Patient.centre_id)
                             .where(Hct.hct_type == "allo", Hct.deleted.is_(False),
                                    Patient.deleted.is_(False))).all()
    finally:
        reg.close()
    direct = Counter((c, d.year) for c, d in rows)
    got = Counter({(c, r["year"]): r["total"] for c, rs in doc["activity"]["per_centre"].items()
                   for r in rs})
    assert got == direct
    assert doc["activity"]["total"] == len(rows) == 15
    pooled = Counter({r["year"]: r["total"] for r in doc["activity"]["pooled"]})
    assert pooled == Counter(d.year for _, d in rows)
    # donor types as the seed made them (parent → haploidentical, U1 → unrelated, UCB → cord)
    assert doc["activity"]["totals"]["haploidentical related"] == 6
    assert doc["activity"]["totals"]["unrelated"] == 3
    assert doc["activity"]["totals"]["cord"] == 3
    assert doc["activity"]["totals"]["unknown"] == 3


def test_one_centre_and_a_period_narrow_the_cohort(cohort_db: str) -> None:
    reg = Registry(cohort_db)
    try:
        doc = report_document(reg, ReportRequest(centre="OTHER", date_from=_date("2020-01-01"),
                                                 date_to=_date("2022-12-31"),
                                                 endpoints=("os",)), actor="t", reason="t")
        with reg.reading() as s:
            rows = s.execute(select(Hct.day0).join(Patient, Patient.id == Hct.patient_id)
                             .join(Centre, Centre.id == Patient.centre_id)
                             .where(Centre.code == "OTHER")).all()
    finally:
        reg.close()
    expected = [d for (d,) in rows if _date("2020-01-01") <= d <= _date("2022-12-31")]
    assert doc["activity"]["total"] == len(expected) > 0
    assert doc["activity"]["centres"] == ["OTHER"]
    os_section = doc["endpoints"][0]
    assert os_section["groups"][0]["n"] + len(os_section["excluded"]) == len(expected)


def _date(text: str) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(text)


def test_producing_the_report_is_audited(cohort_db: str, report_pdf: tuple[Path, str]) -> None:
    reg = Registry(cohort_db)
    try:
        with reg.reading() as s:
            entries = [(e.actor, e.payload) for e in s.execute(select(AuditLog).where(
                AuditLog.action == "outcomes.report")).scalars()]
        assert reg.verify_audit()["intact"]
    finally:
        reg.close()
    assert entries and entries[0][0] == "stat.one"
    assert entries[0][1]["output"] == "centre-report.pdf"
    assert entries[0][1]["transplants"] == 15
    assert len(entries[0][1]["sha256"]) == 64


def test_the_chinese_report_translates_its_labels(cohort_db: str, tmp_path: Path) -> None:
    out = tmp_path / "zh.pdf"
    assert main(["outcomes", "report", "--db", cohort_db, "-o", str(out), "--language", "zh",
                 "--endpoint", "os"]) == 0
    from everydonor.adapters.web.i18n import translations

    zh = translations("zh")
    text = pdf_text(out)
    for message in ("Centre outcomes report", "Overall survival", "Transplant activity"):
        assert zh.gettext(message) != message, f"no Chinese for {message!r}"
        assert zh.gettext(message) in text


def test_the_svg_is_deterministic_across_processes() -> None:
    code = ("import numpy as np\n"
            "from everydonor.adapters.report.outcome_plots import km_curve, curve_plot\n"
            "t = np.array([5., 8, 8, 12, 20, 31, 40, 41, 55, 70])\n"
            "e = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0])\n"
            "c = [km_curve('a', t[:5], e[:5]), km_curve('b', t[5:], e[5:])]\n"
            "print(curve_plot(c, kind='survival', xlabel='Days from HCT', ylabel='P',"
            " risk_times=[0, 30, 60], risk_label='At risk'), end='')\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=ROOT, env={"PYTHONHASHSEED": str(seed_),
                                                      "PATH": "/usr/bin:/bin"}).stdout
            for seed_ in (1, 2)]
    assert runs[0] == runs[1]
    svg = runs[0]
    assert svg.startswith("<svg") and "<text" in svg  # text kept as text, not glyph paths
    assert "Date" not in svg.split(">", 1)[0]
    assert "At risk" in svg and ">30<" in svg.replace(" ", "")


@pytest.mark.parametrize(("argv", "field"), [
    (["--at", "os=100,abc"], "--at"),
    (["--at", "survival=100"], "--at"),
    (["--from", "2020-13-01"], "--from"),
    (["--from", "2022-01-01", "--to", "2021-01-01"], "--from"),
    (["--centre", "PKUPH", "--cohort", "centre=OTHER"], "--centre"),
    (["--cohort", "colour=blue"], "colour"),
    (["--endpoint", "survival"], "--endpoint"),
])
def test_bad_options_exit_2_and_write_nothing(cohort_db: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              argv: list[str], field: str) -> None:
    out = tmp_path / "r.pdf"
    assert main(["outcomes", "report", "--db", cohort_db, "-o", str(out), *argv]) == 2
    assert not out.exists()
    assert field in capsys.readouterr().err


def test_a_missing_output_folder_exits_2(cohort_db: str, tmp_path: Path) -> None:
    assert main(["outcomes", "report", "--db", cohort_db, "-o",
                 str(tmp_path / "nowhere" / "r.pdf")]) == 2
