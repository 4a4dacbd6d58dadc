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
from starlette.concurrency import run_in_threadpool

from everydonor import __version__
from everydonor.adapters.registry import audit
from everydonor.adapters.registry.deidentified import cohort
from everydonor.adapters.web.http import render, services, session
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
