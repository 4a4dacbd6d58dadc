"""Backup and restore (SR-19): SQLite's online backup API; ``pg_dump``/``pg_restore`` for
PostgreSQL (found beside ``pg_ctl``, on PATH, or under /usr/lib/postgresql/*/bin).

A backup is audited first (so the file holds its own ``registry.backup`` entry), written to a
temporary name and renamed only when complete, then checked: its audit chain is verified. A
restore goes only into an empty database; the restored chain is verified before the
``registry.restore`` entry is appended.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import URL

from everydonor.adapters.registry import audit
from everydonor.errors import InputError


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore``: beside pg_ctl, on PATH, or the newest Debian install."""
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        beside = Path(os.path.realpath(pg_ctl)).parent / name
        if beside.is_file():
            return str(beside)
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise InputError(f"{name} not found: install PostgreSQL's client programs "
                     "(apt-get install postgresql-client)", field=name)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InputError(f"{what} failed: {done.stderr.strip()[:500]}", field=what,
                         value=" ".join(cmd[:1]))


def backup(registry: Any, target: Path, *, actor: str, reason: str) -> dict[str, Any]:
    """Back the registry up into ``target`` (a new file)."""
    from everydonor.adapters.registry.store import Registry

    assert isinstance(registry, Registry)
    if target.exists():
        raise InputError(f"{str(target)!r} exists: a backup never overwrites a file",
                         field="FILE", value=str(target))
    if not target.parent.is_dir():
        raise InputError(f"folder {str(target.parent)!r} does not exist", field="FILE",
                         value=str(target))
    with registry._write(actor, reason) as (s, ctx):
        entry = audit.append(s, now=ctx.now, actor=ctx.actor, action="registry.backup",
                             object_type="registry", object_id="registry", reason=ctx.reason,
                             payload={"file": target.name}, request_id=ctx.request_id)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if registry.is_sqlite:
            src = sqlite3.connect(str(registry.url.database))
            dst = sqlite3.connect(str(tmp))
            try:
                with dst:
                    src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                dst.close()
                src.close()
        else:
            uri, env = _libpq(registry.url)
            _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  f"--file={tmp}", uri], env, "pg_dump")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return {"file": str(target), "bytes": target.stat().st_size,
            "sha256": _sha256_file(target), "audit_entries": entry["seq"],
            "format": "sqlite" if registry.is_sqlite else "pg_dump-custom"}


def restore(registry: Any, source: Path, *, actor: str, reason: str) -> dict[str, Any]:
    """Restore a backup into the registry's database, which must be empty."""
    from everydonor.adapters.registry.store import Registry

    assert isinstance(registry, Registry)
    if not source.is_file():
        raise InputError(f"no backup file {str(source)!r}", field="FILE", value=str(source))
    tables = inspect(registry.engine).get_table_names()
    if tables:
        raise InputError(f"the database {registry.where} is not empty ({len(tables)} tables): "
                         "restore goes into an empty database only", field="--db",
                         value=registry.where)
    if registry.is_sqlite:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            names = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE "
                                               "type = 'table'")}
            if "audit_log" not in names or "alembic_version" not in names:
                raise InputError(f"{str(source)!r} is not a registry backup", field="FILE",
                                 value=str(source))
            dst = sqlite3.connect(str(registry.url.database))
            try:
                with dst:
                    src.backup(dst)
            finally:
                dst.close()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{str(source)!r} is not an SQLite registry backup: {exc}",
                             field="FILE", value=str(source)) from None
        finally:
            src.close()
    else:
        uri, env = _libpq(registry.url)
        _run([pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
              "--single-transaction", f"--dbname={uri}", str(source)], env, "pg_restore")
    registry._schema_checked = False
    report = registry.verify_audit()
    if not report["intact"]:
        raise InputError(f"the restored audit chain is broken at entry "
                         f"{report['first_broken']}: {report['problem']}", field="FILE",
                         value=str(source))
    sha = _sha256_file(source)
    with registry._write(actor, reason) as (s, ctx):
        entry = audit.append(s, now=ctx.now, actor=ctx.actor, action="registry.restore",
                             object_type="registry", object_id="registry", reason=ctx.reason,
                             payload={"file": source.name, "sha256": sha,
                                      "entries_restored": report["entries"]},
                             request_id=ctx.request_id)
    return {"file": str(source), "sha256": sha, "audit_entries_restored": report["entries"],
            "audit_entries": entry["seq"], "database": registry.where}
