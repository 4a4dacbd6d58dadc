"""External data: the 11,000 subjects of the WMDA matching-validation set 3 (Bochtler et al.,
HLA 2016), read from ../shared (CC BY-NC-ND: never copied into the repository).

The MAC list available offline (Atlas' 2020 subset of NMDP codes) lacks 574 of the 784 codes
the set uses, so the proof is in two parts: (1) every typing parses, and every typing whose
MAC is in the list — or that uses none — reduces to lgx without error, the refusals being
exactly the typings whose MAC the list lacks; (2) the same subjects as GL strings expanded by
the GRIMM authors (``../shared/data/hla/grimm``) reduce in full, with zero errors.
"""

import gzip
import re

from everydonor.errors import UnknownMacCode
from everydonor.hla.designation import TypingKind, parse_typing
from everydonor.hla.glstring import map_tokens, parse_gl
from everydonor.hla.reference import Resolution
from tests.conftest import GRIMM, WMDA


def subjects() -> dict[str, str]:
    out = {}
    for name in ("pat.txt", "don.txt"):
        for line in (WMDA / name).read_text(encoding="utf-8").splitlines():
            if "%" in line:
                sid, gl = line.split("%", 1)
                out[sid] = gl
    return out


def test_every_wmda_typing_parses_and_reduces(reducer, macs) -> None:  # type: ignore[no-untyped-def]
    data = subjects()
    assert len(data) == 11000
    typed = refused = 0
    missing_codes: set[str] = set()
    for gl in data.values():
        for token in parse_gl(gl).tokens():
            typing = parse_typing(token)  # every token parses: no exception allowed
            if typing.is_untyped:
                continue
            typed += 1
            try:
                out = reducer.reduce_text(token, Resolution.LGX)
                assert out and out.startswith(token.split("*")[0] + "*")
            except UnknownMacCode:
                assert typing.kind is TypingKind.MAC and typing.code not in macs.codes
                refused += 1
                missing_codes.add(typing.code or "")
    assert typed > 70000
    assert len(missing_codes) == 574
    assert refused < typed * 0.1


def test_grimm_expanded_subjects_reduce_with_zero_errors(reducer) -> None:  # type: ignore[no-untyped-def]
    n = 0
    for name in ("pat.gl.txt.gz", "don.gl.txt.gz"):
        with gzip.open(GRIMM / name, "rt", encoding="utf-8") as fh:
            for line in fh:
                sid, gl = line.strip().split("%", 1)
                reduced = map_tokens(parse_gl(gl),
                                     lambda t: reducer.reduce_text(t, Resolution.LGX) or t)
                assert re.fullmatch(r"[A-Z0-9*:/+~^|N]+", reduced.format()), sid
                n += 1
    assert n == 11000
