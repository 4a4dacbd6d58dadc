"""Read an HML 1.0.x message safely and in constant memory: one ``sample`` at a time.

Safety (spec SR-17; OWASP XXE prevention): the file is parsed by ``lxml.etree.iterparse`` with
``resolve_entities=False``, ``no_network=True``, ``load_dtd=False`` and ``huge_tree=False``, and
any document type declaration is refused as soon as the parser has read it, before the root
element's content: HML has no DTD (it is defined by an XML Schema), so a ``<!DOCTYPE`` can only
carry entities - an external entity (XXE), an entity bomb ("billion laughs") - and is refused
whatever it holds. A file larger than ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`, 1 GiB)
is refused up front by its size, and again while it is read (a pipe or a file that grows).
Every refusal names the file and the reason and happens before anything is written: the
caller collects the whole message first.

Memory: each ``sample`` element is turned into a :class:`HmlSample` and then cleared, with the
siblings before it, so the tree never holds more than one sample (:func:`iter_samples`).

What is read, per sample (``@id``, ``@center-code``), per ``typing`` (``@gene-family``,
``@date``), per ``allele-assignment`` (``@allele-db``, ``@allele-version``, ``@date``): each
``glstring`` (text, whitespace removed; ``@uri`` kept and never fetched), or else the legacy
forms: ``genotype-list`` is converted to a GL string (:func:`genotype_list_gl`), and
``haploid`` pairs of one locus too (:func:`haploid_gl`); what cannot be converted is flagged,
never dropped silently. The typing methods (``sso``, ``ssp``, ``sbt-sanger``, ``sbt-ngs`` with
their test ids and ``raw-reads``) and consensus sequences (block count, variant count) are
summarised, and checked against MIRING (:mod:`.miring`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lxml import etree

from everydonor.adapters.hml.miring import MiringReport, check_header, check_typing, children, local
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.glstring import parse_gl

#: The largest file read, in bytes (1 GiB): larger is refused before parsing. A parameter of
#: :func:`read_hml` and ``everydonor hml import --max-bytes``.
DEFAULT_MAX_BYTES = 1 << 30
#: HML versions read (the 1.0.x schemas: hml-1.0.1.xsd, hml-1.0.2.xsd, hml-1.0.3.xsd).
SUPPORTED_VERSIONS = ("1.0", "1.0.1", "1.0.2", "1.0.3")
_CHUNK = 1 << 16
#: The start of the first element (after the XML declaration, comments and a DOCTYPE).
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_DTD_REASON = ("it has a document type declaration (<!DOCTYPE): HML has none, and a DTD can "
               "declare external entities (XXE) or entity expansion bombs, so none is read")


class HmlRefused(InputError):
    """The file is not read at all (unsafe, too large, not well-formed, not HML 1.0.x)."""


@dataclass(frozen=True, slots=True)
class HmlTyping:
    """One interpretation (``allele-assignment``) of one ``typing`` of a sample, as reported."""

    index: int
    assignment: int
    gene_family: str
    date: str | None
    assignment_date: str | None
    allele_db: str | None
    allele_version: str | None
    #: ``glstring``, ``genotype-list``, ``haploid`` or None (nothing readable).
    source: str | None
    #: The GL string as reported (whitespace removed), or converted from a legacy form.
    gl: str | None
    uris: tuple[str, ...]
    methods: tuple[dict[str, Any], ...]
    consensus_blocks: int
    variants: int
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HmlSample:
    id: str
    center_code: str | None
    typings: tuple[HmlTyping, ...]


@dataclass
class HmlHeader:
    version: str | None = None
    project_name: str | None = None
    hmlids: list[dict[str, str]] = field(default_factory=list)
    reporting_centers: list[dict[str, str]] = field(default_factory=list)


@dataclass
class HmlReading:
    """What :func:`iter_samples` learned besides the samples (filled in as it reads)."""

    path: str
    max_bytes: int
    header: HmlHeader = field(default_factory=HmlHeader)
    miring: MiringReport = field(default_factory=MiringReport)
    sha256: str | None = None
    size: int = 0
    samples: int = 0


class _Guarded:
    """A binary file read in chunks: counts bytes (refusing past the limit) and hashes them."""

    def __init__(self, raw: IO[bytes], name: str, limit: int) -> None:
        self.raw, self.name, self.limit = raw, name, limit
        self.count = 0
        self.digest = hashlib.sha256()
        self.head = b""
        self.prolog_done = False

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(_CHUNK if size is None or size < 0 else min(size, _CHUNK))
        self.count += len(data)
        if self.count > self.limit:
            raise HmlRefused(
                f"HML file {self.name!r} is larger than the limit of {self.limit:,} bytes "
                "(refused while reading; nothing imported)", field="FILE", value=self.name)
        self.digest.update(data)
        if not self.prolog_done:
            self._prolog(data)
        return data

    def _prolog(self, data: bytes) -> None:
        """Refuse a ``<!DOCTYPE`` before the root element, before the parser sees it."""
        self.head += data
        root = _ROOT_START.search(self.head)
        upto = root.start() if root else len(self.head)
        if b"<!DOCTYPE" in self.head[:upto].upper():
            raise _refuse(self.name, _DTD_REASON)
        if root or len(self.head) > _CHUNK or not data:
            self.prolog_done = True
            self.head = b""


def _refuse(path: str, reason: str) -> HmlRefused:
    return HmlRefused(f"HML file {path!r} refused: {reason}; nothing imported", field="FILE",
                      value=path)


def iter_samples(path: str | Path, reading: HmlReading | None = None, *,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[HmlSample]:
    """Each sample of the message in file order, in constant memory.

    ``reading`` (optional) is filled with the header, the MIRING findings, the file's SHA-256
    and size once the iterator is exhausted. Raises :class:`HmlRefused` (an ``InputError``)
    for an unsafe, oversize, malformed or non-HML file and :class:`InputError` for a sample
    that cannot be read; the caller must not have written anything yet.
    """
    name = str(path)
    state = reading or HmlReading(name, max_bytes)
    try:
        size = os.stat(name).st_size
    except OSError as exc:
        raise InputError(f"cannot read HML file {name!r}: {exc.strerror}", field="FILE",
                         value=name) from None
    if size > max_bytes:
        raise _refuse(name, f"its size, {size:,} bytes, is over the limit of {max_bytes:,} "
                      "bytes (--max-bytes)")
    with open(name, "rb") as raw:
        guarded = _Guarded(raw, name, max_bytes)
        parser = etree.iterparse(
            guarded, events=("start", "end"), resolve_entities=False, no_network=True,
            load_dtd=False, dtd_validation=False, huge_tree=False, remove_comments=True,
            remove_pis=True)
        yield from _walk(parser, name, state)
        # Read to the end (trailing bytes after the root are a well-formedness error too).
        while guarded.read(_CHUNK):
            pass
        state.sha256 = guarded.digest.hexdigest()
        state.size = guarded.count


def _walk(parser: Any, name: str, state: HmlReading) -> Iterator[HmlSample]:
    depth = 0
    root: Any = None
    seen: set[str] = set()
    header_checked = False
    try:
        for event, el in parser:
            if event == "start":
                depth += 1
                if root is None:
                    root = el
                    _check_prolog(el, name)
                    if local(el) != "hml":
                        raise _refuse(name, f"the root element is <{local(el)}>, not <hml> "
                                      "(not an HML message)")
                    version = el.get("version")
                    state.header.version = version
                    state.header.project_name = el.get("project-name")
                    if version not in SUPPORTED_VERSIONS:
                        raise _refuse(name, f"HML version {version!r} is not read (HML "
                                      f"{', '.join(SUPPORTED_VERSIONS)} are)")
                continue
            depth -= 1
            if depth != 1:
                continue
            kind = local(el)
            if kind == "hmlid":
                state.header.hmlids.append(dict(el.attrib))
            elif kind == "reporting-center":
                state.header.reporting_centers.append(dict(el.attrib))
            elif kind == "sample":
                if not header_checked:
                    check_header(state.miring, state.header.hmlids,
                                 state.header.reporting_centers)
                    header_checked = True
                sample = _sample(el, name, state, seen)
                state.samples += 1
                # Constant memory: drop this sample and everything before it.
                el.clear(keep_tail=False)
                while el.getprevious() is not None:
                    del root[0]
                yield sample
                continue
            else:
                continue
            el.clear(keep_tail=False)
    except etree.XMLSyntaxError as exc:
        raise _refuse(name, f"not well-formed XML ({_syntax(exc)})") from None
    if root is None:
        raise _refuse(name, "no XML element in the file")
    if not header_checked:
        check_header(state.miring, state.header.hmlids, state.header.reporting_centers)
    if state.samples == 0:
        raise _refuse(name, "the message has no <sample> (HML requires at least one)")


def _syntax(exc: etree.XMLSyntaxError) -> str:
    line = getattr(exc, "lineno", None)
    msg = str(exc.msg if hasattr(exc, "msg") and exc.msg else exc)
    return f"line {line}: {msg}" if line else msg


def _check_prolog(root: Any, name: str) -> None:
    """Refuse any document type declaration (it can only carry entities: XXE, bombs)."""
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise _refuse(name, _DTD_REASON)


def _sample(el: Any, name: str, state: HmlReading, seen: set[str]) -> HmlSample:
    sid = (el.get("id") or "").strip()
    line = el.sourceline
    if not sid:
        raise InputError(f"HML file {name!r}, line {line}: a <sample> without an id (HML "
                         "requires sample/@id); nothing imported", field="sample/@id",
                         value="")
    if sid in seen:
        raise InputError(f"HML file {name!r}, line {line}: sample id {sid!r} appears twice; "
                         "nothing imported", field="sample/@id", value=sid)
    seen.add(sid)
    typings: list[HmlTyping] = []
    for t_index, typing in enumerate(children(el, "typing"), 1):
        where = f"sample {sid} typing {t_index}"
        check_typing(state.miring, typing, where)
        typings.extend(_typing(typing, t_index, sid, name))
    if not typings:
        raise InputError(f"HML file {name!r}, line {line}: sample {sid!r} has no <typing> "
                         "(HML requires one); nothing imported", field="sample/typing",
                         value=sid, person=sid)
    return HmlSample(sid, el.get("center-code"), tuple(typings))


def _methods(typing: Any) -> tuple[dict[str, Any], ...]:
    out = []
    for tm in children(typing, "typing-method"):
        for m in tm:
            kind = local(m)
            if kind not in ("sso", "ssp", "sbt-sanger", "sbt-ngs"):
                continue
            entry: dict[str, Any] = {"method": kind, "locus": m.get("locus"),
                                     "test_id": m.get("test-id"),
                                     "test_id_source": m.get("test-id-source")}
            if kind == "sbt-ngs":
                entry["raw_reads"] = [{"uri": r.get("uri"), "availability": r.get("availability"),
                                       "format": r.get("format")}
                                      for r in children(m, "raw-reads")]
            out.append(entry)
    return tuple(out)


def _typing(typing: Any, t_index: int, sid: str, name: str) -> list[HmlTyping]:
    family = (typing.get("gene-family") or "").strip()
    where = f"HML file {name!r}, sample {sid!r}, typing {t_index} (line {typing.sourceline})"
    if not family:
        raise InputError(f"{where}: no gene-family (HML requires typing/@gene-family); "
                         "nothing imported", field="typing/@gene-family", value="", person=sid)
    methods = _methods(typing)
    blocks = variants = 0
    for cs in children(typing, "consensus-sequence"):
        for b in children(cs, "consensus-sequence-block"):
            blocks += 1
            variants += sum(1 for _ in b.iter("{*}variant"))
    out = []
    assignments = list(children(typing, "allele-assignment"))
    for a_index, aa in enumerate(assignments, 1):
        gl, source, uris, notes = _assignment_gl(aa, f"{where}, allele-assignment {a_index}",
                                                 sid)
        out.append(HmlTyping(
            index=t_index, assignment=a_index, gene_family=family.upper(),
            date=typing.get("date"), assignment_date=aa.get("date"),
            allele_db=aa.get("allele-db"), allele_version=aa.get("allele-version"),
            source=source, gl=gl, uris=uris, methods=methods, consensus_blocks=blocks,
            variants=variants, notes=tuple(notes)))
    if not assignments:
        out.append(HmlTyping(
            index=t_index, assignment=0, gene_family=family.upper(), date=typing.get("date"),
            assignment_date=None, allele_db=None, allele_version=None, source=None, gl=None,
            uris=(), methods=methods, consensus_blocks=blocks, variants=variants,
            notes=("no <allele-assignment>: the typing carries no genotype (MIRING 2.1.a); "
                   "its methods and sequences are listed only",)))
    return out


def _assignment_gl(aa: Any, where: str, sid: str
                   ) -> tuple[str | None, str | None, tuple[str, ...], list[str]]:
    """The assignment's GL string, where it came from, its URIs and notes."""
    notes: list[str] = []
    texts, uris = [], []
    for g in children(aa, "glstring"):
        text = "".join((g.text or "").split())
        if g.get("uri"):
            uris.append(g.get("uri"))
        if text:
            texts.append(text)
        elif g.get("uri"):
            notes.append(f"a <glstring> is given only by its URI {g.get('uri')!r}: kept, not "
                         "fetched (nothing is downloaded while importing)")
    glists = list(children(aa, "genotype-list"))
    haploids = list(children(aa, "haploid"))
    if texts:
        gl = "^".join(texts)
        if glists or haploids:
            legacy = ", ".join(x for x in ("genotype-list" if glists else "",
                                           "haploid" if haploids else "") if x)
            notes.append(f"legacy {legacy} elements alongside the GL string: the GL string is "
                         "used (HML 1.0 deprecated them); they were not compared with it")
        _parse(gl, where, sid)
        return gl, "glstring", tuple(uris), notes
    if glists:
        parts = [genotype_list_gl(g, notes) for g in glists]
        gl = "^".join(p for p in parts if p)
        if not gl:
            notes.append("the genotype-list names no allele present (all present='N' or 'U'): "
                         "no genotype")
            return None, "genotype-list", tuple(uris), notes
        notes.append("converted from the legacy genotype-list: diploid-combination -> '|', "
                     "locus-block -> '+', allele-list -> '~', allele -> '/'")
        _parse(gl, where, sid)
        return gl, "genotype-list", tuple(uris), notes
    if haploids:
        from_haploids = haploid_gl(haploids, notes)
        if from_haploids:
            notes.append("converted from legacy haploid elements: two per locus -> '+', loci "
                         "-> '^'")
            _parse(from_haploids, where, sid)
        return from_haploids, "haploid", tuple(uris), notes
    return None, None, tuple(uris), notes


