"""Values of a case file as JSON the database can hold, exactly, and canonical digests.

Extension blocks (``x_`` keys, ``extensions:``), ``follow_up`` and ``match_probability`` are
carried verbatim, and a YAML case may hold dates, non-text keys or non-finite numbers that JSON
has no word for. :func:`encode` writes those as one-key tagged objects (``{"$date": …}``,
``{"$map": [[k, v], …]}``, ``{"$float": "nan"}``); a mapping whose own keys start with ``$``
is always written as ``$map``, so a tag can never be mistaken for data. :func:`decode` reverses
it exactly.

:func:`canonical_json` (sorted keys, no spaces, UTF-8) is the text every digest is taken over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

_TAGS = ("$date", "$datetime", "$map", "$float", "$time")


def encode(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (see the module docstring)."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        if all(type(v) is str for v in value):  # the common case (typings, notes): as is
            return list(value)
        return [encode(v) for v in value]
    if isinstance(value, bytes):
        raise ValueError("binary values cannot be stored in the registry")
    raise ValueError(f"a {type(value).__name__} value cannot be stored in the registry")


def decode(value: Any) -> Any:
    """The value :func:`encode` was given."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, inner), = value.items()
        if tag == "$date":
            return dt.date.fromisoformat(inner)
        if tag == "$datetime":
            return dt.datetime.fromisoformat(inner)
        if tag == "$time":
            return dt.time.fromisoformat(inner)
        if tag == "$float":
            return float(inner)
        if tag == "$map":
            return {_hashable(decode(k)): decode(v) for k, v in inner}
    return {k: decode(v) for k, v in value.items()}


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, non-ASCII kept: the text digests are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def sha256_hex(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """SHA-256 of the canonical JSON of an (encoded) value."""
    return sha256_hex(canonical_json(value))
