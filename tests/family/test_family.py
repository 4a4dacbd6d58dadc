"""Each family shape of the issue, with expectations a transplant physician can check."""

from typing import Any

import pytest

from everydonor.family.analysis import analyse_family, render_text
from tests.family.builders import H, case, person, recombinant


@pytest.fixture(scope="module")
def solve(reducer):  # type: ignore[no-untyped-def]
    def run(*relatives: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return analyse_family(case(*relatives, **kw), reducer).document

    return run


def rel(doc: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(r for r in doc["relatives"] if r["id"] == rid)


def test_nuclear_family_both_parents(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("F", "father", "a", "b"), person("M", "mother", "c", "d"),
                person("S1", "sister", "a", "d"), person("S2", "brother", "a", "c"),
                person("S3", "brother", "b", "c"), person("S4", "sister", "b", "d"))
    assert doc["consistent"] and doc["recombinations"] == 0
    assert doc["haplotypes"]["paternal"]["a"]["gl"] == "A*02:01~B*46:01~DRB1*09:01"
    assert doc["haplotypes"]["maternal"]["d"]["gl"] == "A*33:03~B*58:01~DRB1*03:01"
    assert not doc["haplotypes"]["paternal"]["inferred"]
    expect = {"F": ("haploidentical", "paternal", None), "M": ("haploidentical", "maternal", None),
              "S1": ("haploidentical", "paternal", "NIMA"), "S2": ("identical", "both", None),
              "S3": ("haploidentical", "maternal", "NIPA"), "S4": ("not_haploidentical", "none",
                                                                   None)}
    for rid, (relation, shared, mismatch) in expect.items():
        r = rel(doc, rid)
        assert (r["hla_relation"], r["shared"], r["sibling_mismatch"]) == (relation, shared,
                                                                          mismatch), rid
        assert r["recombinant"] is False
    patient = next(m for m in doc["members"] if m["id"] == "P1")
    assert patient["inherited"] == {"paternal": "a", "maternal": "c"}
    s1 = next(m for m in doc["members"] if m["id"] == "S1")
    assert s1["inherited"] == {"paternal": "a", "maternal": "d"}


def test_parents_missing_haplotypes_inferred_sides_unknown(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("S1", "sister", "a", "d"), person("S2", "brother", "b", "c"),
                person("S3", "brother", "b", "d"))
    assert doc["consistent"]
    assert doc["haplotypes"]["paternal"]["inferred"] and doc["haplotypes"]["maternal"]["inferred"]
    for rid in ("S1", "S2"):
        r = rel(doc, rid)
        assert r["hla_relation"] == "haploidentical"
        assert r["shared"] is None and r["sibling_mismatch"] is None  # said, not guessed
    assert rel(doc, "S3")["hla_relation"] == "not_haploidentical"
    assert any("no parent is typed" in w for w in doc["warnings"])
    # the four haplotypes are still reconstructed from the children
    gls = {doc["haplotypes"][s][k]["gl"] for s, ks in (("paternal", "ab"), ("maternal", "cd"))
           for k in ks}
    assert gls == {"~".join(H[x]) for x in "abcd"}


def test_one_parent_typed_tells_the_sides(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("M", "mother", "c", "d"), person("S1", "sister", "a", "d"),
                person("S2", "brother", "b", "c"))
    assert rel(doc, "S1")["shared"] == "paternal" and rel(doc, "S1")["sibling_mismatch"] == "NIMA"
    assert rel(doc, "S2")["shared"] == "maternal" and rel(doc, "S2")["sibling_mismatch"] == "NIPA"
    assert doc["haplotypes"]["paternal"]["inferred"] and not doc["haplotypes"]["maternal"][
        "inferred"]


def test_homozygous_father_is_judged_by_hla_content(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("F", "father", "a", "a"), person("M", "mother", "c", "d"),
                person("S1", "sister", "a", "d"), person("S2", "brother", "a", "c"))
    assert rel(doc, "S1")["hla_relation"] == "haploidentical"
    assert rel(doc, "S1")["sibling_mismatch"] == "NIMA"
    assert rel(doc, "S2")["hla_relation"] == "identical"
    s1 = next(m for m in doc["members"] if m["id"] == "S1")
    assert s1["inherited"] is None and len(s1["alternatives"]) == 2  # a or b: enumerated


def test_recombinant_sibling_located(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("F", "father", "a", "b"), person("M", "mother", "c", "d"),
                person("S1", "sister", recombinant("a", "b", 2), "c"),
                person("S2", "brother", "b", "d"))
    assert doc["recombinations"] == 1
    r = rel(doc, "S1")
    assert r["recombinant"] is True
    assert r["crossover"] == ["a→b between B and DRB1"]
    assert (r["hla_relation"], r["shared"], r["sibling_mismatch"]) == ("haploidentical",
                                                                      "maternal", "NIPA")
    assert rel(doc, "S2")["recombinant"] is False


def test_inconsistent_family_is_reported_not_forced(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("F", "father", "a", "b"), person("M", "mother", "c", "d"),
                person("S1", "sister", "a", "d"), person("S2", "brother", "x", "e"))
    assert doc["consistent"] is False
    assert doc["inconsistency"]["members"] == ["S2"]
    assert doc["inconsistency"]["loci"] == ["A", "B", "DRB1"]
    assert all(r["hla_relation"] == "undetermined" for r in doc["relatives"])


def test_untyped_loci_listed_and_judged_on_typed(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("F", "father", "a", "b"), person("M", "mother", "c", "d"),
                person("S1", "sister", "a", "c", loci=("A", "B")),
                person("S2", "brother", "b", "d", loci=()))
    r = rel(doc, "S1")
    assert r["hla_relation"] == "identical" and r["untyped_loci"] == ["DRB1"]
    r2 = rel(doc, "S2")
    assert r2["hla_relation"] == "undetermined" and r2["untyped_loci"] == ["A", "B", "DRB1"]


def test_mixed_resolution_is_compared_by_compatibility(solve) -> None:  # type: ignore[no-untyped-def]
    sero = {"id": "S1", "relationship": "sister",
            "hla": {"A": ["A2", "A33"], "B": ["B*46:XX", "B58"],
                    "DRB1": ["DRB1*09:01:02", "DRB1*03:01/03:02"]}}
    doc = solve(person("F", "father", "a", "b"), person("M", "mother", "c", "d"), sero)
    r = rel(doc, "S1")
    assert (r["hla_relation"], r["shared"], r["sibling_mismatch"]) == ("haploidentical",
                                                                      "paternal", "NIMA")


def test_children_and_partner(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("W", "partner", "e", "f"), person("C1", "son", "a", "e"),
                person("C2", "daughter", "c", "f"), person("M", "mother", "c", "d"))
    c1, c2 = rel(doc, "C1"), rel(doc, "C2")
    assert (c1["hla_relation"], c1["shared"]) == ("haploidentical", "paternal")
    assert (c2["hla_relation"], c2["shared"]) == ("haploidentical", "maternal")
    assert c1["sibling_mismatch"] is None
    w = rel(doc, "W")
    assert w["hla_relation"] == "not_haploidentical"
    assert doc["haplotypes"]["partner"]["e"]["gl"] == "~".join(H["e"])


def test_half_sibling_through_father(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("F", "father", "a", "b"), person("HS", "half_sister", "a", "x",
                                                       through="father"),
                person("HB", "half_brother", "b", "x", through="father"))
    assert (rel(doc, "HS")["hla_relation"], rel(doc, "HS")["shared"]) == ("haploidentical",
                                                                          "paternal")
    assert rel(doc, "HB")["hla_relation"] == "not_haploidentical"
    assert rel(doc, "HS")["sibling_mismatch"] is None  # NIMA/NIPA is for full siblings


def test_collateral_by_phenotype(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve(person("F", "father", "a", "b"), person("M", "mother", "c", "d"),
                person("U", "uncle", "a", "x", through="father"),
                person("A", "aunt", "x", "e", through="mother"))
    u = rel(doc, "U")
    assert (u["hla_relation"], u["shared"], u["basis"]) == ("haploidentical", "paternal",
                                                            "phenotype")
    assert "phase is not proven" in u["notes"][0]
    assert rel(doc, "A")["hla_relation"] == "not_haploidentical"


def test_untyped_parent_is_a_member_inferred(solve) -> None:  # type: ignore[no-untyped-def]
    doc = solve({"id": "F", "relationship": "father"}, person("M", "mother", "c", "d"),
                person("S1", "sister", "a", "d"), person("S2", "brother", "b", "c"))
    father = next(m for m in doc["members"] if m["id"] == "F")
    assert father["inferred"] is True and father["haplotypes"] == ["a", "b"]
    assert father["reconstructed"]["a"] == "~".join(H["a"])
    assert father["reconstructed"]["b"] == "~".join(H["b"])
    f = rel(doc, "F")
    assert f["hla_relation"] == "undetermined" and f["untyped_loci"] == ["A", "B", "DRB1"]


def test_gl_string_and_mac_typings_segregate(reducer, macs) -> None:  # type: ignore[no-untyped-def]
    from everydonor.hla.reduction import Reducer

    with_macs = Reducer(reducer.ref, macs)
    mac_sister = {"id": "S1", "relationship": "sister",
                  # A*02:AB is A*02:01/A*02:02 (generic NMDP code AB = 01/02)
                  "hla": {"A": ["A*02:AB", "A*33:03"], "B": ["B*46:01", "B*58:01"],
                          "DRB1": ["DRB1*09:01", "DRB1*03:01"]}}
    gl_brother = {"id": "S2", "relationship": "brother",
                  "hla_gl": "A*24:02+A*11:01^B*40:01+B*51:01^DRB1*12:01+DRB1*15:01"}
    doc = analyse_family(case(person("F", "father", "a", "b"), person("M", "mother", "c", "d"),
                              mac_sister, gl_brother), with_macs).document
    assert (rel(doc, "S1")["hla_relation"], rel(doc, "S1")["sibling_mismatch"]) == (
        "haploidentical", "NIMA")
    assert (rel(doc, "S2")["hla_relation"], rel(doc, "S2")["sibling_mismatch"]) == (
        "haploidentical", "NIPA")


def test_phase_ambiguity_from_shared_parental_alleles_is_reported(solve) -> None:  # type: ignore[no-untyped-def]
    """Both parents A*03:01/A*02:01, patient homozygous A*03:01: a sibling carrying A*03:01 and
    A*02:01 is explained with no crossover (it got the patient's paternal haplotype) or with one
    maternal crossover between A and B (it did not). everydonor does not bet on parsimony —
    which was wrong for recombinant patients in simulation — it reports both."""
    a = ("A*03:01", "B*07:02", "DRB1*15:01")
    b = ("A*02:01", "B*07:02", "DRB1*15:01")
    c = ("A*03:01", "B*51:01", "DRB1*13:01")
    d = ("A*02:01", "B*44:02", "DRB1*01:01")
    doc = solve(person("F", "father", a, b), person("M", "mother", c, d),
                person("S2", "brother", a, d), patient=(a, c))
    r = rel(doc, "S2")
    assert r["hla_relation"] == "undetermined"
    assert r["alternatives"] == ["haploidentical (paternal)", "not_haploidentical (none)"]


def _line(text: str, pid: str) -> str:
    return next(line for line in text.splitlines() if f"─ {pid} " in line)


def test_text_pedigree_shows_the_child_haplotype_from_the_patient(solve) -> None:  # type: ignore[no-untyped-def]
    """A child's haplotype from the patient is known even when the other parent is not typed:
    the text pedigree shows its letter, and "?" only for the other parent's side."""
    untyped_partner = solve(person("F", "father", "a", "b"), person("M", "mother", "c", "d"),
                            person("K1", "son", "a", "x"))
    k1 = next(m for m in untyped_partner["members"] if m["id"] == "K1")
    assert k1["inherited"] is None  # several explanations (the other parent is private)
    line = _line(render_text(untyped_partner, "notice", "sw"), "K1")
    assert "a / ?" in line and "?/?" not in line

    typed_partner = solve(person("H", "partner", "e", "f"), person("K1", "son", "c", "e"),
                          person("K2", "daughter", "a", "f"))
    text = render_text(typed_partner, "notice", "sw")
    assert "c / e" in _line(text, "K1") and "a / f" in _line(text, "K2")
    assert "pp" not in text and "pm" not in text  # the solver's labels never leak


def test_text_pedigree_names_an_untyped_parents_reconstructed_letters(reducer) -> None:  # type: ignore[no-untyped-def]
    c = case(person("F", "father", "a", "b"), {"id": "M", "relationship": "mother"},
             person("S1", "sister", "a", "d"), person("S2", "brother", "b", "c"))
    text = render_text(analyse_family(c, reducer).document, "notice", "sw")
    mother = next(line for line in text.splitlines() if line.startswith("mother"))
    assert "c / d (not typed; reconstructed)" in mother
