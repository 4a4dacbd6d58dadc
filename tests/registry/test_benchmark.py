"""The registry benchmark at full size, its targets checked (slow: run with -m slow)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.registry.conftest import ROOT


@pytest.mark.slow
def test_registry_store_benchmark_meets_its_targets() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "registry_store.py"),
                           "--check"], cwd=ROOT, capture_output=True, text=True, timeout=1800,
                          check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ratio: store" in done.stdout and "targets missed" not in done.stdout


def test_registry_store_benchmark_runs_small() -> None:
    """The same script on a tiny registry: it runs and reports every figure."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "registry_store.py"),
                           "--cases", "40", "--baseline", "5", "--patients", "200"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in ("add 40 cases", "naive baseline", "ratio: store", "look-up by UPN at 200",
                   "patient list (first 50 by UPN, with counts) at 200"):
        assert figure in done.stdout
