"""Follow-up of a stored patient: the timeline (stored events and scores, transplants), the
forms (engraftment, acute and chronic GVHD, CMV, chimerism, MRD), a live preview of what each
form computes (the ``scores`` package; the MRD-directed recommendation of the core's
``treatment.followup``) without storing it, and storing it through the registry
(``record_event`` / ``add_score`` / ``add_hct``: history and audit in the same transaction).

The router converts what was typed into the core's inputs (dates into days after day 0, text
into numbers) and applies the date rules of SR-11 that need day 0; every grade, category,
recovery day and recommendation is the core's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from everydonor import __version__
from everydonor.adapters.web.http import (
    NotFound,
    actor,
    error_fields,
    is_htmx,
    render,
    services,
)
from everydonor.adapters.web.policy import permission
from everydonor.errors import EverydonorError, InputError

router = APIRouter(include_in_schema=False)

MAX_TEXT = 500
MAX_LINES = 400
#: SR-11: classic acute GVHD starts by day +100; later only with the late-onset flag.
CLASSIC_AGVHD_LAST_DAY = 100
AGVHD_SCORES = ("magic_agvhd_grade", "keystone_glucksberg_agvhd_grade",
                "ibmtr_agvhd_severity_index")
CGVHD_SCORE = "nih2014_cgvhd_global_severity"
ORGANS = ("skin", "mouth", "eyes", "gi", "liver", "lungs", "joints", "genital")
#: Result keys that are bookkeeping, not the answer (shown apart or not at all).
_META = ("name", "score", "criteria", "citation", "confidence", "notes", "inputs")


class FormValues(dict[str, str]):
    """What the user typed; a field not sent reads as empty (the templates are strict)."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Kind:
    """One follow-up form: a registry event type or a score, and its title."""

    name: str
    title: str
    event: str | None = None  # registry event type
    score: str | None = None  # default score (agvhd: chosen among AGVHD_SCORES)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("engraftment", "Engraftment dates", event="engraftment"),
    Kind("neutrophil", "Neutrophil recovery from counts", score="neutrophil_engraftment_day"),
    Kind("platelet", "Platelet recovery from counts", score="platelet_engraftment_day"),
    Kind("agvhd", "Acute GVHD grade", score="magic_agvhd_grade"),
    Kind("cgvhd", "Chronic GVHD global severity", score=CGVHD_SCORE),
    Kind("cmv", "CMV", event="cmv"),
    Kind("chimerism", "Chimerism", event="chimerism"),
    Kind("mrd", "MRD", event="mrd"),
)}


# -- reading what was typed --------------------------------------------------------------------