def _parse(gl: str, where: str, sid: str) -> None:
    """Refuse a GL string that cannot be read (the typing would be unreadable)."""
    if "?" in gl:  # GL String 1.1 paralog ambiguity: kept verbatim, not split
        return
    try:
        parse_gl(gl)
    except EverydonorError as exc:
        raise InputError(f"{where}: the GL string cannot be read: {exc.message}; nothing "
                         "imported", field="glstring", value=gl, person=sid) from None


def genotype_list_gl(glist: Any, notes: list[str]) -> str:
    """A legacy ``genotype-list`` as a GL string.

    HML 1.0.1 (deprecated elements): a genotype-list holds alternative ``diploid-combination``
    elements (GL ``|``); a diploid combination holds one or two ``locus-block`` elements, one
    per chromosome (``+``); a locus block holds ``allele-list`` elements in phase, one per locus
    ("one allele-list is a possibility if and only if all others are": ``~``); an allele list
    holds alternative ``allele`` names (``/``). Alleles with ``present="N"`` (tested, excluded)
    are left out; ``present="U"`` (not tested) are left out and named in ``notes``.
    """
    combos = []
    for dc in children(glist, "diploid-combination"):
        blocks = []
        for lb in children(dc, "locus-block"):
            lists = []
            for al in children(lb, "allele-list"):
                names = []
                for allele in children(al, "allele"):
                    text = "".join((allele.text or "").split())
                    present = (allele.get("present") or "Y").upper()
                    if not text:
                        continue
                    if present == "U":
                        notes.append(f"allele {text} marked present='U' (not tested) was left "
                                     "out of the GL string")
                        continue
                    if present == "N":
                        continue
                    if text not in names:
                        names.append(text)
                if names:
                    lists.append("/".join(names))
            if lists:
                blocks.append("~".join(lists))
        if len(blocks) == 1:
            notes.append(f"a diploid-combination covers one chromosome only ({blocks[0]}): "
                         "written as one copy; the second is not reported")
        if blocks:
            combos.append("+".join(blocks))
    return "|".join(combos)


