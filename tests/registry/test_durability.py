"""Durability and concurrency on both databases: a writer killed with SIGKILL mid-transaction
loses nothing committed and leaves nothing half-written; two writers at once both succeed
(or one is told to retry) and the audit chain stays one chain; a held lock gives the named,
retryable RegistryBusy (exit 75)."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from everydonor.adapters.registry.commands import EXIT_BUSY, main
from everydonor.adapters.registry.store import Registry, RegistryBusy
from everydonor.case import parse_case
from tests.registry.conftest import ROOT
from tests.registry.writer import expected_people, synthetic


def _writer(db_url: str, prefix: str, batches: int, size: int, *extra: str
            ) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.registry.writer", db_url, prefix,
                             str(batches), str(size), *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_whole(reg: Registry, committed: list[list[str]], in_flight: list[str]) -> None:
    """Every committed case is there, whole; the batch in flight is all there or not at all;
    nothing else; the audit chain is intact."""
    listed = {p["upn"]: p for p in reg.list_patients(limit=1000)["patients"]}
    want = {u for batch in committed for u in batch}
    present_in_flight = [u for u in in_flight if u in listed]
    assert present_in_flight in ([], in_flight), "a batch was half-written"
    assert set(listed) == want | set(present_in_flight)
    for upn, row in listed.items():
        n = int(upn.rsplit("-", 1)[1])
        assert row["persons"] == expected_people(n), upn
    report = reg.verify_audit()
    assert report["intact"], report
    # one case.add entry per stored case (+ init and the exports), each written with its case
    with reg.engine.connect() as conn:
        added = {r[0] for r in conn.execute(text(
            "SELECT object_id FROM audit_log WHERE action = 'case.add'"))}
    assert added == set(listed)


def test_sigkill_mid_transaction_loses_nothing_committed(db_url: str) -> None:
    rng = random.Random(20261125)
    today = dt.date(2026, 11, 25)
    reg = Registry(db_url)
    reg.init(actor="tester")
    committed: list[list[str]] = []
    for r in range(3):
        proc = _writer(db_url, f"K{r}", 40, 8)
        assert proc.stdout is not None
        wanted = rng.randint(1, 4)
        mine: list[list[str]] = []
        for line in proc.stdout:
            if line.startswith("committed "):
                mine.append(line.split()[1].split(","))
                if len(mine) >= wanted:
                    break
        time.sleep(rng.uniform(0.0, 0.15))  # somewhere inside a later transaction
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL  # killed, not finished
        mine.extend(line.split()[1].split(",") for line in proc.stdout.read().splitlines()
                    if line.startswith("committed "))
        committed.extend(mine)
        last = int(mine[-1][-1].rsplit("-", 1)[1])
        in_flight = [f"K{r}-{n:04d}" for n in range(last + 1, last + 9)]
        _check_whole(reg, committed, in_flight)
        committed.append([u for u in in_flight
                          if u in {p["upn"] for p in reg.list_patients(limit=1000)["patients"]}])
        upn = mine[-1][0]
        n = int(upn.rsplit("-", 1)[1])
        assert parse_case(reg.export_case(upn, actor="t"), today=today) == parse_case(
            synthetic(n), today=today)
        # the registry takes writes again at once
        reg.add_case(synthetic(999), actor="tester", upn=f"AFTER{r}-0999")
        committed.append([f"AFTER{r}-0999"])
        _check_whole(reg, committed, [])
    reg.close()


def test_two_concurrent_writers_both_succeed(db_url: str) -> None:
    reg = Registry(db_url)
    reg.init(actor="tester")
    writers = [_writer(db_url, prefix, 12, 1, "--retry") for prefix in ("A", "B")]
    outputs = [w.communicate(timeout=300) for w in writers]
    for w, (out, err) in zip(writers, outputs, strict=True):
        assert w.returncode == 0, err
        assert out.count("committed ") == 12
    listed = reg.list_patients(limit=100)
    assert listed["total"] == 24
    report = reg.verify_audit()
    assert report["intact"] and report["entries"] == 25
    with reg.engine.connect() as conn:
        actors = [r[0] for r in conn.execute(text("SELECT actor FROM audit_log ORDER BY seq"))]
    assert actors.count("writer-A") == 12 and actors.count("writer-B") == 12
    reg.close()


def test_a_held_lock_gives_a_retryable_error(db_url: str, monkeypatch: Any,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy.orm import Session

    from everydonor.adapters.registry import audit

    reg = Registry(db_url)
    reg.init(actor="tester")
    monkeypatch.setenv("EVERYDONOR_DB_TIMEOUT", "0.5")
    holder = Registry(db_url)
    release = threading.Event()
    held = threading.Event()

    def hold() -> None:
        with holder.engine.connect() as conn:
            conn = conn.execution_options(registry_write=True)
            with conn.begin(), Session(bind=conn) as s:
                audit.lock_head(s)
                held.set()
                release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        blocked = Registry(db_url)
        started = time.monotonic()
        with pytest.raises(RegistryBusy, match="retry"):
            blocked.add_case(synthetic(1), actor="tester", upn="BLOCKED")
        assert time.monotonic() - started < 5
        capsys.readouterr()
        status = main(["registry", "add", str(ROOT / "examples" / "my-case.yaml"), "--db",
                       db_url])
        assert status == EXIT_BUSY and "retry" in capsys.readouterr().err
    finally:
        release.set()
        thread.join()
    blocked.add_case(synthetic(1), actor="tester", upn="BLOCKED")  # the same call, retried
    assert reg.list_patients()["total"] == 1 and reg.verify_audit()["intact"]
    for r in (reg, holder, blocked):
        r.close()
