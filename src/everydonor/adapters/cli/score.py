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
            lines = []
            for s in SCORES.values():
                lines.append(f"{s.name:<36} [{s.confidence}] {s.criteria:<16} {s.citation}")
                if args.fields:
                    lines += [f"    {_field_text(f)}" for f in s.describe()["fields"]]
            print("\n".join(lines))
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
    skip = {"name", "criteria", "citation", "confidence", "notes", "inputs", "provenance"}
    if document["score"] == document["name"]:
        skip.add("score")
    lines = [f"{document['name']} ({document['criteria']}; [{document['confidence']}] "
             f"{document['citation']})"]
    lines += [f"  {k}: {v}" for k, v in document.items() if k not in skip]
    lines += [f"  note: {n}" for n in document["notes"]]
    print("\n".join(lines))
    return 0


def _field_text(f: dict[str, Any]) -> str:
    """One input field of a score, as a data manager reads it."""
    parts = [f"{f['name']} ({f['kind']}"]
    if f.get("range"):
        parts.append(f", {f['range'][0]}-{f['range'][1]}")
    parts.append(")")
    if f.get("choices"):
        parts.append(": " + ", ".join(str(c) for c in f["choices"]))
    if f.get("synonyms"):
        parts.append(" (synonyms: " + ", ".join(f"{k} = {v}" for k, v in f["synonyms"].items())
                     + ")")
    if f.get("help"):
        parts.append(f" — {f['help']}")
    return "".join(parts)


def register(sub: Any) -> None:
    """Add this module's commands to the main parser."""
    sc = sub.add_parser("score", help="clinical scores and event definitions by their published "
                        "tables (GVHD, HCT-CI, DRI, EBMT, performance, engraftment, CMV, GRFS)")
    sc.add_argument("name", metavar="NAME", nargs="?", help="score name (see --list)")
    sc.add_argument("--input", metavar="FILE.json", help="the score's input as a JSON object")
    sc.add_argument("--list", action="store_true", help="list every score with its citation")
    sc.add_argument("--fields", action="store_true", help="with --list --format text: each "
                    "score's input fields, ranges, accepted values and synonyms")
    sc.add_argument("--format", choices=["json", "text"], default="json")
    sc.set_defaults(func=cmd_score)
