"""A donor-search answer in the formats a coordinator hands to a registry: CSV and WMDA ``ID%GL``.

**CSV** (``donors search --format csv``): one row per listed donor, in rank order, with the
columns of :data:`CSV_COLUMNS` (the JSON answer's names; per locus ``A_category``,
``A_p_match``…). Numbers are written as the JSON writes them (Python's shortest round-trip form:
``float(cell)`` gives back the JSON number exactly); an absent value is an empty cell; booleans are
``true``/``false``. The answer's provenance comes first, as comment rows ``#key,value`` (the
notice, release, MAC list with its date and SHA-256, frequency set, counts, warnings…), so that
the list never travels without its source; readers skip them (pandas ``comment="#"``, R
``comment.char="#"``). Text cells are always quoted, so a ``#`` or ``,`` inside a value is never
read as a comment or a separator. A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return gets a leading ``'`` so that a spreadsheet shows it as text and never runs
it as a formula (OWASP, *CSV Injection*); ``'=cmd`` is then the cell's text, not its value.

**WMDA ``ID%GL``** (``--format idgl``): one line per listed donor, ``DONORID%GLSTRING``, the
format of the WMDA match-validation data sets that ``donors import --format wmda`` reads: the
GL string gives each locus as ``typing+typing``, loci joined by ``^``; A, C, B, DRB1 and DQB1
always appear, in that order, an untyped one as ``L*UUUU+L*UUUU`` (as the WMDA files write
it), followed by the donor's other typed loci. Typings are the store's, as received.
The format has no room for comments: the provenance goes to a sidecar ``FILE.provenance.json``
(with ``-o FILE``) or to stderr. ``donors import`` of the file gives every donor the same
typings (the round trip is tested).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from everydonor.errors import InputError
from everydonor.unrelated.frequencies import LOCI

CSV_FORMAT = "everydonor.donor-search-csv/1"
IDGL_PROVENANCE_FORMAT = "everydonor.donor-search-idgl-provenance/1"

_LOCUS_FIELDS = ("category", "p_match", "p_1_mismatch", "p_2_mismatches")

#: The CSV's columns, in order.
CSV_COLUMNS: tuple[str, ...] = (
    "rank", "donor_id", "registry", "mismatches_allowed", "mismatches_min",
    "p_10_of_10", "p_9_of_10", "p_8_of_10", "p_at_most",
    *(f"{loc.value}_{f}" for loc in LOCI for f in _LOCUS_FIELDS),
    "dpb1_tce", "unrepresented", "imputation_short_circuit", "imputation_diplotypes",
    "sex", "age", "abo", "cmv_igg", "abo_compatibility", "cmv", "sex_pair", "typing",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: ``'`` before a leading = + - @ tab or CR."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value  # written unquoted, as str(): the JSON form
    return escape_cell(str(value))


def donor_row(d: Mapping[str, Any]) -> list[Any]:
    """One donor of the JSON answer as the CSV's cells (see :data:`CSV_COLUMNS`)."""
    imputation = d.get("imputation") or {}
    row: list[Any] = [d.get("rank"), d.get("id"), d.get("registry"), d.get("mismatches_max"),
                      d.get("mismatches_min"), d.get("p_10_of_10"), d.get("p_9_of_10"),
                      d.get("p_8_of_10"), d.get("p_at_most")]
    loci = d.get("loci") or {}
    for loc in LOCI:
        entry = loci.get(loc.value) or {}
        row.extend(entry.get(f) for f in _LOCUS_FIELDS)
    row += [d.get("dpb1_tce"), d.get("unrepresented"), imputation.get("short_circuit"),
            imputation.get("diplotypes"), d.get("sex"), d.get("age"), d.get("abo"),
            d.get("cmv_igg"), d.get("abo_compatibility"), d.get("cmv"), d.get("sex_pair"),
            d.get("typing")]
    return [_cell(v) for v in row]


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flatten(f"{prefix}.{k}" if prefix else str(k), v)
    elif isinstance(value, list | tuple):
        if not value:
            yield prefix, None
        for item in value:
            yield from _flatten(prefix, item)
    else:
        yield prefix, value


def provenance_rows(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The answer without its donors, as ``(dotted key, value)`` pairs (lists: one pair each)."""
    rows: list[tuple[str, Any]] = [("format", CSV_FORMAT), ("answer_format", doc.get("format")),
                                   ("notice", doc.get("notice"))]
    for key, value in doc.items():
        if key in ("donors", "format", "notice"):
            continue
        rows.extend(_flatten(key, value))
    return rows


def search_csv(doc: Mapping[str, Any]) -> str:
    """The whole CSV text of a search answer (comment rows, header, one row per donor)."""
    out = io.StringIO()
    comments = csv.writer(out, lineterminator="\n")
    for key, value in provenance_rows(doc):
        comments.writerow([f"#{key}", _cell(value)])
    table = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    table.writerow(CSV_COLUMNS)
    for d in doc.get("donors", []):
        table.writerow(donor_row(d))
    return out.getvalue()


def _blocks(gl: str) -> dict[str, str]:
    """``A*x+A*y^B*…`` → ``{"A": "A*x+A*y", …}`` (the store's GL: one block per typed locus)."""
    out: dict[str, str] = {}
    for block in filter(None, gl.split("^")):
        first = block.split("+", 1)[0].removeprefix("HLA-")
        locus = first.split("*", 1)[0] if "*" in first else _serology_locus(first)
        out[locus] = block
    return out


def _serology_locus(name: str) -> str:
    from everydonor.hla.designation import parse_typing

    typing = parse_typing(name)
    return typing.locus.value if typing.locus is not None else name


def idgl_line(donor_id: str, gl: str) -> str:
    """One WMDA ``ID%GL`` line (no newline); refuses an id the format cannot carry."""
    if (not donor_id or donor_id != donor_id.strip() or any(c in donor_id for c in "%\r\n")):
        raise InputError("a donor id written as WMDA ID%GL must be non-empty, without '%', "
                         "line breaks or surrounding spaces", person=donor_id or None,
                         field="donor_id", value=donor_id)
    blocks = _blocks(gl)
    parts = [blocks.pop(loc.value, f"{loc.value}*UUUU+{loc.value}*UUUU") for loc in LOCI]
    parts.extend(blocks.values())
    return f"{donor_id}%{'^'.join(parts)}"


def search_idgl(donors: Sequence[Mapping[str, Any]]) -> str:
    """The listed donors as WMDA ``ID%GL`` lines, in rank order (every id checked first)."""
    lines = [idgl_line(str(d.get("id") or ""), str(d.get("typing") or "")) for d in donors]
    return "".join(line + "\n" for line in lines)


def idgl_provenance(doc: Mapping[str, Any], file: str | None, sha256: str) -> dict[str, Any]:
    """The sidecar of an ``ID%GL`` export: the answer without its per-donor detail, the ids in
    rank order, and the SHA-256 of the lines it goes with."""
    return {"format": IDGL_PROVENANCE_FORMAT, "file": file, "sha256": sha256,
            "donors": [d.get("id") for d in doc.get("donors", [])],
            **{k: v for k, v in doc.items() if k not in ("donors", "format")},
            "answer_format": doc.get("format")}
