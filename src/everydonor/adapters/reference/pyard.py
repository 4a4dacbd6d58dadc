"""py-ard (NMDP's ARD reduction library, pinned 2.4.2) wrapped to run with no network at all.

py-ard builds a SQLite database per IPD-IMGT/HLA release from files it normally downloads.
It reaches for the network in these places, each handled here explicitly:

1. **Version check** — ``pyard.db.create_db_connection`` asks the GitHub API for the list of
   IMGTHLA branches before building a database for a named release
   (``pyard.misc.get_imgt_db_versions``). Replaced by the one version of the local folder.
   ``load_latest_version`` (used only for ``"Latest"``) is never reached: a release is always
   named, and the replacement raises if it were.
2. **Release files** — ``pyard.loader.{allele_list,g_group,p_group,serology}`` read
   ``Allelelist.txt``, ``hla_nom_g.txt``, ``hla_nom_p.txt``, ``rel_dna_ser.txt`` and
   ``rel_ser_ser.txt`` through ``urlopen``. Every one of these reads is served from the local
   release folder instead; any other URL raises :class:`~everydonor.errors.ReferenceDataError`.
   For releases before 3.64 py-ard would *re-read* ``rel_dna_ser.txt`` from the network every
   time an ``ARD`` is constructed (it looks for the HATS table that only 3.64+ files produce):
   :func:`_complete_pre_364_database` adds that table, empty, once the database is built.
3. **MAC download** — ``pyard.loader.mac_codes.load_mac_codes`` fetches NMDP's ``numer.v3.zip``.
   The database is built with ``load_mac=False``; when the user supplies a MAC list, its codes
   are written into a copy of the database kept per MAC-file digest.

The redirection is scoped to the build (a context manager that restores py-ard's functions);
once built, py-ard reads only its SQLite file. ``tests/adapters/test_pyard_adapter.py`` builds a
database with sockets disabled to prove that no connection is attempted.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from everydonor.adapters.reference.imgt import (
    ReleaseFolder,
    default_cache_dir,
    open_release,
    release_cache_dir,
)
from everydonor.errors import ReferenceDataError
from everydonor.hla.designation import MacDictionary

PYARD_VERSION = "2.4.2"


def _local_opener(release: ReleaseFolder) -> Any:
    def open_url(url: Any, *args: Any, **kwargs: Any) -> io.BytesIO:
        text = url if isinstance(url, str) else getattr(url, "full_url", str(url))
        name = text.rsplit("/", 1)[-1]
        if "/wmda/" in text and name in {
            "hla_nom_g.txt", "hla_nom_p.txt", "rel_dna_ser.txt", "rel_ser_ser.txt"
        }:
            return io.BytesIO(release.file(f"wmda/{name}").read_bytes())
        if name.startswith("Allelelist"):
            return io.BytesIO(release.file("Allelelist.txt").read_bytes())
        raise ReferenceDataError(
            f"py-ard asked for {text!r}, which everydonor does not serve (no network is used)",
            value=text, field="pyard")

    return open_url


def _refuse_latest() -> str:
    raise ReferenceDataError("py-ard asked for the 'Latest' release version; everydonor always "
                             "names the release", field="pyard")


def _refuse_mac_download() -> Any:
    raise ReferenceDataError("py-ard tried to download the NMDP MAC list; supply it with --mac FILE",
                             field="mac")


@contextlib.contextmanager
def offline_pyard(release: ReleaseFolder) -> Iterator[None]:
    """Within this block, py-ard reads the local release folder and never the network."""
    import pyard.db as pyard_db
    from pyard import data_repository
    from pyard.loader import allele_list, g_group, mac_codes, p_group, serology, version

    opener = _local_opener(release)
    patches: list[tuple[Any, str, Any]] = [
        (allele_list, "urlopen", opener),
        (g_group, "urlopen", opener),
        (p_group, "urlopen", opener),
        (serology, "urlopen", opener),
        (pyard_db, "get_imgt_db_versions", lambda: [release.compact_version]),
        (version, "load_latest_version", _refuse_latest),
        (data_repository, "load_latest_version", _refuse_latest),
        (mac_codes, "load_mac_codes", _refuse_mac_download),
    ]
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in patches]
    try:
        for mod, name, value in patches:
            setattr(mod, name, value)
        yield
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


def pyard_data_dir(release: ReleaseFolder, macs: MacDictionary | None,
                   cache_dir: Path | None = None) -> Path:
    base = release_cache_dir(release, cache_dir) / "pyard"
    if macs is None:
        return base / "no-mac"
    return base / f"mac-{macs.digest}"


def _complete_pre_364_database(db_file: Path) -> None:
    """Give a pre-3.64 database the (empty) HATS table py-ard checks for.

    py-ard regenerates its serology tables whenever ``antigen_specifities`` is missing, and that
    table only exists for releases with the HATS column (>= 3.64): without it, every ``ARD()``
    re-downloads ``rel_dna_ser.txt``. An empty table (the release has no HATS assignments) stops
    that for good, even for an ``ARD`` built outside :func:`offline_pyard`.
    """
    conn = sqlite3.connect(db_file)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS antigen_specifities "
                     "(allele TEXT PRIMARY KEY, hats TEXT NOT NULL)")
        conn.commit()
    finally:
        conn.close()


def _ensure_database(release: ReleaseFolder, data_dir: Path,
                     macs: MacDictionary | None, base_dir: Path) -> None:
    from pyard.ard import ARD

    db_name = f"pyard-{release.compact_version}.sqlite3"
    target = data_dir / db_name
    if target.is_file():
        _complete_pre_364_database(target)  # also mends a database built by an older everydonor
        return
    if macs is None:
        ARD(imgt_version=release.compact_version, data_dir=str(data_dir), load_mac=False)
        _complete_pre_364_database(target)
        return
    _ensure_database(release, base_dir, None, base_dir)
    import pyard.db as pyard_db

    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / (db_name + f".{os.getpid()}.tmp")
    shutil.copyfile(base_dir / db_name, tmp)
    conn = sqlite3.connect(tmp)
    try:
        pyard_db.save_mac_codes(conn, dict(macs.codes), "mac_codes")
    finally:
        conn.close()
    os.replace(tmp, target)


def load_pyard(path: Path | str | None = None, macs: MacDictionary | None = None,
               cache_dir: Path | None = None, max_cache_size: int | None = None) -> Any:
    """A ``pyard.ard.ARD`` on the given release folder (bundled by default), built offline.

    The database is built once per release (and per MAC-list digest) in the cache folder.
    py-ard prints progress while it builds; that output is swallowed so that it never mixes
    with everydonor's JSON on stdout. ``max_cache_size`` is py-ard's own memo size.
    """
    release = open_release(path)
    cache = cache_dir or default_cache_dir()
    base_dir = pyard_data_dir(release, None, cache)
    data_dir = pyard_data_dir(release, macs, cache)
    from pyard.ard import ARD
    from pyard.constants import DEFAULT_CACHE_SIZE

    with offline_pyard(release), contextlib.redirect_stdout(io.StringIO()):
        _ensure_database(release, data_dir, macs, base_dir)
        return ARD(imgt_version=release.compact_version, data_dir=str(data_dir),
                   load_mac=macs is not None,
                   max_cache_size=max_cache_size or DEFAULT_CACHE_SIZE)
