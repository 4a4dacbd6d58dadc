"""``everydonor case schema``: the case-file format (``everydonor.case/1``) as shipped.

The JSON Schema in ``everydonor/data/schema/case.schema.json`` describes every field a case file
may hold; ``--format text`` prints it as one line per field (path, type, description), which
is what a data manager reads when preparing a case by hand.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from typing import Any

from everydonor.adapters.cli.common import write_output
from everydonor.errors import InputError

SCHEMA_RESOURCE = ("data", "schema", "case.schema.json")


def case_schema() -> dict[str, Any]:
    """The shipped JSON Schema of the case format."""
    path = resources.files("everydonor").joinpath(*SCHEMA_RESOURCE)
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:  # a broken install, not the user's input
        raise InputError(f"the bundled case schema cannot be read: {exc}", field="schema",
                         value=str(path)) from exc
    return data


def _type_of(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    if "enum" in node:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in node["enum"])
    kind = node.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(node.get("items"), dict):
        return f"list of {_type_of(node['items'], defs)}"
    if kind is None and ("oneOf" in node or "anyOf" in node):
        return " | ".join(_type_of(n, defs) for n in node.get("oneOf", node.get("anyOf", [])))
    return str(kind or "any")


def _walk(node: dict[str, Any], path: str, defs: dict[str, Any], seen: set[str],
          out: list[tuple[str, str, str, bool]]) -> None:
    required = set(node.get("required", []))
    for key, child in (node.get("properties") or {}).items():
        here = f"{path}.{key}" if path else key
        out.append((here, _type_of(child, defs), " ".join(str(child.get("description", ""))
                                                           .split()), key in required))
        target = child.get("items", child) if child.get("type") == "array" else child
        ref = target.get("$ref") if isinstance(target, dict) else None
        if ref:
            name = str(ref).rsplit("/", 1)[-1]
            if name not in seen and name in defs:
                _walk(defs[name], here + ("[]" if child.get("type") == "array" else ""), defs,
                      seen | {name}, out)
        elif isinstance(target, dict) and target.get("properties"):
            _walk(target, here + ("[]" if child.get("type") == "array" else ""), defs, seen, out)


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
