"""``everydonor match``: every candidate donor of a case compared with the patient.

One entry per relative and per unrelated candidate (``../shared/spec/case-format.md``): HLA by
locus and direction, DPB1 TCE permissiveness, KIR-ligand mismatch in the GvH direction,
donor-specific antibodies, ABO, CMV serostatus pair and donor→recipient sex. Pure: the TCE and
KIR tables are built by ``everydonor.adapters.reference.imgt`` and passed in.
"""

from __future__ import annotations

from typing import Any

from everydonor.case import Case, Person, check_typings, release_flags
from everydonor.errors import InputError
from everydonor.hla.genotype import Phenotype
from everydonor.hla.kir import KIR_CONFIDENCE, KirTable, kir_ligand_mismatch_gvh, ligand_groups
from everydonor.hla.locus import Locus
from everydonor.hla.reduction import Reducer
from everydonor.hla.tce import TCE_CONFIDENCE, TceOutcome, TceTable, tce_outcome
from everydonor.matching.compatibility import (
    HlaComparison,
    abo_compatibility,
    cmv_pair,
    compare_hla,
    sex_pair,
)
from everydonor.matching.dsa import assess_dsa


def kir_groups(phenotype: Phenotype | None, kir: KirTable, reducer: Reducer) -> set[str] | None:
    """The KIR-ligand groups (C1, C2, Bw4) a person carries; None if A, B or C is unknown."""
    if phenotype is None:
        return None
    ligands = []
    for locus in (Locus.A, Locus.B, Locus.C):
        options = phenotype.loci.get(locus)
        if not options or len(options) > 1:
            return None
        ligands += [kir.ligand_of(reducer.alleles_of(t)) for t in options[0].typings]
    return ligand_groups(ligands)


def dpb1_tce(patient: Phenotype, donor: Phenotype, comparison: HlaComparison, tce: TceTable,
             reducer: Reducer) -> TceOutcome:
    locus = comparison.loci.get(Locus.DPB1)
    if locus is None:
        return TceOutcome.UNKNOWN
    matched = locus.gvh == 0 and locus.hvg == 0 and not locus.ambiguous

    def groups(p: Phenotype) -> list[Any]:
        return [tce.group_of(reducer.alleles_of(t)) for t in p.loci[Locus.DPB1][0].typings]

    return tce_outcome(groups(patient), groups(donor), dpb1_matched=matched)


def compare_donor(patient: Person, donor: Person, reducer: Reducer, tce: TceTable,
                  kir: KirTable, *, dsa_positive_mfi: float | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": donor.id}
    if donor.relationship is not None:
        entry["relationship"] = donor.relationship.value
    else:
        entry["registry"] = donor.registry
        entry["donor_id"] = donor.donor_id
    assert patient.hla is not None
    if donor.hla is None or not donor.hla.loci:
        entry.update({"hla": None, "dpb1_tce": TceOutcome.UNKNOWN.value,
                      "kir_ligand_mismatch_gvh": None,
                      "dsa": assess_dsa(patient.antibodies, None, reducer).to_dict()})
        entry["notes"] = ["donor not HLA typed"]
    else:
        comparison = compare_hla(patient.hla, donor.hla, reducer)
        entry["hla"] = comparison.to_dict()
        entry["dpb1_tce"] = dpb1_tce(patient.hla, donor.hla, comparison, tce, reducer).value
        r_kir, d_kir = kir_groups(patient.hla, kir, reducer), kir_groups(donor.hla, kir, reducer)
        entry["kir_ligand_mismatch_gvh"] = kir_ligand_mismatch_gvh(r_kir, d_kir)
        entry["kir_ligands"] = {"recipient": sorted(r_kir) if r_kir is not None else None,
                                "donor": sorted(d_kir) if d_kir is not None else None}
        entry["dsa"] = assess_dsa(patient.antibodies, donor.hla, reducer,
                                  positive_mfi=dsa_positive_mfi).to_dict()
    abo = abo_compatibility(patient.abo, donor.abo)
    entry["abo"] = abo.value if abo else None
    entry["cmv"] = cmv_pair(patient.cmv_igg.value if patient.cmv_igg else None,
                            donor.cmv_igg.value if donor.cmv_igg else None)
    entry["sex"] = sex_pair(patient.sex.value if patient.sex else None,
                            donor.sex.value if donor.sex else None)
    return entry


def match_case(case: Case, reducer: Reducer, tce: TceTable, kir: KirTable, *,
               dsa_positive_mfi: float | None = None) -> dict[str, Any]:
    """The ``everydonor match`` answer for every relative and unrelated candidate."""
    if case.patient.hla is None or not case.patient.hla.loci:
        raise InputError("the patient has no HLA typing", person=case.patient.id, field="hla")
    check_typings(case, reducer.alleles_of)  # an HLA error names the person and the field
    donors = [compare_donor(case.patient, p, reducer, tce, kir,
                            dsa_positive_mfi=dsa_positive_mfi)
              for p in (*case.relatives, *case.unrelated)
              if p.relationship is None or p.relationship.value != "partner"]
    return {
        "release": reducer.release,
        "patient": case.patient.id,
        "donors": donors,
        "confidence": {"dpb1_tce": TCE_CONFIDENCE, "kir_ligands": KIR_CONFIDENCE},
        "dsa_positive_mfi": dsa_positive_mfi,
        "warnings": [*case.warnings, *release_flags(case, reducer.release)],
    }
