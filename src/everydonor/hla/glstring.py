"""GL String 1.1 (Milius et al., Tissue Antigens 2013; GL String Code, HLA 2015): parse and format.

Operators, from the loosest to the tightest binding::

    ^  locus separator          A*01:01+A*02:01^B*07:02+B*08:01
    |  genotype list            A*01:01+A*02:01|A*01:02+A*02:01
    +  genotype (two copies)    A*01:01+A*02:01
    ~  haplotype (in phase)     A*01:01~B*08:01
    /  allele list (ambiguity)  A*01:01/A*01:02

The code form ``hla#3.58.0#HLA-A*01:01+HLA-A*02:01`` (namespace ``hla``, the release or a
construction date, the GL string) is accepted (read by :mod:`everydonor.hla.glsc`) and
produced. Tokens are kept as text (a token may be a MAC, an XX code or ``UUUU``);
:func:`map_tokens` applies a function to every token, which is how GL strings are reduced.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from everydonor.errors import InvalidHlaName

#: A token's shape: a locus or antigen, optionally ``*`` and non-empty ``:``-separated fields.
#: Case and fields are judged when a token is read as a typing (``parse_typing``).
_TOKEN_RE = re.compile(r"^(?:HLA-)?[A-Za-z][A-Za-z0-9]*(?:\*[A-Za-z0-9]+(?::[A-Za-z0-9]+)*)?$")
#: What an empty operand of each operator is, for the message.
_EMPTY = {"^": "an empty locus block", "|": "an empty genotype in a genotype list",
          "+": "an empty copy in a genotype", "~": "an empty member of a haplotype",
          "/": "an empty member in an allele list"}


@dataclass(frozen=True, slots=True)
class AlleleList:
    """Ambiguity: one of these (``/``)."""

    tokens: tuple[str, ...]

    def format(self) -> str:
        return "/".join(self.tokens)


@dataclass(frozen=True, slots=True)
class Haplotype:
    """Alleles in phase on one chromosome (``~``)."""

    alleles: tuple[AlleleList, ...]

    def format(self) -> str:
        return "~".join(a.format() for a in self.alleles)


@dataclass(frozen=True, slots=True)
class Genotype:
    """Two copies (``+``); a copy may be a haplotype."""

    copies: tuple[Haplotype, ...]

    def format(self) -> str:
        return "+".join(c.format() for c in self.copies)


@dataclass(frozen=True, slots=True)
class GenotypeList:
    """Genotype ambiguity (``|``) for one locus (or one group of linked loci)."""

    genotypes: tuple[Genotype, ...]

    def format(self) -> str:
        return "|".join(g.format() for g in self.genotypes)


@dataclass(frozen=True, slots=True)
class GlString:
    """A whole GL string: genotype lists of separate loci (``^``), optionally release-stamped.

    >>> gl = parse_gl("A*01:01+A*02:01^B*08:01~C*07:01+B*07:02~C*07:02")
    >>> gl.format()
    'A*01:01+A*02:01^B*08:01~C*07:01+B*07:02~C*07:02'
    """

    loci: tuple[GenotypeList, ...]
    version: str | None = None

    def format(self, *, code: bool = False, version: str | None = None) -> str:
        body = "^".join(g.format() for g in self.loci)
        if not code:
            return body
        stamp = version or self.version
        if stamp is None:
            raise InvalidHlaName("a GL String Code needs the release version", value=body)
        prefixed = re.sub(r"(?<![A-Za-z0-9*:-])(?=[A-Z][A-Z0-9]*\*)", "HLA-", body)
        return f"hla#{stamp}#{prefixed}"

    def tokens(self) -> list[str]:
        return [
            t
            for gl in self.loci
            for g in gl.genotypes
            for h in g.copies
            for a in h.alleles
            for t in a.tokens
        ]


def parse_gl(text: str) -> GlString:
    """Parse a GL string (plain or ``hla#VERSION#`` code form). Raises :class:`InvalidHlaName`."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidHlaName("empty GL string", value=str(text))
    raw = text.strip()
    if "#" in raw:  # a GL String Code: namespace, version (release or date), checked there
        from everydonor.hla.glsc import parse_glsc

        return parse_glsc(raw).gl_string()
    version = None
    loci = []
    for locus_part in raw.split("^"):
        genotypes = []
        for genotype_part in _nonempty(locus_part, "^", text).split("|"):
            copies = []
            for copy_part in _nonempty(genotype_part, "|", text).split("+"):
                alleles = []
                for hap_part in _nonempty(copy_part, "+", text).split("~"):
                    tokens = []
                    for token in _nonempty(hap_part, "~", text).split("/"):
                        token = _nonempty(token, "/", text)
                        if not _TOKEN_RE.match(token):
                            raise InvalidHlaName(
                                f"GL string {text!r}: {token!r} {_token_problem(token)}",
                                value=text)
                        tokens.append(token.removeprefix("HLA-"))
                    alleles.append(AlleleList(tuple(tokens)))
                copies.append(Haplotype(tuple(alleles)))
            if len(copies) > 2:
                raise InvalidHlaName(
                    f"GL string {text!r}: a genotype has {len(copies)} copies joined by '+' "
                    "(at most 2)", value=text)
            genotypes.append(Genotype(tuple(copies)))
        loci.append(GenotypeList(tuple(genotypes)))
    return GlString(tuple(loci), version)


def _nonempty(part: str, op: str, text: str) -> str:
    stripped = part.strip()
    if not stripped:
        raise InvalidHlaName(
            f"GL string {text!r} has an empty operand around {op!r} ({_EMPTY[op]})", value=text)
    return stripped


def _token_problem(token: str) -> str:
    """What is wrong with a token that is not a name (for the message)."""
    body = token.removeprefix("HLA-")
    if any(ch.isspace() for ch in token):
        return "has whitespace inside the name; write names without spaces"
    if not body:
        return "is a truncated name: nothing after 'HLA-'"
    if body.endswith("*"):
        return "is a truncated name: nothing after '*'"
    if body.startswith("*"):
        return "has no locus before '*'"
    _, star, fields = body.partition("*")
    if star and fields.endswith(":"):
        return "ends with ':' (a truncated name: the last field is missing)"
    if star and "" in fields.split(":"):
        return "has an empty field (a ':' with no digits on one side)"
    return "is not an allele, code or antigen name"


def map_tokens(gl: GlString, fn: Callable[[str], str]) -> GlString:
    """Apply ``fn`` to every token; a result with ``/`` becomes an allele list, deduplicated."""

    def map_list(a: AlleleList) -> AlleleList:
        out: list[str] = []
        for token in a.tokens:
            for piece in fn(token).split("/"):
                if piece and piece not in out:
                    out.append(piece)
        return AlleleList(tuple(out))

    return GlString(
        tuple(
            GenotypeList(
                tuple(
                    Genotype(tuple(Haplotype(tuple(map_list(a) for a in h.alleles))
                                   for h in g.copies))
                    for g in gl.genotypes
                )
            )
            for gl in gl.loci
        ),
        gl.version,
    )


def is_gl_string(text: str) -> bool:
    return any(op in text for op in "^|+~#")
