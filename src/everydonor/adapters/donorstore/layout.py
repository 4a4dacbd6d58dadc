"""The store's format name, column layout and the atomic manifest write."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from everydonor.hla.locus import Locus
from everydonor.unrelated.search import STORE_LOCI

STORE_FORMAT = "everydonor.donor-store/1"
GENOTYPE_COLUMNS = tuple(loc.value for loc in STORE_LOCI)
#: every typing locus has a genotype-id column: the typing as received is rebuilt from them
LOCUS_COLUMNS = tuple(loc.value for loc in Locus)
DEFAULT_PARTITION_ROWS = 1_000_000
ATTRIBUTE_FIELDS = ("registry", "sex", "age", "abo", "cmv_igg", "population")
CONTENT_FIELDS = (*ATTRIBUTE_FIELDS, *LOCUS_COLUMNS)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
ProgressFn = Callable[[int, int], None]


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def write_json_atomically(target: Path, data: Mapping[str, Any]) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)
