"""Translation never turns text into markup: ``_()`` escapes what it translates (Jinja's own
newstyle gettext marks it safe as it is), the ``t`` filter translates texts that are not
literals without %-formatting them, and no template calls ``_()`` on anything but a literal."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from everydonor.adapters.report.html import install_translations
from everydonor.adapters.web import i18n

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [*sorted((ROOT / "src/everydonor/adapters/web/templates").rglob("*.j2")),
             *sorted((ROOT / "src/everydonor/data/report").glob("*.j2"))]
PAYLOAD = '<script>alert(1)</script> 10% "blasts"'


def env(lang: str) -> jinja2.Environment:
    e = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    install_translations(e, i18n.translations(lang))
    return e


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_t_filter_escapes_and_never_formats(lang: str) -> None:
    out = env(lang).from_string("{{ v | t }}").render(v=PAYLOAD)
    assert out == "&lt;script&gt;alert(1)&lt;/script&gt; 10% &#34;blasts&#34;"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_literals_are_translated_and_their_arguments_escaped(lang: str) -> None:
    e = env(lang)
    out = e.from_string('{{ _("Signed in as %(name)s. Signing in here ends that session.", '
                        'name=v) }}').render(v=PAYLOAD)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert ("当前以" in out) == (lang == "zh")
    literal = e.from_string('{{ _("WT1 (%%, marrow)") }}').render()
    assert "%" in literal and "%%" not in literal
    assert (literal == "WT1 (%, marrow)") == (lang == "en")


def test_the_t_filter_translates() -> None:
    assert env("zh").from_string("{{ v | t }}").render(v="Patients") == \
        i18n.translations("zh").gettext("Patients") != "Patients"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_no_template_translates_a_non_literal_with_underscore(path: Path) -> None:
    """``_(value)`` would %-format ``value`` (a "%" in it: an error) — use ``value | t``."""
    text = path.read_text(encoding="utf-8")
    bad = re.findall(r"\b_\(\s*(?!['\"])[^)]*\)", text)
    assert not bad, f"{path.name}: {bad} — write `(value) | t` for a text that is not a literal"
