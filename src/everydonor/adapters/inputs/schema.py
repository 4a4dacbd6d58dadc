"""The JSON Schema of the case file (``everydonor.case/1``), shipped as package data.

``data/schema/case.schema.json`` (draft 2020-12) describes every field the parser accepts, with
its unit; its properties at every level equal :data:`everydonor.case.KNOWN_FIELDS` (a test keeps
the two from drifting). Read here, not in :mod:`everydonor.case`, which stays free of I/O.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMA_RESOURCE = ("data", "schema", "case.schema.json")


def case_schema_text() -> str:
    """The schema file's text, as shipped (for ``everydonor case schema``)."""
    return resources.files("everydonor").joinpath(*SCHEMA_RESOURCE).read_text(encoding="utf-8")


def case_schema() -> dict[str, Any]:
    """The case-file JSON Schema as a decoded object."""
    schema: dict[str, Any] = json.loads(case_schema_text())
    return schema
