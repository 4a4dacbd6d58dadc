"""Baltimore / Johns Hopkins post-transplant cyclophosphamide (PTCy) platform donor selection.

Source of every row: ``../shared/spec/clinical-beijing.md`` §1.3, §1.4, §4.1 and §6. The JHU
prioritisation schema (DeZern AE et al.) has not been checked in full text, so its order is [M];
the kinship rule rests on McCurdy SR et al. Blood Adv 2018 [S]. KIR is not weighed: the PTCy
evidence concerns donor inhibitory-KIR genotype and KIR B haplotypes, which a case file does not
carry, and the ATG-platform KIR-ligand rule points the other way.
"""

from __future__ import annotations

from everydonor.selection.rules import (
    Citation,
    Confidence,
    Criterion,
    DonorType,
    Parameters,
    ParameterSource,
    RuleSet,
)
from everydonor.selection.sources import (
    CANAANI_ABO,
    CHANG_2015_DSA,
    CHANG_2016,
    CIBMTR_2015,
    CIUREA_2018,
    CIUREA_2020,
    DEZERN,
    EBMT_2017,
    KASAMON_2010,
    LUZNIK_2008,
    MARIOTTI_2020,
    MCCURDY_2018,
    MDACC_2021,
    SFGMTC_2020,
)

S, SP, M = Confidence.CONFIRMED, Confidence.PARTLY_CONFIRMED, Confidence.TO_VERIFY


_CRITERIA = (
    Criterion("dsa", "dsa",
              "Absence of donor-specific antibodies is the main criterion. DSA at or above "
              "20,000 MFI excludes the donor unless a desensitisation plan is recorded "
              "(desensitisation worked below ~20,000 MFI when C1q cleared); weaker DSA ranks "
              "below a DSA-negative donor.",
              (MDACC_2021, CIUREA_2018, SFGMTC_2020), SP,
              "EBMT numbers (positive > 1,000; high risk > 5,000, C1q+) are [M]; Beijing "
              "excludes from 10,000.",
              disputed_for=("positive", "high_risk", "exclusion"),
              disputed_by=(CIUREA_2018, CHANG_2015_DSA)),
    Criterion("non_parent", "non_parent",
              "Siblings and children before parents: parent donors had more graft failure "
              "(14% vs 6-7%) after PTCy.",
              (MCCURDY_2018,), S,
              "Italian PTCy data: a parent donor for recipients <= 40 y gave more relapse; "
              "mothers worse than fathers.",
              # same direction as McCurdy 2018 (parents last): a note, it concerns no donor
              disputed_by=(MARIOTTI_2020,)),
    Criterion("donor_age_band", "donor_age_band",
              "Younger donor (< 30 years) preferred in the JHU prioritisation schema.",
              (DEZERN, MCCURDY_2018), M,
              "Disputed on PTCy: the donor-age effect (HR 1.39 for >= 30 y) disappeared after "
              "adjusting for patient age (McCurdy 2018); older donors gave less relapse in "
              "Italian data.",
              disputed_for=("older",), disputed_by=(MCCURDY_2018, MARIOTTI_2020)),
    Criterion("donor_sex", "donor_sex",
              "Male donor preferred in the JHU prioritisation schema.",
              (DEZERN,), M,
              "Female-to-male gave more moderate-severe chronic GVHD in Italian PTCy data.",
              # the Italian data penalise a female donor only for a male patient
              disputed_for=("female_to_female",), disputed_by=(MARIOTTI_2020,)),
    Criterion("abo", "abo",
              "ABO compatible before minor, major and bidirectional mismatch: major mismatch "
              "lowered day-100 engraftment; with bone-marrow grafts it worsened OS.",
              (CANAANI_ABO, DEZERN), S),
    Criterion("cmv", "cmv_match",
              "CMV-matched donor preferred (secondary factor).",
              (SFGMTC_2020, DEZERN), SP,
              "JHU (928 patients): donor CMV serostatus was not associated with survival or "
              "graft failure.",
              disputed_for=("mismatched",), disputed_by=(MCCURDY_2018,)),
    Criterion("hla_matches_unrelated", "hla_matches_unrelated",
              "Among unrelated donors, fewer HLA mismatches first. Not used among relatives: "
              "greater HLA mismatch did not worsen outcome after haplo-PTCy.",
              (KASAMON_2010,), M),
    Criterion("donor_age", "donor_age",
              "Youngest donor first within the same band.",
              (DEZERN,), M),
)

BALTIMORE_PTCY = RuleSet(
    name="baltimore", version="jhu-ptcy-1", platform="Baltimore/JHU PTCy",
    guideline="JHU PTCy practice (Luznik 2008; McCurdy 2018; DeZern prioritisation [M])",
    summary="Post-transplant cyclophosphamide platform donor selection (Johns Hopkins)",
    hierarchy=(DonorType.MATCHED_SIBLING, DonorType.MATCHED_RELATED,
               DonorType.MATCHED_UNRELATED, DonorType.HAPLOIDENTICAL_RELATED,
               DonorType.MISMATCHED_UNRELATED, DonorType.MISMATCHED_RELATED),
    hierarchy_citation=Citation(f"{EBMT_2017.text}; {CIBMTR_2015.text}: EBMT/CIBMTR analyses "
                                "still place matched related and matched unrelated donors first in general"),
    hierarchy_confidence=SP,
    hierarchy_references=(EBMT_2017, CIBMTR_2015),
    criteria=_CRITERIA,
    parameters=Parameters(dsa_exclude_mfi=20_000.0, dsa_high_risk_mfi=5_000.0,
                          offspring_first_patient_age=None),
    parameter_sources=(
        ParameterSource("dsa_exclude_mfi = 20000", MDACC_2021.text, S),
        ParameterSource("dsa_high_risk_mfi = 5000", CIUREA_2018.text, M),
        ParameterSource("dsa_positive_mfi = laboratory's call", "laboratory cut-off", M),
        ParameterSource("young_donor_age = 30", MCCURDY_2018.text, S),
        ParameterSource("matched_unrelated_loci = A, B, C, DRB1", "8/8 high-resolution "
                        "convention", M),
    ),
    references=(LUZNIK_2008, MCCURDY_2018, DEZERN, MDACC_2021, CIUREA_2018, CIUREA_2020,
                CANAANI_ABO, SFGMTC_2020, MARIOTTI_2020, EBMT_2017, CHANG_2016),
    reads=("patient: age, sex, ABO, CMV IgG, anti-HLA antibodies (single-antigen beads, MFI, "
           "C1q)",
           "each donor: relationship, HLA typing (segregated with the family), age, sex, ABO, "
           "CMV IgG, medically_eligible, desensitization_plan"),
    notes=("KIR not weighed: PTCy evidence (inhibitory-KIR mismatch, KIR B haplotype donors "
           "favourable; Chang 2016 Table 2 [S]) needs donor KIR genotyping, which the case does "
           "not carry; the ATG-platform KIR-ligand rule points the other way.",
           "Recipients 55-76 y: offspring donors inferior to a matched sibling (PMC5998932 [S]) "
           "— the matched sibling stays first.",
           "Ranking = exclusions -> donor-type hierarchy -> criteria in order; the first "
           "criterion on which two donors differ decides."),
)
