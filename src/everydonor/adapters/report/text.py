"""The terminal view of ``everydonor rank``: a table, then each donor's reasons and flags."""

from __future__ import annotations

import textwrap
import unicodedata
from typing import Any


def _width(text: str) -> int:
    """Terminal columns: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _wrap(text: str, indent: str, width: int = 100) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent,
                         subsequent_indent=indent + "  ") or [indent]


def render_ranking_text(doc: dict[str, Any], provenance: dict[str, Any]) -> str:
    rules = doc["rules"]
    patient = doc["patient"]
    lines = [
        f"everydonor rank — patient {patient['id']}"
        + (f" ({patient['name']})" if patient.get("name") else "")
        + f" — rule set {rules['name']} ({rules['version']}; {rules['guideline']})",
        f"{provenance['software']} · {provenance['reference']}",
        f"NOTICE: {doc['notice']}",
        "",
    ]
    switch = doc["hierarchy"]["haplo_over_sibling"]
    lines += _wrap(f"Hierarchy: {' > '.join(doc['hierarchy']['order'])}. Haploidentical over "
                   f"matched sibling: {'APPLIED' if switch['applied'] else 'not applied'} — "
                   f"{switch['because']}", "")
    lines.append("")
    named = any(d.get("name") for d in doc["ranking"])
    idw = max([8] + [_width(_who(d)) for d in doc["ranking"]]) if named else 8
    header = f"{'rank':>4}  {_pad('id', idw)} {'relationship':<14} {'donor type':<22} {'age':>5} " \
             f"{'sex':<6} {'DSA':<14} {'HLA /10':<7} {'ABO':<13} {'CMV':<7}"
    lines += [header, "-" * len(header)]
    for d in doc["ranking"]:
        hla = (d["compatibility"].get("hla") or {}).get("match") or {}
        age = f"{d['age']:g}" if d["age"] is not None else "?"
        lines.append(
            f"{d['rank']:>4}  {_pad(_who(d) if named else d['id'], idw)} "
            f"{d['relationship'] or 'unrelated':<14} "
            f"{d['donor_type']:<22} {age:>5} {d['sex'] or '?':<6} {d['dsa_band']:<14} "
            f"{hla.get('of_10', '?')!s:<7} {d['compatibility'].get('abo') or '?':<13} "
            f"{d['compatibility'].get('cmv') or '?':<7}")
    lines.append("")
    for d in doc["ranking"]:
        lines.append(f"#{d['rank']} {_who(d)}")
        for r in d["reasons"]:
            lines += _wrap(r, "    · ")
        for f in d["flags"]:
            lines += _wrap("FLAG: " + f, "    ! ")
    if doc["excluded"]:
        lines += ["", "Not ranked:"]
        for x in doc["excluded"]:
            lines += _wrap(f"{x['id']} ({x['kind']}): " + "; ".join(x["because"]), "    ✗ ")
    if doc["could_not_weigh"]:
        lines += ["", "Could not weigh (missing facts, never guessed):"]
        for crit, ids in doc["could_not_weigh"].items():
            lines.append(f"    {crit}: {', '.join(ids)}")
    if doc["warnings"]:
        lines += ["", "Warnings:"]
        for w in doc["warnings"]:
            lines += _wrap(w, "    - ")
    conf = [c for c in rules["criteria"] if c["confidence"] != "S"]
    if conf:
        lines += ["", "Criteria not fully verified against their source ([S-part]/[M]): "
                  + ", ".join(f"{c['id']} [{c['confidence']}]" for c in conf)]
    return "\n".join(lines)


def _who(d: dict[str, Any]) -> str:
    return f"{d['id']} {d['name']}" if d.get("name") else str(d["id"])
