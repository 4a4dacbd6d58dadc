"""Electronic sign-off of a kept ranking (21 CFR 11.50/11.70), on a real registry: password AND a
fresh TOTP code again, a meaning with its statement, bound to the snapshot's SHA-256; a later
change to the case data shows the signature superseded on the page and in the PDF."""

from __future__ import annotations

import io
import re
from typing import Any

import pypdf
import pytest
from sqlalchemy import func, select

from everydonor.adapters.inputs.casefile import load_case_data
from everydonor.adapters.registry.accounts import SIGNATURE_MEANINGS
from everydonor.adapters.registry.models import AuditLog, Signature
from tests.web.conftest import EXAMPLES, WebEnv, csrf_of, password_of, user_name
from tests.web.test_ranking import keep

PHYSICIAN = user_name("physician", "PKUPH")


def counts(web: WebEnv) -> tuple[int, int]:
    """(signatures, 'sign' audit entries)."""
    with web.registry.reading() as s:
        sigs = s.execute(select(func.count()).select_from(Signature)).scalar() or 0
        audited = s.execute(select(func.count()).select_from(AuditLog)
                            .where(AuditLog.action == "sign")).scalar() or 0
    return int(sigs), int(audited)


def sign(web: WebEnv, client: Any, snapshot_id: str, *, username: str = PHYSICIAN,
         password: str | None = None, code: str | None = None, meaning: str = "approved",
         confirm: bool = True) -> Any:
    page = client.get(f"/snapshots/{snapshot_id}")
    data = {"meaning": meaning, "password": password_of(username) if password is None
            else password, "code": web.code(username) if code is None else code,
            "csrf_token": csrf_of(page.text)}
    if confirm:
        data["confirm"] = "yes"
    return client.post(f"/snapshots/{snapshot_id}/sign", data=data)


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(p.extract_text() for p in reader.pages).split())


def change_a_typing(web: WebEnv) -> None:
    """A relative's typing corrected (S2's DQB1), stored as a new version with a reason."""
    case = load_case_data(str(EXAMPLES / "01-matched-sibling-and-haplo-siblings.yaml"))
    rel = next(r for r in case["relatives"] if r["id"] == "S2")
    rel["hla"]["DQB1"] = ["DQB1*03:01", "DQB1*03:01"]
    web.registry.add_case(case, actor="fixture", upn="A-001", centre="PKUPH",
                          reason="S2 DQB1 corrected from the laboratory report")


@pytest.fixture
def signed(web: WebEnv) -> tuple[Any, str]:
    c = web.login(PHYSICIAN)
    snapshot_id = keep(web, c)
    r = sign(web, c, snapshot_id)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/snapshots/{snapshot_id}?signed=approved#signatures"
    assert "Signed: your signature is recorded" in c.get(r.headers["location"]).text
    return c, snapshot_id


def test_sign_with_password_and_fresh_code_is_valid(web: WebEnv,
                                                    signed: tuple[Any, str]) -> None:
    c, snapshot_id = signed
    assert counts(web) == (1, 1)
    sigs = web.accounts.signatures(snapshot_id)
    assert len(sigs) == 1 and sigs[0]["state"] == "valid"
    assert sigs[0]["snapshot_sha256"] == web.registry.snapshot(snapshot_id)["sha256"]
    assert sigs[0]["meaning"] == "approved"
    assert sigs[0]["statement"] == SIGNATURE_MEANINGS["approved"]
    page = c.get(f"/snapshots/{snapshot_id}")
    assert "Dr Physician.Pkuph" in page.text
    assert 'class="badge valid state"' in page.text
    assert SIGNATURE_MEANINGS["approved"] in page.text
    assert "SUPERSEDED" not in page.text
    # the ranking page lists it as signed and valid
    listing = c.get("/patients/A-001/ranking")
    assert re.search(r'badge valid">Dr Physician\.Pkuph · approved · valid', listing.text)


