"""The transplant case (``everydonor.case/1``): one patient and the people who could donate.

:func:`parse_case` turns the decoded JSON/YAML object into typed values and refuses bad input
with an :class:`~everydonor.errors.InputError` (or an HLA error) that names the person (id and
role), the field and the value. Pure: the file is read by ``everydonor.adapters.inputs.casefile``;
"today" is passed in.

Nothing clinical is dropped silently. Each mapping of a case file may hold only the keys of its
table in :data:`KNOWN_FIELDS` (the single source of truth: the JSON Schema shipped as
``data/schema/case.schema.json`` is tested against these tables). Any other key is refused with
the nearest known key, so that a misspelled ``antibodys`` can never make a donor-specific
antibody disappear from a signed report. Centre extensions are opted into explicitly: a key
starting ``x_`` at any level, or an ``extensions`` mapping (top level and on each person). They
are never read; each parsed value keeps its level's extension entries exactly as written
(``Case.extensions``, ``Person.extensions``, ``Person.hla_extensions``, ``Centre.extensions``,
``AntibodyTest.extensions``, ``AntibodyResult.extensions``; ``follow_up`` and
``match_probability`` keep theirs inline), so that an exporter can write them back verbatim.

HLA typings are checked for nomenclature here; their expansion against a reference release comes
later (:func:`check_typings`, called first by the family and matching analyses), and its errors
name the person and the field too.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from everydonor.errors import EverydonorError, InputError
from everydonor.hla.designation import Typing
from everydonor.hla.genotype import Phenotype, phenotype_from_gl, phenotype_from_mapping
from everydonor.hla.glsc import release_flag
from everydonor.hla.locus import Locus, parse_locus

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

#: Disease risk as the treating team records it (read by rule sets that switch on it).
DISEASE_RISKS = ("low", "standard", "intermediate", "high", "very_high")

# -- the known keys of each mapping level (single source of truth) ----------------------------

#: A key starting with this prefix, at any mapping level, is a centre extension: carried, unread.
EXTENSION_PREFIX = "x_"
#: A mapping of centre extensions (top level and on each person): carried, unread.
EXTENSIONS_KEY = "extensions"

_PERSON_COMMON = ("id", "name", "sex", "age", "birth_date", "weight_kg", "height_cm", "abo",
                  "cmv_igg", "hla", "hla_gl", "notes", EXTENSIONS_KEY)
_DONOR_COMMON = ("medically_eligible", "desensitization_plan", "desensitisation_plan")

CASE_FIELDS = ("format", "id", "as_of", "notes", "patient", "relatives", "unrelated", "centre",
               "center", "follow_up", EXTENSIONS_KEY)
PATIENT_FIELDS = (*_PERSON_COMMON, "diagnosis", "disease_status", "disease_risk", "antibodies")
RELATIVE_FIELDS = (*_PERSON_COMMON, "relationship", "through", *_DONOR_COMMON)
UNRELATED_FIELDS = (*_PERSON_COMMON, "registry", "donor_id", "match_probability", *_DONOR_COMMON)
ANTIBODIES_FIELDS = ("test_date", "method", "results")
ANTIBODY_RESULT_FIELDS = ("specificity", "mfi", "c1q")
#: Typing loci (also accepted with the prefix ``HLA-``).
HLA_FIELDS = tuple(locus.value for locus in Locus)
CENTRE_FIELDS = ("name", "haplo_experienced")
FOLLOW_UP_FIELDS = ("mrd", "genetics", "haematological_relapse", "active_gvhd",
                    "uncontrolled_infection", "dli_donor_available", "high_risk_at_transplant")
MRD_RESULT_FIELDS = ("date", "wt1_pct", "flow", "fusion")
FUSION_FIELDS = ("name", "positive")
MATCH_PROBABILITY_FIELDS = ("p_10_of_10", "p_9_of_10", "p_8_of_10", "frequency_set")

#: Every mapping level of a case file and the keys it may hold (besides ``x_`` extensions).
KNOWN_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "case": CASE_FIELDS,
    "patient": PATIENT_FIELDS,
    "relative": RELATIVE_FIELDS,
    "unrelated": UNRELATED_FIELDS,
    "antibodies": ANTIBODIES_FIELDS,
    "antibody_result": ANTIBODY_RESULT_FIELDS,
    "hla": HLA_FIELDS,
    "centre": CENTRE_FIELDS,
    "follow_up": FOLLOW_UP_FIELDS,
    "mrd_result": MRD_RESULT_FIELDS,
    "fusion": FUSION_FIELDS,
    "match_probability": MATCH_PROBABILITY_FIELDS,
})
#: Where each level lies in the file.
FIELD_LEVELS: Mapping[str, str] = MappingProxyType({
    "case": "(top level)",
    "patient": "patient",
    "relative": "relatives[]",
    "unrelated": "unrelated[]",
    "antibodies": "patient.antibodies",
    "antibody_result": "patient.antibodies.results[]",
    "hla": "<person>.hla",
    "centre": "centre (or center)",
    "follow_up": "follow_up",
    "mrd_result": "follow_up.mrd[]",
    "fusion": "follow_up.mrd[].fusion",
    "match_probability": "unrelated[].match_probability",
})
EXTENSION_RULE = (f"a key starting {EXTENSION_PREFIX!r} at any level, or an {EXTENSIONS_KEY!r} "
                  "mapping at the top level and on each person, is a centre extension: never "
                  "read, carried through untouched; any other key not listed is refused")

_WHAT = {
    "case": "a case file", "patient": "the patient", "relative": "a relative",
    "unrelated": "an unrelated donor", "antibodies": "an antibody screen",
    "antibody_result": "an antibody result", "hla": "an HLA typing",
    "centre": "the centre", "follow_up": "follow_up", "mrd_result": "an MRD result",
    "fusion": "a fusion-transcript result", "match_probability": "match_probability",
}
_PERSON_LEVELS = ("patient", "relative", "unrelated")
_OWNERS = {("patient",): "the patient", ("relative",): "relatives",
           ("unrelated",): "unrelated donors", ("relative", "unrelated"): "donors"}
_WHY = {
    "antibodies": " (the patient's antibody screen is what is searched for donor-specific "
                  "antibodies)",
    "desensitization_plan": " (it is recorded on the donor it is planned against)",
    "desensitisation_plan": " (it is recorded on the donor it is planned against)",
}


def known_fields() -> dict[str, dict[str, Any]]:
    """The case format's key tables, JSON-ready: ``{level: {"where": …, "keys": […]}}``."""
    return {level: {"where": FIELD_LEVELS[level], "keys": list(keys)}
            for level, keys in KNOWN_FIELDS.items()}


