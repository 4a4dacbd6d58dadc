"""Allele names: ``A*02:01:01:01``, ``A*01:04N``, ``B*44:02:01G``, ``DRB1*03:01P``.

An :class:`Allele` is a *name* at some resolution (1 to 4 fields); whether it exists in a release
is the reference tables' business (:class:`~everydonor.hla.reference.HlaReference`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from everydonor.errors import InvalidHlaName
from everydonor.hla.locus import Locus, parse_locus


class Expression(StrEnum):
    """WHO expression suffixes."""

    NULL = "N"
    LOW = "L"
    SECRETED = "S"
    CYTOPLASM = "C"
    ABERRANT = "A"
    QUESTIONABLE = "Q"


_FIELD = r"\d{2,4}"
ALLELE_RE = re.compile(
    rf"^(?P<locus>[A-Z][A-Z0-9]*)\*(?P<fields>{_FIELD}(?::{_FIELD}){{0,3}})(?P<suffix>[NLSCAQ])?$"
)
GROUP_RE = re.compile(
    rf"^(?P<locus>[A-Z][A-Z0-9]*)\*(?P<fields>{_FIELD}(?::{_FIELD}){{1,2}})(?P<kind>[GPg])$"
)


@dataclass(frozen=True, slots=True)
class Allele:
    """An allele name of 1-4 fields with an optional expression suffix.

    >>> a = parse_allele("A*01:04:01:01N")
    >>> (a.locus, a.fields, a.is_null, a.truncate(2).name)
    (<Locus.A: 'A'>, ('01', '04', '01', '01'), True, 'A*01:04N')
    """

    locus: Locus
    fields: tuple[str, ...]
    expression: Expression | None = None

    @property
    def name(self) -> str:
        suffix = self.expression.value if self.expression else ""
        return f"{self.locus.value}*{':'.join(self.fields)}{suffix}"

    @property
    def is_null(self) -> bool:
        return self.expression is Expression.NULL

    @property
    def resolution_fields(self) -> int:
        return len(self.fields)

    def truncate(self, n_fields: int) -> Allele:
        """The same allele named to ``n_fields`` fields (the suffix is kept, as WHO names do)."""
        return Allele(self.locus, self.fields[:n_fields], self.expression)

    def __str__(self) -> str:
        return self.name


def split_locus(text: str) -> tuple[str, str]:
    """Split ``"HLA-A*01:01"`` into ``("A", "01:01")``; raise if there is no ``*``."""
    body = text.removeprefix("HLA-")
    if "*" not in body:
        raise InvalidHlaName(
            f"{text!r} has no '*' between locus and fields (expected e.g. 'A*02:01')", value=text
        )
    locus, _, rest = body.partition("*")
    return locus, rest


def require_locus(name: str, text: str) -> Locus:
    locus = parse_locus(name)
    if locus is None and not name.removeprefix("HLA-"):
        raise InvalidHlaName(f"{text!r} has no locus before '*' (expected e.g. 'A*02:01')",
                             value=text)
    if locus is None:
        supported = ", ".join(locus.value for locus in Locus)
        raise InvalidHlaName(
            f"{text!r}: {name!r} is not a typing locus everydonor supports ({supported})"
            + case_hint(name),
            value=text,
        )
    return locus


def case_hint(name: str) -> str:
    """A hint when ``name`` is a locus written in lower case (``"a"``, ``"Drb1"``), else ``""``.

    HLA names are case-sensitive (``G`` and ``g`` groups differ), so they are never corrected
    silently; the message says what to write.
    """
    upper = name.upper()
    if upper != name and parse_locus(upper) is not None:
        return f"; HLA names are case-sensitive: write the locus in upper case ({upper!r})"
    return ""


def parse_allele(text: str) -> Allele:
    """Parse an allele name (1-4 fields, optional ``HLA-`` prefix and expression suffix).

    Raises :class:`InvalidHlaName` naming what is wrong. Existence in a release is not checked.
    """
    body = text.strip().removeprefix("HLA-")
    m = ALLELE_RE.match(body)
    if m is None:
        raise InvalidHlaName(_explain_allele(text), value=text)
    locus = require_locus(m.group("locus"), text)
    first = m.group("fields").split(":")[0]
    if len(first) > 2 and (locus is not Locus.DPB1 or first.startswith("0")):
        digits = m.group("fields").replace(":", "")
        hint = ":".join(digits[i:i + 2] for i in range(0, len(digits), 2))
        raise InvalidHlaName(
            f"{text!r} looks like a pre-2010 name without colons; write it with colons "
            f"(e.g. {locus.value}*{hint}) after checking it against the WHO renaming tables",
            value=text, locus=locus.value)
    suffix = m.group("suffix")
    return Allele(locus, tuple(m.group("fields").split(":")), Expression(suffix) if suffix else None)


def _explain_allele(text: str) -> str:
    body = text.strip().removeprefix("HLA-")
    if "*" not in body:
        return f"{text!r} is not an allele name: expected LOCUS*FIELD:FIELD, e.g. 'A*02:01'"
    _, _, fields = body.partition("*")
    if not fields:
        return f"{text!r} has no fields after '*' (a truncated name)"
    if any(ch.isspace() for ch in body):
        return f"{text!r} has whitespace inside the name; write it without spaces"
    parts = fields.rstrip("NLSCAQ").split(":")
    if "" in parts:
        if fields.endswith(":"):
            return f"{text!r} ends with ':' (a truncated name: the last field is missing)"
        return f"{text!r} has an empty field (a ':' with no digits on one side)"
    if len(parts) > 4:
        return f"{text!r} has {len(parts)} fields; allele names have at most 4"
    suffix = fields[-1]
    if suffix in "nlscaqp" and all(part.isdigit() for part in fields[:-1].split(":")):
        return (f"{text!r}: the suffix {suffix!r} must be upper case ({suffix.upper()!r}); "
                "HLA names are case-sensitive")
    for part in parts:
        if part.isalpha() and not part.isupper():
            return (f"{text!r}: field {part!r} is not numeric (MAC and XX codes are upper case: "
                    f"{part.upper()!r}; HLA names are case-sensitive)")
        if not part.isdigit():
            return f"{text!r}: field {part!r} is not numeric"
        if not 2 <= len(part) <= 4:
            return f"{text!r}: field {part!r} must have 2 to 4 digits"
    return f"{text!r} is not a well-formed allele name"


@functools.lru_cache(maxsize=1 << 18)
def allele_sort_key(name: str) -> tuple[object, ...]:
    """Natural order of allele and group names: numeric field by field (``A*01:02`` < ``A*01:10``)."""
    locus, _, rest = name.partition("*")
    key: list[object] = [locus]
    for part in rest.split(":"):
        digits = "".join(ch for ch in part if ch.isdigit())
        tail = part[len(digits):]
        key.append((int(digits) if digits else -1, tail))
    return tuple(key)
