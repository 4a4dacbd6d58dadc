"""Endpoint data read from a real registry (SQLite and PostgreSQL): hand-built patients with known
answers, exclusions with their reasons, the cohort filter, the audit entry, one query per table,
and ``everydonor outcomes … --db``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, select

from everydonor.adapters.cli import main
from everydonor.adapters.registry import outcomes_data as od
from everydonor.adapters.registry.models import AuditLog, Patient
from everydonor.adapters.registry.store import Registry
from everydonor.errors import InputError

D0 = dt.date(2022, 3, 1)


def _doc(diagnosis: str = "AML") -> dict[str, Any]:
    return {"format": "everydonor.case/1",
            "patient": {"id": "P", "sex": "female", "age": 47, "diagnosis": diagnosis},
            "relatives": [{"id": "F", "relationship": "father"},
                          {"id": "S", "relationship": "sister"}],
            "unrelated": [{"id": "U1", "registry": "CMDP", "donor_id": "123"}]}


def _day(n: int) -> str:
    return (D0 + dt.timedelta(days=n)).isoformat()


class Builder:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg

    def patient(self, upn: str, *, centre: str = "BJ", diagnosis: str = "AML",
                day0: dt.date | None = D0, donor: str | None = "F", graft: str | None = None
                ) -> str:
        self.reg.add_case(_doc(diagnosis), actor="t", upn=upn, centre=centre)
        if day0 is not None:
            self.reg.add_hct(upn, day0=day0, donor=donor, graft=graft, actor="t", reason="r")
        return upn

    def event(self, upn: str, kind: str, day: int, payload: dict[str, Any]) -> None:
        self.reg.record_event(upn, kind, _day(day), payload, actor="t", reason="r")

    def score(self, upn: str, name: str, day: int, inputs: dict[str, Any]) -> None:
        self.reg.add_score(upn, name, inputs, _day(day), actor="t", reason="r")


@pytest.fixture
def reg(db_url: str) -> Iterator[Registry]:
    r = Registry(db_url)
    r.init(actor="tester")
    try:
        yield r
    finally:
        r.close()


def pseudonyms(reg: Registry) -> dict[str, str]:
    with reg.reading() as s:
        return {upn: p[:12] for upn, p in s.execute(select(Patient.upn, Patient.pseudonym))}


def by_patient(data: od.EndpointData) -> dict[str, tuple[float, int]]:
    return {p: (float(t), int(e)) for p, t, e in zip(data.patient, data.time, data.event,
                                                      strict=True)}


@pytest.fixture
def cohort(reg: Registry) -> dict[str, str]:
    """Hand-built patients; each comment says what the definitions give."""
    b = Builder(reg)
    # relapse day 120, then death day 250: relapse at 120; NRM: relapse competes; OS death 250
    b.patient("RELAPSE")
    b.event("RELAPSE", "relapse", 120, {"relapse_type": "haematologic"})
    b.event("RELAPSE", "death", 250, {"cause": "relapse_progression"})
    # death day 90 without relapse: NRM at 90; aGVHD grade II (skin stage 3) on day 30
    b.patient("NRM")
    b.event("NRM", "agvhd", 30, {"skin_stage": 3})
    b.event("NRM", "death", 90, {"cause": "infection"})
    # alive at last contact day 400; late aGVHD grade IV on day 130 (after day 100: not counted)
    b.patient("ALIVE", donor="S")
    b.score("ALIVE", "magic_agvhd_grade", 130, {"skin_stage": 4})
    b.event("ALIVE", "last_contact", 400, {"vital_status": "alive"})
    # neutrophil counts: the first of three consecutive >= 0.5 after the nadir is day 14
    b.patient("ENGRAFT", donor="U1", centre="SH")
    b.score("ENGRAFT", "neutrophil_engraftment_day", 16, {"anc_by_day_x10e9_per_l": [
        [2, 0.4], [6, 0.0], [11, 0.6], [12, 0.3], [14, 0.8], [15, 1.0], [16, 1.4]]})
    b.event("ENGRAFT", "cgvhd", 200, {"organ_scores": {"skin": 1}})
    b.event("ENGRAFT", "last_contact", 365, {"vital_status": "alive"})
    # a second allogeneic HCT: only the first is analysed unless hct=all
    b.patient("TWICE", day0=dt.date(2021, 5, 1))
    reg.add_hct("TWICE", day0=D0, donor="S", actor="t", reason="r")
    b.event("TWICE", "last_contact", 30, {"vital_status": "alive"})
    # left out, each with its reason
    b.patient("NOHCT", day0=None)
    b.patient("NOFU")
    b.patient("ALIVEAFTER")
    b.event("ALIVEAFTER", "death", 50, {"cause": "other"})
    b.event("ALIVEAFTER", "last_contact", 80, {"vital_status": "alive"})
    b.patient("DEADNODATE")
    b.event("DEADNODATE", "last_contact", 80, {"vital_status": "dead"})
    b.patient("CORD", graft="UCB", donor=None, diagnosis="ALL",
              day0=dt.date(2019, 7, 1))
    b.event("CORD", "last_contact", 10, {"vital_status": "alive"})
    return pseudonyms(reg)


def test_endpoints_on_hand_built_patients(reg: Registry, cohort: dict[str, str]) -> None:
    p = cohort
    relapse = by_patient(od.endpoint_data(reg, "relapse", od.parse_cohort(None)))
    assert relapse[p["RELAPSE"]] == (120, 1)
    assert relapse[p["NRM"]] == (90, 2)
    assert relapse[p["ALIVE"]] == (400, 0)
    nrm = by_patient(od.endpoint_data(reg, "nrm", od.parse_cohort(None)))
    assert nrm[p["RELAPSE"]] == (120, 2) and nrm[p["NRM"]] == (90, 1)
    os_ = by_patient(od.endpoint_data(reg, "os", od.parse_cohort(None)))
    assert os_[p["RELAPSE"]] == (250, 1) and os_[p["ALIVE"]] == (400, 0)
    agvhd = by_patient(od.endpoint_data(reg, "agvhd_2_4", od.parse_cohort(None)))
    assert agvhd[p["NRM"]] == (30, 1)
    assert agvhd[p["ALIVE"]] == (100, 0)  # grade IV on day 130: after day 100
    assert agvhd[p["RELAPSE"]] == (100, 0)  # relapse on day 120: after the horizon
    cg = by_patient(od.endpoint_data(reg, "cgvhd", od.parse_cohort(None)))
    assert cg[p["ENGRAFT"]] == (200, 1) and cg[p["RELAPSE"]] == (120, 2)
    assert cg[p["NRM"]] == (90, 3)
    neut = od.endpoint_data(reg, "neutrophil", od.parse_cohort(None))
    assert by_patient(neut)[p["ENGRAFT"]] == (14, 1)
    reasons = dict(neut.excluded)
    assert "no ANC counts" in reasons[p["RELAPSE"]]


def test_exclusions_are_named(reg: Registry, cohort: dict[str, str]) -> None:
    data = od.endpoint_data(reg, "os", od.parse_cohort(None))
    reasons = dict(data.excluded)
    p = cohort
    assert reasons[p["NOHCT"]] == "no allogeneic HCT recorded"
    assert "no follow-up recorded after day 0" in reasons[p["NOFU"]]
    assert "after death on day 50" in reasons[p["ALIVEAFTER"]]
    assert "no death (date) is recorded" in reasons[p["DEADNODATE"]]
    assert len(data.patient) + len(data.excluded) == len(p)  # nobody silently dropped
    assert not set(data.patient) & set(reasons)
    summary = data.exclusion_summary()
    assert summary["count"] == 4 and sum(summary["reasons"].values()) == 4


def test_first_allogeneic_hct_unless_all(reg: Registry, cohort: dict[str, str]) -> None:
    first = od.endpoint_data(reg, "os", od.parse_cohort(None))
    twice = cohort["TWICE"]
    i = first.patient.index(twice)
    assert first.hct_year[i] == 2021
    # follow-up of the first HCT runs through the second (day 0 2022-03-01 + 30 days)
    assert first.time[i] == (D0 + dt.timedelta(days=30) - dt.date(2021, 5, 1)).days
    every = od.endpoint_data(reg, "os", od.parse_cohort("hct=all"))
    assert {f"{twice}#1", f"{twice}#2"} <= set(every.patient)
    assert every.time[every.patient.index(f"{twice}#2")] == 30


def test_cohort_filters_and_donor_types(reg: Registry, cohort: dict[str, str]) -> None:
    p = cohort
    sh = od.endpoint_data(reg, "os", od.parse_cohort("centre=SH"))
    assert sh.patient == [p["ENGRAFT"]] and sh.donor_type == ["unrelated"]
    period = od.endpoint_data(reg, "os", od.parse_cohort("hct_from=2020-01-01,hct_to=2021-12-31"))
    assert period.patient == [p["TWICE"]]
    haplo = od.endpoint_data(reg, "os", od.parse_cohort("donor_type=haploidentical related"))
    assert p["RELAPSE"] in haplo.patient and p["ALIVE"] not in haplo.patient
    unknown = od.endpoint_data(reg, "os", od.parse_cohort("donor_type=unknown"))
    assert p["ALIVE"] in unknown.patient  # a sister without a family analysis: not known
    cord = od.endpoint_data(reg, "os", od.parse_cohort("disease=all"))
    assert cord.patient == [p["CORD"]] and cord.donor_type == ["cord"]
    assert cord.extra["disease"] == ["ALL"] and cord.extra["age_band"] == ["45-49"]
    rows = od.transplants(reg, od.parse_cohort(None))
    assert sum(r.year == 2022 for r in rows) == 8  # TWICE's second HCT counted in activity
    table = od.activity_table(rows)
    assert sum(t["total"] for t in table) == len(rows)
    assert len(od.transplants(reg, od.parse_cohort("hct=first"))) == len(rows) - 1


def test_reading_is_audited(reg: Registry, cohort: dict[str, str]) -> None:
    data = od.endpoint_data(reg, "relapse", od.parse_cohort("centre=BJ"), actor="statistician",
                            reason="annual report")
    with reg.reading() as s:
        last = s.execute(select(AuditLog.action, AuditLog.actor, AuditLog.reason,
                                AuditLog.object_id, AuditLog.payload)
                         .order_by(AuditLog.seq.desc()).limit(1)).one()
    assert tuple(last[:4]) == ("outcomes.read", "statistician", "annual report", "centre=BJ")
    assert last.payload["endpoint"] == "relapse"
    assert last.payload["transplants"] == len(data.time)
    assert last.payload["excluded"] == len(data.excluded)
    assert reg.verify_audit()["intact"]


def test_one_query_per_table(reg: Registry, cohort: dict[str, str]) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(reg.engine, "before_cursor_execute", count)
    try:
        od.endpoint_data(reg, "os", od.parse_cohort(None))
        small = len(statements)
        b = Builder(reg)
        for i in range(6):
            b.patient(f"MORE{i}")
            b.event(f"MORE{i}", "last_contact", 50 + i, {"vital_status": "alive"})
        statements.clear()
        od.endpoint_data(reg, "os", od.parse_cohort(None))
    finally:
        event.remove(reg.engine, "before_cursor_execute", count)
    assert len(statements) == small  # the same queries for 10 or 16 patients
    assert small <= 10


@pytest.mark.parametrize(("text", "field", "fragment"), [
    ("centre=BJ,ward=3", "cohort.ward", "unknown key 'ward'"),
    ("hct_from=2020-13-01", "cohort.hct_from", "YYYY-MM-DD"),
    ("donor_type=haplo", "cohort.donor_type", "unknown donor type 'haplo'"),
    ("centre=BJ,centre=SH", "cohort.centre", "given twice"),
    ("hct_from=2024-01-01,hct_to=2020-01-01", "cohort.hct_from", "after hct_to"),
    ("centre", "cohort.centre", "not key=value"),
    ("centre=BJ,", "cohort.(empty)", "empty condition"),
    ("hct=second", "cohort.hct", "first or all"),
])
def test_cohort_grammar_errors(text: str, field: str, fragment: str) -> None:
    with pytest.raises(InputError, match="--cohort") as e:
        od.parse_cohort(text)
    assert e.value.field == field and fragment in e.value.message


def test_parse_cohort() -> None:
    c = od.parse_cohort(" centre=BJ|SH , hct_from=2020-01-01,donor_type=Haploidentical related ")
    assert c.centre == ("BJ", "SH") and c.hct_from == dt.date(2020, 1, 1)
    assert c.donor_type == ("haploidentical related",)
    assert od.parse_cohort(None) == od.Cohort() == od.parse_cohort("  ")


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_db(reg: Registry, cohort: dict[str, str], db_url: str,
                capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _cli(capsys, "outcomes", "cif", "--db", db_url, "--endpoint", "relapse",
                      "--cohort", "centre=BJ", "--at", "100,200", "--user", "stat")
    assert rc == 0
    doc = json.loads(out)
    assert doc["endpoint"]["name"] == "relapse" and "Iacobelli" in doc["endpoint"]["citation"]
    assert doc["cohort"]["filter"] == "centre=BJ" and doc["cohort"]["centre"] == ["BJ"]
    assert doc["excluded"]["count"] == 4
    assert doc["excluded"]["reasons"]["no allogeneic HCT recorded"] == 1
    assert doc["event_codes"] == {"0": "censored", "1": "relapse",
                                  "2": "death without prior relapse"}
    data = od.endpoint_data(reg, "relapse", od.parse_cohort("centre=BJ"))
    from everydonor.outcomes import aalen_johansen

    r = aalen_johansen(data.time, data.event, n_causes=2)
    expected = r.at(1, [100, 200])["cif"]
    got = [x["cif"] for x in doc["groups"][0]["causes"][0]["at"]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
    assert doc["n_transplants"] == len(data.time)
    assert "decision support" in doc["provenance"]["notice"].lower()
    rc, out, _ = _cli(capsys, "outcomes", "km", "--db", db_url, "--endpoint", "os", "--group",
                      "donor_type", "--format", "text")
    assert rc == 0 and "Endpoint os" in out and "log-rank" in out and "Excluded: 4" in out


def test_cli_db_refusals(reg: Registry, cohort: dict[str, str], db_url: str,
                         capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    rc, _, err = _cli(capsys, "outcomes", "km", "--db", db_url, "--endpoint", "nrm")
    assert rc == 2 and "competing" in err and "outcomes cif --endpoint nrm" in err
    rc, _, err = _cli(capsys, "outcomes", "cif", "--db", db_url, "--endpoint", "nrm",
                      "--cohort", "centre=BJ,ward=3")
    assert rc == 2 and "ward" in err
    rc, _, err = _cli(capsys, "outcomes", "cif", "--db", db_url, "--endpoint", "nrm",
                      "--data", str(tmp_path / "x.csv"))
    assert rc == 2 and "not both" in err
    rc, _, err = _cli(capsys, "outcomes", "cif", "--db", db_url)
    assert rc == 2 and "--endpoint" in err
    rc, _, err = _cli(capsys, "outcomes", "cif", "--db", db_url, "--endpoint", "nrm", "--time",
                      "days")
    assert rc == 2 and "--time" in err
    rc, _, err = _cli(capsys, "outcomes", "cif", "--db", db_url, "--endpoint", "nrm",
                      "--group", "ward")
    assert rc == 2 and "no column 'ward'" in err and "donor_type" in err
    rc, _, err = _cli(capsys, "outcomes", "cif", "--db", db_url, "--endpoint", "nrm",
                      "--cohort", "centre=NOWHERE")
    assert rc == 2 and "no transplant of the cohort" in err


def test_family_analysis_classifies_siblings(reg: Registry) -> None:
    b = Builder(reg)
    for upn in ("SIB-ID", "SIB-HAPLO", "SIB-NONE"):
        b.patient(upn, donor="S")
        b.event(upn, "last_contact", 100, {"vital_status": "alive"})
    reg.add_snapshot("SIB-ID", "family", {"relatives": [{"id": "S", "hla_relation": "haploidentical"}]},
                     actor="t", reason="older analysis")
    reg.add_snapshot("SIB-ID", "family", {"relatives": [{"id": "S", "hla_relation": "identical"}]},
                     actor="t", reason="retyped")  # the latest analysis wins
    reg.add_snapshot("SIB-HAPLO", "family",
                     {"relatives": [{"id": "S", "hla_relation": "haploidentical"}]},
                     actor="t", reason="r")
    p = pseudonyms(reg)
    data = od.endpoint_data(reg, "os", od.parse_cohort(None))
    types = dict(zip(data.patient, data.donor_type, strict=True))
    assert types[p["SIB-ID"]] == "matched sibling"
    assert types[p["SIB-HAPLO"]] == "haploidentical related"
    assert types[p["SIB-NONE"]] == "unknown"
    matched = od.endpoint_data(reg, "os", od.parse_cohort("donor_type=matched sibling"))
    assert matched.patient == [p["SIB-ID"]]


def test_cli_db_cox_and_finegray(reg: Registry, cohort: dict[str, str], db_url: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """cox/finegray on a registry endpoint: the endpoint's event is the cause modelled (1),
    its competing events compete (finegray) or are censored (cox); same as the core on the
    same rows."""
    from everydonor.outcomes import cox_regression, design_matrix, fine_gray

    b = Builder(reg)
    # more deaths and relapses in both centres, so that a centre effect can be estimated
    for k, (centre, relapse, death) in enumerate([("SH", None, 60), ("SH", 80, 150),
                                                  ("SH", None, None), ("BJ", 40, None),
                                                  ("SH", None, 200), ("BJ", None, 300)]):
        upn = b.patient(f"MORE{k}", centre=centre)
        if relapse is not None:
            b.event(upn, "relapse", relapse, {"relapse_type": "haematologic"})
        if death is not None:
            b.event(upn, "death", death, {"cause": "infection"})
        else:
            b.event(upn, "last_contact", 500, {"vital_status": "alive"})
    data = od.endpoint_data(reg, "nrm", od.parse_cohort(None))
    table = data.columns()
    design = design_matrix({"centre": table["centre"]})
    for command, fit in (("cox", cox_regression(data.time, data.event, design, cause=1)),
                         ("finegray", fine_gray(data.time, data.event, design, cause=1))):
        rc, out, _ = _cli(capsys, "outcomes", command, "--db", db_url, "--endpoint", "nrm",
                          "--covariate", "centre", "--user", "stat")
        assert rc == 0
        doc = json.loads(out)
        assert doc["endpoint"]["name"] == "nrm" and doc["cause"] == 1
        assert doc["n"] == len(data.time) and doc["events"] == fit.events
        assert [t["term"] for t in doc["terms"]] == list(design.terms)
        assert [t["coef"] for t in doc["terms"]] == fit.coef.tolist()
        assert doc["excluded"]["count"] == len(data.excluded)
        assert doc["converged"] == fit.converged
        assert doc["infinite_terms"] == list(fit.infinite_terms)
    rc, _, err = _cli(capsys, "outcomes", "cox", "--db", db_url, "--endpoint", "nrm",
                      "--covariate", "ward")
    assert rc == 2 and "no column 'ward'" in err
