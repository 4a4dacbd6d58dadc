"""The HML import benchmark: full size with its targets (slow), and a small run by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "hml_import.py"


@pytest.mark.slow
def test_hml_benchmark_full_size_meets_its_targets() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check: ok" in done.stdout


def test_hml_benchmark_runs_small() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--sizes", "50", "300"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in ("samples: 50 ", "samples: 300 ", "stream ", "import ", "dom_import ",
                   "dom_extract ", "ratio (time): dom_import/import",
                   "ratio (peak memory): dom_import/import"):
        assert figure in done.stdout, figure
