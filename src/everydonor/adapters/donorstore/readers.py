"""Donor files as read (CSV, WMDA ``ID%GL``, a case file's ``unrelated[]``; plain or gzip)."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from everydonor.adapters.donorstore.layout import (
    ATTRIBUTE_FIELDS,
    ProgressFn,
)
from everydonor.adapters.donorstore.reports import Rejection
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.designation import parse_typing
from everydonor.hla.locus import Locus, parse_locus


@dataclass(slots=True)
class RawBatch:
    """Rows as read: record numbers, ids, attributes and typing texts (None = untyped)."""

    record: np.ndarray
    donor_id: pa.Array
    attributes: dict[str, pa.Array]
    typings: dict[tuple[Locus, int], pa.Array]
    errors: dict[int, tuple[str, str | None, str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.record)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _open_text(path: Path) -> Any:
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return path.open("r", encoding="utf-8-sig", errors="replace", newline="")


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml", ".json"):
        return "case"
    with _open_text(path) as f:
        first = next((ln for ln in f if ln.strip() and not ln.startswith("#")), "")
    if "%" in first and "," not in first.split("%", 1)[0]:
        return "wmda"
    if "," in first:
        return "csv"
    raise InputError(f"cannot tell the format of {path.name!r}: expected a CSV with a header, "
                     "WMDA 'ID%GL' lines or a case file (give --format)", field="FILE",
                     value=str(path))


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == b"\x1f\x8b"


class _Counting:
    """A binary file (plain or gzip) that reports how far it has been read (progress bar)."""

    def __init__(self, path: Path, progress: ProgressFn | None) -> None:
        self._raw = path.open("rb")
        self._f: Any = gzip.GzipFile(fileobj=self._raw) if _is_gzip(path) else self._raw
        self._total = path.stat().st_size
        self._progress = progress
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._f.read(n)
        if self._progress is not None:
            self._progress(self._raw.tell(), self._total)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._f.close()
        self._raw.close()
        self.closed = True


def csv_batches(path: Path, batch_rows: int, progress: ProgressFn | None) -> Iterator[RawBatch]:
    import csv

    with _open_text(path) as f:
        header = next(csv.reader(f), [])
    src = _Counting(path, progress)
    try:
        reader = pacsv.open_csv(
            src, read_options=pacsv.ReadOptions(block_size=1 << 24, encoding="utf8"),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header}, strings_can_be_null=True,
                null_values=[""]))
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path.name}: not a readable CSV file: {exc}", field="FILE",
                         value=str(path)) from None
    names = [n.strip() for n in reader.schema.names]
    lower = [n.lower() for n in names]
    id_col = next((names[k] for k, n in enumerate(lower) if n in ("donor_id", "id")), None)
    if id_col is None:
        raise InputError(f"{path.name}: the header has no donor_id (or id) column",
                         field="header", value=",".join(names))
    typing_cols: dict[tuple[Locus, int], str] = {}
    gl_col = next((names[k] for k, n in enumerate(lower) if n in ("gl", "hla_gl")), None)
    unknown = []
    for name in names:
        m = re.match(r"^(?:HLA-)?([A-Z0-9]+)[_.]([12])$", name, re.IGNORECASE)
        if m and parse_locus(m.group(1).upper()) is not None:
            typing_cols[(Locus(m.group(1).upper()), int(m.group(2)) - 1)] = name
        elif name.lower() not in (*ATTRIBUTE_FIELDS, "donor_id", "id", "gl", "hla_gl", "cmv"):
            unknown.append(name)
    if not typing_cols and gl_col is None:
        raise InputError(f"{path.name}: the header has no typing columns (A_1, A_2, …) and no "
                         "gl column", field="header", value=",".join(names))
    if unknown:
        raise InputError(f"{path.name}: unknown columns {', '.join(unknown)} (expected "
                         "donor_id, registry, sex, age, abo, cmv_igg, population, gl or "
                         "LOCUS_1/LOCUS_2)", field="header", value=",".join(unknown))
    record = 1  # records are data rows: the header is not counted
    for batch in _rechunk(reader, batch_rows):
        n = batch.num_rows
        cols = {nm.strip(): batch.column(k) for k, nm in enumerate(batch.schema.names)}

        def col(name: str, cols: dict[str, pa.Array] = cols, n: int = n) -> pa.Array:
            for key, value in cols.items():
                if key.lower() == name:
                    return pc.cast(value, pa.string())
            return pa.nulls(n, pa.string())

        attributes = {f: col(f) for f in ATTRIBUTE_FIELDS}
        if all(attributes["cmv_igg"].is_null().to_pylist()) and any(
                k.lower() == "cmv" for k in cols):
            attributes["cmv_igg"] = col("cmv")
        rb = RawBatch(np.arange(record, record + n, dtype=np.int64),
                      pc.cast(cols[id_col], pa.string()), attributes, {})
        if gl_col is not None:
            _split_gl(rb, pc.cast(cols[gl_col], pa.string()))
        for key, name in typing_cols.items():
            if key in rb.typings:
                raise InputError(f"{path.name}: locus {key[0].value} is given both in the gl "
                                 "column and in its own columns", field="header", value=name)
            rb.typings[key] = pc.cast(cols[name], pa.string())
        record += n
        yield rb
    src.close()


def _rechunk(reader: Any, rows: int) -> Iterator[pa.RecordBatch]:
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
            pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def wmda_batches(path: Path, batch_rows: int, progress: ProgressFn | None,
                  malformed: list[Rejection]) -> Iterator[RawBatch]:
    src = _Counting(path, progress)

    def invalid(row: Any) -> str:
        text = str(row.text)
        malformed.append(Rejection(int(row.number) if row.number is not None else -1,
                                   text.split("%", 1)[0] or None, "line", text[:200],
                                   "expected one ID%GL pair on the line"))
        return "skip"

    reader = pacsv.open_csv(
        src, read_options=pacsv.ReadOptions(block_size=1 << 24, column_names=["donor_id", "gl"]),
        parse_options=pacsv.ParseOptions(delimiter="%", quote_char=False,
                                         invalid_row_handler=invalid),
        convert_options=pacsv.ConvertOptions(column_types={"donor_id": pa.string(),
                                                           "gl": pa.string()}))
    record = 1
    for batch in _rechunk(reader, batch_rows):
        n = batch.num_rows
        attrs = {f: pa.nulls(n, pa.string()) for f in ATTRIBUTE_FIELDS}
        rb = RawBatch(np.arange(record, record + n, dtype=np.int64), batch.column(0), attrs, {})
        _split_gl(rb, batch.column(1))
        record += n
        yield rb
    src.close()


def _split_gl(rb: RawBatch, gl: pa.Array) -> None:
    """Spread ``LOCUS*a+LOCUS*b^…`` strings over per-locus typing columns (vectorised)."""
    n = len(gl)
    blocks = pc.split_pattern(pc.fill_null(gl, ""), "^")
    parent = np.asarray(pc.list_parent_indices(blocks))
    flat = pc.list_flatten(blocks).dictionary_encode()
    codes = np.asarray(flat.indices)
    parsed: list[tuple[Locus | None, str | None, str | None, str | None]] = []
    for text in flat.dictionary.to_pylist():
        parsed.append(_parse_block(text))
    locus_of = np.asarray([-1 if p[0] is None else list(Locus).index(p[0]) for p in parsed],
                          dtype=np.int64)
    bad = np.asarray([p[3] is not None for p in parsed], dtype=bool)
    for k in np.flatnonzero(bad[codes]):
        row = int(parent[k])
        p = parsed[codes[k]]
        rb.errors.setdefault(row, ("gl", flat.dictionary[codes[k]].as_py(), p[3] or ""))
    ok = ~bad[codes]
    firsts = pa.array([p[1] for p in parsed], pa.string())
    seconds = pa.array([p[2] for p in parsed], pa.string())
    for li, locus in enumerate(Locus):
        sel = np.flatnonzero(ok & (locus_of[codes] == li))
        if sel.size == 0:
            continue
        rows = parent[sel]
        uniq, counts = np.unique(rows, return_counts=True)
        for row in uniq[counts > 1]:
            rb.errors.setdefault(int(row), ("gl", None, f"locus {locus.value} appears twice"))
        code_row = np.full(n, -1, dtype=np.int32)
        code_row[rows] = codes[sel]
        indices = pa.array(code_row, pa.int32(), mask=code_row < 0)
        rb.typings[(locus, 0)] = pa.DictionaryArray.from_arrays(indices, firsts)
        rb.typings[(locus, 1)] = pa.DictionaryArray.from_arrays(indices, seconds)


def _parse_block(text: str) -> tuple[Locus | None, str | None, str | None, str | None]:
    """``A*01:01+A*02:01`` → (locus, first, second, error)."""
    text = text.strip()
    if not text:
        return None, None, None, "empty GL string"
    if "|" in text:
        return None, None, None, ("genotype lists (|) are not supported in the donor store; "
                                  "give one genotype per locus, with allele lists (/)")
    if "~" in text:
        return None, None, None, "phased haplotypes (~) are not supported; give genotypes"
    parts = text.split("+")
    if len(parts) != 2:
        return None, None, None, f"{text!r}: a locus needs two typings joined by '+'"
    loci = set()
    for part in parts:
        name = part.strip().removeprefix("HLA-").split("*")[0]
        locus = parse_locus(name)
        if locus is None:
            try:
                locus = parse_typing(part.strip()).locus
            except EverydonorError as exc:
                return None, None, None, exc.message
        if locus is None:
            return None, None, None, f"{part!r} names no locus"
        loci.add(locus)
    if len(loci) != 1:
        return None, None, None, f"{text!r} mixes loci"
    locus = loci.pop()
    return locus, parts[0].strip(), parts[1].strip(), None


def case_batches(path: Path) -> Iterator[RawBatch]:
    from everydonor.adapters.inputs.casefile import load_case_data
    from everydonor.case import parse_case

    case = parse_case(load_case_data(path), today=dt.date.today())
    people = case.unrelated
    if not people:
        raise InputError(f"{path.name}: the case lists no unrelated donors to import",
                         field="unrelated", value="[]")
    n = len(people)
    typings: dict[tuple[Locus, int], list[str | None]] = {}
    for k, p in enumerate(people):
        if p.hla is None:
            continue
        for locus, options in p.hla.loci.items():
            if len(options) > 1:
                continue  # reported below
            for pos, t in enumerate(options[0].typings):
                typings.setdefault((locus, pos), [None] * n)[k] = t.text
    rb = RawBatch(np.arange(1, n + 1, dtype=np.int64),
                  pa.array([p.donor_id or p.id for p in people], pa.string()),
                  {"registry": pa.array([p.registry for p in people], pa.string()),
                   "sex": pa.array([p.sex.value if p.sex else None for p in people], pa.string()),
                   "age": pa.array([None if p.age is None else f"{p.age:g}" for p in people],
                                   pa.string()),
                   "abo": pa.array([p.abo for p in people], pa.string()),
                   "cmv_igg": pa.array([p.cmv_igg.value if p.cmv_igg else None for p in people],
                                       pa.string()),
                   "population": pa.nulls(n, pa.string())},
                  {k: pa.array(v, pa.string()) for k, v in typings.items()})
    for k, p in enumerate(people):
        if p.hla is None or not p.hla.loci:
            rb.errors[k] = ("hla", None, "the donor has no HLA typing")
        elif any(len(o) > 1 for o in p.hla.loci.values()):
            rb.errors[k] = ("hla_gl", p.hla.gl(), "genotype lists (|) are not supported in the "
                            "donor store")
    yield rb
