"""English and Simplified Chinese (Babel/gettext): the catalogues are the ``.po`` files under
``locale/``, compiled in memory at start-up (nothing to build, nothing to go stale).

English is the source language: a message without a Chinese translation shows in English,
never blank. ``tests/web/test_i18n.py`` keeps the catalogue complete for every message in the
templates and code.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: The languages of the switch: code → its own name.
LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文"}
DEFAULT_LANGUAGE = "en"


@cache
def translations(lang: str) -> NullTranslations:
    if lang == DEFAULT_LANGUAGE or lang not in LANGUAGES:
        return NullTranslations()
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def language_of(cookie: str | None, accept: str | None) -> str:
    """The cookie's language, else the browser's preferred one we have, else English."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def gettext(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def N_(message: str) -> str:
    """Mark a message for the catalogue without translating it here (page titles, labels kept
    in code and translated where they are shown)."""
    return message
