"""Registry fixtures: every test that takes ``db_url`` runs on SQLite (a temporary file) and on
PostgreSQL (a throwaway cluster on 127.0.0.1, started once per session; ``pgcluster.py``).

Without PostgreSQL binaries the PostgreSQL runs are skipped, saying why — unless ``CI=true``,
where a missing PostgreSQL fails the run: CI must test both databases.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.registry import pgcluster

TEST_KEY = "registry-test-key-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [*sorted((ROOT / "examples").glob("0*.yaml")), ROOT / "examples" / "my-case.yaml",
            ROOT / "src" / "everydonor" / "data" / "examples" / "case.json"]


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.PgCluster]:
    bindir = pgcluster.find_bindir()
    if bindir is None:
        message = ("PostgreSQL binaries not found (pg_ctl on PATH or /usr/lib/postgresql/*/bin;"
                   " apt-get install postgresql)")
        if _ci():
            pytest.fail(f"CI=true and {message}: the registry must be tested on PostgreSQL")
        pytest.skip(message)
    cluster = pgcluster.start_cluster(bindir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_admin(pg_cluster: pgcluster.PgCluster) -> Iterator[Any]:
    import psycopg

    conn = psycopg.connect(pg_cluster.url(), autocommit=True)
    yield conn
    conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite'}"
    cluster = request.getfixturevalue("pg_cluster")
    admin = request.getfixturevalue("pg_admin")
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return str(cluster.url(name))


@pytest.fixture
def other_db_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A second empty database of the same kind (restore drills)."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.sqlite'}"
    admin = request.getfixturevalue("pg_admin")
    cluster = request.getfixturevalue("pg_cluster")
    name = f"r_{uuid.uuid4().hex[:16]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return str(cluster.url(name))


@pytest.fixture(autouse=True)
def _registry_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test touches the real per-user folders or a configured database."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("EVERYDONOR_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.delenv("EVERYDONOR_DB", raising=False)


@pytest.fixture
def registry(db_url: str, reducer: Any) -> Iterator[Any]:
    from everydonor.adapters.registry.store import Registry

    reg = Registry(db_url, reducer=reducer)
    reg.init(actor="tester")
    try:
        yield reg
    finally:
        reg.close()


def load(path: Path) -> Any:
    from everydonor.adapters.inputs.casefile import load_case_data

    return load_case_data(path)
