"""The JSON API under /api/v1: the command line's JSON contract over HTTP.

Contract: for every bundled example the API answers exactly what the command prints with
``--format json`` for the same input (the CLI is run in-process on the file; the API gets the
same case as JSON). Errors: bad input names the person, field and value (422); not signed in
401; a POST without the CSRF header 403; never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from everydonor.adapters.cli import main
from everydonor.adapters.web.policy import permission_of
from everydonor.adapters.web.routers.api import router as api_router
from tests.web.conftest import EXAMPLES, TEST_KEY, WebEnv, make_env, user_name

ROOT = Path(__file__).resolve().parents[2]
CASES = [*sorted(EXAMPLES.glob("0*.yaml")), EXAMPLES / "my-case.yaml"]
BUNDLED_CASE = ROOT / "src" / "everydonor" / "data" / "examples" / "case.json"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    """One app for the module (building the accounts is the slow part); the API writes
    nothing, so tests cannot disturb each other."""
    tmp = tmp_path_factory.mktemp("api")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(tmp / "xdg-data"))
        mp.setenv("XDG_CONFIG_HOME", str(tmp / "xdg-config"))
        mp.setenv("EVERYDONOR_PSEUDONYM_KEY", TEST_KEY)
        mp.delenv("EVERYDONOR_DB", raising=False)
        e = make_env(f"sqlite:///{tmp / 'api.sqlite'}")
        yield e
        e.registry.close()


class Api:
    """A signed-in client that sends the session's CSRF token on every POST."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        r = client.get("/api/v1/session")
        assert r.status_code == 200, r.text
        self.csrf = r.json()["csrf_token"]

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers={"X-CSRF-Token": self.csrf})

    def get(self, path: str) -> Any:
        return self.client.get(path)


@pytest.fixture(scope="module")
def api(env: WebEnv) -> Api:
    # the statistician: the narrowest role that may compute (de-identified data only)
    return Api(env.login(user_name("statistician", "PKUPH")))


