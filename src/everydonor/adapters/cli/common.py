"""What every command shares: the release context, case loading, all-or-nothing output."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from everydonor import __version__
from everydonor.adapters.reference.imgt import load_reference, read_mac_file
from everydonor.errors import InputError
from everydonor.hla.designation import MacDictionary
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import HlaReference

EXIT_BAD_INPUT = 2
NOTICE = ("Decision support for the treating transplant team; check every answer against its "
          "source before clinical use.")


class Context:
    """What a command needs: the release tables, the MAC list, the reducer (built lazily)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.imgt_dir: str | None = args.imgt or os.environ.get("EVERYDONOR_IMGT_DIR") or None
        self.mac_file: str | None = args.mac or os.environ.get("EVERYDONOR_MAC_FILE") or None
        self._ref: HlaReference | None = None
        self._macs: MacDictionary | None = None
        self._reducer: Reducer | None = None

    @property
    def ref(self) -> HlaReference:
        if self._ref is None:
            self._ref = load_reference(self.imgt_dir)
        return self._ref

    @property
    def macs(self) -> MacDictionary | None:
        if self._macs is None and self.mac_file:
            self._macs = read_mac_file(self.mac_file)
            _LOADED_MACS.append(self._macs)
        return self._macs

    @property
    def reducer(self) -> Reducer:
        if self._reducer is None:
            self._reducer = Reducer(self.ref, self.macs)
        return self._reducer

    def provenance(self) -> dict[str, Any]:
        return {
            "software": f"everydonor {__version__}",
            "reference": f"IPD-IMGT/HLA {self.ref.release}",
            "mac_list": mac_provenance(self.macs),
            "notice": NOTICE,
        }


#: MAC lists loaded by this process's commands (their gaps are told on stderr at the end).
_LOADED_MACS: list[MacDictionary] = []


def report_mac_gaps() -> None:
    """Tell on stderr each MAC expanded with alleles absent from the release (the answers'
    provenance lists them too: ``mac_list.warnings``)."""
    for macs in _LOADED_MACS:
        for gap in macs.gaps():
            print(f"everydonor: warning: {gap.message()}", file=sys.stderr)
    _LOADED_MACS.clear()


def mac_provenance(macs: MacDictionary | None) -> dict[str, Any] | None:
    """The MAC list an answer used: file, format, date (and where it was read), SHA-256, number
    of codes, and a warning per code expanded with alleles absent from the release."""
    if macs is None:
        return None
    return {**macs.describe(), "warnings": [g.message() for g in macs.gaps()]}


def write_output(data: bytes | str, out: str | None) -> None:
    """Write all of it or nothing: a temporary file beside the target, then an atomic rename."""
    if out is None or out == "-":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            print(data, end="" if data.endswith("\n") else "\n")
        return
    target = Path(out)
    if target.parent and not target.parent.exists():
        raise InputError(f"output folder {str(target.parent)!r} does not exist", field="-o",
                         value=out)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data if data.endswith("\n") else data + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {out!r}: {exc.strerror}", field="-o", value=out) from exc


def load_case(args: argparse.Namespace) -> Any:
    from everydonor.adapters.inputs.casefile import read_case

    if args.example:
        return read_case(Path(str(resources.files("everydonor") / "data" / "examples" /
                                  "case.json")))
    if args.case:
        return read_case(args.case)
    raise InputError("no case file given: pass CASE or --example", field="CASE")


def case_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case", metavar="CASE", nargs="?",
                        help="case file (JSON or YAML, everydonor.case/1)")
    parser.add_argument("--example", action="store_true", help="use the bundled example case")
    parser.add_argument("--format", choices=["json", "text"], default="json")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit status is 2 as well
        self.print_usage(sys.stderr)
        print(f"everydonor: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def registry_arguments(parser: argparse.ArgumentParser, kept: str) -> None:
    """``--db``, ``--patient``, ``--save``, ``--user``, ``--reason``: the command on a patient
    stored in the registry, keeping ``kept`` as immutable snapshots on ``--save``."""
    from everydonor.adapters.registry.store import os_user

    parser.add_argument("--db", metavar="URL", help="the patient registry (default: "
                        "EVERYDONOR_DB, else the per-user SQLite file; see `everydonor registry`)")
    parser.add_argument("--patient", metavar="UPN", help="a patient stored in the registry (its "
                        "case as the registry's rows give it) instead of a case file")
    parser.add_argument("--save", action="store_true", help=f"with --patient: keep {kept} as "
                        "immutable snapshots in the registry (SHA-256 recorded, audited)")
    parser.add_argument("--user", default=os_user(), metavar="NAME",
                        help="who (recorded in the audit trail; default the OS login name)")
    parser.add_argument("--reason", metavar="TEXT", help="why (recorded with the snapshots)")


def case_or_stored_patient(args: argparse.Namespace, what: str) -> Any:
    """The case of a file (CASE or --example) or of a stored patient (--patient UPN)."""
    import datetime as dt

    if args.patient is None:
        if args.save:
            raise InputError(f"--save keeps the {what} in the registry: it needs --patient UPN",
                             field="--save")
        return load_case(args)
    if args.case or args.example:
        raise InputError("give a case file (CASE or --example) or a stored patient "
                         "(--patient UPN), not both", field="--patient", value=args.patient)
    from everydonor.adapters.registry.store import Registry
    from everydonor.case import parse_case

    with Registry(args.db) as reg:
        document = reg.export_case(args.patient, actor=args.user,
                                   reason=args.reason or f"read for the {what}")
    return parse_case(document, today=dt.date.today())


def save_snapshots(args: argparse.Namespace, answers: Any, *,
                   rule_set: tuple[str, str] | None = None, release: str | None = None,
                   reason: str) -> list[dict[str, Any]]:
    """Keep each ``(kind, answer)`` exactly as shown; say so on stderr (stdout stays the answer)."""
    from everydonor.adapters.registry.store import Registry

    with Registry(args.db) as reg:
        saved = [reg.add_snapshot(args.patient, kind, answer, actor=args.user,
                                  reason=args.reason or reason,
                                  rule_set=rule_set[0] if rule_set else None,
                                  rule_set_version=rule_set[1] if rule_set else None,
                                  release=release)
                 for kind, answer in answers]
    for snap in saved:
        print(f"everydonor: {snap['kind']} snapshot {snap['id']} saved for patient "
              f"{snap['upn']} (sha256 {snap['sha256']})", file=sys.stderr)
    return saved
