"""The shipped JSON Schema of the case file cannot drift from the parser's key tables.

``jsonschema`` is not a dependency, so the bundled examples are checked by a small validator of
exactly the draft 2020-12 keywords the schema uses (it refuses any other keyword, so the schema
cannot quietly outgrow it).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from everydonor.adapters.inputs.schema import case_schema, case_schema_text
from everydonor.case import (
    EXTENSION_PREFIX,
    EXTENSIONS_KEY,
    FIELD_LEVELS,
    KNOWN_FIELDS,
    known_fields,
    parse_case,
)
from everydonor.treatment.followup import assess_follow_up

ROOT = Path(__file__).parents[1]
#: Every case file shipped: the examples (any ``examples/*.yaml`` of the case format) and the
#: packaged ``--example``.
EXAMPLES = [p for p in sorted((ROOT / "examples").glob("*.yaml"))
            if isinstance(doc := yaml.safe_load(p.read_text(encoding="utf-8")), dict)
            and doc.get("format") == "everydonor.case/1"] + [
    ROOT / "src" / "everydonor" / "data" / "examples" / "case.json"]
SCHEMA = case_schema()
ANNOTATIONS = {"$schema", "$id", "title", "description", "format", "$defs"}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def node_of(level: str) -> dict[str, Any]:
    node: dict[str, Any] = SCHEMA if level == "case" else SCHEMA["$defs"][level]
    return node


def _type_ok(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Errors of ``value`` against ``schema`` (the subset of draft 2020-12 the schema uses)."""
    unknown = set(schema) - ANNOTATIONS - {
        "$ref", "type", "enum", "const", "anyOf", "properties", "patternProperties",
        "additionalProperties", "required", "items", "minItems", "maxItems", "minimum",
        "maximum", "pattern", "minLength"}
    assert not unknown, f"schema keyword(s) {unknown} at {path}: extend the test validator"
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return validate(value, SCHEMA["$defs"][name], path)
    errors: list[str] = []
    if "anyOf" in schema:
        branches = [validate(value, s, path) for s in schema["anyOf"]]
        if all(branches):
            errors += min(branches, key=len)
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_type_ok(value, n) for n in names):
            return [f"{path}: {value!r} is not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: too short")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            errors.append(f"{path}: {len(value)} items")
        for i, item in enumerate(value):
            if "items" in schema:
                errors += validate(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict):
        errors += [f"{path}: missing {k!r}" for k in schema.get("required", ()) if k not in value]
        for key, item in value.items():
            sub = f"{path}.{key}"
            matched = False
            if key in schema.get("properties", {}):
                matched = True
                errors += validate(item, schema["properties"][key], sub)
            for pattern, pschema in schema.get("patternProperties", {}).items():
                if re.search(pattern, key):
                    matched = True
                    errors += validate(item, pschema, sub)
            if not matched and schema.get("additionalProperties") is False:
                errors.append(f"{sub}: not allowed")
    return errors


def as_json(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)
    return json.loads(json.dumps(data, default=str))  # the JSON data model (YAML dates → text)


@pytest.mark.parametrize("level", list(KNOWN_FIELDS))
def test_schema_properties_equal_the_known_key_tables(level: str) -> None:
    node = node_of(level)
    assert list(node["properties"]) == list(KNOWN_FIELDS[level])
    assert node["additionalProperties"] is False
    assert f"^{EXTENSION_PREFIX}" in node["patternProperties"]
    assert (EXTENSIONS_KEY in node["properties"]) == (
        level in ("case", "patient", "relative", "unrelated"))
    assert level in FIELD_LEVELS and known_fields()[level]["keys"] == list(KNOWN_FIELDS[level])


def test_every_object_of_the_schema_is_a_known_level() -> None:
    levels = {"case" if n is SCHEMA else name for name, n in [("case", SCHEMA),
                                                             *SCHEMA["$defs"].items()]
              if "object" in ([t] if isinstance(t := n.get("type"), str) else t or [])}
    assert levels == set(KNOWN_FIELDS)


def test_every_field_is_described() -> None:
    def walk(node: dict[str, Any], path: str) -> list[str]:
        missing = []
        for key, sub in node.get("properties", {}).items():
            if not sub.get("description"):
                missing.append(f"{path}.{key}")
        return missing

    missing = [m for level in KNOWN_FIELDS for m in walk(node_of(level), level)]
    assert not missing
    units = json.dumps(SCHEMA)
    for unit in ("kilograms", "centimetres", "years", "percent", "fraction in [0, 1]",
                 "YYYY-MM-DD", "MFI"):
        assert unit in units


def test_the_schema_is_draft_2020_12_json() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert json.loads(case_schema_text()) == SCHEMA


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_bundled_example_validates_and_parses(path: Path) -> None:
    data = as_json(path)
    assert validate(data, SCHEMA) == []
    parse_case(data, today=dt.date(2026, 11, 25))


@pytest.mark.parametrize(("mutate", "error"), [
    (lambda d: d["patient"].__setitem__("antibodys", d["patient"].pop("antibodies")),
     "$.patient.antibodys: not allowed"),
    (lambda d: d["relatives"][0].__setitem__("diagnosis", "AML"),
     "$.relatives[0].diagnosis: not allowed"),
    (lambda d: d["patient"]["hla"].__setitem__("DQB", ["DQB1*03:03", "DQB1*06:02"]),
     "$.patient.hla.DQB: not allowed"),
    (lambda d: d["patient"]["antibodies"]["results"][0].__setitem__("mfl", 1),
     "$.patient.antibodies.results[0].mfl: not allowed"),
])
def test_the_schema_refuses_what_the_parser_refuses(mutate: Any, error: str) -> None:
    data = as_json(ROOT / "src" / "everydonor" / "data" / "examples" / "case.json")
    mutate(data)
    assert error in validate(data, SCHEMA)
    with pytest.raises(Exception, match="not a|belongs"):
        parse_case(data, today=dt.date(2026, 11, 25))


def test_extension_keys_validate() -> None:
    data = as_json(ROOT / "examples" / "07-post-transplant-mrd-follow-up.yaml")
    data["x_top"] = 1
    data["patient"]["hla"]["x_lab"] = "L"
    data["patient"]["hla"]["HLA-DPB1"] = ["DPB1*04:01", "DPB1*04:01"]
    assert validate(data, SCHEMA) == []


def test_the_follow_up_example() -> None:
    path = ROOT / "examples" / "07-post-transplant-mrd-follow-up.yaml"
    case = parse_case(as_json(path), today=dt.date(2026, 11, 25))
    assert case.follow_up is not None and case.follow_up["mrd"][1]["x_lab_sample_id"]
    assert case.centre.extensions == {"x_ward": "haematology 3"}
    assert case.person("B1").extensions == {"x_donor_centre_id": "EH-D-0042"}
    assert case.patient.extensions["extensions"]["example_hospital"]["record_number"]
    doc = assess_follow_up(case.patient, dt.date(2026, 6, 15), case.follow_up)
    assert doc["mrd_status"] == "positive"
    actions = " | ".join(r["action"] for r in doc["recommendations"])
    assert "Modified DLI" in actions and "7.2×10^9 MNC for 72 kg" in actions
    assert "sorafenib" in actions
    assert "07-post-transplant-mrd-follow-up.yaml" in (ROOT / "examples" / "README.md").read_text(
        encoding="utf-8")
