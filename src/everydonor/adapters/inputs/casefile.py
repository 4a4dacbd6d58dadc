"""Read a case file (JSON or YAML, ``everydonor.case/1``) into :class:`everydonor.case.Case`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml

from everydonor.case import Case, parse_case
from everydonor.errors import InputError


def load_case_data(path: Path | str) -> Any:
    """The decoded object of a case file: JSON for ``.json``, YAML for ``.yaml``/``.yml``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read case file {str(p)!r}: {exc.strerror}", value=str(p),
                         field="CASE") from exc
    is_yaml = p.suffix.lower() in (".yaml", ".yml")
    if not text.strip():
        return None  # parse_case says "the case file is empty", for JSON as for YAML
    try:
        return yaml.safe_load(text) if is_yaml else json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "YAML" if is_yaml else "JSON"
        raise InputError(f"case file {p.name!r} is not valid {kind}: {exc}", value=str(p),
                         field="CASE") from exc


def read_case(path: Path | str, today: dt.date | None = None) -> Case:
    """Read and validate a case file; errors name the person, the field and the value."""
    return parse_case(load_case_data(path), today=today or dt.date.today())
