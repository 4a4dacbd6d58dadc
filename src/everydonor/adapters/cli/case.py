"""``everydonor case schema``: the case-file format (``everydonor.case/1``) as shipped.

The JSON Schema in ``everydonor/data/schema/case.schema.json`` describes every field a case file
may hold; ``--format text`` prints it as one line per field (path, type, description), which
is what a data manager reads when preparing a case by hand.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from everydonor.adapters.cli.common import write_output
from everydonor.adapters.inputs.schema import case_schema


def _type_of(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    if "const" in node:
        return json.dumps(node["const"], ensure_ascii=False)
    if "enum" in node:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in node["enum"])
    kinds = node.get("type")
    alternatives = kinds if isinstance(kinds, list) else [kinds]
    if "array" in alternatives and isinstance(node.get("items"), dict):
        rest = [str(k) for k in alternatives if k != "array"]
        return " | ".join([f"list of {_type_of(node['items'], defs)}", *rest])
    if kinds is None and ("oneOf" in node or "anyOf" in node):
        return " | ".join(_type_of(n, defs) for n in node.get("oneOf", node.get("anyOf", [])))
    if isinstance(kinds, list):
        return " | ".join(str(k) for k in kinds)
    return str(kinds or "any")


def _walk(node: dict[str, Any], path: str, defs: dict[str, Any], seen: set[str],
          out: list[tuple[str, str, str, bool]]) -> None:
    required = set(node.get("required", []))
    for key, child in (node.get("properties") or {}).items():
        here = f"{path}.{key}" if path else key
        out.append((here, _type_of(child, defs), " ".join(str(child.get("description", ""))
                                                           .split()), key in required))
        kinds = child.get("type")
        is_list = kinds == "array" or (isinstance(kinds, list) and "array" in kinds)
        target = child.get("items", child) if is_list else child
        suffix = "[]" if is_list else ""
        ref = target.get("$ref") if isinstance(target, dict) else None
        if ref:
            name = str(ref).rsplit("/", 1)[-1]
            if name not in seen and name in defs:
                _walk(defs[name], here + suffix, defs, seen | {name}, out)
        elif isinstance(target, dict) and target.get("properties"):
            _walk(target, here + suffix, defs, seen, out)


def render_schema_text(schema: dict[str, Any]) -> str:
    defs = dict(schema.get("$defs") or {})
    rows: list[tuple[str, str, str, bool]] = []
    _walk(schema, "", defs, set(), rows)
    width = max((len(r[0]) for r in rows), default=10)
    lines = [f"# {schema.get('title', 'everydonor case file')} — one line per field "
             "(* required)", f"# {' '.join(str(schema.get('description', '')).split())}", ""]
    for path, kind, description, required in rows:
        lines.append(f"{path + ('*' if required else ''):<{width + 1}}  {kind}"
                     + (f" — {description}" if description else ""))
    return "\n".join(lines)


def cmd_case(args: argparse.Namespace) -> int:
    schema = case_schema()
    if args.format == "json":
        write_output(json.dumps(schema, indent=2, ensure_ascii=False), args.output)
    else:
        write_output(render_schema_text(schema), args.output)
    return 0


def register(sub: Any) -> None:
    """Add ``everydonor case schema``."""
    case = sub.add_parser("case", help="the case-file format: `case schema` prints every field "
                          "a case file may hold (JSON Schema or a field list)")
    csub = case.add_subparsers(dest="case_action", required=True, parser_class=type(case))
    schema = csub.add_parser("schema", help="print the JSON Schema of everydonor.case/1")
    schema.add_argument("--format", choices=["json", "text"], default="json")
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE (whole or nothing)")
    schema.set_defaults(func=cmd_case)
