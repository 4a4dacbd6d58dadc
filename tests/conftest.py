"""Shared fixtures. Test data under license restrictions is read from ../shared, never copied."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WMDA = SHARED / "wmda-set3"
GRIMM = SHARED / "hla" / "grimm" / "validation" / "wmda" / "data"
MAC_FILE = (SHARED / "hla" / "Atlas" / "Atlas.MultipleAlleleCodeDictionary.Test.Integration"
            / "Repositories" / "LargeMacDictionary.csv")
#: The Atlas test file starts with seven made-up codes (see shared/data/hla/SOURCES.md §5).
FAKE_ATLAS_CODES = frozenset({"ABC", "DEF", "NUL", "TCE", "XYZ", "YYY", "ZZZ"})


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test session builds its derived tables afresh in its own cache folder."""
    cache = tmp_path_factory.mktemp("everydonor-cache")
    old = os.environ.get("EVERYDONOR_CACHE_DIR")
    os.environ["EVERYDONOR_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("EVERYDONOR_CACHE_DIR", None)
    else:
        os.environ["EVERYDONOR_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def ref(_isolated_cache: Path):  # type: ignore[no-untyped-def]
    from everydonor.adapters.reference.imgt import load_reference

    return load_reference()


@pytest.fixture(scope="session")
def macs():  # type: ignore[no-untyped-def]
    from everydonor.adapters.reference.imgt import read_mac_file

    assert MAC_FILE.is_file(), f"test data missing: {MAC_FILE} (../shared beside the project)"
    return read_mac_file(MAC_FILE, skip_codes=FAKE_ATLAS_CODES)


@pytest.fixture(scope="session")
def reducer(ref, macs):  # type: ignore[no-untyped-def]
    from everydonor.hla.reduction import Reducer

    return Reducer(ref, macs)


@pytest.fixture(scope="session")
def pyard_ard(_isolated_cache: Path, macs):  # type: ignore[no-untyped-def]
    from everydonor.adapters.reference.pyard import load_pyard

    return load_pyard(macs=macs)
