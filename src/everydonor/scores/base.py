"""The score registry: each score's input fields, parameters, citation and confidence.

Inputs are JSON objects with exactly the score's keys (``../shared/spec/clinical-scores.md``;
the issue's contract). An unknown key, a value of the wrong type or out of range, or
contradictory findings is refused with an :class:`~everydonor.errors.InputError` naming the
score, the field and the value. Pure.

**Missing or null.** A missing key and ``null`` are one and the same input: "not given".

- A finding (``kind="bool"``) that is not given is absent: ``false``. So is an enumerated finding
  with an ``absent`` value (``end_organ_findings``, ``sclerotic_features``: ``"none"``). Such
  inputs never put ``null`` into an answer, and an answer is the same whether the key is
  omitted, ``null`` or the absent value.
- A measurement (a laboratory value, a day, a percentage) that is not given stays unknown;
  each score says what it does without it (a stage 0 with a note, "not assessable", or an error
  naming the field when the score cannot be computed without it).

**Enumerations.** An enumerated value is matched whatever its case, surrounding whitespace and
separators (spaces, hyphens, underscores, commas inside the value do not count: ``Bone-Marrow``
is ``bone_marrow``), and may be given as a documented synonym (a table next to the field's
definition: ``PBSC`` for ``peripheral_blood``). The validated input is always the canonical
value, and the answer echoes it. A value that could mean several canonical values (``CR``:
CR1, CR2 or CR3+?) is refused naming them; an unknown value is refused listing the accepted
values and synonyms and naming the closest one.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from everydonor.errors import InputError

#: What does not count when enumerated values are compared: whitespace, underscores, commas
#: and hyphens or dashes (U+2010-U+2015 too).
_SEPARATORS = re.compile(r"[\s_,\u2010-\u2015-]+")


def enum_key(text: str) -> str:
    """The form in which an enumerated value is compared: ``" Bone-Marrow "`` → ``bonemarrow``."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return _SEPARATORS.sub("", text)


def check_vocabulary(name: str, choices: Sequence[str], synonyms: Mapping[str, str],
                     ambiguous: Mapping[str, Sequence[str]]) -> None:
    """Refuse (``ValueError``, a programming error) a table in which two spellings compare
    equal, a synonym that names no canonical value or merely respells one, or an ambiguous
    spelling that names unknown values."""
    seen: dict[str, str] = {}
    for spelling, target in [*((c, c) for c in choices), *synonyms.items()]:
        if target not in choices:
            raise ValueError(f"{name}: synonym {spelling!r} names {target!r}, not a choice")
        key = enum_key(spelling)
        if not key:
            raise ValueError(f"{name}: empty spelling {spelling!r}")
        if key in seen:
            raise ValueError(f"{name}: {spelling!r} compares equal to {seen[key]!r}")
        seen[key] = spelling
    for spelling, targets in ambiguous.items():
        key = enum_key(spelling)
        if key in seen or len(targets) < 2 or not set(targets) <= set(choices):
            raise ValueError(f"{name}: bad ambiguous spelling {spelling!r} -> {targets!r}")
        seen[key] = spelling


def _shown(spelling: str) -> str:
    return repr(spelling) if "," in spelling else spelling


def match_choice(score: str, name: str, value: Any, choices: Sequence[str], *,
                 synonyms: Mapping[str, str] | None = None,
                 ambiguous: Mapping[str, Sequence[str]] | None = None) -> str:
    """The canonical value that ``value`` spells, or an :class:`InputError` listing the accepted
    values (and synonyms) and naming the closest one."""
    synonyms = synonyms or {}
    ambiguous = ambiguous or {}
    accepted = ", ".join(choices) + (f" (synonyms: {', '.join(map(_shown, synonyms))})"
                                     if synonyms else "")
    if not isinstance(value, str):
        raise _fail(score, name, f"must be one of {accepted}", value)
    table = {enum_key(c): c for c in choices}
    table.update((enum_key(s), c) for s, c in synonyms.items())
    key = enum_key(value)
    if key in table:
        return table[key]
    for spelling, targets in ambiguous.items():
        if enum_key(spelling) == key:
            raise _fail(score, name, f"{value!r} is ambiguous: it may mean "
                        f"{' or '.join(targets)}; give one of {accepted}", value)
    spelled = {enum_key(s): s for s in (*choices, *synonyms)}
    close = difflib.get_close_matches(key, list(spelled), n=1, cutoff=0.6)
    hint = ""
    if close:
        shown, target = spelled[close[0]], table[close[0]]
        hint = f"; closest: {shown}" + ("" if shown == target else f" ({target})")
    raise _fail(score, name, f"{value!r} is not one of {accepted}{hint}", value)


