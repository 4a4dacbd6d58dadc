"""Browser tests: the real app served by uvicorn on a free loopback port, on a real SQLite
registry, driven through Debian's chromium by Playwright (``executable_path``; Playwright never
downloads a browser).

Without chromium (or the Playwright package) the browser tests are skipped, saying why —
unless ``CI=true``, where that fails the run: CI must run the browser tests (``scripts/test``
installs chromium through ``scripts/system-deps``).

Every page the tests open is screenshot into ``$EVERYDONOR_SHOTS`` (default: a folder under the
test's temporary directory, printed at the end) for review. Every browser console message is
collected; a Content-Security-Policy violation, an uncaught JavaScript error, a console error
or a 5xx response fails the test.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
import uvicorn

from everydonor.adapters.registry.accounts import Accounts
from everydonor.adapters.registry.store import Registry
from everydonor.adapters.web.app import create_app
from everydonor.adapters.web.settings import WebSettings
from tests.registry.conftest import TEST_KEY
from tests.web.conftest import password_of

CHROMIUM = os.environ.get("EVERYDONOR_CHROMIUM", "/usr/bin/chromium")
#: As tests/web/screenshot.py: no sandbox (containers), nothing fetched from the network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
CENTRE = "PKUPH"
#: Reported to the console by an init script (CDP-injected, so CSP does not block it).
CSP_PROBE = """
document.addEventListener('securitypolicyviolation', function (e) {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')
                + ' at ' + e.sourceFile + ':' + e.lineNumber);
});
"""


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(message: str) -> None:
    if _ci():
        pytest.fail(f"CI=true and {message}: the browser tests must run in CI")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WallClock:
    """The app's clock: real time plus an offset the test moves forward (a fresh TOTP step for
    the second use of a code, as a person waiting half a minute would get)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, **kw: float) -> None:
        self.offset += dt.timedelta(**kw)


@dataclass
class LiveServer:
    base: str
    registry: Registry
    accounts: Accounts
    clock: WallClock
    totp: dict[str, str] = field(default_factory=dict)

    def add_user(self, username: str, role: str, centre: str | None = CENTRE) -> str:
        out = self.accounts.create(username, role=role, centre=centre,
                                   display_name=f"Dr {username.partition('.')[0].title()}",
                                   password=password_of(username), actor="e2e",
                                   now=self.clock())
        if "totp_secret" in out:
            self.totp[username] = out["totp_secret"]
        return username

    def code(self, username: str) -> str:
        """The current TOTP code, computed from the secret as an authenticator app does."""
        return pyotp.TOTP(self.totp[username]).at(self.clock())

    def next_code(self, username: str) -> str:
        """A code of the next time step (a code is accepted once per step)."""
        self.clock.advance(seconds=31)
        return self.code(username)


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The app in uvicorn (a thread) on a fresh SQLite registry at http://127.0.0.1:PORT."""
    monkeypatch.setenv("EVERYDONOR_PSEUDONYM_KEY", TEST_KEY)
    url = f"sqlite:///{tmp_path / 'e2e.sqlite'}"
    registry = Registry(url)
    registry.init(actor="e2e")
    clock = WallClock()
    app = create_app(WebSettings(db=url, clock=clock))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start in uvicorn")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", registry, Accounts(registry), clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        registry.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser)."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"chromium not found at {CHROMIUM} (apt-get install chromium; "
                     "scripts/system-deps)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("EVERYDONOR_SHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Console:
    """What the browser said: console messages, uncaught errors, failed responses."""

    messages: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def on_console(self, msg: Any) -> None:
        text = f"[{msg.type}] {msg.text}"
        self.messages.append(text)
        if "Content Security Policy" in msg.text or "CSP violation" in msg.text:
            self.problems.append(f"CSP: {msg.text}")
        elif msg.type == "error" and not re.match(
                r"Failed to load resource: the server responded with a status of 4\d\d",
                msg.text):
            # A 4xx answer is the app refusing bad input or another centre's object on
            # purpose (a 422 fragment is swapped in inline); the test asserts what is shown.
            self.problems.append(f"console error: {msg.text}")

    def on_page_error(self, error: Any) -> None:
        self.problems.append(f"JavaScript error: {error}")

    def on_response(self, response: Any) -> None:
        if response.status >= 500:
            self.problems.append(f"HTTP {response.status} from {response.url}")


@dataclass
class Pages:
    """One browser page of a test, its console, and numbered screenshots."""

    page: Any
    console: Console
    folder: Path
    prefix: str
    taken: list[Path] = field(default_factory=list)

    def check(self) -> None:
        """Fail now if the browser has reported a problem so far."""
        assert not self.console.problems, ("the browser reported:\n"
                                           + "\n".join(self.console.problems))

    def shot(self, name: str) -> Path:
        """A full-page screenshot (after checking the console)."""
        self.check()
        target = self.folder / f"{self.prefix}-{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        self.taken.append(target)
        self.check()
        return target


@pytest.fixture
def page(browser: Any, shots_dir: Path, request: pytest.FixtureRequest) -> Iterator[Pages]:
    """A fresh browser context (no cookies) and page; fails the test on any CSP violation,
    JavaScript error, console error or 5xx response seen while it ran."""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  accept_downloads=True, locale="en-GB")
    context.add_init_script(CSP_PROBE)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    console = Console()
    pg.on("console", console.on_console)
    pg.on("pageerror", console.on_page_error)
    pg.on("response", console.on_response)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    pages = Pages(pg, console, shots_dir, name)
    try:
        yield pages
    finally:
        context.close()
        print(f"\nscreenshots ({len(pages.taken)}) in {shots_dir}")
        for path in pages.taken:
            print(f"  {path.name}")
    assert not console.problems, "the browser reported:\n" + "\n".join(console.problems)


def sign_in(pages: Pages, live: LiveServer, username: str) -> None:
    """Sign in through the forms: password, then the TOTP code where the role needs one."""
    page = pages.page
    page.goto(f"{live.base}/login")
    pages.shot("login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password_of(username))
    page.locator("main button[type=submit]").click()
    if username in live.totp:
        page.wait_for_url(f"{live.base}/login/totp")
        page.get_by_label("6-digit code").fill(live.code(username))
        pages.shot("totp")
        page.locator("main button[type=submit]").click()
    page.wait_for_url(f"{live.base}/patients**")
