"""Beijing Protocol (G-CSF-primed grafts + ATG, "GIAC") donor selection.

Two guideline versions: ``beijing`` (alias ``beijing@csh2021``), the Chinese Society of
Hematology consensus 2021 update, which prefers a haploidentical donor over a matched sibling for
high-risk leukaemia or an elderly patient with a young offspring donor in experienced centres;
and ``beijing@csh2018``, the earlier algorithm with the matched sibling always first. The order
among haploidentical relatives is reconstructed from Wang Y et al. Blood 2014 and Chang YJ et al.
JHO 2016 (Table 2); the algorithm figure itself has not been checked ([S-part]).
Source of every row: ``../shared/spec/clinical-beijing.md`` §1.
"""

from __future__ import annotations

from everydonor.selection.rules import (
    Citation,
    Confidence,
    Criterion,
    DonorType,
    HaploOverSibling,
    Parameters,
    ParameterSource,
    RuleSet,
)
from everydonor.selection.sources import (
    CANAANI_ABO,
    CHANG_2015_DSA,
    CHANG_2016,
    CIUREA_2018,
    COHORT_512,
    COLLATERAL_PRACTICE,
    CSH_2018,
    CSH_2021,
    HUANG_2007_KIR,
    LV_2019,
    MARIOTTI_2020,
    MCCURDY_2018,
    MDACC_2021,
    SFGMTC_2020,
    STERN_2008,
    WANG_2014,
    WANG_2018,
)

S, SP, M = Confidence.CONFIRMED, Confidence.PARTLY_CONFIRMED, Confidence.TO_VERIFY


DSA = Criterion(
    "dsa", "dsa",
    "Donor-specific anti-HLA antibodies: a DSA-negative donor comes first. DSA at or above the "
    "rejection band (MFI 10,000) was associated with primary graft rejection and excludes the "
    "donor unless a desensitisation plan is recorded; weaker DSA ranks below a DSA-negative "
    "donor (MFI >= 2,000 was associated with poor graft function [M]).",
    (CHANG_2015_DSA, CIUREA_2018), S,
    "DSA thresholds are not standardised: Beijing >= 10,000 rejection [S], >= 2,000 poor graft "
    "function [M]; MDACC desensitises below ~20,000; laboratory cut-offs range 500-2,000.",
    disputed_for=("positive", "high_risk", "exclusion"), disputed_by=(MDACC_2021, CIUREA_2018))
AGE_BAND = Criterion(
    "donor_age_band", "donor_age_band",
    "Younger donors (< 30 years) had less grade 2-4 acute GVHD and NRM and better overall "
    "survival on the G-CSF/ATG platform.",
    (WANG_2014, CHANG_2016), S,
    "Platform-dependent: on PTCy the donor-age effect disappeared after adjusting for patient "
    "age (McCurdy 2018); Italian PTCy data: older donors, more aGVHD but less relapse.",
    disputed_for=("older",), disputed_by=(MCCURDY_2018, MARIOTTI_2020))
SEX = Criterion(
    "donor_sex", "donor_sex",
    "Male donors had less NRM (HR 0.65) and better overall survival (HR 0.73).",
    (WANG_2014,), S)
KINSHIP = Criterion(
    "kinship", "kinship_beijing",
    "Children and siblings before parents, father before mother (father: less NRM, less aGVHD, "
    "better OS); maternal donors had more GVHD and NRM. For patients >= 35 years offspring "
    "before siblings (NRM); collateral relatives last.",
    (WANG_2014, CHANG_2016, COHORT_512), SP,
    "Collateral relatives ranked last is practice without an identified source [M]; mother "
    "as donor is favoured in T-cell-depleted haplo (Stern 2008 [M]).",
    disputed_for=("mother", "collateral"), disputed_by=(STERN_2008,))
