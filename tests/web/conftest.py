"""Web app fixtures: the real app on a real registry (SQLite file; PostgreSQL where a test asks
for ``db_url``), a movable clock, accounts of every role in two centres, and signed-in clients.

Clients talk HTTPS to the in-process app (``https://testserver``) so that ``Secure`` cookies are
sent as a browser would send them.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from everydonor.adapters.registry.accounts import ROLES, TOTP_ROLES, Accounts
from everydonor.adapters.registry.store import Registry
from everydonor.adapters.web.app import create_app
from everydonor.adapters.web.settings import WebSettings
from tests.registry.conftest import (  # noqa: F401  (fixtures)
    TEST_KEY,
    _registry_env,
    db_url,
    pg_admin,
    pg_cluster,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CENTRE_A = "PKUPH"
CENTRE_B = "OTHER"


def password_of(username: str) -> str:
    return f"pw-{username}-0123456789"


class Clock:
    """The app's clock: starts at a fixed time, moved by tests (time-outs, lock-out, TOTP)."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 3, 9, 0, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


@dataclass
class WebEnv:
    app: Any
    registry: Registry
    accounts: Accounts
    clock: Clock
    totp: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)

    def add_user(self, username: str, role: str, centre: str | None) -> None:
        out = self.accounts.create(username, role=role, centre=centre,
                                   display_name=f"Dr {username.title()}",
                                   password=password_of(username), actor="fixture",
                                   now=self.clock())
        if "totp_secret" in out:
            self.totp[username] = out["totp_secret"]

    def code(self, username: str) -> str:
        return pyotp.TOTP(self.totp[username]).at(self.clock())

    def login(self, username: str, client: TestClient | None = None) -> TestClient:
        """A client signed in fully as ``username`` (password, then TOTP where needed)."""
        c = client or self.client()
        page = c.get("/login")
        token = csrf_of(page.text)
        r = c.post("/login", data={"username": username, "password": password_of(username),
                                   "csrf_token": token})
        assert r.status_code == 303, r.text
        if r.headers["location"] == "/login/totp":
            page = c.get("/login/totp")
            r = c.post("/login/totp", data={"code": self.code(username),
                                            "csrf_token": csrf_of(page.text)})
            assert r.status_code == 303, r.text
            self.clock.advance(seconds=31)  # the next code is a new time step
        assert r.headers["location"] == "/patients"
        return c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def user_name(role: str, centre: str | None) -> str:
    return f"{role.replace('_', '-')}.{(centre or 'all').lower()}"


def make_env(url: str) -> WebEnv:
    from everydonor.adapters.inputs.casefile import load_case_data

    reg = Registry(url)
    reg.init(actor="fixture")
    clock = Clock()
    app = create_app(WebSettings(db=url, clock=clock))
    env = WebEnv(app, reg, Accounts(reg), clock)
    for role in ROLES:
        if role == "system_admin":
            env.add_user(user_name(role, None), role, None)
        else:
            env.add_user(user_name(role, CENTRE_A), role, CENTRE_A)
            env.add_user(user_name(role, CENTRE_B), role, CENTRE_B)
    for upn, name, centre in (("A-001", "01-matched-sibling-and-haplo-siblings.yaml", CENTRE_A),
                              ("A-002", "04-donor-specific-antibodies.yaml", CENTRE_A),
                              ("B-001", "03-older-patient-with-children.yaml", CENTRE_B)):
        reg.add_case(load_case_data(str(EXAMPLES / name)), actor="fixture", upn=upn,
                     centre=centre)
        env.patients[upn] = centre
    return env


@dataclass(frozen=True)
class _Template:
    path: Path
    totp: dict[str, str]
    patients: dict[str, str]


@pytest.fixture(scope="session")
def _web_template(tmp_path_factory: pytest.TempPathFactory) -> _Template:
    """The accounts (argon2 hashing is slow on purpose) and patients are built once; each test
    gets its own copy of the file (SQLite), so tests stay independent."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("web-template")
    mp.setenv("EVERYDONOR_PSEUDONYM_KEY", TEST_KEY)
    mp.setenv("XDG_DATA_HOME", str(folder / "xdg-data"))
    mp.setenv("XDG_CONFIG_HOME", str(folder / "xdg-config"))
    mp.delenv("EVERYDONOR_DB", raising=False)
    try:
        env = make_env(f"sqlite:///{folder / 'web.sqlite'}")
        env.registry.close()
    finally:
        mp.undo()
    return _Template(folder / "web.sqlite", dict(env.totp), dict(env.patients))


@pytest.fixture
def web(tmp_path: Path, _web_template: _Template) -> Iterator[WebEnv]:
    """The app on a fresh SQLite registry with accounts of every role in two centres and three
    example patients (A-001, A-002 of PKUPH; B-001 of OTHER)."""
    target = tmp_path / "web.sqlite"
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(_web_template.path) + suffix)
        if source.exists():
            shutil.copyfile(source, str(target) + suffix)
    url = f"sqlite:///{target}"
    reg = Registry(url)
    clock = Clock()
    env = WebEnv(create_app(WebSettings(db=url, clock=clock)), reg, Accounts(reg), clock,
                 totp=dict(_web_template.totp), patients=dict(_web_template.patients))
    yield env
    env.registry.close()


@pytest.fixture
def web_db(db_url: str) -> Iterator[WebEnv]:  # noqa: F811
    """As ``web``, on SQLite and on PostgreSQL."""
    env = make_env(db_url)
    yield env
    env.registry.close()


__all__ = ["CENTRE_A", "CENTRE_B", "TOTP_ROLES", "WebEnv", "csrf_of", "password_of",
           "user_name"]
