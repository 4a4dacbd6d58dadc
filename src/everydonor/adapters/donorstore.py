"""The donor store: a folder of Parquet files holding a registry's donors, typings pre-expanded.

Layout (format ``everydonor.donor-store/1``)::

    DIR/store.json                   manifest: release, MAC list, partitions, imports, sets
    DIR/dict/typings-vN.parquet      every distinct typing per locus, expanded once: lgx, G, P,
                                     serology, number of alleles (id 0 = untyped)
    DIR/dict/genotypes-vN.parquet    every distinct pair of typings per locus (id 0 = untyped)
    DIR/donors/part-NNNNNN.parquet   donors: id, registry, sex, age, ABO, CMV, population, one
                                     genotype id per typing locus (the typings as received are
                                     in the dictionary), the source import and record number —
                                     so a search is a scan of int32 columns
    DIR/imports/<sha256>.json        the report of every import (rejected rows with reasons)
    DIR/frequencies/<name>.txt       installed haplotype-frequency sets, verbatim

Writes are all-or-nothing: new files get fresh names, the manifest is replaced atomically last,
and only then are superseded files removed; a reader sees the old store or the new one. An
import of a file already imported (same SHA-256) changes nothing; a donor imported again with
the same content is *unchanged*, with other content *updated* (the old row removed). A row that
cannot be read is *rejected*, never dropped silently: its record number, donor, field, value and
reason are reported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from everydonor import __version__
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.designation import parse_typing
from everydonor.hla.locus import Locus, parse_locus
from everydonor.hla.reduction import Reducer
from everydonor.unrelated.expansion import TypingExpansion, expand_typing
from everydonor.unrelated.frequencies import FrequencySet, parse_frequency_lines
from everydonor.unrelated.scan import LocusDictionary
from everydonor.unrelated.search import STORE_LOCI, DonorRecord

STORE_FORMAT = "everydonor.donor-store/1"
GENOTYPE_COLUMNS = tuple(loc.value for loc in STORE_LOCI)
#: every typing locus has a genotype-id column: the typing as received is rebuilt from them
LOCUS_COLUMNS = tuple(loc.value for loc in Locus)
DEFAULT_PARTITION_ROWS = 1_000_000
ATTRIBUTE_FIELDS = ("registry", "sex", "age", "abo", "cmv_igg", "population")
CONTENT_FIELDS = (*ATTRIBUTE_FIELDS, *LOCUS_COLUMNS)
_ABO_RE = re.compile(r"^(O|A|B|AB)([+-])?$")
_SEX = {"male": "male", "m": "male", "female": "female", "f": "female", "unknown": None,
        "u": None, "": None}
_CMV = {"positive": "positive", "pos": "positive", "+": "positive", "negative": "negative",
        "neg": "negative", "-": "negative", "unknown": None, "": None}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
ProgressFn = Callable[[int, int], None]


# -- reports ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    """One row that was not imported, and why."""

    record: int
    donor_id: str | None
    field: str
    value: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "donor_id": self.donor_id, "field": self.field,
                "value": self.value, "reason": self.reason}


@dataclass(slots=True)
class ImportReport:
    file: str
    sha256: str
    format: str
    records: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    already_imported: bool = False
    store_donors: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "format": self.format,
                "records": self.records, "imported": self.imported, "updated": self.updated,
                "unchanged": self.unchanged, "rejected_count": len(self.rejected),
                "already_imported": self.already_imported, "store_donors": self.store_donors,
                "warnings": self.warnings,
                "rejected": [r.to_dict() for r in self.rejected]}


# -- typing and genotype dictionaries --------------------------------------------------------------


class TypingCatalog:
    """Per locus: typing text → id with its expansion; typing pair → genotype id.

    Ids are stable across imports (append only); id 0 is *untyped* in both dictionaries.
    """

    def __init__(self) -> None:
        self.ids: dict[Locus, dict[str, int]] = {loc: {} for loc in Locus}
        self.expansions: dict[Locus, list[TypingExpansion | None]] = {loc: [None] for loc in Locus}
        self.pairs: dict[Locus, dict[tuple[int, int], int]] = {loc: {(0, 0): 0} for loc in Locus}
        self.pair_list: dict[Locus, list[tuple[int, int]]] = {loc: [(0, 0)] for loc in Locus}
        self._errors: dict[tuple[Locus, str], str] = {}

    def typing_ids(self, reducer: Reducer, locus: Locus, texts: Sequence[str | None]
                   ) -> tuple[np.ndarray, dict[int, str]]:
        """Ids of distinct ``texts`` (None / untyped tokens → 0) and errors by position."""
        out = np.zeros(len(texts), dtype=np.int32)
        errors: dict[int, str] = {}
        known = self.ids[locus]
        for k, raw in enumerate(texts):
            if raw is None:
                continue
            text = raw.strip().removeprefix("HLA-")
            tid = known.get(text)
            if tid is not None:
                out[k] = tid
                continue
            err = self._errors.get((locus, text))
            if err is None:
                try:
                    if parse_typing(text).is_untyped:
                        continue
                    exp = expand_typing(reducer, text, locus)
                except EverydonorError as exc:
                    err = self._errors[(locus, text)] = exc.message
                else:
                    tid = known[text] = len(self.expansions[locus])
                    self.expansions[locus].append(exp)
                    out[k] = tid
                    continue
            errors[k] = err
        return out, errors

    def genotype_ids(self, locus: Locus, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
        lo = np.minimum(t1, t2).astype(np.int64)
        hi = np.maximum(t1, t2).astype(np.int64)
        keys, inverse = np.unique((lo << 32) | hi, return_inverse=True)
        table = self.pairs[locus]
        gids = np.empty(keys.size, dtype=np.int32)
        for k, key in enumerate(keys.tolist()):
            pair = (key >> 32, key & 0xFFFFFFFF)
            gid = table.get(pair)
            if gid is None:
                gid = table[pair] = len(self.pair_list[locus])
                self.pair_list[locus].append(pair)
            gids[k] = gid
        return gids[inverse.reshape(-1)]

    # persistence
    def typings_table(self) -> pa.Table:
        rows: dict[str, list[Any]] = {k: [] for k in ("locus", "id", "text", "kind", "lgx", "g",
                                                      "p", "serology", "alleles")}
        for locus in Locus:
            for tid, exp in enumerate(self.expansions[locus]):
                if exp is None:
                    continue
                for k, v in (("locus", locus.value), ("id", tid), ("text", exp.text),
                             ("kind", exp.kind), ("lgx", list(exp.lgx)), ("g", list(exp.g)),
                             ("p", list(exp.p)), ("serology", list(exp.serology)),
                             ("alleles", exp.alleles)):
                    rows[k].append(v)
        return pa.table({**rows, "id": pa.array(rows["id"], pa.int32()),
                         "alleles": pa.array(rows["alleles"], pa.int32())})

    def genotypes_table(self) -> pa.Table:
        loci, ids, t1, t2 = [], [], [], []
        for locus in Locus:
            for gid, (a, b) in enumerate(self.pair_list[locus]):
                if gid:
                    loci.append(locus.value)
                    ids.append(gid)
                    t1.append(a)
                    t2.append(b)
        return pa.table({"locus": loci, "id": pa.array(ids, pa.int32()),
                         "t1": pa.array(t1, pa.int32()), "t2": pa.array(t2, pa.int32())})

    @classmethod
    def from_tables(cls, typings: pa.Table, genotypes: pa.Table) -> TypingCatalog:
        cat = cls()
        cols = typings.to_pydict()
        order = sorted(range(len(cols["id"])), key=lambda k: (cols["locus"][k], cols["id"][k]))
        for k in order:
            locus = Locus(cols["locus"][k])
            if cols["id"][k] != len(cat.expansions[locus]):
                raise InputError("the store's typing dictionary has a gap; the store is damaged",
                                 field="dict/typings", value=str(cols["id"][k]))
            exp = TypingExpansion(cols["text"][k], locus, cols["kind"][k], tuple(cols["lgx"][k]),
                                  tuple(cols["g"][k]), tuple(cols["p"][k]),
                                  tuple(cols["serology"][k]), cols["alleles"][k])
            cat.ids[locus][exp.text] = cols["id"][k]
            cat.expansions[locus].append(exp)
        g = genotypes.to_pydict()
        order = sorted(range(len(g["id"])), key=lambda k: (g["locus"][k], g["id"][k]))
        for k in order:
            locus = Locus(g["locus"][k])
            pair = (g["t1"][k], g["t2"][k])
            cat.pairs[locus][pair] = g["id"][k]
            cat.pair_list[locus].append(pair)
        return cat

    def dictionary(self, locus: Locus) -> LocusDictionary:
        exps = self.expansions[locus]
        names = sorted({x for e in exps if e is not None for x in e.lgx})
        index = {x: i for i, x in enumerate(names)}
        indptr = np.zeros(len(exps) + 1, dtype=np.int64)
        ids: list[int] = []
        for t, e in enumerate(exps):
            if e is not None:
                ids.extend(index[x] for x in e.lgx)
            indptr[t + 1] = len(ids)
        return LocusDictionary(locus, tuple(names), indptr, np.asarray(ids, dtype=np.int32),
                               tuple(e.text if e else "" for e in exps),
                               np.asarray(self.pair_list[locus], dtype=np.int32).reshape(-1, 2))


# -- readers -----------------------------------------------------------------------------------------


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


def _csv_batches(path: Path, batch_rows: int, progress: ProgressFn | None) -> Iterator[RawBatch]:
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


def _wmda_batches(path: Path, batch_rows: int, progress: ProgressFn | None,
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


def _case_batches(path: Path) -> Iterator[RawBatch]:
    from everydonor.adapters.casefile import load_case_data
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


# -- the store -------------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _write_json_atomically(target: Path, data: Mapping[str, Any]) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)


class DonorStore:
    """A donor store folder (see the module docstring). Open with :meth:`open`."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self._catalog: TypingCatalog | None = None
        self._genotypes: list[list[np.ndarray]] | None = None
        self._dictionaries: tuple[LocusDictionary, ...] | None = None

    # opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str, *, create: bool = False, release: str | None = None,
             mac_list: str | None = None) -> DonorStore:
        p = Path(path).expanduser()
        manifest_path = p / "store.json"
        if not manifest_path.is_file():
            if not create:
                raise InputError(f"{str(p)!r} is not a donor store (no store.json); create one "
                                 "with `everydonor donors import FILE --store DIR`",
                                 field="--store", value=str(p))
            if p.exists() and any(p.iterdir()):
                raise InputError(f"{str(p)!r} exists and is not empty; give a new folder for "
                                 "a new donor store", field="--store", value=str(p))
            for sub in ("dict", "donors", "imports", "frequencies"):
                (p / sub).mkdir(parents=True, exist_ok=True)
            manifest: dict[str, Any] = {"format": STORE_FORMAT, "created": _now(), "software": __version__,
                        "release": release, "mac_list": mac_list, "version": 0,
                        "dictionaries": None, "partitions": [], "imports": [],
                        "frequency_sets": {}, "donors": 0, "next_partition": 1}
            _write_json_atomically(manifest_path, manifest)
            return cls(p, manifest)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read {str(manifest_path)!r}: {exc}", field="--store",
                             value=str(p)) from exc
        if manifest.get("format") != STORE_FORMAT:
            raise InputError(f"{str(p)!r} is not an {STORE_FORMAT} store",
                             field="--store", value=str(manifest.get("format")))
        return cls(p, manifest)

    @property
    def release(self) -> str | None:
        value = self.manifest.get("release")
        return str(value) if value is not None else None

    @property
    def donors(self) -> int:
        return int(self.manifest.get("donors", 0))

    def check_release(self, release: str) -> None:
        if self.release is not None and self.release != release:
            raise InputError(f"the store was built with IPD-IMGT/HLA {self.release}, this run "
                             f"uses {release}; use the same release (--imgt) or a new store",
                             field="--imgt", value=release)

    def catalog(self) -> TypingCatalog:
        if self._catalog is None:
            d = self.manifest.get("dictionaries")
            if not d:
                self._catalog = TypingCatalog()
            else:
                self._catalog = TypingCatalog.from_tables(pq.read_table(self.path / d["typings"]),
                                                          pq.read_table(self.path / d["genotypes"]))
        return self._catalog

    def dictionaries(self) -> tuple[LocusDictionary, ...]:
        if self._dictionaries is None:
            cat = self.catalog()
            self._dictionaries = tuple(cat.dictionary(loc) for loc in STORE_LOCI)
        return self._dictionaries

    def partition_files(self) -> list[Path]:
        return [self.path / p["file"] for p in self.manifest.get("partitions", [])]

    def genotype_columns(self) -> list[list[np.ndarray]]:
        """Per partition, the int32 genotype-id columns (A, C, B, DRB1, DQB1, DPB1); cached."""
        if self._genotypes is None:
            self._genotypes = [read_genotype_columns(f) for f in self.partition_files()]
        return self._genotypes

    def records(self, partition: int, rows: Sequence[int]) -> list[DonorRecord]:
        """The stored attributes of some rows of one partition (for the listed donors)."""
        if not rows:
            return []
        table = pq.read_table(self.partition_files()[partition],
                              columns=["donor_id", *CONTENT_FIELDS])
        taken = table.take(pa.array(rows, pa.int64())).to_pydict()
        cat = self.catalog()
        out = []
        for k in range(len(rows)):
            blocks = []
            for loc in Locus:
                g = int(taken[loc.value][k])
                if g:
                    t1, t2 = cat.pair_list[loc][g]
                    e1, e2 = cat.expansions[loc][t1], cat.expansions[loc][t2]
                    assert e1 is not None and e2 is not None
                    blocks.append(f"{e1.text}+{e2.text}")
            out.append(DonorRecord(taken["donor_id"][k], taken["registry"][k], taken["sex"][k],
                                   taken["age"][k], taken["abo"][k], taken["cmv_igg"][k],
                                   "^".join(blocks),
                                   tuple(int(taken[c][k]) for c in GENOTYPE_COLUMNS)))
        return out

    def info(self) -> dict[str, Any]:
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {"store": str(self.path), "format": STORE_FORMAT,
                "release": self.release, "mac_list": self.manifest.get("mac_list"),
                "donors": self.donors, "partitions": len(self.manifest.get("partitions", [])),
                "typings": {loc.value: len(self.catalog().expansions[loc]) - 1
                            for loc in STORE_LOCI},
                "genotypes": {loc.value: len(self.catalog().pair_list[loc]) - 1
                              for loc in STORE_LOCI},
                "bytes": size, "imports": self.manifest.get("imports", []),
                "frequency_sets": self.manifest.get("frequency_sets", {})}

    # frequency sets -------------------------------------------------------------------------
    def add_frequency_set(self, source: Path, name: str, reducer: Reducer, *,
                          population: str | None = None, registry: str | None = None
                          ) -> FrequencySet:
        if not _NAME_RE.match(name):
            raise InputError("a frequency-set name is letters, digits, '.', '_', '-' or '@' "
                             "(at most 64)", field="--name", value=name)
        self.check_release(reducer.release)
        fs = read_frequency_file(source, reducer, name=name, population=population,
                                 registry=registry)
        target = self.path / "frequencies" / f"{name}.txt"
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        sets = dict(self.manifest.get("frequency_sets", {}))
        sets[name] = {"file": f"frequencies/{name}.txt", "sha256": fs.digest,
                      "haplotypes": fs.size, "population": population, "registry": registry,
                      "source": source.name, "added": _now()}
        self._commit({**self.manifest, "frequency_sets": sets}, [])
        return fs

    def frequency_set(self, name: str, reducer: Reducer) -> FrequencySet:
        entry = self.manifest.get("frequency_sets", {}).get(name)
        if entry is None:
            known = ", ".join(sorted(self.manifest.get("frequency_sets", {}))) or "none"
            raise InputError(f"no frequency set {name!r} in this store (installed: {known})",
                             field="--frequencies", value=name)
        return read_frequency_file(self.path / entry["file"], reducer, name=name,
                                   population=entry.get("population"),
                                   registry=entry.get("registry"))

    # import ---------------------------------------------------------------------------------
    def import_file(self, path: Path | str, reducer: Reducer, *, fmt: str | None = None,
                    strict: bool = False, partition_rows: int = DEFAULT_PARTITION_ROWS,
                    progress: ProgressFn | None = None, mac_list: str | None = None
                    ) -> ImportReport:
        """Import a donor file (CSV, WMDA ``ID%GL``, or a case file's ``unrelated[]``)."""
        src = Path(path).expanduser()
        if not src.is_file():
            raise InputError(f"donor file {str(src)!r} does not exist", field="FILE",
                             value=str(src))
        self.check_release(reducer.release)
        fmt = fmt or detect_format(src)
        digest = file_sha256(src)
        report = ImportReport(src.name, digest, fmt)
        if any(i.get("sha256") == digest for i in self.manifest.get("imports", [])):
            report.already_imported = True
            report.store_donors = self.donors
            report.warnings.append("this file (same SHA-256) was imported before; nothing "
                                   "changed")
            return report
        batches: Iterable[RawBatch]
        if fmt == "csv":
            batches = _csv_batches(src, partition_rows, progress)
        elif fmt == "wmda":
            batches = _wmda_batches(src, partition_rows, progress, report.rejected)
        elif fmt == "case":
            batches = _case_batches(src)
        else:
            raise InputError("--format must be csv, wmda or case", field="--format", value=fmt)
        with self._lock():
            return self._import(batches, reducer, report, strict=strict,
                                partition_rows=partition_rows, mac_list=mac_list)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        lock = self.path / "store.lock"
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise InputError(f"the store {str(self.path)!r} is locked by another import "
                             f"(remove {lock.name} if no import is running)", field="--store",
                             value=str(self.path)) from None
        try:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            yield
        finally:
            lock.unlink(missing_ok=True)

    def _import(self, batches: Iterable[RawBatch], reducer: Reducer, report: ImportReport, *,
                strict: bool, partition_rows: int, mac_list: str | None) -> ImportReport:
        cat = self.catalog()
        written: list[Path] = []
        tables: list[pa.Table] = []
        try:
            for raw in batches:
                report.records += len(raw)
                table, rejected = _accept(raw, cat, reducer,
                                          source=len(self.manifest.get("imports", [])) + 1)
                report.rejected.extend(rejected)
                if table.num_rows:
                    tables.append(table)
            if strict and report.rejected:
                raise RejectedRows(report)
            new = pa.concat_tables(tables) if tables else None
            if new is not None:
                new, dup = _drop_duplicates(new)
                report.rejected.extend(dup)
            if strict and report.rejected:
                raise RejectedRows(report)
            report.rejected.sort(key=lambda r: r.record)
            kept_parts, removed, updated, unchanged, new, seq = self._reconcile(new, written)
            report.updated, report.unchanged = updated, unchanged
            report.imported = (new.num_rows if new is not None else 0) - updated
            parts = list(kept_parts)
            if new is not None and new.num_rows:
                for start in range(0, new.num_rows, partition_rows):
                    name = f"donors/part-{seq:06d}.parquet"
                    seq += 1
                    chunk = new.slice(start, partition_rows)
                    pq.write_table(chunk, self.path / name, compression="zstd",
                                   row_group_size=min(partition_rows, 1 << 20))
                    written.append(self.path / name)
                    parts.append({"file": name, "rows": chunk.num_rows})
            version = int(self.manifest.get("version", 0)) + 1
            dict_files = {"typings": f"dict/typings-v{version:04d}.parquet",
                          "genotypes": f"dict/genotypes-v{version:04d}.parquet"}
            pq.write_table(cat.typings_table(), self.path / dict_files["typings"])
            written.append(self.path / dict_files["typings"])
            pq.write_table(cat.genotypes_table(), self.path / dict_files["genotypes"])
            written.append(self.path / dict_files["genotypes"])
            donors = sum(p["rows"] for p in parts)
            report.store_donors = donors
            report_file = f"imports/{report.sha256}.json"
            _write_json_atomically(self.path / report_file, report.to_dict())
            written.append(self.path / report_file)
            old_dicts = self.manifest.get("dictionaries") or {}
            manifest = {**self.manifest, "version": version, "dictionaries": dict_files,
                        "partitions": parts, "donors": donors, "next_partition": seq,
                        "release": reducer.release,
                        "mac_list": mac_list or self.manifest.get("mac_list"),
                        "imports": [*self.manifest.get("imports", []), {
                            "sha256": report.sha256, "file": report.file, "format": report.format,
                            "at": _now(), "records": report.records, "imported": report.imported,
                            "updated": report.updated, "unchanged": report.unchanged,
                            "rejected": len(report.rejected), "report": report_file}]}
            self._commit(manifest, [*removed, *(self.path / f for f in old_dicts.values())])
            return report
        except BaseException:
            for f in written:
                f.unlink(missing_ok=True)
            self._catalog = None  # the catalogue grew in memory; re-read the committed one
            raise

    def _reconcile(self, new: pa.Table | None, written: list[Path]
                   ) -> tuple[list[dict[str, Any]], list[Path], int, int, pa.Table | None, int]:
        """Compare the new rows with the donors already stored: unchanged rows are dropped,
        updated donors lose their old row (their partitions are rewritten under new names,
        listed in ``written`` until the commit). Returns the next partition number too."""
        parts = list(self.manifest.get("partitions", []))
        seq = int(self.manifest.get("next_partition", 1))
        if new is None or not parts:
            return parts, [], 0, 0, new, seq
        ids = new.column("donor_id")
        kept: list[dict[str, Any]] = []
        removed: list[Path] = []
        unchanged_ids: list[str] = []
        updated = 0
        for part in parts:
            f = self.path / part["file"]
            old = pq.read_table(f)
            hit = pc.is_in(old.column("donor_id"), value_set=ids)
            if not pc.any(hit).as_py():
                kept.append(part)
                continue
            old_hits = old.filter(hit)
            joined = old_hits.select(["donor_id", *CONTENT_FIELDS]).join(
                new.select(["donor_id", *CONTENT_FIELDS]), "donor_id", right_suffix="_new")
            same = np.ones(joined.num_rows, dtype=bool)
            for c in CONTENT_FIELDS:
                a, b = joined.column(c), joined.column(f"{c}_new")
                eq = pc.fill_null(pc.equal(a, b), False)
                both_null = pc.and_(pc.is_null(a), pc.is_null(b))
                same &= np.asarray(pc.or_(eq, both_null))
            jid = joined.column("donor_id").to_pylist()
            unchanged_ids.extend(x for x, s in zip(jid, same, strict=True) if s)
            changed = {x for x, s in zip(jid, same, strict=True) if not s}
            updated += len(changed)
            remaining = old.filter(pc.invert(pc.is_in(old.column("donor_id"),
                                                      value_set=pa.array(sorted(changed),
                                                                         pa.string()))))
            if remaining.num_rows == old.num_rows:
                kept.append(part)
                continue
            removed.append(f)
            if remaining.num_rows:
                name = f"donors/part-{seq:06d}.parquet"
                seq += 1
                pq.write_table(remaining, self.path / name, compression="zstd")
                written.append(self.path / name)
                kept.append({"file": name, "rows": remaining.num_rows})
        if unchanged_ids:
            new = new.filter(pc.invert(pc.is_in(new.column("donor_id"),
                                                value_set=pa.array(unchanged_ids, pa.string()))))
        return kept, removed, updated, len(unchanged_ids), new, seq

    def _commit(self, manifest: dict[str, Any], superseded: Iterable[Path]) -> None:
        _write_json_atomically(self.path / "store.json", manifest)
        self.manifest = manifest
        for f in superseded:
            f.unlink(missing_ok=True)
        self._genotypes = None
        self._dictionaries = None


