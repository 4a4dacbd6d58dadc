"""Export profiles (SR-13) and consent gating (SR-14) on SQLite and PostgreSQL: golden columns per
profile, a scan of every exported file for the identifiers the registry holds, the keyed date
shift (intervals kept, stable per patient, different between patients, never 0), a
non-consented patient never in an international export (and the counts say so), audit
entries, and nothing half-written when writing fails."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from everydonor.adapters.registry import exports
from everydonor.adapters.registry.commands import main
from everydonor.adapters.registry.config import PseudonymKey
from everydonor.adapters.registry.followup import EVENT_TYPES
from everydonor.adapters.registry.models import AuditLog
from everydonor.adapters.registry.outcomes_data import parse_cohort
from everydonor.adapters.registry.store import Registry
from everydonor.errors import InputError
from tests.registry.conftest import EXAMPLES, load

AS_OF = "2026-11-25"
BASE = load(EXAMPLES[1])  # example 02: a family with names, HLA typed


@dataclass
class Spec:
    upn: str
    name: str
    birth: str
    national_id: str
    consent: tuple[bool | None, bool | None] | None  # (research, international transfer)
    day0: dt.date
    centre: str = "BJ"


SPECS = [
    Spec("BJ-0001", "Zhang Sanfeng", "1985-03-17", "110101198503170011", (True, True),
         dt.date(2019, 6, 10)),
    Spec("BJ-0002", "Guo Jingxiao", "1930-01-02", "110101193001020022", (True, False),
         dt.date(2020, 2, 3)),
    Spec("BJ-0003", "Huang Rongqi", "1990-07-30", "110101199007300033", (False, True),
         dt.date(2021, 9, 14)),
    Spec("BJ-0004", "Yang Guoxiang", "1975-11-11", "110101197511110044", None,
         dt.date(2018, 4, 22)),
    Spec("BJ-0005", "Lin Chaoying", "1969-12-05", "110101196912050055", (True, None),
         dt.date(2022, 1, 5)),
    Spec("SH-0001", "Wang Chongyang", "1988-02-29", "310101198802290066", (True, True),
         dt.date(2017, 8, 8), "SH"),
]
#: Text that must never leave the centre except in an identified export.
NOTE = "Seen by Dr Qiu Chuji at the Quanzhen clinic on 2019-05-02"
TREATMENT = "ruxolitinib started by Dr Ma Yu"
LAB_ID = "LAB-77-31337"
DEATH_DETAIL = "found at home by neighbour Sun Bu'er"


def document(spec: Spec) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["as_of"] = AS_OF
    doc["notes"] = NOTE
    doc["patient"]["name"] = spec.name
    doc["patient"]["birth_date"] = spec.birth
    doc["patient"].pop("age", None)
    for i, r in enumerate(doc["relatives"]):
        r["name"] = f"{spec.name.split()[0]} Relative{i}x{spec.upn[-1]}"
    return doc


@dataclass
class Cohort:
    reg: Registry
    key: PseudonymKey
    specs: list[Spec]
    pseudonyms: dict[str, str]


def build(db_url: str) -> Cohort:
    reg = Registry(db_url)
    reg.init(actor="tester")
    for spec in SPECS:
        reg.add_case(document(spec), actor="tester", upn=spec.upn, centre=spec.centre,
                     national_id=spec.national_id)
        if spec.consent is not None:
            reg.set_consent(spec.upn, research=spec.consent[0],
                            international_transfer=spec.consent[1],
                            consent_date=dt.date(2019, 5, 1), scope=None, actor="tester",
                            reason="consent form")
        reg.add_hct(spec.upn, day0=spec.day0, donor="F", graft="G-BM + G-PB from the father",
                    actor="tester", reason="day 0")
        d = spec.day0
        reg.record_event(spec.upn, "engraftment", d + dt.timedelta(days=13),
                         {"anc_500_date": (d + dt.timedelta(days=13)).isoformat(),
                          "platelet_20_date": (d + dt.timedelta(days=21)).isoformat()},
                         actor="tester", reason="follow-up", hct_number=1)
        reg.record_event(spec.upn, "agvhd", d + dt.timedelta(days=30),
                         {"skin_stage": 2, "treatment": TREATMENT}, actor="tester",
                         reason="follow-up")
        reg.record_event(spec.upn, "mrd", d + dt.timedelta(days=60),
                         {"wt1_pct": 0.4, "flow": "negative", "x_lab_sample_id": LAB_ID},
                         actor="tester", reason="follow-up")
        reg.record_event(spec.upn, "death", d + dt.timedelta(days=400),
                         {"cause": "infection", "detail": DEATH_DETAIL}, actor="tester",
                         reason="follow-up")
    pseudonyms = {s.upn: reg.show(s.upn)["pseudonym"] for s in SPECS}
    return Cohort(reg, reg.key(), SPECS, pseudonyms)


@pytest.fixture
def cohort(db_url: str) -> Iterator[Cohort]:
    c = build(db_url)
    try:
        yield c
    finally:
        c.reg.close()


def read(path: Path, name: str) -> list[dict[str, str]]:
    with (path / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def header(path: Path, name: str) -> list[str]:
    with (path / name).open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def run(c: Cohort, tmp_path: Path, profile: str, destination: str = "local", *,
        cohort: str | None = None, name: str | None = None) -> tuple[Path, Any]:
    out = tmp_path / (name or f"{profile}-{destination}")
    result = exports.export(c.reg, profile, destination=destination,
                            cohort=parse_cohort(cohort), output=out,
                            actor="statistician", reason="study X")
    return out, result


def consented(spec: Spec, destination: str) -> bool:
    if spec.consent is None or spec.consent[0] is not True:
        return False
    return destination == "local" or spec.consent[1] is True


# -- golden columns -------------------------------------------------------------------------------

GOLDEN = {
    "identified": {
        "patients.csv": ["patient", "case_id", "centre", "name", "birth_date", "national_id",
                         "age", "sex", "diagnosis", "disease_status", "disease_risk",
                         "weight_kg", "height_cm", "abo", "cmv_igg", "research_consent",
                         "international_transfer_consent", "consent_date", "notes"],
        "transplants.csv": ["patient", "hct_number", "hct_year", "day0", "hct_type",
                            "donor_type", "donor_role", "donor_relationship", "donor_relation", "donor_sex",
                            "donor_age", "donor", "donor_name", "donor_registry", "donor_id",
                            "graft"],
        "follow_up.csv": ["patient", "hct_number", "day", "event_type", "date", "source",
                          "payload"],
    },
    "limited": {
        "patients.csv": ["patient", "centre", "birth_date", "age", "sex", "diagnosis",
                         "disease_status", "disease_risk", "weight_kg", "height_cm", "abo",
                         "cmv_igg"],
        "transplants.csv": ["patient", "hct_number", "hct_year", "day0", "hct_type",
                            "donor_type", "donor_role", "donor_relationship", "donor_relation", "donor_sex",
                            "donor_age"],
        "follow_up.csv": ["patient", "hct_number", "day", "event_type", "date", "payload"],
    },
    "deidentified": {
        "patients.csv": ["patient", "centre", "age", "sex", "diagnosis", "disease_status",
                         "disease_risk", "weight_kg", "height_cm", "abo", "cmv_igg"],
        "transplants.csv": ["patient", "hct_number", "hct_year", "day0_shifted", "hct_type",
                            "donor_type", "donor_role", "donor_relationship", "donor_relation", "donor_sex",
                            "donor_age"],
        "follow_up.csv": ["patient", "hct_number", "day", "event_type", "date_shifted",
                          "payload"],
    },
}


@pytest.mark.parametrize("profile", ["identified", "limited", "deidentified"])
def test_golden_columns_and_manifest(cohort: Cohort, tmp_path: Path, profile: str) -> None:
    out, result = run(cohort, tmp_path, profile)
    assert sorted(p.name for p in out.iterdir()) == ["follow_up.csv", "manifest.json",
                                                     "patients.csv", "transplants.csv"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "everydonor.export/1" and manifest["profile"] == profile
    assert manifest["software"]["version"] and manifest["created"]
    assert manifest["key_id"] == cohort.key.check_value()[:16]
    assert cohort.key.secret.decode() not in (out / "manifest.json").read_text()
    for f in manifest["files"]:
        assert header(out, f["name"]) == GOLDEN[profile][f["name"]] == f["columns"]
        data = (out / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] == result.files[f["name"]]
        assert len(read(out, f["name"])) == f["rows"]
    expected = [s for s in SPECS if profile == "identified" or consented(s, "local")]
    assert manifest["patients"] == len(expected) == result.patients
    assert manifest["centres"] == sorted({s.centre for s in expected})
    assert (out / "manifest.json").stat().st_mode & 0o077 == 0  # patient data: owner only


# -- identifiers never leak -----------------------------------------------------------------------

def identifiers(c: Cohort) -> dict[str, list[str]]:
    """Everything identifying the registry holds about the cohort, read back from it."""
    names, ids, births, real_dates = [], [], [], []
    for spec in c.specs:
        doc = c.reg.export_case(spec.upn, actor="tester", reason="test reads identifiers")
        for person in [doc["patient"], *doc.get("relatives", [])]:
            if person.get("name"):
                names.append(person["name"])
            if person.get("birth_date"):
                births.append(str(person["birth_date"]))
        shown = c.reg.show(spec.upn)
        ids += [spec.upn, spec.national_id, c.pseudonyms[spec.upn],
                c.pseudonyms[spec.upn][:12]]
        real_dates += [h["day0"] for h in shown["hct"]]
        for e in shown["follow_up"]:
            if e["date"]:
                real_dates.append(e["date"])
            real_dates += [v for v in e["payload"].values()
                           if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)]
    assert len(names) >= 2 * len(c.specs) and len(real_dates) >= 5 * len(c.specs)
    return {"names": names, "ids": ids, "births": births,
            "birth_compact": [b.replace("-", "") for b in births],
            "free_text": [NOTE, TREATMENT, LAB_ID, DEATH_DETAIL, "Dr ", "G-BM + G-PB",
                          "2019-05-02"],
            "real_dates": sorted(set(real_dates))}


def scan(path: Path, needles: list[str]) -> list[tuple[str, str]]:
    hits = []
    for f in sorted(path.iterdir()):
        text = f.read_text(encoding="utf-8")
        hits += [(f.name, n) for n in needles if n and n in text]
    return hits


_NATIONAL_ID = re.compile(r"\b\d{17}[\dX]\b")


@pytest.mark.parametrize("destination", ["local", "international"])
def test_no_identifier_leaves_in_limited_and_deidentified(cohort: Cohort, tmp_path: Path,
                                                           destination: str) -> None:
    found = identifiers(cohort)
    limited, _ = run(cohort, tmp_path, "limited", destination)
    deid, _ = run(cohort, tmp_path, "deidentified", destination)
    direct = found["names"] + found["ids"] + found["free_text"]
    assert scan(limited, direct) == []
    assert scan(deid, direct + found["births"] + found["birth_compact"]
                + found["real_dates"]) == []
    for path in (limited, deid):
        for f in path.iterdir():
            assert not _NATIONAL_ID.search(f.read_text()), f.name
    # the identified export is the control: the same scan finds them there
    ident, _ = run(cohort, tmp_path, "identified")
    hits = {n for _, n in scan(ident, direct + found["real_dates"])}
    assert {SPECS[0].name, SPECS[0].national_id, SPECS[0].upn, TREATMENT, LAB_ID} <= hits
    assert set(found["real_dates"]) <= hits
    # the limited export keeps real dates (that is its point)
    assert {s.day0.isoformat() for s in SPECS if consented(s, destination)} <= {
        n for _, n in scan(limited, found["real_dates"])}


def test_ages_over_89_are_90_plus(cohort: Cohort, tmp_path: Path) -> None:
    deid, _ = run(cohort, tmp_path, "deidentified")
    limited, _ = run(cohort, tmp_path, "limited")
    old = exports.export_id(cohort.key, "deidentified", cohort.pseudonyms["BJ-0002"])
    ages = {r["patient"]: r["age"] for r in read(deid, "patients.csv")}
    assert ages[old] == "90+"
    assert all(a == "90+" or (a.isdigit() and int(a) <= 89) for a in ages.values())
    limited_ages = {r["patient"]: float(r["age"]) for r in read(limited, "patients.csv")}
    assert limited_ages[exports.export_id(cohort.key, "limited",
                                          cohort.pseudonyms["BJ-0002"])] > 89


# -- date shifting --------------------------------------------------------------------------------

def test_date_shift_keeps_intervals_is_stable_and_differs_between_patients(
        cohort: Cohort, tmp_path: Path) -> None:
    first, _ = run(cohort, tmp_path, "deidentified", name="one")
    second, _ = run(cohort, tmp_path, "deidentified", name="two")
    assert (first / "transplants.csv").read_bytes() == (second / "transplants.csv").read_bytes()
    assert (first / "follow_up.csv").read_bytes() == (second / "follow_up.csv").read_bytes()
    offsets = {}
    for spec in cohort.specs:
        if not consented(spec, "local"):
            continue
        pid = exports.export_id(cohort.key, "deidentified", cohort.pseudonyms[spec.upn])
        (tr,) = [r for r in read(first, "transplants.csv") if r["patient"] == pid]
        offset = (dt.date.fromisoformat(tr["day0_shifted"]) - spec.day0).days
        assert offset != 0 and abs(offset) <= exports.SHIFT_DAYS
        assert int(tr["hct_year"]) == spec.day0.year  # the real year
        real = {e["event_type"]: e for e in cohort.reg.show(spec.upn)["follow_up"]}
        events = [r for r in read(first, "follow_up.csv") if r["patient"] == pid]
        assert sorted(e["event_type"] for e in events) == sorted(real)
        for e in events:
            real_date = dt.date.fromisoformat(real[e["event_type"]]["date"])
            shifted = dt.date.fromisoformat(e["date_shifted"])
            assert (shifted - real_date).days == offset  # one offset per patient
            assert int(e["day"]) == (real_date - spec.day0).days  # the interval, kept
            for k, v in json.loads(e["payload"]).items():
                if k.endswith("_date"):
                    real_v = dt.date.fromisoformat(real[e["event_type"]]["payload"][k])
                    assert (dt.date.fromisoformat(v) - real_v).days == offset
        offsets[spec.upn] = offset
    assert len(offsets) >= 3 and len(set(offsets.values())) == len(offsets)


def test_date_offset_range_over_many_patients() -> None:
    key = PseudonymKey(b"another-key-0123456789abcdef", "test")
    values = [exports.date_offset(key, f"p{i}") for i in range(5000)]
    assert min(values) >= -364 and max(values) <= 364 and 0 not in values
    assert min(values) < -300 and max(values) > 300  # spread over the range
    assert len(set(values)) > 600
    other = PseudonymKey(b"a-third-key-0123456789abcdef", "test")
    assert sum(exports.date_offset(other, f"p{i}") == v for i, v in enumerate(values)) < 50


# -- consent gating -------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["limited", "deidentified"])
def test_consent_gating_and_counts(cohort: Cohort, tmp_path: Path, profile: str) -> None:
    for destination in ("local", "international"):
        out, result = run(cohort, tmp_path, profile, destination)
        want = {exports.export_id(cohort.key, profile, cohort.pseudonyms[s.upn])
                for s in SPECS if consented(s, destination)}
        refused = {exports.export_id(cohort.key, profile, cohort.pseudonyms[s.upn])
                   for s in SPECS if not consented(s, destination)}
        for name in exports.FILES:
            present = {r["patient"] for r in read(out, name)}
            assert present <= want and not present & refused
        assert {r["patient"] for r in read(out, "patients.csv")} == want
        for pid in refused:  # not even as a substring anywhere
            assert scan(out, [pid]) == []
        expected: dict[str, int] = {}
        for s in SPECS:
            if s.consent is None or s.consent[0] is None:
                why = "research consent not recorded"
            elif s.consent[0] is False:
                why = "research consent refused"
            elif destination == "international" and s.consent[1] is False:
                why = "international transfer refused"
            elif destination == "international" and s.consent[1] is None:
                why = "international transfer consent not recorded"
            else:
                continue
            expected[why] = expected.get(why, 0) + 1
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["consent"]["excluded"] == expected == result.excluded
        assert manifest["consent"]["excluded_total"] == len(refused)
        assert not any(upn in json.dumps(manifest) for upn in cohort.pseudonyms)


def test_the_international_patient_without_transfer_consent_never_appears(
        cohort: Cohort, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "intl"
    db = cohort.reg.url.render_as_string(hide_password=False)
    status = main(["registry", "export", "--db", db, "--profile", "deidentified",
                   "--destination", "international", "-o", str(out), "--user", "dm",
                   "--reason", "EBMT study"])
    text = capsys.readouterr().out
    assert status == 0
    pid = exports.export_id(cohort.key, "deidentified", cohort.pseudonyms["BJ-0002"])
    assert scan(out, [pid]) == []
    assert "international transfer refused: 1" in text
    assert "left out (consent): 4 patient(s)" in text


def test_identified_is_for_the_centre_only(cohort: Cohort, tmp_path: Path) -> None:
    before = cohort.reg.counts()["audit_log"]
    with pytest.raises(InputError, match="inside the centre only"):
        run(cohort, tmp_path, "identified", "international")
    assert not (tmp_path / "identified-international").exists()
    assert cohort.reg.counts()["audit_log"] == before


def test_cohort_filters(cohort: Cohort, tmp_path: Path) -> None:
    """The outcomes' cohort grammar: centre, transplant period, donor type."""
    out, result = run(cohort, tmp_path, "limited",
                      cohort="centre=BJ,hct_from=2019-01-01,hct_to=2021-12-31,"
                             "donor_type=haploidentical related")
    want = {exports.export_id(cohort.key, "limited", cohort.pseudonyms[s.upn]) for s in SPECS
            if s.centre == "BJ" and 2019 <= s.day0.year <= 2021 and consented(s, "local")}
    assert {r["patient"] for r in read(out, "patients.csv")} == want and want
    # the father is a parent: haploidentical related by descent (classify_donor_type)
    assert {r["donor_type"] for r in read(out, "transplants.csv")} == {"haploidentical related"}
    assert result.filters["centre"] == ["BJ"] and result.filters["hct_from"] == "2019-01-01"
    assert result.filters["donor_type"] == ["haploidentical related"]
    none, _ = run(cohort, tmp_path, "limited", cohort="donor_type=cord", name="cord")
    assert read(none, "patients.csv") == []
    for bad in ("centre", "hct_from=2019", "colour=red", "centre=A,centre=B",
                "hct_from=2021-01-01,hct_to=2019-01-01"):
        with pytest.raises(InputError) as err:
            parse_cohort(bad)
        assert (err.value.field or "").startswith("cohort."), bad


