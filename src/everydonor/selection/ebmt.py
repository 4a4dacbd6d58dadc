"""EBMT consensus on haploidentical donor selection (Ciurea SO et al. BMT 2020), as a rule set.

The consensus's existence, scope and variables (DSA, donor age, donor/recipient sex and ABO, NK
alloreactivity / KIR) are confirmed [S]; its actual order — DSA first; younger; male; avoid a
major ABO mismatch with bone-marrow grafts; a CMV-positive donor for a CMV-positive recipient;
KIR only for T-cell-depleted grafts — is not yet checked against the full text and is [M]
throughout (``../shared/spec/clinical-beijing.md`` §4.3). The DSA numbers (positive > 1,000;
> 5,000 high graft-failure risk, strongly consider another donor) are [M] (§1.4).
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
    CIUREA_2018,
    CIUREA_2020,
    EBMT_2017,
    MCCURDY_2018,
    MDACC_2021,
    SFGMTC_2020,
)

S, SP, M = Confidence.CONFIRMED, Confidence.PARTLY_CONFIRMED, Confidence.TO_VERIFY


_CRITERIA = (
    Criterion("dsa", "dsa",
              "Donor-specific antibodies first: DSA above MFI 5,000 (especially C1q-positive) "
              "carry a high risk of graft failure — strongly consider another donor; "
              "desensitise when there is no alternative, and re-test.",
              (CIUREA_2018, CIUREA_2020), M,
              "Thresholds differ: Beijing excludes from 10,000; MDACC desensitises below "
              "~20,000; laboratories call positivity from 500 to 2,000.",
              disputed_for=("positive", "high_risk", "exclusion"),
              disputed_by=(CHANG_2015_DSA, MDACC_2021)),
    Criterion("donor_age", "donor_age",
              "Younger donor preferred (no age cut-off stated in the abstract).",
              (CIUREA_2020,), M,
              "PTCy data: the donor-age effect disappeared after adjusting for patient age "
              "(McCurdy 2018).",
              disputed_for=("older",), disputed_by=(MCCURDY_2018,)),
    Criterion("donor_sex", "donor_sex",
              "Male donor preferred (SFGM-TC: the ideal donor is a young man).",
              (CIUREA_2020, SFGMTC_2020), M),
    Criterion("abo", "abo",
              "Avoid a major ABO mismatch, especially with bone-marrow grafts (the case does not "
              "record the graft source: applied to every donor).",
              (CIUREA_2020, CANAANI_ABO), M),
    Criterion("cmv", "cmv_positive_for_positive",
              "A CMV-positive donor for a CMV-positive recipient.", (CIUREA_2020,), M,
              "SFGM-TC 2020: 'CMV-matched' ideal; age, sex, CMV and ABO 'impossible to "
              "prioritise'.",
              disputed_for=("negative_for_positive",), disputed_by=(SFGMTC_2020,)),
    Criterion("hla_matches_unrelated", "hla_matches_unrelated",
              "Among unrelated donors, fewer HLA mismatches first; not a haploidentical "
              "criterion (SFGM-TC 2020: number of HLA mismatches not a criterion).",
              (SFGMTC_2020,), M),
)

EBMT_2020 = RuleSet(
    name="ebmt", version="ebmt-haplo-2020-1", platform="EBMT haplo (platform-independent)",
    guideline="EBMT consensus on haplo donor selection (Ciurea SO et al. BMT 2020)",
    summary="EBMT consensus donor selection for haploidentical transplantation [M: order not "
            "yet verified in the full text]",
    hierarchy=(DonorType.MATCHED_SIBLING, DonorType.MATCHED_RELATED,
               DonorType.MATCHED_UNRELATED, DonorType.HAPLOIDENTICAL_RELATED,
               DonorType.MISMATCHED_UNRELATED, DonorType.MISMATCHED_RELATED),
    hierarchy_citation=Citation(f"{EBMT_2017.text}: EBMT analyses still place matched related "
                                "and matched unrelated donors first in general"),
    hierarchy_confidence=SP,
    hierarchy_references=(EBMT_2017,),
    criteria=_CRITERIA,
    parameters=Parameters(dsa_exclude_mfi=5_000.0, dsa_high_risk_mfi=None,
                          dsa_positive_mfi=1_000.0, young_donor_age=None,
                          offspring_first_patient_age=None),
    parameter_sources=(
        ParameterSource("dsa_exclude_mfi = 5000", CIUREA_2018.text, M),
        ParameterSource("dsa_positive_mfi = 1000", CIUREA_2018.text + " (varies by laboratory)",
                        M),
        ParameterSource("matched_unrelated_loci = A, B, C, DRB1", "8/8 high-resolution "
                        "convention", M),
    ),
    references=(CIUREA_2020, CIUREA_2018, SFGMTC_2020, CANAANI_ABO, EBMT_2017),
    reads=("patient: sex, ABO, CMV IgG, anti-HLA antibodies (single-antigen beads, MFI, C1q)",
           "each donor: relationship, HLA typing, age, sex, ABO, CMV IgG, medically_eligible, "
           "desensitization_plan"),
    notes=("Every criterion of this rule set is [M]: the consensus order has not been checked "
           "against the full text.",
           "KIR/NK alloreactivity is an EBMT criterion for T-cell-depleted grafts only; not "
           "weighed here (T-cell-replete platforms)."),
)
