"""GL String Code (GLSC): ``namespace#version#glstring``, read and written verbatim.

The form is glstring.org's (syntax 1.1 page) and the NMDP HLA reporting FHIR IG's
(``codesystems.fsh``, ``invariants.fsh``):

* ``namespace`` is ``hla`` (IPD-IMGT/HLA, extended by NMDP MAC codes and the WMDA codes
  ``NNNN``, ``XXXX``, ``UUUU``, ``NEW``) or ``kir`` (IPD-KIR);
* ``version`` is the nomenclature release the string was written under (``3.58.0``) or, when
  that release is unknown, the date the string was constructed (``YYYY-MM-DD``);
* the GL string itself (Milius et al. 2013; GL String 1.1, Mack et al. 2023).

>>> code = parse_glsc("hla#3.25.0#HLA-A*01:01:01:01+HLA-A*01:02")
>>> code.namespace, code.version, code.gl
('hla', '3.25.0', 'HLA-A*01:01:01:01+HLA-A*01:02')
>>> format_glsc("A*01:01+A*02:01^B*08:01+B*07:02", "3.58.0")
'hla#3.58.0#HLA-A*01:01+HLA-A*02:01^HLA-B*08:01+HLA-B*07:02'

Nothing is re-interpreted here: :class:`Glsc` keeps the GL string exactly as written (``HLA-``
prefix or not), and :func:`release_flag` says, in words, when a code's version is not the
release an answer is computed under. GL String 1.1's ``?`` (ambiguity about which paralog a
sequence belongs to) is accepted and kept verbatim, but never split: its precedence is not
interpreted here, and py-ard 2.4.2 does not split it either (:attr:`Glsc.has_paralog_ambiguity`).

Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from everydonor.errors import InvalidHlaName
from everydonor.hla.glstring import GlString, parse_gl

#: The FHIR coding system of a GL String Code, as emitted (the NMDP IG's slices use it).
GLSC_SYSTEM = "http://glstring.org"
#: Systems accepted on input: the IG's CodeSystem canonical is ``http://www.glstring.org``.
GLSC_SYSTEMS = frozenset({"http://glstring.org", "http://www.glstring.org"})
#: The namespaces of glstring.org.
NAMESPACES = ("hla", "kir")
#: What GL String 1.1's ``?`` means, for warnings.
PARALOG_NOTE = ("contains GL String 1.1 '?' (ambiguity about which gene a sequence belongs to): "
                "kept verbatim, not split, reduced or expanded (its precedence is not "
                "interpreted here; py-ard 2.4.2 does not split it either)")

_RELEASE_RE = re.compile(r"^\d+\.\d+\.\d+$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAMESPACE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
#: One name between operators (the shape only; names are judged against a release later).
_TOKEN_RE = re.compile(r"^(?:(?:HLA|KIR)-)?[A-Za-z][A-Za-z0-9]*(?:\*[A-Za-z0-9]+(?::[A-Za-z0-9]+)*)?$")
_OPERATORS = re.compile(r"([/~+|^?])")
_NAME_START = re.compile(r"(?<![A-Za-z0-9*:-])(?=[A-Z][A-Z0-9]*\*)")


@dataclass(frozen=True, slots=True)
class Glsc:
    """A parsed GL String Code; ``gl`` is the GL string exactly as written."""

    namespace: str
    version: str
    gl: str

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """The code as read (``namespace#version#gl``), byte for byte."""
        return f"{self.namespace}#{self.version}#{self.gl}"

    @property
    def is_release(self) -> bool:
        """The version names a release (``3.58.0``), not a construction date."""
        return bool(_RELEASE_RE.match(self.version))

    @property
    def release(self) -> str | None:
        """The nomenclature release, or None when the version is a construction date."""
        return self.version if self.is_release else None

    @property
    def construction_date(self) -> dt.date | None:
        """The construction date written instead of a release, if that is what the version is."""
        return None if self.is_release else dt.date.fromisoformat(self.version)

    @property
    def has_paralog_ambiguity(self) -> bool:
        """GL String 1.1's ``?`` occurs: the string is kept, never split (see module notes)."""
        return "?" in self.gl

    def gl_string(self) -> GlString:
        """The GL string parsed (``HLA-`` prefixes dropped), stamped with this code's version.

        Raises :class:`InvalidHlaName` for a ``kir`` code (not an HLA typing) and for a string
        with ``?`` (never split)."""
        if self.namespace != "hla":
            raise InvalidHlaName(
                f"GL String Code {self.text!r} is in the {self.namespace!r} namespace; an HLA "
                "typing needs 'hla#…'", value=self.text)
        if self.has_paralog_ambiguity:
            raise InvalidHlaName(f"GL String Code {self.text!r} {PARALOG_NOTE}", value=self.text)
        parsed = parse_gl(self.gl)
        return GlString(parsed.loci, self.version)


def looks_like_glsc(text: object) -> bool:
    """Whether ``text`` is written as a GL String Code (``word#…``): then it is parsed as one."""
    return isinstance(text, str) and bool(re.match(r"^\s*[A-Za-z][A-Za-z0-9_-]*#", text))


def parse_glsc(text: str) -> Glsc:
    """Read a GL String Code; raises :class:`InvalidHlaName` saying what is wrong.

    Surrounding whitespace is ignored; nothing else is changed (the GL string keeps its
    ``HLA-`` prefixes or their absence). The GL string is checked for shape: no empty operand,
    no character outside names and the operators ``/ ~ + | ^ ?``, and (``hla`` without ``?``)
    the GL grammar of :func:`everydonor.hla.glstring.parse_gl`.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidHlaName("empty GL String Code (expected namespace#version#glstring, for "
                             "example hla#3.58.0#HLA-A*01:01+HLA-A*02:01)", value=repr(text))
    raw = text.strip()
    parts = raw.split("#", 2)
    if len(parts) != 3:
        raise InvalidHlaName(
            f"GL String Code {raw!r} needs three parts namespace#version#glstring (for example "
            "hla#3.58.0#HLA-A*01:01+HLA-A*02:01)", value=raw)
    namespace, version, gl = parts
    if namespace not in NAMESPACES:
        hint = ""
        if namespace.lower() in NAMESPACES:
            hint = f"; write it in lower case ({namespace.lower()!r})"
        raise InvalidHlaName(
            f"GL String Code {raw!r}: namespace {namespace!r} is not 'hla' or 'kir'{hint}",
            value=raw, field="namespace")
    _check_version(version, raw)
    if not gl.strip():
        raise InvalidHlaName(f"GL String Code {raw!r} has an empty GL string after the version",
                             value=raw, field="glstring")
    if "#" in gl:
        raise InvalidHlaName(f"GL String Code {raw!r}: '#' inside the GL string (one code "
                             "holds one GL string)", value=raw, field="glstring")
    _check_shape(gl, raw)
    if namespace == "hla" and "?" not in gl:
        try:
            parse_gl(gl)
        except InvalidHlaName as exc:
            raise InvalidHlaName(f"GL String Code {raw!r}: {exc.message}", value=raw,
                                 field="glstring") from None
    return Glsc(namespace, version, gl)


def format_glsc(gl: str | GlString, version: str, namespace: str = "hla") -> str:
    """The GL String Code of a GL string under ``version`` (a release or a construction date).

    For ``hla``, every allele name gets the ``HLA-`` prefix glstring.org writes (names that
    have it keep it); the result reads back with :func:`parse_glsc`, which checks it.
    """
    body = gl.format() if isinstance(gl, GlString) else str(gl).strip()
    if namespace == "hla":
        body = _NAME_START.sub("HLA-", body)
    code = f"{namespace}#{version}#{body}"
    parse_glsc(code)
    return code


def system_of(uri: str) -> str:
    """The GLSC coding system as emitted, for an accepted FHIR ``system``; raises otherwise."""
    if uri.rstrip("/") in GLSC_SYSTEMS:
        return GLSC_SYSTEM
    raise InvalidHlaName(f"coding system {uri!r} is not the GL String Code system "
                         f"({GLSC_SYSTEM}, or {'http://www.glstring.org'} on input)",
                         value=uri, field="system")


def release_flag(code: Glsc, loaded: str, *, who: str | None = None,
                 locus: str | None = None) -> str | None:
    """A warning when ``code`` was not written under the ``loaded`` release; None when it was.

    ``who`` (the person) and ``locus`` are named in the message when given. The caller computes
    its answer under ``loaded``; the warning says so, and that the typing is kept verbatim.
    """
    if code.version == loaded:
        return None
    where = " ".join(x for x in (f"person {who!r}" if who else None,
                                 f"locus {locus}" if locus else None) if x)
    prefix = f"{where}: " if where else ""
    if code.is_release:
        why = (f"was reported under IPD-IMGT/HLA {code.version}, a release that is not "
               "installed")
        check = f"check it against {code.version}"
    else:
        why = (f"carries a construction date ({code.version}) instead of a nomenclature "
               "release, so the release it was written under is unknown")
        check = "check it against the laboratory's report"
    return (f"{prefix}{code.text} {why}: it was read under IPD-IMGT/HLA {loaded} (allele "
            f"names can change between releases; {check}). The typing is kept verbatim with "
            "its version.")


def _check_version(version: str, raw: str) -> None:
    if not version.strip():
        raise InvalidHlaName(
            f"GL String Code {raw!r} has an empty version (write the nomenclature release, "
            "such as 3.58.0, or the construction date YYYY-MM-DD when the release is unknown)",
            value=raw, field="version")
    if _RELEASE_RE.match(version):
        return
    if _DATE_RE.match(version):
        try:
            dt.date.fromisoformat(version)
        except ValueError:
            raise InvalidHlaName(
                f"GL String Code {raw!r}: version {version!r} is not a real date (YYYY-MM-DD)",
                value=raw, field="version") from None
        return
    hint = ""
    if re.match(r"^\d{3,4}$", version):
        hint = (f" ({version!r} looks like an IMGTHLA branch name: write "
                f"{'.'.join([version[0], version[1:-1], version[-1]])})")
    raise InvalidHlaName(
        f"GL String Code {raw!r}: version {version!r} is neither a release like 3.58.0 nor a "
        f"construction date YYYY-MM-DD{hint}", value=raw, field="version")


def _check_shape(gl: str, raw: str) -> None:
    pieces = _OPERATORS.split(gl)
    for i in range(0, len(pieces), 2):
        name = pieces[i].strip()  # spaces around operators are tolerated, as in parse_gl
        if not name:
            op = pieces[i - 1] if i else pieces[i + 1] if i + 1 < len(pieces) else "?"
            raise InvalidHlaName(
                f"GL String Code {raw!r} has an empty operand around {op!r}", value=raw,
                field="glstring")
        if not _TOKEN_RE.match(name):
            why = ("has whitespace inside" if any(c.isspace() for c in name)
                   else "is not an allele, code or antigen name")
            raise InvalidHlaName(f"GL String Code {raw!r}: {name!r} {why}", value=raw,
                                 field="glstring")
