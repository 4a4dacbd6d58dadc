"""Typings at any resolution, as a lab sends them, and their expansion to alleles.

``parse_typing`` recognises, in this order:

=================  ==========================  =====================================
kind               example                     expands to
=================  ==========================  =====================================
untyped            ``UUUU``, ``A*UUUU``, ``""``  nothing (the locus is untyped)
allele string      ``A*01:01/A*01:02``,          the union of its members
                   ``A*01:01/02``
XX code            ``A*01:XX``                   every allele of the first field
                                                 (and of the splits of a broad)
MAC                ``A*01:AB``                   the MAC list's alleles (needs a list)
G / P / lg group   ``A*01:01:01G``, ``A*01:01P``,  the group's members
                   ``A*01:01g``
allele             ``A*02:01``, ``A*02:01:01:01``  every allele with that name prefix
serology           ``A2``, ``B44``, ``Cw7``,      every allele whose WHO equivalent is the
                   ``DR15``                       antigen or one of its splits
=================  ==========================  =====================================

Parsing checks form only (:class:`InvalidHlaName`); :func:`expand` checks existence in the
release (:class:`UnknownAllele`, :class:`UnknownMacCode`). Ambiguity is a result.

Untyped is said only by ``UUUU``, ``NEW`` or ``NT`` (any case, optionally as ``LOCUS*UUUU``) or
by an empty value (a blank cell); whitespace around a whole value is dropped. Everything else
that is not a name is refused, naming the value and what is wrong — never read as untyped: a
truncated name (``A*``, ``HLA-``, ``A*01:``), an empty allele-string member (``A*01:01/``,
``A*01:01//A*01:02``), separators alone (``/``, ``+``), whitespace inside a name
(``A*01:01 N``), a GL operator in a single typing (``A*01:01+``) and lower-case loci or
antigens (``a*01:01``, ``dr15``: names are case-sensitive, ``G`` and ``g`` groups differ).
``tests/hla/test_edge_spellings.py`` pins each spelling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from everydonor.errors import InvalidHlaName, UnknownAllele, UnknownMacCode
from everydonor.hla.allele import Allele, allele_sort_key, parse_allele, require_locus, split_locus
from everydonor.hla.locus import Locus
from everydonor.hla.reference import HlaReference, sort_names
from everydonor.hla.serology import Antigen, looks_like_serology, parse_antigen

_CODE_RE = re.compile(r"^(?P<first>\d{2,4}):(?P<code>[A-Z]{2,5})$")
_GROUP_RE = re.compile(r"^(?P<fields>\d{2,4}(?::\d{2,4}){1,2})(?P<kind>[GPg])$")
_BARE_FIELDS_RE = re.compile(r"^\d{2,4}(?::\d{2,4}){0,3}[NLSCAQ]?$")
UNTYPED_TOKENS = frozenset({"", "UUUU", "NEW", "NT"})


class TypingKind(StrEnum):
    UNTYPED = "untyped"
    ALLELE = "allele"
    ALLELE_STRING = "allele_string"
    XX = "xx_code"
    MAC = "mac"
    G_GROUP = "g_group"
    P_GROUP = "p_group"
    LG_GROUP = "lg_group"
    SEROLOGY = "serology"


@dataclass(frozen=True, slots=True)
class Typing:
    """One typing of one locus, as received, parsed but not yet checked against a release.

    ``members`` holds the parsed alleles of an allele string (or the single allele);
    ``code`` the MAC letters; ``group`` a G/P/lg group name; ``antigen`` a serological antigen.
    """

    text: str
    kind: TypingKind
    locus: Locus | None
    members: tuple[Allele, ...] = ()
    first_field: str | None = None
    code: str | None = None
    group: str | None = None
    antigen: Antigen | None = None

    @property
    def is_untyped(self) -> bool:
        return self.kind is TypingKind.UNTYPED


def parse_typing(text: str) -> Typing:
    """Parse one typing of one locus (see the module table).

    >>> parse_typing("A*01:AB").kind, parse_typing("DR15").antigen.locus
    (<TypingKind.MAC: 'mac'>, <Locus.DRB1: 'DRB1'>)
    """
    if not isinstance(text, str):
        raise InvalidHlaName(f"{text!r} is not text", value=repr(text))
    raw = text.strip()
    body = raw.removeprefix("HLA-")
    if raw and not body:
        raise InvalidHlaName(f"{raw!r} is a truncated name: nothing after 'HLA-'", value=raw)
    if body.upper() in UNTYPED_TOKENS:
        return Typing(raw, TypingKind.UNTYPED, None)
    if looks_like_serology(body):
        antigen = parse_antigen(body)
        return Typing(raw, TypingKind.SEROLOGY, antigen.locus, antigen=antigen)
    if not any(ch.isalnum() for ch in body):
        raise InvalidHlaName(
            f"{raw!r} is not a typing: it holds no locus, allele or antigen name", value=raw)
    ops = [op for op in "+^|~" if op in body]
    if ops:
        raise InvalidHlaName(
            f"{raw!r} contains the GL string operator {ops[0]!r}, so it is not a single typing; "
            "give one typing (or use a GL string field)",
            value=raw,
        )
    _refuse_inner_whitespace(raw)
    if "*" not in body:
        _refuse_lower_case_antigen(raw, body)
    locus_name, rest = split_locus(body)
    locus = require_locus(locus_name, raw)
    if not rest:
        raise InvalidHlaName(
            f"{raw!r} is a truncated name: nothing after '*' (an untyped locus is left out, "
            f"or written {locus.value + '*UUUU'!r})",
            value=raw, locus=locus.value)
    if rest.upper() in UNTYPED_TOKENS:
        return Typing(raw, TypingKind.UNTYPED, locus)
    try:
        return _parse_with_locus(raw, locus, rest)
    except InvalidHlaName as exc:
        if exc.locus is None:
            exc.locus = locus.value
        raise


def _refuse_inner_whitespace(raw: str) -> None:
    """Whitespace around a whole value (and around ``/``) is dropped; inside a name it is an
    error: ``A*01:01 N`` is not silently ``A*01:01N``, nor ``A*01: 01`` ``A*01:01``."""
    for member in raw.split("/"):
        name = member.strip()
        if any(ch.isspace() for ch in name):
            which = "" if name == raw else f" {name!r}"
            raise InvalidHlaName(
                f"{raw!r} has whitespace inside the name{which}; write names without spaces",
                value=raw,
            )


def _refuse_lower_case_antigen(raw: str, body: str) -> None:
    """``a2``, ``dr15``, ``cw7``: serology in the wrong case is named, never corrected."""
    m = re.match(r"^(?P<prefix>[A-Za-z]+)(?P<number>\d{1,4})$", body)
    if m is None:
        return
    prefix = m.group("prefix")
    fixed = prefix.capitalize() if prefix.lower() in ("cw", "bw") else prefix.upper()
    if fixed != prefix and looks_like_serology(fixed + m.group("number")):
        raise InvalidHlaName(
            f"{raw!r}: serological antigen names are case-sensitive; write "
            f"{fixed + m.group('number')!r}",
            value=raw,
        )


def _parse_with_locus(raw: str, locus: Locus, rest: str) -> Typing:
    if "/" in rest:
        return _parse_allele_string(raw, locus, rest)
    m = _CODE_RE.match(rest)
    if m:
        first, code = m.group("first"), m.group("code")
        if code == "XX":
            return Typing(raw, TypingKind.XX, locus, first_field=first)
        return Typing(raw, TypingKind.MAC, locus, first_field=first, code=code)
    g = _GROUP_RE.match(rest)
    if g:
        kind = {"G": TypingKind.G_GROUP, "P": TypingKind.P_GROUP, "g": TypingKind.LG_GROUP}[
            g.group("kind")
        ]
        return Typing(raw, kind, locus, group=f"{locus.value}*{rest}")
    allele = parse_allele(f"{locus.value}*{rest}")
    if allele.resolution_fields == 1:
        # A first field alone ("A*01") is the allele family: the same as its XX code.
        return Typing(raw, TypingKind.XX, locus, first_field=allele.fields[0])
    return Typing(raw, TypingKind.ALLELE, locus, members=(allele,))


def _parse_allele_string(raw: str, locus: Locus, rest: str) -> Typing:
    try:
        return _allele_string_members(raw, locus, rest)
    except InvalidHlaName as exc:
        if repr(raw) not in exc.message:  # a member's own error: say which value it is in
            exc.message = f"{raw!r}: member {exc.message}"
            exc.args = (exc.message,)
            exc.value = raw
        raise


def _allele_string_members(raw: str, locus: Locus, rest: str) -> Typing:
    members: list[Allele] = []
    first: Allele | None = None
    for index, token in enumerate(rest.split("/")):
        token = token.strip()
        if index == 0:
            token = f"{locus.value}*{token}"
        if not token:
            where = "ends with '/'" if index == rest.count("/") else "has '//'"
            raise InvalidHlaName(
                f"{raw!r} {where}: an empty member in its allele string (a truncated or "
                "mistyped list)", value=raw)
        if "*" in token:
            loc_name, fields = split_locus(token)
            if require_locus(loc_name, raw) is not locus:
                raise InvalidHlaName(
                    f"{raw!r} mixes loci in one allele string ({locus.value} and {loc_name})",
                    value=raw,
                )
            allele = parse_allele(f"{locus.value}*{fields}")
        elif _BARE_FIELDS_RE.match(token) and first is not None:
            # Lab shorthand "A*01:01/02": the omitted leading fields come from the first member.
            n_given = len(token.rstrip("NLSCAQ").split(":"))
            lead = first.fields[: max(first.resolution_fields - n_given, 0)]
            allele = parse_allele(f"{locus.value}*{':'.join((*lead, token))}")
        else:
            raise InvalidHlaName(
                f"{raw!r}: member {token!r} is not an allele name (expected e.g. 'A*01:01/A*01:02')",
                value=raw,
            )
        if first is None:
            first = allele
        members.append(allele)
    return Typing(raw, TypingKind.ALLELE_STRING, locus, members=tuple(members))


# -- expansion against a release ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MacGap:
    """A MAC whose expansion names alleles absent from the release it was expanded under.

    The code is expanded to the alleles that are there (``kept``); ``missing`` are reported, never
    dropped silently: the MAC list is newer (or older) than the release, or an allele was renamed.
    """

    typing: str
    code: str
    missing: tuple[str, ...]
    kept: tuple[str, ...]
    release: str
    hints: tuple[str, ...] = ()

    def message(self) -> str:
        hint = f" ({'; '.join(self.hints)})" if self.hints else ""
        return (f"{self.typing!r}: MAC {self.code} lists {', '.join(self.missing)}, not an "
                f"allele of IPD-IMGT/HLA {self.release}{hint}; expanded to the rest: "
                f"{'/'.join(self.kept)}")

    def to_dict(self) -> dict[str, object]:
        return {"typing": self.typing, "code": self.code, "missing": list(self.missing),
                "kept": list(self.kept), "release": self.release, "message": self.message()}


@dataclass(frozen=True, slots=True)
class MacDictionary:
    """NMDP multiple allele codes: ``code → '/'-separated subtypes``.

    Generic codes list second fields only (``AB = 01/02``: ``A*01:AB`` → ``A*01:01/A*01:02``);
    allele-specific codes list whole 2-field names (``02:01/03:01``).

    ``file``, ``format``, ``date`` (ISO), ``date_from`` (where the date was read) and ``sha256``
    (of the file as given) say which list it is; :meth:`describe` is what answers record.
    Expanding a code under a release notes its :class:`MacGap` (if any) in :meth:`gaps`.
    """

    codes: Mapping[str, str]
    source: str = "user-supplied"
    digest: str = "unknown"
    file: str | None = None
    format: str | None = None
    date: str | None = None
    date_from: str | None = None
    sha256: str | None = None
    _gaps: dict[tuple[str, str], MacGap] = field(default_factory=dict, compare=False,
                                                 repr=False)

    def subtypes(self, typing: Typing) -> list[str]:
        assert typing.code is not None and typing.locus is not None
        listed = self.codes.get(typing.code)
        if listed is None:
            raise UnknownMacCode(
                f"{typing.text!r}: MAC code {typing.code!r} is not in the MAC list in use "
                f"({self.source}); supply a current NMDP list with --mac FILE",
                value=typing.text, locus=typing.locus.value,
            )
        names = []
        for part in listed.split("/"):
            name = part if ":" in part else f"{typing.first_field}:{part}"
            names.append(f"{typing.locus.value}*{name}")
        return names

    def note_gap(self, gap: MacGap) -> None:
        """Remember a code expanded with alleles missing from the release (see :meth:`gaps`)."""
        self._gaps.setdefault((gap.release, gap.typing), gap)

    def gaps(self) -> list[MacGap]:
        """Every :class:`MacGap` met so far, in the order met."""
        return list(self._gaps.values())

    def describe(self) -> dict[str, object]:
        """Which list this is, as every answer that used it records it."""
        return {"file": self.file, "format": self.format, "date": self.date,
                "date_from": self.date_from, "sha256": self.sha256, "codes": len(self.codes)}


def mac_names(typing: Typing, ref: HlaReference, macs: MacDictionary) -> list[str]:
    """The names a MAC lists that the release knows; a :class:`MacGap` is noted on ``macs`` for
    the others (raises :class:`UnknownMacCode` for a code the list lacks)."""
    names = macs.subtypes(typing)
    kept = [n for n in names if ref.expand_prefix(n)]
    if len(kept) < len(names) and kept:
        missing = tuple(n for n in names if n not in kept)
        hints = tuple(f"{n}: IPD-IMGT/HLA says: {ref.deleted[n]}" for n in missing
                      if n in ref.deleted)
        assert typing.code is not None
        macs.note_gap(MacGap(typing.text, typing.code, missing, tuple(kept), ref.release,
                             hints))
    return kept


def expand(typing: Typing, ref: HlaReference, macs: MacDictionary | None = None) -> tuple[str, ...]:
    """The full allele names of ``ref`` a typing covers, in natural order.

    Raises :class:`UnknownAllele` when nothing of the release matches, and
    :class:`UnknownMacCode` for a MAC absent from ``macs``.
    """
    kind = typing.kind
    if kind is TypingKind.UNTYPED:
        return ()
    if kind in (TypingKind.ALLELE, TypingKind.ALLELE_STRING):
        out: list[str] = []
        for allele in typing.members:
            out.extend(_expand_name(allele.name, typing, ref))
        return tuple(sort_names(out))
    if kind is TypingKind.XX:
        return _expand_xx(typing, ref)
    if kind is TypingKind.MAC:
        if macs is None:
            raise UnknownMacCode(
                f"{typing.text!r} is an NMDP multiple allele code, but no MAC list is loaded; "
                "supply one with --mac FILE (or EVERYDONOR_MAC_FILE)",
                value=typing.text, locus=typing.locus.value if typing.locus else None,
                release=ref.release,
            )
        names = macs.subtypes(typing)
        out = []
        for name in mac_names(typing, ref, macs):
            out.extend(ref.expand_prefix(name))
        if not out:
            raise UnknownAllele(
                f"{typing.text!r}: MAC {typing.code} expands to {'/'.join(names)}, none of which "
                "is an allele of this release",
                value=typing.text, release=ref.release,
            )
        return tuple(sort_names(out))
    if kind in (TypingKind.G_GROUP, TypingKind.P_GROUP):
        assert typing.group is not None
        members = ref.group_members.get(typing.group)
        if members is None:
            raise UnknownAllele(
                f"{typing.text!r} is not a {kind.value.replace('_', ' ')} of this release",
                value=typing.text, release=ref.release,
            )
        return members
    if kind is TypingKind.LG_GROUP:
        assert typing.group is not None
        base = typing.group[:-1]
        family = base.split(":")[0]
        members = tuple(
            a for a in ref.expand_prefix(family) if ref.lgx_of(a) == base
        )
        if not members:
            raise UnknownAllele(
                f"{typing.text!r}: no allele of this release reduces to {base} (lg group)",
                value=typing.text, release=ref.release,
            )
        return members
    assert typing.antigen is not None
    members = ref.antigen_alleles.get(typing.antigen, ())
    if not members:
        raise UnknownAllele(
            f"{typing.text!r}: no allele of this release has the serological equivalent "
            f"{typing.antigen.name}",
            value=typing.text, release=ref.release,
        )
    return members


def _expand_name(name: str, typing: Typing, ref: HlaReference) -> tuple[str, ...]:
    found = ref.expand_prefix(name)
    if found:
        return found
    hint = ""
    if name in ref.deleted:
        hint = f"; IPD-IMGT/HLA says: {ref.deleted[name]}"
    elif name + "N" in ref.by_prefix or name + "N" in ref.alleles:
        hint = f"; did you mean the null allele {name}N?"
    raise UnknownAllele(
        f"{name!r} is not an allele of this release{hint}" + (
            f" (in {typing.text!r})" if typing.text != name else ""),
        value=typing.text, locus=typing.locus.value if typing.locus else None, release=ref.release,
    )


def _expand_xx(typing: Typing, ref: HlaReference) -> tuple[str, ...]:
    assert typing.locus is not None and typing.first_field is not None
    prefix = f"{typing.locus.value}*{typing.first_field}"
    out = list(ref.by_prefix.get(prefix, ()))
    # A broad antigen's family ("A*09") covers its splits' families (A*23, A*24).
    prefix_sero = typing.locus.serology_prefix
    if prefix_sero is not None:
        try:
            antigen = parse_antigen(f"{prefix_sero}{typing.first_field}")
        except InvalidHlaName:
            antigen = None
        if antigen is not None and antigen.locus is typing.locus:
            for split in ref.relations.splits_of(antigen):
                out.extend(ref.by_prefix.get(f"{typing.locus.value}*{int(split.number):02d}", ()))
    if not out:
        raise UnknownAllele(
            f"{typing.text!r}: no allele of this release has first field {typing.first_field}",
            value=typing.text, locus=typing.locus.value, release=ref.release,
        )
    return tuple(sorted(set(out), key=allele_sort_key))