# -- parsed values ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AntibodyResult:
    specificity: str
    mfi: float
    c1q: str | None = None
    #: Centre extensions (``x_`` keys) of this result, as written.
    extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AntibodyTest:
    test_date: dt.date | None
    method: str | None
    results: tuple[AntibodyResult, ...]
    #: Centre extensions (``x_`` keys) of the screen, as written.
    extensions: Mapping[str, Any] = field(default_factory=dict)


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
    #: Centre extensions of the person (``x_`` keys and the ``extensions`` mapping), as written.
    extensions: Mapping[str, Any] = field(default_factory=dict)
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
    #: Free-text notes (text, or a list of texts), as written.
    notes: str | tuple[str, ...] | None = None
    #: Which field the typing came from: ``"hla"``, ``"hla_gl"`` or None (untyped).
    hla_field: str | None = None
    #: Centre extensions (``x_`` keys) inside ``hla``, as written.
    hla_extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Centre:
    """The transplant centre, as far as rule sets read it."""

    name: str | None = None
    #: Whether the centre counts itself experienced in haploidentical transplantation
    #: (CSH 2021 makes its haploidentical-over-sibling preference conditional on it).
    haplo_experienced: bool | None = None
    #: Centre extensions (``x_`` keys) of the ``centre`` mapping, as written.
    extensions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Case:
    patient: Person
    relatives: tuple[Person, ...]
    unrelated: tuple[Person, ...]
    as_of: dt.date
    #: Genuinely non-fatal notes (unknown keys are refused, never warned about).
    warnings: tuple[str, ...] = ()
    centre: Centre = field(default_factory=Centre)
    #: Post-transplant results, read by :mod:`everydonor.treatment.followup` (validated there;
    #: their keys are checked here). Kept as written, ``x_`` extensions included.
    follow_up: Mapping[str, Any] | None = None
    #: Top-level centre extensions (``x_`` keys and the ``extensions`` mapping), as written.
    extensions: Mapping[str, Any] = field(default_factory=dict)
    #: The case's own id and free-text notes, as written.
    id: str | None = None
    notes: str | tuple[str, ...] | None = None

    def people(self) -> Iterator[Person]:
        """The patient, then the relatives, then the unrelated donors."""
        yield self.patient
        yield from self.relatives
        yield from self.unrelated

    def person(self, pid: str) -> Person:
        for p in self.people():
            if p.id == pid:
                return p
        raise KeyError(pid)


