"""Read an IPD-IMGT/HLA release folder into :class:`~everydonor.hla.reference.HlaReference`.

The bundled release (3.58.0) lives unmodified in ``everydonor/data/imgt/3580``; a user can point
at another release folder (``--imgt DIR`` or ``EVERYDONOR_IMGT_DIR``) laid out as the ANHIG/IMGTHLA
repository is: ``Allelelist.txt``, ``wmda/hla_nom_g.txt``, ``wmda/hla_nom_p.txt``,
``wmda/rel_dna_ser.txt`` (6 columns before 3.64, 7 with HATS from 3.64), ``wmda/rel_ser_ser.txt``,
optionally ``Deleted_alleles.txt`` and ``release_version.txt``.

Derived tables are never shipped (the IMGT licence forbids modified copies): they are built on
first use into a per-release cache folder (``EVERYDONOR_CACHE_DIR``, default
``~/.cache/everydonor``), keyed by the release and a digest of the files, so a changed folder is
never served stale tables.
"""

from __future__ import annotations

import csv
import hashlib
import os
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

from everydonor import __version__
from everydonor.errors import ReferenceDataError
from everydonor.hla.designation import MacDictionary
from everydonor.hla.kir import KirTable
from everydonor.hla.reference import HlaReference, build_reference
from everydonor.hla.tce import TceTable

CACHE_FORMAT = "everydonor-tables/1"
T = TypeVar("T")
REQUIRED_FILES = (
    "Allelelist.txt",
    "wmda/hla_nom_g.txt",
    "wmda/hla_nom_p.txt",
    "wmda/rel_dna_ser.txt",
    "wmda/rel_ser_ser.txt",
)
OPTIONAL_FILES = ("Deleted_alleles.txt", "release_version.txt")

#: Citations IPD asks every user of the data to give (from the release's LICENCE.md).
IMGT_CITATIONS = (
    "Barker D, Maccari G, Georgiou X, Cooper M, Flicek P, Robinson J, Marsh SGE. "
    "The IPD-IMGT/HLA Database. Nucleic Acids Research (2023) 51(D1): D948-D955.",
    "Robinson J, Barker D, Marsh SGE. 25 years of the IPD-IMGT/HLA Database. "
    "HLA (2024) 103(6): e15549.",
    "Robinson J, Malik A, Parham P, Bodmer JG, Marsh SGE. IMGT/HLA - a sequence database for "
    "the human major histocompatibility complex. Tissue Antigens (2000) 55:280-287.",
)

_VERSION_RE = re.compile(r"IPD-IMGT/HLA\s+(\d+\.\d+\.\d+)")


def bundled_release_dir() -> Path:
    """The folder of the release shipped inside the package (3.58.0)."""
    return Path(str(resources.files("everydonor") / "data" / "imgt" / "3580"))


