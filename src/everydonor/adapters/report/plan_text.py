"""Terminal and iCalendar views of ``everydonor plan``."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from everydonor.treatment.plan import DISPLAY_ROUNDING, display_rule, exact, num


def _display_rule(doc: dict[str, Any]) -> str:
    figures = doc["regimen"].get("display_significant_figures")
    return display_rule(figures, "units") if figures else DISPLAY_ROUNDING


def _order_row(o: dict[str, Any]) -> str:
    """One order: the rounded dose, the exact figure beside it, and which rounding."""
    return (f"{o['day']:>+5}  {o['date']:<10}  {o['drug']:<24} {exact(o['dose_rounded']):>9} "
            f"{exact(o['dose']):>11} {o['unit']:<4} {o['route']:<5} "
            f"{o['rounding']['kind']:<8} {o['basis']}")


def render_plan_text(doc: dict[str, Any], provenance: dict[str, Any]) -> str:
    r, p = doc["regimen"], doc["patient"]
    lines = [f"everydonor plan — {r['id']} ({r['version']}): {r['title']}",
             f"{provenance['software']} · patient {p['id']} · day 0 = {doc['day0']}",
             f"NOTICE: {doc['notice']}", "",
             f"Patient: {num(p['weight_kg'])} kg"
             + (f", {num(p['height_cm'])} cm, BSA {p['bsa_m2']:.2f} m² ({p['bsa_arithmetic']})"
                if p.get("bsa_m2") else ""),
             "Options: " + (", ".join(f"{k} = {v}" for k, v in r["options"].items()) or "none"),
             ""]
    lines += ["dose = rounded for the order; exact = the computed figure. rounding: display = "
              + _display_rule(doc) + "; regimen = rounded as the regimen line states.", ""]
    header = (f"{'day':>5}  {'date':<10}  {'drug':<24} {'dose':>9} {'exact':>11} {'unit':<4} "
              f"{'route':<5} {'rounding':<8} basis")
    lines += [header, "-" * 100]
    for o in doc["orders"]:
        mark = f"  [{o['confidence']}] to be verified by the centre" if o["to_verify"] else ""
        lines.append(_order_row(o) + (f"; until day {o['until_day']:+d}" if "until_day" in o
                                      else "") + mark)
        if o["administrations_per_day"] > 1:
            lines.append(f"{'':>19}  per administration: {exact(o['per_administration_rounded'])}"
                         f" {o['unit']} (exact {exact(o['per_administration'])} {o['unit']}) × "
                         f"{o['administrations_per_day']}")
        lines.append(f"{'':>19}= {o['arithmetic']}")
        if o.get("target"):
            lines.append(f"{'':>19}  target: {o['target']}")
    dp = doc["donor_plan"]
    lines += ["", "Donor: " + (dp["donor"] or dp.get("note", ""))]
    for o in dp["orders"]:
        lines.append(_order_row(o))
        lines.append(f"{'':>19}= {o['arithmetic']}")
    for pr in dp["procedures"]:
        lines.append(f"{pr['day']:>+5}  {pr['date']:<10}  {pr['procedure']}")
    if doc["graft_targets"]:
        lines += ["", "Graft targets (recipient weight):"]
        lines += [f"    {t['measure']}: {t['arithmetic']} [{t['confidence']}]"
                  for t in doc["graft_targets"]]
    if doc["monitoring"]:
        lines += ["", "Monitoring:"]
        for m in doc["monitoring"]:
            when = f"day {m['day']:+d} ({m['date']})" if m["day"] is not None else m["schedule"]
            lines.append(f"    {when}: {m['test']} [{m['confidence']}]")
    lines += ["", "Notes:"] + [f"    - {n}" for n in doc["notes"]]
    lines += ["", "References:"] + [f"    - {ref}" for ref in r["references"]]
    return "\n".join(lines)


def _ics_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _fold(line: str) -> list[str]:
    """RFC 5545 §3.1: lines of at most 75 octets, continued with a leading space."""
    out: list[str] = []
    current = ""
    for ch in line:
        if len((current + ch).encode("utf-8")) > (75 if not out else 74):
            out.append(current)
            current = ch
        else:
            current += ch
    out.append(current)
    return [out[0], *(" " + x for x in out[1:])]


def render_plan_ics(doc: dict[str, Any], stamp: dt.datetime) -> str:
    """One all-day event per calendar entry (RFC 5545), stable UIDs."""
    r = doc["regimen"]
    rows = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//everydonor//plan//EN",
            "CALSCALE:GREGORIAN", f"X-WR-CALNAME:{_ics_text(r['id'] + ' ' + doc['patient']['id'])}"]
    for i, e in enumerate(doc["calendar"]):
        date = dt.date.fromisoformat(e["date"])
        key = f"{doc['patient']['id']}|{r['id']}|{doc['day0']}|{i}|{e['what']}"
        uid = hashlib.sha1(key.encode("utf-8")).hexdigest()[:20] + "@everydonor"
        summary = f"Day {e['day']:+d}: {e['what']}" + (" [to be verified by the centre]"
                                                         if e["to_verify"] else "")
        description = (f"{e['kind']} for the {e['for']}; regimen {r['id']} {r['version']}; "
                       + (f"dose {e['rounding']}, exact figure in brackets; " if e.get("rounding")
                          else "")
                       + "decision support - check against the regimen source")
        rows += ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{stamp.strftime('%Y%m%dT%H%M%SZ')}",
                 f"DTSTART;VALUE=DATE:{date.strftime('%Y%m%d')}",
                 f"DTEND;VALUE=DATE:{(date + dt.timedelta(days=1)).strftime('%Y%m%d')}",
                 f"SUMMARY:{_ics_text(summary)}", f"DESCRIPTION:{_ics_text(description)}",
                 "END:VEVENT"]
    rows.append("END:VCALENDAR")
    return "\r\n".join(line for row in rows for line in _fold(row)) + "\r\n"
