"""The HTML donor-selection report (also the source of the PDF)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from markupsafe import escape as escape_markup

from everydonor import __version__
from everydonor.adapters.report.pedigree import COLOURS, UNKNOWN, render_pedigree_svg
from everydonor.selection.ranking import DISPUTE_MARK


def report_asset(*parts: str) -> Path:
    return Path(str(resources.files("everydonor").joinpath("data", "report", *parts)))


FONT_FILE = report_asset("fonts", "NotoSansSC-Regular.woff2")


def _fmt(value: Any) -> str:
    if value is None:
        return "?"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _entries(references: Mapping[str, Any] | None) -> dict[str, tuple[str, str, bool]]:
    """Full text and short label of every source -> (marker, label, verified)."""
    entries: dict[str, tuple[str, str, bool]] = {}
    for group, verified in (("cited", True), ("unverified", False)):
        for r in (references or {}).get(group) or []:
            entries[r["text"]] = (r["marker"], r["label"], verified)
            entries.setdefault(r["label"], (r["marker"], r["label"], verified))
    return entries


def _anchor(marker: str, verified: bool) -> str:
    target = f"ref-{marker}" if verified else f"unverified-{marker}"
    cls = "ref" if verified else "ref unverified"
    return f'<a class="{cls}" href="#{target}">[{marker}]</a>'


def citation_labeller(references: Mapping[str, Any] | None) -> Callable[[Any], Markup]:
    """A filter: a source's full text -> its short label and link (``Wang 2014 [3]``), for the
    tables whose full texts the reference list carries."""
    entries = _entries(references)

    def label(value: Any) -> Markup:
        text = "" if value is None else str(value)
        hit = entries.get(text)
        if hit is None:
            return citation_linker(references)(text)
        marker, short, verified = hit
        return Markup(f"{escape(short, quote=False)} {_anchor(marker, verified)}")

    return label


def citation_linker(references: Mapping[str, Any] | None) -> Callable[[Any], Markup]:
    """A filter that escapes a text and links each source it cites — by its full text or its
    short label (``Wang 2014``) — to the report's reference list (``[n]``) or to the evidence
    not yet verified (``[U1]``). An unverified source's full text is replaced by its label: it is
    not shown as if it were a reference."""
    entries = _entries(references)
    keys = sorted([*entries, DISPUTE_MARK], key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys))

    def link(value: Any) -> Markup:
        text = "" if value is None else str(value)
        out, last = [], 0
        for m in pattern.finditer(text):
            out.append(escape(text[last:m.start()], quote=False))
            last = m.end()
            if m.group(0) == DISPUTE_MARK:  # explained once, in the legend
                out.append(f'<a class="dispute" href="#dispute-legend">{DISPUTE_MARK}</a>')
                continue
            marker, label, verified = entries[m.group(0)]
            shown = m.group(0) if verified else label
            out.append(f"{escape(shown, quote=False)} {_anchor(marker, verified)}")
        out.append(escape(text[last:], quote=False))
        return Markup("".join(out))

    return link


def swatch(letter: str) -> str:
    """The CSS class suffix of a haplotype letter's colour (``sw-a`` ...; no inline style, so
    the same markup works under the web app's Content-Security-Policy)."""
    return letter if letter in COLOURS else "unknown"


def _ranking_context(doc: dict[str, Any], family: dict[str, Any],
                     people: list[dict[str, Any]], language: Language | None = None
                     ) -> tuple[jinja2.Environment, dict[str, Any]]:
    env = _environment(language)
    env.filters["cites"] = citation_linker(doc.get("references"))
    env.filters["cite_label"] = citation_labeller(doc.get("references"))
    ranks = {d["id"]: f"#{d['rank']}" for d in doc["ranking"]}
    ranks.update({x["id"]: "✗" for x in doc["excluded"]})
    pedigree = render_pedigree_svg(family, people, ranks)
    legend = []
    for side in ("paternal", "maternal"):
        haps = (family.get("haplotypes") or {}).get(side) or {}
        letters = [(k, (v or {}).get("gl") or "not typed", COLOURS.get(k, UNKNOWN))
                   for k, v in haps.items() if k != "inferred"]
        if letters:
            inferred = " (reconstructed)" if haps.get("inferred") else ""
            legend.append((f"{side}{inferred}", letters))
    footer = (f"everydonor {__version__} · IPD-IMGT/HLA {doc['release']} · rule set "
              f"{doc['rules']['name']}@{doc['rules']['version']}")
    disputed = any(DISPUTE_MARK in r for d in doc["ranking"] for r in d["reasons"]) or any(
        DISPUTE_MARK in b for x in doc["excluded"] for b in x["because"])
    return env, {"doc": doc, "version": __version__, "fmt": _fmt, "pedigree": pedigree,
                 "haplotype_legend": legend, "font_url": FONT_FILE.as_uri(),
                 "family_warnings": family.get("warnings", []), "footer": footer,
                 "disputed": disputed, "swatch": swatch,
                 "lang": language.code if language else "en"}


