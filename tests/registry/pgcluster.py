"""A throwaway PostgreSQL cluster for the registry tests (Debian's binaries, 127.0.0.1 only).

The cluster runs as an unprivileged user (PostgreSQL refuses to run as root): when the tests
run as root the data folder is handed to ``everydonor-pg`` if that system user exists, else
``nobody``, and ``initdb``/``pg_ctl`` run through ``runuser``. It lives in a fresh folder under
the system temp dir (not pytest's, which root keeps 0700), listens on a free port of 127.0.0.1
with its socket in that folder, trusts local connections, and is stopped and removed at the
end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "everydonor"


def find_bindir() -> Path | None:
    """The folder of ``pg_ctl``: ``EVERYDONOR_TEST_PG_BINDIR`` (``none``: act as if absent),
    on PATH, else the newest /usr/lib/postgresql/*/bin."""
    forced = os.environ.get("EVERYDONOR_TEST_PG_BINDIR")
    if forced:
        return None if forced == "none" else Path(forced)
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("everydonor-pg", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged user (everydonor-pg, nobody) "
                       "to run PostgreSQL as")


@dataclass
class PgCluster:
    bindir: Path
    root: Path
    port: int
    user: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else list(args)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        subprocess.run(self._cmd(str(self.bindir / "initdb"), "-D", str(self.data), "-U",
                                 SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale",
                                 "--no-sync"),
                       check=True, capture_output=True, cwd=self.root)
        options = (f"-k {self.root} -h 127.0.0.1 -p {self.port} -c fsync=off "
                   "-c full_page_writes=off -c max_connections=50")
        subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                                 str(self.root / "server.log"), "-o", options, "-w", "-t", "60",
                                 "start"), check=True, capture_output=True, cwd=self.root)

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run([str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v",
                              "ON_ERROR_STOP=1", "-c", sql, self.url(database)],
                             check=True, capture_output=True, text=True)
        return out.stdout

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                                     "immediate", "-w", "stop"), check=False, capture_output=True,
                           cwd=self.root, timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(bindir: Path) -> PgCluster:
    root = Path(tempfile.mkdtemp(prefix="everydonor-pg-"))
    os.chmod(root, 0o700)
    cluster = PgCluster(bindir, root, _free_port(), _run_as())
    for attempt in range(3):
        try:
            cluster.start()
            return cluster
        except subprocess.CalledProcessError as exc:
            if attempt == 2:
                log = (root / "server.log")
                detail = log.read_text() if log.is_file() else ""
                shutil.rmtree(root, ignore_errors=True)
                raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r} {detail}") from exc
            shutil.rmtree(cluster.data, ignore_errors=True)
            cluster.port = _free_port()
            time.sleep(0.5)
    raise AssertionError("unreachable")
