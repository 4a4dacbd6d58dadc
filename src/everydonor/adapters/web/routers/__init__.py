"""One router per resource; ``ROUTERS`` is what the app includes, in this order."""

from __future__ import annotations

from fastapi import APIRouter

from everydonor.adapters.web.routers import (
    admin,
    api,
    auth,
    followup,
    hla,
    patients,
    plans,
    ranking,
    stats,
)

ROUTERS: list[APIRouter] = [auth.router, patients.router, hla.router, ranking.router,
                            plans.router, followup.router, admin.router, stats.router,
                            api.router]