def render_ranking_html(doc: dict[str, Any], family: dict[str, Any],
                        people: list[dict[str, Any]],
                        manifest: Mapping[str, Any] | None = None,
                        language: Language | None = None) -> str:
    """``people``: the patient (relationship None) and every relative: id, relationship, sex,
    age, label, untyped.

    ``manifest``: the report of a kept snapshot carries its signature manifest (21 CFR 11.50):
    ``{"snapshot": {id, sha256, intact, created_at, created_by}, "patient_version": int,
    "signatures": [Accounts.signatures() documents, optionally with role_label and
    signed_at_utc]}``; a superseded or broken signature is announced at the top."""
    env, context = _ranking_context(doc, family, people, language)
    return env.get_template("report.html.j2").render(**context, manifest=manifest)


def render_ranking_body(doc: dict[str, Any], family: dict[str, Any],
                        people: list[dict[str, Any]], language: Language | None = None
                        ) -> Markup:
    """The report's content (notice, provenance, ranking, exclusions, pedigree, reasons and
    flags, criteria, references) without the page around it: the web app shows exactly this.
    Built by the report's autoescaping template, so it is safe to embed."""
    env, context = _ranking_context(doc, family, people, language)
    return Markup(env.get_template("report_body.html.j2").render(**context))


@dataclass(frozen=True)
class Language:
    """The language a report is written in: its code (``en``, ``zh``) and a gettext
    translations object (``gettext``/``ngettext``; Babel's or the standard library's) for the
    report's own labels. Clinical text from the core (reasons, criteria, citations) is quoted
    as the rule set states it, in English, and the report says so in any other language."""

    code: str
    translations: Any


def install_translations(env: jinja2.Environment, translations: Any | None) -> None:
    """``_()`` / ``gettext`` / ``ngettext`` in ``env`` (newstyle: ``_("… %(n)s", n=x)``) whose
    result is ESCAPED before it is marked safe. Jinja's own newstyle gettext marks the
    translated text safe as it is, so ``{{ _(value) }}`` of a text that is not a literal (an
    error message quoting what a user typed, say) would be rendered as HTML. Here the message is
    escaped first and the ``%(name)s`` arguments as always, so ``_()`` is safe on anything.
    Non-literal texts use the ``t`` filter (below), which does not %-format them either."""
    def gettext(message: str) -> Markup:
        text = translations.gettext(message) if translations is not None else message
        return escape_markup(text)

    def ngettext(singular: str, plural: str, n: int) -> Markup:
        text = (translations.ngettext(singular, plural, n) if translations is not None
                else singular if n == 1 else plural)
        return escape_markup(text)

    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    # ``{{ value | t }}``: the translation of a text that is not a literal (a title, an error,
    # a stored state), escaped and never %-formatted (a "10%" in it is just text); ``_()`` is
    # for literals, with Jinja's ``%(name)s`` / ``%%`` formatting.
    env.filters["t"] = lambda value: gettext(str(value))


def _environment(language: Language | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(report_asset())),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        extensions=["jinja2.ext.i18n"],
    )
    install_translations(env, language.translations if language else None)
    return env


def render_plan_html(doc: dict[str, Any], provenance: dict[str, Any],
                     name: str | None = None) -> str:
    """The treatment plan as HTML (and the source of its PDF)."""
    footer = (f"everydonor {__version__} · regimen {doc['regimen']['id']}@"
              f"{doc['regimen']['version']} · patient {doc['patient']['id']}")
    return _environment().get_template("plan.html.j2").render(
        doc=doc, provenance=provenance, fmt=_fmt, name=name, font_url=FONT_FILE.as_uri(),
        footer=footer)
