"""Donor-specific antibodies: hand-checked cases from the issue."""

from everydonor.case import AntibodyResult, AntibodyTest
from everydonor.hla.genotype import phenotype_from_mapping
from everydonor.matching.dsa import DsaStatus, assess_dsa


def sab(*results: tuple[str, float]) -> AntibodyTest:
    return AntibodyTest(None, "single_antigen_bead",
                        tuple(AntibodyResult(s, m) for s, m in results))


DONOR = phenotype_from_mapping({
    "A": ["A*02:01", "A*24:02"], "B": ["B*44:02", "B*40:01"],
    "DRB1": ["DRB1*04:01", "DRB1*12:01"], "DQB1": ["DQB1*02:01", "DQB1*03:01"],
    "DQA1": ["DQA1*05:01", "DQA1*03:01"]})


def test_allele_antibody_against_allele_typed_donor(reducer) -> None:  # type: ignore[no-untyped-def]
    r = assess_dsa(sab(("A*24:02", 8500), ("A*11:01", 3000)), DONOR, reducer)
    assert r.status is DsaStatus.POSITIVE and r.max_mfi == 8500
    [hit] = r.antibodies
    assert (hit.specificity, hit.donor_typing, hit.certainty, hit.level) == (
        "A*24:02", "A*24:02", "definite", "allele")


def test_broad_antibody_reacts_with_split_donor(reducer) -> None:  # type: ignore[no-untyped-def]
    r = assess_dsa(sab(("B12", 12000)), DONOR, reducer)
    [hit] = r.antibodies
    assert (hit.donor_typing, hit.level, hit.certainty) == ("B*44:02", "antigen", "definite")
    # the split antibody B45 does not react with B44
    assert assess_dsa(sab(("B45", 12000)), DONOR, reducer).status is DsaStatus.NEGATIVE


def test_antigen_antibody_dr4(reducer) -> None:  # type: ignore[no-untyped-def]
    r = assess_dsa(sab(("DR4", 12500)), DONOR, reducer)
    assert r.status is DsaStatus.POSITIVE
    assert [h.donor_typing for h in r.antibodies] == ["DRB1*04:01"]


def test_dq_heterodimer(reducer) -> None:  # type: ignore[no-untyped-def]
    r = assess_dsa(sab(("DQA1*05:01/DQB1*02:01", 6000)), DONOR, reducer)
    [hit] = r.antibodies
    assert (hit.level, hit.certainty, hit.donor_typing) == (
        "heterodimer", "possible", "DQA1*05:01+DQB1*02:01")
    no_dqa1 = phenotype_from_mapping({"DQB1": ["DQB1*02:01", "DQB1*03:01"]})
    r2 = assess_dsa(sab(("DQA1*05:01/DQB1*02:01", 6000)), no_dqa1, reducer)
    assert r2.status is DsaStatus.NOT_ASSESSABLE and "DQA1" in r2.not_assessable[0]


def test_low_resolution_donor_is_compared_at_antigen_level(reducer) -> None:  # type: ignore[no-untyped-def]
    donor = phenotype_from_mapping({"A": ["A2", "A24"]})
    [hit] = assess_dsa(sab(("A*24:02", 8500)), donor, reducer).antibodies
    assert (hit.donor_typing, hit.level, hit.certainty) == ("A24", "antigen", "possible")


def test_not_assessable_and_negative(reducer) -> None:  # type: ignore[no-untyped-def]
    assert assess_dsa(None, DONOR, reducer).status is DsaStatus.NOT_ASSESSABLE
    untyped_c = assess_dsa(sab(("Cw7", 4000)), DONOR, reducer)
    assert untyped_c.status is DsaStatus.NOT_ASSESSABLE
    assert untyped_c.not_assessable == ("Cw7 (donor untyped at C)",)
    assert assess_dsa(sab(("A*01:01", 9000)), DONOR, reducer).status is DsaStatus.NEGATIVE
    # the laboratory's positivity cut-off, when the rule set gives one
    assert assess_dsa(sab(("A*24:02", 800)), DONOR, reducer,
                      positive_mfi=1000).status is DsaStatus.NEGATIVE


def test_null_donor_allele_is_not_a_target(reducer) -> None:  # type: ignore[no-untyped-def]
    donor = phenotype_from_mapping({"A": ["A*24:09N", "A*02:01"]})
    assert assess_dsa(sab(("A24", 9000)), donor, reducer).status is DsaStatus.NEGATIVE
