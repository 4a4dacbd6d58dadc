"""Where the registry lives and how it is opened.

The database URL is chosen in this order: ``--db URL``, the ``EVERYDONOR_DB`` environment
variable, then the embedded default, an SQLite file ``registry.sqlite`` in the per-user data
folder (``$XDG_DATA_HOME/everydonor`` on Linux, via platformdirs). ``postgresql://…`` URLs use
psycopg 3. SQLite is opened in WAL mode with foreign keys on, ``synchronous=FULL`` (a committed
case survives a power cut, not only a killed process) and a busy timeout; every write
transaction starts with ``BEGIN IMMEDIATE`` so that two writers queue instead of deadlocking.

The pseudonym key (SR-12) is configuration, never data: ``EVERYDONOR_PSEUDONYM_KEY``, else the
key file ``pseudonym.key`` in the per-user config folder, created with mode 0600 by
``registry init``. The database keeps only a check value (an HMAC of a fixed text), so that a
wrong key is refused instead of silently producing different pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from everydonor.errors import InputError

APP_NAME = "everydonor"
DB_ENV = "EVERYDONOR_DB"
KEY_ENV = "EVERYDONOR_PSEUDONYM_KEY"
KEY_FILE_NAME = "pseudonym.key"
#: Seconds a writer waits for another writer's lock before giving up with a retryable error
#: (SQLite busy timeout, PostgreSQL lock_timeout); ``EVERYDONOR_DB_TIMEOUT`` overrides it.
TIMEOUT_ENV = "EVERYDONOR_DB_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 10.0
_KEY_CHECK_TEXT = b"everydonor registry pseudonym key check v1"


def default_database_path() -> Path:
    """``registry.sqlite`` in the per-user data folder (honours ``XDG_DATA_HOME``)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "registry.sqlite"


def default_key_path() -> Path:
    """``pseudonym.key`` in the per-user config folder (honours ``XDG_CONFIG_HOME``)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / KEY_FILE_NAME


def resolve_url(db: str | None = None) -> URL:
    """The registry URL: ``db`` (``--db``), else ``EVERYDONOR_DB``, else the per-user SQLite file.

    A plain path is read as an SQLite file; ``postgresql://`` selects psycopg 3.
    """
    text = db or os.environ.get(DB_ENV) or None
    if text is None:
        return URL.create("sqlite", database=str(default_database_path()))
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise InputError(f"not a database URL: {exc}", field="--db", value=text) from None
    if url.get_backend_name() in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() != "sqlite":
        raise InputError("the registry runs on SQLite or PostgreSQL (sqlite:///FILE or "
                         "postgresql://USER@HOST:PORT/DB)", field="--db", value=text)
    return url


def redacted(url: URL) -> str:
    """The URL as it may be printed: the password hidden."""
    return url.render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def lock_timeout() -> float:
    """Seconds to wait for another writer (``EVERYDONOR_DB_TIMEOUT``, default 10)."""
    text = os.environ.get(TIMEOUT_ENV)
    try:
        value = float(text) if text else DEFAULT_LOCK_TIMEOUT_S
    except ValueError:
        raise InputError("expected seconds", field=TIMEOUT_ENV, value=text) from None
    if not 0 < value <= 3600:
        raise InputError("expected 0 < seconds <= 3600", field=TIMEOUT_ENV, value=text)
    return value


def make_engine(url: URL) -> Engine:
    """An engine with the registry's connection settings (see the module docstring)."""
    timeout = lock_timeout()
    if is_sqlite(url):
        path = url.database
        if not path or path == ":memory:":
            raise InputError("the registry needs an SQLite file, not an in-memory database",
                             field="--db", value=redacted(url))
        parent = Path(path).expanduser().parent
        if not parent.is_dir():
            parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": timeout})
        _sqlite_settings(engine, int(timeout * 1000))
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={
        "options": f"-c lock_timeout={int(timeout * 1000)} -c timezone=UTC"})


def _sqlite_settings(engine: Engine, busy_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling is switched off; BEGIN is issued below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction takes the write lock at once (queued by busy_timeout); a read
        # stays deferred, so readers never block writers (WAL).
        if conn.get_execution_options().get("registry_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


@dataclass(frozen=True, slots=True)
class PseudonymKey:
    """The registry's HMAC key (SR-12) and where it came from."""

    secret: bytes
    source: str

    def pseudonym(self, *parts: str) -> str:
        """HMAC-SHA256 over the parts (unit-separated): stable, not reversible without the key."""
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def check_value(self) -> str:
        return hmac.new(self.secret, _KEY_CHECK_TEXT, hashlib.sha256).hexdigest()


def load_key(*, required: bool = True) -> PseudonymKey | None:
    """The key from ``EVERYDONOR_PSEUDONYM_KEY`` or the per-user key file."""
    text = os.environ.get(KEY_ENV)
    if text:
        if len(text) < 16:
            raise InputError(f"{KEY_ENV} is too short (at least 16 characters)", field=KEY_ENV,
                             value=f"{len(text)} characters")
        return PseudonymKey(text.encode("utf-8"), KEY_ENV)
    path = default_key_path()
    if path.is_file():
        secret = path.read_text(encoding="ascii").strip()
        try:
            return PseudonymKey(bytes.fromhex(secret), str(path))
        except ValueError:
            raise InputError("the pseudonym key file is not hex text", field="key file",
                             value=str(path)) from None
    if required:
        raise InputError(f"no pseudonym key: set {KEY_ENV}, or run `everydonor registry init` "
                         f"to create {path}", field=KEY_ENV)
    return None


def create_key_file() -> Path | None:
    """Create the per-user key file (0600) unless a key is configured; the path if created."""
    if os.environ.get(KEY_ENV) or default_key_path().is_file():
        return None
    path = default_key_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return path
