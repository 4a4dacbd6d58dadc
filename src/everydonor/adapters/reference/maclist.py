"""NMDP multiple-allele-code (MAC) lists read from a file the user gives (``--mac FILE``).

Three layouts are read, told apart by their first line:

* **NMDP ``numer.v3.txt``** (the list NMDP publishes as ``numer.v3.zip``; the ``.zip`` itself is
  read too when it holds one ``.txt``)::

      "LAST UPDATED: 09/30/20"          line 1: the list's date, MM/DD/YY, in double quotes
      CODE<TAB>SUBTYPE                  line 2: column names
                                        line 3: blank
      AB<TAB>01/02                      then one code per line
      TP<TAB>01:01/02:02

  ``SUBTYPE`` is ``/``-separated. A *generic* code lists second fields only (``01/02``): they
  combine with the first field the code is typed with (``A*01:AB`` = ``A*01:01/A*01:02``). An
  *allele-specific* code lists first and second fields (``01:01/02:02``), used as listed
  (``DRB3*01:TP`` = ``DRB3*01:01/DRB3*02:02``). A field may carry an expression suffix
  (``09N``, ``01:01N``). The numerical list has two sections (generic codes, then
  allele-specific ones) with no marker between them; the form of each row says which it is.
* **NMDP ``alpha.v3.txt``** (the same codes in alphabetical order): the same, with a first
  column that is ``*`` or empty (``*<TAB>CODE<TAB>SUBTYPE``); the marker is read and ignored.
* **Anthony Nolan Atlas CSV export** (``Code,…,HLA,…,Timestamp``; ``#`` comment lines): the
  ``Code`` and ``HLA`` columns; the list's date is the latest record ``Timestamp``.

Read strictly: a data line that is not ``CODE SUBTYPE`` of the forms above, a code listed
twice with different subtypes, or a ``LAST UPDATED`` header that is not a date is refused,
naming the file, the line and the value. The list's **date** comes from the header
(``date_from: "header"``), from the Atlas records' latest ``Timestamp`` (``"Timestamp column"``),
else from the file's modification time (``"file modification time"``, UTC). The **SHA-256** is
that of the file's bytes as given (``sha256sum FILE`` gives the same).

References: py-ard (NMDP) ``pyard.loader.mac_codes.load_mac_codes`` (layout of both files,
three header lines); NMDP Bioinformatics, *Allele Code Lists* (generic vs allele-specific
codes).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from pathlib import Path

from everydonor.errors import ReferenceDataError
from everydonor.hla.designation import MacDictionary

_HEADER_DATE = re.compile(r'^"?\s*LAST\s+UPDATED:?\s*(?P<date>[^"]*?)\s*"?$', re.IGNORECASE)
_COLUMNS = re.compile(r"^(\*\s+)?CODE\s+SUBTYPE\s*$", re.IGNORECASE)
_CODE = re.compile(r"^[A-Z]{2,}$")
_SUBTYPE = re.compile(r"^\d{2,4}(?::\d{2,4})?[NLSCAQ]?$")

FORMAT_NUMER = "NMDP numer.v3"
FORMAT_ALPHA = "NMDP alpha.v3"
FORMAT_ATLAS = "Atlas CSV"


def _bad(path: Path, line: int, message: str, value: str) -> ReferenceDataError:
    return ReferenceDataError(f"MAC file {path.name!r} line {line}: {message}",
                              field="mac", value=value[:200])


def _header_date(path: Path, line: int, text: str) -> str:
    raw = text.strip()
    for fmt in ("%m/%d/%y", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(raw, fmt).date().isoformat()
        except ValueError:
            continue
    raise _bad(path, line, "the LAST UPDATED header is not a date MM/DD/YY", text)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _unzip(path: Path, data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [n for n in z.namelist() if n.lower().endswith(".txt")]
            if len(members) != 1:
                raise ReferenceDataError(
                    f"MAC file {path.name!r} is a zip archive with {len(members)} .txt files; "
                    "expected one (numer.v3.txt)", field="mac", value=str(path))
            return z.read(members[0])
    except zipfile.BadZipFile as exc:
        raise ReferenceDataError(f"MAC file {path.name!r} is not a readable zip archive: "
                                 f"{exc}", field="mac", value=str(path)) from None


def parse_nmdp(path: Path, text: str) -> tuple[dict[str, str], str | None, str]:
    """``numer.v3.txt`` / ``alpha.v3.txt``: (codes, header date or None, format name)."""
    codes: dict[str, str] = {}
    date: str | None = None
    fmt = FORMAT_NUMER
    seen_data = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not seen_data:
            m = _HEADER_DATE.match(stripped)
            if m and date is None:
                date = _header_date(path, number, m.group("date"))
                continue
            m2 = _COLUMNS.match(stripped)
            if m2:
                fmt = FORMAT_ALPHA if m2.group(1) else FORMAT_NUMER
                continue
        seen_data = True
        parts = stripped.split()
        if parts[0] == "*":  # alpha.v3.txt's marker column
            parts = parts[1:]
        if len(parts) != 2:
            raise _bad(path, number, "expected CODE<TAB>SUBTYPE", line)
        code, subtype = parts
        if not _CODE.match(code):
            raise _bad(path, number, f"{code!r} is not a MAC (upper-case letters)", line)
        members = subtype.split("/")
        if not all(_SUBTYPE.match(m) for m in members):
            raise _bad(path, number, f"subtype {subtype!r} is not '/'-separated second fields "
                       "(01/02) or first:second fields (01:01/02:01)", line)
        if codes.get(code, subtype) != subtype:
            raise _bad(path, number, f"code {code} is listed twice ({codes[code]} and "
                       f"{subtype})", line)
        codes[code] = subtype
    return codes, date, fmt


def parse_atlas(path: Path, text: str, skip_codes: frozenset[str]
                ) -> tuple[dict[str, str], str | None]:
    """The Atlas CSV export: (codes, latest record Timestamp as an ISO date, or None)."""
    codes: dict[str, str] = {}
    stamps: list[str] = []
    rows = csv.DictReader(io.StringIO("\n".join(
        ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))))
    for row in rows:
        code, hla = (row.get("Code") or "").strip(), (row.get("HLA") or "").strip()
        if not code or not hla or code in skip_codes:
            continue
        if codes.get(code, hla) != hla:
            raise ReferenceDataError(f"MAC file {path.name!r}: code {code} is listed twice "
                                     f"({codes[code]} and {hla})", field="mac", value=code)
        codes[code] = hla
        stamp = (row.get("Timestamp") or "").strip()
        if stamp:
            stamps.append(stamp[:10])
    date = None
    if stamps:
        latest = max(stamps)
        try:
            date = dt.date.fromisoformat(latest).isoformat()
        except ValueError:
            date = None
    return codes, date


def read_mac_file(path: Path | str, skip_codes: frozenset[str] = frozenset()) -> MacDictionary:
    """Read an NMDP multiple-allele-code list (see the module docstring for the layouts).

    ``skip_codes`` drops named codes (the Atlas test file starts with a few fake ones).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ReferenceDataError(f"MAC file {str(p)!r} does not exist", value=str(p), field="mac")
    data = p.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    if data[:4] == b"PK\x03\x04":
        data = _unzip(p, data)
    text = _decode(data)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    date: str | None
    if first.startswith("Code,"):
        codes, date = parse_atlas(p, text, skip_codes)
        fmt, date_from = FORMAT_ATLAS, "Timestamp column (latest record)"
    else:
        codes, date, fmt = parse_nmdp(p, text)
        date_from = "header"
        for code in skip_codes:
            codes.pop(code, None)
    if date is None:
        mtime = dt.datetime.fromtimestamp(p.stat().st_mtime, tz=dt.UTC)
        date, date_from = mtime.date().isoformat(), "file modification time"
    if not codes:
        raise ReferenceDataError(
            f"MAC file {str(p)!r} holds no codes (expected NMDP numer.v3.txt or an Atlas CSV)",
            value=str(p), field="mac")
    digest = sha256[:12]
    return MacDictionary(codes, source=f"{p.name} dated {date} sha256:{digest}", digest=digest,
                         file=p.name, format=fmt, date=date, date_from=date_from,
                         sha256=sha256)
