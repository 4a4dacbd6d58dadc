"""``everydonor plan``: a regimen's doses for this patient, on dates, with their arithmetic.

Refuses rather than guesses: no weight, no height where a line doses by surface area, no sex where
a line doses by ideal weight, a child for an adult fixed dose, a dose line the regimen leaves
unset, an option the reference leaves without a day schedule — each is an
:class:`~everydonor.errors.InputError` naming the person or the regimen line, and nothing is
planned. Every line not confirmed in its source ([M], [S-part]) is marked "to be verified by the
centre" in every order that comes from it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from everydonor.case import Person, Sex
from everydonor.errors import InputError
from everydonor.treatment.body import (
    BSA_CITATIONS,
    DEVINE_CITATION,
    BsaFormula,
    Computed,
    adjusted_body_weight,
    body_surface_area,
    ideal_body_weight,
)
from everydonor.treatment.regimen import (
    DISPLAY_SIGNIFICANT_FIGURES,
    MASS_UNITS,
    Basis,
    DoseLine,
    Regimen,
    WeightBasis,
)

TO_VERIFY = "to be verified by the centre"
PLAN_NOTICE = ("Decision support — doses for review by the treating physician and a pharmacist. "
               "Check every dose against the regimen's source and local policy before ordering.")
DISPLAY_ROUNDING = "display rounding — the pharmacy rounds to the product"


def num(x: float, decimals: int = 3) -> str:
    """A number as people write it: no float noise, at most 3 decimals (or ``decimals``)."""
    r = round(x, decimals)
    return str(int(r)) if r == int(r) else f"{r:.{decimals}f}".rstrip("0").rstrip(".")


#: Decimals of an exact figure: enough for a dose per m² (2 decimals) times a BSA (4 decimals).
EXACT_DECIMALS = 6


def exact(x: float) -> str:
    """An exact figure of the arithmetic (``450.625``, ``27.0375``), without float noise."""
    return num(x, EXACT_DECIMALS)


class _Body:
    """The patient's (or donor's) measures, computed once, refusing what is missing."""

    def __init__(self, person: Person, bsa_formula: BsaFormula) -> None:
        self.person = person
        self.formula = bsa_formula
        self._bsa: Computed | None = None
        self._ibw: Computed | None = None

    def refuse(self, field_: str, message: str) -> InputError:
        value = getattr(self.person, field_, None)
        return InputError(message, person=self.person.id, field=field_, value=repr(value))

    @property
    def weight(self) -> float:
        if self.person.weight_kg is None:
            raise self.refuse("weight_kg", "weight is required to compute a dose; a dose is "
                              "never computed from a default")
        return self.person.weight_kg

    @property
    def bsa(self) -> Computed:
        if self._bsa is None:
            if self.person.height_cm is None:
                raise self.refuse("height_cm", "height is required for body-surface-area "
                                  "dosing")
            self._bsa = body_surface_area(self.weight, self.person.height_cm, self.formula)
        return self._bsa

    def dosing_weight(self, line: DoseLine) -> tuple[float, str]:
        if line.weight is WeightBasis.ACTUAL:
            return self.weight, f"{exact(self.weight)} kg (actual weight)"
        if self.person.height_cm is None:
            raise self.refuse("height_cm", f"height is required for {line.weight.value} body "
                              f"weight ({line.id})")
        if self.person.sex is None:
            raise self.refuse("sex", f"sex is required for {line.weight.value} body weight "
                              f"({line.id}, Devine formula)")
        if self._ibw is None:
            self._ibw = ideal_body_weight(self.person.height_cm, self.person.sex is Sex.MALE)
        if line.weight is WeightBasis.IDEAL:
            return self._ibw.value, f"{exact(self._ibw.value)} kg ({self._ibw.arithmetic})"
        assert line.adjusted_factor is not None
        adj = adjusted_body_weight(self.weight, self._ibw.value, line.adjusted_factor)
        return adj.value, f"{exact(adj.value)} kg ({self._ibw.arithmetic}; {adj.arithmetic})"


def _per(line: DoseLine) -> str:
    return {Basis.PER_KG: "/kg", Basis.PER_M2: "/m2", Basis.FIXED: ""}[line.basis]


def basis_text(line: DoseLine, dose: float) -> str:
    unit = f"{line.dose_unit}{_per(line)}"
    if line.administrations_per_day == 1:
        return f"{num(dose)} {unit}/day"
    every = f"every {num(line.interval_h)} h" if line.interval_h else \
        f"{line.administrations_per_day} times a day"
    return f"{num(dose)} {unit} {every} ({num(dose * line.administrations_per_day)} {unit}/day)"


def _half_up(x: float, step: Decimal) -> Decimal:
    """The exact figure of ``x`` (as shown, :func:`exact`) to the nearest multiple of ``step``,
    halves up (as people round: 13.15 → 13.2, never 13.149999… → 13.1)."""
    return (Decimal(exact(x)) / step).to_integral_value(ROUND_HALF_UP) * step


def display_step(x: float, figures: int) -> Decimal:
    """The display precision of ``x``: ``figures`` significant figures, never coarser than a
    whole unit. With 3: whole units from 100 up, 0.1 from 10, 0.01 from 1.

    >>> str(display_step(450.625, 3)), str(display_step(54.4, 3)), str(display_step(7210.5, 3))
    ('1', '0.1', '1')
    """
    if not x > 0:
        return Decimal(1)
    exponent = math.floor(math.log10(x)) - figures + 1
    return Decimal(1).scaleb(min(exponent, 0))


def display_rule(figures: int, unit: str) -> str:
    return (f"{DISPLAY_ROUNDING} ({figures} significant figures; whole {unit} from "
            f"{10 ** (figures - 1)} {unit} up)")


def _round_order(line: DoseLine, per: float, figures: int) -> dict[str, Any]:
    """The per-administration amount rounded as the line states, else for display; never above
    a maximum the line states (then the multiple below it)."""
    n, unit = line.administrations_per_day, line.output_unit
    if line.rounding:
        step = Decimal(repr(line.rounding))
        kind = "regimen"
        text = f"rounded as the regimen line states: to a multiple of {exact(line.rounding)} {unit}"
    else:
        step = display_step(per, figures)
        kind = "display"
        text = display_rule(figures, unit)
    rounded = _half_up(per, step)
    limits = [Decimal(repr(line.max_single))] if line.max_single is not None else []
    if line.max_daily is not None:
        limits.append(Decimal(repr(line.max_daily)) / n)
    for limit in limits:
        if rounded > limit:
            rounded = (limit / step).to_integral_value(ROUND_FLOOR) * step
            text += f"; down to {exact(float(rounded))} {unit} to stay within the maximum"
    return {"kind": kind, "step": float(step), "text": text,
            "per_administration": float(rounded), "dose": float(rounded * n)}


def compute_dose(line: DoseLine, body: _Body, dose: float, prefix: str = "", *,
                 figures: int = DISPLAY_SIGNIFICANT_FIGURES) -> dict[str, Any]:
    """The per-administration and daily amounts of one line, exact and rounded (as the line
    states, else for display to ``figures`` significant figures), with the arithmetic shown."""
    steps = [prefix] if prefix else []
    if line.basis is Basis.PER_KG:
        w, w_text = body.dosing_weight(line)
        amount = dose * w
        steps.append(f"{num(dose)} {line.dose_unit}/kg × {w_text} = {exact(amount)} "
                     f"{line.dose_unit}")
    elif line.basis is Basis.PER_M2:
        bsa = body.bsa
        amount = dose * round(bsa.value, 4)
        steps.append(f"{num(dose)} {line.dose_unit}/m² × {bsa.value:.4f} m² ({bsa.arithmetic}) "
                     f"= {exact(amount)} {line.dose_unit}")
    else:
        amount = dose
        steps.append(f"fixed {num(dose)} {line.dose_unit}")
    if line.dose_unit != line.output_unit:
        converted = amount * MASS_UNITS[line.dose_unit] / MASS_UNITS[line.output_unit]
        steps.append(f"= {exact(converted)} {line.output_unit}")
        amount = converted
    if line.max_single is not None and amount > line.max_single:
        steps.append(f"capped at the single-dose maximum {num(line.max_single)} "
                     f"{line.output_unit}")
        amount = line.max_single
    n = line.administrations_per_day
    daily = amount * n
    if n > 1:
        steps.append(f"× {n} administrations/day = {exact(daily)} {line.output_unit}/day")
    if line.max_daily is not None and daily > line.max_daily:
        daily = line.max_daily
        amount = daily / n
        steps.append(f"capped at the daily maximum {num(daily)} {line.output_unit}")
    rounding = _round_order(line, amount, figures)
    shown = f"{exact(rounding['per_administration'])} {line.output_unit}" + (
        f" per administration ({exact(rounding['dose'])} {line.output_unit}/day)" if n > 1
        else "")
    how = (f"rounded to a multiple of {exact(rounding['step'])} {line.output_unit} (as the "
           "regimen states)" if rounding["kind"] == "regimen" else
           f"display rounding to {exact(rounding['step'])} {line.output_unit}")
    steps.append(f"{how}: {shown}")
    text = ""
    for step in steps:
        text += (" " if step.startswith("=") else "; ") + step if text else step
    return {"per_administration": round(amount, EXACT_DECIMALS), "administrations_per_day": n,
            "dose": round(daily, EXACT_DECIMALS), "dose_rounded": rounding.pop("dose"),
            "per_administration_rounded": rounding.pop("per_administration"),
            "rounding": rounding, "arithmetic": text}


def sci(x: float) -> str:
    """6.0e8 → ``6×10^8`` (cell doses)."""
    if x == 0:
        return "0"
    exp = len(str(int(abs(x)))) - 1 if abs(x) >= 1 else 0
    mant = x / 10 ** exp
    return f"{round(mant, 3):g}×10^{exp}"


def _order(line: DoseLine, computed: Mapping[str, Any], day: int, day0: dt.date,
           basis: str, *, until: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "day": day, "date": (day0 + dt.timedelta(days=day)).isoformat(), "drug": line.drug,
        "dose": computed["dose"], "unit": line.output_unit, "basis": basis,
        "route": line.route, "phase": line.phase,
        "per_administration": computed["per_administration"],
        "administrations_per_day": computed["administrations_per_day"],
        "dose_rounded": computed["dose_rounded"],
        "per_administration_rounded": computed["per_administration_rounded"],
        "rounding": dict(computed["rounding"]),
        "arithmetic": computed["arithmetic"], "line": line.id,
        "confidence": line.confidence, "to_verify": line.to_verify,
        "citation": line.citation,
    }
    if line.interval_h:
        out["interval_h"] = line.interval_h
    if until is not None:
        out["until_day"] = until
        out["until_date"] = (day0 + dt.timedelta(days=until)).isoformat()
        out["schedule"] = f"daily from day {day:+d} to day {until:+d}"
    for key in ("product", "target", "notes", "total"):
        value = getattr(line, key)
        if value:
            out[key] = value
    if line.to_verify:
        out["status"] = f"[{line.confidence}] {TO_VERIFY}"
    return out


def _apply_options(regimen: Regimen, options: Mapping[str, str]
                   ) -> tuple[dict[str, tuple[DoseLine, str]], dict[str, str], list[str]]:
    """The lines after the chosen options: id → (line, arithmetic prefix); chosen; notes."""
    lines = {ln.id: (ln, "") for ln in regimen.lines}
    chosen: dict[str, str] = {}
    notes: list[str] = []
    used = set()
    for name, option in regimen.options.items():
        key = options.get(name, option.default)
        used.add(name)
        if key not in option.choices:
            raise InputError(f"option {name} must be one of: {', '.join(option.choices)}",
                             field=f"--option {name}", value=key)
        choice = option.choices[key]
        chosen[name] = key
        line, _ = lines[choice.line]
        if choice.set:
            line = replace(line, dose=float(choice.set.get("dose", line.dose or 0)),
                           days=tuple(choice.set.get("days", line.days or ())))
            lines[line.id] = (line, "")
        if choice.total_per_kg is not None:
            raw = options.get(choice.days_option)
            used.add(choice.days_option)
            if raw is None:
                raise InputError(f"{name}={key}: {choice.days_required or 'days are required'}",
                                 field=f"--option {choice.days_option}", value="(not given)")
            days = _parse_days(raw, choice.days_option)
            per_day = choice.total_per_kg / len(days)
            line = replace(line, dose=per_day, days=days, total=f"{num(choice.total_per_kg)} "
                           f"mg/kg", confidence="M")
            prefix = (f"{num(choice.total_per_kg)} mg/kg total ÷ {len(days)} days = "
                      f"{exact(per_day)} mg/kg/day (even split over the centre's days [M])")
            lines[line.id] = (line, prefix)
        notes.append(f"{option.description}: {choice.text} [{choice.confidence}; "
                     f"{choice.citation}]")
    extra = sorted(set(options) - used)
    if extra:
        known = sorted(regimen.options) + sorted({c.days_option for o in regimen.options.values()
                                                  for c in o.choices.values()
                                                  if c.total_per_kg is not None})
        raise InputError(f"unknown option {extra[0]!r} for regimen {regimen.id} (known: "
                         f"{', '.join(known) or 'none'})", field="--option", value=extra[0])
    return lines, chosen, notes


def _parse_days(raw: str, name: str) -> tuple[int, ...]:
    try:
        days = tuple(int(x) for x in raw.split(","))
    except ValueError:
        raise InputError(f"{name} must be a comma-separated list of days (e.g. -4,-3,-2)",
                         field=f"--option {name}", value=raw) from None
    if not days or list(days) != sorted(set(days)) or not all(-30 <= d <= 30 for d in days):
        raise InputError(f"{name}: days must be increasing, each once, within -30..+30",
                         field=f"--option {name}", value=raw)
    return days


def plan_regimen(regimen: Regimen, patient: Person, day0: dt.date, *,
                 bsa_formula: BsaFormula = BsaFormula.MOSTELLER,
                 options: Mapping[str, str] | None = None, donor: Person | None = None,
                 engraftment_day: int | None = None) -> dict[str, Any]:
    """The ``everydonor plan`` answer (``../shared/spec/case-format.md``)."""
    lines, chosen, notes = _apply_options(regimen, options or {})
    unset = [ln.id for ln, _ in lines.values() if ln.dose is None or (
        ln.days is None and ln.continuous is None)]
    if unset:
        raise InputError(f"regimen {regimen.id} leaves the dose or days of {', '.join(unset)} "
                         "unset (a template): copy the regimen file, set them with their source, "
                         "and pass it with --regimen FILE", field="regimen", value=regimen.id)
    body = _Body(patient, bsa_formula)
    adult_lines = [ln.id for ln, _ in lines.values() if ln.adult_only]
    if adult_lines and (patient.age is None or patient.age < 18):
        raise InputError(f"{', '.join(adult_lines)} is a fixed adult dose and the reference "
                         "gives no paediatric dose: "
                         + ("the patient's age is not recorded" if patient.age is None else
                            f"the patient is {num(patient.age)} years old"),
                         person=patient.id, field="age", value=repr(patient.age))
    orders: list[dict[str, Any]] = []
    for line, prefix in lines.values():
        assert line.dose is not None
        computed = compute_dose(line, body, line.dose, prefix,
                                figures=regimen.display_significant_figures)
        text = basis_text(line, line.dose)
        if line.continuous is not None:
            orders.append(_order(line, computed, line.continuous[0], day0, text,
                                 until=line.continuous[1]))
        else:
            orders += [_order(line, computed, d, day0, text) for d in line.days or ()]
    orders.sort(key=lambda o: (o["day"], o["phase"] != "conditioning", o["drug"]))

    patient_out: dict[str, Any] = {"id": patient.id, "weight_kg": body.weight,
                                   "height_cm": patient.height_cm,
                                   "bsa_m2": None, "bsa_formula": bsa_formula.value}
    if patient.height_cm is not None:
        patient_out["bsa_m2"] = round(body.bsa.value, 4)
        patient_out["bsa_arithmetic"] = body.bsa.arithmetic
        patient_out["bsa_citation"] = BSA_CITATIONS[bsa_formula.value]
    if any(ln.weight is not WeightBasis.ACTUAL for ln, _ in lines.values()):
        patient_out["ideal_weight_citation"] = DEVINE_CITATION

    donor_plan = _donor_plan(regimen, donor, day0, bsa_formula)
    targets = [{"measure": t.measure, "per": t.per, "low": t.low, "high": t.high,
                "total_low": t.low * body.weight,
                "total_high": t.high * body.weight if t.high is not None else None,
                "arithmetic": sci(t.low) + (f"-{sci(t.high)}" if t.high else "")
                + f" per kg × {num(body.weight)} kg = {sci(t.low * body.weight)}"
                + (f"-{sci(t.high * body.weight)}" if t.high else ""),
                "confidence": t.confidence, "citation": t.citation,
                "to_verify": t.confidence != "S"} for t in regimen.graft_targets]
    monitoring, mon_notes = _monitoring(regimen, day0, engraftment_day)
    notes = [regimen.day_zero, *notes, *mon_notes]
    notes += rounding_notes([ln for ln, _ in lines.values()]
                            + (list(regimen.donor_lines) if donor is not None else []),
                            regimen.display_significant_figures)
    verify = sorted({o["line"] for o in orders if o["to_verify"]})
    if verify:
        notes.append(f"{len(verify)} of {len(lines)} dose lines are not confirmed in their "
                     f"source ([M]/[S-part]) and are marked '{TO_VERIFY}': {', '.join(verify)}")
    calendar = _calendar(orders, donor_plan, monitoring)
    return {
        "regimen": {"id": regimen.id, "version": regimen.version, "title": regimen.title,
                    "platform": regimen.platform,
                    "references": [r.text for r in regimen.references],
                    "options": chosen, "source": regimen.source,
                    "display_significant_figures": regimen.display_significant_figures},
        "patient": patient_out,
        "day0": day0.isoformat(),
        "orders": orders,
        "donor_plan": donor_plan,
        "graft_targets": targets,
        "monitoring": monitoring,
        "calendar": calendar,
        "to_verify": verify,
        "notes": notes,
        "notice": PLAN_NOTICE,
    }


def rounding_notes(lines: Sequence[DoseLine], figures: int) -> list[str]:
    """What the rounded figures are, line by line: stated by the regimen, or display only."""
    stated = [ln.id for ln in lines if ln.rounding]
    shown = [ln.id for ln in lines if not ln.rounding]
    notes = []
    if shown:
        notes.append(f"Doses are shown rounded and the exact figure beside each. Where the "
                     f"regimen states no rounding ({', '.join(shown)}): {DISPLAY_ROUNDING} — "
                     f"{figures} significant figures, whole units from {10 ** (figures - 1)} "
                     "up; a generic display precision, not a clinical rule (a centre sets "
                     "display_significant_figures in its regimen file, or a line's rounding "
                     "step with its source). Round to the available strengths by local pharmacy "
                     "policy.")
    if stated:
        notes.append(f"Rounded as the regimen states (each administration to the line's "
                     f"rounding step, never above a stated maximum): {', '.join(stated)}.")
    return notes


def dose_text(order: Mapping[str, Any]) -> str:
    """``451 mg (exact 450.625 mg)``, ``54.4 mg × 4 = 217.6 mg/day (exact)``: the rounded dose
    with the exact figure beside it ("exact" alone where rounding changed nothing)."""
    unit, n = order["unit"], order["administrations_per_day"]
    per_day = "/day" if n > 1 else ""
    shown = (f"{exact(order['per_administration_rounded'])} {unit} × {n} = " if n > 1
             else "") + f"{exact(order['dose_rounded'])} {unit}{per_day}"
    same = (order["dose_rounded"] == order["dose"]
            and order["per_administration_rounded"] == order["per_administration"])
    return f"{shown} (exact)" if same else \
        f"{shown} (exact {exact(order['dose'])} {unit}{per_day})"


def _donor_plan(regimen: Regimen, donor: Person | None, day0: dt.date,
                bsa_formula: BsaFormula) -> dict[str, Any]:
    procedures = [{"day": d, "date": (day0 + dt.timedelta(days=d)).isoformat(),
                   "procedure": p.procedure, "confidence": p.confidence, "citation": p.citation,
                   "to_verify": p.confidence != "S"} for p in regimen.procedures for d in p.days]
    if donor is None:
        return {"donor": None, "orders": [], "procedures": procedures,
                "note": "no donor given (--donor ID): priming doses by donor weight not computed"}
    body = _Body(donor, bsa_formula)
    orders = []
    for line in regimen.donor_lines:
        if line.dose is None or line.days is None:
            raise InputError(f"regimen {regimen.id}: donor line {line.id} leaves its dose or "
                             "days unset", field="regimen", value=line.id)
        computed = compute_dose(line, body, line.dose,
                                figures=regimen.display_significant_figures)
        orders += [_order(line, computed, d, day0, basis_text(line, line.dose))
                   for d in line.days]
    return {"donor": donor.id, "weight_kg": donor.weight_kg, "orders": orders,
            "procedures": procedures}


def _monitoring(regimen: Regimen, day0: dt.date, engraftment_day: int | None
                ) -> tuple[list[dict[str, Any]], list[str]]:
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    for m in regimen.monitoring:
        if m.days is not None:
            days: Sequence[int] = m.days
        else:
            assert m.every_days is not None and m.to_day is not None
            start = engraftment_day if m.start == "engraftment" else m.start
            if start is None:
                notes.append(f"{m.test}: starts at engraftment; give --engraftment-day to put "
                             "its dates in the calendar")
                out.append({"test": m.test, "day": None, "date": None,
                            "schedule": f"every {m.every_days} days from engraftment to day "
                                        f"+{m.to_day}", "confidence": m.confidence,
                            "citation": m.citation, "to_verify": m.confidence != "S"})
                continue
            days = range(int(start), m.to_day + 1, m.every_days)
        out += [{"test": m.test, "day": d, "date": (day0 + dt.timedelta(days=d)).isoformat(),
                 "confidence": m.confidence, "citation": m.citation,
                 "to_verify": m.confidence != "S"} for d in days]
    return out, notes


def _calendar(orders: Sequence[Mapping[str, Any]], donor_plan: Mapping[str, Any],
              monitoring: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for o in orders:
        what = (f"{o['drug']} {o['route']} {dose_text(o)}"
                + (f", {o['schedule']}" if o.get("schedule") else ""))
        events.append({"day": o["day"], "date": o["date"], "kind": "order", "for": "patient",
                       "what": what, "to_verify": o["to_verify"],
                       "rounding": o["rounding"]["text"]})
    for o in donor_plan.get("orders", []):
        events.append({"day": o["day"], "date": o["date"], "kind": "order", "for": "donor",
                       "what": f"donor {o['drug']} {o['route']} {dose_text(o)}",
                       "to_verify": o["to_verify"], "rounding": o["rounding"]["text"]})
    for p in donor_plan.get("procedures", []):
        events.append({"day": p["day"], "date": p["date"], "kind": "procedure",
                       "for": "donor", "what": p["procedure"], "to_verify": p["to_verify"]})
    for m in monitoring:
        if m["day"] is not None:
            events.append({"day": m["day"], "date": m["date"], "kind": "monitoring",
                           "for": "patient", "what": m["test"], "to_verify": m["to_verify"]})
    order = {"procedure": 0, "order": 1, "monitoring": 2}
    events.sort(key=lambda e: (e["day"], order[e["kind"]], e["what"]))
    return events
