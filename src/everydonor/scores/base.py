"""The score registry: each score's input fields, parameters, citation and confidence.

Inputs are JSON objects with exactly the score's keys (``../shared/spec/clinical-scores.md``;
the issue's contract): a missing key or ``null`` means "not present" (false for a finding); an
unknown key, a value of the wrong type or out of range, or contradictory findings is refused with
an :class:`~everydonor.errors.InputError` naming the score, the field and the value. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from everydonor.errors import InputError


@dataclass(frozen=True, slots=True)
class Field:
    """One input key: ``kind`` is bool, number, int, enum, pairs, ints, events or organs."""

    name: str
    kind: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True, slots=True)
class Score:
    name: str
    title: str
    criteria: str  # version of the criteria, e.g. "MAGIC-2016"
    citation: str
    confidence: str  # S, S3, M, C (clinical-scores.md §0)
    fields: tuple[Field, ...]
    compute: Callable[[Mapping[str, Any]], dict[str, Any]]
    #: Named variants (``{"gut4_grade": ("III", ("III", "IV"))}``): default and allowed values.
    parameters: Mapping[str, tuple[Any, tuple[Any, ...]]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "criteria": self.criteria,
                "citation": self.citation, "confidence": self.confidence,
                "inputs": [f.name for f in self.fields],
                "parameters": {k: {"default": d, "allowed": list(a)}
                               for k, (d, a) in self.parameters.items()}}


def _fail(score: str, name: str, message: str, value: Any) -> InputError:
    return InputError(f"score {score}: {message}", field=name, value=repr(value))


def _check(score: str, f: Field, value: Any) -> Any:
    if value is None:
        return False if f.kind == "bool" else None
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise _fail(score, f.name, "must be true or false", value)
        return value
    if f.kind in ("number", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(score, f.name, "must be a number", value)
        if f.kind == "int" and value != int(value):
            raise _fail(score, f.name, "must be a whole number", value)
        if (f.lo is not None and value < f.lo) or (f.hi is not None and value > f.hi):
            raise _fail(score, f.name, f"must lie between {f.lo:g} and {f.hi:g}", value)
        return int(value) if f.kind == "int" else float(value)
    if f.kind == "enum":
        if value not in f.choices:
            raise _fail(score, f.name, f"must be one of: {', '.join(f.choices)}", value)
        return value
    if f.kind == "pairs":  # [[day, value], ...]
        if not isinstance(value, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(
                    isinstance(x, int | float) and not isinstance(x, bool) for x in p)
                for p in value):
            raise _fail(score, f.name, "must be a list of [day, value] pairs", value)
        days = [p[0] for p in value]
        if len(set(days)) != len(days):
            raise _fail(score, f.name, "each day may appear once (values on different days)",
                        value)
        if any(p[1] < 0 for p in value):
            raise _fail(score, f.name, "counts cannot be negative", value)
        return sorted((int(p[0]), float(p[1])) for p in value)
    if f.kind == "ints":
        if not isinstance(value, list) or not all(isinstance(x, int) and not isinstance(x, bool)
                                                  for x in value):
            raise _fail(score, f.name, "must be a list of days", value)
        return sorted(set(value))
    if f.kind == "events":  # [{day, grade}]
        grades = ("0", "I", "II", "III", "IV")
        if not isinstance(value, list) or not all(
                isinstance(e, Mapping) and set(e) == {"day", "grade"}
                and isinstance(e["day"], int) and e["grade"] in grades for e in value):
            raise _fail(score, f.name, "must be a list of {day, grade} with grade 0, I, II, III "
                        "or IV", value)
        return sorted((int(e["day"]), str(e["grade"])) for e in value)
    if f.kind == "organs":
        organs = ("skin", "mouth", "eyes", "gi", "liver", "lungs", "joints", "genital")
        if not isinstance(value, Mapping) or not set(value) <= set(organs):
            raise _fail(score, f.name, f"must map organs ({', '.join(organs)}) to scores 0-3",
                        value)
        out: dict[str, int | None] = {}
        for organ in organs:
            v = value.get(organ)
            if v is not None and (isinstance(v, bool) or v not in (0, 1, 2, 3)):
                raise _fail(score, f"{f.name}.{organ}", "must be 0, 1, 2 or 3 (null: excluded)",
                            v)
            out[organ] = v
        return out
    raise AssertionError(f.kind)


def validate(score: Score, data: Any) -> dict[str, Any]:
    """The score's inputs, typed; parameters filled with their defaults."""
    if not isinstance(data, Mapping):
        raise InputError(f"score {score.name}: the input must be one JSON object",
                         field="input", value=type(data).__name__)
    known = {f.name for f in score.fields} | set(score.parameters)
    unknown = sorted(set(data) - known)
    if unknown:
        raise _fail(score.name, unknown[0], f"unknown key; the keys are: {', '.join(sorted(known))}",
                    unknown[0])
    out = {f.name: _check(score.name, f, data.get(f.name)) for f in score.fields}
    for name, (default, allowed) in score.parameters.items():
        value = data.get(name, default)
        if value is None:
            value = default
        if value not in allowed:
            raise _fail(score.name, name, f"must be one of: {', '.join(map(str, allowed))}", value)
        out[name] = value
    return out


def band(value: float, edges: Sequence[tuple[float, bool]], results: Sequence[Any]) -> Any:
    """``results[i]`` for the first edge the value lies below (``inclusive`` → ``<=``)."""
    for (edge, inclusive), result in zip(edges, results, strict=False):
        if value < edge or (inclusive and value == edge):
            return result
    return results[-1]


def contradiction(score: str, name: str, message: str, value: Any) -> InputError:
    return _fail(score, name, f"contradictory findings: {message}", value)
