"""SR-06: the role × route × centre matrix, GENERATED from the app's route table.

For every route of the app (``api_routes``), every role, and an object of the user's own centre
and of the other centre, the expected answer follows from ``policy.ROLE_PERMISSIONS`` and the
permission the route declares:

- the role lacks the permission → 403 (before anything else is looked at);
- allowed, but the path names another centre's patient or snapshot → 404 (as if absent);
- allowed and the user's own object → neither 403 nor 404, and never a 5xx (a 422 for a form
  sent empty is fine: the permission, not the form, is what is tested here).

Path parameters are filled from :data:`SAMPLES`; a route whose path parameter has no sample
fails the test with a message telling its author to add one, so no new route escapes the
matrix. POSTs carry the session's valid CSRF token, so the permission decides, not CSRF.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from starlette.routing import Mount

from everydonor.adapters.registry.accounts import ROLES
from everydonor.adapters.web import policy
from everydonor.adapters.web.app import AppRoute, _RateLimit, api_routes, create_app, unguarded_routes
from everydonor.adapters.web.http import SESSION_COOKIE
from tests.registry.conftest import TEST_KEY, pg_admin, pg_cluster  # noqa: F401 (fixtures)
from tests.web.conftest import CENTRE_A, CENTRE_B, WebEnv, csrf_of, make_env, user_name

#: Routes open to anyone, and routes for a password-only (partial) session. Adding one is a
#: security decision: extend these sets deliberately, with a reason in the commit.
PUBLIC_ROUTES = frozenset({"home", "healthz", "login_form", "login", "language"})
PARTIAL_ROUTES = frozenset({"totp_form", "totp", "logout"})
#: Starlette routes outside the app's authorisation dependency (not AppRoutes): the OpenAPI
#: document only. Anything else here would be reachable without any permission check.
UNGUARDED_PATHS = frozenset({"/api/v1/openapi.json"})
#: Routes that end the session they are called in: the matrix calls them last.
SESSION_ENDING = frozenset({"logout"})

#: A value for every path parameter, for an object of each centre (PKUPH: patients A-001/A-002;
#: OTHER: patient B-001). ``snapshot_id`` is filled in by the fixture. Add a sample here when
#: you add a route with a new path parameter.
SAMPLES: dict[str, dict[str, str]] = {
    "upn": {CENTRE_A: "A-001", CENTRE_B: "B-001"},
    "snapshot_id": {CENTRE_A: "(a snapshot of A-001)", CENTRE_B: "(a snapshot of B-001)"},
    # a case person of the patient in the path (example 01: father F; example 03: husband H)
    "person_id": {CENTRE_A: "F", CENTRE_B: "H"},
    "kind": {CENTRE_A: "engraftment", CENTRE_B: "engraftment"},
    "code": {CENTRE_A: "zh", CENTRE_B: "zh"},
    # an account of each centre (/admin/users/{username}); a system administrator's account
    # has no centre and answers 404 to everyone but a system administrator (test_admin.py)
    "username": {CENTRE_A: user_name("data_entry", CENTRE_A),
                 CENTRE_B: user_name("data_entry", CENTRE_B)},
}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Call:
    route: AppRoute
    method: str
    url: str
    centre: str | None  # the centre of the objects the path names (None: it names none)


def path_parameters(route: AppRoute) -> list[str]:
    return _PARAM.findall(route.path)


def missing_samples(app: Any) -> list[str]:
    return [f"{r.path} ({r.name}): no sample for path parameter {p!r}; add one to "
            f"tests/web/test_matrix.py SAMPLES (a value of the own centre and of the other)"
            for r in api_routes(app) for p in path_parameters(r) if p not in SAMPLES]


def fill(route: AppRoute, centre: str, samples: dict[str, dict[str, str]]) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in samples:
            pytest.fail(missing_samples_message(route, name))
        return samples[name][centre]

    return _PARAM.sub(value, route.path)


def missing_samples_message(route: AppRoute, name: str) -> str:
    return (f"route {route.path} ({route.name}) has path parameter {name!r} with no sample: "
            f"add one to tests/web/test_matrix.py SAMPLES so that the matrix covers it")


def scoped(route: AppRoute) -> bool:
    return any(p in policy.SCOPED_PARAMETERS for p in path_parameters(route))


def calls(app: Any, samples: dict[str, dict[str, str]]) -> list[Call]:
    """Every (route, method, URL) the matrix sends, session-ending routes last."""
    out = []
    for route in api_routes(app):
        for method in sorted(route.methods):
            if not scoped(route):
                out.append(Call(route, method, fill(route, CENTRE_A, samples), None))
                continue
            out.append(Call(route, method, fill(route, CENTRE_A, samples), CENTRE_A))
            out.append(Call(route, method, fill(route, CENTRE_B, samples), CENTRE_B))
    return sorted(out, key=lambda c: c.route.name in SESSION_ENDING)


def send(client: TestClient, call: Call, csrf: str) -> Any:
    headers = {"X-CSRF-Token": csrf}
    if call.method not in WRITE_METHODS:
        return client.request(call.method, call.url, headers=headers)
    if call.url.startswith("/api/"):
        return client.request(call.method, call.url, json={}, headers=headers)
    return client.request(call.method, call.url, data={"csrf_token": csrf}, headers=headers)


def expected(role: str, centre: str | None, call: Call) -> str:
    """'403', '404' or 'ok' (anything but 403, 404 and 5xx)."""
    needed = policy.permission_of(call.route.endpoint)
    assert needed is not None
    if not policy.allowed(role, needed):
        return "403"
    if (centre is not None and call.centre not in (None, centre)
            and needed not in (policy.PUBLIC, policy.PARTIAL)):
        return "404"
    return "ok"


def outcome_ok(want: str, status: int) -> bool:
    if want == "ok":
        return status not in (403, 404) and status < 500
    return status == int(want)


def csrf_of_client(env: WebEnv, client: TestClient) -> str:
    """The CSRF token of the client's session (from a page, as a browser would read it)."""
    return csrf_of(client.get("/account").text)


