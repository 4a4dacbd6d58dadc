"""`everydonor outcomes km|cif|cox|finegray` on CSV files: the JSON contract, refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from everydonor.adapters.cli import main
from everydonor.adapters.cli.common import NOTICE
from everydonor.outcomes import aalen_johansen, gray_test, kaplan_meier, logrank_test


def _write(path: Path, header: list[str], rows: list[list[object]]) -> str:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


@pytest.fixture
def bmt_csv(tmp_path, bmt):  # type: ignore[no-untyped-def]
    time, event, dis = bmt
    return _write(tmp_path / "bmt.csv", ["ftime", "status", "dis"],
                  [[repr(float(t)), int(e), d] for t, e, d in zip(time, event, dis, strict=True)])


def _run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_km_json_contract(capsys, bmt_csv, bmt):  # type: ignore[no-untyped-def]
    rc, out, _ = _run(capsys, "outcomes", "km", "--data", bmt_csv, "--time", "ftime", "--event",
                      "status", "--group", "dis", "--at", "0,1,10,50,1000")
    assert rc == 0
    doc = json.loads(out)
    time, event, dis = bmt
    assert [g["group"] for g in doc["groups"]] == ["0", "1"]
    for g in doc["groups"]:
        assert set(g) == {"group", "n", "events", "median", "at"}
        sel = dis == g["group"]
        km = kaplan_meier(time[sel], event[sel])
        assert g["n"] == km.n and g["events"] == km.events and g["median"] == km.median
        want = km.at([0, 1, 10, 50, 1000])
        for i, row in enumerate(g["at"]):
            assert set(row) == {"time", "survival", "se", "lower", "upper"}
            assert row["survival"] == want["survival"][i]
            assert row["se"] == want["se"][i]
    lr = logrank_test(time, event, dis)
    assert {k: doc["logrank"][k] for k in ("statistic", "df", "p")} == {
        "statistic": lr.statistic, "df": 1, "p": lr.p}
    prov = doc["provenance"]
    assert prov["notice"] == NOTICE and prov["software"].startswith("everydonor ")
    assert "Greenwood" in prov["method"]["variance"] and "log-log" in prov["method"][
        "confidence_interval"]
    # S = 1 before the first event: no log-log interval (R: NA) -> null
    assert doc["groups"][1]["at"][0]["lower"] is None


def test_km_default_at_is_every_event_time_and_text(capsys, bmt_csv):  # type: ignore[no-untyped-def]
    rc, out, _ = _run(capsys, "outcomes", "km", "--data", bmt_csv, "--time", "ftime", "--event",
                      "status")
    doc = json.loads(out)
    assert rc == 0 and doc["groups"][0]["group"] is None and "logrank" not in doc
    assert len(doc["groups"][0]["at"]) == len({r["time"] for r in doc["groups"][0]["at"]})
    rc, out, _ = _run(capsys, "outcomes", "km", "--data", bmt_csv, "--time", "ftime", "--event",
                      "status", "--group", "dis", "--format", "text")
    assert rc == 0 and "log-rank: chi-square" in out and NOTICE in out


def test_km_stratified(capsys, tmp_path, tied):  # type: ignore[no-untyped-def]
    t, e, g, s = tied
    path = _write(tmp_path / "t.csv", ["days", "ev", "arm", "centre"],
                  [[int(a), int(b), c, d] for a, b, c, d in zip(t, e, g, s, strict=True)])
    rc, out, _ = _run(capsys, "outcomes", "km", "--data", path, "--time", "days", "--event",
                      "ev", "--group", "arm", "--strata", "centre")
    assert rc == 0
    assert json.loads(out)["logrank"]["statistic"] == logrank_test(t, e, g, strata=s).statistic


@pytest.mark.parametrize("variance", ["aalen", "delta"])
def test_cif_json_contract(capsys, bmt_csv, bmt, variance):  # type: ignore[no-untyped-def]
    rc, out, _ = _run(capsys, "outcomes", "cif", "--data", bmt_csv, "--time", "ftime", "--event",
                      "status", "--variance", variance, "--at", "0.5,12,24")
    assert rc == 0
    doc = json.loads(out)
    time, event, _ = bmt
    aj = aalen_johansen(time, event, variance=variance)
    (group,) = doc["groups"]
    assert set(group) == {"group", "n", "causes"} and group["n"] == 35
    assert [c["cause"] for c in group["causes"]] == [1, 2]
    for c in group["causes"]:
        want = aj.at(c["cause"], [0.5, 12, 24])
        for i, row in enumerate(c["at"]):
            assert set(row) == {"time", "cif", "se", "lower", "upper"}
            assert row["cif"] == want["cif"][i] and row["se"] == want["se"][i]
    assert doc["provenance"]["notice"] == NOTICE
    assert doc["variance"] == variance
    rc, out, _ = _run(capsys, "outcomes", "cif", "--data", bmt_csv, "--time", "ftime", "--event",
                      "status", "--cause", "2", "--format", "text")
    assert rc == 0 and "cause 2" in out and "cause 1 " not in out


def test_cif_group_json_has_grays_test(capsys, bmt_csv, bmt):  # type: ignore[no-untyped-def]
    rc, out, _ = _run(capsys, "outcomes", "cif", "--data", bmt_csv, "--time", "ftime",
                      "--event", "status", "--group", "dis", "--at", "12")
    assert rc == 0
    doc = json.loads(out)
    time, event, dis = bmt
    assert [g["group"] for g in doc["groups"]] == ["0", "1"]
    for g in doc["groups"]:
        sel = dis == g["group"]
        want = aalen_johansen(time[sel], event[sel], n_causes=2)
        assert g["n"] == want.n
        for c in g["causes"]:
            assert c["at"][0]["cif"] == want.at(c["cause"], [12])["cif"][0]
    tests = gray_test(time, event, dis)
    assert doc["gray"] == [{"cause": r.cause, "statistic": r.statistic, "df": r.df, "p": r.p}
                           for r in tests]
    assert all(set(t) == {"cause", "statistic", "df", "p"} for t in doc["gray"])
    assert "Gray (1988" in doc["provenance"]["method"]["test"]
    assert doc["provenance"]["notice"] == NOTICE
    # --cause K: only cause K's estimates and test
    rc, out, _ = _run(capsys, "outcomes", "cif", "--data", bmt_csv, "--time", "ftime",
                      "--event", "status", "--group", "dis", "--cause", "2")
    doc = json.loads(out)
    assert [t["cause"] for t in doc["gray"]] == [2] and doc["gray"][0]["p"] == tests[1].p
    # not grouped: no test, no test in the provenance
    rc, out, _ = _run(capsys, "outcomes", "cif", "--data", bmt_csv, "--time", "ftime",
                      "--event", "status")
    doc = json.loads(out)
    assert "gray" not in doc and "test" not in doc["provenance"]["method"]


def test_cif_group_text_and_strata(capsys, tmp_path, tied):  # type: ignore[no-untyped-def]
    t, e, g, s = tied
    path = _write(tmp_path / "t.csv", ["days", "ev", "arm", "centre"],
                  [[int(a), int(b), c, d] for a, b, c, d in zip(t, e, g, s, strict=True)])
    base = ["outcomes", "cif", "--data", path, "--time", "days", "--event", "ev", "--group", "arm"]
    rc, out, _ = _run(capsys, *base, "--strata", "centre")
    assert rc == 0
    doc = json.loads(out)
    want = gray_test(t, e, g, strata=s)
    assert [(x["statistic"], x["df"]) for x in doc["gray"]] == [(r.statistic, 2) for r in want]
    assert doc["strata"] == "centre"
    rc, out, _ = _run(capsys, *base, "--strata", "centre", "--format", "text", "--at", "100")
    assert rc == 0
    assert "Gray's test, arm (stratified by centre):" in out
    assert f"cause 1: chi-square {want[0].statistic:.4f} on 2 df, p = {want[0].p:.4f}" in out
    assert "arm = 0: n " in out and NOTICE in out


def test_cif_strata_without_group_refused(capsys, bmt_csv):  # type: ignore[no-untyped-def]
    rc, out, err = _run(capsys, "outcomes", "cif", "--data", bmt_csv, "--time", "ftime",
                        "--event", "status", "--strata", "dis")
    assert rc == 2 and out == "" and "--strata" in err and "needs --group" in err


def test_cif_one_group_and_a_cause_without_events(capsys, tmp_path):  # type: ignore[no-untyped-def]
    one = _write(tmp_path / "one.csv", ["t", "e", "g"], [[1, 1, "a"], [2, 2, "a"], [3, 0, "a"]])
    rc, out, err = _run(capsys, "outcomes", "cif", "--data", one, "--time", "t", "--event", "e",
                        "--group", "g")
    assert rc == 2 and out == "" and "at least 2" in err and "'a'" in err
    rows = [[1, 1, "a"], [2, 3, "b"], [3, 1, "b"], [4, 3, "a"], [5, 0, "a"], [6, 1, "b"]]
    gap = _write(tmp_path / "gap.csv", ["t", "e", "g"], rows)
    rc, out, _ = _run(capsys, "outcomes", "cif", "--data", gap, "--time", "t", "--event", "e",
                      "--group", "g")
    assert rc == 0 and [x["cause"] for x in json.loads(out)["gray"]] == [1, 3]
    rc, out, _ = _run(capsys, "outcomes", "cif", "--data", gap, "--time", "t", "--event", "e",
                      "--group", "g", "--cause", "2", "--format", "text")
    assert rc == 0 and "cause 2: no events, no test" in out
    # singular variance (events only while group a alone is followed): null, not NaN or -1
    rows = [[5, 1, "a"], [6, 1, "a"], [7, 0, "a"], [1, 0, "b"], [2, 0, "b"]]
    sing = _write(tmp_path / "sing.csv", ["t", "e", "g"], rows)
    argv = ["outcomes", "cif", "--data", sing, "--time", "t", "--event", "e", "--group", "g"]
    rc, out, _ = _run(capsys, *argv)
    assert rc == 0 and json.loads(out)["gray"] == [
        {"cause": 1, "statistic": None, "df": 1, "p": None}]
    rc, out, _ = _run(capsys, *argv, "--format", "text")
    assert rc == 0 and "cause 1: not computable (singular variance" in out


@pytest.mark.parametrize(("rows", "args", "expected"), [
    ([["1", "1"]], ["--time", "months"], ["'months'", "--time", "'t'", "'e'"]),
    ([["1", "1"], ["x", "0"]], [], ["line 3", "'t'", "'x'"]),
    ([["1", "1"], ["-2", "0"]], [], ["line 3", "'t'", "'-2'"]),
    ([["1", "1"], ["nan", "0"]], [], ["line 3", "'nan'"]),
    ([["1", "1.5"]], [], ["line 2", "'e'", "'1.5'"]),
    ([["1", "-1"]], [], ["line 2", "'e'", "'-1'"]),
    ([["1", ""]], [], ["line 2", "'e'", "''"]),
    ([["1", "1"]], ["--at", "1,x"], ["--at", "'x'"]),
    ([["1", "1"]], ["--at", "-3"], ["--at", "'-3'"]),
    ([], [], ["no data rows"]),
])
def test_bad_input_names_line_column_and_value(capsys, tmp_path, rows, args,  # type: ignore[no-untyped-def]
                                               expected):
    path = _write(tmp_path / "bad.csv", ["t", "e"], rows)
    argv = ["outcomes", "km", "--data", path, "--time", "t", "--event", "e"]
    if "--time" in args:
        argv[argv.index("--time") + 1] = args[args.index("--time") + 1]
        args = []
    rc, out, err = _run(capsys, *argv, *args)
    assert rc == 2 and out == ""
    for text in expected:
        assert text in err


def test_options_that_do_not_apply_are_refused(capsys, bmt_csv):  # type: ignore[no-untyped-def]
    base = ["outcomes", "km", "--data", bmt_csv, "--time", "ftime", "--event", "status"]
    for extra in (["--ties", "efron"], ["--variance", "delta"], ["--cause", "1"],
                  ["--strata", "dis"]):
        rc, out, err = _run(capsys, *base, *extra)
        assert rc == 2 and out == "" and extra[0] in err
    rc, out, err = _run(capsys, "outcomes", "cif", "--data", bmt_csv, "--time", "ftime",
                        "--event", "status", "--cause", "3")
    assert rc == 2 and "--cause" in err


def test_missing_file(capsys, tmp_path):  # type: ignore[no-untyped-def]
    rc, out, err = _run(capsys, "outcomes", "km", "--data", str(tmp_path / "nope.csv"),
                        "--time", "t", "--event", "e")
    assert rc == 2 and out == "" and "nope.csv" in err


def test_all_censored_json_has_nulls_not_nan(capsys, tmp_path):  # type: ignore[no-untyped-def]
    path = _write(tmp_path / "c.csv", ["t", "e", "g"], [[1, 0, "a"], [2, 0, "b"], [3, 0, "a"]])
    rc, out, _ = _run(capsys, "outcomes", "km", "--data", path, "--time", "t", "--event", "e",
                      "--group", "g", "--at", "2")
    doc = json.loads(out)
    assert rc == 0 and doc["logrank"]["p"] is None and doc["logrank"]["df"] == 0
    assert doc["groups"][0]["median"] is None
    assert np.isclose(doc["groups"][0]["at"][0]["survival"], 1.0)
