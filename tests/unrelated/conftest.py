"""Fixtures for unrelated-donor search: WMDA set-3 subjects (read from ../shared, never
copied), a donor store of its 10,000 donors, and its frequency set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GRIMM, WMDA

PATIENTS = ("P000001", "P000002", "P000003", "P000004", "P000005")


def consensus_rows() -> list[list[str]]:
    """The WMDA consensus for P000001-P000005: BOM removed, truncated last line dropped."""
    text = (WMDA / "consensus-P000001-P000005.txt").read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    rows = [ln.split(";") for ln in lines[:-1]]
    assert all(len(r) == 14 for r in rows)
    return rows


def grimm_patients() -> dict[str, str]:
    import gzip

    with gzip.open(GRIMM / "pat.gl.txt.gz", "rt") as f:
        return {line.split("%", 1)[0]: line.strip() for line in f if "%" in line}


@pytest.fixture(scope="session")
def wmda_fs(reducer):  # type: ignore[no-untyped-def]
    from everydonor.adapters.search.frequencies import read_frequency_file

    return read_frequency_file(WMDA / "freqs.txt", reducer, name="wmda-set3")


@pytest.fixture(scope="session")
def wmda_store(tmp_path_factory: pytest.TempPathFactory, reducer):  # type: ignore[no-untyped-def]
    """The 10,000 WMDA donors as the GRIMM authors expanded them (MACs resolved)."""
    from everydonor.adapters.donorstore import DonorStore

    path: Path = tmp_path_factory.mktemp("wmda-store")
    store = DonorStore.open(path / "store", create=True, release=reducer.release)
    report = store.import_file(GRIMM / "don.gl.txt.gz", reducer)
    assert report.imported == 10_000 and not report.rejected
    return store