def test_pdf_report_carries_the_signature_manifest(web: WebEnv,
                                                   signed: tuple[Any, str]) -> None:
    c, snapshot_id = signed
    r = c.get(f"/snapshots/{snapshot_id}/report.pdf")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "A-001" in disposition and snapshot_id[:8] in disposition
    text = pdf_text(r.content)
    sha = web.registry.snapshot(snapshot_id)["sha256"]
    assert "Electronic signatures" in text and "Dr Physician.Pkuph" in text
    assert "Physician / PI (signs)" in text
    assert SIGNATURE_MEANINGS["approved"] in text
    assert sha[:32] in text.replace(" ", "")
    assert "2026-12-03" in text and "UTC" in text
    assert "SUPERSEDED:" not in text  # no banner
    assert "unchanged since signing" in text  # the state column: valid
    # the stored ranking, as kept: its donors in order
    answer = web.registry.snapshot(snapshot_id)["answer"]
    assert answer["provenance"]["rule_set"] in text.replace(" @ ", "@")
    reasons = text[text.index("Reasons and flags, donor by donor"):]
    positions = [reasons.index(f"#{d['rank']} {d['id']} —") for d in answer["ranking"]]
    assert positions == sorted(positions)


def test_changed_case_data_supersedes_the_signature_everywhere(
        web: WebEnv, signed: tuple[Any, str]) -> None:
    c, snapshot_id = signed
    change_a_typing(web)
    sigs = web.accounts.signatures(snapshot_id)
    assert [s["state"] for s in sigs] == ["superseded"]
    page = c.get(f"/snapshots/{snapshot_id}")
    assert "SUPERSEDED" in page.text
    assert "the case data changed after signing (patient version 1 → 2): re-rank and re-sign" \
        in page.text
    assert 'class="badge valid state"' not in page.text
    assert 'class="badge superseded state"' in page.text
    listing = c.get("/patients/A-001/ranking")
    assert "· superseded</span>" in listing.text and "· valid</span>" not in listing.text
    assert "out of date</span>" in listing.text
    text = pdf_text(c.get(f"/snapshots/{snapshot_id}/report.pdf").content)
    assert "SUPERSEDED: the case data changed after signing (patient version 1 → 2)" in text
    # on every page, not only the first
    assert text.count("SUPERSEDED signature: the case data changed after signing") == \
        len(pypdf.PdfReader(io.BytesIO(c.get(f"/snapshots/{snapshot_id}/report.pdf").content)).pages)
    assert "re-rank and re-sign" in text
    # and it cannot be signed again: the ranking is of the old data
    web.clock.advance(seconds=31)
    before = counts(web)
    r = sign(web, c, snapshot_id)
    assert r.status_code == 422 and "re-rank" in r.text
    assert counts(web) == before


def test_wrong_password_signs_nothing(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    snapshot_id = keep(web, c)
    r = sign(web, c, snapshot_id, password="not-my-password-at-all", meaning="reviewed")
    assert r.status_code == 401
    assert "not signed" in r.text and "wrong username or password" in r.text
    assert counts(web) == (0, 0)
    # what the user chose is kept (never the password or the code)
    assert 'value="reviewed" required checked' in r.text
    assert "not-my-password-at-all" not in r.text
    with web.registry.reading() as s:
        failed = s.execute(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "login.failed", AuditLog.actor == PHYSICIAN)).scalar()
    assert failed == 1  # the failure is audited and counts towards the lock-out


