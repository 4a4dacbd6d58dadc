"""GL String Codes in the web app's HLA entry: the live check (GL string field and a locus box)
and the person form's save, which keeps the code verbatim with its version."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import CENTRE_A, WebEnv, csrf_of, user_name


@pytest.fixture
def client(web: WebEnv) -> tuple[TestClient, str]:
    c = web.login(user_name("hla_lab", CENTRE_A))
    return c, csrf_of(c.get("/patients").text)


def check(client: tuple[TestClient, str], value: str, locus: str = "") -> tuple[int, str]:
    c, token = client
    r = c.post("/hla/check", data={"locus": locus, "value": value},
               headers={"HX-Request": "true", "X-CSRF-Token": token})
    return r.status_code, html.unescape(r.text)


def test_code_in_the_gl_field(client: tuple[TestClient, str]) -> None:
    status, text = check(client, "hla#3.58.0#HLA-A*02:01+HLA-A*11:01^HLA-B*46:01+HLA-B*51:01")
    assert status == 200 and 'data-valid="true"' in text and "gl string" in text
    assert "Warnings" not in text


def test_code_in_its_locus_box_and_in_the_wrong_one(client: tuple[TestClient, str]) -> None:
    status, text = check(client, "hla#3.58.0#HLA-A*02:01+HLA-A*11:01", "A")
    assert status == 200 and 'data-valid="true"' in text
    status, text = check(client, "hla#3.58.0#HLA-A*02:01+HLA-A*11:01", "B")
    assert status == 422 and "entered at locus B" in text


def test_other_release_and_dated_codes_accepted_with_a_warning(
        client: tuple[TestClient, str]) -> None:
    code = "hla#3.40.0#HLA-A*02:01+HLA-A*11:01"
    status, text = check(client, code, "A")
    assert status == 200 and 'data-valid="true"' in text
    assert "Warnings:" in text and code in text and "3.40.0" in text and "3.58.0" in text
    status, text = check(client, "hla#2024-02-29#HLA-A*02:01+HLA-A*11:01")
    assert status == 200 and "construction date (2024-02-29)" in text


def test_other_release_warning_names_the_locus_and_is_translated(
        client: tuple[TestClient, str]) -> None:
    """In a locus box the warning names the locus; in Chinese it is worded in Chinese, still
    naming the code and both releases (it is built from the code's parts, not the core's text)."""
    c, token = client
    code = "hla#3.25.0#HLA-A*01:01+HLA-A*02:01"
    status, text = check(client, code, "A")
    assert status == 200 and "HLA-A: " + code in text and "GL String Code" in text
    r = c.get("/lang/zh", params={"next": "/patients"})
    assert r.status_code == 303
    r = c.post("/hla/check", data={"locus": "A", "value": code},
               headers={"HX-Request": "true", "X-CSRF-Token": token})
    text = html.unescape(r.text)
    assert r.status_code == 200 and "警告" in text and "HLA-A: " + code in text
    assert "报告时所用的 IPD-IMGT/HLA 版本为 3.25.0" in text and "现按 IPD-IMGT/HLA 3.58.0" in text
    assert "was reported under" not in text and "gl string" not in text


@pytest.mark.parametrize(("value", "message"), [
    ("hla#3.58#HLA-A*02:01+HLA-A*11:01", "neither a release like 3.58.0"),
    ("HLA#3.58.0#HLA-A*02:01+HLA-A*11:01", "write it in lower case"),
    ("kir#2.10.0#KIR2DL1*001+KIR2DL1*002", "'kir' namespace"),
    ("hla#3.58.0#HLA-A*02:01?HLA-A*11:01+HLA-A*11:01", "does not split it"),
])
def test_malformed_or_unusable_codes_are_422(client: tuple[TestClient, str], value: str,
                                             message: str) -> None:
    status, text = check(client, value)
    assert status == 422 and 'data-valid="false"' in text and message in text


def test_code_is_escaped(client: tuple[TestClient, str]) -> None:
    c, token = client
    r = c.post("/hla/check", data={"locus": "", "value": "hla#3.58.0#<script>alert(1)</script>"},
               headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 422
    assert "<script>" not in r.text and "&lt;script&gt;" in r.text


def test_save_keeps_the_code_verbatim_with_its_version(web: WebEnv,
                                                       client: tuple[TestClient, str]) -> None:
    c, _ = client
    page = c.get("/patients/A-001/persons/F").text
    token = csrf_of(page)
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    data = {"csrf_token": token, "reason": "typing report received as GL String Code",
            "version": version.group(1)}
    for m in re.finditer(r'<input[^>]*name="(hla_[A-Z0-9]+_[12])"[^>]*value="([^"]*)"', page):
        data[m.group(1)] = html.unescape(m.group(2))
    code = "hla#3.40.0#HLA-A*02:01+HLA-A*11:01"
    data["hla_A_1"], data["hla_A_2"] = code, ""
    r = c.post("/patients/A-001/persons/F", data=data, follow_redirects=False)
    assert r.status_code in (200, 303), r.text[:500]
    shown = web.registry.show("A-001")
    exported = web.registry.export_case("A-001", actor="tester")
    father = next(p for p in shown["persons"] if p.get("case_person_id", p.get("id")) == "F")
    typing = next(t for t in father["typings"] if t["locus"] == "A")
    assert (typing["glsc"], typing["release"]) == (code, "3.40.0")
    assert next(r for r in exported["relatives"] if r["id"] == "F")["hla"]["A"] == code
    # the form shows the code back in the first box, with the warning
    page = html.unescape(c.get("/patients/A-001/persons/F").text)
    assert code in page and "Warnings:" in page