FIRST_DEGREE = Criterion(
    "first_degree", "first_degree",
    "First-degree relatives (parents, siblings, children) before collateral relatives (uncles, "
    "aunts, cousins, nephews, nieces, grandparents): collaterals serve when no suitable "
    "first-degree relative exists.",
    (COLLATERAL_PRACTICE,),
    M,
    "No supporting guideline identified yet; outcomes with collateral donors are reported as "
    "acceptable by Chinese centres.", disputed_for=("collateral",))
NIMA = Criterion(
    "sibling_nima", "sibling_nima",
    "Among siblings, a NIMA-mismatched sibling (sharing the patient's paternal haplotype) before "
    "a NIPA-mismatched one: NIMA-mismatched siblings had the lowest acute GVHD.",
    (WANG_2014,), S,
    "SFGM-TC 2020 judges KIR/NIMA/NIPA data insufficient to rank on.",
    disputed_for=("NIPA",), disputed_by=(SFGMTC_2020,))
F_TO_M = Criterion(
    "female_to_male", "female_to_male",
    "Female donor to male recipient is avoided where an alternative exists: more grade 2-4 "
    "acute GVHD and NRM (a TRM factor in the Beijing risk score).",
    (CHANG_2016, WANG_2018, COHORT_512), S)
CMV = Criterion(
    "cmv", "cmv_match",
    "CMV-matched donor preferred (secondary factor). The Beijing sources give no specific CMV "
    "donor rule; this follows the SFGM-TC 'ideal donor' statement.",
    (SFGMTC_2020,), SP,
    "No Beijing CMV rule identified; PTCy data found donor CMV serostatus unrelated to survival.",
    disputed_for=("mismatched",), disputed_by=(MCCURDY_2018,))
ABO = Criterion(
    "abo", "abo",
    "ABO compatible before minor, major and bidirectional mismatch (secondary factor): major "
    "mismatch is a TRM factor in the Beijing risk score; bidirectional mismatch gave more "
    "grade II-IV aGVHD in EBMT haplo data.",
    (WANG_2018, CANAANI_ABO), S)
KIR = Criterion(
    "kir", "kir_ligand_gvh_avoid",
    "On the ATG platform a KIR-ligand mismatch (GvH direction) was associated with inferior "
    "survival: a donor without it is preferred (secondary factor, weak evidence).",
    (CHANG_2016, HUANG_2007_KIR), S,
    "Opposite direction on other platforms: KIR-ligand/inhibitory-KIR mismatch is beneficial "
    "with T-cell depletion (Perugia) and PTCy.",
    disputed_for=("mismatch",), disputed_by=(CHANG_2016,))
HLA_UNRELATED = Criterion(
    "hla_matches_unrelated", "hla_matches_unrelated",
    "Among unrelated donors, fewer HLA mismatches (A, B, C, DRB1, DQB1) first. Not used among "
    "relatives: the number of HLA mismatches is not a haploidentical selection criterion.",
    (WANG_2014,), M,
    "The unrelated-donor matching order is not in the Beijing reference; verify.")
AGE = Criterion(
    "donor_age", "donor_age",
    "Youngest donor first within the same band (donor age as a continuous risk: worse OS and "
    "more grade 3-4 aGVHD per year).",
    (COHORT_512,), S)

_CRITERIA = (DSA, FIRST_DEGREE, AGE_BAND, SEX, KINSHIP, NIMA, F_TO_M, CMV, ABO, KIR, HLA_UNRELATED, AGE)

_PARAMETER_SOURCES = (
    ParameterSource("dsa_exclude_mfi = 10000", CHANG_2015_DSA.text, S),
    ParameterSource("dsa_high_risk_mfi = 2000", CHANG_2015_DSA.text + " (not in the abstract)",
                    M),
    ParameterSource("dsa_positive_mfi = laboratory's call", "not set by the sources; the "
                    "laboratory's own cut-off applies (500-2,000 in practice)", M),
    ParameterSource("dsa_c1q_escalates", CIUREA_2018.text + " (encoding proposal)", M),
    ParameterSource("young_donor_age = 30", CHANG_2016.text, S),
    ParameterSource("offspring_first_patient_age = 35", COHORT_512.text, S),
    ParameterSource("elderly_patient_age = not set", CSH_2021.text + ": the abstract names "
                    "'elderly patients' without an age; set it for your centre", M),
    ParameterSource("matched_unrelated_loci = A, B, C, DRB1", "8/8 high-resolution "
                    "convention; not in the Beijing reference", M),
)