# -- parsing ----------------------------------------------------------------------------------

_EXPECTED = "a mapping with 'format', 'patient', 'relatives' and 'unrelated'"


def parse_case(data: Any, *, today: dt.date) -> Case:
    """Validate and type a decoded case file. Raises an error naming person, field and value."""
    if data is None or (isinstance(data, Mapping | list | str) and not (
            data.strip() if isinstance(data, str) else data)):
        raise InputError(f"the case file is empty (expected {_EXPECTED})")
    if not isinstance(data, Mapping):
        raise InputError(f"expected {_EXPECTED}, got {_kind(data)}")
    fmt = data.get("format")
    if "format" in data and fmt != CASE_FORMAT:
        raise InputError(f"format must be {CASE_FORMAT!r}", field="format", value=repr(fmt))
    patient_raw = data.get("patient")
    patient_id = (str(patient_raw["id"]) if isinstance(patient_raw, Mapping)
                  and _valid_id(patient_raw.get("id")) else None)
    extensions = _extensions(data, "case", person=None, role=None, where="")
    if fmt != CASE_FORMAT:
        raise InputError(f"format must be {CASE_FORMAT!r}", field="format", value=repr(fmt))
    warnings: list[str] = []
    as_of = _date(data["as_of"], None, "as_of") if data.get("as_of") is not None else today
    if "patient" not in data:
        raise InputError("the case has no patient", field="patient")
    patient = _person(patient_raw, "patient", as_of)
    relatives = tuple(_person(p, "relative", as_of, i)
                      for i, p in enumerate(_list(data.get("relatives", []), "relatives")))
    unrelated = tuple(_person(p, "unrelated", as_of, i)
                      for i, p in enumerate(_list(data.get("unrelated", []), "unrelated")))
    seen: set[str] = set()
    for p in (patient, *relatives, *unrelated):
        if p.id in seen:
            raise InputError(f"id {p.id!r} is used twice", person=p.id, role=p.role, field="id",
                             value=p.id)
        seen.add(p.id)
    for rel in (Relationship.FATHER, Relationship.MOTHER):
        same = [p.id for p in relatives if p.relationship is rel]
        if len(same) > 1:
            raise InputError(f"more than one {rel.value}: {', '.join(same)}", person=same[1],
                             role="relative", field="relationship", value=rel.value)
    partners = [p.id for p in relatives if p.relationship is Relationship.PARTNER]
    if len(partners) > 1:
        warnings.append(f"several partners ({', '.join(partners)}): children are not assigned "
                        "to a partner, so partners are not used for segregation")
    if data.get("centre") is not None and data.get("center") is not None:
        raise InputError("give centre or center, not both", field="center",
                         value=repr(data["center"]))
    centre_key = "center" if data.get("center") is not None else "centre"
    centre = _centre(data.get(centre_key), centre_key)
    follow_up = _follow_up(data.get("follow_up"), patient_id)
    case_id = data.get("id")
    if case_id is not None and (not _valid_id(case_id)):
        raise InputError("the case id must be text", field="id", value=repr(case_id))
    return Case(patient, relatives, unrelated, as_of, tuple(warnings), centre, follow_up,
                extensions, None if case_id is None else str(case_id),
                _notes(data.get("notes"), None, None))


def parse_person(raw: Any, role: str, as_of: dt.date) -> tuple[Person, list[str]]:
    """One person of a case (``role``: patient, relative or unrelated) and its warnings (none
    today: what is wrong is refused)."""
    return _person(raw, role, as_of), []


def check_typings(case: Case, alleles_of: Callable[[Typing], object]) -> None:
    """Expand every typing of the case against the reference release, naming whose it is.

    ``alleles_of`` is the release's expansion (:meth:`everydonor.hla.reduction.Reducer.alleles_of`,
    memoised, so the analyses' own expansions cost nothing more). An allele absent from the
    release (``UnknownAllele``), an unknown MAC code or any other HLA error is raised again
    naming the person (id and role) and the field (``hla.DRB1``, or ``hla_gl``). The family and
    matching analyses call this first.
    """
    for person in case.people():
        if person.hla is None:
            continue
        for locus, options in person.hla.loci.items():
            where = "hla_gl" if person.hla_field == "hla_gl" else f"hla.{locus.value}"
            for option in options:
                for typing in option.typings:
                    try:
                        alleles_of(typing)
                    except EverydonorError as exc:
                        raise exc.with_context(person=person.id, role=person.role,
                                               field=where) from None


