"""The transplant case (``everydonor.case/1``): one patient and the people who could donate.

:func:`parse_case` turns the decoded JSON/YAML object into typed values and refuses bad input
with an :class:`~everydonor.errors.InputError` (or an HLA error) that names the person, the field
and the value. Pure: the file is read by ``everydonor.adapters.inputs.casefile``; "today" is passed in.
Fields this version does not use are kept (``extra``) and reported in ``warnings``, never dropped
silently.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from everydonor.errors import EverydonorError, InputError
from everydonor.hla.genotype import Phenotype, phenotype_from_gl, phenotype_from_mapping

CASE_FORMAT = "everydonor.case/1"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class CmvSerostatus(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNKNOWN = "unknown"


class Relationship(StrEnum):
    """As seen from the patient (``partner``: the patient's partner, parent of their children)."""

    FATHER = "father"
    MOTHER = "mother"
    BROTHER = "brother"
    SISTER = "sister"
    SON = "son"
    DAUGHTER = "daughter"
    HALF_BROTHER = "half_brother"
    HALF_SISTER = "half_sister"
    GRANDFATHER = "grandfather"
    GRANDMOTHER = "grandmother"
    UNCLE = "uncle"
    AUNT = "aunt"
    NEPHEW = "nephew"
    NIECE = "niece"
    COUSIN = "cousin"
    GRANDSON = "grandson"
    GRANDDAUGHTER = "granddaughter"
    PARTNER = "partner"
    OTHER_RELATED = "other_related"

    @property
    def is_parent(self) -> bool:
        return self in (Relationship.FATHER, Relationship.MOTHER)

    @property
    def is_full_sibling(self) -> bool:
        return self in (Relationship.BROTHER, Relationship.SISTER)

    @property
    def is_half_sibling(self) -> bool:
        return self in (Relationship.HALF_BROTHER, Relationship.HALF_SISTER)

    @property
    def is_child(self) -> bool:
        return self in (Relationship.SON, Relationship.DAUGHTER)


#: Relationships that may say through which parent they are related.
THROUGH_ALLOWED = frozenset({Relationship.HALF_BROTHER, Relationship.HALF_SISTER,
                             Relationship.UNCLE, Relationship.AUNT, Relationship.COUSIN,
                             Relationship.GRANDFATHER, Relationship.GRANDMOTHER})
#: Relationships whose sex is implied.
IMPLIED_SEX = {
    Relationship.FATHER: Sex.MALE, Relationship.MOTHER: Sex.FEMALE,
    Relationship.BROTHER: Sex.MALE, Relationship.SISTER: Sex.FEMALE,
    Relationship.SON: Sex.MALE, Relationship.DAUGHTER: Sex.FEMALE,
    Relationship.HALF_BROTHER: Sex.MALE, Relationship.HALF_SISTER: Sex.FEMALE,
    Relationship.GRANDFATHER: Sex.MALE, Relationship.GRANDMOTHER: Sex.FEMALE,
    Relationship.UNCLE: Sex.MALE, Relationship.AUNT: Sex.FEMALE,
    Relationship.NEPHEW: Sex.MALE, Relationship.NIECE: Sex.FEMALE,
    Relationship.GRANDSON: Sex.MALE, Relationship.GRANDDAUGHTER: Sex.FEMALE,
}

_ABO_RE = re.compile(r"^(O|A|B|AB)([+-])?$")
_PERSON_FIELDS = frozenset({
    "id", "sex", "age", "birth_date", "weight_kg", "height_cm", "abo", "cmv_igg", "hla",
    "hla_gl", "relationship", "through", "medically_eligible", "registry", "donor_id",
    "diagnosis", "disease_status", "antibodies", "name", "notes", "disease_risk",
    "desensitization_plan", "desensitisation_plan", "match_probability",
})
_TOP_FIELDS = frozenset({"format", "patient", "relatives", "unrelated", "as_of", "notes", "id",
                         "centre", "center", "follow_up"})

#: Disease risk as the treating team records it (read by rule sets that switch on it).
DISEASE_RISKS = ("low", "standard", "intermediate", "high", "very_high")


@dataclass(frozen=True, slots=True)
class AntibodyResult:
    specificity: str
    mfi: float
    c1q: str | None = None


@dataclass(frozen=True, slots=True)
class AntibodyTest:
    test_date: dt.date | None
    method: str | None
    results: tuple[AntibodyResult, ...]


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    role: str  # "patient", "relative" or "unrelated"
    sex: Sex | None
    age: float | None
    hla: Phenotype | None
    relationship: Relationship | None = None
    through: str | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    abo: str | None = None
    cmv_igg: CmvSerostatus | None = None
    medically_eligible: bool | None = None
    antibodies: AntibodyTest | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    diagnosis: str | None = None
    disease_status: str | None = None
    disease_risk: str | None = None
    #: For a donor: the team's recorded plan to desensitise the patient against this donor.
    desensitization_plan: str | None = None
    #: For an unrelated donor: the registry and the registry's donor id.
    registry: str | None = None
    donor_id: str | None = None
    #: For an unrelated donor found by ``everydonor donors search``: its match probabilities
    #: (p_10_of_10, p_9_of_10, p_8_of_10, frequency_set), shown with the ranking's reasons.
    match_probability: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Centre:
    """The transplant centre, as far as rule sets read it."""

    name: str | None = None
    #: Whether the centre counts itself experienced in haploidentical transplantation
    #: (CSH 2021 makes its haploidentical-over-sibling preference conditional on it).
    haplo_experienced: bool | None = None


@dataclass(frozen=True, slots=True)
class Case:
    patient: Person
    relatives: tuple[Person, ...]
    unrelated: tuple[Person, ...]
    as_of: dt.date
    warnings: tuple[str, ...] = ()
    centre: Centre = field(default_factory=Centre)
    #: Post-transplant results, read by :mod:`everydonor.treatment.followup` (validated there).
    follow_up: Mapping[str, Any] | None = None

    def person(self, pid: str) -> Person:
        for p in (self.patient, *self.relatives, *self.unrelated):
            if p.id == pid:
                return p
        raise KeyError(pid)


def parse_case(data: Any, *, today: dt.date) -> Case:
    """Validate and type a decoded case file. Raises an error naming person, field and value."""
    if not isinstance(data, Mapping):
        raise InputError("a case file must hold one object (patient, relatives, unrelated)",
                         value=type(data).__name__)
    fmt = data.get("format")
    if fmt != CASE_FORMAT:
        raise InputError(f"format must be {CASE_FORMAT!r}", field="format", value=repr(fmt))
    warnings = [f"top-level field {k!r} is not used by this version (kept)" for k in data
                if k not in _TOP_FIELDS]
    as_of = _date(data["as_of"], None, "as_of") if data.get("as_of") is not None else today
    if "patient" not in data:
        raise InputError("the case has no patient", field="patient")
    patient = _person(data["patient"], "patient", as_of, warnings)
    relatives = tuple(_person(p, "relative", as_of, warnings)
                      for p in _list(data.get("relatives", []), "relatives"))
    unrelated = tuple(_person(p, "unrelated", as_of, warnings)
                      for p in _list(data.get("unrelated", []), "unrelated"))
    seen: set[str] = set()
    for p in (patient, *relatives, *unrelated):
        if p.id in seen:
            raise InputError(f"id {p.id!r} is used twice", person=p.id, field="id", value=p.id)
        seen.add(p.id)
    for rel, single in ((Relationship.FATHER, True), (Relationship.MOTHER, True)):
        same = [p.id for p in relatives if p.relationship is rel]
        if single and len(same) > 1:
            raise InputError(f"more than one {rel.value}: {', '.join(same)}", person=same[1],
                             field="relationship", value=rel.value)
    partners = [p.id for p in relatives if p.relationship is Relationship.PARTNER]
    if len(partners) > 1:
        warnings.append(f"several partners ({', '.join(partners)}): children are not assigned "
                        "to a partner, so partners are not used for segregation")
    centre = _centre(data.get("centre", data.get("center")))
    follow_up = data.get("follow_up")
    if follow_up is not None and not isinstance(follow_up, Mapping):
        raise InputError("follow_up must be an object", person=patient.id, field="follow_up",
                         value=repr(follow_up))
    return Case(patient, relatives, unrelated, as_of, tuple(warnings), centre, follow_up)


def _centre(raw: Any) -> Centre:
    if raw is None:
        return Centre()
    if not isinstance(raw, Mapping):
        raise InputError("centre must be an object (name, haplo_experienced)", field="centre",
                         value=repr(raw))
    name = raw.get("name")
    experienced = raw.get("haplo_experienced")
    if experienced is not None and not isinstance(experienced, bool):
        raise InputError("centre.haplo_experienced must be true or false",
                         field="centre.haplo_experienced", value=repr(experienced))
    return Centre(str(name) if name is not None else None, experienced)


def _list(value: Any, name: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise InputError(f"{name} must be a list", field=name, value=type(value).__name__)
    return value


def _person(raw: Any, role: str, as_of: dt.date, warnings: list[str]) -> Person:
    if not isinstance(raw, Mapping):
        raise InputError(f"each {role} must be an object", field=role, value=type(raw).__name__)
    pid = raw.get("id")
    if not isinstance(pid, str | int) or isinstance(pid, bool) or str(pid).strip() == "":
        raise InputError(f"a {role} has no id", field="id", value=repr(pid))
    pid = str(pid)
    extra = {k: v for k, v in raw.items() if k not in _PERSON_FIELDS}
    warnings.extend(f"{role} {pid}: field {k!r} is not used by this version (kept)" for k in extra)

    def bad(field_: str, message: str, value: Any) -> InputError:
        return InputError(message, person=pid, field=field_, value=repr(value))

    relationship = None
    through = None
    if role == "relative":
        rel = raw.get("relationship")
        try:
            relationship = Relationship(str(rel))
        except ValueError:
            allowed = ", ".join(r.value for r in Relationship)
            raise bad("relationship", f"relationship {rel!r} is not one of: {allowed}",
                      rel) from None
        through = raw.get("through")
        if through is not None:
            if through not in ("father", "mother"):
                raise bad("through", "through must be 'father' or 'mother'", through)
            if relationship not in THROUGH_ALLOWED:
                raise bad("through", f"'through' does not apply to a {relationship.value}",
                          through)
    elif "relationship" in raw:
        raise bad("relationship", f"a {role} has no relationship", raw["relationship"])

    sex = None
    if raw.get("sex") is not None:
        try:
            sex = Sex(raw["sex"])
        except ValueError:
            raise bad("sex", "sex must be 'male' or 'female'", raw["sex"]) from None
    if relationship in IMPLIED_SEX:
        implied = IMPLIED_SEX[relationship]
        if sex is not None and sex is not implied:
            raise bad("sex", f"a {relationship.value} is {implied.value}", raw["sex"])
        sex = implied
    age = _age(raw, pid, as_of)
    weight = _number(raw, "weight_kg", pid, 0.5, 400.0)
    height = _number(raw, "height_cm", pid, 30.0, 250.0)
    abo = raw.get("abo")
    if abo is not None and (not isinstance(abo, str) or not _ABO_RE.match(abo)):
        raise bad("abo", "abo must be O, A, B or AB, optionally followed by + or -", abo)
    cmv = None
    if raw.get("cmv_igg") is not None:
        try:
            cmv = CmvSerostatus(raw["cmv_igg"])
        except ValueError:
            raise bad("cmv_igg", "cmv_igg must be positive, negative or unknown",
                      raw["cmv_igg"]) from None
    eligible = raw.get("medically_eligible")
    if eligible is not None and not isinstance(eligible, bool):
        raise bad("medically_eligible", "medically_eligible must be true or false", eligible)
    hla = _hla(raw, pid)
    antibodies = _antibodies(raw.get("antibodies"), pid) if raw.get("antibodies") else None
    texts = {}
    for name in ("name", "diagnosis", "disease_status", "desensitization_plan"):
        value = raw.get(name)
        if name == "desensitization_plan" and value is None:
            value = raw.get("desensitisation_plan")
        if value is not None and not isinstance(value, str):
            raise bad(name, f"{name} must be text", value)
        texts[name] = value.strip() or None if isinstance(value, str) else None
    risk = raw.get("disease_risk")
    if risk is not None and risk not in DISEASE_RISKS:
        raise bad("disease_risk", f"disease_risk must be one of: {', '.join(DISEASE_RISKS)}", risk)
    if role != "patient":
        for name in ("diagnosis", "disease_status", "disease_risk"):
            if raw.get(name) is not None:
                raise bad(name, f"{name} belongs to the patient, not to a {role}", raw[name])
    elif texts["desensitization_plan"] is not None:
        raise bad("desensitization_plan", "a desensitisation plan is recorded on the donor it "
                  "is planned against, not on the patient", texts["desensitization_plan"])
    registry, donor_id = (None if raw.get(k) is None else str(raw[k]).strip() or None
                          for k in ("registry", "donor_id"))
    if role != "unrelated" and (registry or donor_id):
        raise bad("registry" if registry else "donor_id", "registry and donor_id belong to "
                  "unrelated donors", registry or donor_id)
    probability = _match_probability(raw.get("match_probability"), pid, role)
    return Person(pid, role, sex, age, hla, relationship, through, weight, height, abo, cmv,
                  eligible, antibodies, extra, texts["name"], texts["diagnosis"],
                  texts["disease_status"], risk, texts["desensitization_plan"], registry,
                  donor_id, probability)


def parse_person(raw: Any, role: str, as_of: dt.date) -> tuple[Person, list[str]]:
    """One person of a case (``role``: patient, relative or unrelated) and its warnings."""
    warnings: list[str] = []
    return _person(raw, role, as_of, warnings), warnings


def _match_probability(raw: Any, pid: str, role: str) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    field_ = "match_probability"
    if role != "unrelated" or not isinstance(raw, Mapping):
        raise InputError("match_probability is an object on an unrelated donor", person=pid,
                         field=field_, value=repr(raw))
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("p_10_of_10", "p_9_of_10", "p_8_of_10"):
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, int | float) or not 0.0 <= float(value) <= 1.0):
                raise InputError(f"{key} must be a probability in [0, 1] (or null)",
                                 person=pid, field=f"{field_}.{key}", value=repr(value))
            out[key] = None if value is None else float(value)
        elif key == "frequency_set":
            out[key] = None if value is None else str(value)
        else:
            raise InputError(f"match_probability has no field {key!r} (p_10_of_10, p_9_of_10, "
                             "p_8_of_10, frequency_set)", person=pid, field=f"{field_}.{key}",
                             value=repr(value))
    return out


