"""Edge spellings of HLA input, one row each: accepted (and as what) or refused (and why).

Every entry point is exercised: ``parse_typing`` (one typing), ``parse_gl`` (GL string syntax),
``phenotype_from_gl`` (a case's ``hla_gl``) and ``phenotype_from_mapping`` (a case's ``hla``).
A refusal is an :class:`InvalidHlaName` (the CLI exits 2) whose message names the value and
says what is wrong; nothing malformed is ever read as untyped or as a shorter name.

Decisions pinned here:

* Untyped is said by leaving the locus out, by ``UUUU`` / ``NEW`` / ``NT`` (any case, bare or
  as ``LOCUS*UUUU``) or by an empty value (a blank cell, whitespace only). ``A*`` and ``HLA-``
  are truncated names, refused.
* Whitespace around a whole value (and around ``/`` and the GL operators) is dropped; inside a
  name (``A*01: 01``, ``A *01:01``, ``A*01:01 N``) it is refused.
* Case: WHO names are case-sensitive (loci upper case; ``G`` and ``g`` groups are different
  things; ``Cw`` has a lower-case ``w``), so a lower-case locus, suffix, code or antigen is
  refused with the right spelling in the message, never corrected silently. ``parse_gl`` checks
  structure only; the case of its tokens is judged when they are read as typings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest

from everydonor.errors import InvalidHlaName
from everydonor.hla.designation import TypingKind, parse_typing
from everydonor.hla.genotype import phenotype_from_gl, phenotype_from_mapping
from everydonor.hla.glstring import parse_gl
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import Resolution
from tests.hla.tiny import tiny_reference


@dataclass(frozen=True)
class Ok:
    """Accepted: as this kind (parse_typing) or this GL string (the others; "" = untyped)."""

    result: TypingKind | str


@dataclass(frozen=True)
class Refused:
    """Refused with InvalidHlaName; ``fragment`` is in the message, ``named`` too (default:
    the input as given, stripped)."""

    fragment: str
    named: str | None = None


UNTYPED = Ok(TypingKind.UNTYPED)
TRUNCATED = "truncated name: nothing after '*'"
NO_NAME = "holds no locus, allele or antigen name"
SPACE = "whitespace inside the name"

TYPING_ROWS: list[tuple[str, Ok | Refused]] = [
    # a bare locus with '*' and nothing after it: truncated, not untyped
    ("A*", Refused(TRUNCATED)),
    ("DRB1*", Refused(TRUNCATED)),
    ("HLA-A*", Refused(TRUNCATED)),
    ("HLA-DRB1*", Refused(TRUNCATED)),
    ("HLA-", Refused("truncated name: nothing after 'HLA-'")),
    ("*01:01", Refused("no locus before '*'")),
    ("*", Refused(NO_NAME)),
    # the untyped spellings that exist (kept)
    ("", UNTYPED),
    ("   ", UNTYPED),
    ("\t", UNTYPED),
    ("UUUU", UNTYPED),
    ("uuuu", UNTYPED),
    ("A*UUUU", UNTYPED),
    ("HLA-A*UUUU", UNTYPED),
    ("DRB1*UUUU", UNTYPED),
    ("NEW", UNTYPED),
    ("NT", UNTYPED),
    ("A*NT", UNTYPED),
    # trailing separators and empty fields
    ("A*01:01/", Refused("ends with '/': an empty member in its allele string")),
    ("A*01:01/ ", Refused("ends with '/': an empty member in its allele string", "A*01:01/")),
    ("A*01:01+", Refused("GL string operator '+'")),
    ("A*01:01^", Refused("GL string operator '^'")),
    ("A*01:01|", Refused("GL string operator '|'")),
    ("A*01:01~", Refused("GL string operator '~'")),
    ("A*01:01:", Refused("ends with ':' (a truncated name")),
    ("A*01:", Refused("ends with ':' (a truncated name")),
    ("HLA-A*01:", Refused("ends with ':' (a truncated name", "A*01:")),
    ("A*:01", Refused("empty field")),
    ("A*01::01", Refused("empty field")),
    # empty allele-list members
    ("A*01:01//A*01:02", Refused("has '//': an empty member in its allele string")),
    ("A*01:01/02/", Refused("ends with '/': an empty member in its allele string")),
    ("A*01:01/A*", Refused("member 'A*' has no fields after '*' (a truncated name)")),
    ("A*01:01/UUUU", Refused("member 'UUUU' is not an allele name")),
    # separators alone
    ("/", Refused(NO_NAME)),
    ("+", Refused(NO_NAME)),
    ("^", Refused(NO_NAME)),
    ("|", Refused(NO_NAME)),
    ("~", Refused(NO_NAME)),
    ("//", Refused(NO_NAME)),
    ("^^", Refused(NO_NAME)),
    # doubled separators
    ("A*01:01++A*02:01", Refused("GL string operator '+'")),
    ("A*01:01^^B*07:02", Refused("GL string operator '^'")),
    # whitespace: around a whole value dropped, inside a name refused
    (" A*01:01 ", Ok(TypingKind.ALLELE)),
    ("A*01:01\t", Ok(TypingKind.ALLELE)),
    ("A*01:01 / A*01:02", Ok(TypingKind.ALLELE_STRING)),
    ("A*01: 01", Refused(SPACE)),
    ("A *01:01", Refused(SPACE)),
    ("A*01:01 N", Refused(SPACE)),
    ("HLA- A*01:01", Refused(SPACE)),
    ("A*01:01/A*01 :02", Refused(SPACE + " 'A*01 :02'")),
    ("A*01:01\nA*02:01", Refused(SPACE)),
    # case: WHO names are case-sensitive; refused with the right spelling
    ("a*01:01", Refused("upper case ('A')")),
    ("a*", Refused("upper case ('A')")),
    ("Drb1*15:01", Refused("upper case ('DRB1')")),
    ("HLA-a*01:01", Refused("upper case ('A')")),
    ("hla-A*01:01", Refused("upper case ('HLA-A')")),
    ("A*01:01n", Refused("suffix 'n' must be upper case ('N')")),
    ("A*01:01p", Refused("suffix 'p' must be upper case ('P')")),
    ("A*01:xx", Refused("upper case: 'XX'")),
    ("A*01:ab", Refused("upper case: 'AB'")),
    ("a2", Refused("write 'A2'")),
    ("dr15", Refused("write 'DR15'")),
    ("cw7", Refused("write 'Cw7'")),
    ("CW7", Refused("write 'Cw7'")),
    ("A*01:01:01g", Ok(TypingKind.LG_GROUP)),  # lower-case g is the lg group, not G
    ("A*01:01:01G", Ok(TypingKind.G_GROUP)),
    ("Cw7", Ok(TypingKind.SEROLOGY)),
    # well-formed references
    ("A*01:01", Ok(TypingKind.ALLELE)),
    ("HLA-A*01:01", Ok(TypingKind.ALLELE)),
    ("A*01:01/02", Ok(TypingKind.ALLELE_STRING)),
    ("A*01", Ok(TypingKind.XX)),
]

GL_ROWS: list[tuple[str, Ok | Refused]] = [
    ("A*", Refused(TRUNCATED)),
    ("A*+A*^B*07:02+B*07:02", Refused("'A*' is a " + TRUNCATED)),
    ("A*01:01+A*^B*07:02+B*07:02", Refused("'A*' is a " + TRUNCATED)),
    ("HLA-A*01:01+HLA-A*", Refused("'HLA-A*' is a " + TRUNCATED)),
    ("HLA-+A*01:01", Refused("truncated name: nothing after 'HLA-'")),
    ("*01:01+A*01:01", Refused("no locus before '*'")),
    ("A*01:+A*02:01", Refused("ends with ':' (a truncated name")),
    ("A*01:01:+A*02:01", Refused("ends with ':' (a truncated name")),
    ("A*01::01+A*02:01", Refused("empty field")),
    # trailing and doubled operators, empty blocks
    ("A*01:01/", Refused("empty member in an allele list")),
    ("A*01:01/+A*02:01", Refused("empty member in an allele list")),
    ("A*01:01//A*01:02+A*02:01", Refused("empty member in an allele list")),
    ("A*01:01+", Refused("empty copy in a genotype")),
    ("A*01:01++A*02:01", Refused("empty copy in a genotype")),
    ("A*01:01+A*02:01|", Refused("empty genotype in a genotype list")),
    ("A*01:01+A*02:01||A*03:01+A*02:01", Refused("empty genotype in a genotype list")),
    ("A*01:01~+A*02:01", Refused("empty member of a haplotype")),
    ("A*01:01~~B*08:01+A*02:01~B*07:02", Refused("empty member of a haplotype")),
    ("A*01:01+A*02:01^", Refused("empty locus block")),
    ("^B*08:01+B*08:01", Refused("empty locus block")),
    ("A*01:01+A*02:01^^B*07:02+B*08:01", Refused("empty locus block")),
    ("A*01:01+A*02:01^ ^B*07:02+B*08:01", Refused("empty locus block")),
    ("hla#3.58.0#", Refused("empty GL string after the version")),
    ("/", Refused("empty member in an allele list")),
    ("+", Refused("empty copy in a genotype")),
    ("^", Refused("empty locus block")),
    ("|", Refused("empty genotype in a genotype list")),
    ("~", Refused("empty member of a haplotype")),
    ("", Refused("empty GL string")),
    ("   ", Refused("empty GL string", "")),
    # whitespace
    ("A*01:01 N+A*02:01", Refused(SPACE)),
    ("A *01:01+A*02:01", Refused(SPACE)),
    ("A*01: 01+A*02:01", Refused(SPACE)),
    (" A*01:01 + A*02:01 ", Ok("A*01:01+A*02:01")),
    # GL String allele lists name every member in full (no lab shorthand)
    ("A*01:01/02+A*02:01", Refused("'02' is not an allele, code or antigen name")),
    # well-formed, including the WMDA untyped block
    ("A*UUUU+A*UUUU^B*07:02+B*08:01", Ok("A*UUUU+A*UUUU^B*07:02+B*08:01")),
    ("A*01:01/A*01:02+A*02:01", Ok("A*01:01/A*01:02+A*02:01")),
]

PHENOTYPE_GL_ROWS: list[tuple[str, Ok | Refused]] = [
    ("A*+A*^B*07:02+B*08:01", Refused("'A*' is a " + TRUNCATED)),  # was silently untyped
    ("A*01:01+A*^B*07:02+B*08:01", Refused("'A*' is a " + TRUNCATED)),
    ("A*01:01+A*02:01^^B*07:02+B*08:01", Refused("empty locus block")),
    ("A*01:01+A*02:01^", Refused("empty locus block")),
    ("A*01:01/+A*02:01", Refused("empty member in an allele list")),
    ("A*01:01+A*UUUU", Refused("one typing is missing", "A*01:01+A*UUUU")),
    ("A*01:01", Refused("has one copy")),
    ("a*01:01+a*02:01", Refused("upper case ('A')", "a*01:01")),
    ("A*01:01n+A*02:01", Refused("suffix 'n' must be upper case ('N')", "A*01:01n")),
    ("dr15+DR4", Refused("write 'DR15'", "dr15")),
    ("A*01:01 N+A*02:01", Refused(SPACE)),
    ("", Refused("empty GL string")),
    (" A*01:01 + A*02:01 ", Ok("A*01:01+A*02:01")),
    ("A*UUUU+A*UUUU^B*07:02+B*08:01", Ok("B*07:02+B*08:01")),
    ("A*01:01+A*02:01^B*07:02+B*08:01", Ok("A*01:01+A*02:01^B*07:02+B*08:01")),
]

MAPPING_ROWS: list[tuple[Mapping[str, Sequence[str]], Ok | Refused]] = [
    ({"A": ["A*", "A*02:01"]}, Refused(TRUNCATED, "A*")),
    ({"A": ["A*", "A*"]}, Refused(TRUNCATED, "A*")),  # was silently untyped
    ({"DRB1": ["DRB1*", "DRB1*"]}, Refused(TRUNCATED, "DRB1*")),
    ({"A": ["HLA-A*", "HLA-A*"]}, Refused(TRUNCATED, "HLA-A*")),
    ({"A": ["HLA-", "HLA-"]}, Refused("nothing after 'HLA-'", "HLA-")),
    ({"A": ["A*01:01/", "A*02:01"]}, Refused("an empty member in its allele string", "A*01:01/")),
    ({"A": ["A*01:01//A*01:02", "A*02:01"]},
     Refused("an empty member in its allele string", "A*01:01//A*01:02")),
    ({"A": ["A*01:01+", "A*02:01"]}, Refused("GL string operator '+'", "A*01:01+")),
    ({"A": ["A*01:", "A*02:01"]}, Refused("ends with ':'", "A*01:")),
    ({"A": ["A*01:01 N", "A*02:01"]}, Refused(SPACE, "A*01:01 N")),
    ({"A": ["/", "/"]}, Refused(NO_NAME, "/")),
    ({"A": ["a*01:01", "A*01:01"]}, Refused("upper case ('A')", "a*01:01")),
    ({"a": ["A*01:01", "A*01:01"]}, Refused("upper case ('A')", "a")),
    ({"A": ["", "A*02:01"]}, Refused("one typing is missing", "+A*02:01")),
    ({"A": ["UUUU", "A*02:01"]}, Refused("one typing is missing", "UUUU+A*02:01")),
    # untyped, explicitly
    ({"A": ["UUUU", "UUUU"], "B": ["B*07:02", "B*08:01"]}, Ok("B*07:02+B*08:01")),
    ({"A": ["A*UUUU", "A*UUUU"], "B": ["B*07:02", "B*08:01"]}, Ok("B*07:02+B*08:01")),
    ({"A": ["NT", "NT"], "B": ["B*07:02", "B*08:01"]}, Ok("B*07:02+B*08:01")),
    ({"A": ["", ""], "B": ["B*07:02", "B*08:01"]}, Ok("B*07:02+B*08:01")),
    ({"A": ["  ", "  "], "B": ["B*07:02", "B*08:01"]}, Ok("B*07:02+B*08:01")),
    # outer whitespace dropped
    ({"A": [" A*01:01 ", "A*01:01"]}, Ok("A*01:01+A*01:01")),
]


def _check_refusal(call: object, text: object, expect: Refused, default: str) -> None:
    assert callable(call)
    with pytest.raises(InvalidHlaName) as err:
        call(text)
    message = str(err.value)
    assert expect.fragment in message, message
    named = expect.named if expect.named is not None else default
    assert named in message or repr(named) in message, message


@pytest.mark.parametrize(("text", "expect"), TYPING_ROWS, ids=[repr(r[0]) for r in TYPING_ROWS])
def test_parse_typing(text: str, expect: Ok | Refused) -> None:
    if isinstance(expect, Refused):
        _check_refusal(parse_typing, text, expect, text.strip())
    else:
        assert parse_typing(text).kind is expect.result


@pytest.mark.parametrize(("text", "expect"), GL_ROWS, ids=[repr(r[0]) for r in GL_ROWS])
def test_parse_gl(text: str, expect: Ok | Refused) -> None:
    if isinstance(expect, Refused):
        _check_refusal(parse_gl, text, expect, text)
    else:
        assert parse_gl(text).format() == expect.result


@pytest.mark.parametrize(("text", "expect"), PHENOTYPE_GL_ROWS,
                         ids=[repr(r[0]) for r in PHENOTYPE_GL_ROWS])
def test_phenotype_from_gl(text: str, expect: Ok | Refused) -> None:
    if isinstance(expect, Refused):
        _check_refusal(phenotype_from_gl, text, expect, text)
    else:
        assert phenotype_from_gl(text).gl() == expect.result


@pytest.mark.parametrize(("hla", "expect"), MAPPING_ROWS, ids=[repr(r[0]) for r in MAPPING_ROWS])
def test_phenotype_from_mapping(hla: Mapping[str, Sequence[str]], expect: Ok | Refused) -> None:
    if isinstance(expect, Refused):
        _check_refusal(phenotype_from_mapping, hla, expect, "")
        with pytest.raises(InvalidHlaName) as err:
            phenotype_from_mapping(hla, person="P1")
        assert err.value.person == "P1" and (err.value.field or "").startswith("hla.")
    else:
        phenotype = phenotype_from_mapping(hla)
        assert phenotype.gl() == expect.result
        if "A" in hla and not str(expect.result).startswith("A*"):
            assert Locus.A in phenotype.untyped_loci()


def test_refused_typings_are_refused_by_the_reducer_too() -> None:
    """The fast path (one lookup per typing) never turns a refused spelling into an answer."""
    reducer = Reducer(tiny_reference())
    refused = [t for t, e in TYPING_ROWS if isinstance(e, Refused)]
    for to in (Resolution.LGX, Resolution.G, Resolution.SEROLOGY):
        for text in refused:
            with pytest.raises(InvalidHlaName):
                reducer.reduce_text(text, to)
        assert reducer.reduce_many(refused, to, on_error="none") == [None] * len(refused)
    assert reducer.reduce_text("A*UUUU", Resolution.LGX) == ""
    assert reducer.reduce_text("", Resolution.LGX) == ""