def haploid_gl(haploids: list[Any], notes: list[str]) -> str | None:
    """Legacy ``haploid`` elements (``@locus``, ``@method``, ``@type``) as a GL string.

    Two DNA haploids of a locus make its genotype (``HLA-A*02:01+HLA-A*11:01``); loci are joined
    by ``^``. A locus with one haploid is not converted (homozygous and "second copy not
    reported" cannot be told apart) and neither are serological (``SER``) haploids: both are
    flagged in ``notes``."""
    by_locus: dict[str, list[str]] = {}
    for h in haploids:
        locus = (h.get("locus") or "").strip()
        kind = (h.get("type") or "").strip()
        method = (h.get("method") or "").strip().upper()
        if method != "DNA":
            notes.append(f"haploid {locus} {kind} (method {method or '?'}) not converted: only "
                         "DNA haploids are")
            continue
        if not locus or not kind:
            notes.append(f"haploid with locus {locus!r} and type {kind!r} not converted")
            continue
        name = kind if "*" in kind else f"{locus}*{kind}"
        by_locus.setdefault(locus, []).append(name)
    parts = []
    for locus, names in by_locus.items():
        if len(names) == 2:
            parts.append("+".join(names))
        else:
            notes.append(f"{len(names)} haploid(s) at {locus} ({', '.join(names)}): not "
                         "converted (a genotype needs exactly two; homozygosity is never "
                         "assumed)")
    return "^".join(parts) or None