def _date(value: Any, pid: str | None, field_: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{field_} must be an ISO date (YYYY-MM-DD)", person=pid, field=field_,
                         value=repr(value)) from None


def _age(raw: Mapping[str, Any], pid: str, as_of: dt.date) -> float | None:
    if raw.get("age") is not None:
        return _number(raw, "age", pid, 0.0, 120.0)
    if raw.get("birth_date") is not None:
        born = _date(raw["birth_date"], pid, "birth_date")
        if born > as_of:
            raise InputError(f"birth_date is after the case date {as_of.isoformat()}",
                             person=pid, field="birth_date", value=born.isoformat())
        years = (as_of - born).days / 365.2425
        if years > 120:
            raise InputError("birth_date gives an age over 120 years", person=pid,
                             field="birth_date", value=born.isoformat())
        return round(years, 2)
    return None


def _number(raw: Mapping[str, Any], name: str, pid: str, lo: float, hi: float) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name} must be a number", person=pid, field=name, value=repr(value))
    if not lo <= float(value) <= hi:
        raise InputError(f"{name} {value} is outside the human range {lo:g}-{hi:g}", person=pid,
                         field=name, value=repr(value))
    return float(value)


def _hla(raw: Mapping[str, Any], pid: str) -> Phenotype | None:
    if raw.get("hla") is not None and raw.get("hla_gl") is not None:
        raise InputError("give hla or hla_gl, not both", person=pid, field="hla_gl",
                         value=repr(raw["hla_gl"]))
    try:
        if raw.get("hla") is not None:
            if not isinstance(raw["hla"], Mapping):
                raise InputError("hla must map loci to two typings", person=pid, field="hla",
                                 value=repr(raw["hla"]))
            return phenotype_from_mapping(raw["hla"], person=pid)
        if raw.get("hla_gl") is not None:
            return phenotype_from_gl(str(raw["hla_gl"]), person=pid)
    except EverydonorError as exc:
        raise exc.with_context(person=pid) from None
    return None


