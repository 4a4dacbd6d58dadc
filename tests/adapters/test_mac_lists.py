"""MAC lists as NMDP publishes them (``numer.v3.txt``, ``alpha.v3.txt``, ``numer.v3.zip``):
read strictly, dated, digested, recorded in every answer that used them; a code naming alleles
absent from the release reported; an unknown code refused (exit 2) naming who, where and what.

The NMDP files are built here from the Atlas subset's genuine codes (GPL data read from
../shared, never copied into the repository), in NMDP's layout (pyard.loader.mac_codes)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from everydonor.adapters.cli import main
from everydonor.adapters.reference.imgt import read_mac_file
from everydonor.errors import ReferenceDataError, UnknownAllele
from everydonor.hla.designation import expand, parse_typing
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution
from tests.conftest import WMDA


def wmda_patients() -> list[str]:
    return (WMDA / "pat.txt").read_text(encoding="utf-8-sig").splitlines()


def mac_tokens(line: str) -> list[str]:
    gl = line.split("%", 1)[1]
    return [t.text for t in (parse_typing(x.strip()) for x in gl.replace("^", "+").split("+"))
            if t.kind.value == "mac"]


def wmda_mac_typings(codes: Mapping[str, str]) -> list[str]:
    """The WMDA set-3 patients' MAC typings whose code the Atlas subset has: the codes the
    tests need."""
    return sorted({t for line in wmda_patients() for t in mac_tokens(line)
                   if parse_typing(t).code in codes})


def wmda_patient(codes: Mapping[str, str]) -> str:
    """The first WMDA set-3 patient typed with at least two MACs, all in ``codes``."""
    return next(line for line in wmda_patients() if len(mac_tokens(line)) >= 2
                and all(parse_typing(t).code in codes for t in mac_tokens(line)))


def numer_text(codes: Mapping[str, str], updated: str = "10/01/24",
               alpha: bool = False) -> str:
    """NMDP's layout: the dated header, the column names, a blank line, then the rows (generic
    codes first, then the allele-specific ones, as the numerical list orders them)."""
    generic = [(c, s) for c, s in codes.items() if ":" not in s]
    specific = [(c, s) for c, s in codes.items() if ":" in s]
    head = "*\tCODE\tSUBTYPE" if alpha else "CODE\tSUBTYPE"
    rows = [f"{'*' if alpha and k % 2 else ''}\t{c}\t{s}" if alpha else f"{c}\t{s}"
            for k, (c, s) in enumerate(sorted(codes.items()) if alpha else [*generic, *specific])]
    return "\n".join([f'"LAST UPDATED: {updated}"', head, "", *rows]) + "\n"


def write_numer(path: Path, codes: Mapping[str, str], updated: str = "10/01/24") -> Path:
    path.write_text(numer_text(codes, updated), encoding="ascii")
    return path


def codes_for(typings: Iterable[str], macs) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {parse_typing(t).code: macs.codes[parse_typing(t).code] for t in typings}  # type: ignore[misc]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def needed(macs) -> dict[str, str]:  # type: ignore[no-untyped-def]
    typings = [*wmda_mac_typings(macs.codes), *mac_tokens(wmda_patient(macs.codes))]
    assert len(typings) >= 100
    return {**codes_for(typings, macs), "AB": macs.codes["AB"]}


@pytest.fixture(scope="module")
def absent(ref) -> str:  # type: ignore[no-untyped-def]
    """A two-field A*01 name IPD-IMGT/HLA deleted (renamed) before 3.58.0: not in the release."""
    name = next(n for n in ref.deleted if n.startswith("A*01:") and n.count(":") == 1)
    assert not ref.expand_prefix(name)
    return name


def test_numer_v3_expands_as_the_atlas_csv(tmp_path: Path, ref, macs, needed) -> None:  # type: ignore[no-untyped-def]
    numer = read_mac_file(write_numer(tmp_path / "numer.v3.txt", needed))
    assert dict(numer.codes) == needed
    assert any(":" in s for s in needed.values()) and any(":" not in s for s in needed.values())
    r_atlas, r_numer = Reducer(ref, macs), Reducer(ref, numer)
    for typing in [*wmda_mac_typings(macs.codes), "A*01:AB", "B*15:AB"]:
        t = parse_typing(typing)
        assert expand(t, ref, numer) == expand(t, ref, macs), typing
        assert r_numer.reduce_text(typing, Resolution.LGX) == r_atlas.reduce_text(
            typing, Resolution.LGX)
    assert numer.format == "NMDP numer.v3"
    assert (numer.date, numer.date_from) == ("2024-10-01", "header")
    assert numer.sha256 == hashlib.sha256((tmp_path / "numer.v3.txt").read_bytes()).hexdigest()


def test_alpha_v3_and_the_zip_nmdp_publishes(tmp_path: Path, needed) -> None:  # type: ignore[no-untyped-def]
    alpha = tmp_path / "alpha.v3.txt"
    alpha.write_text(numer_text(needed, "09/30/20", alpha=True))
    got = read_mac_file(alpha)
    assert dict(got.codes) == needed and got.format == "NMDP alpha.v3"
    assert got.date == "2020-09-30"
    archive = tmp_path / "numer.v3.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("numer.v3.txt", numer_text(needed).replace("\n", "\r\n"))
    zipped = read_mac_file(archive)
    assert dict(zipped.codes) == needed and zipped.date == "2024-10-01"
    assert zipped.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()  # the file given


def test_a_list_without_a_header_is_dated_by_its_file(tmp_path: Path) -> None:
    path = tmp_path / "codes.txt"
    path.write_text("AB\t01/02\nTP\t01:01/02:02\n")
    stamp = dt.datetime(2023, 5, 17, 12, 0, tzinfo=dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))
    got = read_mac_file(path)
    assert (got.date, got.date_from) == ("2023-05-17", "file modification time")
    assert dict(got.codes) == {"AB": "01/02", "TP": "01:01/02:02"}


@pytest.mark.parametrize(("text", "message"), [
    ('"LAST UPDATED: 13/45/20"\nCODE\tSUBTYPE\n\nAB\t01/02\n', "line 1: the LAST UPDATED"),
    ("CODE\tSUBTYPE\n\nAB\t01/02\nAC\t01-03\n", "line 4: subtype '01-03'"),
    ("AB\t01/02\nab\t01/03\n", "line 2: 'ab' is not a MAC"),
    ("AB\t01/02\nAB\t01/03\n", "line 2: code AB is listed twice"),
    ("AB\t01/02\tX\n", "line 1: expected CODE<TAB>SUBTYPE"),
])
def test_a_malformed_list_is_refused_naming_the_line(tmp_path: Path, text: str,
                                                      message: str) -> None:
    path = tmp_path / "numer.v3.txt"
    path.write_text(text)
    with pytest.raises(ReferenceDataError, match=message) as exc:
        read_mac_file(path)
    assert exc.value.field == "mac" and exc.value.value


def test_a_code_naming_an_allele_absent_from_the_release_is_reported(
        tmp_path: Path, ref, absent: str, capsys) -> None:  # type: ignore[no-untyped-def]
    second = absent.split(":")[1]
    path = write_numer(tmp_path / "numer.v3.txt", {"AB": "01/02", "QZX": f"01/{second}",
                                                   "QZY": f"{second}/9999"})
    code, out, err = run(capsys, "--mac", str(path), "hla", "expand", "A*01:QZX")
    assert code == 0
    doc = json.loads(out)
    assert doc["results"][0]["alleles"] == list(expand(parse_typing("A*01:01"), ref))
    [warning] = doc["provenance"]["mac_list"]["warnings"]
    assert "A*01:QZX" in warning and absent in warning and "3.58.0" in warning
    assert ref.deleted[absent] in warning  # IPD-IMGT/HLA's own word on it
    assert f"warning: {warning}" in err
    # reduce: the same warning, the same answer as the code's known allele
    code, out, _ = run(capsys, "--mac", str(path), "hla", "reduce", "--to", "g", "A*01:QZX")
    doc = json.loads(out)
    assert doc["results"][0]["output"] == Reducer(ref).reduce_text("A*01:01", Resolution.G)
    assert len(doc["provenance"]["mac_list"]["warnings"]) == 1
    # nothing of the code in the release: refused, not an empty answer
    macs = read_mac_file(path)
    with pytest.raises(UnknownAllele, match="none of which"):
        expand(parse_typing("A*01:QZY"), ref, macs)
    assert macs.gaps() == []


def test_an_unknown_code_is_refused_naming_the_value(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write_numer(tmp_path / "numer.v3.txt", {"AB": "01/02"})
    code, out, err = run(capsys, "--mac", str(path), "hla", "reduce", "B*15:QQQQ")
    assert (code, out) == (2, "")
    assert "'B*15:QQQQ'" in err and "QQQQ" in err and "numer.v3.txt dated 2024-10-01" in err
    # a patient given as a WMDA line: the person, the field and the value are named
    patient = "PX9%A*01:QQQQ+A*02:01^B*07:02+B*08:01^DRB1*15:01+DRB1*03:01"
    code, out, err = run(capsys, "--mac", str(path), "donors", "search", "--store",
                         str(tmp_path / "nostore"), "--patient", patient)
    assert code == 2 and out == ""
    assert "not a donor store" in err  # the store is checked first; now a real one
    store = tmp_path / "store"
    donors = tmp_path / "d.txt"
    donors.write_text("D1%A*01:01+A*02:01^B*07:02+B*08:01^DRB1*15:01+DRB1*03:01\n")
    assert main(["--mac", str(path), "donors", "import", str(donors), "--store",
                 str(store)]) == 0
    code, out, err = run(capsys, "--mac", str(path), "donors", "search", "--store", str(store),
                         "--patient", patient)
    assert code == 2 and out == ""
    assert "person 'PX9'" in err and "field 'hla.A'" in err and "A*01:QQQQ" in err


def test_every_answer_records_the_list_date_and_digest(tmp_path: Path, needed,
                                                       capsys) -> None:  # type: ignore[no-untyped-def]
    path = write_numer(tmp_path / "numer.v3.txt", needed)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    typing = wmda_mac_typings(needed)[0]

    def recorded(mac: dict) -> None:  # type: ignore[type-arg]
        assert (mac["file"], mac["date"], mac["date_from"], mac["sha256"]) == (
            "numer.v3.txt", "2024-10-01", "header", sha)
        assert mac["codes"] == len(needed)

    for action in ("reduce", "expand", "check"):
        code, out, _ = run(capsys, "--mac", str(path), "hla", action, typing)
        assert code == 0
        recorded(json.loads(out)["provenance"]["mac_list"])
    code, out, _ = run(capsys, "--mac", str(path), "rank", "--example")
    assert code == 0
    recorded(json.loads(out)["provenance"]["mac_list"])
    code, out, _ = run(capsys, "--mac", str(path), "rank", "--example", "--format", "text")
    assert f"MAC list numer.v3.txt dated 2024-10-01 (header), sha256 {sha[:12]}" in out
    html = tmp_path / "rank.html"
    code, out, _ = run(capsys, "--mac", str(path), "rank", "--example", "--format", "html",
                       "-o", str(html))
    assert f"MAC list numer.v3.txt 2024-10-01 (header) sha256 {sha[:12]}" in html.read_text()
    store = tmp_path / "store"
    pat = wmda_patient(needed)
    donors = tmp_path / "donors.txt"
    donors.write_text("D1%" + pat.split("%", 1)[1] + "\n")
    assert main(["--mac", str(path), "donors", "import", str(donors), "--store",
                 str(store)]) == 0
    manifest = json.loads((store / "store.json").read_text())
    recorded(manifest["mac_list"])
    recorded(manifest["imports"][0]["mac_list"])
    code, out, _ = run(capsys, "--mac", str(path), "donors", "search", "--store", str(store),
                       "--patient", pat)
    assert code == 0
    doc = json.loads(out)
    recorded(doc["provenance"]["mac_list"])
    recorded(doc["provenance"]["store_mac_list"])
    assert [d["id"] for d in doc["donors"]] == ["D1"]
    # another list for the patient than for the store: said
    other = write_numer(tmp_path / "numer2.v3.txt", needed, updated="11/01/24")
    code, out, _ = run(capsys, "--mac", str(other), "donors", "search", "--store", str(store),
                       "--patient", pat)
    doc = json.loads(out)
    assert any("store's MAC codes were expanded with MAC list numer.v3.txt dated 2024-10-01"
               in w for w in doc["warnings"])