# -- the environment: one registry, one signed-in client per account --------------------------

USERS: list[tuple[str, str | None]] = [
    (role, centre) for role in ROLES
    for centre in ((None,) if role == "system_admin" else (CENTRE_A, CENTRE_B))]


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def menv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[WebEnv]:
    """The app on one registry (SQLite, then PostgreSQL) for the whole module: every account of
    both centres, A-001/A-002/B-001, one snapshot per centre."""
    tmp: Path = tmp_path_factory.mktemp("matrix")
    url = f"sqlite:///{tmp / 'matrix.sqlite'}"
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        name = f"m_{uuid.uuid4().hex[:16]}"
        request.getfixturevalue("pg_admin").execute(f'CREATE DATABASE "{name}"')
        url = str(cluster.url(name))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(tmp / "xdg-data"))
        mp.setenv("XDG_CONFIG_HOME", str(tmp / "xdg-config"))
        mp.setenv("EVERYDONOR_PSEUDONYM_KEY", TEST_KEY)
        mp.delenv("EVERYDONOR_DB", raising=False)
        env = make_env(url)
        # the matrix signs in 15 accounts and posts /login as each: the per-address sign-in
        # rate limit (tested in test_security.py) would answer 429 to the test itself
        env.app.state.login_limit = _RateLimit(100_000)
        yield env
        env.registry.close()


@pytest.fixture(scope="module")
def samples(menv: WebEnv) -> dict[str, dict[str, str]]:
    out = {k: dict(v) for k, v in SAMPLES.items()}
    for centre in (CENTRE_A, CENTRE_B):
        upn = out["upn"][centre]
        snap = menv.registry.add_snapshot(upn, "plan", {"regimen": "matrix", "upn": upn},
                                          actor="fixture", reason="matrix sample")
        out["snapshot_id"][centre] = snap["id"]
    return out


# -- the tests ----------------------------------------------------------------------------------

def test_every_route_declares_a_known_permission(menv: WebEnv) -> None:
    routes = api_routes(menv.app)
    assert len(routes) > 20
    for r in routes:
        needed = policy.permission_of(r.endpoint)
        assert needed is not None, f"{r.path} declares no permission"
        assert needed in policy.PERMISSIONS or needed in (policy.PUBLIC, policy.PARTIAL), \
            f"{r.path}: unknown permission {needed!r}"


