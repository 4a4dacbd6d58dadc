"""``everydonor hml import FILE.xml [--case CASE] [--person ID] [--db URL --patient UPN]``.

Without ``--case`` or ``--db``: the message as JSON (samples, typings as GL String Codes with
their release, warnings, the MIRING report, the file's SHA-256), nothing written. With
``--case``: the typings written into that case file (sample id = person id, or ``--person`` for a
one-sample file), checked whole and replaced atomically. With ``--db``: into a stored patient
(``--patient UPN``), one audited transaction. A refused file (unsafe XML, too large, malformed,
a typing that cannot be read) writes nothing: exit status 2.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from everydonor.adapters.cli.common import NOTICE, Context
from everydonor.errors import InputError


def cmd_import(args: argparse.Namespace) -> int:
    from everydonor.adapters.hml.importer import (
        import_into_case,
        import_into_registry,
        read_message,
    )

    if args.case and args.db:
        raise InputError("give --case or --db, not both", field="--db", value=args.db)
    if args.db and not args.patient:
        raise InputError("--db writes into a stored patient: give --patient UPN",
                         field="--patient")
    if args.patient and not args.db:
        raise InputError("--patient names a patient of the registry: give --db URL too",
                         field="--db")
    if args.person and not (args.case or args.db):
        raise InputError("--person says whose typing it is in a case: give --case or --db",
                         field="--person", value=args.person)
    if args.max_bytes <= 0:
        raise InputError("--max-bytes must be positive", field="--max-bytes",
                         value=str(args.max_bytes))
    ctx = Context(args)
    message = read_message(args.file, ctx.ref, ctx.macs, max_bytes=args.max_bytes)
    out: dict[str, Any] = message.to_dict()
    written: dict[str, Any] | None = None
    if args.case:
        changes = import_into_case(message, args.case, args.person)
        written = {"case": args.case, "changes": changes}
    elif args.db:
        done = import_into_registry(message, args.db, args.patient, args.person,
                                    actor=args.user, reason=args.reason, reducer=ctx.reducer)
        written = {"registry": done["registry"], "changes": done["changes"],
                   "reason": done["reason"]}
    out["written"] = written
    out["provenance"] = {**ctx.provenance(), "notice": NOTICE,
                         "parser": "lxml iterparse (entities and network off, DTD refused)"}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def register(sub: Any) -> None:
    from everydonor.adapters.hml.reader import DEFAULT_MAX_BYTES
    from everydonor.adapters.registry.store import os_user

    group = sub.add_parser("hml", help="HML (NMDP Histoimmunogenetics Markup Language) from the "
                           "HLA laboratory: import typings as GL String Codes, MIRING report")
    hml_sub = group.add_subparsers(dest="hml_command", required=True,
                                   parser_class=type(group))
    p = hml_sub.add_parser("import", help="read an HML 1.0.x file safely (streaming); print it "
                           "as JSON, or write its typings into a case file or the registry")
    p.add_argument("file", metavar="FILE.xml", help="the HML message")
    p.add_argument("--case", metavar="CASE", help="write the typings into this case file "
                   "(JSON or YAML): each sample into the person with its id")
    p.add_argument("--person", metavar="ID", help="the person of a one-sample file (instead of "
                   "matching the sample id)")
    p.add_argument("--db", metavar="URL", help="write into the registry (with --patient UPN): "
                   "one audited transaction")
    p.add_argument("--patient", metavar="UPN", help="the stored patient whose case receives "
                   "the typings (with --db)")
    p.add_argument("--user", default=os_user(), metavar="NAME",
                   help="who (the registry's audit trail; default the OS login name)")
    p.add_argument("--reason", metavar="TEXT", help="why (recorded with the registry change; "
                   "the file's name, SHA-256 and hmlid are added)")
    p.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                   help=f"refuse a file larger than N bytes (default {DEFAULT_MAX_BYTES:,}: "
                   "1 GiB)")
    p.set_defaults(func=cmd_import)
