"""Take screenshots of pages as a signed-in demo user (``scripts/web-screenshot``).

Starts the app on a fresh demo registry (``serve --demo``'s), on a free loopback port, signs in
through Debian's chromium driven by Playwright (password, then the TOTP code where the role
needs one) and saves one full-page PNG per path.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from pathlib import Path

import pyotp
import uvicorn

from everydonor.adapters.web.app import create_app
from everydonor.adapters.web.demo import build_demo
from everydonor.adapters.web.settings import WebSettings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: str, *, demo: bool = True) -> tuple[uvicorn.Server, str]:
    app = create_app(WebSettings(db=db, demo=demo))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def sign_in(page: object, base: str, username: str, password: str, secret: str | None) -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    if secret:
        page.wait_for_url(f"{base}/login/totp")  # type: ignore[attr-defined]
        page.fill("input[name=code]", pyotp.TOTP(secret).now())  # type: ignore[attr-defined]
        page.click("main button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/patients**")  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--user", default="demo.physician")
    ap.add_argument("--out", default="/tmp/everydonor-shots")
    ap.add_argument("--lang", choices=["en", "zh"], default="en")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args(argv)
    db, accounts, _ = build_demo()
    account = next((a for a in accounts if a["username"] == args.user), None)
    if account is None:
        print(f"no demo account {args.user!r}: "
              f"{', '.join(a['username'] for a in accounts)}", file=sys.stderr)
        return 2
    server, base = start_server(db)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": 900})
            if args.lang != "en":
                page.goto(f"{base}/lang/{args.lang}?next=/login")
            sign_in(page, base, account["username"], account["password"],
                    account.get("totp_secret"))
            for path in args.paths:
                page.goto(base + path)
                name = path.strip("/").replace("/", "_").replace("?", "_") or "root"
                target = out / f"{name}.{args.lang}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target)
            browser.close()
    finally:
        server.should_exit = True
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
