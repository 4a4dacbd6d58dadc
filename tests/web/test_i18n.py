"""The Chinese catalogue is complete and consistent, and the Chinese UI shows it.

- Every message of the web app's templates (``{{ _("...") }}``) and code (``_()``, ``N_()``),
  and of the report templates the web app renders in the user's language, has a non-empty,
  non-fuzzy Chinese translation in ``locale/zh/LC_MESSAGES/messages.po``.
- Placeholders (``%(name)s``, ``%%``) are the same in the message and its translation: the
  templates format every message (``newstyle`` gettext), so a missing or misspelt placeholder
  is a broken page.
- A signed-in browser with the language cookie set to ``zh`` gets Chinese pages.

Missing translations: ``scripts/i18n-update`` lists new messages in the catalogue (empty), then
translate them.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from fastapi.testclient import TestClient

from everydonor.adapters.web import i18n
from everydonor.adapters.web.http import LANG_COOKIE
from tests.web.conftest import WebEnv, user_name
from tests.web.i18n_tools import KEYWORDS, PO, extract, load_po

REPORT = Path(i18n.__file__).resolve().parents[2] / "data" / "report"
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%%|%[sdifr]")


def all_messages() -> dict[str, list[str]]:
    """msgid -> where: the web app (templates and code) and the report templates."""
    found = extract()
    if REPORT.is_dir():
        for filename, lineno, message, _c, _ctx in extract_from_dir(
                str(REPORT), [("**.j2", "jinja2")],
                {"**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}},
                keywords=KEYWORDS):
            if isinstance(message, tuple):
                message = message[0]
            if message:
                found.setdefault(message, []).append(f"data/report/{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    assert PO.is_file(), f"no Chinese catalogue at {PO}"
    return load_po()


def test_extraction_finds_the_messages() -> None:
    found = all_messages()
    assert len(found) > 200, len(found)
    for msgid in ("Patients", "Donor ranking", "Reason for change", "Follow-up"):
        assert msgid in found, msgid


def test_every_message_has_a_chinese_translation(catalog: Catalog) -> None:
    missing, fuzzy = [], []
    for msgid, places in sorted(all_messages().items()):
        message = catalog.get(msgid)
        if message is None or not (message.string or "").strip():
            missing.append(f"{msgid!r}  ({', '.join(places[:2])})")
        elif message.fuzzy:
            fuzzy.append(f"{msgid!r}  ({', '.join(places[:2])})")
    assert not missing, (f"{len(missing)} message(s) without a Chinese translation in {PO} "
                         "(run scripts/i18n-update, then translate):\n" + "\n".join(missing))
    assert not fuzzy, f"{len(fuzzy)} fuzzy translation(s):\n" + "\n".join(fuzzy)


def test_placeholders_are_the_same_in_the_translation(catalog: Catalog) -> None:
    wrong = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for s in strings:
            if Counter(PLACEHOLDER.findall(msgid)) != Counter(PLACEHOLDER.findall(s)):
                wrong.append(f"{msgid!r} -> {s!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_translations_have_no_markup(catalog: Catalog) -> None:
    """A translation is inserted as trusted text (``newstyle`` gettext marks it safe): it may
    hold no markup the message does not hold."""
    wrong = [f"{m.id!r} -> {m.string!r}" for m in catalog
             if m.id and isinstance(m.string, str)
             and set(re.findall(r"[<>&\"]", m.string)) - set(re.findall(r"[<>&\"]", str(m.id)))]
    assert not wrong, "\n".join(wrong)


def test_every_translation_formats() -> None:
    """Each translation formats as the templates format it (no stray ``%``)."""
    zh = i18n.translations("zh")
    for msgid in all_messages():
        names = set(re.findall(r"%\((\w+)\)", msgid))
        text = zh.gettext(msgid)
        text % dict.fromkeys(names, "x")  # raises on a malformed or unknown placeholder


def _zh_client(web: WebEnv) -> TestClient:
    c = web.login(user_name("data_entry", "PKUPH"))
    r = c.get("/lang/zh", params={"next": "/patients"})
    assert r.status_code == 303 and r.headers["location"] == "/patients"
    assert c.cookies.get(LANG_COOKIE) == "zh"
    return c


def test_chinese_ui_on_the_patient_list_and_patient_page(web: WebEnv) -> None:
    zh = i18n.translations("zh")
    english = web.login(user_name("data_entry", "PKUPH"))
    c = _zh_client(web)
    for url, messages in (
            ("/patients", ("Patients", "Diagnosis", "Relatives", "Last change", "New patient")),
            ("/patients/A-001", ("Donor ranking", "Treatment plan", "Follow-up",
                                 "Anti-HLA antibodies",
                                 "Family and inherited haplotypes", "Disease status"))):
        en_page = english.get(url)
        page = c.get(url)
        assert page.status_code == 200 and en_page.status_code == 200
        assert '<html lang="zh-Hans">' in page.text
        assert '<html lang="en">' in en_page.text
        for msgid in messages:
            chinese = zh.gettext(msgid)
            assert chinese != msgid, f"{msgid!r} is not translated"
            assert f">{chinese}<" in page.text, (url, msgid, chinese)
            assert f">{msgid}<" in en_page.text, (url, msgid)
            assert f">{msgid}<" not in page.text, (url, msgid)
        # the clinical values are never translated
        assert "A-001" in page.text and "AML" in page.text
    # the switch back to English
    r = c.get("/lang/en", params={"next": "/patients"})
    assert r.status_code == 303
    assert ">Patients<" in c.get("/patients").text


#: Words that are also stored coded values, printed as stored (sex, "through" side, CMV
#: result), and abbreviations a table header prints as they are: the page shows the value,
#: not the message.
CODED = {"male", "female", "father", "mother", "positive", "negative", "unknown", "CMV", "HLA",
         "MRD", "UPN"}


def test_no_english_left_on_the_chinese_patient_page(web: WebEnv) -> None:
    """Every catalogue message on the English page is translated on the Chinese one: no
    message of the page is left in English (clinical values, codes and HLA names aside)."""
    english = web.login(user_name("data_entry", "PKUPH"))
    c = _zh_client(web)
    zh = i18n.translations("zh")
    for url in ("/patients", "/patients/A-001"):
        en_page = english.get(url).text
        page = c.get(url).text
        left = [m for m in all_messages() if m not in CODED and zh.gettext(m) != m
                and f">{m}<" in en_page and f">{m}<" in page]
        assert not left, (url, left)