# -- payloads -------------------------------------------------------------------------------------

def test_every_event_field_is_classified() -> None:
    """A new follow-up field must be declared coded or free text before exports carry it."""
    for event_type, fields in EVENT_TYPES.items():
        coded = set(exports.CODED_FIELDS[event_type])
        text = set(exports.FREE_TEXT.get(event_type, ()))
        assert not coded & text
        assert coded | text == set(fields), event_type


def test_coded_payload_drops_text_and_extensions_and_shifts_dates() -> None:
    payload = {"anc_500_date": "2020-01-10", "graft_failure": "none", "x_note": "Dr Li",
               "poor_graft_function": False}
    assert exports.coded_payload("engraftment", payload, shift=-3) == {
        "anc_500_date": "2020-01-07", "graft_failure": "none", "poor_graft_function": False}
    assert exports.coded_payload("death", {"cause": "2020-01-10"}, shift=None) == {}
    score = {"score": "magic_agvhd_grade", "criteria": "MAGIC 2016",
             "inputs": {"skin_stage": 3}, "result": {"grade": "II", "citation": "Harris 2016",
                                                     "onset": "2020-01-10", "notes": ["x"]}}
    assert exports.coded_payload("score", score, shift=5) == {
        "score": "magic_agvhd_grade", "criteria": "MAGIC 2016", "grade": "II"}


