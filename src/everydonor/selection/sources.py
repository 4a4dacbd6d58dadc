"""The published sources the rule sets cite, each written once (text as in
``../shared/spec/clinical-beijing.md`` §7; ``[M]`` inside a text marks a detail not yet
verified).

A source that cannot yet be cited as a reference — authors or journal not identified, the primary
paper not checked, or not in the project's clinical sources at all — carries ``unverified`` (why):
reports show it as unverified [M] evidence in its own section, never in the reference list.
"""

from __future__ import annotations

from everydonor.selection.rules import Citation

# Beijing / Chinese Society of Hematology
WANG_2014 = Citation("Wang Y, Chang YJ, Xu LP, et al. Blood 2014;124(6):843-850",
                     "https://ashpublications.org/blood/article/124/6/843")
CHANG_2016 = Citation("Chang YJ, Luznik L, Fuchs EJ, Huang XJ. J Hematol Oncol 2016;9:35, "
                      "Table 2", "https://pmc.ncbi.nlm.nih.gov/articles/PMC4830035")
CHANG_2015_DSA = Citation("Chang YJ, Zhao XY, Xu LP, et al. J Hematol Oncol 2015 (DSA, 345 "
                          "haplo recipients)", "https://www.springermedizin.de/9777526")
CSH_2018 = Citation("Xu L, Chen H, Chen J, et al. (CSH) J Hematol Oncol 2018;11:33",
                    "https://jhoonline.biomedcentral.com/articles/10.1186/s13045-018-0564-x")
CSH_2021 = Citation("Zhang XH, Chen J, Han MZ, et al. (CSH 2021 update) J Hematol Oncol "
                    "2021;14:145", "https://pmc.ncbi.nlm.nih.gov/articles/PMC8441240")
LV_2019 = Citation("Lv M, Chang YJ, Huang XJ. Front Med 2019;13:45-56",
                   "https://rd.springer.com/article/10.1007%2Fs11684-017-0595-7")
COHORT_512 = Citation("Prospective cohort of 512 ATG-based haplo recipients (journal probably "
                      "Br J Haematol; authors not yet identified)",
                      "https://biomed.reviewer.ly/app/publication/"
                      "9c451f36-7648-4536-a475-25d3d6d64121", short="512-patient ATG cohort",
                      unverified="authors and journal not yet identified: only an abstract "
                      "(biomed.reviewer.ly) and a summary (physiciansweekly.com) were seen")
WANG_2018 = Citation("Wang Y et al. Leukemia 2018;32:492 (3-factor TRM risk score)",
                     "https://www.nature.com/articles/leu2017199")
HUANG_2007_KIR = Citation("Huang XJ et al. Leukemia 2007 [M]",
                          unverified="primary paper not checked (cited through Chang 2016 "
                          "Table 2); title, volume and pages not confirmed")
STERN_2008 = Citation("Stern M et al. Blood 2008 [M]",
                      unverified="not checked against the primary source (mother as donor in "
                      "T-cell-depleted haplo)")
COLLATERAL_PRACTICE = Citation("Beijing practice; reduced-ATG + mini-PTCy trial excluding "
                               "maternal and collateral donors (trialx.com listing 300439)",
                               short="practice, trial listing 300439")

# Europe
CIUREA_2018 = Citation("Ciurea SO et al. (EBMT DSA consensus) Bone Marrow Transplant "
                       "2018;53:521-534", "https://pmc.ncbi.nlm.nih.gov/articles/PMC7232774/")
CIUREA_2020 = Citation("Ciurea SO, Al Malki MM, Kongtim P, et al. (EBMT haplo donor selection) "
                       "Bone Marrow Transplant 2020;55:12-24",
                       "https://doi.org/10.1038/s41409-019-0499-z")
SFGMTC_2020 = Citation("Dubois V et al. (SFGM-TC) Bull Cancer 2020;107(1)",
                       "https://yiyunmed.com/literature/fileenw?id=31586527")
CANAANI_ABO = Citation("EBMT-ALWP, 837 haplo AML (Canaani J et al. [authors M]); PMC5451338",
                       "https://pmc.ncbi.nlm.nih.gov/articles/PMC5451338", short="EBMT-ALWP ABO")
EBMT_2017 = Citation("EBMT poor-risk AML donor types, Blood Adv 2017;1:477",
                     short="EBMT Blood Adv 2017")
MARIOTTI_2020 = Citation("Italian PTCy cohort, 990 patients, Blood Adv 2020;4:3900")

# Baltimore / United States
LUZNIK_2008 = Citation("Luznik L, O'Donnell PV, Symons HJ, et al. Biol Blood Marrow Transplant "
                       "2008;14:641-650")
MCCURDY_2018 = Citation("McCurdy SR et al. Blood Adv 2018;2:299 (928 PTCy patients)")
DEZERN = Citation("DeZern AE et al. JHU prioritisation schema (Transplant Cell Ther ~2021) "
                  "[M: not yet checked]", short="DeZern ~2021",
                  unverified="full text not checked; journal and year not confirmed")
MDACC_2021 = Citation("Desensitisation series, Blood Adv 2021;5:4031")
CIBMTR_2015 = Citation("CIBMTR haplo-PTCy vs MUD, Blood 2015;126:1033")
KASAMON_2010 = Citation("Kasamon YL et al. Biol Blood Marrow Transplant 2010 [M]",
                        unverified="not checked against the primary source; volume and pages "
                        "not confirmed")
WBMT_2022 = Citation("Worel N et al. (WBMT donor issues committee) Lancet Haematol 2022 "
                     "[M for journal]", short="WBMT 2022")

# HLA typing practice (not in the project's clinical sources: [M] until checked)
HURLEY_1999 = Citation("Hurley CK et al. (WMDA) Histocompatibility testing guidelines for "
                       "hematopoietic stem cell transplantation using volunteer donors. Tissue "
                       "Antigens 1999;53:394-406",
                       "https://doi.org/10.1034/j.1399-0039.1999.530414.x",
                       unverified="not in the project's clinical sources (clinical-beijing.md); "
                       "recommends typing the patient and the selected donor on fresh samples to "
                       "ensure HLA identity — to be checked")
BSHI_2016 = Citation("BSHI guideline: HLA matching and donor selection for haematopoietic "
                     "progenitor cell transplantation. Int J Immunogenet 2016;43(5)",
                     short="BSHI 2016",
                     unverified="not in the project's clinical sources (clinical-beijing.md); "
                     "related-donor typing recommendations not yet checked in the full text")
#: Confirmatory typing of the selected donor at every locus before donation (standard practice).
CONFIRMATORY_TYPING = (HURLEY_1999, BSHI_2016)
