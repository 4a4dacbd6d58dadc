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
            "mac_list": self.macs.source if self.macs else None,
            "notice": NOTICE,
        }


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