@dataclass(frozen=True, slots=True)
class Field:
    """One input key: ``kind`` is bool, number, int, enum, pairs, ints, events or organs.

    An enum's ``synonyms`` map spellings a clinician types (``PBSC``) to a canonical value
    (``peripheral_blood``); ``ambiguous`` spellings are refused naming what they may mean;
    ``absent`` is the value that a missing key or ``null`` reads as (``"none"``) for an
    enumerated finding. A missing or null ``bool`` reads as ``false``.
    """

    name: str
    kind: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    synonyms: Mapping[str, str] = field(default_factory=dict, hash=False)
    ambiguous: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    absent: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "enum":
            check_vocabulary(self.name, self.choices, self.synonyms, self.ambiguous)
            if self.absent is not None and self.absent not in self.choices:
                raise ValueError(f"{self.name}: absent value {self.absent!r} is not a choice")
        elif self.synonyms or self.ambiguous or self.absent is not None:
            raise ValueError(f"{self.name}: only an enum has synonyms or an absent value")

    def is_absent(self, value: Any) -> bool:
        """Whether a validated value says "not given" / "not present"."""
        return value is None or value is False or (self.absent is not None
                                                    and value == self.absent)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.lo is not None or self.hi is not None:
            out["range"] = [self.lo, self.hi]
        if self.kind == "bool":
            out["missing_or_null"] = False
        if self.kind == "enum":
            out["choices"] = list(self.choices)
            out["synonyms"] = dict(self.synonyms)
            if self.ambiguous:
                out["ambiguous"] = {k: list(v) for k, v in self.ambiguous.items()}
            out["matching"] = ("case, surrounding whitespace, spaces, hyphens, underscores and "
                               "commas do not count")
            if self.absent is not None:
                out["missing_or_null"] = self.absent
        if self.help:
            out["help"] = self.help
        return out


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
                "fields": [f.describe() for f in self.fields],
                "parameters": {k: {"default": d, "allowed": list(a)}
                               for k, (d, a) in self.parameters.items()}}


def _fail(score: str, name: str, message: str, value: Any) -> InputError:
    return InputError(f"score {score}: {message}", field=name, value=repr(value))


_GRADES = ("0", "I", "II", "III", "IV")
_ORGANS = ("skin", "mouth", "eyes", "gi", "liver", "lungs", "joints", "genital")


def _check(score: str, f: Field, value: Any) -> Any:
    if value is None:
        return False if f.kind == "bool" else f.absent
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
        return match_choice(score, f.name, value, f.choices, synonyms=f.synonyms,
                            ambiguous=f.ambiguous)
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
        if not isinstance(value, list) or not all(
                isinstance(e, Mapping) and set(e) == {"day", "grade"}
                and isinstance(e["day"], int) and not isinstance(e["day"], bool)
                for e in value):
            raise _fail(score, f.name, "must be a list of {day, grade} with grade 0, I, II, III "
                        "or IV", value)
        return sorted((int(e["day"]), match_choice(score, f"{f.name}.grade", e["grade"],
                                                   _GRADES)) for e in value)
    if f.kind == "organs":
        # An organ left out is not involved (score 0); an organ given as null is excluded
        # (its abnormality is explained by a documented non-GVHD cause, §2.1).
        if not isinstance(value, Mapping) or not set(value) <= set(_ORGANS):
            raise _fail(score, f.name, f"must map organs ({', '.join(_ORGANS)}) to scores 0-3",
                        value)
        out: dict[str, int | None] = {}
        for organ in _ORGANS:
            if organ not in value:
                continue
            v = value[organ]
            if v is not None and (isinstance(v, bool) or v not in (0, 1, 2, 3)):
                raise _fail(score, f"{f.name}.{organ}", "must be 0, 1, 2 or 3 (null: excluded)",
                            v)
            out[organ] = None if v is None else int(v)
        return out
    raise AssertionError(f.kind)


def _parameter(score: str, name: str, value: Any, default: Any, allowed: tuple[Any, ...]) -> Any:
    if all(isinstance(a, str) for a in allowed):
        return match_choice(score, name, value, [str(a) for a in allowed])
    if isinstance(default, bool) != isinstance(value, bool) or value not in allowed:
        raise _fail(score, name, f"must be one of: {', '.join(map(str, allowed))}", value)
    return value


def validate(score: Score, data: Any) -> dict[str, Any]:
    """The score's inputs, typed and canonical; parameters filled with their defaults."""
    if data is None:
        raise InputError(f"score {score.name}: the input is empty; give one JSON object with "
                         "the score's fields (see `everydonor score --list`)", field="input")
    if not isinstance(data, Mapping):
        kind = {"list": "a list", "str": "text", "int": "a number", "float": "a number",
                "bool": "true/false"}.get(type(data).__name__, type(data).__name__)
        raise InputError(f"score {score.name}: the input must be one JSON object, got {kind}",
                         field="input")
    known = {f.name for f in score.fields} | set(score.parameters)
    unknown = sorted(set(data) - known)
    if unknown:
        raise _fail(score.name, unknown[0], f"unknown key; the keys are: {', '.join(sorted(known))}",
                    unknown[0])
    out = {f.name: _check(score.name, f, data.get(f.name)) for f in score.fields}
    for name, (default, allowed) in score.parameters.items():
        value = data.get(name)
        out[name] = default if value is None else _parameter(score.name, name, value, default,
                                                             allowed)
    return out


def echo(score: Score, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs an answer repeats: every parameter, and each field that was given (canonical
    values; a finding that is absent, and a measurement that is not given, are left out)."""
    fields = {f.name: f for f in score.fields}
    return {k: v for k, v in inputs.items()
            if k not in fields or not (fields[k].is_absent(v) or v == {})}


def band(value: float, edges: Sequence[tuple[float, bool]], results: Sequence[Any]) -> Any:
    """``results[i]`` for the first edge the value lies below (``inclusive`` → ``<=``)."""
    for (edge, inclusive), result in zip(edges, results, strict=False):
        if value < edge or (inclusive and value == edge):
            return result
    return results[-1]


def missing_input(score: str, name: str) -> InputError:
    """A value the score cannot be computed without (not a contradiction: simply not given)."""
    return InputError(f"score {score}: {name} is required for this score and was not given",
                      field=name)


def contradiction(score: str, name: str, message: str, value: Any) -> InputError:
    return _fail(score, name, f"contradictory findings: {message}", value)
