"""The message catalogue of the web app: extraction from the templates and the code, and the
update of the Chinese ``.po`` (``scripts/i18n-update``). The completeness test uses
:func:`extract` too.

Messages are ``{{ _("...") }}`` in templates and ``_("...")`` / ``N_("...")`` in Python
(``N_`` marks a message translated later, e.g. a page title passed to a template).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

WEB = Path(__file__).resolve().parents[2] / "src" / "everydonor" / "adapters" / "web"
PO = WEB / "locale" / "zh" / "LC_MESSAGES" / "messages.po"
METHODS = [("templates/**.j2", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}
KEYWORDS = {"_": None, "N_": None, "gettext": None}


#: The report's templates (``data/report``): the web app renders the donor-selection report in
#: the UI language, so their labels are in the same catalogue.
REPORT = WEB.parents[1] / "data" / "report"
#: The centre outcomes report's labels kept in code (N_: endpoint titles, donor types, methods).
REPORT_CODE = WEB.parent / "report"
SOURCES = [(WEB, METHODS, OPTIONS),
           (REPORT, [("**.j2", "jinja2")],
            {"**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}),
           (REPORT_CODE, [("centre_report.py", "python")], {})]


def extract() -> dict[str, list[str]]:
    """msgid → where it occurs (file:line, relative to the web package or the report folder)."""
    found: dict[str, list[str]] = {}
    for folder, methods, options in SOURCES:
        prefix = "" if folder == WEB else "report:" if folder == REPORT else "report-code:"
        for filename, lineno, message, _comments, _context in extract_from_dir(
                str(folder), methods, options, keywords=KEYWORDS):
            if isinstance(message, tuple):
                message = message[0]
            if message:
                found.setdefault(message, []).append(f"{prefix}{filename}:{lineno}")
    return found


def load_po() -> Catalog:
    if not PO.is_file():
        return Catalog(locale="zh_Hans", project="everydonor")
    with PO.open("rb") as fh:
        return read_po(fh, locale="zh_Hans")


def update() -> tuple[int, int]:
    """Add new messages (empty translation) to the Chinese catalogue; keep the rest. Returns
    (messages, untranslated)."""
    catalog = load_po()
    for msgid, places in sorted(extract().items()):
        if msgid not in catalog:
            catalog.add(msgid, "", locations=[(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1]))
                                              for p in places[:3]])
    PO.parent.mkdir(parents=True, exist_ok=True)
    with PO.open("wb") as fh:
        write_po(fh, catalog, width=100, sort_output=True, omit_header=False)
    missing = sum(1 for m in catalog if m.id and not m.string)
    return len([m for m in catalog if m.id]), missing


if __name__ == "__main__":
    total, missing = update()
    print(f"{PO}: {total} messages, {missing} without a Chinese translation")
    sys.exit(0)
