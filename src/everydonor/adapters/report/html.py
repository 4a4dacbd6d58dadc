"""The HTML donor-selection report (also the source of the PDF)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from everydonor import __version__
from everydonor.adapters.report.pedigree import COLOURS, UNKNOWN, render_pedigree_svg


def report_asset(*parts: str) -> Path:
    return Path(str(resources.files("everydonor").joinpath("data", "report", *parts)))


FONT_FILE = report_asset("fonts", "NotoSansSC-Regular.woff2")


def _fmt(value: Any) -> str:
    if value is None:
        return "?"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_ranking_html(doc: dict[str, Any], family: dict[str, Any],
                        people: list[dict[str, Any]]) -> str:
    """``people``: the patient (relationship None) and every relative: id, relationship, sex,
    age, label, untyped."""
    template = _environment().get_template("report.html.j2")
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
    return template.render(doc=doc, version=__version__, fmt=_fmt, pedigree=pedigree,
                           haplotype_legend=legend, font_url=FONT_FILE.as_uri(),
                           family_warnings=family.get("warnings", []), footer=footer)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(report_asset())),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )


def render_plan_html(doc: dict[str, Any], provenance: dict[str, Any],
                     name: str | None = None) -> str:
    """The treatment plan as HTML (and the source of its PDF)."""
    footer = (f"everydonor {__version__} · regimen {doc['regimen']['id']}@"
              f"{doc['regimen']['version']} · patient {doc['patient']['id']}")
    return _environment().get_template("plan.html.j2").render(
        doc=doc, provenance=provenance, fmt=_fmt, name=name, font_url=FONT_FILE.as_uri(),
        footer=footer)
