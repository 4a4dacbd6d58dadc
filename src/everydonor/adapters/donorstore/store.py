"""The donor store folder: open/create, read partitions, import, reconcile, commit."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from everydonor import __version__
from everydonor.adapters.donorstore.catalogue import TypingCatalog
from everydonor.adapters.donorstore.layout import (
    CONTENT_FIELDS,
    DEFAULT_PARTITION_ROWS,
    GENOTYPE_COLUMNS,
    NAME_RE,
    STORE_FORMAT,
    ProgressFn,
    now,
    write_json_atomically,
)
from everydonor.adapters.donorstore.partitions import accept_batch, drop_duplicates, read_genotype_columns
from everydonor.adapters.donorstore.readers import (
    RawBatch,
    case_batches,
    csv_batches,
    detect_format,
    file_sha256,
    wmda_batches,
)
from everydonor.adapters.donorstore.reports import ImportReport, RejectedRows
from everydonor.adapters.search.frequencies import read_frequency_file
from everydonor.errors import InputError
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.unrelated.frequencies import FrequencySet
from everydonor.unrelated.scan import LocusDictionary
from everydonor.unrelated.search import STORE_LOCI, DonorRecord


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
             mac_list: str | dict[str, Any] | None = None) -> DonorStore:
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
            manifest: dict[str, Any] = {"format": STORE_FORMAT, "created": now(), "software": __version__,
                        "release": release, "mac_list": mac_list, "version": 0,
                        "dictionaries": None, "partitions": [], "imports": [],
                        "frequency_sets": {}, "donors": 0, "next_partition": 1}
            write_json_atomically(manifest_path, manifest)
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
        if not NAME_RE.match(name):
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
                      "source": source.name, "added": now()}
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
                    progress: ProgressFn | None = None,
                    mac_list: str | dict[str, Any] | None = None) -> ImportReport:
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
            batches = csv_batches(src, partition_rows, progress)
        elif fmt == "wmda":
            batches = wmda_batches(src, partition_rows, progress, report.rejected)
        elif fmt == "case":
            batches = case_batches(src)
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
                strict: bool, partition_rows: int, mac_list: str | dict[str, Any] | None
                ) -> ImportReport:
        cat = self.catalog()
        met = {(g.release, g.typing) for g in reducer.macs.gaps()} if reducer.macs else set()
        written: list[Path] = []
        tables: list[pa.Table] = []
        try:
            for raw in batches:
                report.records += len(raw)
                table, rejected = accept_batch(raw, cat, reducer,
                                          source=len(self.manifest.get("imports", [])) + 1)
                report.rejected.extend(rejected)
                if table.num_rows:
                    tables.append(table)
            if strict and report.rejected:
                raise RejectedRows(report)
            new = pa.concat_tables(tables) if tables else None
            if new is not None:
                new, dup = drop_duplicates(new)
                report.rejected.extend(dup)
            if strict and report.rejected:
                raise RejectedRows(report)
            report.rejected.sort(key=lambda r: r.record)
            if reducer.macs is not None:  # MACs of this file naming alleles absent from the release
                report.warnings.extend(g.message() for g in reducer.macs.gaps()
                                       if (g.release, g.typing) not in met)
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
            write_json_atomically(self.path / report_file, report.to_dict())
            written.append(self.path / report_file)
            old_dicts = self.manifest.get("dictionaries") or {}
            manifest = {**self.manifest, "version": version, "dictionaries": dict_files,
                        "partitions": parts, "donors": donors, "next_partition": seq,
                        "release": reducer.release,
                        "mac_list": mac_list or self.manifest.get("mac_list"),
                        "imports": [*self.manifest.get("imports", []), {
                            "sha256": report.sha256, "file": report.file, "format": report.format,
                            "at": now(), "records": report.records, "imported": report.imported,
                            "updated": report.updated, "unchanged": report.unchanged,
                            "rejected": len(report.rejected), "report": report_file,
                            "mac_list": mac_list}]}
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
        write_json_atomically(self.path / "store.json", manifest)
        self.manifest = manifest
        for f in superseded:
            f.unlink(missing_ok=True)
        self._genotypes = None
        self._dictionaries = None
