"""The pedigree SVG: haplotype bars coloured by letter, recombinants split at the crossover,
phenotype-only relatives hatched, unknowns grey."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from everydonor.adapters.report.pedigree import COLOURS, UNKNOWN, _segments, render_pedigree_svg

LOCI = ["A", "C", "B", "DRB1", "DQB1"]
FAMILY = {
    "haplotypes": {"paternal": {"a": {"gl": "A*02:01~C*01:02~B*46:01~DRB1*09:01~DQB1*03:03"},
                                "b": {"gl": "A*24:02~C*03:04~B*40:01~DRB1*12:01~DQB1*03:01"},
                                "inferred": False},
                   "maternal": {"c": {"gl": "A*11:01~C*14:02~B*51:01~DRB1*15:01~DQB1*06:02"},
                                "d": {"gl": "A*33:03~C*03:02~B*58:01~DRB1*03:01~DQB1*02:01"},
                                "inferred": False}},
    "members": [{"id": "P", "inherited": {"paternal": "a", "maternal": "c"}},
                {"id": "F", "inherited": {"paternal": "a", "maternal": "b"}},
                {"id": "S", "inherited": {"paternal": "a→b between B and DRB1",
                                          "maternal": "d"}}],
    "relatives": [{"id": "U", "shared": "paternal"}],
}
PEOPLE = [{"id": "P", "relationship": None, "sex": "male", "age": 30},
          {"id": "F", "relationship": "father", "sex": "male", "age": 60},
          {"id": "S", "relationship": "sister", "sex": "female", "age": 25},
          {"id": "U", "relationship": "uncle", "sex": "male", "age": 55},
          {"id": "X", "relationship": "brother", "sex": "male", "age": 20, "untyped": True}]


def test_recombinant_bar_changes_colour_after_the_crossover() -> None:
    seg = _segments("a→b between B and DRB1", LOCI, {"paternal": "a", "maternal": "c"})
    assert [c for c, _ in seg] == [COLOURS["a"]] * 3 + [COLOURS["b"]] * 2
    assert _segments(None, LOCI, {})[0] == (UNKNOWN, "?")
    # children's labels pp/pm point at the patient's own haplotypes
    assert _segments("pm", LOCI, {"paternal": "a", "maternal": "c"})[0][0] == COLOURS["c"]


def test_svg_is_well_formed_with_symbols_badges_and_bars() -> None:
    svg = render_pedigree_svg(FAMILY, PEOPLE, {"S": "#1", "F": "#2", "X": "✗"})
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg")
    fills = re.findall(r'fill="(#[0-9a-f]{6}|url\(#hatch\))"', svg)
    assert fills.count(COLOURS["b"]) >= 3  # the father's b bar (5) + the sister's crossover (2)
    assert "url(#hatch)" in fills  # the uncle's shared haplotype, judged by phenotype
    assert "not typed" in svg and "✗" in svg and "#1" in svg
    assert svg.count("<circle") == 1 and svg.count('width="28" height="28"') == 4
    assert "Other relatives" in svg
