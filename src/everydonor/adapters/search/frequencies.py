"""Haplotype-frequency files (WMDA ``hap;freq`` or ``hap,count,freq`` CSV) read into sets."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

from everydonor.errors import InputError
from everydonor.hla.reduction import Reducer
from everydonor.unrelated.frequencies import FrequencySet, parse_frequency_lines


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


def frequency_set_of(store: Any, choice: str | None, reducer: Any) -> Any:
    """The set ``--frequencies`` names: installed in the store, or a file; else the store's only
    set; None when it has none."""
    sets = store.manifest.get("frequency_sets", {})
    if choice is None:
        if len(sets) == 1:
            return store.frequency_set(next(iter(sets)), reducer)
        if len(sets) > 1:
            raise InputError(f"the store has {len(sets)} frequency sets ({', '.join(sorted(sets))})"
                             "; choose one with --frequencies", field="--frequencies")
        return None
    if choice in sets:
        return store.frequency_set(choice, reducer)
    if Path(choice).expanduser().is_file():
        return read_frequency_file(Path(choice), reducer)
    raise InputError(f"--frequencies {choice!r} is neither a set installed in the store "
                     f"({', '.join(sorted(sets)) or 'none'}) nor a file", field="--frequencies",
                     value=choice)
