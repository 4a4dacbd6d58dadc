"""Routes: the JSON API under ``/api/v1``, the command line's JSON contract over HTTP.

Each computation answers exactly what the command gives with ``--format json`` for the same
input (``../shared/spec/case-format.md``): ``hla check``, ``family``, ``match``, ``rank``,
``plan``, ``followup`` and ``score`` on data sent with the request (nothing is read from or
written to the registry), plus the lists (scores, regimens, rule sets). Every route needs the
permission ``compute`` (any signed-in role); a POST needs the session's CSRF token in the
``X-CSRF-Token`` header (``GET /api/v1/session`` gives it). Bad input answers 422 with the
error naming the person, field and value; the app never answers 500 to any input (tested with
schemathesis against ``/api/v1/openapi.json``).

The computations call the core and the adapters directly, never the command-line modules.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from everydonor import __version__
from everydonor.adapters.web.http import services, session
from everydonor.adapters.web.policy import permission
from everydonor.adapters.web.services import NOTICE, Reference
from everydonor.errors import EverydonorError, InputError

router = APIRouter(prefix="/api/v1", tags=["api"])

CASE_DESCRIPTION = (
    "A case document (`everydonor.case/1`) as JSON: the patient and the people who could "
    "donate, exactly as a case file holds it (see the case format, `../shared/spec/"
    "case-format.md`, and its JSON Schema: `everydonor case schema`). Any key the format does "
    "not know is refused (422) naming the person and the key; `x_...` keys and `extensions` "
    "are carried through unread.")

#: RFC 8259 / I-JSON: integers beyond 2^53 are not exchanged exactly between JSON readers.
MAX_INTEGER = 2**53
#: Day 0 as the calendar arithmetic can carry it (a plan's dates run years either side).
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2199, 12, 31)


Typing = Annotated[str, StringConstraints(max_length=4000)]
CaseDocument = Annotated[dict[str, Any], Field(description=CASE_DESCRIPTION)]


def _example_case() -> dict[str, Any]:
    import json
    from importlib import resources

    text = resources.files("everydonor").joinpath("data", "examples", "case.json").read_text(
        encoding="utf-8")
    case: dict[str, Any] = json.loads(text)
    return case


_EXAMPLE_CASE = _example_case()


# -- request bodies ----------------------------------------------------------------------------

def _enum_of(names: Callable[[], list[str]]) -> Callable[[dict[str, Any]], None]:
    """The known names as the schema's ``enum``, read when the OpenAPI is built (a rule set a
    centre registers at start-up is listed too); the route still checks and names the value."""
    def extra(schema: dict[str, Any]) -> None:
        schema["enum"] = names()
    return extra


def _score_names() -> list[str]:
    from everydonor.scores.catalogue import SCORES

    return sorted(SCORES)


def _rule_set_names() -> list[str]:
    from everydonor.selection.catalogue import rule_set_names

    return rule_set_names()


def _regimen_ids() -> list[str]:
    from everydonor.adapters.inputs.regimens import bundled_regimens

    return [r.id for r in bundled_regimens()]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HlaCheckRequest(_Body):
    typings: list[Typing] = Field(
        min_length=1, max_length=2000,
        description="Typings in any nomenclature the command line reads (allele, allele "
                    "string, MAC, XX code, G/P group, serology, GL string), as `everydonor hla "
                    "check TYPING...` takes them.",
        examples=[["A*01:01", "A*02:XX", "DR15", "A*01:99999"]])


class HlaReduceRequest(HlaCheckRequest):
    to: Literal["2field", "g", "p", "lgx", "serology"] = Field(
        default="lgx", description="The target, as `everydonor hla reduce --to` takes it.")


class CaseRequest(_Body):
    case: CaseDocument = Field(examples=[_EXAMPLE_CASE])


class MatchRequest(CaseRequest):
    dsa_positive_mfi: float | None = Field(
        default=None, ge=0, allow_inf_nan=False,
        description="Count only antibody results at or above this MFI (the laboratory's "
                    "cut-off; `match --dsa-positive-mfi`). Default: every reported result.")


class RankRequest(CaseRequest):
    rules: Annotated[str, StringConstraints(max_length=200),
                     Field(json_schema_extra=_enum_of(_rule_set_names))] | dict[str, Any] = Field(
        default="beijing",
        description="A rule set by name (`GET /api/v1/rule-sets`: `beijing`, "
                    "`beijing@csh2018`, `baltimore`, `ebmt`, ...) or a centre's rule set as an "
                    "object based on a built-in one (`{\"name\", \"version\", \"base\", "
                    "\"parameters\", \"criteria\", ...}`, as `rank --rules FILE` reads it).",
        examples=["beijing"])


class PlanRequest(CaseRequest):
    regimen: Annotated[str, StringConstraints(max_length=200),
                       Field(json_schema_extra=_enum_of(_regimen_ids))] | dict[str, Any] = Field(
        description="A bundled regimen by id (`GET /api/v1/regimens`) or a centre's regimen "
                    "as an object (`everydonor.regimen/1`, as `plan --regimen FILE` reads it).",
        examples=["beijing-mac-malignancy"])
    day0: dt.date = Field(description="Day 0: the first graft infusion (YYYY-MM-DD).",
                          examples=["2026-12-15"], ge=FIRST_DAY, le=LAST_DAY)
    donor: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="The chosen donor's person id (priming doses by the donor's "
                                  "weight).", examples=["S2"])
    bsa: Literal["mosteller", "dubois"] = Field(
        default="mosteller", description="Body-surface-area formula.")
    options: dict[str, Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=dict,
        description="Regimen options by name (`plan --option NAME=VALUE`), e.g. "
                    "`{\"atg_total_mg_per_kg\": \"7.5\"}`.")
    engraftment_day: int | None = Field(
        default=None, ge=-100, le=1000,
        description="Day of engraftment, to date the monitoring that starts then.")


class FollowUpRequest(CaseRequest):
    day0: dt.date = Field(description="Day 0 of the transplant (results are dated from it).",
                          examples=["2026-12-15"], ge=FIRST_DAY, le=LAST_DAY)


class ScoreRequest(_Body):
    name: Annotated[str, StringConstraints(max_length=200)] = Field(
        description="The score (`GET /api/v1/scores`).", examples=["magic_agvhd_grade"],
        json_schema_extra=_enum_of(_score_names))
    inputs: dict[str, Any] = Field(
        description="The score's input object, exactly the keys `everydonor score NAME --input "
                    "FILE.json` reads.", examples=[{"skin_stage": 3, "lower_gi_stage": 2}])


# -- documented answers ------------------------------------------------------------------------

class ApiError(BaseModel):
    """An error answer: ``error`` says what is wrong; bad input also names where."""

    model_config = ConfigDict(extra="allow")
    error: str
    message: str | None = None
    person: str | None = None
    field: str | None = None
    value: str | None = None
    locus: str | None = None
    role: str | None = None
    problems: list[dict[str, Any]] | None = None


def _answer(description: str, *required: str) -> dict[int | str, dict[str, Any]]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": True}
    if required:
        schema["required"] = list(required)
    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": ApiError, "description": "Not signed in."},
        403: {"model": ApiError, "description": "No CSRF token (`X-CSRF-Token`) on a POST, "
                                                "or the role may not do this."},
        422: {"model": ApiError, "description": "Bad input: the error names the person, the "
                                                "field and the value."},
    }
    return {200: {"description": description,
                  "content": {"application/json": {"schema": schema}}}, **errors}


def _post_errors() -> dict[int | str, dict[str, Any]]:
    return {400: {"model": ApiError, "description": "The body could not be read."},
            413: {"model": ApiError, "description": "The body is over the size limit."}}


def _json(document: Mapping[str, Any]) -> JSONResponse:
    return JSONResponse(dict(document))


# -- helpers -----------------------------------------------------------------------------------

def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:18]}...{text[-18:]} ({len(text)} digits)"


def _finite(value: Any, path: str) -> None:
    """Refuse NaN, infinities (Python's JSON reader accepts them; no answer can hold them) and
    integers beyond 2^53 (no reader takes them as the number written)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise InputError("numbers must be finite (no NaN or Infinity)", field=where,
                             value=repr(item))
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INTEGER:
            raise InputError(f"integer beyond ±{MAX_INTEGER:,} (2^53, the largest a JSON "
                             "number carries exactly)", field=where, value=_short(item))
        if isinstance(item, Mapping):
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))


