"""Every coding system, code and display the FHIR bundle uses, and where each comes from.

Codes from outside the project are only those read in a published source (named beside each);
anything without a code we are sure of is in a local CodeSystem under :data:`LOCAL` (an
``urn:everydonor:fhir`` URI, the project's own namespace), never an invented LOINC or SNOMED code.
"""

from __future__ import annotations

from everydonor.hla.glsc import GLSC_SYSTEM, GLSC_SYSTEMS

__all__ = ["GLSC_SYSTEM", "GLSC_SYSTEMS"]

LOINC = "http://loinc.org"
#: nmdp-ig/matchsync-donor-ig ``NMDPHLAGenotype.fsh``: ``code = $loinc#84413-4``; also the HL7
#: Genomics Reporting IG's genotype examples and nmdp-ig/hla-reporting-ig's hla-genotype.
GENOTYPE_CODE = "84413-4"
GENOTYPE_DISPLAY = "Genotype display name"
#: Same profile: ``component[geneStudied].code = $loinc#48018-6 "Gene studied [ID]"``.
GENE_STUDIED_CODE = "48018-6"
GENE_STUDIED_DISPLAY = "Gene studied [ID]"
#: nmdp-bioinformatics/hla-reporting-ig ``Bundle-HLA-A-BundleExample1.json`` (the HLA summary
#: DiagnosticReport): LOINC 81247-9 and HGNC gene group 588.
REPORT_CODE = "81247-9"
REPORT_DISPLAY = "Master HL7 genetic variant reporting panel"
#: The LOINC codes this module writes (a test checks nothing else is emitted under LOINC).
LOINC_CODES = {GENOTYPE_CODE: GENOTYPE_DISPLAY, GENE_STUDIED_CODE: GENE_STUDIED_DISPLAY,
               REPORT_CODE: REPORT_DISPLAY}

#: HGNC gene ids (nmdp-bioinformatics/hla-reporting-ig ``CodeSystem-hla-genename-codesystem``,
#: url ``http://www.genenames.org/geneId``; the same system the HL7 Genomics Reporting IG uses).
HGNC_SYSTEM = "http://www.genenames.org/geneId"
HGNC_GENEGROUP_SYSTEM = "http://www.genenames.org/genegroup"
HLA_GENE_GROUP = ("588", "Histocompatibility complex (HLA)")
HGNC: dict[str, str] = {
    "A": "HGNC:4931", "B": "HGNC:4932", "C": "HGNC:4933", "DPA1": "HGNC:4938",
    "DPB1": "HGNC:4940", "DQA1": "HGNC:4942", "DQB1": "HGNC:4944", "DRB1": "HGNC:4948",
    "DRB3": "HGNC:4951", "DRB4": "HGNC:4952", "DRB5": "HGNC:4953",
}
LOCUS_OF_HGNC = {code: locus for locus, code in HGNC.items()}

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
#: The IPD-IMGT/HLA database as a coding system, and the R4 core extension that names the
#: allele database a typing was reported under (FHIR R4 ``hlaresult``; its context is
#: DiagnosticReport, which is where it is written: one report per person and release).
IMGT_HLA_SYSTEM = "http://www.ebi.ac.uk/ipd/imgt/hla"
ALLELE_DATABASE_EXTENSION = ("http://hl7.org/fhir/StructureDefinition/"
                             "hla-genotyping-results-allele-database")

#: HL7 v3 RoleCode (``http://terminology.hl7.org/CodeSystem/v3-RoleCode``), the codes of the
#: v3 FamilyMember value set for the case's relationships that have one. Half siblings,
#: partner and other_related have only the local code (:data:`RELATIONSHIP_SYSTEM`).
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
ROLE_CODES: dict[str, tuple[str, str]] = {
    "father": ("FTH", "father"), "mother": ("MTH", "mother"), "brother": ("BRO", "brother"),
    "sister": ("SIS", "sister"), "son": ("SONC", "son"), "daughter": ("DAUC", "daughter"),
    "grandfather": ("GRFTH", "grandfather"), "grandmother": ("GRMTH", "grandmother"),
    "uncle": ("UNCLE", "uncle"), "aunt": ("AUNT", "aunt"), "nephew": ("NEPHEW", "nephew"),
    "niece": ("NIECE", "niece"), "cousin": ("COUSN", "cousin"),
    "grandson": ("GRNDSON", "grandson"), "granddaughter": ("GRNDDAU", "granddaughter"),
}

#: FHIR administrative gender for the case's sex.
GENDER = {"male": "male", "female": "female"}

# -- local (everydonor) systems ------------------------------------------------------------------

LOCAL = "urn:everydonor:fhir"


def local_system(name: str) -> str:
    """A local CodeSystem / NamingSystem / extension URI: ``urn:everydonor:fhir:<name>``."""
    return f"{LOCAL}:{name}"


#: The patient's id in the bundle: the limited-profile export id (HMAC of the registry key;
#: ``exports.export_id``), so a registry can link a submission to the centre's research exports.
PATIENT_ID_SYSTEM = local_system("id:patient")
#: A donor's id: HMAC of the key, the patient's pseudonym and the donor's case id.
DONOR_ID_SYSTEM = local_system("id:donor")
HCT_NUMBER_SYSTEM = local_system("id:hct-number")
#: Which registry key made the ids (a check value, never the key), as a Bundle tag.
KEY_ID_SYSTEM = local_system("key-id")

RELATIONSHIP_SYSTEM = local_system("CodeSystem:relationship")
DONOR_ROLE_SYSTEM = local_system("CodeSystem:donor-role")
DONOR_TYPE_SYSTEM = local_system("CodeSystem:donor-type")
HCT_TYPE_SYSTEM = local_system("CodeSystem:hct-type")
GRAFT_SOURCE_SYSTEM = local_system("CodeSystem:graft-source")
OBSERVATION_SYSTEM = local_system("CodeSystem:observation")
EVENT_SYSTEM = local_system("CodeSystem:follow-up-event")
EVENT_FIELD_SYSTEM = local_system("CodeSystem:follow-up-field")
EVENT_VALUE_SYSTEM = local_system("CodeSystem:follow-up-value")
MEDICATION_PHASE_SYSTEM = local_system("CodeSystem:regimen-phase")
MATCH_SYSTEM = local_system("CodeSystem:hla-match")

#: The typing as the case file wrote it (locus key and the JSON value), so an import rebuilds
#: the case exactly; a bundle without it is read from the GL String Code alone.
CASE_TYPING_EXTENSION = local_system("StructureDefinition:case-typing")
#: The donor of a transplant (Procedure), the regimen a medication came from.
HCT_DONOR_EXTENSION = local_system("StructureDefinition:hct-donor")

#: Local observation codes.
MATCH_SUMMARY = ("hla-match-summary", "HLA match summary (donor vs recipient)")
