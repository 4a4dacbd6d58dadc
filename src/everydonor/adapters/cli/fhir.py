"""``everydonor fhir export|import``: FHIR R4 transplant summary bundles (``adapters.fhir``).

``export PATIENT --db URL -o bundle.json``: a registry patient's transplant summary Bundle to a
new file (consent-gated, audited). ``import bundle.json``: the patient's and donors' typings,
into the registry as a new patient (``--db``; a UPN already there is refused), into a case file
(``--case OUT.yaml``), or printed as a case (YAML) when neither is given. Bad input exits 2
naming resource, field and value; nothing is written then.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from everydonor.adapters.cli.common import NOTICE, write_output
from everydonor.errors import InputError

EXIT_OK = 0
EXIT_BUSY = 75


def _registry(args: argparse.Namespace) -> Any:
    from everydonor.adapters.cli.common import Context
    from everydonor.adapters.registry.store import Registry

    return Registry(args.db, reducer=Context(args).reducer)


def _busy(exc: Exception) -> int:
    print(f"everydonor: {exc}", file=sys.stderr)
    return EXIT_BUSY


def cmd_export(args: argparse.Namespace) -> int:
    from everydonor.adapters.fhir.export import export_fhir
    from everydonor.adapters.registry.store import RegistryBusy

    try:
        with _registry(args) as reg:
            result = export_fhir(reg, args.patient, output=args.output, actor=args.user,
                                 reason=args.reason or "FHIR export for registry submission",
                                 destination=args.destination)
    except RegistryBusy as exc:
        return _busy(exc)
    print(json.dumps(result.document(), indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from everydonor.adapters.fhir.reader import import_into_registry, load_bundle, to_case
    from everydonor.adapters.registry.store import RegistryBusy

    if args.db and args.case_out:
        raise InputError("import into the registry (--db) or into a case file (--case), not "
                         "both", field="--case", value=args.case_out)
    try:
        data = Path(args.bundle).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {args.bundle!r}: {exc.strerror}", field="BUNDLE",
                         value=args.bundle) from None
    read = load_bundle(data, name=args.bundle)
    if args.db:
        try:
            with _registry(args) as reg:
                result = import_into_registry(reg, read, upn=args.upn, centre=args.centre,
                                              actor=args.user,
                                              reason=args.reason or "FHIR import")
        except RegistryBusy as exc:
            return _busy(exc)
        print(json.dumps({**result, "notice": NOTICE}, indent=2, ensure_ascii=False))
        return EXIT_OK
    from everydonor.adapters.registry.casemap import case_yaml
    from everydonor.case import parse_case

    imported = to_case(read)
    parse_case(imported.document, today=dt.date.today())
    text = case_yaml(imported.document)
    if args.case_out:
        target = Path(args.case_out)
        if target.exists():
            raise InputError(f"{args.case_out!r} exists: the case is written to a new file",
                             field="--case", value=args.case_out)
        write_output(text, args.case_out)
        for w in read.warnings:
            print(f"everydonor: warning: {w}", file=sys.stderr)
        print(json.dumps({"case": args.case_out, "persons": len(read.persons),
                          "bundle_sha256": read.sha256, "warnings": read.warnings,
                          "notice": NOTICE}, indent=2, ensure_ascii=False))
    else:
        for w in read.warnings:
            print(f"everydonor: warning: {w}", file=sys.stderr)
        write_output(text, None)
    return EXIT_OK


def register(sub: Any) -> None:
    """Add ``fhir export`` and ``fhir import``."""
    from everydonor.adapters.registry.store import os_user

    fhir = sub.add_parser("fhir", help="FHIR R4: a patient's transplant summary bundle for "
                          "registry submission (HLA genotypes as GL String Codes), and import")
    cmds = fhir.add_subparsers(dest="fhir_command", required=True, parser_class=type(fhir))

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", metavar="URL", help="registry database (default: EVERYDONOR_DB, "
                       "else the per-user SQLite file)")
        p.add_argument("--user", default=os_user(), metavar="NAME",
                       help="who exports or imports (default: the OS login name)")
        p.add_argument("--reason", metavar="TEXT", help="why (recorded in the audit trail)")

    p = cmds.add_parser("export", help="a registry patient's transplant summary Bundle "
                        "(consent-gated, audited)")
    p.add_argument("patient", metavar="PATIENT", help="the patient's registry id (UPN)")
    common(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the bundle (JSON), a new file")
    p.add_argument("--destination", choices=["local", "international"], default="local",
                   help="international also needs the patient's international-transfer "
                   "consent (default: local)")
    p.set_defaults(func=cmd_export)
    p = cmds.add_parser("import", help="typings of a bundle's patient and donors into the "
                        "registry (new patient) or a case file")
    p.add_argument("bundle", metavar="BUNDLE", help="FHIR JSON: a Bundle or one Observation")
    common(p)
    p.add_argument("--case", dest="case_out", metavar="OUT.yaml",
                   help="write a case file (new file) instead of printing it")
    p.add_argument("--upn", help="registry id of the new patient (default: the bundle's "
                   "everydonor patient id)")
    p.add_argument("--centre", default="local", help="centre code (default: local)")
    p.set_defaults(func=cmd_import)
