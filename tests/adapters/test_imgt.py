import shutil
from pathlib import Path

import pytest

from everydonor.adapters.reference.imgt import (
    IMGT_CITATIONS,
    build_from_folder,
    bundled_release_dir,
    load_reference,
    open_release,
    read_mac_file,
    verify_checksums,
)
from everydonor.errors import ReferenceDataError
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution
from tests.conftest import FAKE_ATLAS_CODES, MAC_FILE


def test_bundled_release_is_unmodified() -> None:
    release = open_release()
    assert release.version == "3.58.0"
    assert verify_checksums(release) == []  # md5 of every bundled file matches IPD's own list
    assert (bundled_release_dir() / "LICENCE.md").is_file()
    assert any("Nucleic Acids Research" in c for c in IMGT_CITATIONS)


def test_bundled_release_counts(ref) -> None:  # type: ignore[no-untyped-def]
    lines = (bundled_release_dir() / "Allelelist.txt").read_text().splitlines()
    typing_loci = ("A*", "B*", "C*", "DRB1*", "DRB3*", "DRB4*", "DRB5*", "DQA1*", "DQB1*",
                   "DPA1*", "DPB1*")
    expected = sum(1 for ln in lines if ln.split(",")[-1].startswith(typing_loci))
    assert len(ref.alleles) == expected == 39083


def test_cache_is_reused_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    first = load_reference(cache_dir=tmp_path)
    [pickle_file] = list(tmp_path.glob("imgt-3.58.0-*/tables.pickle"))
    mtime = pickle_file.stat().st_mtime_ns
    again = load_reference(cache_dir=tmp_path)
    assert pickle_file.stat().st_mtime_ns == mtime and again.alleles == first.alleles
    pickle_file.write_bytes(b"not a pickle")
    rebuilt = load_reference(cache_dir=tmp_path)
    assert rebuilt.alleles == first.alleles


def _copy_release(tmp_path: Path) -> Path:
    target = tmp_path / "release"
    shutil.copytree(bundled_release_dir(), target)
    for p in target.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    return target


def test_newer_layout_with_seven_columns_and_extended_ser_ser_loads(tmp_path: Path) -> None:
    """Releases >= 3.64 add a HATS column to rel_dna_ser.txt and rows to rel_ser_ser.txt."""
    folder = _copy_release(tmp_path)
    rds = folder / "wmda" / "rel_dna_ser.txt"
    lines = rds.read_text().splitlines()
    rds.write_text("\n".join(ln if ln.startswith("#") else ln + ";" + ln.split(";")[2]
                             for ln in lines) + "\n")
    rss = folder / "wmda" / "rel_ser_ser.txt"
    rss.write_text(rss.read_text().rstrip("\n") + "\nB;77;;\nDQ;2;;\n")
    ref = build_from_folder(open_release(folder))
    r = Reducer(ref)
    assert r.reduce_text("B*15:01", Resolution.SEROLOGY) == "B62"
    assert r.reduce_text("DRB1*03:01", Resolution.SEROLOGY) == "DR17"


def test_other_release_folder_is_read_with_its_version(tmp_path: Path) -> None:
    folder = _copy_release(tmp_path)
    for name in ("release_version.txt", "Allelelist.txt"):
        p = folder / name
        p.write_text(p.read_text().replace("IPD-IMGT/HLA 3.58.0", "IPD-IMGT/HLA 3.99.0"))
    assert load_reference(folder, cache_dir=tmp_path / "c").release == "3.99.0"


def test_missing_or_incomplete_folder(tmp_path: Path) -> None:
    with pytest.raises(ReferenceDataError, match="does not exist"):
        open_release(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "Allelelist.txt").write_text("x")
    with pytest.raises(ReferenceDataError, match="lacks wmda/hla_nom_g.txt"):
        open_release(tmp_path / "half")


def test_mac_file_formats(tmp_path: Path, macs) -> None:  # type: ignore[no-untyped-def]
    assert "AB" in macs.codes and macs.codes["AB"] == "01/02"
    assert not FAKE_ATLAS_CODES & set(macs.codes)
    assert len(macs.codes) == 12520  # the genuine NMDP codes of the Atlas subset
    numer = tmp_path / "numer.v3.txt"
    numer.write_text('"LAST UPDATED: 09/30/20"\nCODE\tSUBTYPE\n\nAB\t01/02\nAC\t01/03\n')
    assert dict(read_mac_file(numer).codes) == {"AB": "01/02", "AC": "01/03"}
    empty = tmp_path / "empty.txt"
    empty.write_text('"LAST UPDATED: 09/30/20"\nCODE\tSUBTYPE\n\n')
    with pytest.raises(ReferenceDataError, match="holds no codes"):
        read_mac_file(empty)
    prose = tmp_path / "prose.txt"
    prose.write_text("nothing here\n")
    with pytest.raises(ReferenceDataError, match="line 1: 'nothing' is not a MAC"):
        read_mac_file(prose)
    assert MAC_FILE.is_file()
