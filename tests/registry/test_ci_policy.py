"""Without PostgreSQL the PostgreSQL runs are skipped with the reason; with CI=true they fail."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.registry.conftest import ROOT

TARGET = ("tests/registry/test_store.py::"
          "test_not_a_registry_and_old_schema_are_refused[postgresql]")


def _pytest(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CI"}
    environment.update(env, EVERYDONOR_TEST_PG_BINDIR="none")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           TARGET], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=300, check=False)


def test_missing_postgresql_is_skipped_with_its_reason_outside_ci() -> None:
    done = _pytest()
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout and "PostgreSQL binaries not found" in done.stdout


def test_missing_postgresql_fails_in_ci() -> None:
    done = _pytest(CI="true")
    assert done.returncode == 1, done.stdout
    assert "CI=true and PostgreSQL binaries not found" in done.stdout