def test_wrong_or_reused_code_signs_nothing(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    snapshot_id = keep(web, c)
    wrong = "000000" if web.code(PHYSICIAN) != "000000" else "111111"
    r = sign(web, c, snapshot_id, code=wrong)
    assert r.status_code == 401 and "one-time code" in r.text
    assert counts(web) == (0, 0)
    # a code is good once: signing works, and the same code again is refused
    code = web.code(PHYSICIAN)
    assert sign(web, c, snapshot_id, code=code).status_code == 303
    assert counts(web) == (1, 1)
    r = sign(web, c, snapshot_id, code=code, meaning="reviewed")
    assert r.status_code == 401 and "already used" in r.text
    assert counts(web) == (1, 1)
    # the next time step's code signs again (a second meaning)
    web.clock.advance(seconds=31)
    assert sign(web, c, snapshot_id, meaning="reviewed").status_code == 303
    assert counts(web) == (2, 2)


def test_meaning_and_confirmation_are_required(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    snapshot_id = keep(web, c)
    r = sign(web, c, snapshot_id, confirm=False)
    assert r.status_code == 422 and "confirmation" in r.text
    r = sign(web, c, snapshot_id, meaning="witnessed")
    assert r.status_code == 422 and "authored, reviewed or approved" in r.text
    assert counts(web) == (0, 0)


def test_sign_form_shows_meanings_with_their_statements(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    snapshot_id = keep(web, c)
    page = c.get(f"/snapshots/{snapshot_id}")
    assert f'action="/snapshots/{snapshot_id}/sign' in page.text
    for meaning, statement in SIGNATURE_MEANINGS.items():
        assert f'value="{meaning}"' in page.text and statement in page.text
    assert 'name="password" type="password"' in page.text and 'name="code"' in page.text
    assert 'type="checkbox" name="confirm"' in page.text


@pytest.mark.parametrize("role", ["hla_lab", "data_manager", "monitor", "data_entry"])
def test_roles_that_do_not_sign_get_403(web: WebEnv, role: str) -> None:
    kept_by = web.login(PHYSICIAN)
    snapshot_id = keep(web, kept_by)
    username = user_name(role, "PKUPH")
    c = web.login(username)
    page = c.get(f"/snapshots/{snapshot_id}")
    assert page.status_code == 200
    assert "/sign" not in page.text.split("</main>")[0].split("report.pdf")[-1]
    r = c.post(f"/snapshots/{snapshot_id}/sign",
               data={"meaning": "approved", "password": password_of(username),
                     "code": "123456", "confirm": "yes", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 403
    assert counts(web) == (0, 0)


def test_only_ranking_snapshots_are_signed(web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    ranking_id = keep(web, c)
    with web.registry.reading() as s:
        from everydonor.adapters.registry.models import Snapshot

        family_id = s.execute(select(Snapshot.id).where(Snapshot.kind == "family")).scalar()
    assert family_id and family_id != ranking_id
    page = c.get(f"/snapshots/{family_id}")
    assert page.status_code == 200 and "Stored answer" in page.text
    assert f"/snapshots/{family_id}/sign" not in page.text
    r = sign(web, c, family_id)
    assert r.status_code == 422 and "only a donor ranking snapshot" in r.text
    assert counts(web) == (0, 0)
    assert c.get(f"/snapshots/{family_id}/report.pdf").status_code == 422


def test_keep_sign_and_supersede_on_both_databases(web_db: WebEnv) -> None:
    """The whole flow on SQLite and PostgreSQL: one created_at for the three snapshots (the
    family found again by it), a valid signature, then superseded by a changed typing."""
    web = web_db
    c = web.login(PHYSICIAN)
    snapshot_id = keep(web, c)
    page = c.get(f"/snapshots/{snapshot_id}")
    assert page.status_code == 200 and "Family and haplotypes" in page.text
    assert sign(web, c, snapshot_id).status_code == 303
    assert [s["state"] for s in web.accounts.signatures(snapshot_id)] == ["valid"]
    change_a_typing(web)
    assert [s["state"] for s in web.accounts.signatures(snapshot_id)] == ["superseded"]
    page = c.get(f"/snapshots/{snapshot_id}")
    assert "patient version 1 → 2" in page.text and "SUPERSEDED" in page.text
