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


def _mac_text(provenance: dict[str, Any]) -> str:
    mac = provenance.get("mac_list")
    if not isinstance(mac, dict):
        return ""
    return (f" · MAC list {mac.get('file')} dated {mac.get('date')} ({mac.get('date_from')}), "
            f"sha256 {str(mac.get('sha256') or '')[:12]}")


def render_ranking_text(doc: dict[str, Any], provenance: dict[str, Any]) -> str:
    rules = doc["rules"]
    patient = doc["patient"]
    lines = [
        f"everydonor rank — patient {patient['id']}"
        + (f" ({patient['name']})" if patient.get("name") else "")
        + f" — rule set {rules['name']} ({rules['version']}; {rules['guideline']})",
        f"{provenance['software']} · {provenance['reference']}" + _mac_text(provenance),
        *(f"warning: {w}" for w in (provenance.get("mac_list") or {}).get("warnings", [])),
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
    hla_w = max([7] + [len(_hla_cell(d)) for d in doc["ranking"]])
    header = f"{'rank':>4}  {_pad('id', idw)} {'relationship':<14} {'donor type':<22} {'age':>5} " \
             f"{'sex':<6} {'DSA':<14} {'HLA':<{hla_w}} {'ABO':<13} {'CMV':<7}"
    lines += [header, "-" * len(header)]
    for d in doc["ranking"]:
        age = f"{d['age']:g}" if d["age"] is not None else "?"
        lines.append(
            f"{d['rank']:>4}  {_pad(_who(d) if named else d['id'], idw)} "
            f"{d['relationship'] or 'unrelated':<14} "
            f"{d['donor_type']:<22} {age:>5} {d['sex'] or '?':<6} {d['dsa_band']:<14} "
            f"{_hla_cell(d):<{hla_w}} {d['compatibility'].get('abo') or '?':<13} "
            f"{d['compatibility'].get('cmv') or '?':<7}")
    if any(_identical(d) for d in doc["ranking"]):
        lines += _wrap("HLA: alleles matched of 10 at A, B, C, DRB1, DQB1 (untyped loci not "
                       "counted as matched); \"identical\" = genotypically HLA-identical by "
                       "segregation (the family typings prove both haplotypes shared), n/m = loci "
                       "typed in the donor of those typed in the patient.", "")
    lines.append("")
    for d in doc["ranking"]:
        relation = d.get("relation") or {}
        head = f"#{d['rank']} {_who(d)}"
        if relation.get("headline"):
            head += f" — {relation['headline']}"
            if d.get("relationship") and relation.get("typing"):
                head += f"; {relation['typing']}"
        lines += _wrap(head, "")
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
    marked = [r for d in doc["ranking"] for r in d["reasons"]] + [
        b for x in doc["excluded"] for b in x["because"]]
    legend = (doc.get("legend") or {}).get("dispute")
    if legend and any("⚑" in r for r in marked):
        lines += ["", *_wrap(legend, "")]
    shown = "\n".join(lines)
    unverified = [u for u in (doc.get("references") or {}).get("unverified") or []
                  if u["label"] in shown or u["text"] in shown]
    if unverified:
        lines += ["", "Evidence not yet verified [M] (cited above by these names; not references):"]
        for u in unverified:
            lines += _wrap(f"{u['label']}: {u['text']} — {u['why']}", "    ")
    conf = [c for c in rules["criteria"] if c["confidence"] != "S"]
    if conf:
        lines += ["", "Criteria not fully verified against their source ([S-part]/[M]): "
                  + ", ".join(f"{c['id']} [{c['confidence']}]" for c in conf)]
    return "\n".join(lines)


def _identical(d: dict[str, Any]) -> bool:
    relation = d.get("relation") or {}
    return bool(d.get("relationship")) and relation.get("hla_relation") == "identical" \
        and relation.get("basis") == "segregation"


def _hla_cell(d: dict[str, Any]) -> str:
    """The table's HLA column: what the family proves for an identical relative (and how much of
    it is typed), the mismatch count of 10 otherwise."""
    relation = d.get("relation") or {}
    if _identical(d):
        loci = relation.get("loci") or []
        typed = relation.get("typed_loci") or []
        return "identical" if relation.get("complete") else \
            f"identical, {len(typed)}/{len(loci)} loci typed"
    match = (d["compatibility"].get("hla") or {}).get("match") or {}
    return f"{match['of_10']}/10" if "of_10" in match else "?"


def _who(d: dict[str, Any]) -> str:
    return f"{d['id']} {d['name']}" if d.get("name") else str(d["id"])