def _case(document: dict[str, Any]) -> Any:
    from everydonor.case import parse_case

    _finite(document, "case")
    return parse_case(document, today=dt.date.today())


def _provenance(ref: Reference) -> dict[str, Any]:
    return ref.provenance()


def _rule_set(spec: str | dict[str, Any]) -> Any:
    from everydonor.selection.catalogue import get_rule_set, rule_set_from_mapping

    if isinstance(spec, str):
        return get_rule_set(spec)
    _finite(spec, "rules")
    try:
        return rule_set_from_mapping(spec)
    except EverydonorError as exc:
        exc.field = f"rules.{exc.field}" if exc.field else "rules"
        raise


def _regimen(spec: str | dict[str, Any]) -> Any:
    from everydonor.adapters.inputs.regimens import bundled_regimens, load_regimen
    from everydonor.treatment.regimen import regimen_from_mapping

    if isinstance(spec, dict):
        _finite(spec, "regimen")
        return regimen_from_mapping(spec, source="request")
    known = [r.id for r in bundled_regimens()]
    if spec not in known:  # never a file path: the server reads no file a request names
        raise InputError(f"unknown regimen {spec!r}; bundled: {', '.join(known)} (or send the "
                         "regimen as an object)", field="regimen", value=spec)
    return load_regimen(spec)