def as_json(path: Path) -> Any:
    """A case file as a JSON client sends it (YAML dates become ISO strings)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return json.loads(json.dumps(data, default=lambda v: v.isoformat()))


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def same_answer(capsys: pytest.CaptureFixture[str], response: Any, *argv: str) -> Any:
    """The API's answer equals the command's JSON; a refusal is the same refusal."""
    code, expected, err = cli(capsys, *argv)
    if code == 0:
        assert response.status_code == 200, response.text
        assert response.json() == expected
        return expected
    assert code == 2, err
    assert response.status_code == 422, response.text
    assert f"everydonor: {response.json()['error']}" in err
    return None


# -- the contract, example by example ----------------------------------------------------------

@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
@pytest.mark.parametrize("command", ["family", "match", "rank"])
def test_case_commands_answer_as_the_cli(api: Api, capsys: pytest.CaptureFixture[str],
                                         command: str, path: Path) -> None:
    r = api.post(f"/api/v1/{command}", {"case": as_json(path)})
    doc = same_answer(capsys, r, command, str(path), "--format", "json")
    assert doc is not None, f"{command} refuses the bundled example {path.name}"
    assert doc["provenance"]["reference"].startswith("IPD-IMGT/HLA ")


@pytest.mark.parametrize("to", ["lgx", "g", "p", "2field", "serology"])
def test_hla_reduce_answers_as_the_cli(api: Api, capsys: pytest.CaptureFixture[str],
                                       to: str) -> None:
    typings = ["A*01:01:01:01", "B*15:01", "DRB1*03:01", "A*02:07P",
               "A*02:01+A*24:02^DRB1*15:01/DRB1*15:02+DRB1*09:01"]
    r = api.post("/api/v1/hla/reduce", {"typings": typings, "to": to})
    doc = same_answer(capsys, r, "hla", "reduce", "--to", to, *typings, "--format", "json")
    assert doc is not None and doc["to"] == to and len(doc["results"]) == len(typings)


def test_hla_expand_answers_as_the_cli(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    typings = ["A*02:07P", "B*15:01", "A*01:01+A*02:01"]
    r = api.post("/api/v1/hla/expand", {"typings": typings})
    doc = same_answer(capsys, r, "hla", "expand", *typings, "--format", "json")
    assert doc is not None and doc["results"][0]["count"] == len(doc["results"][0]["alleles"]) > 1


@pytest.mark.parametrize("path", ["/api/v1/hla/reduce", "/api/v1/hla/expand"])
def test_hla_reduce_and_expand_refuse_a_bad_typing_as_the_cli(
        api: Api, capsys: pytest.CaptureFixture[str], path: str) -> None:
    typings = ["A*01:01", "A*01:999"]
    r = api.post(path, {"typings": typings})
    same_answer(capsys, r, "hla", path.rsplit("/", 1)[1], *typings, "--format", "json")
    assert r.status_code == 422
    assert r.json()["value"] == "A*01:999" and "3.58.0" in r.json()["error"]


def test_rank_under_named_and_centre_rule_sets(api: Api,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    case = EXAMPLES / "my-case.yaml"
    for rules in ("baltimore", "beijing@csh2018", "ebmt"):
        r = api.post("/api/v1/rank", {"case": as_json(case), "rules": rules})
        doc = same_answer(capsys, r, "rank", str(case), "--rules", rules, "--format", "json")
        assert doc["provenance"]["rule_set"] == f"{doc['rules']['name']}@{doc['rules']['version']}"
    centre = EXAMPLES / "my-centre-rules.yaml"
    r = api.post("/api/v1/rank", {"case": as_json(case), "rules": as_json(centre)})
    doc = same_answer(capsys, r, "rank", str(case), "--rules", str(centre), "--format", "json")
    assert doc["rules"]["name"] == "my-centre"
    assert doc["provenance"]["rule_set"] == "my-centre@2026.1"


def test_match_with_laboratory_cutoff(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    case = EXAMPLES / "04-donor-specific-antibodies.yaml"
    r = api.post("/api/v1/match", {"case": as_json(case), "dsa_positive_mfi": 10000})
    same_answer(capsys, r, "match", str(case), "--dsa-positive-mfi", "10000", "--format", "json")


def test_hla_check_answers_as_the_cli(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    typings = ["A*01:01", "A*02:XX", "DR15", "A*02:01+A*24:02^B*07:02+B*08:01", "A*01:999",
               "a*01:01"]
    r = api.post("/api/v1/hla/check", {"typings": typings})
    assert r.status_code == 200  # invalid typings are results, not a refused request
    code, expected, _ = cli(capsys, "hla", "check", *typings, "--format", "json")
    assert code == 2  # the command exits 2 when one is invalid, and prints the same document
    assert r.json() == expected
    results = r.json()["results"]
    assert [x["valid"] for x in results] == [True, True, True, True, False, False]
    assert results[4]["error"]["error"] == "UnknownAllele"
    assert results[4]["error"]["value"] == "A*01:999"
    assert results[5]["error"]["error"] == "InvalidHlaName"
    assert results[1]["ambiguous"] is True


def test_plan_answers_as_the_cli(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"case": json.loads(BUNDLED_CASE.read_text()), "regimen": "beijing-mac-malignancy",
            "day0": "2026-12-15", "donor": "S2", "bsa": "dubois", "engraftment_day": 14,
            "options": {"atg_total_mg_per_kg": "7.5", "atg_days": "-4,-3,-2"}}
    r = api.post("/api/v1/plan", body)
    doc = same_answer(capsys, r, "plan", "--example", "--regimen", "beijing-mac-malignancy",
                      "--day0", "2026-12-15", "--donor", "S2", "--bsa", "dubois",
                      "--engraftment-day", "14", "--option", "atg_total_mg_per_kg=7.5",
                      "--option", "atg_days=-4,-3,-2", "--format", "json")
    assert doc["orders"] and doc["provenance"]["reference"].startswith("regimen ")


def test_plan_with_the_regimen_as_an_object(api: Api) -> None:
    regimen = yaml.safe_load((ROOT / "src" / "everydonor" / "data" / "regimens" /
                              "beijing-mac-malignancy.yaml").read_text())
    case = as_json(EXAMPLES / "my-case.yaml")
    by_id = api.post("/api/v1/plan", {"case": case, "regimen": "beijing-mac-malignancy",
                                      "day0": "2026-12-15"})
    by_object = api.post("/api/v1/plan", {"case": case, "regimen": regimen,
                                          "day0": "2026-12-15"})
    assert by_id.status_code == by_object.status_code == 200, by_object.text
    assert by_object.json()["orders"] == by_id.json()["orders"]


def test_followup_answers_as_the_cli(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    case = EXAMPLES / "07-post-transplant-mrd-follow-up.yaml"
    r = api.post("/api/v1/followup", {"case": as_json(case), "day0": "2026-06-15"})
    doc = same_answer(capsys, r, "followup", str(case), "--day0", "2026-06-15",
                      "--format", "json")
    assert doc["mrd_status"]


@pytest.mark.parametrize("path", sorted((EXAMPLES / "scores").glob("*.json")),
                         ids=lambda p: p.stem)
def test_score_answers_as_the_cli(api: Api, capsys: pytest.CaptureFixture[str],
                                  path: Path) -> None:
    from everydonor.scores.catalogue import SCORES

    inputs = json.loads(path.read_text())
    fits = []
    for name in SCORES:
        code, doc, _ = cli(capsys, "score", name, "--input", str(path))
        if code == 0:
            fits.append((name, doc))
    assert fits, f"no score reads {path.name}"
    for name, doc in fits:
        r = api.post("/api/v1/score", {"name": name, "inputs": inputs})
        assert r.status_code == 200, r.text
        assert r.json() == doc


def test_lists_answer_as_the_cli(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    _, scores, _ = cli(capsys, "score", "--list")
    assert api.get("/api/v1/scores").json() == scores
    _, regimens, _ = cli(capsys, "regimens", "--format", "json")
    assert api.get("/api/v1/regimens").json() == regimens


def test_rule_sets_list_every_name_rank_accepts(api: Api) -> None:
    from everydonor.selection.catalogue import rule_set_names

    sets = api.get("/api/v1/rule-sets").json()["rule_sets"]
    names = [n for s in sets for n in s["names"]]
    assert sorted(names) == rule_set_names()
    beijing = next(s for s in sets if s["name"] == "beijing")
    assert "beijing@csh2021" in beijing["names"] and beijing["criteria"]
    assert beijing["references"]


# -- bad input names the person, the field and the value ---------------------------------------

def test_bad_typing_in_a_case_names_person_field_value(api: Api) -> None:
    case = as_json(EXAMPLES / "01-matched-sibling-and-haplo-siblings.yaml")
    relative = case["relatives"][0]
    relative["hla"]["DRB1"][0] = "DRB1*15:999"
    for command in ("family", "match", "rank"):
        r = api.post(f"/api/v1/{command}", {"case": case})
        assert r.status_code == 422, r.text
        err = r.json()
        assert err["person"] == relative["id"]
        assert err["field"] == "hla.DRB1"
        assert err["value"] == "DRB1*15:999"
        assert "DRB1*15:999" in err["error"] and relative["id"] in err["error"]


def test_unknown_case_key_is_refused_naming_it(api: Api) -> None:
    case = as_json(EXAMPLES / "01-matched-sibling-and-haplo-siblings.yaml")
    case["patient"]["antibodys"] = {"results": []}
    r = api.post("/api/v1/rank", {"case": case})
    assert r.status_code == 422
    err = r.json()
    assert err["person"] == case["patient"]["id"] and "antibodys" in err["error"]


@pytest.mark.parametrize("body, field", [
    ({"case": {}, "rules": "no-such-rules"}, "--rules"),
    ({"case": {}, "rules": {"name": "x", "version": "1", "base": "nope"}}, "rules"),
])
def test_unknown_rule_set_is_refused(api: Api, body: dict[str, Any], field: str) -> None:
    r = api.post("/api/v1/rank", body)
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith(field)


@pytest.mark.parametrize("regimen", ["/etc/passwd", "../../../etc/hosts.yaml", "no-such"])
def test_plan_never_reads_a_file_the_request_names(api: Api, regimen: str) -> None:
    body = {"case": json.loads(BUNDLED_CASE.read_text()), "regimen": regimen,
            "day0": "2026-12-15"}
    r = api.post("/api/v1/plan", body)
    assert r.status_code == 422
    assert r.json()["field"] == "regimen" and r.json()["value"] == regimen


def test_plan_refuses_the_patient_as_donor_and_unknown_donor(api: Api) -> None:
    case = json.loads(BUNDLED_CASE.read_text())
    for donor in (case["patient"]["id"], "NOBODY"):
        r = api.post("/api/v1/plan", {"case": case, "regimen": "beijing-mac-malignancy",
                                      "day0": "2026-12-15", "donor": donor})
        assert r.status_code == 422
        assert r.json()["field"] == "donor" and r.json()["value"] == donor


def test_score_out_of_range_names_field_and_value(api: Api) -> None:
    r = api.post("/api/v1/score", {"name": "magic_agvhd_grade", "inputs": {"skin_stage": 9}})
    assert r.status_code == 422
    assert r.json()["field"] == "skin_stage" and r.json()["value"] == "9"
    r = api.post("/api/v1/score", {"name": "no_such_score", "inputs": {}})
    assert r.status_code == 422 and r.json()["value"] == "no_such_score"


@pytest.mark.parametrize("content", [
    b"{", b"not json", b"[1, 2", b'{"typings": ["A*01:01"]', b"\xff\xfe",
])
def test_malformed_json_is_422(api: Api, content: bytes) -> None:
    r = api.client.post("/api/v1/hla/check", content=content,
                        headers={"X-CSRF-Token": api.csrf, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert "error" in r.json()


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/hla/check", {}, "typings"),
    ("/api/v1/hla/check", {"typings": []}, "typings"),
    ("/api/v1/hla/check", {"typings": "A*01:01"}, "typings"),
    ("/api/v1/rank", {"case": []}, "case"),
    ("/api/v1/rank", {"case": {}, "extra": 1}, "extra"),
    ("/api/v1/plan", {"case": {}, "regimen": "x", "day0": "15/12/2026"}, "day0"),
    ("/api/v1/score", {"name": "magic_agvhd_grade"}, "inputs"),
])
def test_wrong_body_shape_is_422_naming_the_field(api: Api, path: str, body: Any,
                                                  field: str) -> None:
    r = api.post(path, body)
    assert r.status_code == 422, r.text
    assert field in [p["field"] for p in r.json()["problems"]]


def test_non_finite_numbers_are_refused(api: Api) -> None:
    case = json.loads(BUNDLED_CASE.read_text())
    text = json.dumps({"case": case}).replace('"weight_kg": 68.0', '"weight_kg": NaN', 1)
    assert "NaN" in text
    r = api.client.post("/api/v1/family", content=text,
                        headers={"X-CSRF-Token": api.csrf, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["field"] == "case.patient.weight_kg" and r.json()["value"] == "nan"
    r = api.client.post("/api/v1/score",
                        content='{"name": "magic_agvhd_grade", "inputs": {"skin_stage": Infinity}}',
                        headers={"X-CSRF-Token": api.csrf, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "inputs.skin_stage"


def test_empty_case_says_so(api: Api) -> None:
    r = api.post("/api/v1/family", {"case": {}})
    assert r.status_code == 422
    assert r.json()["error"]


# -- authentication and CSRF --------------------------------------------------------------------

def _api_paths(env: WebEnv) -> list[tuple[str, str]]:
    """Every (method, path) of the API router (``app.api_routes`` cannot see into included
    routers on this FastAPI: it lists none)."""
    routes = [r for r in api_router.routes if isinstance(r, APIRoute)]
    return sorted((m, r.path) for r in routes for m in r.methods)


def test_every_api_route_declares_compute(env: WebEnv) -> None:
    for r in api_router.routes:
        assert isinstance(r, APIRoute) and r.path.startswith("/api/v1/")
        expected = "self" if r.path == "/api/v1/session" else "compute"
        assert permission_of(r.endpoint) == expected, r.path


def test_every_api_route_needs_a_signed_in_user(env: WebEnv) -> None:
    paths = _api_paths(env)
    assert len(paths) >= 11
    anonymous = env.client()
    for method, path in paths:
        r = anonymous.request(method, path, json={})
        if method == "POST":  # no session: the CSRF check answers first, and refuses
            assert r.status_code in (401, 403), (path, r.status_code)
        else:
            assert r.status_code == 401, (path, r.status_code)
        assert "error" in r.json()


def test_unauthenticated_get_is_401_json(env: WebEnv) -> None:
    r = env.client().get("/api/v1/scores")
    assert r.status_code == 401
    assert r.json() == {"error": "sign in first"}


def test_half_signed_in_is_401(env: WebEnv) -> None:
    """Password given, TOTP not yet: the API is closed (a physician needs the second factor)."""
    from tests.web.conftest import csrf_of, password_of

    c = env.client()
    name = user_name("physician", "PKUPH")
    r = c.post("/login", data={"username": name, "password": password_of(name),
                               "csrf_token": csrf_of(c.get("/login").text)})
    assert r.headers["location"] == "/login/totp"
    assert c.get("/api/v1/scores").status_code == 401
    assert c.get("/api/v1/session").status_code == 401


def test_post_without_csrf_header_is_403(api: Api) -> None:
    body = {"typings": ["A*01:01"]}
    r = api.client.post("/api/v1/hla/check", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = api.client.post("/api/v1/hla/check", json=body, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    assert api.post("/api/v1/hla/check", body).status_code == 200


def test_another_sessions_csrf_token_is_refused(env: WebEnv, api: Api) -> None:
    other = Api(env.login(user_name("monitor", "PKUPH")))
    assert other.csrf != api.csrf
    r = api.client.post("/api/v1/hla/check", json={"typings": ["A*01:01"]},
                        headers={"X-CSRF-Token": other.csrf})
    assert r.status_code == 403


@pytest.mark.parametrize("role", ["data_entry", "hla_lab", "monitor", "centre_admin"])
def test_every_role_may_compute(env: WebEnv, role: str) -> None:
    a = Api(env.login(user_name(role, "OTHER")))
    assert a.get("/api/v1/rule-sets").status_code == 200
    assert a.post("/api/v1/hla/check", {"typings": ["B*07:02"]}).status_code == 200


def test_session_answers_who_and_the_token(env: WebEnv, api: Api) -> None:
    me = api.get("/api/v1/session").json()
    assert me["username"] == user_name("statistician", "PKUPH")
    assert me["role"] == "statistician" and me["centre"] == "PKUPH"
    assert me["csrf_token"] == api.csrf
    r = api.get("/api/v1/session")
    assert r.headers["cache-control"] == "no-store"


def test_body_over_the_limit_is_413(api: Api) -> None:
    big = {"typings": ["A*01:01"] * 300_000}
    r = api.post("/api/v1/hla/check", big)
    assert r.status_code == 413


# -- the OpenAPI description ------------------------------------------------------------------

def test_openapi_describes_every_api_route_and_its_body(env: WebEnv) -> None:
    spec = env.client().get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    for method, path in _api_paths(env):
        op = paths[path][method.lower()]
        assert "200" in op["responses"] and "401" in op["responses"]
        if method == "POST":
            assert "requestBody" in op and "422" in op["responses"]
    schemas = spec["components"]["schemas"]
    assert "everydonor case schema" in schemas["CaseRequest"]["properties"]["case"][
        "description"]
    assert set(schemas["PlanRequest"]["required"]) == {"case", "regimen", "day0"}


def test_case_date_is_today_unless_the_case_says(api: Api) -> None:
    r = api.post("/api/v1/rank", {"case": json.loads(BUNDLED_CASE.read_text())})
    assert r.json()["provenance"]["case_date"] == dt.date.today().isoformat()


# -- what the generated-input tests found (each answered 500 before) ----------------------------

@pytest.mark.parametrize("key", ["age", "weight_kg", "height_cm"])
@pytest.mark.parametrize("endpoint", ["family", "rank", "plan"])
def test_integer_too_large_for_a_number_is_422(api: Api, endpoint: str, key: str) -> None:
    case = json.loads(BUNDLED_CASE.read_text())
    case["patient"][key] = 10**400  # the case parser's float() overflowed: 500
    body = {"case": case, "regimen": "beijing-mac-malignancy", "day0": "2026-12-15"}
    r = api.post(f"/api/v1/{endpoint}", body if endpoint == "plan" else {"case": case})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == f"case.patient.{key}"
    assert "401 digits" in r.json()["value"]


def test_rule_set_parameter_too_large_is_422(api: Api) -> None:
    rules = {"name": "x", "version": "1", "base": "beijing",
             "parameters": {"dsa_exclude_mfi": 10**400}}
    r = api.post("/api/v1/rank", {"case": json.loads(BUNDLED_CASE.read_text()), "rules": rules})
    assert r.status_code == 422 and r.json()["field"] == "rules.parameters.dsa_exclude_mfi"


@pytest.mark.parametrize("day0", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("endpoint", ["plan", "followup"])
def test_day0_outside_the_calendar_is_422(api: Api, endpoint: str, day0: str) -> None:
    body = {"case": json.loads(BUNDLED_CASE.read_text()), "day0": day0}
    if endpoint == "plan":
        body["regimen"] = "beijing-mac-malignancy"  # the calendar's date arithmetic: 500
    r = api.post(f"/api/v1/{endpoint}", body)
    assert r.status_code == 422, r.text
    assert [p["field"] for p in r.json()["problems"]] == ["day0"]
