"""The outcomes benchmark: full size with its targets (slow), and a small run by default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "outcomes.py"


@pytest.mark.slow
def test_outcomes_benchmark_full_size_meets_its_targets() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr


def test_outcomes_benchmark_runs_small() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--n", "3000", "--repeat", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in ("ratio: km scikit-survival", "ratio: km lifelines",
                   "ratio: aj aalen scikit-survival", "ratio: aj delta scikit-survival",
                   "km vs lifelines", "aj aalen vs scikit-survival"):
        assert figure in done.stdout
