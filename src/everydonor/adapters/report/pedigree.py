"""The pedigree picture of the report: an SVG with a coloured bar per inherited haplotype.

Each person is drawn with the usual pedigree symbols (square male, circle female, diamond
unknown; the patient with an arrow) and, below, two bars: the haplotype received from the father
(left) and from the mother (right), one segment per locus, coloured by haplotype letter (paternal
a/b in blues, maternal c/d in reds, the partner's e/f in greens). A recombinant bar changes colour
at the crossover. Relatives judged by phenotype only (collaterals) show the shared haplotype
hatched; haplotypes that could not be assigned are grey with a question mark.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

COLOURS = {"a": "#2b6cb0", "b": "#90cdf4", "c": "#c53030", "d": "#f6a5c0", "e": "#2f855a",
           "f": "#9ae6b4"}
UNKNOWN = "#d2d6dc"
NODE_W, ROW_H = 118, 190
BAR_W, BAR_H = 13, 64
_RECOMB = re.compile(r"^(\w+)→(\w+) between (\S+) and (\S+)$")

_ROW_OF = {"father": 0, "mother": 0, "brother": 1, "sister": 1, "half_brother": 1,
           "half_sister": 1, "partner": 1, "son": 2, "daughter": 2}


def _loci(family: Mapping[str, Any]) -> list[str]:
    for side in ("paternal", "maternal"):
        for _key, hap in ((family.get("haplotypes") or {}).get(side) or {}).items():
            if isinstance(hap, Mapping) and hap.get("gl"):
                return [part.split("*")[0] for part in hap["gl"].split("~")]
    return []


def _segments(label: str | None, loci: Sequence[str], patient: Mapping[str, str]
              ) -> list[tuple[str, str]]:
    """(colour, letter) per locus for one inherited-haplotype label."""
    n = max(len(loci), 1)
    if label is None:
        return [(UNKNOWN, "?")] * n
    label = {"pp": patient.get("paternal", "a"), "pm": patient.get("maternal", "c")}.get(
        label, label)
    m = _RECOMB.match(label)
    if m and m.group(3) in loci:
        first, second, before = m.group(1), m.group(2), loci.index(m.group(3))
        return [(COLOURS.get(first if i <= before else second, UNKNOWN),
                 first if i <= before else second) for i in range(n)]
    if label == "other parent":
        return [(UNKNOWN, "?")] * n
    return [(COLOURS.get(label, UNKNOWN), label)] * n


def _symbol(x: float, y: float, sex: str | None, patient: bool) -> str:
    stroke = f'stroke="#1a202c" stroke-width="{3 if patient else 1.5}" fill="#ffffff"'
    if sex == "male":
        out = f'<rect x="{x - 14}" y="{y - 14}" width="28" height="28" {stroke}/>'
    elif sex == "female":
        out = f'<circle cx="{x}" cy="{y}" r="15" {stroke}/>'
    else:
        out = (f'<polygon points="{x},{y - 16} {x + 16},{y} {x},{y + 16} {x - 16},{y}" '
               f'{stroke}/>')
    if patient:
        out += (f'<line x1="{x - 34}" y1="{y + 22}" x2="{x - 19}" y2="{y + 9}" stroke="#1a202c" '
                f'stroke-width="2"/><polygon points="{x - 19},{y + 9} {x - 27},{y + 11} '
                f'{x - 21},{y + 17}" fill="#1a202c"/>')
    return out


def _bar(x: float, y: float, segments: Sequence[tuple[str, str]], hatched: bool) -> str:
    h = BAR_H / len(segments)
    parts = []
    for i, (colour, _) in enumerate(segments):
        fill = "url(#hatch)" if hatched and colour != UNKNOWN else colour
        parts.append(f'<rect x="{x}" y="{y + i * h:.1f}" width="{BAR_W}" height="{h:.1f}" '
                     f'fill="{fill}" stroke="{colour if hatched else "none"}"/>')
    parts.append(f'<rect x="{x}" y="{y}" width="{BAR_W}" height="{BAR_H}" fill="none" '
                 f'stroke="#4a5568" stroke-width="0.8"/>')
    letters = []
    for _, letter in segments:
        if letter not in letters:
            letters.append(letter)
    parts.append(f'<text x="{x + BAR_W / 2}" y="{y + BAR_H + 11}" font-size="9" '
                 f'text-anchor="middle">{escape("/".join(letters))}</text>')
    return "".join(parts)


def render_pedigree_svg(family: Mapping[str, Any], case_people: Sequence[Mapping[str, Any]],
                        ranks: Mapping[str, str]) -> str:
    """SVG of the family. ``case_people``: id, relationship (None for the patient), sex, age;
    ``ranks``: id → badge text (``#1``, ``✗``)."""
    loci = _loci(family)
    members = {m["id"]: m for m in family.get("members", []) or []}
    relatives = {r["id"]: r for r in family.get("relatives", []) or []}
    patient_id = next((p["id"] for p in case_people if p.get("relationship") is None), None)
    patient_inh = (members.get(patient_id or "", {}).get("inherited") or {})
    rows: list[list[Mapping[str, Any]]] = [[], [], [], []]
    for p in case_people:
        rel = p.get("relationship")
        rows[1 if rel is None else _ROW_OF.get(rel, 3)].append(p)
    rows[0].sort(key=lambda p: 0 if p["relationship"] == "father" else 1)
    # Generation of the patient: full siblings around the patient, partner at the right.
    # Partners sit right beside the patient, so the couple line crosses nobody.
    sibs = [p for p in rows[1] if p.get("relationship") != "partner"]
    sibs.sort(key=lambda p: -(p.get("age") or 0))
    partners = [p for p in rows[1] if p.get("relationship") == "partner"]
    if partners:  # the patient at the end of the sibship, the partner outside it
        sibs = [p for p in sibs if p.get("relationship") is not None] + [
            p for p in sibs if p.get("relationship") is None]
    rows[1] = sibs + partners
    widest = max(len(r) for r in rows)
    width = max(widest * NODE_W + 40, 520)
    used = [r for r in rows if r]
    height = len(used) * ROW_H + 60 + (18 if rows[3] else 0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="EverydonorSans, sans-serif" '
           'class="pedigree">',
           '<defs><pattern id="hatch" width="5" height="5" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="5" height="5" fill="#ffffff"/>'
           '<line x1="0" y1="0" x2="0" y2="5" stroke="#4a5568" stroke-width="2.5"/></pattern>'
           '</defs>']
    pos: dict[str, tuple[float, float]] = {}
    y = 70.0
    row_y: dict[int, float] = {}
    for r, row in enumerate(rows):
        if not row:
            continue
        row_y[r] = y
        if r == 3:
            out.append(f'<text x="12" y="{y - 22}" font-size="10" fill="#4a5568">Other '
                       'relatives (shared haplotype judged by phenotype; hatched)</text>')
        x0 = (width - len(row) * NODE_W) / 2 + NODE_W / 2
        for i, p in enumerate(row):
            pos[p["id"]] = (x0 + i * NODE_W, y)
        y += ROW_H + (18 if r == 2 and rows[3] else 0)
    # Lines first (under the symbols).
    father = next((p["id"] for p in rows[0] if p.get("relationship") == "father"), None)
    mother = next((p["id"] for p in rows[0] if p.get("relationship") == "mother"), None)
    full = [p["id"] for p in rows[1] if p.get("relationship") in (None, "brother", "sister")]
    line = 'stroke="#2d3748" stroke-width="1.3" fill="none"'
    if father and mother:
        (fx, fy), (mx, _) = pos[father], pos[mother]
        out.append(f'<line x1="{fx + 15}" y1="{fy}" x2="{mx - 15}" y2="{fy}" {line}/>')
        top = ((fx + mx) / 2, fy)
    elif father or mother:
        top = (pos[father or mother or ""][0], pos[father or mother or ""][1] + 15)
    else:  # no parent in the case: a short stub marks the unknown parents
        top = None
        if len(full) > 1:
            xs = [pos[i][0] for i in full]
            ys = row_y[1] - 40
            mid = (min(xs) + max(xs)) / 2
            out.append(f'<line x1="{mid}" y1="{ys - 14}" x2="{mid}" y2="{ys}" {line} '
                       'stroke-dasharray="3 2"/>')
            out.append(f'<line x1="{min(xs)}" y1="{ys}" x2="{max(xs)}" y2="{ys}" {line}/>')
            out += [f'<line x1="{x}" y1="{ys}" x2="{x}" y2="{row_y[1] - 16}" {line}/>'
                    for x in xs]
            out.append(f'<text x="{mid + 4}" y="{ys - 6}" font-size="8" fill="#718096">'
                       'parents not in the case</text>')
    if top is not None and full:
        ys = row_y[1] - 40
        xs = [pos[i][0] for i in full]
        out.append(f'<line x1="{top[0]}" y1="{top[1]}" x2="{top[0]}" y2="{ys}" {line}/>')
        out.append(f'<line x1="{min(*xs, top[0])}" y1="{ys}" x2="{max(*xs, top[0])}" y2="{ys}" '
                   f'{line}/>')
        out += [f'<line x1="{x}" y1="{ys}" x2="{x}" y2="{row_y[1] - 16}" {line}/>' for x in xs]
    for p in rows[1]:
        rel = p.get("relationship")
        if rel in ("half_brother", "half_sister"):
            via = father if (relatives.get(p["id"], {}).get("through") or p.get("through")) \
                == "father" else mother
            if via:
                (vx, vy), (hx, hy) = pos[via], pos[p["id"]]
                out.append(f'<path d="M{vx},{vy + 15} L{hx},{hy - 16}" {line} '
                           'stroke-dasharray="4 3"/>')
    partner = next((p["id"] for p in rows[1] if p.get("relationship") == "partner"), None)
    if partner and patient_id:
        (px, py), (qx, _) = pos[patient_id], pos[partner]
        lo, hi = min(px, qx), max(px, qx)
        out.append(f'<line x1="{lo + 15}" y1="{py}" x2="{hi - 15}" y2="{py}" {line}/>')
    if rows[2] and patient_id:
        px, py = pos[patient_id]
        if partner:
            px = (px + pos[partner][0]) / 2
        ys = row_y[2] - 40
        xs = [pos[p["id"]][0] for p in rows[2]]
        out.append(f'<line x1="{px}" y1="{py + 16}" x2="{px}" y2="{ys}" {line}/>')
        out.append(f'<line x1="{min(*xs, px)}" y1="{ys}" x2="{max(*xs, px)}" y2="{ys}" {line}/>')
        out += [f'<line x1="{x}" y1="{ys}" x2="{x}" y2="{row_y[2] - 16}" {line}/>' for x in xs]
    # People.
    for p in case_people:
        x, y0 = pos[p["id"]]
        is_patient = p.get("relationship") is None
        out.append(_symbol(x, y0, p.get("sex"), is_patient))
        badge = ranks.get(p["id"])
        if badge:
            colour = "#276749" if badge.startswith("#") else "#9b2c2c"
            out.append(f'<rect x="{x + 17}" y="{y0 - 30}" width="26" height="15" rx="3" '
                       f'fill="{colour}"/><text x="{x + 30}" y="{y0 - 19}" font-size="10" '
                       f'fill="#ffffff" text-anchor="middle">{escape(badge)}</text>')
        label = "patient" if is_patient else (p.get("relationship") or "").replace("_", " ")
        age = f", {p['age']:g} y" if p.get("age") is not None else ""
        out.append(f'<text x="{x}" y="{y0 + 30}" font-size="11" text-anchor="middle" '
                   f'font-weight="bold">{escape(str(p.get("label") or p["id"]))}</text>')
        out.append(f'<text x="{x}" y="{y0 + 42}" font-size="9" text-anchor="middle" '
                   f'fill="#4a5568">{escape(label + age)}</text>')
        member = members.get(p["id"])
        bars_y = y0 + 50
        if p.get("untyped"):
            out.append(f'<text x="{x}" y="{bars_y + 30}" font-size="9" text-anchor="middle" '
                       'fill="#718096">not typed</text>')
            continue
        if member is not None and member.get("inherited"):
            inh = member["inherited"]
            left = _segments(inh.get("paternal"), loci, patient_inh)
            right = _segments(inh.get("maternal"), loci, patient_inh)
            hatched = False
        elif member is not None and member.get("haplotypes"):  # reconstructed parent
            hs = member["haplotypes"]
            left, right = _segments(hs[0], loci, patient_inh), _segments(hs[1], loci,
                                                                         patient_inh)
            hatched = False
        else:
            shared = relatives.get(p["id"], {}).get("shared")
            n = max(len(loci), 1)
            colour_of = {"paternal": patient_inh.get("paternal"),
                         "maternal": patient_inh.get("maternal")}
            letter = colour_of.get(shared or "")
            left = _segments(letter, loci, patient_inh) if letter else [(UNKNOWN, "?")] * n
            right = [(UNKNOWN, "?")] * n
            hatched = letter is not None
        out.append(_bar(x - BAR_W - 2, bars_y, left, hatched))
        out.append(_bar(x + 2, bars_y, right, False))
        if is_patient and loci:
            h = BAR_H / len(loci)
            out += [f'<text x="{x - BAR_W - 6}" y="{bars_y + (i + 0.7) * h:.1f}" font-size="7" '
                    f'text-anchor="end" fill="#4a5568">{escape(loc)}</text>'
                    for i, loc in enumerate(loci)]
    out.append("</svg>")
    return "".join(out)