# -- who am I ----------------------------------------------------------------------------------

@router.get("/session", name="api_session",
            responses=_answer("The signed-in account and the CSRF token every POST sends in "
                              "`X-CSRF-Token`.", "username", "role", "csrf_token"))
@permission("self")
def api_session(request: Request) -> JSONResponse:
    info = session(request)
    a = info.account
    return _json({"username": a.username, "display_name": a.display_name, "role": a.role,
                  "centre": a.centre, "csrf_token": info.csrf_token,
                  "software": f"everydonor {__version__}"})


# -- HLA ---------------------------------------------------------------------------------------

@router.post("/hla/check", name="api_hla_check",
             responses={**_answer("`everydonor hla check --format json`: one result per "
                                  "typing; a typing that is not valid is a result with "
                                  "`valid: false` and its `error` (the answer is still 200).",
                                  "release", "results", "provenance"), **_post_errors()})
@permission("compute")
def api_hla_check(request: Request, body: HlaCheckRequest) -> JSONResponse:
    from everydonor.hla.check import check_typing

    ref = services(request).reference
    results: list[dict[str, Any]] = []
    for item in body.typings:
        try:
            results.append(check_typing(item, ref.ref, ref.macs))
        except EverydonorError as exc:
            if exc.value is None:
                exc.value = item
            if exc.release is None:
                exc.release = ref.release
            results.append({"input": item, "valid": False, "error": exc.to_dict()})
    return _json({"release": ref.release, "results": results,
                  "provenance": _provenance(ref)})