# -- audit and atomic writing -----------------------------------------------------------------------

def test_every_export_is_audited(cohort: Cohort, tmp_path: Path) -> None:
    out, result = run(cohort, tmp_path, "deidentified", "international",
                      cohort="centre=BJ|SH,hct=all")
    with cohort.reg.reading() as s:
        entry = s.execute(select(AuditLog).where(AuditLog.action == "registry.export")
                          .order_by(AuditLog.seq.desc())).scalars().first()
        assert entry is not None
        assert (entry.actor, entry.reason, entry.seq) == ("statistician", "study X",
                                                          result.audit_seq)
        p, object_id = entry.payload, entry.object_id
    manifest_sha = hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    assert p["profile"] == "deidentified" and p["destination"] == "international"
    assert p["filters"]["centre"] == ["BJ", "SH"]
    assert p["manifest_sha256"] == manifest_sha == object_id
    assert p["rows"] == {n: len(read(out, n)) for n in exports.FILES}
    assert p["files"] == {n: hashlib.sha256((out / n).read_bytes()).hexdigest()
                          for n in exports.FILES}
    assert p["excluded"] == result.excluded
    assert sorted(p["patients_exported"]) == sorted(
        cohort.pseudonyms[s.upn] for s in SPECS if consented(s, "international"))
    assert cohort.reg.verify_audit()["intact"]


