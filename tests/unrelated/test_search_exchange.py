"""``donors search --format csv|idgl``: the list a coordinator hands to a registry.

CSV: the documented columns, the JSON's values, provenance rows first, spreadsheet formulas
defused. WMDA ``ID%GL``: ``donors import`` of the export gives every donor the same typings."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from everydonor.adapters.cli import main
from everydonor.adapters.donorstore import DonorStore
from everydonor.adapters.search.exchange import CSV_COLUMNS, escape_cell, idgl_line
from everydonor.hla.designation import parse_typing
from everydonor.hla.locus import Locus
from tests.adapters.test_mac_lists import write_numer
from tests.conftest import GRIMM, WMDA

PATIENT = ("P-7%A*02:01+A*11:01^C*01:02+C*03:04^B*27:05+B*40:01^DRB1*08:01+DRB1*01:03"
           "^DQB1*04:02+DQB1*05:01")
HEADER = ("donor_id,registry,sex,age,abo,cmv_igg,A_1,A_2,C_1,C_2,B_1,B_2,DRB1_1,DRB1_2,"
          "DQB1_1,DQB1_2")
SAME = "C*01:02,C*03:04,B*27:05,B*40:01,DRB1*08:01,DRB1*01:03,DQB1*04:02,DQB1*05:01"
#: Ids and registries a spreadsheet would run as formulas, or a CSV reader misread.
TRICKY = [
    f'"=SUM(1+1)","=HYPERLINK(""http://x"")",female,34,A+,positive,A*02:01,A*11:01,{SAME}',
    f"+33,@REG,male,41,O-,negative,A*02:AB,A*11:01,{SAME}",
    f"-7,REG1,,,,,A*02:01,A*11:01,{SAME}",
    f'"a,b#c",REG1,male,25,B+,,A*02:01,A*11:XX,{SAME}',
    f"plain,REG2,female,30,,,A2,A*11:01,{SAME.replace('B*40:01', 'B60')}",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, macs) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("exchange")
    mac = write_numer(tmp / "numer.v3.txt", {"AB": macs.codes["AB"]})
    donors = tmp / "donors.csv"
    donors.write_text("\n".join([HEADER, *TRICKY]) + "\n", encoding="utf-8")
    with gzip.open(GRIMM / "don.gl.txt.gz", "rt") as f:
        grimm = [next(f) for _ in range(400)]
    (tmp / "grimm.txt").write_text("".join(grimm))
    store = tmp / "store"
    for file in (donors, tmp / "grimm.txt"):
        assert main(["--mac", str(mac), "donors", "import", str(file), "--store",
                     str(store)]) == 0
    assert main(["donors", "frequencies", "add", str(WMDA / "freqs.txt"), "--store",
                 str(store), "--name", "wmda-set3"]) == 0
    return {"tmp": tmp, "mac": mac, "store": store}


def search(capsys, setup: dict[str, Path], *extra: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return run(capsys, "--mac", str(setup["mac"]), "donors", "search", "--store",
               str(setup["store"]), "--patient", PATIENT, *extra)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape_cell(str(value)) if isinstance(value, str) else repr(value)


def test_csv_has_the_json_answer_row_by_row(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = search(capsys, setup)
    assert code == 0
    doc = json.loads(out)
    listed = {d["id"] for d in doc["donors"]}
    assert {"=SUM(1+1)", "+33", "-7", "a,b#c", "plain"} <= listed
    assert any(d["p_10_of_10"] is not None for d in doc["donors"])
    target = setup["tmp"] / "list.csv"
    code, out, _ = search(capsys, setup, "--format", "csv", "-o", str(target))
    assert code == 0 and out == ""
    text = target.read_text(encoding="utf-8")
    comments = [ln for ln in text.splitlines() if ln.startswith("#")]
    rows = list(csv.reader(io.StringIO("".join(
        ln + "\n" for ln in text.splitlines() if not ln.startswith("#")))))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = rows[1:]
    assert len(body) == len(doc["donors"]) == doc["counts"]["shown"]
    col = {name: k for k, name in enumerate(CSV_COLUMNS)}
    for d, row in zip(doc["donors"], body, strict=True):
        assert row[col["rank"]] == str(d["rank"])
        assert row[col["donor_id"]] == escape_cell(d["id"])
        assert row[col["registry"]] == _cell(d["registry"])
        assert row[col["mismatches_allowed"]] == str(d["mismatches_max"])
        for key in ("p_10_of_10", "p_9_of_10", "p_8_of_10", "p_at_most"):
            cell = row[col[key]]
            assert (None if cell == "" else float(cell)) == d[key]  # the JSON's number exactly
        for locus, entry in d["loci"].items():
            assert row[col[f"{locus}_category"]] == entry["category"]
            p = row[col[f"{locus}_p_match"]]
            assert (None if p == "" else float(p)) == entry["p_match"]
        assert row[col["dpb1_tce"]] == d["dpb1_tce"]
        assert row[col["unrepresented"]] == _cell(d["unrepresented"])
        assert row[col["typing"]] == d["typing"]
        assert row[col["age"]] == _cell(d["age"])
    # formulas defused: no cell a spreadsheet would run
    for row in body:
        assert not any(c.startswith(("=", "+", "-", "@")) for c in row)
    ids = [r[col["donor_id"]] for r in body]
    assert {"'=SUM(1+1)", "'+33", "'-7", "a,b#c"} <= set(ids)
    assert "'=HYPERLINK(\"http://x\")" in {r[col["registry"]] for r in body}
    # provenance first: the notice, the release, the MAC list's date and digest, the warnings
    prov = dict(next(csv.reader([ln])) for ln in comments if ln.count(",") >= 1)
    sha = hashlib.sha256(setup["mac"].read_bytes()).hexdigest()
    assert prov["#format"] == "everydonor.donor-search-csv/1"
    assert prov["#release"] == "3.58.0" and prov["#frequency_set"] == "wmda-set3"
    assert prov["#provenance.mac_list.sha256"] == sha
    assert prov["#provenance.mac_list.date"] == "2024-10-01"
    assert prov["#provenance.mac_list.date_from"] == "header"
    assert prov["#provenance.store_mac_list.sha256"] == sha
    assert prov["#patient"] == "P-7"
    assert "Decision support" in prov["#notice"]
    assert prov["#counts.listed"] == str(doc["counts"]["listed"])
    # a comment-aware reader gets the same table (pandas, as the README says)
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(target, comment="#")
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == len(body)
    assert list(frame["donor_id"]) == ids
    got = [None if pd.isna(x) else x for x in frame["p_10_of_10"]]
    assert got == [d["p_10_of_10"] for d in doc["donors"]]


def test_idgl_round_trips_through_donors_import(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = search(capsys, setup)
    doc = json.loads(out)
    target = setup["tmp"] / "list.idgl.txt"
    code, out, _ = search(capsys, setup, "--format", "idgl", "-o", str(target))
    assert code == 0 and out == ""
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [ln.split("%", 1)[0] for ln in lines] == [d["id"] for d in doc["donors"]]
    for line in lines:  # A, C, B, DRB1, DQB1 first, as the WMDA files write them
        blocks = line.split("%", 1)[1].split("^")
        loci = [parse_typing(b.split("+")[0]).locus for b in blocks]
        assert [x.value for x in loci if x is not None][:5] == ["A", "C", "B", "DRB1", "DQB1"]
    for d, line in zip(doc["donors"], lines, strict=True):  # an untyped locus: L*UUUU+L*UUUU
        typed = {parse_typing(b.split("+")[0]).locus for b in d["typing"].split("^")}
        for locus in ("A", "C", "B", "DRB1", "DQB1"):
            assert (f"{locus}*UUUU+{locus}*UUUU" in line) == (Locus(locus) not in typed)
    assert idgl_line("D1", "B*07:02+B8^A*01:01+A*02:01^DPB1*04:01+DPB1*02:01") == (
        "D1%A*01:01+A*02:01^C*UUUU+C*UUUU^B*07:02+B8^DRB1*UUUU+DRB1*UUUU^DQB1*UUUU+DQB1*UUUU"
        "^DPB1*04:01+DPB1*02:01")
    sidecar = json.loads(Path(str(target) + ".provenance.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    assert sidecar["donors"] == [d["id"] for d in doc["donors"]]
    assert sidecar["provenance"]["mac_list"]["date"] == "2024-10-01"
    assert "Decision support" in sidecar["notice"]
    # the round trip: the same typings, donor by donor
    copy = setup["tmp"] / "copy"
    assert main(["--mac", str(setup["mac"]), "donors", "import", str(target), "--store",
                 str(copy), "--format", "wmda"]) == 0
    original, again = DonorStore.open(setup["store"]), DonorStore.open(copy)

    def typings(store: DonorStore) -> dict[str, tuple[str, tuple[int, ...]]]:
        out = {}
        for part, meta in enumerate(store.manifest["partitions"]):
            for r in store.records(part, list(range(meta["rows"]))):
                out[r.id] = r.gl
        return out

    before, after = typings(original), typings(again)
    assert set(after) == {d["id"] for d in doc["donors"]}
    assert {k: before[k] for k in after} == after
    # the store's own expansion of each typing is the same too (same release, same MAC list)
    cat1, cat2 = original.catalog(), again.catalog()
    for locus, ids in cat2.ids.items():
        for text, k in ids.items():
            if k:
                assert cat2.expansions[locus][k] == cat1.expansions[locus][cat1.ids[locus][text]]
    # on stdout: the lines alone, the provenance on stderr
    code, out, err = search(capsys, setup, "--format", "idgl")
    assert code == 0 and out.splitlines() == lines
    assert sidecar["sha256"] in err and "2024-10-01" in err


def test_idgl_refuses_an_id_it_cannot_carry(setup, capsys) -> None:  # type: ignore[no-untyped-def]
    donors = setup["tmp"] / "pct.csv"
    donors.write_text(f"{HEADER}\nX%1,REG1,,,,,A*02:01,A*11:01,{SAME}\n")
    store = setup["tmp"] / "pct-store"
    assert main(["donors", "import", str(donors), "--store", str(store)]) == 0
    target = setup["tmp"] / "pct.txt"
    code, out, err = run(capsys, "donors", "search", "--store", str(store), "--patient",
                         PATIENT, "--format", "idgl", "-o", str(target))
    assert code == 2 and out == ""
    assert "person 'X%1'" in err and "donor_id" in err
    assert not target.exists() and not Path(str(target) + ".provenance.json").exists()
