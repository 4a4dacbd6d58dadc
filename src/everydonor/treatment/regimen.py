"""Regimens as data (``everydonor.regimen/1``), validated on load.

A regimen file lists dose lines (drug, dose and its basis, days, route, caps, rounding, citation
and confidence), the donor's priming and harvests, graft targets and the monitoring schedule.
A line's ``rounding`` is a rounding step the regimen states (each administration is rounded to a
multiple of it, in ``output_unit``); where a line states none, orders are shown with a generic
*display* precision, ``display_significant_figures`` (regimen level, default
:data:`DISPLAY_SIGNIFICANT_FIGURES`), which is no clinical rule: the pharmacy rounds to the
product.
:func:`regimen_from_mapping` checks every field and refuses a broken file with an error that
names the regimen, the line, the field and the value — a regimen is never half-read. A dose left
``null`` is legal in a file (a template a centre must fill in) but no order is ever computed from
it. Pure: the YAML is read by ``everydonor.adapters.inputs.regimens``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from everydonor.errors import InputError

REGIMEN_FORMAT = "everydonor.regimen/1"


class Basis(StrEnum):
    PER_KG = "per_kg"
    PER_M2 = "per_m2"
    FIXED = "fixed"


class WeightBasis(StrEnum):
    ACTUAL = "actual"
    IDEAL = "ideal"
    ADJUSTED = "adjusted"


#: Amount units and their value in milligrams (MIU, international units, do not convert).
MASS_UNITS = {"g": 1000.0, "mg": 1.0, "ug": 0.001}
AMOUNT_UNITS = (*MASS_UNITS, "MIU")
ROUTES = ("IV", "PO", "SC", "IM")
PHASES = ("conditioning", "gvhd_prophylaxis", "donor_priming", "supportive",
          "post_transplant")
CONFIDENCES = ("S", "S-part", "M")
#: Generic display precision where a regimen line states no rounding: this many significant
#: figures, but never coarser than a whole unit (3: whole units from 100 up, 3 significant figures
#: below). Not a clinical rule; a centre sets ``display_significant_figures`` in its regimen file.
DISPLAY_SIGNIFICANT_FIGURES = 3


@dataclass(frozen=True, slots=True)
class DoseLine:
    id: str
    drug: str
    phase: str
    dose: float | None  # per administration, in dose_unit per basis unit
    dose_unit: str
    basis: Basis
    route: str
    output_unit: str
    confidence: str
    citation: str
    days: tuple[int, ...] | None = None
    continuous: tuple[int, int] | None = None
    weight: WeightBasis = WeightBasis.ACTUAL
    adjusted_factor: float | None = None
    administrations_per_day: int = 1
    interval_h: float | None = None
    max_single: float | None = None  # in output_unit
    max_daily: float | None = None  # in output_unit
    rounding: float | None = None  # round each administration to a multiple of this (output_unit)
    total: str | None = None
    target: str | None = None
    notes: str | None = None
    product: str | None = None
    adult_only: bool = False

    @property
    def to_verify(self) -> bool:
        return self.confidence != "S"


@dataclass(frozen=True, slots=True)
class Procedure:
    id: str
    procedure: str
    days: tuple[int, ...]
    confidence: str
    citation: str


@dataclass(frozen=True, slots=True)
class GraftTarget:
    measure: str
    low: float
    high: float | None
    per: str
    confidence: str
    citation: str


@dataclass(frozen=True, slots=True)
class Monitoring:
    test: str
    confidence: str
    citation: str
    days: tuple[int, ...] | None = None
    every_days: int | None = None
    start: str | int | None = None  # "engraftment" or a day
    to_day: int | None = None


@dataclass(frozen=True, slots=True)
class OptionChoice:
    key: str
    text: str
    citation: str
    confidence: str
    line: str
    set: Mapping[str, Any] = field(default_factory=dict)
    total_per_kg: float | None = None
    days_required: str | None = None
    days_option: str = "atg_days"


@dataclass(frozen=True, slots=True)
class RegimenOption:
    name: str
    description: str
    default: str
    choices: Mapping[str, OptionChoice]


@dataclass(frozen=True, slots=True)
class Reference:
    text: str
    confidence: str


@dataclass(frozen=True, slots=True)
class Regimen:
    id: str
    version: str
    title: str
    platform: str
    indication: str
    population: str
    day_zero: str
    references: tuple[Reference, ...]
    options: Mapping[str, RegimenOption]
    lines: tuple[DoseLine, ...]
    donor_lines: tuple[DoseLine, ...]
    procedures: tuple[Procedure, ...]
    graft_targets: tuple[GraftTarget, ...]
    monitoring: tuple[Monitoring, ...]
    source: str = ""
    display_significant_figures: int = DISPLAY_SIGNIFICANT_FIGURES

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "title": self.title,
                "platform": self.platform, "indication": self.indication,
                "references": [r.text for r in self.references],
                "options": {k: {"default": o.default, "choices": {c: ch.text for c, ch in
                                                                   o.choices.items()}}
                            for k, o in self.options.items()},
                "lines_to_verify": sum(1 for ln in (*self.lines, *self.donor_lines)
                                       if ln.to_verify),
                "unset_doses": [ln.id for ln in self.lines if ln.dose is None or (
                    ln.days is None and ln.continuous is None)],
                "display_significant_figures": self.display_significant_figures,
                "source": self.source}


class _Reader:
    """Field access that names the regimen, the line and the field in every refusal."""

    def __init__(self, regimen: str, where: str) -> None:
        self.regimen, self.where = regimen, where

    def fail(self, name: str, message: str, value: Any) -> InputError:
        field_ = f"{self.where}.{name}" if self.where and name else (self.where or name)
        return InputError(f"regimen {self.regimen}: {message}", field=field_, value=repr(value))

    def text(self, m: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
        value = m.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required", value)
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "must be non-empty text", value)
        return value.strip()

    def number(self, m: Mapping[str, Any], name: str, *, positive: bool = True,
               required: bool = False) -> float | None:
        value = m.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required", value)
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, "must be a number", value)
        if positive and not value > 0:
            raise self.fail(name, "must be greater than 0", value)
        return float(value)

    def choice(self, m: Mapping[str, Any], name: str, allowed: Sequence[str],
               default: str | None = None) -> str:
        value = m.get(name, default)
        if value not in allowed:
            raise self.fail(name, f"must be one of: {', '.join(allowed)}", value)
        return str(value)

    def days(self, m: Mapping[str, Any], name: str) -> tuple[int, ...] | None:
        value = m.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not value or not all(
                isinstance(d, int) and not isinstance(d, bool) for d in value):
            raise self.fail(name, "must be a non-empty list of whole days (e.g. [-5, -4])",
                            value)
        if len(set(value)) != len(value) or list(value) != sorted(value):
            raise self.fail(name, "days must be increasing, each once", value)
        if not all(-60 <= d <= 3650 for d in value):
            raise self.fail(name, "days must lie between -60 and +3650", value)
        return tuple(value)


_LINE_FIELDS = {"id", "drug", "phase", "dose", "dose_unit", "basis", "weight", "adjusted_factor",
                "administrations_per_day", "interval_h", "days", "continuous", "route",
                "output_unit", "max_single", "max_daily", "rounding", "total", "target", "notes",
                "product", "adult_only", "confidence", "citation"}


def _line(raw: Any, regimen: str, where: str) -> DoseLine:
    r = _Reader(regimen, where)
    if not isinstance(raw, Mapping):
        raise r.fail("", "each line must be an object", raw)
    unknown = sorted(set(raw) - _LINE_FIELDS)
    if unknown:
        raise r.fail(unknown[0], f"unknown field (allowed: {', '.join(sorted(_LINE_FIELDS))})",
                     unknown[0])
    lid = r.text(raw, "id")
    r = _Reader(regimen, f"{where.split('[', maxsplit=1)[0]}[{lid}]")
    basis = Basis(r.choice(raw, "basis", [b.value for b in Basis]))
    weight = WeightBasis(r.choice(raw, "weight", [w.value for w in WeightBasis], "actual"))
    adjusted = r.number(raw, "adjusted_factor")
    if weight is WeightBasis.ADJUSTED and adjusted is None:
        raise r.fail("adjusted_factor", "is required for weight: adjusted (e.g. 0.4)", None)
    if adjusted is not None and not adjusted < 1:
        raise r.fail("adjusted_factor", "must be below 1", adjusted)
    if basis is not Basis.PER_KG and "weight" in raw:
        raise r.fail("weight", "applies only to basis per_kg", raw["weight"])
    days = r.days(raw, "days")
    continuous = None
    if raw.get("continuous") is not None:
        c = raw["continuous"]
        if not isinstance(c, Mapping) or not all(isinstance(c.get(k), int) for k in ("from",
                                                                                      "to")):
            raise r.fail("continuous", "must be {from: DAY, to: DAY}", c)
        if c["from"] >= c["to"]:
            raise r.fail("continuous", "from must come before to", c)
        continuous = (int(c["from"]), int(c["to"]))
        if days is not None:
            raise r.fail("continuous", "give days or continuous, not both", c)
    per_day = r.number(raw, "administrations_per_day")
    if per_day is not None and (per_day != int(per_day) or per_day > 24):
        raise r.fail("administrations_per_day", "must be a whole number from 1 to 24", per_day)
    dose_unit = r.choice(raw, "dose_unit", AMOUNT_UNITS)
    output_unit = r.choice(raw, "output_unit", AMOUNT_UNITS, dose_unit)
    if (dose_unit == "MIU") != (output_unit == "MIU"):
        raise r.fail("output_unit", "MIU does not convert to a mass unit", output_unit)
    adult_only = raw.get("adult_only", False)
    if not isinstance(adult_only, bool):
        raise r.fail("adult_only", "must be true or false", adult_only)
    return DoseLine(
        id=str(lid), drug=str(r.text(raw, "drug")),
        phase=r.choice(raw, "phase", PHASES), dose=r.number(raw, "dose"),
        dose_unit=dose_unit, basis=basis, route=r.choice(raw, "route", ROUTES),
        output_unit=output_unit, confidence=r.choice(raw, "confidence", CONFIDENCES),
        citation=str(r.text(raw, "citation")), days=days, continuous=continuous, weight=weight,
        adjusted_factor=adjusted, administrations_per_day=int(per_day or 1),
        interval_h=r.number(raw, "interval_h"), max_single=r.number(raw, "max_single"),
        max_daily=r.number(raw, "max_daily"), rounding=r.number(raw, "rounding"),
        total=r.text(raw, "total", required=False), target=r.text(raw, "target", required=False),
        notes=r.text(raw, "notes", required=False),
        product=r.text(raw, "product", required=False), adult_only=adult_only)


def _procedure(raw: Any, regimen: str, where: str) -> Procedure:
    r = _Reader(regimen, where)
    if not isinstance(raw, Mapping):
        raise r.fail("", "must be an object", raw)
    days = r.days(raw, "days")
    if days is None:
        raise r.fail("days", "is required", None)
    return Procedure(str(r.text(raw, "id")), str(r.text(raw, "procedure")), days,
                     r.choice(raw, "confidence", CONFIDENCES), str(r.text(raw, "citation")))


def _monitoring(raw: Any, regimen: str, where: str) -> Monitoring:
    r = _Reader(regimen, where)
    if not isinstance(raw, Mapping):
        raise r.fail("", "must be an object", raw)
    days = r.days(raw, "days")
    every = r.number(raw, "every_days")
    if (days is None) == (every is None):
        raise r.fail("days", "give either days or every_days", raw.get("days"))
    start = raw.get("from")
    if every is not None and not (start == "engraftment" or isinstance(start, int)):
        raise r.fail("from", "must be 'engraftment' or a day", start)
    to_day = raw.get("to_day")
    if every is not None and not isinstance(to_day, int):
        raise r.fail("to_day", "is required with every_days", to_day)
    return Monitoring(str(r.text(raw, "test")), r.choice(raw, "confidence", CONFIDENCES),
                      str(r.text(raw, "citation")), days, int(every) if every else None, start,
                      to_day)


def _options(raw: Any, regimen: str, line_ids: set[str]) -> dict[str, RegimenOption]:
    out: dict[str, RegimenOption] = {}
    if raw is None:
        return out
    r = _Reader(regimen, "options")
    if not isinstance(raw, Mapping):
        raise r.fail("", "must map option names to their choices", raw)
    for name, spec in raw.items():
        ro = _Reader(regimen, f"options.{name}")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("choices"), Mapping):
            raise ro.fail("choices", "is required", spec)
        choices = {}
        for key, ch in spec["choices"].items():
            rc = _Reader(regimen, f"options.{name}.choices.{key}")
            if not isinstance(ch, Mapping):
                raise rc.fail("", "must be an object", ch)
            line = str(rc.text(ch, "line"))
            if line not in line_ids:
                raise rc.fail("line", f"names no line of the regimen ({', '.join(sorted(line_ids))})",
                              line)
            sets = ch.get("set") or {}
            if not isinstance(sets, Mapping) or not set(sets) <= {"dose", "days"}:
                raise rc.fail("set", "may set dose and days only", sets)
            total = rc.number(ch, "total_per_kg")
            if not sets and total is None:
                raise rc.fail("set", "a choice sets the line's dose/days or its total_per_kg",
                              None)
            choices[str(key)] = OptionChoice(
                str(key), str(rc.text(ch, "text")), str(rc.text(ch, "citation")),
                rc.choice(ch, "confidence", CONFIDENCES), line, dict(sets), total,
                rc.text(ch, "days_required", required=False),
                str(ch.get("days_option", "atg_days")))
        default = str(spec.get("default"))
        if default not in choices:
            raise ro.fail("default", f"must be one of the choices ({', '.join(choices)})",
                          spec.get("default"))
        out[str(name)] = RegimenOption(str(name), str(spec.get("description", name)), default,
                                       choices)
    return out


_TOP = {"format", "id", "version", "title", "platform", "indication", "population", "day_zero",
        "references", "options", "lines", "donor", "graft_targets", "monitoring",
        "display_significant_figures"}


def regimen_from_mapping(data: Any, source: str = "") -> Regimen:
    """Validate a decoded regimen file. Raises :class:`InputError` naming the regimen, the line
    and the field; nothing is returned from a file with any error."""
    if not isinstance(data, Mapping):
        raise InputError("a regimen file must hold one object", field="regimen",
                         value=type(data).__name__)
    rid = data.get("id") if isinstance(data.get("id"), str) else "?"
    top = _Reader(str(rid), "")
    if data.get("format") != REGIMEN_FORMAT:
        raise top.fail("format", f"must be {REGIMEN_FORMAT!r}", data.get("format"))
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise top.fail(unknown[0], "unknown field", unknown[0])
    for name in ("id", "version", "title", "platform", "indication", "population", "day_zero"):
        top.text(data, name)
    refs = data.get("references")
    if not isinstance(refs, list) or not refs:
        raise top.fail("references", "at least one reference is required", refs)
    references = []
    for i, ref in enumerate(refs):
        rr = _Reader(str(rid), f"references[{i}]")
        if not isinstance(ref, Mapping):
            raise rr.fail("", "must be {text, confidence}", ref)
        references.append(Reference(str(rr.text(ref, "text")),
                                    rr.choice(ref, "confidence", CONFIDENCES)))
    raw_lines = data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise top.fail("lines", "a regimen needs at least one dose line", raw_lines)
    lines = tuple(_line(x, str(rid), f"lines[{i}]") for i, x in enumerate(raw_lines))
    ids = [ln.id for ln in lines]
    if len(set(ids)) != len(ids):
        raise top.fail("lines", "line ids must be unique", ids)
    donor_lines, procedures = [], []
    for i, x in enumerate(data.get("donor") or []):
        if isinstance(x, Mapping) and "procedure" in x:
            procedures.append(_procedure(x, str(rid), f"donor[{i}]"))
        else:
            donor_lines.append(_line(x, str(rid), f"donor[{i}]"))
    targets = []
    for i, x in enumerate(data.get("graft_targets") or []):
        rt = _Reader(str(rid), f"graft_targets[{i}]")
        if not isinstance(x, Mapping):
            raise rt.fail("", "must be an object", x)
        targets.append(GraftTarget(str(rt.text(x, "measure")),
                                   float(rt.number(x, "low", required=True) or 0),
                                   rt.number(x, "high"), str(rt.text(x, "per")),
                                   rt.choice(x, "confidence", CONFIDENCES),
                                   str(rt.text(x, "citation"))))
    monitoring = tuple(_monitoring(x, str(rid), f"monitoring[{i}]")
                       for i, x in enumerate(data.get("monitoring") or []))
    figures = data.get("display_significant_figures", DISPLAY_SIGNIFICANT_FIGURES)
    if isinstance(figures, bool) or not isinstance(figures, int) or not 1 <= figures <= 6:
        raise top.fail("display_significant_figures", "must be a whole number from 1 to 6",
                       figures)
    return Regimen(
        id=str(rid), version=str(data["version"]), title=str(data["title"]),
        platform=str(data["platform"]), indication=str(data["indication"]),
        population=str(data["population"]), day_zero=str(data["day_zero"]).strip(),
        references=tuple(references),
        options=_options(data.get("options"), str(rid), set(ids)), lines=lines,
        donor_lines=tuple(donor_lines), procedures=tuple(procedures),
        graft_targets=tuple(targets), monitoring=monitoring, source=source,
        display_significant_figures=figures)
