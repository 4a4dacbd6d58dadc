"""Web load: 50 signed-in users on loopback opening patient and ranking pages, vs a static file.

The app runs in uvicorn, one process (as ``everydonor serve`` runs it), on a fresh SQLite
registry holding the ten-member family ``examples/08-ten-member-family.yaml`` (patient and nine
relatives, all typed) and the other example families. The load generator is a separate process
(httpx AsyncClient, one connection per user) so the two do not share a GIL; on this 2-core
machine they share the two cores.

``--users`` users (default 50; accounts of the HLA-laboratory role, which signs in with the
password alone) sign in through the real forms (GET /login, POST /login with the CSRF token),
then, closed loop (each user sends its next request as soon as the last one answered, after
``--think`` seconds, default 0: the heaviest load 50 users can make):

1. baseline, ``--baseline-seconds`` (default: as ``--seconds``): every user fetches
   ``/static/style.css`` — the named baseline, a response served without the app's work (no
   session, no database, no template; the same server, middleware and connection handling);
2. app, ``--seconds`` (default 60): every user alternates the patient page
   ``/patients/{upn}`` and the ranking page ``/patients/{upn}/ranking?rules=beijing`` of the
   ten-member family.

Both phases stop by themselves. Reported for each kind: requests, errors (any answer other
than 200, or a failed request), requests/s, p50/p95/p99/max latency (client-side, request sent
to last byte read), and the server's CPU seconds; the first ranking (computed, not yet cached)
is timed apart. A JSON result is written (``--json``) and a table printed.
Target on this 2-core machine: ranking page p95 under 300 ms, zero errors (``--check``: exit 1
when missed).

The server allows ``--users`` x 2 sign-ins per minute from one address (the app's default, 20,
is the SR-02 rate limit; every user here signs in from 127.0.0.1).

Usage: python benchmarks/web_load.py [--users 50] [--seconds 60] [--think 0] [--json FILE]
       [--check] [--profile FLAME.svg]  (the server under py-spy record)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
FAMILY = ROOT / "examples" / "08-ten-member-family.yaml"
UPN = "LOAD-010"
CENTRE = "LOAD"
STATIC = "/static/style.css"
TARGET_P95_MS = 300.0


def password(i: int) -> str:
    return f"load-user-{i:03d}-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the server process ------------------------------------------------------------------------

def serve(db: str, port: int, logins_per_minute: int) -> None:
    import uvicorn

    from everydonor.adapters.web.app import create_app
    from everydonor.adapters.web.settings import WebSettings

    app = create_app(WebSettings(db=db, login_rate_per_minute=logins_per_minute))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def build_registry(db: str, users: int) -> dict[str, Any]:
    """The registry: the ten-member family (UPN LOAD-010), the other examples, the accounts."""
    from everydonor.adapters.inputs.casefile import load_case_data
    from everydonor.adapters.registry.accounts import Accounts
    from everydonor.adapters.registry.store import Registry

    reg = Registry(db)
    reg.init(actor="benchmark", reason="web load benchmark")
    family = load_case_data(str(FAMILY))
    reg.add_case(family, actor="benchmark", reason="web load benchmark", upn=UPN,
                 centre=CENTRE)
    others = sorted(p for p in (ROOT / "examples").glob("0*.yaml") if p != FAMILY)
    for i, path in enumerate(others):
        reg.add_case(load_case_data(str(path)), actor="benchmark", reason="web load benchmark",
                     upn=f"LOAD-{i + 1:03d}", centre=CENTRE)
    accounts = Accounts(reg)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    for i in range(users):
        accounts.create(f"load.user{i:03d}", role="hla_lab", centre=CENTRE,
                        display_name=f"Load user {i}", password=password(i),
                        actor="benchmark", reason="web load benchmark", now=now)
    made = time.perf_counter() - started
    reg.close()
    persons = 1 + len(family["relatives"]) if isinstance(family, dict) else None
    return {"patients": 1 + len(others), "family_members": persons,
            "accounts_created_s": round(made, 2)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the load generator ------------------------------------------------------------------------

def _cookies(response: Any) -> dict[str, str]:
    out = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


async def sign_in(client: Any, i: int) -> str:
    """The sign-in form as a browser sends it; returns the session cookie's value. (Cookies
    are handled here: they are ``Secure``, which http.cookiejar sends over HTTPS only.)"""
    page = await client.get("/login")
    page.raise_for_status()
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if not m:
        raise RuntimeError("no CSRF token on the sign-in page")
    cookies = _cookies(page)
    done = await client.post("/login", data={"username": f"load.user{i:03d}",
                                             "password": password(i), "csrf_token": m.group(1)},
                             headers={"Cookie": _cookie_header(cookies)})
    session = _cookies(done).get("everydonor_session")
    if done.status_code != 303 or done.headers.get("location") != "/patients" or not session:
        raise RuntimeError(f"user {i} could not sign in: HTTP {done.status_code} "
                           f"{done.text[:200]}")
    return session


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.samples: dict[str, list[str]] = {}

    def ok(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        sample = self.samples.setdefault(kind, [])
        if len(sample) < 5:
            sample.append(what)


async def user_loop(client: Any, cookie: str | None, paths: list[tuple[str, str]], *,
                    deadline: float, think: float, rec: Recorder, offset: int) -> None:
    headers = {"Cookie": f"everydonor_session={cookie}"} if cookie else {}
    n = offset
    while time.perf_counter() < deadline:
        kind, path = paths[n % len(paths)]
        n += 1
        started = time.perf_counter()
        try:
            r = await client.get(path, headers=headers)
            await r.aread()
            elapsed = time.perf_counter() - started
            if r.status_code == 200:
                rec.ok(kind, elapsed)
            else:
                rec.error(kind, f"HTTP {r.status_code} {r.headers.get('location', '')}")
        except Exception as exc:  # a failed request is an error, counted and sampled
            rec.error(kind, f"{type(exc).__name__}: {exc}")
        if think:
            await asyncio.sleep(think)


async def phase(base: str, cookies: list[str | None], paths: list[tuple[str, str]], *,
                seconds: float, think: float, server_pid: int) -> dict[str, Any]:
    import httpx

    rec = Recorder()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0,
                                 follow_redirects=False) for _ in cookies]
    cpu0, own0 = cpu_seconds(server_pid), _own_cpu()
    started = time.perf_counter()
    try:
        await asyncio.gather(*(user_loop(c, cookie, paths, deadline=started + seconds,
                                         think=think, rec=rec, offset=i)
                               for i, (c, cookie) in enumerate(zip(clients, cookies,
                                                                   strict=True))))
    finally:
        for c in clients:
            await c.aclose()
    elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "server_cpu_s": cpu_seconds(server_pid) - cpu0,
            "generator_cpu_s": _own_cpu() - own0, "recorder": rec}


def _own_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def summarise(kind: str, latencies: list[float], errors: int, elapsed: float) -> dict[str, Any]:
    import numpy as np

    n = len(latencies)
    ms = np.asarray(latencies) * 1000.0
    pct = (lambda q: round(float(np.percentile(ms, q)), 1)) if n else (lambda q: None)
    return {"kind": kind, "requests": n, "errors": errors,
            "rps": round(n / elapsed, 1) if elapsed else None,
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "max_ms": round(float(ms.max()), 1) if n else None,
            "mean_ms": round(float(ms.mean()), 1) if n else None}


async def run_load(args: argparse.Namespace, base: str, server_pid: int) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=60.0, follow_redirects=False) as c:
        gate = asyncio.Semaphore(4)

        async def one(i: int) -> str:
            async with gate:
                return await sign_in(c, i)

        t0 = time.perf_counter()
        cookies: list[str | None] = list(await asyncio.gather(*(one(i)
                                                                for i in range(args.users))))
        signed_in = time.perf_counter() - t0
        headers = {"Cookie": f"everydonor_session={cookies[0]}"}
        t0 = time.perf_counter()
        first = await c.get(f"/patients/{UPN}/ranking?rules=beijing", headers=headers)
        first_ranking = time.perf_counter() - t0
        if first.status_code != 200:
            raise RuntimeError(f"the ranking page answers HTTP {first.status_code}: "
                               f"{first.text[:300]}")
        page = await c.get(f"/patients/{UPN}", headers=headers)
        if page.status_code != 200:
            raise RuntimeError(f"the patient page answers HTTP {page.status_code}")
        sizes = {"ranking": len(first.content), "patient": len(page.content)}
        static = await c.get(STATIC)
        sizes["static"] = len(static.content)

    results: list[dict[str, Any]] = []
    phases = {}
    baseline = await phase(base, [None] * args.users, [("static", STATIC)],
                           seconds=args.baseline_seconds, think=args.think,
                           server_pid=server_pid)
    app_paths = [("patient", f"/patients/{UPN}"),
                 ("ranking", f"/patients/{UPN}/ranking?rules=beijing")]
    app = await phase(base, cookies, app_paths, seconds=args.seconds, think=args.think,
                      server_pid=server_pid)
    for name, done in (("baseline", baseline), ("app", app)):
        rec = done.pop("recorder")
        for kind in sorted(set(rec.latencies) | set(rec.errors)):
            row = summarise(kind, rec.latencies.get(kind, []), rec.errors.get(kind, 0),
                            done["elapsed_s"])
            row["phase"] = name
            row["bytes"] = sizes.get(kind)
            if rec.samples.get(kind):
                row["error_samples"] = rec.samples[kind]
            results.append(row)
        phases[name] = {k: round(v, 2) for k, v in done.items()}
    return {"sign_in_all_s": round(signed_in, 2), "first_ranking_ms": round(first_ranking * 1000),
            "phases": phases, "results": results}


def table(report: dict[str, Any]) -> str:
    lines = [f"{'page':<34} {'requests':>9} {'errors':>6} {'req/s':>8} {'p50 ms':>8} "
             f"{'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    names = {"static": f"static baseline {STATIC}", "patient": f"patient page /patients/{UPN}",
             "ranking": "ranking page (10 members)"}
    for r in report["results"]:
        lines.append(f"{names.get(r['kind'], r['kind']):<34} {r['requests']:>9,} "
                     f"{r['errors']:>6} {r['rps'] or 0:>8.1f} {r['p50_ms'] or 0:>8.1f} "
                     f"{r['p95_ms'] or 0:>8.1f} {r['p99_ms'] or 0:>8.1f} {r['max_ms'] or 0:>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0, help="app phase (default 60)")
    ap.add_argument("--baseline-seconds", type=float, help="baseline phase (default: --seconds)")
    ap.add_argument("--think", type=float, default=0.0,
                    help="pause between a user's requests, seconds (default 0)")
    ap.add_argument("--json", type=Path, help="write the result here (default: a temp file)")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--profile", type=Path,
                    help="run the server under py-spy record, flame graph to this SVG")
    ap.add_argument("--serve", nargs=3, metavar=("DB", "PORT", "LOGINS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]))
        return 0
    if args.baseline_seconds is None:
        args.baseline_seconds = args.seconds
    work = Path(tempfile.mkdtemp(prefix="everydonor-web-load-"))
    os.environ.setdefault("EVERYDONOR_PSEUDONYM_KEY", secrets.token_hex(32))
    db = f"sqlite:///{work / 'registry.sqlite'}"
    setup = build_registry(db, args.users)
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", db, str(port),
               str(max(20, 2 * args.users))]
    if args.profile:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        command = [spy, "record", "--output", str(args.profile), "--rate", "200",
                   "--subprocesses", "--", *command]
    server = subprocess.Popen(command, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base, server)
        pid = _python_pid(server.pid) if args.profile else server.pid
        report = asyncio.run(run_load(args, base, pid))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)
    report = {"benchmark": "web_load", "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_average_after": [round(x, 2) for x in os.getloadavg()]},
              "settings": {"users": args.users, "seconds": args.seconds,
                           "baseline_seconds": args.baseline_seconds, "think_s": args.think,
                           "server": "uvicorn, one process (h11, asyncio loop), SQLite",
                           "generator": "httpx AsyncClient, one process, one connection "
                                        "per user"},
              "setup": setup, **report}
    ranking = next((r for r in report["results"] if r["kind"] == "ranking"), None)
    errors = sum(r["errors"] for r in report["results"])
    missed = []
    if ranking is None or ranking["p95_ms"] is None or ranking["p95_ms"] >= TARGET_P95_MS:
        missed.append(f"ranking p95 {ranking and ranking['p95_ms']} ms >= {TARGET_P95_MS:.0f}")
    if errors:
        missed.append(f"{errors} errors")
    report["target"] = {"ranking_p95_ms_below": TARGET_P95_MS, "errors": 0, "missed": missed}
    out = args.json or work.with_suffix(".json")
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"web load: {args.users} users, baseline {args.baseline_seconds:g} s + app "
          f"{args.seconds:g} s, think {args.think:g} s; {setup['family_members']}-member family "
          f"{UPN}")
    print(f"sign-in of {args.users} users: {report['sign_in_all_s']} s; first ranking "
          f"(computed, then cached by the app): {report['first_ranking_ms']} ms")
    print(table(report))
    for name, p in report["phases"].items():
        print(f"{name}: {p['elapsed_s']} s, server CPU {p['server_cpu_s']} s, load generator "
              f"CPU {p['generator_cpu_s']} s")
    print(f"ratio: static baseline vs ranking page p95 "
          f"{_ratio(report, 'ranking', 'p95_ms')}; requests/s static vs app "
          f"{_ratio(report, 'rps', 'rps')}")
    print("targets met" if not missed else "targets missed: " + "; ".join(missed))
    print(f"result: {out}")
    return 1 if args.check and missed else 0


def _ratio(report: dict[str, Any], kind: str, key: str) -> str:
    rows = {r["kind"]: r for r in report["results"]}
    static = rows.get("static")
    if static is None:
        return "n/a"
    if kind == "rps":
        app = sum(r["rps"] or 0 for r in report["results"] if r["phase"] == "app")
        return f"{static['rps']} vs {app:.1f} ({static['rps'] / app:.1f}x)" if app else "n/a"
    row = rows.get(kind)
    if row is None or not static.get(key) or row.get(key) is None:
        return "n/a"
    return f"{static[key]} vs {row[key]} ms ({row[key] / static[key]:.1f}x)"


def _wait_for(base: str, server: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not start in 60 s")


def _python_pid(spy_pid: int) -> int:
    """Under py-spy the server is py-spy's child."""
    try:
        children = Path(f"/proc/{spy_pid}/task/{spy_pid}/children").read_text().split()
    except OSError:
        return spy_pid
    return int(children[0]) if children else spy_pid


if __name__ == "__main__":
    raise SystemExit(main())