class RejectedRows(InputError):
    """``--strict``: some rows could not be read, so nothing was imported."""

    def __init__(self, report: ImportReport) -> None:
        first = report.rejected[0]
        super().__init__(
            f"{len(report.rejected)} of {report.records} rows rejected (--strict: nothing "
            f"imported); first: record {first.record}, donor {first.donor_id!r}: "
            f"{first.reason}", person=first.donor_id, field=first.field, value=first.value)
        self.report = report


def read_frequency_file(path: Path, reducer: Reducer, *, name: str | None = None,
                        population: str | None = None, registry: str | None = None
                        ) -> FrequencySet:
    """A frequency set from a file (WMDA ``hap;freq`` lines or ``hap,count,freq`` CSV, plain
    or gzip-compressed)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"frequency file {str(p)!r} does not exist", field="--frequencies",
                         value=str(p))
    try:
        raw = p.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read frequency file {str(p)!r}: {exc}",
                         field="--frequencies", value=str(p)) from exc
    label = name or p.name.split(".")[0]
    return parse_frequency_lines(text.splitlines(), label, reducer, source=p.name,
                                 population=population, registry=registry,
                                 digest=hashlib.sha256(raw).hexdigest())


def read_genotype_columns(path: Path) -> list[np.ndarray]:
    """The genotype-id columns of one partition as int32 arrays (A, C, B, DRB1, DQB1, DPB1)."""
    table = pq.read_table(path, columns=list(GENOTYPE_COLUMNS))
    return [np.ascontiguousarray(table.column(c).to_numpy(), dtype=np.int32)
            for c in GENOTYPE_COLUMNS]


# -- accepting rows ----------------------------------------------------------------------------------


def _distinct(values: pa.Array) -> tuple[np.ndarray, list[str | None]]:
    """Dictionary codes (-1 for null) and the distinct values of a string array."""
    enc = values if isinstance(values, pa.DictionaryArray) else values.dictionary_encode()
    codes = np.asarray(pc.fill_null(enc.indices, -1), dtype=np.int64)
    return codes, enc.dictionary.to_pylist()


def _take(values: Sequence[Any], codes: np.ndarray, kind: pa.DataType) -> pa.Array:
    """``values[code]`` for every row (null where the code is -1), without a Python loop."""
    table = pa.array(list(values), kind)
    return table.take(pa.array(codes, pa.int64(), mask=codes < 0))


def _accept(raw: RawBatch, cat: TypingCatalog, reducer: Reducer, source: int
            ) -> tuple[pa.Table, list[Rejection]]:
    n = len(raw)
    reason: dict[int, tuple[str, str | None, str]] = dict(raw.errors)
    ids = pc.utf8_trim_whitespace(raw.donor_id)
    for k in np.flatnonzero(np.asarray(pc.fill_null(pc.equal(ids, ""), True))):
        reason.setdefault(int(k), ("donor_id", None, "the donor has no id"))
    attrs: dict[str, pa.Array] = {}
    for name in ATTRIBUTE_FIELDS:
        codes, values = _distinct(raw.attributes.get(name, pa.nulls(n, pa.string())))
        clean, bad = _clean_attribute(name, values)
        for k in np.flatnonzero(np.isin(codes, list(bad))) if bad else ():
            v = values[codes[k]]
            reason.setdefault(int(k), (name, v, bad[int(codes[k])]))
        attrs[name] = _take(clean, codes, pa.float32() if name == "age" else pa.string())
    genotype: dict[Locus, np.ndarray] = {}
    for locus in Locus:
        if (locus, 0) not in raw.typings and (locus, 1) not in raw.typings:
            genotype[locus] = np.zeros(n, dtype=np.int32)
            continue
        t = []
        for pos in (0, 1):
            column = raw.typings.get((locus, pos), pa.nulls(n, pa.string()))
            codes, values = _distinct(column)
            tids, errors = cat.typing_ids(reducer, locus, values)
            for c, msg in errors.items():
                for k in np.flatnonzero(codes == c):
                    reason.setdefault(int(k), (f"{locus.value}_{pos + 1}", values[c], msg))
            row_ids = (np.where(codes >= 0, tids[np.maximum(codes, 0)], 0).astype(np.int32)
                       if tids.size else np.zeros(n, dtype=np.int32))
            t.append(row_ids)
        half = (t[0] == 0) != (t[1] == 0)
        for k in np.flatnonzero(half):
            reason.setdefault(int(k), (locus.value, None, f"{locus.value}: one typing is "
                                       "missing; leave the locus untyped or repeat the typing "
                                       "if homozygous"))
        genotype[locus] = cat.genotype_ids(locus, np.where(half, 0, t[0]),
                                           np.where(half, 0, t[1]))
    no_typing = np.all([genotype[loc] == 0 for loc in STORE_LOCI[:5]], axis=0)
    for k in np.flatnonzero(no_typing):
        reason.setdefault(int(k), ("hla", None, "no typing at A, C, B, DRB1 or DQB1"))
    rejected_rows = np.zeros(n, dtype=bool)
    rejected_rows[list(reason)] = True
    id_list = ids.to_pylist()
    rejections = [Rejection(int(raw.record[k]), id_list[k] or None, f, v, r)
                  for k, (f, v, r) in sorted(reason.items())]
    keep = pa.array(~rejected_rows)
    table = pa.table({
        "donor_id": ids, **attrs,
        **{loc.value: pa.array(genotype[loc], pa.int32()) for loc in Locus},
        "record": pa.array(raw.record, pa.int64()),
        "source": pa.array(np.full(n, source, dtype=np.int32)),
    }).filter(keep)
    return table, rejections


def _clean_attribute(name: str, values: Sequence[str | None]
                     ) -> tuple[list[Any], dict[int, str]]:
    clean: list[Any] = []
    bad: dict[int, str] = {}
    for c, value in enumerate(values):
        v = None if value is None else value.strip()
        result: Any = None
        if v is None or v == "":
            result = None
        elif name == "sex":
            if v.lower() not in _SEX:
                bad[c] = "sex must be male, female or unknown"
            result = _SEX.get(v.lower())
        elif name == "cmv_igg":
            if v.lower() not in _CMV:
                bad[c] = "cmv_igg must be positive, negative or unknown"
            result = _CMV.get(v.lower())
        elif name == "abo":
            if not _ABO_RE.match(v.upper()):
                bad[c] = "abo must be O, A, B or AB, optionally followed by + or -"
            result = v.upper()
        elif name == "age":
            try:
                age = float(v)
            except ValueError:
                bad[c] = "age must be a number of years"
            else:
                if not 0.0 <= age <= 120.0:
                    bad[c] = "age is outside the human range 0-120"
                result = age
        else:
            result = v
        clean.append(result)
    return clean, bad


def _drop_duplicates(table: pa.Table) -> tuple[pa.Table, list[Rejection]]:
    counts = table.group_by("donor_id").aggregate([("record", "min"), ("record", "count")])
    dups = counts.filter(pc.greater(counts.column("record_count"), 1))
    if dups.num_rows == 0:
        return table, []
    first = dict(zip(dups.column("donor_id").to_pylist(), dups.column("record_min").to_pylist(),
                     strict=True))
    mask = pc.is_in(table.column("donor_id"), value_set=dups.column("donor_id"))
    rows = table.filter(mask)
    out = []
    drop = np.zeros(table.num_rows, dtype=bool)
    positions = np.flatnonzero(np.asarray(mask))
    for pos, did, rec in zip(positions, rows.column("donor_id").to_pylist(),
                             rows.column("record").to_pylist(), strict=True):
        if rec != first[did]:
            drop[pos] = True
            out.append(Rejection(rec, did, "donor_id", did,
                                 f"donor id appears again (first at record {first[did]})"))
    return table.filter(pa.array(~drop)), out
