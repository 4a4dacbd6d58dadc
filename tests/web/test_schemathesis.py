"""schemathesis against the OpenAPI description of /api/v1: no input answers 500.

Every operation of ``/api/v1/openapi.json`` gets generated requests (valid per the schema and,
where the schema allows it, invalid ones), sent signed in with the session cookie and the CSRF
header, and every answer is checked by schemathesis: never a server error, a documented status
code and content type, and a body that fits the documented schema. Bounded: 30 examples per
operation, no deadline.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from everydonor.adapters.web.http import SESSION_COOKIE
from everydonor.adapters.web.routers.api import router as api_router
from tests.web.conftest import EXAMPLES, TEST_KEY, WebEnv, make_env, user_name

#: The OpenAPI schema types a case as an object; whether its content is a valid case is the case
#: format's to say (422 naming person, field and value), so schema-valid bodies may be refused.
EXCLUDED = [positive_data_acceptance]
#: Examples per operation (and mode) and per faulty-case endpoint; raise them to hunt longer
#: (``API_SCHEMATHESIS_EXAMPLES=300 API_FUZZ_EXAMPLES=400``).
SCHEMATHESIS_EXAMPLES = int(os.environ.get("API_SCHEMATHESIS_EXAMPLES", "30"))
FUZZ_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebEnv, dict[str, str],
                                                                          dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(tmp / "xdg-data"))
        mp.setenv("XDG_CONFIG_HOME", str(tmp / "xdg-config"))
        mp.setenv("EVERYDONOR_PSEUDONYM_KEY", TEST_KEY)
        mp.delenv("EVERYDONOR_DB", raising=False)
        env = make_env(f"sqlite:///{tmp / 'api.sqlite'}")
        client = env.login(user_name("physician", "PKUPH"))
        csrf = client.get("/api/v1/session").json()["csrf_token"]
        cookies = {SESSION_COOKIE: client.cookies[SESSION_COOKIE]}
        yield env, cookies, {"X-CSRF-Token": csrf}
        env.registry.close()


@pytest.fixture(scope="module")
def api_schema(signed_in: tuple[WebEnv, dict[str, str], dict[str, str]]) -> Any:
    env, _, _ = signed_in
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", env.app)


def _operations() -> list[tuple[str, str]]:
    return sorted((m, r.path) for r in api_router.routes if isinstance(r, APIRoute)
                  for m in r.methods)


# ``schema.parametrize()`` with ``schemathesis.pytest.from_fixture`` fails on pytest 9
# (schemathesis reads ``node._nodeid``, which pytest 9 removed), so each operation is its own
# test here and drives schemathesis's strategy with Hypothesis directly.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=str)
@pytest.mark.parametrize("method, path", _operations())
def test_api_never_answers_500(api_schema: Any, signed_in: tuple[WebEnv, dict[str, str],
                                                                 dict[str, str]],
                               method: str, path: str, mode: GenerationMode) -> None:
    if method == "GET" and mode == GenerationMode.NEGATIVE:
        pytest.skip("no parameters: nothing to make invalid")
    _, cookies, headers = signed_in
    operation = api_schema[path][method]
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=SCHEMATHESIS_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        response = case.call(headers=headers, cookies=cookies)
        seen.append(response.status_code)
        assert response.status_code < 500, (response.status_code, response.text[:500])
        case.validate_response(response, headers=headers, excluded_checks=EXCLUDED)

    check()
    assert seen
    if method == "POST" and mode == GenerationMode.NEGATIVE:
        assert set(seen) - {200}, "no invalid body was refused"


# -- beyond the schema: the bundled cases with generated faults --------------------------------
#
# The schema types a case as "an object", so schemathesis's bodies are refused at the first key.
# To reach the parser and the core, each bundled example is sent with up to three of its values
# replaced by generated JSON (any type, HLA-like text, extreme numbers) or removed.

EXAMPLE_CASES = [*sorted(EXAMPLES.glob("0*.yaml")), EXAMPLES / "my-case.yaml"]
HLA_TEXT = st.text(alphabet="ABCDRQPWw*:0123456789/+^~|NLSQXGgP- ", max_size=24)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                      HLA_TEXT, st.sampled_from([0, -1, 1e308, -1e308, 10**400, "", "UUUU"]))
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
REMOVE = object()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    *head, last = path
    target = doc
    for key in head:
        target = target[key]
    if value is REMOVE:
        del target[last]
    else:
        target[last] = value


def _example(path: Path) -> Any:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return json.loads(json.dumps(data, default=lambda v: v.isoformat()))


@pytest.mark.parametrize("endpoint", ["family", "match", "rank", "plan", "followup"])
def test_faulty_cases_never_answer_500(signed_in: tuple[WebEnv, dict[str, str],
                                                        dict[str, str]], endpoint: str) -> None:
    env, cookies, headers = signed_in
    client = env.client()
    client.cookies.update(cookies)
    cases = [_example(p) for p in EXAMPLE_CASES]
    seen: list[int] = []

    @given(data=st.data())
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(data: st.DataObject) -> None:
        case = copy.deepcopy(data.draw(st.sampled_from(cases)))
        paths = _paths(case)
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(st.sampled_from(paths))
            value = data.draw(st.one_of(JSON_VALUE, HLA_TEXT, st.just(REMOVE)))
            # an earlier fault may have removed or replaced a container on the path
            with contextlib.suppress(KeyError, IndexError, TypeError):
                _replace(case, path, value)
        body: dict[str, Any] = {"case": case}
        if endpoint == "plan":
            body.update(regimen="beijing-mac-malignancy", day0="2026-12-15")
        elif endpoint == "followup":
            body.update(day0="2026-06-15")
        r = client.post(f"/api/v1/{endpoint}", json=body, headers=headers)
        seen.append(r.status_code)
        assert r.status_code in (200, 422), (r.status_code, r.text[:300], body)
        if r.status_code == 422:
            assert r.json()["error"]

    check()
    assert 422 in seen


@given(typings=st.lists(st.one_of(HLA_TEXT, st.text(max_size=30)), min_size=1, max_size=5))
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_generated_typings_are_results_never_500(
        signed_in: tuple[WebEnv, dict[str, str], dict[str, str]], typings: list[str]) -> None:
    env, cookies, headers = signed_in
    client = env.client()
    client.cookies.update(cookies)
    r = client.post("/api/v1/hla/check", json={"typings": typings}, headers=headers)
    assert r.status_code == 200, r.text[:300]
    assert [x["input"] for x in r.json()["results"]] == typings