def test_nothing_half_written_when_writing_fails(cohort: Cohort, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real = exports._write_file
    calls = []

    def disk_full(path: Path, data: bytes) -> None:
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(exports, "_write_file", disk_full)
    before = cohort.reg.counts()["audit_log"]
    with pytest.raises(InputError, match="No space left on device"):
        run(cohort, tmp_path, "limited", name="full")
    assert calls == ["patients.csv", "transplants.csv", "follow_up.csv"]
    assert not (tmp_path / "full").exists()
    assert [p.name for p in tmp_path.iterdir() if "full" in p.name] == []
    assert cohort.reg.counts()["audit_log"] == before
    monkeypatch.setattr(exports, "_write_file", real)
    out, _ = run(cohort, tmp_path, "limited", name="full")  # the same path works afterwards
    assert (out / "manifest.json").is_file()
    with pytest.raises(InputError, match="exists"):  # never overwritten
        run(cohort, tmp_path, "limited", name="full")
    assert cohort.reg.counts()["audit_log"] == before + 1


def test_csv_cells_are_safe_from_formula_injection() -> None:
    data = exports.csv_bytes(["a", "b", "c"], [{"a": "=HYPERLINK(1)", "b": "'quoted", "c": -3}])
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[1] == ["'=HYPERLINK(1)", "''quoted", "-3"]
    assert [exports.uncell(c) for c in rows[1]] == ["=HYPERLINK(1)", "'quoted", "-3"]


def test_cli_bad_input_exits_2(cohort: Cohort, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    db = cohort.reg.url.render_as_string(hide_password=False)
    cases = [
        (["--profile", "secret", "-o", str(tmp_path / "x")], "invalid choice"),
        (["--profile", "limited"], "-o PATH"),
        (["BJ-0001", "--profile", "limited", "-o", str(tmp_path / "x")], "not one patient"),
        (["--profile", "identified", "--destination", "international", "-o",
          str(tmp_path / "x")], "inside the centre only"),
        (["--profile", "limited", "--cohort", "hct_from=soon", "-o", str(tmp_path / "x")],
         "must be a date"),
        (["--profile", "limited", "-o", str(tmp_path / "no" / "dir")], "no directory"),
        ([], "give PATIENT"),
    ]
    for argv, message in cases:
        try:
            status = main(["registry", "export", "--db", db, *argv])
        except SystemExit as exc:
            status = int(exc.code or 0)
        err = capsys.readouterr().err
        assert status == 2 and message in err, (argv, err)
    assert not (tmp_path / "x").exists()