def _text(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value[:MAX_TEXT] if value else None


def _date(form: Mapping[str, str], name: str, *, required: bool = False) -> dt.date | None:
    raw = form.get(name, "").strip()
    if not raw:
        if required:
            raise InputError("a date is required (YYYY-MM-DD)", field=name, value="(empty)")
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InputError("must be a date (YYYY-MM-DD)", field=name, value=raw) from None


def _number(form: Mapping[str, str], name: str, *, whole: bool = False) -> float | int | None:
    raw = form.get(name, "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InputError("must be a number", field=name, value=raw) from None
    if not math.isfinite(value):
        raise InputError("must be a finite number", field=name, value=raw)
    if whole:
        if value != int(value):
            raise InputError("must be a whole number", field=name, value=raw)
        return int(value)
    return value


def _day_of(token: str, day0: dt.date, field: str, line: str) -> int:
    """A day after day 0 written as a date (2026-06-27) or a day number (+12, 12)."""
    if re.fullmatch(r"[+-]?\d{1,5}", token):
        return int(token)
    try:
        return (dt.date.fromisoformat(token) - day0).days
    except ValueError:
        raise InputError("each line is a date (YYYY-MM-DD) or a day after day 0 (+12), then "
                         "the count", field=field, value=line) from None


def _pairs(form: Mapping[str, str], name: str, day0: dt.date) -> list[list[float]] | None:
    """Counts by day: one ``DATE VALUE`` (or ``DAY VALUE``) per line."""
    raw = form.get(name, "").strip()
    if not raw:
        return None
    out: list[list[float]] = []
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    if len(lines) > MAX_LINES:
        raise InputError(f"at most {MAX_LINES} lines", field=name, value=f"{len(lines)} lines")
    for line in lines:
        parts = line.replace(",", " ").replace(";", " ").replace("\t", " ").split()
        if len(parts) != 2:
            raise InputError("each line is a date (or day) and a count, e.g. "
                             "'2026-06-27 0.6'", field=name, value=line[:80])
        day = _day_of(parts[0], day0, name, line[:80])
        try:
            value = float(parts[1])
        except ValueError:
            raise InputError("the count must be a number (x10^9/L)", field=name,
                             value=line[:80]) from None
        if day < 0:
            raise InputError(f"counts are dated from day 0 ({day0.isoformat()}) on",
                             field=name, value=line[:80])
        out.append([day, value])
    return out


def _days(form: Mapping[str, str], name: str, day0: dt.date) -> list[int] | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    tokens = raw.replace(",", " ").replace(";", " ").split()
    if len(tokens) > MAX_LINES:
        raise InputError(f"at most {MAX_LINES} days", field=name, value=f"{len(tokens)} days")
    return [_day_of(t, day0, name, t[:40]) for t in tokens]


def _not_before(day: dt.date | None, day0: dt.date, field: str, what: str) -> None:
    """SR-11: a post-transplant date is on or after day 0."""
    if day is not None and day < day0:
        raise InputError(f"{what} cannot be before day 0 ({day0.isoformat()})", field=field,
                         value=day.isoformat())


# -- what each form makes ----------------------------------------------------------------------

@dataclass(slots=True)
class Entry:
    """What a form asks the registry to write: an event (type, payload) or a score
    (name, inputs), its date, and the reason written with it."""

    kind: Kind
    date: dt.date
    reason: str
    event: str | None = None
    payload: dict[str, Any] | None = None
    score: str | None = None
    inputs: dict[str, Any] | None = None


def score_fields(name: str) -> list[dict[str, Any]]:
    from everydonor.scores.catalogue import get_score

    fields: list[dict[str, Any]] = get_score(name).describe()["fields"]
    return fields


def _score_inputs(name: str, form: Mapping[str, str], day0: dt.date) -> dict[str, Any]:
    """A score's inputs from the form, field by field as the score declares them."""
    from everydonor.scores.catalogue import get_score

    score = get_score(name)
    inputs: dict[str, Any] = {}
    for f in score.fields:
        if f.kind == "bool":
            if form.get(f.name):
                inputs[f.name] = True
        elif f.kind in ("number", "int"):
            value = _number(form, f.name, whole=f.kind == "int")
            if value is not None:
                inputs[f.name] = value
        elif f.kind == "enum":
            if form.get(f.name, "").strip():
                inputs[f.name] = form[f.name].strip()[:80]
        elif f.kind == "pairs":
            pairs = _pairs(form, f.name, day0)
            if pairs is not None:
                inputs[f.name] = pairs
        elif f.kind == "ints":
            days = _days(form, f.name, day0)
            if days is not None:
                inputs[f.name] = days
        elif f.kind == "organs":
            organs: dict[str, int | None] = {}
            for organ in ORGANS:
                raw = form.get(f"{f.name}.{organ}", "").strip()
                if raw == "excluded":
                    organs[organ] = None
                elif raw:
                    if raw not in ("0", "1", "2", "3"):
                        raise InputError("an NIH organ score is 0, 1, 2 or 3 (or excluded)",
                                         field=f"{f.name}.{organ}", value=raw[:20])
                    organs[organ] = int(raw)
            if organs:
                inputs[f.name] = organs
    for param, (_default, allowed) in score.parameters.items():
        raw = form.get(param, "").strip()
        if raw:
            match = next((a for a in allowed if str(a) == raw), None)
            if match is None:
                raise InputError(f"one of: {', '.join(map(str, allowed))}", field=param,
                                 value=raw[:40])
            inputs[param] = match
    return inputs


def agvhd_score(form: Mapping[str, str], query: Mapping[str, str] | None = None) -> str:
    chosen = form.get("criteria") or (query or {}).get("agvhd") or AGVHD_SCORES[0]
    if chosen not in AGVHD_SCORES:
        raise InputError(f"the acute GVHD criteria are one of: {', '.join(AGVHD_SCORES)}",
                         field="criteria", value=chosen[:80])
    return chosen


def build_entry(kind: Kind, form: Mapping[str, str], day0: dt.date) -> Entry:
    """The entry a form describes, with the SR-11 date rules; refusals name field and value."""
    date = _date(form, "date", required=True)
    assert date is not None
    note = _text(form, "note")
    reason = f"{kind.title} entered in the web app"
    if kind.name == "engraftment":
        anc, plt = _date(form, "anc_500_date"), _date(form, "platelet_20_date")
        _not_before(anc, day0, "anc_500_date", "neutrophil engraftment (ANC) date")
        _not_before(plt, day0, "platelet_20_date", "platelet engraftment date")
        _not_before(date, day0, "date", "the engraftment record")
        payload: dict[str, Any] = {}
        if anc:
            payload["anc_500_date"] = anc.isoformat()
        if plt:
            payload["platelet_20_date"] = plt.isoformat()
        if form.get("graft_failure"):
            payload["graft_failure"] = form["graft_failure"][:20]
        if form.get("poor_graft_function"):
            payload["poor_graft_function"] = True
        if not payload:
            raise InputError("give the ANC or platelet engraftment date, or graft failure",
                             field="anc_500_date", value="(empty)")
    elif kind.name == "cmv":
        payload = {}
        load = _number(form, "load_iu_ml")
        if load is None:
            raise InputError("give the CMV DNA load (IU/mL; 0 when not detected)",
                             field="load_iu_ml", value="(empty)")
        payload["load_iu_ml"] = load
        for key in ("specimen", "pre_emptive_therapy"):
            value = _text(form, key)
            if value:
                payload[key] = value
    elif kind.name == "chimerism":
        _not_before(date, day0, "date", "a donor chimerism sample")
        payload = {}
        pct = _number(form, "donor_pct")
        if pct is None:
            raise InputError("give the donor chimerism (% donor)", field="donor_pct",
                             value="(empty)")
        payload["donor_pct"] = pct
        for key in ("method", "lineage"):
            value = _text(form, key)
            if value:
                payload[key] = value
        sample = _text(form, "sample")
        if sample:
            payload["x_sample"] = sample
    elif kind.name == "mrd":
        _not_before(date, day0, "date", "an MRD result")
        payload = {"date": date.isoformat()}
        wt1 = _number(form, "wt1_pct")
        if wt1 is not None:
            payload["wt1_pct"] = wt1
        if form.get("flow") in ("positive", "negative"):
            payload["flow"] = form["flow"]
        fusion_name = _text(form, "fusion_name")
        if fusion_name:
            if form.get("fusion_result") not in ("positive", "negative"):
                raise InputError("say whether the fusion transcript is positive or negative",
                                 field="fusion_result", value=form.get("fusion_result") or
                                 "(empty)")
            payload["fusion"] = {"name": fusion_name[:60],
                                 "positive": form["fusion_result"] == "positive"}
        method = _text(form, "method")
        if method:
            payload["method"] = method
        if not ({"wt1_pct", "flow", "fusion"} & set(payload)):
            raise InputError("an MRD result needs WT1, flow cytometry or a fusion transcript",
                             field="wt1_pct", value="(empty)")
    else:
        name = agvhd_score(form) if kind.name == "agvhd" else kind.score
        assert name is not None
        if kind.name == "agvhd":
            _not_before(date, day0, "date", "acute GVHD onset")
            day = (date - day0).days
            late = bool(form.get("late_onset"))
            if day > CLASSIC_AGVHD_LAST_DAY and not late:
                raise InputError(f"classic acute GVHD starts by day +{CLASSIC_AGVHD_LAST_DAY} "
                                 f"(this is day +{day}); tick 'late-onset acute GVHD' if it is",
                                 field="date", value=date.isoformat())
            if late:
                reason += " (late-onset acute GVHD)"
        elif kind.name == "cgvhd":
            _not_before(date, day0, "date", "a chronic GVHD assessment")
        inputs = _score_inputs(name, form, day0)
        return Entry(kind, date, reason, score=name, inputs=inputs)
    if note:
        payload["x_note"] = note
    assert kind.event is not None
    return Entry(kind, date, reason, event=kind.event, payload=payload)


def preview_entry(entry: Entry, context: Mapping[str, Any]) -> dict[str, Any]:
    """What storing the entry would show, computed by the core and checked as the registry
    checks it, with nothing written."""
    from everydonor.adapters.registry.followup import validate_event
    from everydonor.scores.catalogue import compute_score

    if entry.score is not None:
        return {"score": present_score(compute_score(entry.score, entry.inputs))}
    assert entry.event is not None and entry.payload is not None
    validate_event(entry.event, entry.date, entry.payload)
    out: dict[str, Any] = {"event": entry.event, "payload": entry.payload}
    if entry.event == "chimerism":
        out["score"] = present_score(compute_score("donor_chimerism_category",
                                                   {"donor_pct": entry.payload["donor_pct"]}))
    if entry.event == "mrd":
        out["mrd"] = assess(context, extra=[entry.payload])
    return out


def present_score(result: Mapping[str, Any]) -> dict[str, Any]:
    """A score answer for display: its result apart from its bookkeeping."""
    return {"name": result["name"], "criteria": result["criteria"],
            "citation": result["citation"], "confidence": result["confidence"],
            "notes": list(result.get("notes") or []),
            "result": {k: v for k, v in result.items() if k not in _META},
            "inputs": dict(result.get("inputs") or {})}


# -- the patient's follow-up as it stands ------------------------------------------------------

def _context(request: Request, upn: str) -> dict[str, Any]:
    from everydonor.case import parse_case

    svc = services(request)
    shown = svc.registry.show(upn)
    document, _, _ = svc.registry.clinical_case(upn)
    case = parse_case(document, today=dt.date.today())
    hcts = shown["hct"]
    day0 = dt.date.fromisoformat(hcts[-1]["day0"]) if hcts else None
    return {"shown": shown, "case": case, "hcts": hcts, "day0": day0,
            "hct_number": hcts[-1]["number"] if hcts else None}


def _mrd_of_events(events: list[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Registry MRD events as the core's MRD results (WT1, flow, fusion, date); the count of
    those that hold none of them (not used by the MRDco+ assessment)."""
    out, unused = [], 0
    for e in events:
        p = e["payload"]
        item = {k: p[k] for k in ("wt1_pct", "flow", "fusion") if p.get(k) is not None}
        if not item:
            unused += 1
            continue
        out.append({"date": p.get("date") or e["date"], **item})
    return out, unused


def assess(context: Mapping[str, Any], extra: list[Mapping[str, Any]] | None = None
           ) -> dict[str, Any] | None:
    """The core's MRD-directed recommendation on the case's follow_up and the registry's MRD
    results (and ``extra``, a result being previewed); None without day 0."""
    from everydonor.treatment.followup import assess_follow_up

    day0 = context["day0"]
    if day0 is None:
        return None
    case = context["case"]
    fu = dict(case.follow_up or {})
    registry = [e for e in context["shown"]["follow_up"]
                if e["source"] == "registry" and e["event_type"] == "mrd"]
    mrd, unused = _mrd_of_events([*registry, *({"payload": x, "date": x.get("date")}
                                               for x in extra or [])])
    fu["mrd"] = [*(fu.get("mrd") or []), *mrd]
    try:
        document = assess_follow_up(case.patient, day0, fu)
    except EverydonorError as exc:
        return {"error": error_fields(exc)}
    document["unused_results"] = unused
    document["provenance"] = {"software": f"everydonor {__version__}"}
    return document


def timeline(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Transplants, stored events and scores by date (undated case facts last)."""
    from everydonor.scores.catalogue import compute_score, get_score

    titles = {k.event: k.title for k in KINDS.values() if k.event}
    hcts = context["hcts"]
    rows: list[dict[str, Any]] = []
    for h in hcts:
        rows.append({"date": h["day0"], "type": "hct", "source": "registry", "id": None,
                     "hct": h})
    for e in context["shown"]["follow_up"]:
        row: dict[str, Any] = {"date": e["date"], "type": e["event_type"], "source": e["source"],
                               "id": e["id"], "payload": e["payload"],
                               "title": titles.get(e["event_type"], e["event_type"])}
        if e["event_type"] == "score":
            p = e["payload"]
            row["score"] = {**present_score(p["result"]), "software": p.get("software"),
                            "stored_inputs": p.get("inputs")}
            with contextlib.suppress(EverydonorError):
                row["title"] = get_score(str(p["score"])).title
        elif e["event_type"] == "chimerism" and isinstance(e["payload"].get("donor_pct"),
                                                           int | float):
            with contextlib.suppress(EverydonorError):
                row["derived"] = present_score(compute_score(
                    "donor_chimerism_category", {"donor_pct": e["payload"]["donor_pct"]}))
        rows.append(row)
    for row in rows:
        row["day"] = None
        if row["date"]:
            day = dt.date.fromisoformat(row["date"])
            before = [h for h in hcts if dt.date.fromisoformat(h["day0"]) <= day]
            if before:
                row["day"] = (day - dt.date.fromisoformat(before[-1]["day0"])).days
    rows.sort(key=lambda r: (r["date"] is None, r["date"] or "", r["type"] != "hct"))
    return rows


def _page(request: Request, upn: str, *, forms: Mapping[str, Mapping[str, str]] | None = None,
          error: tuple[str, Any] | None = None, stored: str | None = None,
          status_code: int = 200) -> Response:
    context = _context(request, upn)
    agvhd = agvhd_score(FormValues((forms or {}).get("agvhd", {})),
                        FormValues({k: v for k, v in request.query_params.items()
                                    if k == "agvhd" and v in AGVHD_SCORES}))
    values = {k: FormValues((forms or {}).get(k, {})) for k in (*KINDS, "hct")}
    return render(request, "followup.html.j2", status_code=status_code, title="Follow-up",
                  upn=upn, day0=context["day0"], hcts=context["hcts"],
                  relatives=[p.id for p in context["case"].relatives],
                  timeline=timeline(context), assessment=assess(context), kinds=KINDS,
                  values=values, error_kind=error[0] if error else None,
                  error=error[1] if error else None, stored=stored,
                  agvhd=agvhd, agvhd_scores=AGVHD_SCORES,
                  agvhd_fields=score_fields(agvhd), cgvhd_organs=ORGANS,
                  neutrophil_fields=score_fields("neutrophil_engraftment_day"),
                  platelet_fields=score_fields("platelet_engraftment_day"),
                  today=services(request).now().date().isoformat())


def _kind(kind: str) -> Kind:
    found = KINDS.get(kind)
    if found is None:
        raise NotFound("kind")
    return found


def _form(raw: Mapping[str, Any]) -> FormValues:
    return FormValues({k: v[:4000] for k, v in raw.items()
                       if isinstance(v, str) and k != "csrf_token"})


@router.get("/patients/{upn}/followup", name="followup_page")
@permission("patient.read")
def followup_page(request: Request, upn: str) -> Response:
    stored = request.query_params.get("stored")
    return _page(request, upn, stored=stored[:64] if stored else None)


def _need_day0(context: Mapping[str, Any]) -> dt.date:
    day0 = context["day0"]
    if day0 is None:
        raise InputError("record the transplant (day 0) first: follow-up is dated from it",
                         field="hct", value="(none recorded)")
    assert isinstance(day0, dt.date)
    return day0


@router.post("/patients/{upn}/followup/{kind}/preview", name="followup_preview")
@permission("followup.write")
async def followup_preview(request: Request, upn: str, kind: str) -> Response:
    k = _kind(kind)
    form = _form(await request.form())

    def work() -> Response:
        context = _context(request, upn)
        try:
            entry = build_entry(k, form, _need_day0(context))
            preview = preview_entry(entry, context)
        except EverydonorError as exc:
            return render(request, "fragments/followup_preview.html.j2", status_code=422,
                          kind=k, preview=None, error=error_fields(exc))
        return render(request, "fragments/followup_preview.html.j2", kind=k, preview=preview,
                      error=None)

    return await run_in_threadpool(work)


def _store_hct(request: Request, upn: str, form: Mapping[str, str]) -> dict[str, Any]:
    day0 = _date(form, "day0", required=True)
    assert day0 is not None
    donor = form.get("donor") or None
    return services(request).registry.add_hct(
        upn, day0=day0, hct_type=form.get("hct_type") or "allo", donor=donor,
        graft=_text(form, "graft"), actor=actor(request),
        reason="transplant recorded in the web app")


def _store(request: Request, upn: str, k: Kind, form: Mapping[str, str]) -> dict[str, Any]:
    context = _context(request, upn)
    entry = build_entry(k, form, _need_day0(context))
    reg = services(request).registry
    if entry.score is not None:
        return reg.add_score(upn, entry.score, entry.inputs, entry.date, actor=actor(request),
                             reason=entry.reason, hct_number=context["hct_number"])
    assert entry.event is not None
    return reg.record_event(upn, entry.event, entry.date, entry.payload, actor=actor(request),
                            reason=entry.reason, hct_number=context["hct_number"])


@router.post("/patients/{upn}/followup/{kind}", name="followup_store")
@permission("followup.write")
async def followup_store(request: Request, upn: str, kind: str) -> Response:
    k: Kind | None = None if kind == "hct" else _kind(kind)
    form = _form(await request.form())
    store: Callable[[], dict[str, Any]] = (
        (lambda: _store_hct(request, upn, form)) if k is None
        else (lambda: _store(request, upn, k, form)))
    try:
        result = await run_in_threadpool(store)
    except EverydonorError as exc:
        fields = error_fields(exc)
        if isinstance(fields.get("field"), str) and fields["field"].startswith("payload."):
            fields["field"] = fields["field"].removeprefix("payload.")
        name = kind
        return await run_in_threadpool(
            lambda: _page(request, upn, forms={name: form}, error=(name, fields),
                          status_code=422))
    target = f"/patients/{quote(upn, safe='')}/followup"
    if k is not None:
        target += f"?stored={quote(result['id'], safe='')}#event-{quote(result['id'], safe='')}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