def release_flags(case: Case, release: str) -> list[str]:
    """A warning for each typing given as a GL String Code written under another release than
    ``release`` (or with a construction date): it is read under ``release``, and flagged, never
    silently re-interpreted. Each names the person, the field (locus), the code and both
    versions."""
    out = []
    for person in case.people():
        for where, code in person.hla.codes if person.hla is not None else ():
            flag = release_flag(code, release, who=person.id, locus=where)
            if flag:
                out.append(flag)
    return out


# -- helpers ----------------------------------------------------------------------------------

def _kind(value: Any) -> str:
    """A value's kind in plain words (for messages): never a Python type name."""
    if value is None:
        return "null (nothing)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"text ({value[:40]!r})" if value.strip() else "empty text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dt.date):
        return f"a date ({value.isoformat()})"
    return f"a {type(value).__name__} value"


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _valid_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip() != ""


def _extensions(raw: Mapping[Any, Any], level: str, *, person: str | None, role: str | None,
                where: str) -> dict[str, Any]:
    """Refuse every key of ``raw`` outside its level's table; its extension entries, as written."""
    known = KNOWN_FIELDS[level]
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and key.startswith(EXTENSION_PREFIX):
            out[key] = value
        elif key == EXTENSIONS_KEY and key in known:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise InputError("extensions must be a mapping (centre-defined keys, carried "
                                 f"through unread), got {_kind(value)}", person=person,
                                 role=role, field=path)
            out[key] = value
        elif key not in known:
            raise _unknown_key(key, value, level, person=person, role=role, path=path)
    return out


def _unknown_key(key: Any, value: Any, level: str, *, person: str | None, role: str | None,
                 path: str) -> InputError:
    known = KNOWN_FIELDS[level]
    if level in _PERSON_LEVELS:
        owners = tuple(r for r in _PERSON_LEVELS if r != level and key in KNOWN_FIELDS[r])
        if owners:
            return InputError(f"{key!r} belongs to {_OWNERS[owners]}, not to {_WHAT[level]}"
                              f"{_WHY.get(str(key), '')}", person=person, role=role,
                              field=path, value=_short_repr(value))
    text = str(key)
    near = nearest_key(text, known)
    hint = f"did you mean {near!r}?" if near else f"known: {', '.join(known)}"
    escape = f"with the prefix {EXTENSION_PREFIX!r}" + (
        f" or put it under {EXTENSIONS_KEY!r}" if EXTENSIONS_KEY in known else "")
    what = "a typing locus" if level == "hla" else f"a field of {_WHAT[level]}"
    return InputError(f"{text!r} is not {what} ({hint}): refused rather than "
                      f"dropped; correct the name, or mark a centre extension {escape}",
                      person=person, role=role, field=path, value=text)


def nearest_key(key: str, known: Sequence[str], cutoff: float = 0.6) -> str | None:
    """The known key most like ``key`` (difflib ratio, case and an ``HLA-`` prefix ignored;
    ties go to the first in table order), or None when none is close."""
    wanted = key.strip().removeprefix("HLA-").lower()
    best, best_ratio = None, cutoff
    for name in known:
        ratio = difflib.SequenceMatcher(None, wanted, name.lower()).ratio()
        if ratio > best_ratio or (best is None and ratio >= best_ratio):
            best, best_ratio = name, ratio
    return best


def _list(value: Any, name: str, person: str | None = None) -> Sequence[Any]:
    if not isinstance(value, list):
        raise InputError(f"{name} must be a list (write [] for none), got {_kind(value)}",
                         person=person, field=name)
    return value


def _notes(value: Any, person: str | None, role: str | None) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"notes must be text or a list of texts, got {_kind(value)}",
                     person=person, role=role, field="notes")


