"""``everydonor serve`` (the web app) and ``everydonor users`` (its accounts)."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
from typing import Any

from everydonor.errors import InputError

EXIT_OK = 0


def _accounts(db: str | None) -> Any:
    from everydonor.adapters.registry.accounts import Accounts
    from everydonor.adapters.registry.store import Registry

    return Accounts(Registry(db))


def _password(args: argparse.Namespace, username: str) -> str:
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise InputError("give the password on a terminal, or with --password-stdin",
                         person=username, field="password")
    first = getpass.getpass(f"Password for {username} (12 characters or more): ")
    second = getpass.getpass("Again: ")
    if first != second:
        raise InputError("the two passwords differ", person=username, field="password")
    return first


def _show(result: Any, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    rows = result if isinstance(result, list) else [result]
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items() if v is not None))


def cmd_users(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    if args.action == "totp":
        import pyotp

        print(pyotp.TOTP(args.name).now())
        return EXIT_OK
    acc = _accounts(args.db)
    reason = args.reason
    if args.action == "add":
        if not args.role:
            raise InputError("an account needs --role", person=args.name, field="--role")
        result = acc.create(args.name, role=args.role, centre=args.centre,
                            display_name=args.display_name or args.name,
                            password=_password(args, args.name), actor=args.user,
                            reason=reason or "account created", now=now)
        _show(result, args.format)
        if "totp_secret" in result and args.format != "json":
            print(f"\nThis role signs in with a second factor: add the secret "
                  f"{result['totp_secret']} to an authenticator app (or its URI above). "
                  "It is shown only now.")
        return EXIT_OK
    if args.action == "list":
        _show([a.document() for a in acc.list(centre=args.centre)], args.format)
        return EXIT_OK
    if not reason:
        raise InputError(f"`users {args.action}` changes an account: it needs --reason",
                         person=args.name, field="--reason")
    if args.action == "disable":
        _show(acc.disable(args.name, actor=args.user, reason=reason).document(), args.format)
    elif args.action == "enable":
        _show(acc.enable(args.name, actor=args.user, reason=reason).document(), args.format)
    elif args.action == "role":
        if not args.role:
            raise InputError("give the new --role", person=args.name, field="--role")
        _show(acc.set_role(args.name, args.role, args.centre, actor=args.user,
                           reason=reason).document(), args.format)
    elif args.action == "password":
        acc.set_password(args.name, _password(args, args.name), actor=args.user,
                         reason=reason, now=now)
        print(f"password of {args.name} changed; its sessions have ended")
    elif args.action == "reset-totp":
        _show(acc.reset_totp(args.name, actor=args.user, reason=reason), args.format)
    elif args.action == "unlock":
        acc.unlock(args.name, actor=args.user, reason=reason)
        print(f"{args.name} unlocked")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    import ipaddress

    import uvicorn

    from everydonor.adapters.web.app import create_app
    from everydonor.adapters.web.settings import WebSettings

    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback and not args.behind_https_proxy:
        # SR-15: identified clinical data never travel over plain HTTP
        raise InputError("serving beyond this machine needs HTTPS: put the app behind a TLS "
                         "reverse proxy and pass --behind-https-proxy", field="--host",
                         value=args.host)
    if not 0 < args.port < 65536:
        raise InputError("a port is 1-65535", field="--port", value=str(args.port))
    db = args.db
    if args.demo:
        from everydonor.adapters.web.demo import build_demo

        db, accounts, patients = build_demo()
        print(f"everydonor demo: a fresh registry ({db}) with {len(patients)} example "
              "patients; nothing is kept after the server stops.")
        print("Demo accounts (password; the TOTP secret for roles that sign in with a second "
              "factor — `everydonor users totp SECRET` prints its current code):")
        for a in accounts:
            extra = f"  TOTP secret {a['totp_secret']}" if "totp_secret" in a else ""
            print(f"  {a['username']:<24} {a['role']:<13} {a['centre'] or 'all centres':<11} "
                  f"password {a['password']}{extra}")
    else:
        from everydonor.adapters.registry.store import Registry

        reg = Registry(db)
        if reg.revision() is None:
            raise InputError(f"no registry at {reg.where}: run `everydonor registry init`, "
                             "then `everydonor users add NAME --role system_admin`",
                             field="--db", value=reg.where)
        reg.close()
    settings = WebSettings(db=db, demo=args.demo, imgt_dir=args.imgt, mac_file=args.mac,
                           idle_timeout=dt.timedelta(minutes=args.idle_minutes))
    app = create_app(settings)
    print(f"everydonor web app on http://{args.host}:{args.port}/ (Ctrl-C stops it)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                proxy_headers=args.behind_https_proxy, server_header=False)
    return EXIT_OK


def register(sub: Any) -> None:
    from everydonor.adapters.registry.accounts import ROLES
    from everydonor.adapters.registry.store import os_user

    serve = sub.add_parser("serve", help="the web app for transplant teams (uvicorn)")
    serve.add_argument("--db", metavar="URL", help="the registry (default: EVERYDONOR_DB, else "
                       "the per-user SQLite file)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="a fresh registry with the bundled "
                       "example families and demo accounts (printed at start-up)")
    serve.add_argument("--behind-https-proxy", action="store_true",
                       help="the app is reached through a TLS reverse proxy (needed to listen "
                       "beyond loopback)")
    serve.add_argument("--idle-minutes", type=int, default=30,
                       help="sign out after this many idle minutes (default 30)")
    serve.add_argument("--imgt", metavar="DIR", help="an IPD-IMGT/HLA release folder")
    serve.add_argument("--mac", metavar="FILE", help="an NMDP MAC list")
    serve.set_defaults(func=cmd_serve)

    users = sub.add_parser("users", help="accounts of the web app (add, list, disable, role, "
                           "password, reset-totp, unlock)")
    users.add_argument("action", choices=["add", "list", "disable", "enable", "role",
                                          "password", "reset-totp", "unlock", "totp"])
    users.add_argument("name", nargs="?", default="", metavar="NAME",
                       help="the username (for `totp`: a TOTP secret, prints its code now)")
    users.add_argument("--role", choices=list(ROLES))
    users.add_argument("--centre", "--center", metavar="CODE")
    users.add_argument("--display-name", metavar="TEXT",
                       help="the printed name shown with signatures (default NAME)")
    users.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")
    users.add_argument("--db", metavar="URL")
    users.add_argument("--user", default=os_user(), metavar="NAME",
                       help="who makes the change (audit trail; default the OS login name)")
    users.add_argument("--reason", metavar="TEXT")
    users.add_argument("--format", choices=["text", "json"], default="text")
    users.set_defaults(func=cmd_users)
