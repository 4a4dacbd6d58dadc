"""The donor-selection report in the UI's language: the ranking page and the PDF carry their
labels in Chinese when the user chose Chinese; clinical text (reasons, criteria, citations) is
quoted in English as the rule set states it, and the report says so; the English report is
unchanged. The language is part of the cached page body's key (no English body served to a
Chinese page)."""

from __future__ import annotations

from typing import Any

import pytest

from everydonor.adapters.web.http import LANG_COOKIE
from tests.web.conftest import WebEnv, user_name
from tests.web.test_ranking import keep
from tests.web.test_signoff import pdf_text, sign

PHYSICIAN = user_name("physician", "PKUPH")


def in_language(client: Any, code: str) -> Any:
    client.cookies.set(LANG_COOKIE, code, domain="testserver.local", path="/")
    return client


@pytest.fixture
def signed(web: WebEnv) -> tuple[Any, str]:
    c = web.login(PHYSICIAN)
    snapshot_id = keep(web, c)
    assert sign(web, c, snapshot_id).status_code == 303
    return c, snapshot_id


def test_the_pdf_follows_the_chosen_language(web: WebEnv, signed: tuple[Any, str]) -> None:
    c, snapshot_id = signed
    english = pdf_text(c.get(f"/snapshots/{snapshot_id}/report.pdf").content)
    chinese = pdf_text(in_language(c, "zh").get(f"/snapshots/{snapshot_id}/report.pdf").content)
    for label in ("Donor selection report", "Electronic signatures", "Review and sign-off",
                  "Family and haplotypes"):
        assert label in english and label not in chinese, label
    for label in ("供者选择报告", "电子签名", "审核与签字", "家系与单倍型", "排序理由、标准及文献引用"):
        assert label in chinese.replace(" ", ""), label
        assert label not in english.replace(" ", "")
    # the same decision in both: the signer, the snapshot's SHA-256, every donor id, the release
    sha = web.registry.snapshot(snapshot_id)["sha256"]
    answer = web.registry.snapshot(snapshot_id)["answer"]
    for text in (english, chinese):
        assert "Dr Physician.Pkuph" in text
        assert sha[:32] in text.replace(" ", "")
        assert answer["release"] in text
        assert all(d["id"] in text for d in answer["ranking"])
    # the English notice stays in every language (what the core states), with its translation
    assert "Decision support" in chinese


def test_the_ranking_page_body_follows_the_language_and_is_cached_per_language(
        web: WebEnv) -> None:
    c = web.login(PHYSICIAN)
    english = c.get("/patients/A-001/ranking").text
    chinese = in_language(c, "zh").get("/patients/A-001/ranking").text
    again = in_language(c, "en").get("/patients/A-001/ranking").text
    assert "Reasons and flags, donor by donor" in english and "逐一列出各供者的理由与警示" not in english
    assert "逐一列出各供者的理由与警示" in chinese and "Reasons and flags, donor by donor" not in chinese
    assert "Reasons and flags, donor by donor" in again  # the cache keeps the languages apart
    assert '<html lang="zh-Hans">' in chinese