def _centre(raw: Any, key: str) -> Centre:
    if raw is None:
        return Centre()
    if not isinstance(raw, Mapping):
        raise InputError(f"{key} must be a mapping (name, haplo_experienced), got {_kind(raw)}",
                         field=key)
    extensions = _extensions(raw, "centre", person=None, role=None, where=key)
    name = raw.get("name")
    experienced = raw.get("haplo_experienced")
    if experienced is not None and not isinstance(experienced, bool):
        raise InputError(f"{key}.haplo_experienced must be true or false",
                         field=f"{key}.haplo_experienced", value=repr(experienced))
    return Centre(str(name) if name is not None else None, experienced, extensions)


def _follow_up(raw: Any, pid: str | None) -> Mapping[str, Any] | None:
    """``follow_up`` as written, its keys checked (values are validated where they are read)."""
    if raw is None:
        return None
    ctx: dict[str, Any] = {"person": pid, "role": "patient"}
    if not isinstance(raw, Mapping):
        raise InputError(f"follow_up must be a mapping, got {_kind(raw)}", field="follow_up",
                         value=repr(raw), **ctx)
    _extensions(raw, "follow_up", where="follow_up", **ctx)
    mrd = raw.get("mrd")
    if isinstance(mrd, list):
        for i, item in enumerate(mrd):
            if isinstance(item, Mapping):
                where = f"follow_up.mrd[{i}]"
                _extensions(item, "mrd_result", where=where, **ctx)
                if isinstance(item.get("fusion"), Mapping):
                    _extensions(item["fusion"], "fusion", where=f"{where}.fusion", **ctx)
    return raw


def _person(raw: Any, role: str, as_of: dt.date, index: int | None = None) -> Person:
    label = role if index is None else f"{'relatives' if role == 'relative' else role}[{index}]"
    if not isinstance(raw, Mapping):
        raise InputError(f"each {role} must be a mapping (id, sex, age, hla, …), got "
                         f"{_kind(raw)}", role=role, field=label)
    pid = str(raw["id"]) if _valid_id(raw.get("id")) else None
    try:
        return _person_fields(raw, role, pid, label=label, as_of=as_of)
    except EverydonorError as exc:
        raise exc.with_context(person=pid, role=role) from None


def _person_fields(raw: Mapping[str, Any], role: str, pid_or_none: str | None, *, label: str,
                   as_of: dt.date) -> Person:
    extensions = _extensions(raw, role, person=pid_or_none, role=role,
                             where="" if pid_or_none else label)
    if pid_or_none is None:
        missing = raw.get("id")
        raise InputError(f"{label} has no id" if missing is None else
                         f"{label}: id must be text, got {_kind(missing)}",
                         field="id" if "[" not in label else f"{label}.id")
    pid: str = pid_or_none

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
    hla, hla_field, hla_extensions = _hla(raw, pid)
    antibodies = _antibodies(raw.get("antibodies"), pid)
    if raw.get("desensitization_plan") is not None and raw.get("desensitisation_plan") is not None:
        raise bad("desensitisation_plan", "give desensitization_plan or desensitisation_plan, "
                  "not both", raw["desensitisation_plan"])
    texts = {}
    for name in ("name", "diagnosis", "disease_status", "desensitization_plan"):
        value = raw.get(name)
        field_ = name
        if name == "desensitization_plan" and value is None:
            value = raw.get("desensitisation_plan")
            field_ = "desensitisation_plan"
        if value is not None and not isinstance(value, str):
            raise bad(field_, f"{field_} must be text", value)
        texts[name] = value.strip() or None if isinstance(value, str) else None
    risk = raw.get("disease_risk")
    if risk is not None and risk not in DISEASE_RISKS:
        raise bad("disease_risk", f"disease_risk must be one of: {', '.join(DISEASE_RISKS)}", risk)
    registry, donor_id = (None if raw.get(k) is None else str(raw[k]).strip() or None
                          for k in ("registry", "donor_id"))
    probability = _match_probability(raw.get("match_probability"), pid)
    return Person(
        pid, role, sex, age, hla, relationship, through, weight, height, abo, cmv, eligible,
        antibodies, extensions, name=texts["name"], diagnosis=texts["diagnosis"],
        disease_status=texts["disease_status"], disease_risk=risk,
        desensitization_plan=texts["desensitization_plan"], registry=registry,
        donor_id=donor_id, match_probability=probability,
        notes=_notes(raw.get("notes"), pid, role), hla_field=hla_field,
        hla_extensions=hla_extensions)