def test_a_route_without_permission_stops_the_app(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up check sees into included routers (FastAPI 0.16x lists none of their routes
    in ``app.routes``)."""
    from everydonor.adapters.web import routers
    from everydonor.adapters.web.settings import WebSettings

    extra = APIRouter()

    @extra.get("/forgotten", name="forgotten")
    def forgotten() -> str:
        return "no permission declared"

    monkeypatch.setattr(routers, "ROUTERS", [*routers.ROUTERS, extra])
    with pytest.raises(RuntimeError, match="routes without a permission: /forgotten"):
        create_app(WebSettings(db=f"sqlite:///{tmp_path / 'x.sqlite'}"))


def test_route_names_are_unique(menv: WebEnv) -> None:
    names = [r.name for r in api_routes(menv.app)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_public_and_partial_routes_are_exactly_the_allowed_ones(menv: WebEnv) -> None:
    by_permission: dict[str, set[str]] = {policy.PUBLIC: set(), policy.PARTIAL: set()}
    for r in api_routes(menv.app):
        needed = policy.permission_of(r.endpoint)
        if needed in by_permission:
            by_permission[needed].add(r.name)
    assert by_permission[policy.PUBLIC] == PUBLIC_ROUTES
    assert by_permission[policy.PARTIAL] == PARTIAL_ROUTES


def test_no_route_outside_the_authorisation(menv: WebEnv) -> None:
    """Only AppRoutes pass through ``authorize``: any other Starlette route would serve without a
    session or permission check (the OpenAPI document is the one allowed)."""
    assert set(unguarded_routes(menv.app)) == UNGUARDED_PATHS
    assert {m.path for m in menv.app.routes if isinstance(m, Mount)} == {"/static", "/fonts"}


def test_every_path_parameter_has_a_sample(menv: WebEnv) -> None:
    problems = missing_samples(menv.app)
    assert not problems, "\n".join(problems)


def test_other_path_parameters_are_nested_under_a_patient(menv: WebEnv) -> None:
    """Conventions: a path parameter other than upn/snapshot_id only under /patients/{upn}/."""
    for r in api_routes(menv.app):
        extra = [p for p in path_parameters(r) if p not in policy.SCOPED_PARAMETERS]
        if extra and r.name != "language":
            assert r.path.startswith("/patients/{upn}/"), (r.path, extra)


def test_scoped_samples_really_are_of_each_centre(menv: WebEnv,
                                                  samples: dict[str, dict[str, str]]) -> None:
    from everydonor.adapters.web.scoping import account_centre, snapshot_centre

    for centre in (CENTRE_A, CENTRE_B):
        assert menv.registry.patient_centre(samples["upn"][centre]) == centre
        assert snapshot_centre(menv.registry, samples["snapshot_id"][centre]) == centre
        assert account_centre(menv.registry, samples["username"][centre]) == centre


@pytest.mark.parametrize(("role", "centre"), USERS,
                         ids=[user_name(r, c) for r, c in USERS])
def test_matrix(menv: WebEnv, samples: dict[str, dict[str, str]], role: str,
                centre: str | None) -> None:
    username = user_name(role, centre)
    client = menv.login(username)
    csrf = csrf_of_client(menv, client)
    todo = calls(menv.app, samples)
    problems = []
    for call in todo:
        if call.route.name in SESSION_ENDING:
            assert client.cookies.get(SESSION_COOKIE), "the client lost its session early"
        r = send(client, call, csrf)
        want = expected(role, centre, call)
        if not outcome_ok(want, r.status_code):
            problems.append(f"{call.method} {call.url} [{call.route.name}, needs "
                            f"{policy.permission_of(call.route.endpoint)}]: expected {want}, "
                            f"got {r.status_code}: {r.text[:200]!r}")
        if call.method in WRITE_METHODS and call.route.name not in SESSION_ENDING:
            # a write must never end the caller's session as a side effect
            assert client.get("/account").status_code == 200, \
                f"{call.method} {call.url} ended the session of {username}"
    assert not problems, f"{username} ({len(problems)} of {len(todo)}):\n" + "\n".join(problems)
    assert len(todo) >= len(api_routes(menv.app))


def test_a_person_is_looked_up_within_the_patient_of_the_path(menv: WebEnv) -> None:
    """Own patient, but a person id that exists only in another patient (B-001's husband H,
    children K1/K2): 404 from the handler, never that other patient's person."""
    client = menv.login(user_name("data_manager", CENTRE_A))
    assert client.get("/patients/A-001/persons/F").status_code == 200
    for person in ("H", "K1", "K2", "nobody", "F%2F..%2FH", "%2E%2E"):
        r = client.get(f"/patients/A-001/persons/{person}")
        assert r.status_code == 404, (person, r.status_code)


def test_matrix_denies_every_route_without_a_session(menv: WebEnv,
                                                     samples: dict[str, dict[str, str]]
                                                     ) -> None:
    """Not signed in: every non-public route sends to /login (pages) or answers 401 (API);
    write routes are refused already by the CSRF check (403)."""
    client = menv.client()
    problems = []
    for call in calls(menv.app, samples):
        needed = policy.permission_of(call.route.endpoint)
        if needed == policy.PUBLIC:
            continue
        r = send(client, call, "no-session-no-token")
        if call.method in WRITE_METHODS:
            ok = r.status_code == 403
        elif call.url.startswith("/api/"):
            ok = r.status_code == 401
        else:
            ok = r.status_code == 303 and r.headers["location"] == "/login"
        if not ok:
            problems.append(f"{call.method} {call.url}: {r.status_code}")
    assert not problems, "\n".join(problems)
