"""Analyses on the pooled cohort, on SQLite and PostgreSQL: centre A exports its patients
de-identified, centre B imports the export, and B's analyses with ``source=pooled|all`` give,
for A's patients, exactly what A computes on its own registry (times are intervals from day 0:
the per-patient date shift leaves them unchanged) — the same rows, the same exclusions with the
same reasons, the same Kaplan-Meier / Aalen-Johansen / log-rank / Gray numbers as the analysis
of A's and B's rows put together by hand; a stored score without its inputs excluded, named;
dishonest period filters refused; reads audited; activity and report counting the pooled
transplants."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from everydonor.adapters.cli import main
from everydonor.adapters.registry import exports
from everydonor.adapters.registry import outcomes_data as od
from everydonor.adapters.registry.config import PseudonymKey
from everydonor.adapters.registry.models import AuditLog, Patient
from everydonor.adapters.registry.pooled import import_pooled
from everydonor.adapters.registry.store import Registry
from everydonor.adapters.report.centre_report import ReportRequest, report_document
from everydonor.errors import InputError
from tests.registry.test_outcomes_data import D0, Builder

ENDPOINTS = ("os", "lfs", "nrm", "relapse", "grfs", "agvhd_2_4", "agvhd_3_4", "cgvhd",
             "neutrophil", "platelet")
#: The hand-built patients whose endpoint comes from a stored score (its inputs are not in a
#: de-identified export): the endpoints that cannot be derived for them once pooled.
FROM_STORED_SCORE = {"ALIVE": ("grfs", "agvhd_2_4", "agvhd_3_4"), "ENGRAFT": ("neutrophil",)}


def _populate_a(reg: Registry, rng: random.Random) -> None:
    """Centre A (BJ and SH): the hand-built courses of test_outcomes_data, random courses, and
    a patient who refused research consent (never exported)."""
    b = Builder(reg)
    b.patient("RELAPSE")
    b.event("RELAPSE", "relapse", 120, {"relapse_type": "haematologic"})
    b.event("RELAPSE", "death", 250, {"cause": "relapse_progression"})
    b.patient("NRM")
    b.event("NRM", "agvhd", 30, {"skin_stage": 3})
    b.event("NRM", "death", 90, {"cause": "infection"})
    b.patient("ALIVE", donor="S")
    b.score("ALIVE", "magic_agvhd_grade", 130, {"skin_stage": 4})
    b.event("ALIVE", "last_contact", 400, {"vital_status": "alive"})
    b.patient("ENGRAFT", donor="U1", centre="SH")
    b.score("ENGRAFT", "neutrophil_engraftment_day", 16, {"anc_by_day_x10e9_per_l": [
        [2, 0.4], [6, 0.0], [11, 0.6], [12, 0.3], [14, 0.8], [15, 1.0], [16, 1.4]]})
    b.event("ENGRAFT", "cgvhd", 200, {"organ_scores": {"skin": 2}})
    b.event("ENGRAFT", "last_contact", 365, {"vital_status": "alive"})
    b.patient("TWICE", day0=dt.date(2021, 5, 1))
    reg.add_hct("TWICE", day0=D0, donor="S", actor="t", reason="r")
    b.event("TWICE", "relapse", 200, {"relapse_type": "molecular"})  # before the 2nd HCT
    b.event("TWICE", "last_contact", 330, {"vital_status": "alive"})  # after it
    b.patient("NOHCT", day0=None)
    b.patient("NOFU")
    b.patient("ALIVEAFTER")
    b.event("ALIVEAFTER", "death", 50, {"cause": "other"})
    b.event("ALIVEAFTER", "last_contact", 80, {"vital_status": "alive"})
    b.patient("DEADNODATE")
    b.event("DEADNODATE", "last_contact", 80, {"vital_status": "dead"})
    b.patient("CORD", graft="UCB", donor=None, diagnosis="ALL", day0=dt.date(2019, 7, 1))
    b.event("CORD", "last_contact", 10, {"vital_status": "alive"})
    for i in range(24):
        _random_course(reg, f"A{i:02d}", rng, centre=rng.choice(("BJ", "SH")))
    b.patient("REFUSED")
    b.event("REFUSED", "death", 40, {"cause": "infection"})
    with reg.reading() as s:
        upns = list(s.execute(select(Patient.upn)).scalars())
    for upn in upns:
        reg.set_consent(upn, research=upn != "REFUSED", international_transfer=None,
                        consent_date=dt.date(2016, 1, 1), scope=None, actor="t",
                        reason="consent form")


def _random_course(reg: Registry, upn: str, rng: random.Random, *, centre: str) -> None:
    """A consistent random course: engraftment, maybe aGVHD stages, cGVHD, relapse, death."""
    day0 = dt.date(2016, 1, 1) + dt.timedelta(days=rng.randrange(8 * 365))
    b = Builder(reg)
    b.patient(upn, centre=centre, day0=day0, donor=rng.choice(("F", "S", "U1")),
              diagnosis=rng.choice(("AML", "ALL", "MDS")))

    def event(kind: str, day: int, payload: dict[str, Any]) -> None:
        reg.record_event(upn, kind, day0 + dt.timedelta(days=day), payload, actor="t",
                         reason="r")

    last = rng.randrange(60, 2000)
    if rng.random() < 0.8:
        anc = rng.randrange(10, 25)
        event("engraftment", anc, {"anc_500_date": (day0 + dt.timedelta(days=anc)).isoformat(),
                                   "platelet_20_date": (day0 + dt.timedelta(
                                       days=anc + rng.randrange(0, 20))).isoformat()})
    if rng.random() < 0.5:
        event("agvhd", rng.randrange(12, 59), {"skin_stage": rng.randrange(1, 5),
                                               "lower_gi_stage": rng.randrange(0, 3)})
    if rng.random() < 0.3 and last > 150:
        event("cgvhd", rng.randrange(100, last), {"organ_scores": {
            "skin": rng.randrange(1, 4), "mouth": rng.randrange(0, 3)}})
    if rng.random() < 0.35:
        event("relapse", rng.randrange(30, last + 1),
              {"relapse_type": rng.choice(("haematologic", "molecular", "extramedullary"))})
    if rng.random() < 0.45:
        event("death", last, {"cause": rng.choice(("infection", "gvhd", "relapse_progression"))})
    else:
        event("last_contact", last, {"vital_status": "alive"})


@dataclass
class Centres:
    a: Registry
    b: Registry
    a_url: str
    b_url: str
    #: A's row name (pseudonym, 12 characters) → the name the pooled row carries in B.
    names: dict[str, str]
    upn: dict[str, str]  # A's row name → UPN


@pytest.fixture
def centres(db_url: str, other_db_url: str, tmp_path: Path) -> Iterator[Centres]:
    a = Registry(db_url)
    a.init(actor="a-admin")
    b = Registry(other_db_url, key=PseudonymKey(b"pooling-centre-key-0123456789", "test"))
    b.init(actor="b-admin")
    try:
        _populate_a(a, random.Random(20240614))
        rng = random.Random(7)
        for i in range(10):
            _random_course(b, f"GZ{i:02d}", rng, centre="GZ")
        out = tmp_path / "a-deid"
        exports.export(a, "deidentified", output=out, actor="a-dm", reason="pooled study")
        import_pooled(b, out, actor="b-dm", reason="pooled study")
        key = a.key()
        with a.reading() as s:
            rows = s.execute(select(Patient.upn, Patient.pseudonym, Patient.centre_id)).all()
        names, upns = {}, {}
        for upn, pseudonym, _ in rows:
            centre = a.show(upn)["centre"]
            names[pseudonym[:12]] = (f"{centre}/"
                                     f"{exports.export_id(key, 'deidentified', pseudonym)[:12]}")
            upns[pseudonym[:12]] = upn
        yield Centres(a, b, db_url, other_db_url, names, upns)
    finally:
        a.close()
        b.close()


def _rows(data: od.EndpointData) -> dict[str, tuple[Any, ...]]:
    cols = data.columns()
    return {p: (float(t), int(e), c, y, d, *(cols[k][i] for k in (
        "disease", "disease_risk", "disease_status", "sex", "age_band")))
        for i, (p, t, e, c, y, d) in enumerate(zip(
            data.patient, data.time, data.event, data.centre, data.hct_year, data.donor_type,
            strict=True))}


def _split(name: str) -> tuple[str, str]:
    base, _, number = name.partition("#")
    return base, f"#{number}" if number else ""


def _check_endpoint(centres: Centres, endpoint: str, hct: str) -> None:
    here = od.endpoint_data(centres.a, endpoint, od.parse_cohort(hct or None))
    pooled = od.endpoint_data(centres.b, endpoint,
                              od.parse_cohort(",".join(filter(None, ["source=pooled", hct]))))
    mine, theirs = _rows(here), _rows(pooled)
    withheld = {n for n, u in centres.upn.items() if endpoint in FROM_STORED_SCORE.get(u, ())}
    expected_rows, expected_excluded = {}, {}
    for name, row in mine.items():
        base, suffix = _split(name)
        if centres.upn[base] == "REFUSED":
            continue
        if base in withheld:
            expected_excluded[centres.names[base] + suffix] = "keeps the result of the stored"
        else:
            expected_rows[centres.names[base] + suffix] = row
    for name, reason in here.excluded:
        base, suffix = _split(name)
        if centres.upn[base] != "REFUSED":
            expected_excluded[centres.names[base] + suffix] = reason
    assert theirs == expected_rows
    got_excluded = dict(pooled.excluded)
    assert got_excluded.keys() == expected_excluded.keys()
    for name, reason in expected_excluded.items():
        assert reason in got_excluded[name], (name, got_excluded[name])
    assert set(pooled.extra["source"]) == {"pooled"} and set(here.extra["source"]) == {"local"}
    assert len(theirs) > 10  # the comparison is not vacuous
    if endpoint in ("agvhd_2_4", "neutrophil"):  # a stored score's inputs: named, not guessed
        (name,) = [centres.names[n] + ("#1" if hct else "") for n in withheld]
        assert "de-identified export drops them" in got_excluded[name]


@pytest.mark.parametrize("hct", ["", "hct=all"])
def test_pooled_rows_are_the_source_centres_rows(centres: Centres, hct: str) -> None:
    """Every endpoint, on one export/import (building the two centres is the costly part)."""
    for endpoint in ENDPOINTS:
        try:
            _check_endpoint(centres, endpoint, hct)
        except AssertionError as exc:
            raise AssertionError(f"endpoint {endpoint}, cohort {hct or 'first HCT'}: {exc}") \
                from exc


def test_source_all_is_local_plus_pooled_and_audited(centres: Centres) -> None:
    both = od.endpoint_data(centres.b, "os", od.parse_cohort("source=all"), actor="stat",
                            reason="pooled OS")
    local = od.endpoint_data(centres.b, "os", od.parse_cohort(None))
    pooled = od.endpoint_data(centres.b, "os", od.parse_cohort("source=pooled"))
    assert _rows(both) == {**_rows(local), **_rows(pooled)}
    assert sorted(both.excluded) == sorted(local.excluded + pooled.excluded)
    assert set(both.centre) == {"BJ", "SH", "GZ"}
    assert {c for c, s in zip(both.centre, both.extra["source"], strict=True)
            if s == "local"} == {"GZ"}
    with centres.b.reading() as s:
        entry = s.execute(select(AuditLog).where(AuditLog.action == "outcomes.read",
                                                 AuditLog.actor == "stat")).scalar_one()
        assert entry.reason == "pooled OS" and entry.object_id == "source=all"
        assert entry.payload["source"] == "all"
        assert entry.payload["pooled_transplants"] == len(pooled.time) > 0
        assert entry.payload["transplants"] == len(both.time)
    assert centres.b.verify_audit()["intact"]


def _csv(path: Path, *datas: od.EndpointData) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "event", "centre"])
        for data in datas:
            for t, e, c in zip(data.time, data.event, data.centre, strict=True):
                w.writerow([repr(float(t)), int(e), c])
    return path


def _exported(c: Centres, data: od.EndpointData) -> od.EndpointData:
    """A's rows of the patients its export carries (research consent)."""
    keep = [i for i, p in enumerate(data.patient) if c.upn[_split(p)[0]] != "REFUSED"]
    return od.EndpointData(data.endpoint, data.time[keep], data.event[keep], data.cause_labels,
                           [data.patient[i] for i in keep], [data.centre[i] for i in keep],
                           [data.hct_year[i] for i in keep],
                           [data.donor_type[i] for i in keep], [], data.definition)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _close(got: Any, want: Any) -> None:
    """Equal structures, floats to 1e-12 (the rows come in another order)."""
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for k in want:
            _close(got[k], want[k])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _close(g, w)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    else:
        assert got == want


