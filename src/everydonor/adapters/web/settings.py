"""The web app's settings: where the registry is, the time-outs, the clock (tests move it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class WebSettings:
    #: Registry URL (None: the embedded SQLite registry at the per-user data path).
    db: str | None = None
    #: SR-04: a session unused this long ends (REDCap's 30 minutes by default).
    idle_timeout: dt.timedelta = dt.timedelta(minutes=30)
    #: SR-04: a session ends this long after sign-in, used or not.
    absolute_timeout: dt.timedelta = dt.timedelta(hours=12)
    #: Cookies carry ``Secure``: browsers send them over HTTPS and to http://127.0.0.1 /
    #: localhost only. Turning this off is for tests of the flag itself.
    secure_cookies: bool = True
    #: A demo registry (``serve --demo``): the banner says so on every page.
    demo: bool = False
    #: IPD-IMGT/HLA release folder and MAC list (None: the bundled release, no MAC list).
    imgt_dir: str | None = None
    mac_file: str | None = None
    #: Largest request body accepted (bytes), SR-17.
    max_body: int = 2_000_000
    #: Sign-in attempts per client address per minute (SR-02 rate limit).
    login_rate_per_minute: int = 20
    clock: Callable[[], dt.datetime] = field(default=utc_now)
