"""Statistics: the de-identified cohort and the activity table (permission ``stats.read``).

A statistician sees no identifying data (SR-06): pseudonyms, age bands, years, coded fields only
(``registry/deidentified.py`` says what is kept and what is dropped). A centre's users see their
own centre; a system administrator sees every centre, pooled. Each view is audited (who looked at
which centre's de-identified cohort), since even de-identified data is registry data.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from everydonor import __version__
from everydonor.adapters.registry import audit
from everydonor.adapters.registry.deidentified import cohort
from everydonor.adapters.web.http import render, services, session
from everydonor.adapters.web.i18n import N_
from everydonor.adapters.web.policy import permission

router = APIRouter(include_in_schema=False)


def _cohort(request: Request) -> dict[str, Any]:
    svc = services(request)
    info = session(request)
    centre = info.account.centre
    with svc.registry.transaction(info.account.username, "de-identified view") as (s, ctx):
        out = cohort(s, centre=centre)
        audit.append(s, now=ctx.now, actor=ctx.actor, action="stats.view",
                     object_type="centre", object_id=centre or "(all centres)",
                     reason=ctx.reason, payload={"patients": len(out["patients"]),
                                                 "path": request.url.path},
                     request_id=ctx.request_id)
    return out


@router.get("/stats", name="stats")
@permission("stats.read")
async def stats(request: Request) -> Response:
    data = await run_in_threadpool(_cohort, request)
    return render(request, "stats.html.j2", title="Statistics", data=data)


@router.get("/stats/cohort.json", name="stats_json")
@permission("stats.read")
async def stats_json(request: Request) -> Response:
    data = await run_in_threadpool(_cohort, request)
    data["software"] = f"everydonor {__version__}"
    data["notice"] = ("de-identified: pseudonyms, five-year age bands, years and coded fields "
                      "only; donor = relation as recorded, not a match grade")
    return JSONResponse(data)


# -- outcomes: the activity picture and the endpoint curves of a chosen cohort -----------------

TITLE = N_("Outcomes")
#: The form's fields (query parameters); every one is optional.
OUTCOME_FIELDS = ("centre", "from", "to", "donor_type", "endpoint", "cohort", "pooled")


def _outcome_form(request: Request) -> dict[str, str]:
    return {k: (request.query_params.get(k) or "").strip() for k in OUTCOME_FIELDS}


def _outcome_request(request: Request, form: dict[str, str], *, pdf: bool) -> Any:
    """The report request of the form, within the user's centre (another centre: 404)."""
    from everydonor.adapters.report.centre_report import (
        DONOR_TYPES,
        REPORT_ENDPOINTS,
        ReportRequest,
        parse_date,
    )
    from everydonor.adapters.web.http import NotFound
    from everydonor.errors import InputError

    own = session(request).account.centre
    centre = form["centre"] or None
    if own is not None:
        if centre not in (None, own):
            raise NotFound("centre")
        centre = own
    if form["donor_type"] and form["donor_type"] not in DONOR_TYPES:
        raise InputError(f"unknown donor type (donor types: {', '.join(DONOR_TYPES)})",
                         field="donor_type", value=form["donor_type"])
    endpoint = form["endpoint"] or "os"
    if endpoint != "all" and endpoint not in REPORT_ENDPOINTS:
        raise InputError(f"unknown endpoint (endpoints: {', '.join(REPORT_ENDPOINTS)}, all)",
                         field="endpoint", value=endpoint)
    endpoints = REPORT_ENDPOINTS if pdf or endpoint == "all" else (endpoint,)
    if form["pooled"] not in ("", "1"):
        raise InputError("pooled is 1 (include the pooled cohort) or absent", field="pooled",
                         value=form["pooled"])
    # the pooled cohort (other centres' imported de-identified exports) is the registry's, not
    # a centre's: with it, the centre scope narrows the registry's own patients only
    return ReportRequest(centre=centre, date_from=parse_date(form["from"], "from"),
                         date_to=parse_date(form["to"], "to"), cohort=form["cohort"] or None,
                         donor_type=form["donor_type"] or None, endpoints=endpoints,
                         pooled=form["pooled"] == "1")


def _outcome_document(request: Request, report: Any, action: str) -> dict[str, Any]:
    from everydonor.adapters.report.centre_report import audit_report, report_document

    svc = services(request)
    actor = session(request).account.username
    reason = "statistician's outcomes view" if action == "stats.outcomes.view" else \
        "centre outcomes report (PDF)"
    document = report_document(svc.registry, report, actor=actor, reason=reason)
    audit_report(svc.registry, document, actor=actor, reason=reason, action=action,
                 output=request.url.path)
    return document


def _centres(request: Request) -> list[str]:
    from sqlalchemy import select

    from everydonor.adapters.registry.models import Centre

    own = session(request).account.centre
    if own is not None:
        return [own]
    with services(request).registry.reading() as s:
        return sorted(str(c) for c in s.execute(select(Centre.code)).scalars())


@router.get("/stats/outcomes", name="stats_outcomes")
@permission("stats.read")
async def stats_outcomes(request: Request) -> Response:
    from urllib.parse import urlencode

    from everydonor.adapters.report.centre_report import (
        DONOR_TYPE_LABELS,
        DONOR_TYPES,
        ENDPOINT_TITLES,
        render_html,
    )
    from everydonor.adapters.report.html import Language
    from everydonor.adapters.web import i18n
    from everydonor.adapters.web.http import lang
    from everydonor.errors import InputError

    form = _outcome_form(request)
    centres = await run_in_threadpool(_centres, request)
    context: dict[str, Any] = {"form": form, "centres": centres, "donor_types": DONOR_TYPES,
                               "donor_labels": DONOR_TYPE_LABELS, "endpoints": ENDPOINT_TITLES,
                               "scoped": session(request).account.centre is not None}
    try:
        report = _outcome_request(request, form, pdf=False)
        document = await run_in_threadpool(_outcome_document, request, report,
                                           "stats.outcomes.view")
    except InputError as exc:
        return render(request, "stats_outcomes.html.j2", status_code=422,
                      title=TITLE, error=str(exc), body=None, pdf_url=None, **context)
    language = Language(lang(request), i18n.translations(lang(request)))
    query = urlencode({k: v for k, v in form.items() if v and k != "endpoint"})
    pdf_url = "/stats/outcomes.pdf" + (f"?{query}" if query else "")
    # the report's own autoescaping template built it: safe to embed as it is
    body = Markup(await run_in_threadpool(lambda: render_html(  # noqa: RUF100
        document, language=language, body_only=True)))
    return render(request, "stats_outcomes.html.j2", title=TITLE, error=None, body=body,
                  pdf_url=pdf_url, **context)


@router.get("/stats/outcomes.pdf", name="stats_outcomes_pdf")
@permission("stats.read")
async def stats_outcomes_pdf(request: Request) -> Response:
    from everydonor.adapters.report.centre_report import render_pdf
    from everydonor.adapters.report.html import Language
    from everydonor.adapters.web import i18n
    from everydonor.adapters.web.http import lang

    report = _outcome_request(request, _outcome_form(request), pdf=True)
    document = await run_in_threadpool(_outcome_document, request, report,
                                       "stats.outcomes.pdf")
    language = Language(lang(request), i18n.translations(lang(request)))
    pdf = await run_in_threadpool(render_pdf, document, language=language)
    name = f"centre-report-{report.centre or 'all'}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
