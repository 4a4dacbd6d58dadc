"""The live HLA check (``POST /hla/check``) and the HLA boxes of the person forms: valid,
ambiguous (a result), not nomenclature (InvalidHlaName), not in the release (UnknownAllele),
wrong locus — each naming the value, against the release the app runs on."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from everydonor.hla.designation import expand, parse_typing
from tests.web.conftest import CENTRE_A, WebEnv, csrf_of, user_name

RELEASE = "3.58.0"


@pytest.fixture
def client(web: WebEnv) -> tuple[TestClient, str]:
    c = web.login(user_name("hla_lab", CENTRE_A))
    return c, csrf_of(c.get("/patients").text)


def check(client: tuple[TestClient, str], value: str, locus: str = "A") -> tuple[int, str]:
    c, token = client
    r = c.post("/hla/check", data={"locus": locus, "value": value},
               headers={"HX-Request": "true", "X-CSRF-Token": token})
    return r.status_code, html.unescape(r.text)


def alleles(web: WebEnv, text: str) -> int:
    ref = web.app.state.services.reference
    return len(expand(parse_typing(text), ref.ref, ref.macs))


def test_one_allele(client: tuple[TestClient, str]) -> None:
    status, text = check(client, "A*02:01:01:01")
    assert status == 200
    assert 'data-valid="true"' in text and "one allele" in text
    assert "A*02:01:01:01" in text and "lgx A*02:01" not in text
    assert f"IPD-IMGT/HLA {RELEASE}" in text


def test_two_field_allele_names_its_lgx_group_and_full_resolution_count(
        web: WebEnv, client: tuple[TestClient, str]) -> None:
    status, text = check(client, "A*02:01")
    assert status == 200 and 'data-valid="true"' in text
    n = alleles(web, "A*02:01")
    assert n > 1
    assert "lgx <code>A*02:01</code>" in text
    assert f"ambiguous at full resolution: {n} alleles" in text


def test_ambiguous_is_a_result_not_an_error(web: WebEnv,
                                             client: tuple[TestClient, str]) -> None:
    for value, locus in (("A*01:XX", "A"), ("DR15", "DRB1")):
        status, text = check(client, value, locus)
        assert status == 200, value
        assert 'data-valid="true"' in text and "✗" not in text
        assert f"ambiguous: {alleles(web, value)} alleles" in text, value


def test_invalid_name(client: tuple[TestClient, str]) -> None:
    status, text = check(client, "A*01:0X")
    assert status == 422
    assert 'data-valid="false"' in text
    assert "A*01:0X" in text and "not valid HLA nomenclature" in text
    assert "'0X' is not numeric" in text


def test_unknown_allele(client: tuple[TestClient, str]) -> None:
    status, text = check(client, "A*01:9999")
    assert status == 422
    assert "A*01:9999" in text and f"not in IPD-IMGT/HLA {RELEASE}" in text
    assert "not valid HLA nomenclature" not in text


def test_wrong_locus_and_gl_in_a_box(client: tuple[TestClient, str]) -> None:
    status, text = check(client, "B*07:02", "A")
    assert status == 422 and "wrong locus" in text and "typing of locus B" in text
    status, text = check(client, "A*02:01+A*11:01", "A")
    assert status == 422 and "GL string" in text


def test_gl_string_and_untyped_and_blank(client: tuple[TestClient, str]) -> None:
    status, text = check(client, "HLA-A*02:01+HLA-A*11:01^HLA-B*46:01+HLA-B*51:01", "")
    assert status == 200 and "gl string" in text and "A*11:01" in text
    status, text = check(client, "UUUU")
    assert status == 200 and "untyped" in text
    status, text = check(client, "   ")
    assert status == 200 and 'data-valid="true"' in text and "✓" not in text


def test_the_form_sends_the_field_name(client: tuple[TestClient, str]) -> None:
    """What the boxes send: hx-vals locus and field, hx-params limited to the box's own name."""
    c, token = client
    r = c.post("/hla/check", data={"locus": "DRB1", "field": "hla_DRB1_2",
                                   "hla_DRB1_2": "DRB1*15:01"},
               headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 200 and "DRB1*15:01" in r.text


def test_check_needs_the_csrf_token_and_escapes_the_value(
        client: tuple[TestClient, str]) -> None:
    c, _ = client
    r = c.post("/hla/check", data={"locus": "A", "value": "A*02:01"},
               headers={"HX-Request": "true"})
    assert r.status_code == 403
    c2, token = client
    r = c2.post("/hla/check", data={"locus": "A", "value": "<script>alert(1)</script>"},
                headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 422
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text


def test_boxes_are_wired_to_the_live_check(web: WebEnv, client: tuple[TestClient, str]
                                           ) -> None:
    c, _ = client
    text = c.get("/patients/A-001/persons/F").text
    for locus in ("A", "B", "C", "DRB1", "DQB1", "DPB1"):
        for n in (1, 2):
            key = f"hla_{locus}_{n}"
            m = re.search(rf'<input[^>]*name="{key}"[^>]*>', text, re.S)
            assert m, key
            box = m.group(0)
            assert 'hx-post="/hla/check"' in box
            assert 'hx-trigger="input changed delay:400ms"' in box
            assert f'hx-target="#check-{key}"' in box
            assert f'"locus": "{locus}"' in html.unescape(box)
            assert f'id="check-{key}"' in text
    # the stored typings are checked on opening the form: each says what it is
    assert text.count('data-valid="true"') >= 10
    assert '<script src="/static/hla-check.js"' in text
    assert c.get("/static/hla-check.js").status_code == 200


def test_stored_bad_value_marks_its_box_on_a_refused_save(web: WebEnv,
                                                          client: tuple[TestClient, str]
                                                          ) -> None:
    c, _ = client
    page = c.get("/patients/A-001/persons/F").text
    token = csrf_of(page)
    r = c.post("/patients/A-001/persons/F",
               data={"csrf_token": token, "hla_A_1": "A*02:01", "hla_A_2": "A*99:99",
                     "reason": "retyped", "version": "1"})
    assert r.status_code == 422
    box = re.search(r'<input[^>]*name="hla_A_2"[^>]*>', r.text, re.S)
    assert box and 'value="A*99:99"' in box.group(0) and 'aria-invalid="true"' in box.group(0)
    assert "A*99:99" in html.unescape(r.text.split('id="check-hla_A_2"')[1][:600])
