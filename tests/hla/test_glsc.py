"""GL String Code: parse, format, validation, the spec's examples, FHIR systems, release flags."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from everydonor.errors import InvalidHlaName
from everydonor.hla.glsc import (
    GLSC_SYSTEM,
    PARALOG_NOTE,
    Glsc,
    format_glsc,
    looks_like_glsc,
    parse_glsc,
    release_flag,
    system_of,
)
from everydonor.hla.glstring import parse_gl

# -- the examples of the spec (registry-and-security.md §2.1, glstring.org) --------------------


def test_glstring_org_example() -> None:
    code = parse_glsc("hla#3.25.0#HLA-A*01:01:01:01+HLA-A*01:02")
    assert code == Glsc("hla", "3.25.0", "HLA-A*01:01:01:01+HLA-A*01:02")
    assert code.is_release and code.release == "3.25.0" and code.construction_date is None
    assert code.text == "hla#3.25.0#HLA-A*01:01:01:01+HLA-A*01:02" == str(code)
    gl = code.gl_string()
    assert gl.version == "3.25.0" and gl.format() == "A*01:01:01:01+A*01:02"


@pytest.mark.parametrize("body", [
    "HLA-A*01:01:01:01/HLA-A*02:01:01:01",          # allele list
    "HLA-A*01:01~HLA-B*08:01",                       # haplotype
    "HLA-A*01:01+HLA-A*02:01",                       # genotype
    "HLA-A*01:01+HLA-A*02:01|HLA-A*01:02+HLA-A*02:05",  # genotype list
    "HLA-A*01:01+HLA-A*02:01^HLA-B*07:02+HLA-B*08:01",  # multilocus
    "HLA-A*01:AB+HLA-A*02:XX^HLA-DRB1*NNNN+HLA-DRB1*UUUU",  # MAC, XX and WMDA codes
])
def test_every_operator_of_the_spec_reads_back_verbatim(body: str) -> None:
    text = f"hla#3.58.0#{body}"
    code = parse_glsc(text)
    assert code.gl == body and code.text == text
    assert format_glsc(code.gl, code.version, code.namespace) == text


def test_construction_date_instead_of_version() -> None:
    code = parse_glsc("hla#2024-03-01#HLA-A*01:01+HLA-A*02:01")
    assert not code.is_release and code.release is None
    assert code.construction_date == dt.date(2024, 3, 1)
    assert parse_gl(code.text).version == "2024-03-01"


def test_kir_namespace_is_read_but_is_not_an_hla_typing() -> None:
    text = "kir#2.10.0#KIR2DL1*0010101+KIR2DL1*0020101^KIR3DL1*0010101+KIR3DL1*0050101"
    code = parse_glsc(text)
    assert code.namespace == "kir" and code.text == text
    with pytest.raises(InvalidHlaName, match="'kir' namespace"):
        code.gl_string()
    with pytest.raises(InvalidHlaName, match="'kir' namespace"):
        parse_gl(text)


def test_glstring_1_1_paralog_operator_kept_verbatim_never_split() -> None:
    text = "hla#3.58.0#HLA-DRB3*01:01:02:01?HLA-DRB4*01:03:01:01+HLA-DRB4*01:03:01:01"
    code = parse_glsc(text)
    assert code.has_paralog_ambiguity and code.text == text
    with pytest.raises(InvalidHlaName, match=r"'\?'.*py-ard 2.4.2 does not split it"):
        code.gl_string()
    assert "py-ard" in PARALOG_NOTE


def test_format_adds_the_hla_prefix_and_keeps_existing_ones() -> None:
    assert format_glsc("A*01:01+HLA-A*02:01", "3.58.0") == "hla#3.58.0#HLA-A*01:01+HLA-A*02:01"
    assert format_glsc(parse_gl("A*01:01+A*02:01^B*08:01~C*07:01+B*07:02~C*07:02"),
                       "2025-01-31") == (
        "hla#2025-01-31#HLA-A*01:01+HLA-A*02:01^HLA-B*08:01~HLA-C*07:01+HLA-B*07:02~HLA-C*07:02")
    # serological names have no '*' and no prefix
    assert format_glsc("A2+A24", "3.58.0") == "hla#3.58.0#A2+A24"
    assert format_glsc("KIR2DL1*001+KIR2DL1*002", "2.10.0", "kir") == (
        "kir#2.10.0#KIR2DL1*001+KIR2DL1*002")


def test_surrounding_whitespace_ignored() -> None:
    assert parse_glsc("  hla#3.58.0#HLA-A*01:01+HLA-A*02:01\n").text == (
        "hla#3.58.0#HLA-A*01:01+HLA-A*02:01")


# -- every refusal -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message", "field"), [
    ("", "empty GL String Code", None),
    ("   ", "empty GL String Code", None),
    ("hla#3.58.0", "three parts", None),
    ("HLA-A*01:01+HLA-A*02:01", "three parts", None),
    ("drb#3.58.0#HLA-A*01:01", "namespace 'drb' is not 'hla' or 'kir'", "namespace"),
    ("HLA#3.58.0#HLA-A*01:01", "write it in lower case ('hla')", "namespace"),
    ("#3.58.0#HLA-A*01:01", "namespace '' is not", "namespace"),
    ("hla##HLA-A*01:01+HLA-A*02:01", "empty version", "version"),
    ("hla# #HLA-A*01:01+HLA-A*02:01", "empty version", "version"),
    ("hla#3.58#HLA-A*01:01", "neither a release like 3.58.0 nor a construction date", "version"),
    ("hla#3580#HLA-A*01:01", "write 3.58.0", "version"),
    ("hla#v3.58.0#HLA-A*01:01", "neither a release", "version"),
    ("hla#2024-02-30#HLA-A*01:01", "not a real date", "version"),
    ("hla#01/03/2024#HLA-A*01:01", "neither a release", "version"),
    ("hla#3.58.0#", "empty GL string after the version", "glstring"),
    ("hla#3.58.0#   ", "empty GL string after the version", "glstring"),
    ("hla#3.58.0#HLA-A*01:01#x", "'#' inside the GL string", "glstring"),
    ("hla#3.58.0#HLA-A*01:01+", "empty operand around '+'", "glstring"),
    ("hla#3.58.0#^HLA-B*08:01", "empty operand around '^'", "glstring"),
    ("hla#3.58.0#HLA-A*01:01??HLA-A*02:01", "empty operand around '?'", "glstring"),
    ("hla#3.58.0#HLA-A*01:01 N+HLA-A*02:01", "whitespace inside", "glstring"),
    ("hla#3.58.0#HLA-A*01:01+HLA-A*02:01$", "not an allele, code or antigen name", "glstring"),
    ("hla#3.58.0#HLA-A*01:01+HLA-A*02:01+HLA-A*03:01", "3 copies", "glstring"),
    ("kir#2.10.0#KIR2DL1*001+", "empty operand", "glstring"),
])
def test_refusals_say_what_is_wrong(text: str, message: str, field: str | None) -> None:
    with pytest.raises(InvalidHlaName) as info:
        parse_glsc(text)
    assert message in info.value.message
    assert info.value.field == field
    assert info.value.value is not None and (text.strip() in info.value.value or not text.strip())


def test_format_refuses_what_would_not_read_back() -> None:
    with pytest.raises(InvalidHlaName, match="empty version"):
        format_glsc("A*01:01+A*02:01", "")
    with pytest.raises(InvalidHlaName, match="not 'hla' or 'kir'"):
        format_glsc("A*01:01+A*02:01", "3.58.0", namespace="mhc")


def test_looks_like_glsc() -> None:
    assert looks_like_glsc("hla#3.58.0#HLA-A*01:01")
    assert looks_like_glsc(" HLA#x")  # read as a code, so that the error says what is wrong
    assert not looks_like_glsc("A*01:01+A*02:01")
    assert not looks_like_glsc(["hla#3.58.0#HLA-A*01:01"])


# -- FHIR coding systems -----------------------------------------------------------------------

def test_fhir_systems_accepted_and_emitted() -> None:
    assert GLSC_SYSTEM == "http://glstring.org"
    assert system_of("http://glstring.org") == GLSC_SYSTEM
    assert system_of("http://www.glstring.org") == GLSC_SYSTEM
    with pytest.raises(InvalidHlaName, match="not the GL String Code system"):
        system_of("https://glstring.org/x")


# -- release flags ------------------------------------------------------------------------------

def test_release_flag_names_person_locus_value_and_both_versions() -> None:
    code = parse_glsc("hla#3.40.0#HLA-A*01:01+HLA-A*02:01")
    assert release_flag(parse_glsc("hla#3.58.0#HLA-A*01:01+HLA-A*02:01"), "3.58.0") is None
    flag = release_flag(code, "3.58.0", who="R1", locus="A")
    assert flag is not None
    for part in ("person 'R1'", "locus A", code.text, "3.40.0", "3.58.0", "verbatim"):
        assert part in flag
    dated = release_flag(parse_glsc("hla#2024-03-01#HLA-A*01:01+HLA-A*02:01"), "3.58.0")
    assert dated is not None and "construction date (2024-03-01)" in dated
    assert "release it was written under is unknown" in dated


# -- properties ---------------------------------------------------------------------------------

_FIELD = st.from_regex(r"[0-9]{2,3}", fullmatch=True)
_LOCUS = st.sampled_from(["A", "B", "C", "DRB1", "DQB1", "DPB1", "DRB3"])


@st.composite
def _allele(draw: st.DrawFn, locus: str) -> str:
    fields = draw(st.lists(_FIELD, min_size=1, max_size=4))
    return f"HLA-{locus}*{':'.join(fields)}"


@st.composite
def _gl(draw: st.DrawFn) -> str:
    loci = draw(st.lists(_LOCUS, min_size=1, max_size=4, unique=True))
    blocks = []
    for locus in loci:
        genotypes = []
        for _ in range(draw(st.integers(1, 2))):
            copies = ["/".join(draw(st.lists(_allele(locus), min_size=1, max_size=3)))
                      for _ in range(draw(st.integers(1, 2)))]
            genotypes.append("+".join(copies))
        blocks.append("|".join(genotypes))
    return "^".join(blocks)


_VERSION = st.one_of(
    st.tuples(st.integers(0, 9), st.integers(0, 99), st.integers(0, 9)).map(
        lambda t: f"{t[0]}.{t[1]}.{t[2]}"),
    st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)).map(dt.date.isoformat),
)


@given(_gl(), _VERSION)
def test_format_then_parse_round_trips(gl: str, version: str) -> None:
    text = format_glsc(gl, version)
    code = parse_glsc(text)
    assert (code.namespace, code.version, code.gl) == ("hla", version, gl)
    assert format_glsc(code.gl, code.version, code.namespace) == text == code.text
    assert code.gl_string().format() == parse_gl(gl).format()


@given(_gl(), _VERSION)
def test_prefix_free_body_formats_to_the_prefixed_code(gl: str, version: str) -> None:
    bare = gl.replace("HLA-", "")
    assert format_glsc(bare, version) == format_glsc(gl, version)
    assert parse_glsc(f"hla#{version}#{bare}").gl == bare  # read verbatim, never rewritten