@pytest.mark.parametrize("case", [("km", "os", "logrank"), ("cif", "nrm", "gray")])
def test_cli_pooled_analysis_equals_the_analysis_on_both_centres_rows(
        centres: Centres, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        case: tuple[str, str, str]) -> None:
    command, endpoint, test = case
    a_rows = _exported(centres, od.endpoint_data(centres.a, endpoint, od.parse_cohort(None)))
    b_rows = od.endpoint_data(centres.b, endpoint, od.parse_cohort(None))
    data = _csv(tmp_path / "both.csv", a_rows, b_rows)
    at = ["--at", "30,100,365,730"]
    rc, out, err = _cli(capsys, "outcomes", command, "--db", centres.b_url, "--cohort",
                        "source=all", "--endpoint", endpoint, "--group", "centre", *at,
                        "--user", "stat", "--reason", "pooled analysis")
    assert rc == 0, err
    pooled = json.loads(out)
    rc, out, err = _cli(capsys, "outcomes", command, "--data", str(data), "--time", "time",
                        "--event", "event", "--group", "centre", *at)
    assert rc == 0, err
    direct = json.loads(out)
    assert [g["group"] for g in pooled["groups"]] == ["BJ", "GZ", "SH"]
    _close(pooled["groups"], direct["groups"])
    _close(pooled[test], direct[test])
    assert pooled["cohort"]["source"] == "all"
    assert {k: v for k, v in pooled["sources"].items() if k != "note"} == {
        "local": len(b_rows.time), "pooled": len(a_rows.time), "pooled_centres": ["BJ", "SH"]}
    assert pooled["n_transplants"] == len(a_rows.time) + len(b_rows.time)
    excluded_a = [x for x in od.endpoint_data(centres.a, endpoint, od.parse_cohort(None)).excluded
                  if centres.upn[x[0]] != "REFUSED"]
    assert pooled["excluded"]["count"] == len(excluded_a) + len(b_rows.excluded)
    with centres.b.reading() as s:
        reads = [(r.reason, r.payload["source"]) for r in s.execute(select(AuditLog).where(
            AuditLog.action == "outcomes.read", AuditLog.actor == "stat")).scalars()]
    assert reads == [("pooled analysis", "all")]
    # --strata centre on the pooled rows, too
    rc, out, err = _cli(capsys, "outcomes", command, "--db", centres.b_url, "--cohort",
                        "source=all", "--endpoint", endpoint, "--group", "donor_type",
                        "--strata", "centre")
    assert rc == 0, err


