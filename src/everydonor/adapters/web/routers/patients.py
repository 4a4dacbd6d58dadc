"""Patients: the list with search (centre-scoped), the patient page, creating a patient."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from everydonor.adapters.web.http import is_htmx, render, services, session
from everydonor.adapters.web.policy import permission

router = APIRouter(include_in_schema=False)
PAGE = 50


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