_READS = (
    "patient: age, sex, diagnosis and disease_risk (for the CSH 2021 switch), ABO, CMV IgG, "
    "anti-HLA antibodies (single-antigen beads, MFI, C1q)",
    "each donor: relationship, HLA typing (segregated with the family), age, sex, ABO, CMV IgG, "
    "medically_eligible, desensitization_plan",
    "centre: haplo_experienced (for the CSH 2021 switch)",
)

_NOTES = (
    "Ranking = exclusions (medically ineligible; DSA in the rejection band without a "
    "desensitisation plan) -> donor-type hierarchy -> the criteria in order; the first "
    "criterion on which two donors differ decides.",
    "Donor weight: no Beijing rule identified [M]; shown, not weighed.",
    "The Beijing 3-factor TRM risk score (Wang Y et al. Leukemia 2018: older donor/recipient "
    "age, female->male, ABO major mismatch) is not computed as a tie-break: its age cut-offs "
    "are not yet confirmed; its two other factors are criteria here.",
    "Number of HLA mismatches is not a haploidentical selection criterion (Wang Y Blood 2014 "
    "[S]).",
)

BEIJING_CSH2021 = RuleSet(
    name="beijing", version="csh2021-1", platform="Beijing G-CSF/ATG (GIAC)",
    guideline="CSH consensus 2021 update (Zhang XH et al. JHO 2021;14:145)",
    summary="Beijing Protocol donor selection, Chinese Society of Hematology 2021 update",
    hierarchy=(DonorType.MATCHED_SIBLING, DonorType.MATCHED_RELATED,
               DonorType.HAPLOIDENTICAL_RELATED, DonorType.MATCHED_UNRELATED,
               DonorType.MISMATCHED_UNRELATED, DonorType.MISMATCHED_RELATED),
    hierarchy_citation=Citation(f"{CSH_2018.text}; {CSH_2021.text}; {LV_2019.text} "
                                "(haploidentical as the first alternative donor)"),
    hierarchy_confidence=SP,
    hierarchy_references=(CSH_2018, CSH_2021, LV_2019),
    criteria=_CRITERIA, parameters=Parameters(), parameter_sources=_PARAMETER_SOURCES,
    references=(CSH_2021, CSH_2018, WANG_2014, CHANG_2016, CHANG_2015_DSA, WANG_2018,
                COHORT_512, CANAANI_ABO, SFGMTC_2020, CIUREA_2018, LV_2019),
    reads=_READS,
    haplo_over_sibling=HaploOverSibling(high_risk_leukaemia=True,
                                        elderly_with_young_offspring=True,
                                        requires_experienced_centre=True, citation=CSH_2021,
                                        confidence=S),
    notes=_NOTES,
)

BEIJING_CSH2018 = RuleSet(
    name="beijing@csh2018", version="csh2018-1", platform="Beijing G-CSF/ATG (GIAC)",
    guideline="CSH consensus 2018 (Xu L et al. JHO 2018)",
    summary="Beijing Protocol donor selection, CSH 2018 algorithm (matched sibling first)",
    hierarchy=BEIJING_CSH2021.hierarchy,
    hierarchy_citation=Citation(f"{CSH_2018.text}; {CSH_2021.text} (the 2018 algorithm "
                                "'favored MSDs over HIDs')"),
    hierarchy_confidence=S,
    hierarchy_references=(CSH_2018, CSH_2021),
    criteria=_CRITERIA, parameters=Parameters(), parameter_sources=_PARAMETER_SOURCES,
    references=BEIJING_CSH2021.references,
    reads=tuple(r.replace(" and disease_risk (for the CSH 2021 switch)", "")
                for r in _READS if not r.startswith("centre")),
    notes=_NOTES,
)