def _match_probability(raw: Any, pid: str) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    field_ = "match_probability"
    if not isinstance(raw, Mapping):
        raise InputError(f"match_probability must be a mapping, got {_kind(raw)}", person=pid,
                         field=field_, value=repr(raw))
    out: dict[str, Any] = _extensions(raw, "match_probability", person=pid, role="unrelated",
                                      where=field_)
    for key, value in raw.items():
        if key in ("p_10_of_10", "p_9_of_10", "p_8_of_10"):
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, int | float) or not 0.0 <= float(value) <= 1.0):
                raise InputError(f"{key} must be a probability in [0, 1] (or null)",
                                 person=pid, field=f"{field_}.{key}", value=repr(value))
            out[key] = None if value is None else float(value)
        elif key == "frequency_set":
            out[key] = None if value is None else str(value)
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
    age = _number(raw, "age", pid, 0.0, 120.0)
    if raw.get("birth_date") is None:
        return age
    born = _date(raw["birth_date"], pid, "birth_date")
    if born > as_of:
        raise InputError(f"birth_date is after the case date {as_of.isoformat()}",
                         person=pid, field="birth_date", value=born.isoformat())
    years = (as_of - born).days / 365.2425
    if years > 120:
        raise InputError("birth_date gives an age over 120 years", person=pid,
                         field="birth_date", value=born.isoformat())
    if age is not None and abs(age - years) > 1.0:
        raise InputError(f"age {age:g} and birth_date {born.isoformat()} (age {years:.1f} on "
                         f"{as_of.isoformat()}) disagree: give one, or correct the other",
                         person=pid, field="birth_date", value=born.isoformat())
    return age if age is not None else round(years, 2)


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


def _hla(raw: Mapping[str, Any], pid: str) -> tuple[Phenotype | None, str | None, dict[str, Any]]:
    """The typing, the field it came from, and the ``x_`` extensions inside ``hla``."""
    if raw.get("hla") is not None and raw.get("hla_gl") is not None:
        raise InputError("give hla or hla_gl, not both", person=pid, field="hla_gl",
                         value=repr(raw["hla_gl"]))
    try:
        if raw.get("hla") is not None:
            hla = raw["hla"]
            if not isinstance(hla, Mapping):
                raise InputError(f"hla must map loci to two typings, got {_kind(hla)}",
                                 person=pid, field="hla", value=repr(hla))
            extensions: dict[str, Any] = {}
            typed: dict[str, Any] = {}
            for key, value in hla.items():
                if isinstance(key, str) and key.startswith(EXTENSION_PREFIX):
                    extensions[key] = value
                elif isinstance(key, str) and parse_locus(key) is not None:
                    typed[key] = value
                else:
                    raise _unknown_key(key, value, "hla", person=pid, role=None,
                                       path=f"hla.{key}")
            return phenotype_from_mapping(typed, person=pid), "hla", extensions
        if raw.get("hla_gl") is not None:
            return phenotype_from_gl(str(raw["hla_gl"]), person=pid), "hla_gl", {}
    except EverydonorError as exc:
        raise exc.with_context(person=pid) from None
    return None, None, {}


def _antibodies(raw: Any, pid: str) -> AntibodyTest | None:
    """The antibody screen; none (not assessable) when absent or an empty mapping."""
    if raw is None or (isinstance(raw, Mapping) and not raw):
        return None
    if not isinstance(raw, Mapping):
        raise InputError(f"antibodies must be a mapping (test_date, method, results), got "
                         f"{_kind(raw)}", person=pid, field="antibodies", value=repr(raw))
    extensions = _extensions(raw, "antibodies", person=pid, role=None, where="antibodies")
    test_date = _date(raw["test_date"], pid, "antibodies.test_date") if raw.get(
        "test_date") else None
    results = []
    for i, item in enumerate(_list(raw.get("results", []), "antibodies.results", pid)):
        where = f"antibodies.results[{i}]"
        if not isinstance(item, Mapping):
            raise InputError(f"each antibody result must be a mapping (specificity, mfi), got "
                             f"{_kind(item)}", person=pid, field=where, value=repr(item))
        item_extensions = _extensions(item, "antibody_result", person=pid, role=None,
                                      where=where)
        if not isinstance(item.get("specificity"), str) or not item["specificity"].strip():
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
        results.append(AntibodyResult(item["specificity"].strip(), float(mfi), c1q,
                                      item_extensions))
    method = raw.get("method")
    return AntibodyTest(test_date, str(method) if method is not None else None, tuple(results),
                        extensions)
