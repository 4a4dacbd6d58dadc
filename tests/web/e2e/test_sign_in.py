"""Signing in through the browser: password then TOTP (a physician), password only (data
entry); a wrong code is refused on the page; the policy on a missing chromium (skip / CI fail)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.web.conftest import ROOT
from tests.web.e2e.conftest import LiveServer, Pages, sign_in


def test_physician_signs_in_with_password_and_totp(live: LiveServer, page: Pages) -> None:
    user = live.add_user("wang.physician", "physician")
    sign_in(page, live, user)
    assert page.page.get_by_role("link", name="Patients").is_visible()
    assert page.page.get_by_text("Dr Wang").is_visible()
    page.shot("patients-empty")


def test_a_wrong_totp_code_is_refused_on_the_page(live: LiveServer, page: Pages) -> None:
    user = live.add_user("li.physician", "physician")
    p = page.page
    p.goto(f"{live.base}/login")
    p.get_by_label("Username").fill(user)
    p.get_by_label("Password").fill(f"pw-{user}-0123456789")
    p.locator("main button[type=submit]").click()
    p.wait_for_url(f"{live.base}/login/totp")
    right = live.code(user)
    p.get_by_label("6-digit code").fill("000000" if right != "000000" else "111111")
    p.locator("main button[type=submit]").click()
    assert p.get_by_role("alert").inner_text().startswith("the code is wrong")
    page.shot("totp-refused")
    assert p.url == f"{live.base}/login/totp"


def test_data_entry_signs_in_with_the_password_only(live: LiveServer, page: Pages) -> None:
    user = live.add_user("zhao.entry", "data_entry")
    sign_in(page, live, user)
    assert page.page.url == f"{live.base}/patients"


def _pytest(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CI"}
    environment.update(env, EVERYDONOR_CHROMIUM="/nonexistent/chromium")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "tests/web/e2e/test_sign_in.py::"
                           "test_data_entry_signs_in_with_the_password_only"],
                          cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=300, check=False)


def test_missing_chromium_is_skipped_with_its_reason_outside_ci() -> None:
    done = _pytest()
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout and "chromium not found at /nonexistent" in done.stdout


def test_missing_chromium_fails_in_ci() -> None:
    done = _pytest(CI="true")
    assert done.returncode == 1, done.stdout
    assert "CI=true and chromium not found" in done.stdout
