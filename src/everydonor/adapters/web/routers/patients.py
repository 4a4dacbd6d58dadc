"""Patients: the list with search (centre-scoped), the patient page (facts, pedigree, persons),
creating a patient, adding a relative, editing a person (clinical facts, HLA per locus,
antibodies).

Every form keeps what the user typed: a refused value re-renders the form (422) with every value
as typed and the error beside its field. A stored case is changed only through
:meth:`Registry.edit_case` (one transaction: the case rebuilt with its identifying fields inside
the store, the edit applied, checked whole, stored with row history and an audit entry), with
the reason the user gave, so an edit made on these de-identified pages never erases a name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from everydonor.adapters.web.http import NotFound, actor, is_htmx, render, services, session
from everydonor.adapters.web.policy import permission
from everydonor.adapters.web.routers.hla import check_typing
from everydonor.case import (
    CASE_FORMAT,
    DISEASE_RISKS,
    IMPLIED_SEX,
    THROUGH_ALLOWED,
    CmvSerostatus,
    Relationship,
    Sex,
    check_typings,
)
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.designation import parse_typing
from everydonor.hla.glsc import looks_like_glsc
from everydonor.hla.locus import parse_locus

router = APIRouter(include_in_schema=False)
PAGE = 50
#: The loci the forms offer (others already stored are kept as they are).
LOCI = ("A", "B", "C", "DRB1", "DQB1", "DPB1")
ABO = ("O+", "O-", "A+", "A-", "B+", "B-", "AB+", "AB-", "O", "A", "B", "AB")
SAB = "single_antigen_bead"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_UPN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TEXT_MAX = 200
_REASON_MAX = 500
PATIENT_ID = "P"
PEDIGREE_RULES = "beijing"


# -- the list ----------------------------------------------------------------------------------

@router.get("/patients", name="patient_list")
@permission("patient.read")
async def patient_list(request: Request, q: Annotated[str, Query(max_length=64)] = "",
                       page: Annotated[int, Query(ge=1, le=100000)] = 1) -> Response:
    svc = services(request)
    info = session(request)
    listing = await run_in_threadpool(
        svc.registry.list_patients, limit=PAGE, offset=(page - 1) * PAGE,
        centre=info.account.centre, search=q.strip() or None)
    template = "fragments/patient_rows.html.j2" if is_htmx(request) else "patients.html.j2"
    return render(request, template, title="Patients", listing=listing, q=q, page=page,
                  pages=max(1, -(-listing["total"] // PAGE)))


# -- form values <-> case document -----------------------------------------------------------

def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _blank_values() -> dict[str, str]:
    keys = ["upn", "centre", "person_id", "relationship", "through", "sex", "age", "weight_kg",
            "height_cm", "abo", "cmv_igg", "diagnosis", "disease_status", "disease_risk",
            "medically_eligible", "desensitization_plan", "hla_gl", "ab_test_date",
            "ab_method", "ab_results", "reason", "version"]
    values = dict.fromkeys(keys, "")
    for locus in LOCI:
        values[f"hla_{locus}_1"] = values[f"hla_{locus}_2"] = ""
    values["ab_method"] = SAB
    return values


def _form_values(form: Mapping[str, Any]) -> dict[str, str]:
    values = _blank_values()
    for key in values:
        raw = form.get(key)
        if isinstance(raw, str):
            values[key] = raw[:4000]
    return values


def _values_of(person: Mapping[str, Any]) -> dict[str, str]:
    """A person of a case document as form values."""
    v = _blank_values()
    v["person_id"] = _text(person.get("id"))
    for key in ("relationship", "through", "sex", "age", "weight_kg", "height_cm", "abo",
                "cmv_igg", "diagnosis", "disease_status", "disease_risk", "medically_eligible"):
        v[key] = _text(person.get(key))
    v["desensitization_plan"] = _text(person.get("desensitization_plan")
                                      or person.get("desensitisation_plan"))
    hla = person.get("hla")
    if isinstance(hla, Mapping):
        for key, value in hla.items():
            locus = parse_locus(str(key))
            if locus is None or locus.value not in LOCI:
                continue
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items[:2]):
                v[f"hla_{locus.value}_{i + 1}"] = _text(item)
    if person.get("hla_gl") is not None:
        v["hla_gl"] = _text(person.get("hla_gl"))
    ab = person.get("antibodies")
    if isinstance(ab, Mapping):
        v["ab_test_date"] = _text(ab.get("test_date"))
        v["ab_method"] = _text(ab.get("method")) or SAB
        lines = []
        for r in ab.get("results") or []:
            if isinstance(r, Mapping):
                line = f"{_text(r.get('specificity'))} {_text(r.get('mfi'))}"
                if r.get("c1q") is not None:
                    line += f" {_text(r.get('c1q'))}"
                lines.append(line)
        v["ab_results"] = "\n".join(lines)
    return v


def _number(values: dict[str, str], key: str, bounds: tuple[float, float], what: str,
            errors: dict[str, str]) -> float | int | None:
    lo, hi = bounds
    text = values[key].strip().replace(",", ".")
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        errors[key] = f"{what} must be a number, got {values[key]!r}"
        return None
    if not lo <= number <= hi:
        errors[key] = f"{what} must be between {lo:g} and {hi:g}, got {values[key]!r}"
        return None
    return int(number) if number.is_integer() else number


def _choice(values: dict[str, str], key: str, allowed: tuple[str, ...], what: str,
            errors: dict[str, str]) -> str | None:
    text = values[key].strip()
    if not text:
        return None
    if text not in allowed:
        errors[key] = f"{what} must be one of {', '.join(allowed)}, got {values[key]!r}"
        return None
    return text


def _free(values: dict[str, str], key: str, what: str, errors: dict[str, str]) -> str | None:
    text = values[key].strip()
    if len(text) > _TEXT_MAX:
        errors[key] = f"{what} is at most {_TEXT_MAX} characters"
        return None
    return text or None


def _put(doc: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        doc.pop(key, None)
    else:
        doc[key] = value


def check_hla_fields(reference: Any, values: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every HLA box checked as the live check checks it: field → check result."""
    checks = {}
    for locus in LOCI:
        for n in (1, 2):
            key = f"hla_{locus}_{n}"
            if values[key].strip():
                checks[key] = check_typing(reference, locus, values[key])
    if values["hla_gl"].strip():
        checks["hla_gl"] = check_typing(reference, None, values["hla_gl"])
    return checks


