"""Treatment plan of a stored patient: the form, the dated calendar (the core's ``plan_regimen``:
every dose, its rounding and its arithmetic exactly as the core gives them), the ICS download,
and keeping the plan as a snapshot (``rank.save``).

Nothing clinical is computed here: the router reads the stored case, hands it to the core and
lays the answer out by day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from everydonor import __version__
from everydonor.adapters.web.http import actor, error_fields, render, services
from everydonor.adapters.web.policy import permission
from everydonor.adapters.web.services import NOTICE
from everydonor.errors import EverydonorError, InputError

router = APIRouter(include_in_schema=False)

BSA_FORMULAS = ("mosteller", "dubois")
#: Form fields of the plan form (also the query of the page and of plan.ics).
FIELDS = ("regimen", "day0", "donor", "bsa", "engraftment_day")
MAX_FIELD = 200


class FormValues(dict[str, str]):
    """What the user typed; a field not sent reads as empty (the templates are strict)."""

    def __missing__(self, key: str) -> str:
        return ""


def _regimens() -> list[Any]:
    from everydonor.adapters.inputs.regimens import bundled_regimens

    return bundled_regimens()


def _form_values(values: Mapping[str, Any]) -> FormValues:
    """What the user sent (query or form), as text, kept to re-render the form."""
    out = FormValues()
    for key, value in values.items():
        if (key in FIELDS or key.startswith("opt_")) and isinstance(value, str):
            out[key] = value.strip()[:MAX_FIELD]
    return out


def _case(request: Request, upn: str) -> tuple[Any, str]:
    from everydonor.case import parse_case

    document, data_sha, _version = services(request).registry.clinical_case(upn)
    return parse_case(document, today=dt.date.today()), data_sha


def _options_for(regimen: Any, form: Mapping[str, str]) -> dict[str, str]:
    """The regimen's options from the form (``opt_NAME``); a day list only where the chosen
    choice needs one (the core refuses a missing one, naming it)."""
    out: dict[str, str] = {}
    for name, option in regimen.options.items():
        key = form.get(f"opt_{name}") or option.default
        out[name] = key
        choice = option.choices.get(key)
        if choice is not None and choice.total_per_kg is not None:
            days = form.get(f"opt_{choice.days_option}")
            if days:
                out[choice.days_option] = days
    return out


def compute_plan(request: Request, upn: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The core's plan for the stored patient and the form's choices, with its provenance
    (as ``everydonor plan --patient`` gives it)."""
    from everydonor.adapters.inputs.regimens import load_regimen
    from everydonor.treatment.body import BsaFormula
    from everydonor.treatment.plan import plan_regimen

    known = {r.id for r in _regimens()}
    regimen_id = form.get("regimen", "")
    if regimen_id not in known:
        raise InputError(f"choose one of the bundled regimens: {', '.join(sorted(known))}",
                         field="regimen", value=regimen_id)
    regimen = load_regimen(regimen_id)
    raw_day0 = form.get("day0", "")
    try:
        day0 = dt.date.fromisoformat(raw_day0)
    except ValueError:
        raise InputError("day 0 must be a date (YYYY-MM-DD)", field="day0",
                         value=raw_day0) from None
    bsa = form.get("bsa") or "mosteller"
    if bsa not in BSA_FORMULAS:
        raise InputError(f"the body-surface-area formula is one of: {', '.join(BSA_FORMULAS)}",
                         field="bsa", value=bsa)
    engraftment: int | None = None
    if form.get("engraftment_day"):
        try:
            engraftment = int(form["engraftment_day"])
        except ValueError:
            raise InputError("the engraftment day is a whole day number after day 0 (e.g. 14)",
                             field="engraftment_day", value=form["engraftment_day"]) from None
        if not 0 <= engraftment <= 100:
            raise InputError("the engraftment day lies from day 0 to day +100",
                             field="engraftment_day", value=form["engraftment_day"])
    case, data_sha = _case(request, upn)
    donor = None
    if form.get("donor"):
        ids = {p.id: p for p in case.relatives}
        donor = ids.get(form["donor"])
        if donor is None:
            raise InputError("the donor must be one of the patient's relatives",
                             field="donor", value=form["donor"])
    document = plan_regimen(regimen, case.patient, day0, bsa_formula=BsaFormula(bsa),
                            options=_options_for(regimen, form), donor=donor,
                            engraftment_day=engraftment)
    document["provenance"] = {"software": f"everydonor {__version__}", "notice": NOTICE,
                              "reference": f"regimen {regimen.id}@{regimen.version}",
                              "source": f"registry patient {upn}", "data_sha256": data_sha}
    return document


