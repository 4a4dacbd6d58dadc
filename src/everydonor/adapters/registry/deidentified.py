"""The de-identified view of the registry: what a statistician may see (SR-06, SR-13).

No name, birth date, national id, UPN, case id, free-text note or exact date leaves this module:
a patient is named by a short form of its registry pseudonym (already an HMAC, SR-12), its age
by a five-year band (ages over 89 as "90+", Safe Harbor), a transplant by its year only, a donor
by its relation to the patient. Diagnosis, disease risk and status are coded fields of the case
format, not free text.

The activity table counts allogeneic and autologous transplants per year and donor relation,
centre by centre: the picture of a programme's growth. "Related" here is the donor's relation as
recorded, not an HLA match grade (a matched sibling and a haploidentical sibling are both
"sibling"); the match grade is the ranking's business and is not recomputed here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from everydonor.adapters.registry.models import Centre, Consent, Disease, Hct, Patient, Person

#: Characters of the pseudonym shown: enough to tell 10^6 patients apart, short enough to read.
PSEUDONYM_CHARS = 12
#: Donor relation groups, in the order the activity table shows them.
DONOR_GROUPS = ("sibling", "parent", "child", "other family", "unrelated", "autologous",
                "not recorded")
#: The case format's relationships (``case.Relationship``) by group; any other family member
#: (half-sibling, grandparent, uncle, cousin, partner...) is "other family".
_RELATIVE_GROUPS = {"brother": "sibling", "sister": "sibling", "father": "parent",
                    "mother": "parent", "son": "child", "daughter": "child"}


def age_band(age: float | None) -> str | None:
    """Five-year bands (``35-39``); ``90+`` above 89 (Safe Harbor); None when unknown."""
    if age is None or age < 0:
        return None
    years = int(age)
    if years >= 90:
        return "90+"
    low = years - years % 5
    return f"{low}-{low + 4}"


def donor_group(hct_type: str, donor: Person | None) -> str:
    if hct_type == "auto":
        return "autologous"
    if donor is None:
        return "not recorded"
    if donor.role == "unrelated":
        return "unrelated"
    return _RELATIVE_GROUPS.get((donor.relationship or "").lower(), "other family")


def cohort(s: Session, *, centre: str | None) -> dict[str, Any]:
    """Every live patient of ``centre`` (all centres when None), de-identified, with the
    activity table. Rows in pseudonym order (not registration order: that would re-identify)."""
    where: list[Any] = [Patient.deleted.is_(False)]
    if centre is not None:
        where.append(Centre.code == centre)
    patients = s.execute(
        select(Patient.id, Patient.pseudonym, Centre.code, Disease.diagnosis,
               Disease.disease_status, Disease.disease_risk, Consent.research)
        .join(Centre, Centre.id == Patient.centre_id)
        .outerjoin(Disease, (Disease.patient_id == Patient.id) & Disease.deleted.is_(False))
        .outerjoin(Consent, (Consent.patient_id == Patient.id) & Consent.deleted.is_(False))
        .where(*where).order_by(Patient.pseudonym)).all()
    ids = [p[0] for p in patients]
    persons: dict[str, list[Person]] = {}
    by_id: dict[str, Person] = {}
    hcts: dict[str, list[Hct]] = {}
    if ids:
        for person in s.execute(select(Person).where(Person.patient_id.in_(ids),
                                                     Person.deleted.is_(False))).scalars():
            persons.setdefault(person.patient_id, []).append(person)
            by_id[person.id] = person
        for hct in s.execute(select(Hct).where(Hct.patient_id.in_(ids), Hct.deleted.is_(False))
                             .order_by(Hct.hct_number)).scalars():
            hcts.setdefault(hct.patient_id, []).append(hct)
    rows = []
    activity: Counter[tuple[str, int, str]] = Counter()
    for pid, pseudonym, code, diagnosis, status, risk, research in patients:
        people = persons.get(pid, [])
        patient = next((p for p in people if p.role == "patient"), None)
        transplants = []
        for h in hcts.get(pid, []):
            group = donor_group(h.hct_type, by_id.get(h.donor_person_id or ""))
            transplants.append({"number": h.hct_number, "year": h.day0.year,
                                "type": h.hct_type, "donor": group, "graft": h.graft})
            activity[(code, h.day0.year, group)] += 1
        rows.append({
            "pseudonym": pseudonym[:PSEUDONYM_CHARS], "centre": code,
            "diagnosis": diagnosis, "disease_status": status, "disease_risk": risk,
            "sex": patient.sex if patient else None,
            "age_band": age_band(patient.age if patient else None),
            "relatives": sum(p.role == "relative" for p in people),
            "unrelated_donors": sum(p.role == "unrelated" for p in people),
            "research_consent": research, "transplants": transplants})
    centres = sorted({k[0] for k in activity})
    years = sorted({k[1] for k in activity})
    table = [{"centre": c, "year": y,
              "counts": {g: activity.get((c, y, g), 0) for g in DONOR_GROUPS},
              "total": sum(activity.get((c, y, g), 0) for g in DONOR_GROUPS)}
             for c in centres for y in years if any(activity.get((c, y, g)) for g in DONOR_GROUPS)]
    return {"centre": centre, "patients": rows, "activity": table, "donor_groups":
            list(DONOR_GROUPS), "transplants": sum(activity.values())}
