"""Typing and genotype dictionaries: each distinct typing expanded once, ids append-only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from everydonor.errors import EverydonorError, InputError
from everydonor.hla.designation import parse_typing
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.unrelated.expansion import TypingExpansion, expand_typing
from everydonor.unrelated.scan import LocusDictionary


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