def plan_days(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The plan laid out by date: each day's patient orders, donor orders, donor procedures
    and monitoring, in the core's calendar order (procedures, orders, monitoring)."""
    from everydonor.treatment.plan import exact

    days: dict[int, dict[str, Any]] = {}

    def day(n: int, date: str) -> dict[str, Any]:
        return days.setdefault(n, {"day": n, "date": date, "orders": [], "procedures": [],
                                   "monitoring": []})

    def shown(o: Mapping[str, Any], who: str) -> dict[str, Any]:
        n = o["administrations_per_day"]
        return {**o, "for": who,
                "rounded_text": exact(o["dose_rounded"]),
                "exact_text": exact(o["dose"]),
                "per_rounded_text": exact(o["per_administration_rounded"]),
                "per_exact_text": exact(o["per_administration"]),
                "per_day": n > 1,
                "changed": (o["dose_rounded"] != o["dose"]
                            or o["per_administration_rounded"] != o["per_administration"])}

    for o in document["orders"]:
        day(o["day"], o["date"])["orders"].append(shown(o, "patient"))
    dp = document["donor_plan"]
    for o in dp.get("orders", []):
        day(o["day"], o["date"])["orders"].append(shown(o, "donor"))
    for p in dp.get("procedures", []):
        day(p["day"], p["date"])["procedures"].append(p)
    for m in document["monitoring"]:
        if m["day"] is not None:
            day(m["day"], m["date"])["monitoring"].append(m)
    return [days[k] for k in sorted(days)]


def _page(request: Request, upn: str, form: dict[str, str], *, document: Any = None,
          error: Any = None, kept: Any = None, status_code: int = 200) -> Response:
    regimens = [r.summary() for r in _regimens()]
    try:
        case, _ = _case(request, upn)
        relatives = [{"id": p.id, "relationship": p.relationship.value if p.relationship
                      else None, "age": p.age, "weight_kg": p.weight_kg}
                     for p in case.relatives]
    except EverydonorError:
        relatives = []
    selected = form.get("regimen") or (regimens[0]["id"] if regimens else "")
    regimen = next((r for r in regimens if r["id"] == selected), regimens[0] if regimens else None)
    days_options: dict[str, str] = {}
    for obj in _regimens():
        if regimen is not None and obj.id == regimen["id"]:
            days_options = {c.days_option: c.days_required or "" for o in obj.options.values()
                            for c in o.choices.values() if c.total_per_kg is not None}
    query = urlencode({k: v for k, v in form.items() if v})
    return render(request, "plan.html.j2", status_code=status_code, title="Treatment plan",
                  upn=upn, form=form, regimens=regimens, regimen=regimen,
                  relatives=relatives, bsa_formulas=BSA_FORMULAS, days_options=days_options,
                  document=document,
                  days=plan_days(document) if document else [], error=error, kept=kept,
                  query=query)


@router.get("/patients/{upn}/plan", name="plan_page")
@permission("patient.read")
def plan_page(request: Request, upn: str) -> Response:
    form = _form_values(request.query_params)
    kept = None
    if request.query_params.get("kept"):
        kept = _kept_snapshot(request, upn, request.query_params["kept"])
    if not form.get("regimen") or not form.get("day0"):
        return _page(request, upn, form, kept=kept)
    try:
        document = compute_plan(request, upn, form)
    except EverydonorError as exc:
        return _page(request, upn, form, error=error_fields(exc), status_code=422)
    return _page(request, upn, form, document=document, kept=kept)


def _kept_snapshot(request: Request, upn: str, snapshot_id: str) -> dict[str, Any] | None:
    """A plan snapshot of THIS patient (another patient's id shows nothing)."""
    shown = services(request).registry.show(upn)
    return next((s for s in shown["snapshots"] if s["id"] == snapshot_id[:64]
                 and s["kind"] == "plan"), None)


@router.get("/patients/{upn}/plan.ics", name="plan_ics")
@permission("patient.read")
def plan_ics(request: Request, upn: str) -> Response:
    from everydonor.adapters.report.plan_text import render_plan_ics

    form = _form_values(request.query_params)
    document = compute_plan(request, upn, form)
    stamp = services(request).now().astimezone(dt.UTC).replace(tzinfo=None)
    text = render_plan_ics(document, stamp)
    name = f"plan-{upn}-{document['regimen']['id']}-{document['day0']}.ics"
    safe = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in name)
    return Response(text, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{safe}"'})


@router.post("/patients/{upn}/plan", name="plan_keep")
@permission("rank.save")
async def plan_keep(request: Request, upn: str) -> Response:
    form = _form_values(dict((await request.form()).items()))
    try:
        document = await run_in_threadpool(compute_plan, request, upn, form)
    except EverydonorError as exc:
        return await run_in_threadpool(_page, request, upn, form, error=error_fields(exc),
                                       status_code=422)
    r = document["regimen"]
    reason = (f"plan {r['id']}@{r['version']} from day 0 {document['day0']} (web)")
    kept = await run_in_threadpool(
        lambda: services(request).registry.add_snapshot(upn, "plan", document,
                                                        actor=actor(request), reason=reason))
    query = urlencode({**{k: v for k, v in form.items() if v}, "kept": kept["id"]})
    return RedirectResponse(f"/patients/{quote(upn, safe='')}/plan?{query}", status_code=303)