def default_cache_dir() -> Path:
    env = os.environ.get("EVERYDONOR_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "everydonor"


@dataclass(frozen=True, slots=True)
class ReleaseFolder:
    """A checked release folder: its path, version (``3.58.0``) and content digest."""

    path: Path
    version: str
    digest: str

    @property
    def compact_version(self) -> str:
        """``3580`` — the IMGTHLA branch name, as py-ard names databases."""
        return self.version.replace(".", "")

    def file(self, name: str) -> Path:
        return self.path / name

    def lines(self, name: str) -> list[str]:
        """Data lines of a release file: the ``#`` header dropped, CRLF tolerated."""
        text = self.file(name).read_text(encoding="utf-8")
        return [ln.rstrip("\r") for ln in text.split("\n") if ln.strip() and not ln.startswith("#")]


def open_release(path: Path | str | None = None) -> ReleaseFolder:
    """Check a release folder and read its version; the bundled release when ``path`` is None."""
    folder = Path(path).expanduser() if path is not None else bundled_release_dir()
    if not folder.is_dir():
        raise ReferenceDataError(
            f"IMGT/HLA release folder {str(folder)!r} does not exist", value=str(folder),
            field="imgt")
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise ReferenceDataError(
            f"IMGT/HLA release folder {str(folder)!r} lacks {', '.join(missing)} "
            "(expected the layout of the ANHIG/IMGTHLA repository)",
            value=str(folder), field="imgt")
    version = _read_version(folder)
    h = hashlib.sha256()
    for name in (*REQUIRED_FILES, *OPTIONAL_FILES):
        p = folder / name
        if p.is_file():
            h.update(name.encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return ReleaseFolder(folder, version, h.hexdigest()[:16])


def _read_version(folder: Path) -> str:
    for name in ("release_version.txt", "Allelelist.txt", "wmda/hla_nom_g.txt"):
        p = folder / name
        if not p.is_file():
            continue
        with p.open(encoding="utf-8") as fh:
            for _, line in zip(range(10), fh, strict=False):
                m = _VERSION_RE.search(line)
                if m:
                    return m.group(1)
    raise ReferenceDataError(
        f"cannot tell the IPD-IMGT/HLA version of {str(folder)!r}: no '# version: IPD-IMGT/HLA "
        "X.Y.Z' header in release_version.txt or Allelelist.txt", value=str(folder), field="imgt")


def verify_checksums(release: ReleaseFolder) -> list[str]:
    """Compare files with the release's own md5checksum.txt files; return the mismatches."""
    bad = []
    for listing in ("md5checksum.txt", "wmda/md5checksum.txt"):
        lp = release.file(listing)
        if not lp.is_file():
            continue
        base = lp.parent
        for line in lp.read_text(encoding="utf-8").splitlines():
            m = re.match(r"MD5 \((.+)\) = ([0-9a-f]{32})", line.strip())
            if not m:
                continue
            target = base / m.group(1)
            if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() != m.group(2):
                bad.append(str(target.relative_to(release.path)))
    return bad


# -- parsing ------------------------------------------------------------------------------------


def read_allele_names(release: ReleaseFolder) -> list[str]:
    lines = release.lines("Allelelist.txt")
    reader = csv.reader(lines)
    header = next(reader)
    if [h.strip() for h in header[:2]] != ["AlleleID", "Allele"]:
        raise ReferenceDataError(
            f"Allelelist.txt of {release.version}: unexpected header {header!r}", field="imgt")
    return [row[1].strip() for row in reader if len(row) >= 2]


def read_group_rows(release: ReleaseFolder, name: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in release.lines(name):
        parts = line.split(";")
        if len(parts) < 3:
            raise ReferenceDataError(f"{name}: malformed line {line[:80]!r}", field="imgt")
        rows.append((parts[0], parts[1], parts[2]))
    return rows


def read_serology_rows(release: ReleaseFolder) -> list[tuple[str, ...]]:
    """``rel_dna_ser.txt``: 6 fields before 3.64.0, 7 (with HATS) from 3.64.0; both load."""
    rows = []
    for line in release.lines("wmda/rel_dna_ser.txt"):
        parts = line.split(";")
        if len(parts) not in (6, 7):
            raise ReferenceDataError(
                f"rel_dna_ser.txt of {release.version}: expected 6 or 7 fields, got {len(parts)} "
                f"in {line[:80]!r}", field="imgt")
        rows.append(tuple(parts))
    return rows


def read_ser_ser_rows(release: ReleaseFolder) -> list[tuple[str, str, str, str]]:
    """``rel_ser_ser.txt``: ``locus;antigen;splits;associated`` (later releases add rows)."""
    rows = []
    for line in release.lines("wmda/rel_ser_ser.txt"):
        parts = [*line.split(";"), "", "", ""][:4]
        rows.append((parts[0], parts[1], parts[2], parts[3]))
    return rows


def read_deleted(release: ReleaseFolder) -> dict[str, str]:
    if not release.file("Deleted_alleles.txt").is_file():
        return {}
    out = {}
    reader = csv.reader(release.lines("Deleted_alleles.txt"))
    for row in reader:
        if len(row) >= 3 and row[0] != "AlleleID":
            out[row[1].strip()] = ",".join(row[2:]).strip()
    return out


def read_tce(release: ReleaseFolder) -> TceTable:
    """DPB1 TCE groups from the release's ``tce/dpb_tce.csv``."""
    name = "tce/dpb_tce.csv"
    if not release.file(name).is_file():
        raise ReferenceDataError(f"the release folder {str(release.path)!r} has no {name}",
                                 value=str(release.path), field="imgt")
    return TceTable.from_rows(csv.reader(release.lines(name)), release.version)


def read_class_i_proteins(release: ReleaseFolder) -> list[tuple[str, str]]:
    """``(allele, protein sequence)`` from ``fasta/{A,B,C}_prot.fasta``."""
    out: list[tuple[str, str]] = []
    for locus in ("A", "B", "C"):
        path = release.file(f"fasta/{locus}_prot.fasta")
        if not path.is_file():
            raise ReferenceDataError(f"the release folder {str(release.path)!r} has no "
                                     f"fasta/{locus}_prot.fasta (needed for KIR ligands)",
                                     value=str(release.path), field="imgt")
        name: str | None = None
        chunks: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(">"):
                if name:
                    out.append((name, "".join(chunks)))
                parts = line.split()
                name = parts[1] if len(parts) > 1 else None
                chunks = []
            else:
                chunks.append(line.strip())
        if name:
            out.append((name, "".join(chunks)))
    return out


def load_kir_table(path: Path | str | None = None, cache_dir: Path | None = None) -> KirTable:
    """KIR ligands of the release's class I alleles, built once per release into the cache."""
    release = open_release(path)
    stamp = (CACHE_FORMAT, __version__, release.version, release.digest, "kir")
    return _cached(release_cache_dir(release, cache_dir) / "kir.pickle", stamp, KirTable,
                   lambda: KirTable.from_sequences(read_class_i_proteins(release),
                                                   release.version))


def build_from_folder(release: ReleaseFolder) -> HlaReference:
    return build_reference(
        release=release.version,
        allele_names=read_allele_names(release),
        g_rows=read_group_rows(release, "wmda/hla_nom_g.txt"),
        p_rows=read_group_rows(release, "wmda/hla_nom_p.txt"),
        serology_rows=read_serology_rows(release),
        ser_ser_rows=read_ser_ser_rows(release),
        deleted=read_deleted(release),
    )


# -- cache --------------------------------------------------------------------------------------


def release_cache_dir(release: ReleaseFolder, cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / f"imgt-{release.version}-{release.digest}"


def _cached(target: Path, stamp: tuple[object, ...], kind: type[T], build: Callable[[], T]) -> T:
    """The value pickled at ``target`` when its stamp matches, else ``build()`` written there.

    The pickle is written by this module alone into the user's own cache folder and checked
    against the format, software version, release and digest before use; a damaged or foreign
    file is rebuilt.
    """
    if target.is_file():
        try:
            with target.open("rb") as fh:
                got_stamp, value = pickle.load(fh)
            if got_stamp == stamp and isinstance(value, kind):
                return value
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError):
            target.unlink(missing_ok=True)
    value = build()
    _write_atomically(target, pickle.dumps((stamp, value), protocol=pickle.HIGHEST_PROTOCOL))
    return value


def load_reference(path: Path | str | None = None, cache_dir: Path | None = None) -> HlaReference:
    """The reference tables of a release folder (bundled by default), from the cache if built."""
    release = open_release(path)
    stamp = (CACHE_FORMAT, __version__, release.version, release.digest)
    return _cached(release_cache_dir(release, cache_dir) / "tables.pickle", stamp, HlaReference,
                   lambda: build_from_folder(release))


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


# -- MAC lists ----------------------------------------------------------------------------------


def read_mac_file(path: Path | str, skip_codes: frozenset[str] = frozenset()) -> MacDictionary:
    """Read an NMDP multiple-allele-code list: NMDP ``numer.v3.txt``/``alpha.v3.txt`` (or the
    ``numer.v3.zip`` holding it) or the Atlas CSV export; see
    :mod:`everydonor.adapters.reference.maclist` for the layouts, the date and the digest."""
    from everydonor.adapters.reference.maclist import read_mac_file as read

    return read(path, skip_codes)
