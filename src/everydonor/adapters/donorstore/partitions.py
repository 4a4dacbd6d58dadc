"""Rows accepted into partitions: attributes cleaned, typings to genotype ids, duplicates."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from everydonor.adapters.donorstore.catalogue import TypingCatalog
from everydonor.adapters.donorstore.layout import (
    ATTRIBUTE_FIELDS,
    GENOTYPE_COLUMNS,
)
from everydonor.adapters.donorstore.readers import (
    RawBatch,
)
from everydonor.adapters.donorstore.reports import Rejection
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.unrelated.search import STORE_LOCI

_ABO_RE = re.compile(r"^(O|A|B|AB)([+-])?$")
_SEX = {"male": "male", "m": "male", "female": "female", "f": "female", "unknown": None,
        "u": None, "": None}
_CMV = {"positive": "positive", "pos": "positive", "+": "positive", "negative": "negative",
        "neg": "negative", "-": "negative", "unknown": None, "": None}


def read_genotype_columns(path: Path) -> list[np.ndarray]:
    """The genotype-id columns of one partition as int32 arrays (A, C, B, DRB1, DQB1, DPB1)."""
    table = pq.read_table(path, columns=list(GENOTYPE_COLUMNS))
    return [np.ascontiguousarray(table.column(c).to_numpy(), dtype=np.int32)
            for c in GENOTYPE_COLUMNS]




def _distinct(values: pa.Array) -> tuple[np.ndarray, list[str | None]]:
    """Dictionary codes (-1 for null) and the distinct values of a string array."""
    enc = values if isinstance(values, pa.DictionaryArray) else values.dictionary_encode()
    codes = np.asarray(pc.fill_null(enc.indices, -1), dtype=np.int64)
    return codes, enc.dictionary.to_pylist()


def _take(values: Sequence[Any], codes: np.ndarray, kind: pa.DataType) -> pa.Array:
    """``values[code]`` for every row (null where the code is -1), without a Python loop."""
    table = pa.array(list(values), kind)
    return table.take(pa.array(codes, pa.int64(), mask=codes < 0))


def accept_batch(raw: RawBatch, cat: TypingCatalog, reducer: Reducer, source: int
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


def drop_duplicates(table: pa.Table) -> tuple[pa.Table, list[Rejection]]:
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