def test_periods_on_pooled_records_are_whole_years(centres: Centres,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for text, key in (("source=all,hct_from=2020-03-01", "hct_from"),
                      ("source=pooled,hct_to=2021-06-30", "hct_to"),
                      ("hct_from=2019-12-31,source=local|pooled", "hct_from")):
        with pytest.raises(InputError, match="shifted per patient") as info:
            od.parse_cohort(text)
        assert info.value.field == f"cohort.{key}"
    assert od.parse_cohort("source=all,hct_from=2020-03-01".replace("all", "local")).hct_from
    with pytest.raises(InputError, match="source is one of"):
        od.parse_cohort("source=elsewhere")
    rc, _, err = _cli(capsys, "outcomes", "km", "--db", centres.b_url, "--cohort",
                      "source=all,hct_from=2020-03-01", "--endpoint", "os")
    assert rc == 2 and "only the transplant's year is real" in err and "2020-01-01" in err
    # whole years select the pooled records by their real year: A's own rows of those years
    years = "hct_from=2019-01-01,hct_to=2021-12-31"
    here = _rows(od.endpoint_data(centres.a, "os", od.parse_cohort(years)))
    pooled = _rows(od.endpoint_data(centres.b, "os", od.parse_cohort(f"source=pooled,{years}")))
    assert pooled == {centres.names[n]: r for n, r in here.items()
                      if centres.upn[n] != "REFUSED"}
    assert pooled and {r[3] for r in pooled.values()} <= {2019, 2020, 2021}
    # a report narrowed to a day inside a year, with the pooled cohort: refused too
    with pytest.raises(InputError, match="shifted"):
        report_document(centres.b, ReportRequest(pooled=True, date_from=dt.date(2020, 2, 1),
                                                 endpoints=("os",)), actor="s", reason="r")
    # the other filters on pooled records: centre (source centre), disease, donor type
    sh = od.endpoint_data(centres.b, "os", od.parse_cohort("source=all,centre=SH"))
    assert set(sh.centre) == {"SH"} and set(sh.extra["source"]) == {"pooled"}
    aml = od.endpoint_data(centres.b, "os", od.parse_cohort("source=pooled,disease=aml"))
    assert set(aml.extra["disease"]) == {"AML"}
    haplo = _rows(od.endpoint_data(centres.b, "os", od.parse_cohort(
        "source=pooled,donor_type=haploidentical related")))
    assert haplo and {r[4] for r in haplo.values()} == {"haploidentical related"}


def test_pooled_cohort_is_never_exported_again(centres: Centres, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="never exported again"):
        exports.export(centres.b, "deidentified", cohort=od.parse_cohort("source=all"),
                       output=tmp_path / "again", actor="b-dm", reason="r")
    assert not (tmp_path / "again").exists()


def test_activity_and_report_count_the_pooled_transplants(centres: Centres) -> None:
    def count(rows: list[od.TransplantRow]) -> Counter[tuple[str, int, str]]:
        return Counter((r.centre, r.year, r.donor_type) for r in rows)

    a = od.transplants(centres.a, od.parse_cohort("consent=research"))
    b = od.transplants(centres.b, od.parse_cohort(None))
    both = od.transplants(centres.b, od.parse_cohort("source=all"), actor="stat")
    assert count(both) == count(a) + count(b)
    assert {r.source for r in both if r.centre == "GZ"} == {"local"}
    assert {r.source for r in both if r.centre != "GZ"} == {"pooled"}
    assert any(r.year == 2022 and r.centre == "BJ" for r in both)  # TWICE's second HCT
    with centres.b.reading() as s:
        payload = s.execute(select(AuditLog.payload).where(
            AuditLog.action == "outcomes.activity", AuditLog.actor == "stat")).scalar_one()
    assert payload["pooled_transplants"] == len(a)

    doc = report_document(centres.b, ReportRequest(cohort="source=all", endpoints=("os",)),
                          actor="stat", reason="pooled report")
    assert doc["activity"]["total"] == len(a) + len(b)
    assert doc["activity"]["centres"] == ["BJ", "GZ", "SH"] and doc["pooled_centres"] == [
        "BJ", "SH"]
    os_all = od.endpoint_data(centres.b, "os", od.parse_cohort("source=all"))
    assert doc["endpoints"][0]["groups"][0]["n"] == len(os_all.time)
    # a centre's report with the pooled cohort: its own patients and every pooled one
    mine = report_document(centres.b, ReportRequest(centre="GZ", pooled=True,
                                                    endpoints=("os",)), actor="s", reason="r")
    assert mine["activity"]["total"] == len(a) + len(b)
    assert mine["endpoints"][0]["groups"][0]["n"] == len(os_all.time)
    alone = report_document(centres.b, ReportRequest(centre="GZ", endpoints=("os",)),
                            actor="s", reason="r")
    assert alone["activity"]["total"] == len(b) and alone["pooled_centres"] == []
    with pytest.raises(InputError, match="give it once"):
        report_document(centres.b, ReportRequest(pooled=True, cohort="source=pooled"),
                        actor="s", reason="r")
