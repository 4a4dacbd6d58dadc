"""py-ard builds its database from the local release with no network at all."""

import socket
from pathlib import Path
from typing import Any

import pytest

from everydonor.adapters.reference.imgt import open_release
from everydonor.adapters.reference.pyard import load_pyard, offline_pyard
from everydonor.errors import ReferenceDataError


def test_build_opens_no_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network use is forbidden in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    ard = load_pyard(cache_dir=tmp_path)
    assert ard.redux("A*01:01:01:01", "G") == "A*01:01:01G"
    assert ard.redux("B*15:01:01:01", "lgx") == "B*15:01"
    [db_file] = list(tmp_path.glob("imgt-3.58.0-*/pyard/no-mac/pyard-3580.sqlite3"))
    # py-ard re-reads rel_dna_ser.txt on every construction for releases before 3.64 unless
    # the database is completed: constructing it again, outside the guard, must stay offline.
    from pyard.ard import ARD

    again = ARD(imgt_version="3580", data_dir=str(db_file.parent), load_mac=False)
    assert again.redux("DRB1*03:01", "lgx") == "DRB1*03:01"
    assert attempts == []


def test_unknown_url_is_refused_and_patches_are_restored() -> None:
    from pyard.loader import g_group

    original = g_group.urlopen
    with offline_pyard(open_release()):
        with pytest.raises(ReferenceDataError, match="does not serve"):
            g_group.urlopen("https://example.org/other.txt")
        from pyard.loader import mac_codes
        with pytest.raises(ReferenceDataError, match="--mac"):
            mac_codes.load_mac_codes()
    assert g_group.urlopen is original


def test_mac_list_is_loaded_into_pyard(pyard_ard) -> None:  # type: ignore[no-untyped-def]
    assert pyard_ard.redux("A*01:AB", "lgx") == "A*01:01/A*01:02"