def _antibodies(raw: Any, pid: str) -> AntibodyTest:
    if not isinstance(raw, Mapping):
        raise InputError("antibodies must be an object", person=pid, field="antibodies",
                         value=repr(raw))
    test_date = _date(raw["test_date"], pid, "antibodies.test_date") if raw.get(
        "test_date") else None
    results = []
    for i, item in enumerate(_list(raw.get("results", []), "antibodies.results")):
        where = f"antibodies.results[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("specificity"), str) or not (
            item["specificity"].strip()
        ):
            raise InputError("each antibody result needs a specificity", person=pid, field=where,
                             value=repr(item))
        mfi = item.get("mfi")
        if isinstance(mfi, bool) or not isinstance(mfi, int | float) or mfi < 0:
            raise InputError("mfi must be a number >= 0", person=pid, field=f"{where}.mfi",
                             value=repr(mfi))
        c1q = item.get("c1q")
        if c1q is not None and c1q not in ("positive", "negative"):
            raise InputError("c1q must be positive or negative", person=pid,
                             field=f"{where}.c1q", value=repr(c1q))
        results.append(AntibodyResult(item["specificity"].strip(), float(mfi), c1q))
    method = raw.get("method")
    return AntibodyTest(test_date, str(method) if method is not None else None, tuple(results))