def _hla_errors(checks: dict[str, dict[str, Any]], errors: dict[str, str]) -> None:
    for key, result in checks.items():
        if not result["valid"]:
            problem = {"invalid_name": "not valid HLA nomenclature",
                       "unknown": f"not in IPD-IMGT/HLA {result['release']}",
                       "wrong_locus": "wrong locus"}.get(
                           result["problem"], "refused")
            errors[key] = f"{result['input']!r}: {problem} — {result['message']}"


def _specificity_ok(text: str) -> bool:
    """An allele, antigen, or DQ/DP heterodimer (``DQA1*05:01/DQB1*02:01``), by form."""
    try:
        parse_typing(text)
        return True
    except EverydonorError:
        parts = text.split("/")
        if len(parts) != 2:
            return False
        try:
            return all(parse_typing(p).locus is not None for p in parts)
        except EverydonorError:
            return False


def _antibodies(values: dict[str, str], old: Any, errors: dict[str, str]
                ) -> dict[str, Any] | None:
    results = []
    for number, line in enumerate(values["ab_results"].splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.replace(",", " ").replace("\t", " ").split()
        if len(parts) not in (2, 3):
            errors["ab_results"] = (f"line {number} ({line.strip()!r}): write the specificity "
                                    "and the MFI, e.g. 'A*24:02 8500' (optionally C1q "
                                    "positive/negative)")
            return None
        spec, mfi_text = parts[0], parts[1]
        if not _specificity_ok(spec):
            errors["ab_results"] = (f"line {number}: {spec!r} is not an allele, antigen or "
                                    "DQ/DP heterodimer (e.g. A*24:02, DR4, "
                                    "DQA1*05:01/DQB1*02:01)")
            return None
        try:
            mfi = float(mfi_text)
        except ValueError:
            errors["ab_results"] = f"line {number}: the MFI {mfi_text!r} is not a number"
            return None
        if not 0 <= mfi <= 100000:
            errors["ab_results"] = f"line {number}: the MFI {mfi_text!r} is not 0-100000"
            return None
        item: dict[str, Any] = {"specificity": spec, "mfi": int(mfi) if mfi.is_integer()
                                else mfi}
        if len(parts) == 3:
            if parts[2] not in ("positive", "negative"):
                errors["ab_results"] = (f"line {number}: C1q is 'positive' or 'negative', got "
                                        f"{parts[2]!r}")
                return None
            item["c1q"] = parts[2]
        results.append(item)
    date = values["ab_test_date"].strip()
    if date:
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            errors["ab_test_date"] = f"the test date must be YYYY-MM-DD, got {date!r}"
            return None
    if not results and not date:
        return None
    ab: dict[str, Any] = dict(old) if isinstance(old, Mapping) else {}
    ab.pop("test_date", None)
    if date:
        ab["test_date"] = date
    ab["method"] = values["ab_method"].strip() or SAB
    ab["results"] = results
    return ab


def apply_person(person: dict[str, Any], values: dict[str, str], *, is_patient: bool,
                 facts: bool, hla: bool, errors: dict[str, str],
                 unrelated: bool = False) -> None:
    """Put the form's values into a person of a case document (the case format's fields).
    ``facts``/``hla``: which parts the user may change (the others are left as stored)."""
    if facts:
        _put(person, "sex", _choice(values, "sex", tuple(s.value for s in Sex), "sex", errors))
        if "birth_date" not in person:  # an age from a stored birth date is not edited here
            _put(person, "age", _number(values, "age", (0, 120), "age (years)", errors))
        _put(person, "weight_kg", _number(values, "weight_kg", (0.5, 400), "weight (kg)",
                                          errors))
        # the body-surface area of the treatment plan's doses needs it (case format: 30-250)
        _put(person, "height_cm", _number(values, "height_cm", (30, 250), "height (cm)",
                                          errors))
        _put(person, "abo", _choice(values, "abo", ABO, "ABO", errors))
        _put(person, "cmv_igg", _choice(values, "cmv_igg",
                                        tuple(c.value for c in CmvSerostatus), "CMV IgG",
                                        errors))
        if is_patient:
            _put(person, "diagnosis", _free(values, "diagnosis", "the diagnosis", errors))
            _put(person, "disease_status", _free(values, "disease_status",
                                                 "the disease status", errors))
            _put(person, "disease_risk", _choice(values, "disease_risk", DISEASE_RISKS,
                                                 "disease risk", errors))
        elif unrelated:  # registry donors: no relationship; eligibility and plan as relatives
            eligible = _choice(values, "medically_eligible", ("yes", "no"),
                               "medically eligible", errors)
            _put(person, "medically_eligible", None if eligible is None else eligible == "yes")
            person.pop("desensitisation_plan", None)
            _put(person, "desensitization_plan", _free(values, "desensitization_plan",
                                                       "the desensitisation plan", errors))
        else:
            rel = _choice(values, "relationship", tuple(r.value for r in Relationship),
                          "relationship", errors)
            if rel is None and "relationship" not in errors:
                errors["relationship"] = "a relative needs the relationship to the patient"
            _put(person, "relationship", rel)
            through = _choice(values, "through", ("father", "mother"), "through", errors)
            if through is not None and rel is not None and Relationship(rel) \
                    not in THROUGH_ALLOWED:
                errors["through"] = f"'through' does not apply to a {rel.replace('_', ' ')}"
            _put(person, "through", through)
            implied = IMPLIED_SEX.get(Relationship(rel)) if rel else None
            sex = person.get("sex")
            if implied is not None and sex is not None and sex != implied.value:
                errors["sex"] = (f"a {rel.replace('_', ' ') if rel else ''} is "
                                 f"{implied.value}, the form says {sex}")
            eligible = _choice(values, "medically_eligible", ("yes", "no"),
                               "medically eligible", errors)
            _put(person, "medically_eligible", None if eligible is None else eligible == "yes")
            person.pop("desensitisation_plan", None)
            _put(person, "desensitization_plan", _free(values, "desensitization_plan",
                                                       "the desensitisation plan", errors))
    if hla:
        stored = person.get("hla")
        old: Mapping[str, Any] = stored if isinstance(stored, Mapping) else {}
        wanted: dict[str, list[str] | str] = {}
        for locus_name in LOCI:
            a = values[f"hla_{locus_name}_1"].strip()
            b = values[f"hla_{locus_name}_2"].strip()
            if a and not b and looks_like_glsc(a):  # the locus as one GL String Code, verbatim
                wanted[locus_name] = a
            elif a and b:
                wanted[locus_name] = [a, b]
            elif a or b:
                key = f"hla_{locus_name}_2" if a else f"hla_{locus_name}_1"
                errors.setdefault(key, f"locus {locus_name} has one typing: enter the "
                                       "second (repeat the first if homozygous)")
        any_locus = bool(wanted)
        # the stored order and key spelling kept (no spurious changes); loci the form does
        # not offer, and x_ keys, kept as they are; new loci after them in the form's order
        typed: dict[str, Any] = {}
        for key, value in old.items():
            locus = parse_locus(str(key))
            if locus is None or locus.value not in LOCI:
                typed[key] = value
            elif locus.value in wanted:
                typed[key] = wanted.pop(locus.value)
        typed.update(wanted)
        gl = values["hla_gl"].strip()
        if gl and any_locus:
            errors["hla_gl"] = ("give the typing either per locus or as a GL string, "
                                "not both")
        person.pop("hla", None)
        person.pop("hla_gl", None)
        if gl:
            person["hla_gl"] = gl
        elif typed:
            person["hla"] = typed
        if is_patient:
            _put(person, "antibodies", _antibodies(values, person.get("antibodies"), errors))


def _person_of(document: Mapping[str, Any], person_id: str) -> tuple[dict[str, Any], str]:
    if document["patient"].get("id") == person_id:
        return document["patient"], "patient"
    for role in ("relatives", "unrelated"):
        for p in document.get(role) or []:
            if p.get("id") == person_id:
                return p, role
    raise NotFound("person")


def _field_of(exc: EverydonorError) -> str | None:
    """The form field a case-level refusal names (``hla.DRB1`` → the first DRB1 box)."""
    field = exc.field or ""
    if field.startswith("hla."):
        return f"hla_{field[4:]}_1" if field[4:] in LOCI else "hla_gl"
    if field == "hla_gl":
        return "hla_gl"
    if field.startswith("antibodies"):
        return "ab_results"
    return field if field in _blank_values() and field != "version" else None


def _reason(values: dict[str, str], errors: dict[str, str]) -> str:
    reason = values["reason"].strip()
    if not reason:
        errors["reason"] = "every change to a stored patient needs a reason"
    elif len(reason) > _REASON_MAX:
        errors["reason"] = f"the reason is at most {_REASON_MAX} characters"
    return reason


def _checker(request: Request) -> Any:
    reducer = services(request).reference.reducer
    return lambda case: check_typings(case, reducer.alleles_of)


# -- pages -------------------------------------------------------------------------------------

def field_labels() -> dict[str, str]:
    """What the error summary calls each form field."""
    labels = {"upn": "UPN", "centre": "Centre", "person_id": "Person id",
              "relationship": "Relationship", "through": "Through", "sex": "Sex",
              "age": "Age", "weight_kg": "Weight", "height_cm": "Height", "abo": "ABO / Rh",
              "cmv_igg": "CMV IgG",
              "diagnosis": "Diagnosis", "disease_status": "Disease status",
              "disease_risk": "Disease risk", "medically_eligible": "Medically eligible",
              "desensitization_plan": "Desensitisation plan", "hla_gl": "GL string",
              "ab_test_date": "Antibody test date", "ab_results": "Antibody results",
              "reason": "Reason for change", "version": "Record version"}
    for locus in LOCI:
        for n in (1, 2):
            labels[f"hla_{locus}_{n}"] = f"HLA-{locus} typing {n}"
    return labels


def _form_page(request: Request, template: str, *, values: dict[str, str],
               errors: dict[str, str] | None = None, checks: dict[str, Any] | None = None,
               status_code: int = 200, **context: Any) -> Response:
    svc = services(request)
    errors = errors or {}
    context.setdefault("can_facts", True)
    context.setdefault("is_patient", True)
    context.setdefault("person_id", None)
    context.setdefault("unrelated", False)
    return render(request, template, status_code=status_code, values=values, errors=errors,
                  checks=checks or {}, loci=LOCI, abo_options=[(a, a) for a in ABO],
                  relationship_options=[(r.value, r.value.replace("_", " "))
                                        for r in Relationship],
                  risk_options=[(r, r.replace("_", " ")) for r in DISEASE_RISKS],
                  release=svc.reference.release, field_labels=field_labels(), **context)


@router.get("/patients/new", name="patient_new")
@permission("patient.write")
def patient_new(request: Request) -> Response:
    return _form_page(request, "patient_new.html.j2", title="New patient",
                      values=_blank_values(), needs_centre=session(request).account.centre
                      is None)


@router.post("/patients", name="patient_create")
@permission("patient.write")
async def patient_create(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(_create, request, _form_values(form))


def _create(request: Request, values: dict[str, str]) -> Response:
    svc = services(request)
    account = session(request).account
    errors: dict[str, str] = {}
    upn = values["upn"].strip()
    if not _UPN_RE.match(upn):
        errors["upn"] = (f"the UPN is 1-64 letters, digits, '.', '_' or '-' (starting with a "
                         f"letter or digit), got {values['upn']!r}")
    centre = account.centre
    if centre is None:
        centre = values["centre"].strip() or None
        if centre is None:
            errors["centre"] = "choose the centre the patient belongs to"
    person: dict[str, Any] = {"id": PATIENT_ID}
    apply_person(person, values, is_patient=True, facts=True, hla=True, errors=errors)
    checks = check_hla_fields(svc.reference, values)
    _hla_errors(checks, errors)
    if "upn" not in errors and svc.registry.patient_centre(upn) is not None:
        errors["upn"] = f"there is already a patient {upn!r} in the registry"
    today = svc.now().date()
    document = {"format": CASE_FORMAT, "as_of": today.isoformat(), "patient": person,
                "relatives": [], "unrelated": []}

    def again(status: int) -> Response:
        return _form_page(request, "patient_new.html.j2", title="New patient", values=values,
                          errors=errors, checks=checks, status_code=status,
                          needs_centre=account.centre is None)

    if errors:
        return again(422)
    try:
        svc.registry.add_case(document, actor=actor(request), upn=upn, centre=centre or "",
                              today=today)
    except EverydonorError as exc:
        errors[_field_of(exc) or "_form"] = str(exc)
        return again(422)
    return RedirectResponse(f"/patients/{upn}", status_code=303)


@router.get("/patients/{upn}", name="patient_page")
@permission("patient.read")
def patient_page(request: Request, upn: str) -> Response:
    svc = services(request)
    shown, current = svc.registry.patient_view(upn)
    document, data_sha, version = current
    pedigree, legend, ranks, pedigree_error, rules = _pedigree(request, upn, current)
    persons = _persons(document, shown)
    return render(request, "patient.html.j2", title=f"Patient {upn}", upn=upn, shown=shown,
                  document=document, persons=persons, pedigree=pedigree, legend=legend,
                  ranks=ranks, pedigree_error=pedigree_error, rules=rules,
                  release=svc.reference.release, data_sha=data_sha, patient_version=version,
                  patient=document["patient"])


def _pedigree(request: Request, upn: str, current: tuple[dict[str, Any], str, int]
              ) -> tuple[Markup | None, list[Any], dict[str, str], str | None, str | None]:
    """The pedigree SVG (the report's drawing: presentation attributes only, no ``style=``,
    so the strict CSP lets it render inline), its haplotype legend, and the rank badges."""
    from everydonor.adapters.report.pedigree import COLOURS, UNKNOWN, render_pedigree_svg
    from everydonor.adapters.web.services import pedigree_people
    from everydonor.case import parse_case

    svc = services(request)
    error = None
    rules = None
    try:
        ranked = svc.ranked(upn, PEDIGREE_RULES, current)
        family, people = ranked.family, ranked.family["people"]
        ranks = {d["id"]: f"#{d['rank']}" for d in ranked.document.get("ranking", [])}
        ranks.update({x["id"]: "✗" for x in ranked.document.get("excluded", [])})
        rules = f"{ranked.rules.name}@{ranked.rules.version}"
    except EverydonorError as exc:
        error = str(exc)
        try:
            people = pedigree_people(parse_case(current[0], today=svc.now().date()))
        except EverydonorError:
            return None, [], {}, error, None
        family, ranks = {}, {}
    legend = []
    for side in ("paternal", "maternal"):
        haps = (family.get("haplotypes") or {}).get(side) or {}
        letters = [(k, (v or {}).get("gl") or "not typed", COLOURS.get(k, UNKNOWN))
                   for k, v in haps.items() if k != "inferred"]
        if letters:
            legend.append((side, bool(haps.get("inferred")), letters))
    svg = render_pedigree_svg(family, people, ranks)
    return Markup(svg), legend, ranks, error, rules  # built from escaped parts


def _gl_of(typing: Mapping[str, Any]) -> str:
    code = str(typing.get("glsc") or "")
    if code.startswith("hla#"):
        code = code.split("#", 2)[2]
    return code.replace("HLA-", "")


def _locus_order(typing: Mapping[str, Any]) -> tuple[int, str]:
    """A, B, C, DRB1, DQB1, DPB1, then the other loci: every row of the table alike."""
    locus = str(typing.get("locus") or "")
    order = (*LOCI, "DRB3", "DRB4", "DRB5", "DQA1", "DPA1")
    return (order.index(locus) if locus in order else len(order), locus)


def _persons(document: Mapping[str, Any], shown: Mapping[str, Any]) -> list[dict[str, Any]]:
    summaries = {p["id"]: p for p in shown["persons"]}
    out = []
    people = [(document["patient"], "patient")] + [
        (p, role) for role in ("relatives", "unrelated") for p in document.get(role) or []]
    for p, role in people:
        s = summaries.get(p.get("id"), {})
        rel = p.get("relationship")
        implied_sex = IMPLIED_SEX.get(Relationship(rel)) if rel else None
        implied = implied_sex.value if implied_sex is not None else None
        ab = s.get("antibodies")
        ab_summary = None
        if ab:
            results = sorted(ab["results"], key=lambda r: -(r["mfi"] or 0))
            ab_summary = {"date": ab.get("test_date"), "method": ab.get("method"),
                          "count": len(results), "top": results[:4],
                          "more": max(0, len(results) - 4)}
        out.append({"id": p.get("id"), "role": role, "relationship": rel,
                    "through": p.get("through"), "sex": p.get("sex") or implied,
                    "sex_implied": p.get("sex") is None and implied is not None,
                    "age": p.get("age"), "abo": p.get("abo"), "cmv": p.get("cmv_igg"),
                    "eligible": p.get("medically_eligible"),
                    "desensitization": p.get("desensitization_plan")
                    or p.get("desensitisation_plan"),
                    "typings": [_gl_of(t) for t in sorted(s.get("typings", []),
                                                          key=_locus_order)],
                    "releases": sorted({t["release"] for t in s.get("typings", [])}),
                    "antibodies": ab_summary, "registry": p.get("registry"),
                    "donor_id": p.get("donor_id")})
    return out


# -- relatives and persons ---------------------------------------------------------------------

def _person_form(request: Request, upn: str, *, template: str, values: dict[str, str],
                 is_patient: bool, person_id: str | None, errors: dict[str, str] | None = None,
                 unrelated: bool = False,
                 checks: dict[str, Any] | None = None, status_code: int = 200
                 ) -> Response:
    can_facts = _can(request, "patient.write")
    title = ("Add a relative" if person_id is None else
             f"Patient {upn}: {'patient' if is_patient else 'person'} {person_id}")
    return _form_page(request, template, title=title, values=values, errors=errors,
                      checks=checks, status_code=status_code, upn=upn, person_id=person_id,
                      is_patient=is_patient, can_facts=can_facts, unrelated=unrelated)


def _can(request: Request, perm: str) -> bool:
    from everydonor.adapters.web.policy import allowed

    return allowed(session(request).account.role, perm)


@router.get("/patients/{upn}/persons/new", name="person_new")
@permission("patient.write")
def person_new(request: Request, upn: str) -> Response:
    svc = services(request)
    document, _, version = svc.registry.clinical_case(upn)
    values = _blank_values()
    values["version"] = str(version)
    values["person_id"] = _next_id(document)
    return _person_form(request, upn, template="person_new.html.j2", values=values,
                        is_patient=False, person_id=None)


def _next_id(document: Mapping[str, Any]) -> str:
    used = {p.get("id") for p in [document["patient"], *(document.get("relatives") or []),
                                  *(document.get("unrelated") or [])]}
    n = 1
    while f"R{n}" in used:
        n += 1
    return f"R{n}"


@router.post("/patients/{upn}/persons", name="person_add")
@permission("patient.write")
async def person_add(request: Request, upn: str) -> Response:
    form = await request.form()
    return await run_in_threadpool(_add_person, request, upn, _form_values(form))


def _version(values: dict[str, str]) -> int | None:
    return int(values["version"]) if values["version"].strip().isdigit() else None


def _add_person(request: Request, upn: str, values: dict[str, str]) -> Response:
    svc = services(request)
    errors: dict[str, str] = {}
    person_id = values["person_id"].strip()
    if not _ID_RE.match(person_id):
        errors["person_id"] = (f"a person id is 1-32 letters, digits, '.', '_' or '-' (e.g. F, "
                               f"M, B1), got {values['person_id']!r}")
    person: dict[str, Any] = {"id": person_id}
    apply_person(person, values, is_patient=False, facts=True, hla=True, errors=errors)
    checks = check_hla_fields(svc.reference, values)
    _hla_errors(checks, errors)
    reason = _reason(values, errors)

    def again(status: int) -> Response:
        return _person_form(request, upn, template="person_new.html.j2", values=values,
                            is_patient=False, person_id=None, errors=errors, checks=checks,
                            status_code=status)

    if errors:
        return again(422)

    def edit(document: dict[str, Any]) -> None:
        used = {p.get("id") for p in [document["patient"], *(document.get("relatives") or []),
                                      *(document.get("unrelated") or [])]}
        if person_id in used:
            raise InputError(f"there is already a person {person_id!r} in this case",
                             field="person_id", value=person_id)
        document.setdefault("relatives", []).append(person)

    try:
        svc.registry.edit_case(upn, edit, actor=actor(request), reason=reason,
                               expected_version=_version(values), check=_checker(request),
                               today=svc.now().date())
    except EverydonorError as exc:
        errors[_field_of(exc) or "_form"] = str(exc)
        return again(422)
    return RedirectResponse(f"/patients/{upn}#person-{person_id}", status_code=303)


@router.get("/patients/{upn}/persons/{person_id}", name="person_edit_form")
@permission("hla.write")
def person_edit_form(request: Request, upn: str, person_id: str) -> Response:
    svc = services(request)
    document, _, version = svc.registry.clinical_case(upn)
    person, role = _person_of(document, person_id)
    values = _values_of(person)
    values["version"] = str(version)
    checks = check_hla_fields(svc.reference, values)
    return _person_form(request, upn, template="person_edit.html.j2", values=values,
                        is_patient=role == "patient", person_id=person_id, checks=checks,
                        unrelated=role == "unrelated")


@router.post("/patients/{upn}/persons/{person_id}", name="person_edit")
@permission("hla.write")
async def person_edit(request: Request, upn: str, person_id: str) -> Response:
    form = await request.form()
    return await run_in_threadpool(_edit_person, request, upn, person_id, _form_values(form))


def _edit_person(request: Request, upn: str, person_id: str, values: dict[str, str]
                 ) -> Response:
    svc = services(request)
    document, _, _ = svc.registry.clinical_case(upn)
    _, role = _person_of(document, person_id)  # unknown → 404 before anything else
    is_patient = role == "patient"
    can_facts = _can(request, "patient.write")
    errors: dict[str, str] = {}
    # what the form is checked against, before anything is read with identity or written
    probe = dict(_person_of(document, person_id)[0])
    apply_person(probe, values, is_patient=is_patient, facts=can_facts, hla=True, errors=errors,
                 unrelated=role == "unrelated")
    checks = check_hla_fields(svc.reference, values)
    _hla_errors(checks, errors)
    reason = _reason(values, errors)

    def again(status: int) -> Response:
        return _person_form(request, upn, template="person_edit.html.j2", values=values,
                            is_patient=is_patient, person_id=person_id, errors=errors,
                            checks=checks, status_code=status, unrelated=role == "unrelated")

    if errors:
        return again(422)

    shown_age = _text(_person_of(document, person_id)[0].get("age"))

    def edit(full: dict[str, Any]) -> None:
        person, _ = _person_of(full, person_id)
        if can_facts and "birth_date" in person and values["age"].strip() != shown_age:
            raise InputError("the age follows from the birth date held in the registry's "
                             "identity store: it is not changed here", field="age",
                             value=values["age"])
        problems: dict[str, str] = {}
        apply_person(person, values, is_patient=is_patient, facts=can_facts, hla=True,
                     errors=problems, unrelated=role == "unrelated")
        if problems:  # the same form passed above: only a concurrent change could do this
            field, message = next(iter(problems.items()))
            raise InputError(message, field=field)

    try:
        result = svc.registry.edit_case(upn, edit, actor=actor(request), reason=reason,
                                        expected_version=_version(values),
                                        check=_checker(request), today=svc.now().date())
    except EverydonorError as exc:
        errors[_field_of(exc) or "_form"] = str(exc)
        return again(422)
    note = "" if result.get("status") != "unchanged" else "?unchanged=1"
    return RedirectResponse(f"/patients/{upn}{note}#person-{person_id}", status_code=303)
