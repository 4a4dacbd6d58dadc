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

from everydonor.adapters.donorstore.catalogue import TypingCatalog
from everydonor.adapters.donorstore.layout import (
                                                   ATTRIBUTE_FIELDS,
                                                   CONTENT_FIELDS,
                                                   DEFAULT_PARTITION_ROWS,
                                                   GENOTYPE_COLUMNS,
                                                   LOCUS_COLUMNS,
                                                   STORE_FORMAT,
)
from everydonor.adapters.donorstore.partitions import read_genotype_columns
from everydonor.adapters.donorstore.readers import RawBatch, detect_format, file_sha256
from everydonor.adapters.donorstore.reports import ImportReport, RejectedRows, Rejection
from everydonor.adapters.donorstore.store import DonorStore

__all__ = ["ATTRIBUTE_FIELDS", "CONTENT_FIELDS", "DEFAULT_PARTITION_ROWS", "GENOTYPE_COLUMNS",
           "LOCUS_COLUMNS", "STORE_FORMAT", "DonorStore", "ImportReport", "RawBatch",
           "RejectedRows", "Rejection", "TypingCatalog", "detect_format", "file_sha256",
           "read_genotype_columns"]
