"""The web load benchmark: full size with its targets (slow: run with -m slow), and a small run
in the default suite (5 users for a few seconds: it signs in, loads, stops by itself and
reports every figure)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "web_load.py"


@pytest.mark.slow
def test_web_load_benchmark_meets_its_targets(tmp_path: Path) -> None:
    out = tmp_path / "web_load.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--check", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "targets met" in done.stdout


def test_web_load_benchmark_runs_small(tmp_path: Path) -> None:
    out = tmp_path / "web_load.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--users", "5", "--seconds", "3",
                           "--baseline-seconds", "2", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in ("static baseline /static/style.css", "patient page /patients/LOAD-010",
                   "ranking page (10 members)", "first ranking", "ratio: static baseline",
                   "sign-in of 5 users"):
        assert figure in done.stdout
    report = json.loads(out.read_text())
    rows = {r["kind"]: r for r in report["results"]}
    assert set(rows) == {"static", "patient", "ranking"}
    assert report["setup"]["family_members"] == 10
    for row in rows.values():
        assert row["requests"] > 0 and row["errors"] == 0, row
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert rows["ranking"]["bytes"] > rows["static"]["bytes"] / 100