def _each_or_refuse(request: Request, typings: list[str],
                    fn: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """As ``hla reduce|expand``: every typing answered, or the first bad one refused (422,
    naming the value and the release), like the command line's exit status 2."""
    ref = services(request).reference
    results = []
    for item in typings:
        try:
            results.append(fn(item))
        except EverydonorError as exc:
            if exc.value is None:
                exc.value = item
            if exc.release is None:
                exc.release = ref.release
            raise
    return results


@router.post("/hla/reduce", name="api_hla_reduce",
             responses={**_answer("`everydonor hla reduce --to TO --format json`: one result "
                                  "per typing (a GL string reduced token by token).",
                                  "release", "to", "results", "provenance"), **_post_errors()})
@permission("compute")
def api_hla_reduce(request: Request, body: HlaReduceRequest) -> JSONResponse:
    from everydonor.hla.check import reduce_typing
    from everydonor.hla.reference import Resolution

    ref = services(request).reference
    to = Resolution(body.to)
    results = _each_or_refuse(request, body.typings,
                              lambda t: reduce_typing(t, ref.reducer, to))
    return _json({"release": ref.release, "to": body.to, "results": results,
                  "provenance": _provenance(ref)})


@router.post("/hla/expand", name="api_hla_expand",
             responses={**_answer("`everydonor hla expand --format json`: every allele of the "
                                  "release each typing stands for.",
                                  "release", "results", "provenance"), **_post_errors()})
@permission("compute")
def api_hla_expand(request: Request, body: HlaCheckRequest) -> JSONResponse:
    from everydonor.hla.check import expand_typing

    ref = services(request).reference
    results = _each_or_refuse(request, body.typings,
                              lambda t: expand_typing(t, ref.ref, ref.macs))
    return _json({"release": ref.release, "results": results,
                  "provenance": _provenance(ref)})


# -- family, match, rank -----------------------------------------------------------------------

@router.post("/family", name="api_family",
             responses={**_answer("`everydonor family --format json`: haplotypes, members, "
                                  "each relative's relation to the patient.",
                                  "release", "relatives", "provenance"), **_post_errors()})
@permission("compute")
def api_family(request: Request, body: CaseRequest) -> JSONResponse:
    from everydonor.family.analysis import analyse_family

    ref = services(request).reference
    case = _case(body.case)
    document = dict(analyse_family(case, ref.reducer).document)
    document["provenance"] = _provenance(ref)
    return _json(document)


@router.post("/match", name="api_match",
             responses={**_answer("`everydonor match --format json`: every candidate donor "
                                  "against the patient.", "donors", "provenance"),
                        **_post_errors()})
@permission("compute")
def api_match(request: Request, body: MatchRequest) -> JSONResponse:
    from everydonor.matching.analysis import match_case

    ref = services(request).reference
    case = _case(body.case)
    document = match_case(case, ref.reducer, ref.tce, ref.kir,
                          dsa_positive_mfi=body.dsa_positive_mfi)
    document["provenance"] = _provenance(ref)
    return _json(document)


@router.post("/rank", name="api_rank",
             responses={**_answer("`everydonor rank --rules NAME --format json`: the explained "
                                  "ranking, exclusions, the rule set and its references.",
                                  "rules", "ranking", "excluded", "provenance"),
                        **_post_errors()})
@permission("compute")
def api_rank(request: Request, body: RankRequest) -> JSONResponse:
    from everydonor.selection.ranking import rank_case

    ref = services(request).reference
    rules = _rule_set(body.rules)
    case = _case(body.case)
    result, _family, _match = rank_case(case, ref.reducer, ref.tce, ref.kir, rules)
    document = dict(result.document)
    document["provenance"] = {**_provenance(ref), "rule_set": f"{rules.name}@{rules.version}",
                              "case_date": case.as_of.isoformat()}
    return _json(document)


# -- treatment ---------------------------------------------------------------------------------

@router.post("/plan", name="api_plan",
             responses={**_answer("`everydonor plan --format json`: doses with their "
                                  "arithmetic, the dated calendar, donor priming, monitoring.",
                                  "regimen", "patient", "orders", "provenance"),
                        **_post_errors()})
@permission("compute")
def api_plan(request: Request, body: PlanRequest) -> JSONResponse:
    from everydonor.treatment.body import BsaFormula
    from everydonor.treatment.plan import plan_regimen

    case = _case(body.case)
    regimen = _regimen(body.regimen)
    donor = None
    if body.donor is not None:
        try:
            donor = case.person(body.donor)
        except KeyError:
            raise InputError(f"no person {body.donor!r} in the case", field="donor",
                             value=body.donor) from None
        if donor.role == "patient":
            raise InputError("the donor cannot be the patient", field="donor", value=body.donor)
    document = plan_regimen(regimen, case.patient, body.day0, bsa_formula=BsaFormula(body.bsa),
                            options=body.options, donor=donor,
                            engraftment_day=body.engraftment_day)
    document["provenance"] = {"software": f"everydonor {__version__}", "notice": NOTICE,
                              "reference": f"regimen {regimen.id}@{regimen.version}"}
    return _json(document)


@router.post("/followup", name="api_followup",
             responses={**_answer("`everydonor followup --format json`: the MRD results over "
                                  "time and the protocol's recommendation with its source.",
                                  "mrd_status", "recommendations", "provenance"),
                        **_post_errors()})
@permission("compute")
def api_followup(request: Request, body: FollowUpRequest) -> JSONResponse:
    from everydonor.treatment.followup import assess_follow_up

    case = _case(body.case)
    document = assess_follow_up(case.patient, body.day0, case.follow_up)
    document["provenance"] = {"software": f"everydonor {__version__}", "notice": NOTICE}
    return _json(document)


@router.get("/regimens", name="api_regimens",
            responses=_answer("`everydonor regimens --format json`: the bundled regimens with "
                              "their options and references.", "regimens", "notice"))
@permission("compute")
def api_regimens(request: Request) -> JSONResponse:
    from everydonor.adapters.inputs.regimens import bundled_regimens

    return _json({"regimens": [r.summary() for r in bundled_regimens()], "notice": NOTICE})


# -- scores ------------------------------------------------------------------------------------

@router.post("/score", name="api_score",
             responses={**_answer("`everydonor score NAME --input FILE.json`: the score with "
                                  "its criteria version, citation, confidence and the inputs "
                                  "it used.", "name", "citation", "inputs", "provenance"),
                        **_post_errors()})
@permission("compute")
def api_score(request: Request, body: ScoreRequest) -> JSONResponse:
    from everydonor.scores.catalogue import compute_score

    _finite(body.inputs, "inputs")
    document = compute_score(body.name, body.inputs)
    document["provenance"] = {"software": f"everydonor {__version__}", "notice": NOTICE}
    return _json(document)


@router.get("/scores", name="api_scores",
            responses=_answer("`everydonor score --list --format json`: every score with its "
                              "fields, ranges, choices and citation.", "scores"))
@permission("compute")
def api_scores(request: Request) -> JSONResponse:
    from everydonor.scores.catalogue import SCORES

    return _json({"scores": [s.describe() for s in SCORES.values()]})


# -- rule sets ---------------------------------------------------------------------------------

@router.get("/rule-sets", name="api_rule_sets",
            responses=_answer("The named rule sets: each with its names (aliases), version, "
                              "platform, hierarchy, criteria and references.", "rule_sets"))
@permission("compute")
def api_rule_sets(request: Request) -> JSONResponse:
    from everydonor.selection.catalogue import get_rule_set, rule_set_names

    by_set: dict[int, tuple[Any, list[str]]] = {}
    for name in rule_set_names():
        rules = get_rule_set(name)
        by_set.setdefault(id(rules), (rules, []))[1].append(name)
    out = [{**rules.to_dict(), "names": names} for rules, names in by_set.values()]
    return _json({"rule_sets": sorted(out, key=lambda r: str(r["name"]))})
