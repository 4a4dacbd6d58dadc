"""The ``everydonor`` command: parse arguments → call the core → render; errors → stderr, exit 2.

One module per command group (``hla``, ``case`` (schema), ``family`` + ``match``, ``rank`` +
``demo``, ``treatment`` (regimens, plan, followup), ``score``, ``donors``, ``registry``,
``outcomes``); :mod:`.common` holds
what they share. Nothing
is written to stdout unless the whole answer is ready, so a failed run never leaves a
half-written JSON document behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from everydonor import __version__
from everydonor.adapters.cli import (
    case,
    donors,
    family,
    fhir,
    hla,
    hml,
    outcomes,
    rank,
    registry,
    score,
    treatment,
    web,
)
from everydonor.adapters.cli.common import EXIT_BAD_INPUT, NOTICE, Parser
from everydonor.adapters.reference.imgt import IMGT_CITATIONS
from everydonor.adapters.reference.pyard import PYARD_VERSION
from everydonor.errors import EverydonorError

#: command modules, in the order their commands are listed by ``everydonor --help``
COMMAND_MODULES = (hla, hml, case, family, rank, treatment, score, donors, registry, outcomes,
                   fhir, web)


def version_text() -> str:
    lines = [
        f"everydonor {__version__}",
        "Reference data: IPD-IMGT/HLA 3.58.0 (bundled, unmodified; CC BY-ND, see "
        "everydonor/data/imgt/3580/LICENCE.md)",
        f"HLA reduction cross-checked with py-ard {PYARD_VERSION} (NMDP, LGPL-3.0)",
        "Please cite, when you use the IPD-IMGT/HLA data:",
        *[f"  - {c}" for c in IMGT_CITATIONS],
        NOTICE,
    ]
    return "\n".join(lines)


class _VersionAction(argparse.Action):
    """Print :func:`version_text` as written (argparse's own action would reflow it)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(version_text())
        raise SystemExit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="everydonor", description=(
        "everydonor: HLA nomenclature, family haplotypes and donor selection by the Beijing "
        "Protocol. " + NOTICE))
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="show version, reference release and citations, then exit")
    parser.add_argument("--imgt", metavar="DIR", help="IPD-IMGT/HLA release folder (default: "
                        "the bundled 3.58.0; or EVERYDONOR_IMGT_DIR)")
    parser.add_argument("--mac", metavar="FILE", help="NMDP multiple allele code list "
                        "(numer.v3.txt or Atlas CSV; or EVERYDONOR_MAC_FILE)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (0 ok, 2 bad input)."""
    parser = build_parser()
    # Typings may come before or after options ("hla reduce --to g A*01:01"): argparse leaves
    # positionals after an option unparsed, so they are gathered here; stray options still fail.
    args, extras = parser.parse_known_args(argv)
    stray = [x for x in extras if x.startswith("-") and x != "-"]
    if stray or (extras and args.command != "hla"):  # only hla takes many positionals
        parser.error(f"unrecognized arguments: {' '.join(stray or extras)}")
    if extras:
        args.typings = [*getattr(args, "typings", []), *extras]
    from everydonor.adapters.cli.common import report_mac_gaps

    try:
        result: int = args.func(args)
        return result
    except EverydonorError as exc:
        print(f"everydonor: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `everydonor … | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        report_mac_gaps()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
