"""``everydonor score``: clinical scores and event definitions by their published tables."""

from __future__ import annotations

import argparse
import json
from typing import Any

from everydonor import __version__
from everydonor.adapters.cli.common import (
    NOTICE,
)
from everydonor.errors import InputError


def cmd_score(args: argparse.Namespace) -> int:
    from everydonor.adapters.inputs.casefile import load_case_data
    from everydonor.scores.catalogue import SCORES, compute_score

    if args.list:
        if args.format == "json":
            print(json.dumps({"scores": [s.describe() for s in SCORES.values()]}, indent=2,
                             ensure_ascii=False))
        else:
            for s in SCORES.values():
                print(f"{s.name:<36} [{s.confidence}] {s.criteria:<16} {s.citation}")
        return 0
    if not args.name or not args.input:
        raise InputError("give NAME and --input FILE.json (or --list)", field="NAME")
    if not str(args.input).endswith(".json"):
        raise InputError("--input must be a JSON file", field="--input", value=args.input)
    data = load_case_data(args.input)
    document = compute_score(args.name, data)
    document["provenance"] = {"software": f"everydonor {__version__}", "notice": NOTICE}
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    skip = {"score", "criteria", "citation", "confidence", "notes", "inputs", "provenance"}
    lines = [f"{document['score']} ({document['criteria']}; [{document['confidence']}] "
             f"{document['citation']})"]
    lines += [f"  {k}: {v}" for k, v in document.items() if k not in skip]
    lines += [f"  note: {n}" for n in document["notes"]]
    print("\n".join(lines))
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the main parser."""
    sc = sub.add_parser("score", help="clinical scores and event definitions by their published "
                        "tables (GVHD, HCT-CI, DRI, EBMT, performance, engraftment, CMV, GRFS)")
    sc.add_argument("name", metavar="NAME", nargs="?", help="score name (see --list)")
    sc.add_argument("--input", metavar="FILE.json", help="the score's input as a JSON object")
    sc.add_argument("--list", action="store_true", help="list every score with its citation")
    sc.add_argument("--format", choices=["json", "text"], default="json")
    sc.set_defaults(func=cmd_score)
