"""Who may do what (SR-06): permissions per role, and the permission every route declares.

A route states its permission with :func:`permission` (or :data:`PUBLIC`); the app refuses to
start with a route that states none, and the role × route × centre matrix test is generated
from the app's route table, so a new route cannot escape the policy.

Centre scoping: a user of one centre sees only that centre's patients; another centre's patient
(and its snapshots) answers 404, as if it did not exist; so does another centre's account
(``/admin/users/{username}``), and a system administrator's account to anyone but a system
administrator. Only a system administrator works across centres.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from everydonor.adapters.registry.accounts import ROLES

F = TypeVar("F", bound=Callable[..., Any])

#: Open to anyone (the sign-in pages, static files, health check).
PUBLIC = "public"
#: Signed in with the password, second factor still to give (the TOTP page, logout).
PARTIAL = "partial"

#: Every permission, and what it allows.
PERMISSIONS: dict[str, str] = {
    "patient.read": "open identified patient pages (family, typings, ranking, plans, follow-up)",
    "patient.write": "create patients, add and edit relatives and clinical facts",
    "hla.write": "enter and correct HLA typings and antibody results",
    "rank.save": "keep a ranking or plan as a snapshot",
    "sign": "sign a donor selection (password and TOTP again)",
    "followup.write": "enter follow-up (engraftment, GVHD, CMV, chimerism, MRD)",
    "compute": "use the calculators and the JSON API on data sent with the request",
    "audit.read": "read the audit trail and row history",
    "users.manage": "create, disable and change accounts of the user's centre",
    "stats.read": "see de-identified, pseudonymous data only",
    "self": "see one's own account",
}

_READ = {"patient.read", "compute", "self"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "system_admin": frozenset({*_READ, "audit.read", "users.manage", "stats.read"}),
    "centre_admin": frozenset({*_READ, "audit.read", "users.manage", "stats.read"}),
    "data_manager": frozenset({*_READ, "patient.write", "hla.write", "followup.write",
                               "rank.save", "audit.read", "stats.read"}),
    "data_entry": frozenset({*_READ, "patient.write", "hla.write", "followup.write"}),
    "physician": frozenset({*_READ, "patient.write", "hla.write", "followup.write",
                            "rank.save", "sign"}),
    "hla_lab": frozenset({*_READ, "hla.write", "rank.save"}),
    "statistician": frozenset({"stats.read", "compute", "self"}),
    "monitor": frozenset({*_READ, "audit.read"}),
}
assert set(ROLE_PERMISSIONS) == set(ROLES)
assert all(p <= set(PERMISSIONS) for p in ROLE_PERMISSIONS.values())

_ATTRIBUTE = "__everydonor_permission__"


def permission(name: str) -> Callable[[F], F]:
    """Declare the permission a route needs (put it under the route decorator)."""
    if name not in PERMISSIONS and name not in (PUBLIC, PARTIAL):
        raise ValueError(f"unknown permission {name!r}")

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, name)
        return endpoint

    return mark


def permission_of(endpoint: Any) -> str | None:
    value = getattr(endpoint, _ATTRIBUTE, None)
    return value if isinstance(value, str) else None


def allowed(role: str, name: str) -> bool:
    if name in (PUBLIC, PARTIAL):
        return True
    return name in ROLE_PERMISSIONS.get(role, frozenset())


#: Path parameters that name a centre-scoped object; the app resolves each to its centre.
SCOPED_PARAMETERS = ("upn", "snapshot_id", "username")
