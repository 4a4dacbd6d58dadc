"""Federated outcomes: centres' aggregate tables pooled give the patient-level answers (to 1e-12,
observed: float for float); the share file holds no patient rows; `outcomes share` / `outcomes
pool` round trip and refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from everydonor.adapters.cli import main
from everydonor.adapters.cli.outcomes_federated import canonical_hash
from everydonor.errors import InputError
from everydonor.outcomes import aalen_johansen, kaplan_meier, logrank_test
from everydonor.outcomes.federated import (
    centre_tables,
    check_table,
    pooled_aalen_johansen,
    pooled_gray,
    pooled_kaplan_meier,
    pooled_logrank,
    records,
)
from everydonor.outcomes.gray import gray_test

ATOL = 1e-12


def _close(a: object, b: object) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=0, atol=ATOL, equal_nan=True)


def _split(time, event, group, strata, centre):  # type: ignore[no-untyped-def]
    out = []
    for c in np.unique(centre):
        sel = centre == c
        out.append(centre_tables(time[sel], event[sel], None if group is None else group[sel],
                                 None if strata is None else strata[sel], centre=f"C{c}",
                                 n_causes=int(event.max()) or 1))
    return out


def _assert_pooled_equal(time, event, group, strata, centre):  # type: ignore[no-untyped-def]
    """Every pooled estimate equals the patient-level one on the concatenated data."""
    centres = _split(time, event, group, strata, centre)
    labels = [None] if group is None else sorted(set(group.tolist()))
    k = int(event.max()) or 1
    kms = pooled_kaplan_meier(centres)
    assert [g for g, _ in kms] == labels
    for label, km in kms:
        sel = np.ones(time.size, bool) if label is None else group == label
        want = kaplan_meier(time[sel], event[sel])
        assert km.n == want.n and km.events == want.events
        assert km.time.tolist() == want.time.tolist()
        assert km.n_risk.tolist() == want.n_risk.tolist()
        assert km.n_event.tolist() == want.n_event.tolist()
        assert km.n_censor.tolist() == want.n_censor.tolist()
        for name in ("survival", "se", "se_log", "lower", "upper"):
            _close(getattr(km, name), getattr(want, name))
        assert (km.median is None and want.median is None) or abs(km.median - want.median) <= ATOL
    for variance in ("aalen", "delta"):
        for label, aj in pooled_aalen_johansen(centres, variance=variance):
            sel = np.ones(time.size, bool) if label is None else group == label
            want_aj = aalen_johansen(time[sel], event[sel], variance=variance, n_causes=k)
            assert aj.time.tolist() == want_aj.time.tolist() and aj.n == want_aj.n
            assert aj.n_risk.tolist() == want_aj.n_risk.tolist()
            assert aj.n_event.tolist() == want_aj.n_event.tolist()
            for name in ("cif", "variance", "se", "lower", "upper", "survival"):
                _close(getattr(aj, name), getattr(want_aj, name))
    if group is None or len(labels) < 2:
        return
    for by_centre in (False, True):
        s = strata
        if by_centre:
            s = np.char.add(np.char.add(np.array([f"C{c}" for c in centre]), "|"),
                            np.zeros(time.size, dtype=str) if strata is None else strata)
        try:
            want_lr = logrank_test(time, event, group, s)
        except InputError as exc:  # singular covariance: refused alike
            assert "singular" in str(exc)
            with pytest.raises(InputError, match="singular"):
                pooled_logrank(centres, stratify_by_centre=by_centre)
            continue
        lr = pooled_logrank(centres, stratify_by_centre=by_centre)
        assert lr.groups == want_lr.groups and lr.df == want_lr.df
        for name in ("observed", "expected", "variance", "statistic", "p"):
            _close(getattr(lr, name), getattr(want_lr, name))
        got = pooled_gray(centres, stratify_by_centre=by_centre)
        want_gray = gray_test(time, event, group, s)
        assert [r.cause for r in got] == [r.cause for r in want_gray]
        for a, b in zip(got, want_gray, strict=True):
            assert a.df == b.df
            _close([a.statistic, a.p], [b.statistic, b.p])


@pytest.mark.parametrize("n_centres", [2, 3, 5])
def test_tied_cohort_split_across_centres(tied, n_centres):  # type: ignore[no-untyped-def]
    time, event, group, strata = tied
    centre = np.random.default_rng(n_centres).integers(0, n_centres, time.size)
    assert np.unique(centre).size == n_centres
    _assert_pooled_equal(time, event, group, strata, centre)
    _assert_pooled_equal(time, event, group, None, centre)
    _assert_pooled_equal(time, event, None, None, centre)


@pytest.mark.parametrize("n_centres", [2, 4])
def test_bmt_split_across_centres(bmt, n_centres):  # type: ignore[no-untyped-def]
    time, event, dis = bmt
    centre = np.arange(time.size) % n_centres  # every centre has patients of both diseases
    _assert_pooled_equal(time, event, dis, None, centre)
    _assert_pooled_equal(time, event, None, None, centre)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_splits_pool_to_the_patient_level_answer(data):  # type: ignore[no-untyped-def]
    n = data.draw(st.integers(4, 60), label="n")
    time = np.asarray(data.draw(st.lists(st.integers(0, 12), min_size=n, max_size=n)), float)
    event = np.asarray(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)))
    group = np.asarray(data.draw(st.lists(st.sampled_from("ab"), min_size=n, max_size=n)))
    strata = np.asarray(data.draw(st.lists(st.sampled_from("xy"), min_size=n, max_size=n)))
    n_centres = data.draw(st.integers(2, 5), label="centres")
    centre = np.asarray(data.draw(st.lists(st.integers(0, n_centres - 1), min_size=n,
                                           max_size=n)))
    _assert_pooled_equal(time, event, None, None, centre)
    if np.unique(group).size == 2:
        _assert_pooled_equal(time, event, group, strata, centre)


def test_records_are_what_the_table_stands_for(tied):  # type: ignore[no-untyped-def]
    time, event, _, _ = tied
    table = centre_tables(time, event, centre="A").cells[0].table
    t, e = records(table)
    assert sorted(zip(t.tolist(), e.tolist(), strict=True)) == sorted(
        zip(time.tolist(), event.tolist(), strict=True))


def test_check_table_refuses_tables_no_patients_could_give():
    ok = check_table([1.0, 2.0], np.array([3, 1]), np.array([[1], [1]]), np.array([1, 0]),
                     where="t")
    assert ok.n_event[:, 0].tolist() == [1, 1]
    cases = [([2.0, 1.0], [3, 1], [[1], [1]], [1, 0], "strictly increasing"),
             ([1.0, 2.0], [4, 1], [[1], [1]], [1, 0], "add up to 3"),
             ([1.0, 2.0], [2, 1], [[1], [0]], [0, 0], "neither an event"),
             ([1.0, 2.0], [3, 1], [[1], [-1]], [1, 2], "≥ 0"),
             ([-1.0, 2.0], [3, 1], [[1], [1]], [1, 0], "≥ 0")]
    for t, r, e, c, message in cases:
        with pytest.raises(InputError, match=message):
            check_table(t, np.array(r), np.array(e), np.array(c), where="t")


def test_centre_tables_refuses_causes_above_the_declared():
    with pytest.raises(InputError, match="above the 1 causes"):
        centre_tables([1, 2], [1, 2], centre="A", n_causes=1)
    with pytest.raises(InputError, match="centre label"):
        centre_tables([1, 2], [1, 0], centre=" ")


# ------------------------------------------------------------------------- command line


def _write(path: Path, header: list[str], rows: list[list[object]]) -> str:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def _run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


HEADER = ["upn", "age", "days", "ev", "arm", "site"]


def _rows(tied, idx):  # type: ignore[no-untyped-def]
    time, event, group, strata = tied
    return [[f"UPN-{i:05d}", 20 + i % 50, int(time[i]), int(event[i]), group[i], strata[i]]
            for i in idx]


@pytest.fixture
def shares(tmp_path, tied, capsys):  # type: ignore[no-untyped-def]
    """The tied cohort split across 3 centres, each shared; and the concatenated CSV."""
    n = tied[0].size
    centre = np.random.default_rng(7).integers(0, 3, n)
    files = []
    for c in range(3):
        data = _write(tmp_path / f"c{c}.csv", HEADER, _rows(tied, np.flatnonzero(centre == c)))
        out = str(tmp_path / f"share{c}.json")
        rc, _, err = _run(capsys, "outcomes", "share", "--data", data, "--time", "days",
                          "--event", "ev", "--group", "arm", "--strata", "site", "--centre",
                          f"centre {c}", "--time-unit", "days", "--endpoint-name", "NRM", "-o", out)
        assert rc == 0, err
        files.append(out)
    whole = _write(tmp_path / "all.csv", HEADER, _rows(tied, range(n)))
    return files, whole


def test_share_pool_round_trip_equals_outcomes_km(capsys, shares):  # type: ignore[no-untyped-def]
    files, whole = shares
    for at in ([], ["--at", "0,30,100,365,2000"]):
        rc, out, _ = _run(capsys, "outcomes", "pool", *files, "--estimate", "km", *at)
        assert rc == 0
        pooled = json.loads(out)
        rc, out, _ = _run(capsys, "outcomes", "km", "--data", whole, "--time", "days", "--event",
                          "ev", "--group", "arm", "--strata", "site", *at)
        direct = json.loads(out)
        assert len(pooled["groups"]) == len(direct["groups"]) == 3
        for a, b in zip(pooled["groups"], direct["groups"], strict=True):
            assert set(a) == set(b) == {"group", "n", "events", "median", "at"}
            assert (a["group"], a["n"], a["events"], a["median"]) == (
                b["group"], b["n"], b["events"], b["median"])
            assert [r["time"] for r in a["at"]] == [r["time"] for r in b["at"]]
            for name in ("survival", "se", "lower", "upper"):
                _close([np.nan if r[name] is None else r[name] for r in a["at"]],
                       [np.nan if r[name] is None else r[name] for r in b["at"]])
        for name in ("statistic", "df", "p"):
            _close(pooled["logrank"][name], direct["logrank"][name])
    assert [s["centre"] for s in pooled["sources"]] == ["centre 0", "centre 1", "centre 2"]
    for s, path in zip(pooled["sources"], files, strict=True):
        assert s["sha256"] == json.loads(Path(path).read_text())["sha256"]
        assert s["file"] == Path(path).name
    assert pooled["n"] == 600 and pooled["endpoint"] == "NRM" and pooled["time_unit"] == "days"
    assert "pooling" in pooled["provenance"]["method"]


def test_pool_cif_and_logrank(capsys, shares, tied):  # type: ignore[no-untyped-def]
    files, _ = shares
    time, event, group, strata = tied
    rc, out, _ = _run(capsys, "outcomes", "pool", *files, "--estimate", "cif", "--variance",
                      "delta", "--at", "30,365")
    assert rc == 0
    doc = json.loads(out)
    for g in doc["groups"]:
        want = aalen_johansen(time[group == g["group"]], event[group == g["group"]],
                              variance="delta")
        for c in g["causes"]:
            at = want.at(c["cause"], [30, 365])
            _close([r["cif"] for r in c["at"]], at["cif"])
            _close([r["se"] for r in c["at"]], at["se"])
    want_gray = gray_test(time, event, group, strata)
    _close([[r["statistic"], r["p"]] for r in doc["gray"]],
           [[r.statistic, r.p] for r in want_gray])
    rc, out, _ = _run(capsys, "outcomes", "pool", *files, "--estimate", "logrank", "--format",
                      "text")
    lr = logrank_test(time, event, group, strata)
    assert rc == 0 and f"chi-square {lr.statistic:.4f} on 2 df" in out
    assert "stratified by site" in out and "Decision support" in out


def test_share_file_holds_no_patient_rows(capsys, shares, tmp_path, tied):  # type: ignore[no-untyped-def]
    files, _ = shares
    text = Path(files[0]).read_text()
    doc = json.loads(text)
    assert set(doc) == {"format", "schema_version", "software", "centre", "endpoint",
                        "time_unit", "columns", "causes", "n", "disclosure", "tables", "notice",
                        "sha256"}
    for table in doc["tables"]:
        assert set(table) == {"stratum", "group", "n", "time", "n_risk", "n_censor", "n_event"}
        assert len(table["time"]) == len(set(table["time"]))  # one entry per distinct time
    assert "UPN-" not in text and "age" not in text  # identifiers and covariates never leave
    assert doc["sha256"] == canonical_hash(doc)
    assert "not anonymous" in doc["disclosure"]

    # the file's size does not grow with n for fixed distinct times: 100x the patients
    time = tied[0]
    sizes = {}
    for copies in (1, 100):
        idx = np.tile(np.arange(time.size), copies)
        data = _write(tmp_path / f"x{copies}.csv", HEADER, _rows(tied, idx))
        out = tmp_path / f"x{copies}.json"
        rc, _, _ = _run(capsys, "outcomes", "share", "--data", data, "--time", "days", "--event",
                        "ev", "--group", "arm", "--centre", "X", "--time-unit", "days", "-o",
                        str(out))
        assert rc == 0
        d = json.loads(out.read_text())
        sizes[copies] = (out.stat().st_size, [len(t["time"]) for t in d["tables"]])
    assert sizes[1][1] == sizes[100][1]
    assert sizes[100][0] < 1.3 * sizes[1][0]  # only the counts' digits grow


def _tamper(path: str, out: Path, change, rehash: bool = True) -> str:  # type: ignore[no-untyped-def]
    doc = json.loads(Path(path).read_text())
    change(doc)
    if rehash:
        doc["sha256"] = canonical_hash(doc)
    out.write_text(json.dumps(doc))
    return str(out)


def test_pool_refusals(capsys, shares, tmp_path):  # type: ignore[no-untyped-def]
    files, _ = shares
    a, b, _ = files

    def unit(d):  # type: ignore[no-untyped-def]
        d["time_unit"] = "months"

    def endpoint(d):  # type: ignore[no-untyped-def]
        d["endpoint"] = "OS"

    def causes(d):  # type: ignore[no-untyped-def]
        d["causes"].append({"cause": 3, "label": None})
        for t in d["tables"]:
            t["n_event"]["3"] = [0] * len(t["time"])

    def schema(d):  # type: ignore[no-untyped-def]
        d["schema_version"] = 2

    def relabel(d):  # type: ignore[no-untyped-def]
        d["centre"] = "someone else"

    def n_risk(d):  # type: ignore[no-untyped-def]
        d["tables"][0]["n_risk"][0] += 1

    def grouping(d):  # type: ignore[no-untyped-def]
        d["columns"]["strata"] = None

    cases = [
        ([a, _tamper(b, tmp_path / "u.json", unit)], "time_unit"),
        ([a, _tamper(b, tmp_path / "e.json", endpoint)], "same --endpoint-name"),
        ([a, _tamper(b, tmp_path / "k.json", causes)], "same --causes"),
        ([a, _tamper(b, tmp_path / "s.json", schema)], "schema version 2"),
        ([a, b, a], "same share"),
        ([a, _tamper(a, tmp_path / "r.json", relabel)], "identical tables"),
        ([a, _tamper(b, tmp_path / "d.json", lambda d: d.update(centre="centre 0"))],
         "both from centre 'centre 0'"),
        ([a, _tamper(b, tmp_path / "h.json", unit, rehash=False)], "does not match its sha256"),
        ([a, _tamper(b, tmp_path / "n.json", n_risk)], "n_risk at row 1"),
        ([a, _tamper(b, tmp_path / "g.json", grouping)], "disagree on strata"),
        ([a, str(tmp_path / "missing.json")], "cannot read"),
        ([a, _write(tmp_path / "x.csv", ["a"], [[1]])], "not a JSON file"),
    ]
    for argv, message in cases:
        rc, out, err = _run(capsys, "outcomes", "pool", *argv, "--estimate", "km")
        assert rc == 2 and out == "" and message in err, (message, err)
    rc, _, err = _run(capsys, "outcomes", "pool", a, "--estimate", "km", "--variance", "delta")
    assert rc == 2 and "--variance applies to --estimate cif" in err
    rc, _, err = _run(capsys, "outcomes", "pool", a, "--estimate", "cif", "--cause", "3")
    assert rc == 2 and "causes 1…2" in err


def test_share_refusals_write_nothing(capsys, tmp_path, tied):  # type: ignore[no-untyped-def]
    data = _write(tmp_path / "c.csv", HEADER, _rows(tied, range(50)))
    out = tmp_path / "s.json"
    base = ["outcomes", "share", "--data", data, "--time", "days", "--event", "ev",
            "--centre", "A", "-o", str(out)]
    for extra, message in ((["--time-unit", "days", "--strata", "site"], "needs --group"),
                           ([], "--time-unit is required"),
                           (["--time-unit", "days", "--causes", "1"], "above the 1 causes"),
                           (["--time-unit", "days", "--group", "nope"], "no column 'nope'")):
        rc, _, err = _run(capsys, *base, *extra)
        assert rc == 2 and message in err, (message, err)
        assert not out.exists()


# ------------------------------------------------------------------- from the registry


@pytest.fixture(scope="module")
def two_centre_db(tmp_path_factory):  # type: ignore[no-untyped-def]
    """One SQLite registry with transplants and follow-up at two centres."""
    from everydonor.adapters.registry.store import Registry
    from tests.outcomes.report_cohort import seed
    from tests.registry.conftest import TEST_KEY

    mp = pytest.MonkeyPatch()
    mp.setenv("EVERYDONOR_PSEUDONYM_KEY", TEST_KEY)
    url = f"sqlite:///{tmp_path_factory.mktemp('federated') / 'registry.sqlite'}"
    reg = Registry(url)
    reg.init(actor="fixture")
    seed(reg, 15, centres=("PKUPH", "OTHER"))
    reg.close()
    yield url
    mp.undo()


def test_registry_shares_pool_to_the_whole_registry(capsys, two_centre_db, tmp_path):  # type: ignore[no-untyped-def]
    from tests.registry.conftest import TEST_KEY

    mp = pytest.MonkeyPatch()
    mp.setenv("EVERYDONOR_PSEUDONYM_KEY", TEST_KEY)
    try:
        files = {}
        for endpoint in ("os", "nrm"):
            for centre in ("PKUPH", "OTHER"):
                out = tmp_path / f"{endpoint}-{centre}.json"
                rc, _, err = _run(capsys, "outcomes", "share", "--db", two_centre_db,
                                  "--cohort", f"centre={centre}", "--endpoint", endpoint,
                                  "--centre", centre, "--user", "stat", "--reason", "test",
                                  "-o", str(out))
                assert rc == 0, err
                files.setdefault(endpoint, []).append(str(out))
        share = json.loads(Path(files["nrm"][0]).read_text())
        assert share["time_unit"] == "days" and share["endpoint"] == "nrm"
        assert all(c["label"] for c in share["causes"]) and len(share["causes"]) >= 2
        assert "patients" not in share["excluded"]  # counts per reason, no ids
        from everydonor.adapters.registry import outcomes_data
        from everydonor.adapters.registry.store import Registry

        reg = Registry(two_centre_db)
        try:
            data = outcomes_data.endpoint_data(reg, "nrm", outcomes_data.parse_cohort(
                "centre=PKUPH"), actor="test", reason="check")
        finally:
            reg.close()
        text = Path(files["nrm"][0]).read_text()
        ids = [*data.patient, *(p for p, _ in data.excluded)]
        assert ids and not [p for p in ids if p in text]  # no pseudonymous id leaves
        assert share["endpoint_definition"]["citation"]
        for endpoint, estimate, key in (("os", "km", "survival"), ("nrm", "cif", "cif")):
            rc, out, err = _run(capsys, "outcomes", "pool", *files[endpoint], "--estimate",
                                estimate, "--at", "30,100,365,730")
            assert rc == 0, err
            pooled = json.loads(out)
            rc, out, err = _run(capsys, "outcomes", estimate, "--db", two_centre_db,
                                "--endpoint", endpoint, "--at", "30,100,365,730", "--user",
                                "stat", "--reason", "test")
            assert rc == 0, err
            direct = json.loads(out)
            assert pooled["n"] == direct["n_transplants"]
            a, b = pooled["groups"][0], direct["groups"][0]
            assert a["n"] == b["n"]
            rows_a = [r for c in a.get("causes", [a]) for r in c["at"]]
            rows_b = [r for c in b.get("causes", [b]) for r in c["at"]]
            for name in (key, "se", "lower", "upper"):
                _close([np.nan if r[name] is None else r[name] for r in rows_a],
                       [np.nan if r[name] is None else r[name] for r in rows_b])
        rc, _, err = _run(capsys, "outcomes", "pool", *files["nrm"], "--estimate", "km")
        assert rc == 2 and "competing events" in err
        rc, _, err = _run(capsys, "outcomes", "pool", files["os"][0], files["nrm"][1],
                          "--estimate", "cif")
        assert rc == 2 and "disagree on endpoint" in err
    finally:
        mp.undo()


def test_docstring_example():
    import doctest

    import everydonor.outcomes.federated as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
