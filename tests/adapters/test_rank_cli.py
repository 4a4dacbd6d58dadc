"""`everydonor rank` and `everydonor demo` from the command line: formats, files, bad input;
the PDF report rendered and its text read back with pypdf."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pypdf
import pytest

from everydonor import __version__
from everydonor.adapters.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_rank_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "rank", str(EXAMPLES / "01-matched-sibling-and-haplo-siblings.yaml"),
                         "--rules", "beijing", "--format", "json")
    assert status == 0
    doc = json.loads(out)
    assert doc["rules"]["name"] == "beijing" and doc["rules"]["references"]
    assert [d["id"] for d in doc["ranking"]] == ["S1", "B1", "B2", "B3", "F", "M", "S2"]
    assert doc["ranking"][0]["donor_type"] == "matched_sibling"
    prov = doc["provenance"]
    assert prov["software"] == f"everydonor {__version__}"
    assert prov["reference"] == "IPD-IMGT/HLA 3.58.0" and prov["rule_set"] == "beijing@csh2021-1"


def test_rank_text_is_a_table_with_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "rank", "--example", "--format", "text")
    assert status == 0
    assert "rank  id" in out and "Decision support" in out
    assert "above" in out and "FLAG:" in out and "[M;" in out  # [M] marks stay visible


def test_rank_refuses_bad_input_and_writes_nothing(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "everydonor.case/1", "patient": {
        "id": "P", "hla": {"A": ["A*01:01", "A*02:01"]}}, "relatives": [
        {"id": "S", "relationship": "sister", "age": -3, "hla": {"A": ["A*01:01", "A*02:01"]}}]}))
    target = tmp_path / "out.pdf"
    status, out, err = run(capsys, "rank", str(bad), "--format", "pdf", "-o", str(target))
    assert status == 2 and out == ""
    assert "S" in err and "age" in err and "-3" in err
    assert not target.exists() and list(tmp_path.iterdir()) == [bad]
    status, _, err = run(capsys, "rank", "--example", "--rules", "nonesuch")
    assert status == 2 and "unknown rule set 'nonesuch'" in err


def test_centre_rule_set_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "centre.yaml"
    rules.write_text("name: centre-x\nversion: '1'\nbase: beijing\nparameters:\n"
                     "  dsa_exclude_mfi: 2500\n", encoding="utf-8")
    status, out, _ = run(capsys, "rank", str(EXAMPLES / "04-donor-specific-antibodies.yaml"),
                         "--rules", str(rules))
    assert status == 0
    doc = json.loads(out)
    assert doc["rules"]["name"] == "centre-x" and doc["rules"]["derived_from"]
    excluded = {x["id"] for x in doc["excluded"]}
    assert {"F", "M", "B1"} <= excluded  # B*58:01 MFI 3000 is now in the rejection band
    rules.write_text("name: centre-x\nversion: '1'\nbase: beijing\nparameters:\n"
                     "  dsa_exclude_mfi: lots\n", encoding="utf-8")
    status, _, err = run(capsys, "rank", "--example", "--rules", str(rules))
    assert status == 2 and "dsa_exclude_mfi" in err


@pytest.fixture(scope="module")
def pdf_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("report")
    case = EXAMPLES / "02-high-risk-leukaemia-experienced-centre.yaml"
    assert main(["rank", str(case), "--format", "pdf", "-o", str(folder / "r.pdf")]) == 0
    assert main(["rank", str(case), "--format", "html", "-o", str(folder / "r.html")]) == 0
    reader = pypdf.PdfReader(str(folder / "r.pdf"))
    fonts = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    return {"text": "\n".join(p.extract_text() for p in reader.pages), "fonts": fonts,
            "html": (folder / "r.html").read_text("utf-8"), "pages": len(reader.pages)}


def test_pdf_text_carries_the_decision(pdf_report: dict[str, Any]) -> None:
    text = pdf_report["text"]
    assert "Donor selection report" in text
    assert "Decision support — for review by the treating physician" in text
    assert f"everydonor {__version__}" in text and "IPD-IMGT/HLA 3.58.0" in text
    assert "beijing @ csh2021-1" in text
    assert "李明" in text and "示例医院" in text  # Chinese names render (bundled CJK font)
    assert "Treating physician (name, signature)" in text and "HLA laboratory" in text
    assert "Zhang XH" in text and "Wang Y, Chang YJ, Xu LP" in text  # citations
    assert "applied" in text and "high-risk leukaemia" in text
    # the ranking order as printed: B1 is rank 1, S1 (matched sister) after the haplo donors
    assert text.index("#1 B1") < text.index("#6 S1")
    assert any("EverydonorSans" in f for f in pdf_report["fonts"]), pdf_report["fonts"]


def test_html_pedigree_has_coloured_haplotype_bars(pdf_report: dict[str, Any]) -> None:
    html = pdf_report["html"]
    assert html.count("<svg") == 1
    svg = html[html.index("<svg"):html.index("</svg>")]
    for colour in ("#2b6cb0", "#90cdf4", "#c53030", "#f6a5c0"):  # haplotypes a, b, c, d
        assert f'fill="{colour}"' in svg
    for person in ("李明", "李建国", "王秀英", "李静"):
        assert person in svg
    assert "#1" in svg and "✗" not in svg  # rank badges; nobody excluded in this family


def test_demo_writes_the_whole_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "demo", "--out", str(tmp_path / "demo"))
    assert status == 0
    assert {p.name for p in (tmp_path / "demo").iterdir()} == {"ranking.json", "report.html",
                                                               "report.pdf"}
    assert "Report written" in out and "rank  id" in out
    doc = json.loads((tmp_path / "demo" / "ranking.json").read_text("utf-8"))
    assert doc["ranking"][0]["id"] == "S2"
    assert (tmp_path / "demo" / "report.pdf").read_bytes()[:5] == b"%PDF-"


# -- what a clinician reads -------------------------------------------------------------------

_HAP = {"a": ["A*02:01", "C*01:02", "B*46:01", "DRB1*09:01", "DQB1*03:03"],
        "b": ["A*24:02", "C*03:04", "B*40:01", "DRB1*12:01", "DQB1*03:01"],
        "c": ["A*11:01", "C*14:02", "B*51:01", "DRB1*15:01", "DQB1*06:02"],
        "d": ["A*33:03", "C*03:02", "B*58:01", "DRB1*03:01", "DQB1*02:01"]}
_LOCI = ["A", "C", "B", "DRB1", "DQB1"]


def _hla(x: str, y: str, loci: tuple[str, ...] = tuple(_LOCI)) -> dict[str, list[str]]:
    return {loc: [_HAP[x][i], _HAP[y][i]] for i, loc in enumerate(_LOCI) if loc in loci}


@pytest.fixture(scope="module")
def few_loci(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A sibling HLA-identical by segregation typed only at A, B, DRB1; both parents typed at
    all five loci: every output says what the family proves and which loci are untyped."""
    folder = tmp_path_factory.mktemp("few-loci")
    case = folder / "case.json"
    case.write_text(json.dumps({"format": "everydonor.case/1", "as_of": "2026-11-25",
        "patient": {"id": "P", "sex": "male", "age": 40, "abo": "A+", "cmv_igg": "positive",
                    "hla": _hla("a", "c"), "antibodies": {"results": []}},
        "relatives": [
            {"id": "F", "relationship": "father", "age": 70, "hla": _hla("a", "b")},
            {"id": "M", "relationship": "mother", "age": 68, "hla": _hla("c", "d")},
            {"id": "S", "relationship": "sister", "age": 30, "sex": "female",
             "hla": _hla("a", "c", ("A", "B", "DRB1"))}]}), encoding="utf-8")
    out: dict[str, Any] = {}
    for fmt in ("json", "text", "html", "pdf"):
        target = folder / f"r.{fmt}"
        assert main(["rank", str(case), "--format", fmt, "-o", str(target)]) == 0
        out[fmt] = target
    reader = pypdf.PdfReader(str(out["pdf"]))
    return {"json": json.loads(out["json"].read_text("utf-8")),
            "text": out["text"].read_text("utf-8"), "html": out["html"].read_text("utf-8"),
            "pdf": "\n".join(p.extract_text() for p in reader.pages)}


def test_identical_sibling_headline_in_every_output(few_loci: dict[str, Any]) -> None:
    s = next(d for d in few_loci["json"]["ranking"] if d["id"] == "S")
    assert s["donor_type"] == "matched_sibling" and s["compatibility"]["hla"]["match"]["of_10"] == 6
    assert s["relation"]["headline"] == "genotypically HLA-identical by segregation"
    assert s["relation"]["typing"] == "typed at 3 of 5 loci; C, DQB1 untyped"
    text = few_loci["text"]
    row = next(line for line in text.splitlines() if line.strip().startswith("1  S "))
    assert "identical, 3/5 loci typed" in row and "6/10" not in row
    assert "#1 S — genotypically HLA-identical by segregation; typed at 3 of 5 loci; C, DQB1 " \
           "untyped" in text
    assert "confirmatory typing" in text
    html = few_loci["html"]
    assert "identical by segregation" in html and "C, DQB1 untyped" in html
    assert "genotypically HLA-identical by segregation" in html
    pdf = " ".join(few_loci["pdf"].split())
    assert "genotypically HLA-identical by segregation" in pdf
    assert "typed at 3 of 5 loci; C, DQB1 untyped" in pdf
    assert "confirmatory typing" in pdf and "0/0?" not in pdf


def _sections(html: str) -> tuple[str, str, str]:
    """(body before the references, References, Evidence not yet verified)."""
    start = html.index('<h3 id="references">')
    unverified = html.index('<h3 id="unverified">')
    end = html.index("<h2>Review and sign-off</h2>")
    return html[:start], html[start:unverified], html[unverified:end]


@pytest.mark.parametrize("rules", ["beijing", "beijing@csh2018", "baltimore", "ebmt"])
def test_references_are_numbered_as_cited_and_placeholders_kept_apart(
        rules: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, html, _ = run(capsys, "rank", "--example", "--rules", rules, "--format", "html")
    assert status == 0
    body, references, unverified = _sections(html)
    for placeholder in ("authors not yet identified", "not yet checked", "~2021", "[M]"):
        assert placeholder not in references, placeholder
    listed = re.findall(r'<li id="ref-(\d+)">', references)
    assert listed == [str(n) for n in range(1, len(listed) + 1)]
    assert set(re.findall(r'href="#ref-(\d+)"', body)) == set(listed)  # and vice versa
    held = re.findall(r'<li id="unverified-(U\d+)">', unverified)
    assert held and set(re.findall(r'href="#unverified-(U\d+)"', body)) == set(held)
    if rules.startswith("beijing"):
        assert "512-patient ATG cohort" in unverified and "not yet identified" in unverified
        assert "512-patient ATG cohort" not in references
    if rules == "baltimore":
        assert "DeZern" in unverified and "DeZern" not in references


def test_dispute_mark_is_sparse_and_explained_once(capsys: pytest.CaptureFixture[str]) -> None:
    status, html, _ = run(capsys, "rank", "--example", "--format", "html")
    assert status == 0
    assert html.count('id="dispute-legend"') == 1
    assert html.count('href="#dispute-legend"') == 11  # 10 reasons and the rejected uncle
    status, text, _ = run(capsys, "rank", "--example", "--format", "text")
    assert text.count("⚑ sources disagree: shown only where") == 1
    assert text.count("⚑") == 12  # the 11 marks and the legend


_TABLE_HEADERS = ("Person Kind Because", "Parameter Source Conf.",
                  "# Criterion Explanation Conf. Citations Where sources disagree",
                  "# Donor Type Age /")
_HEADINGS = ("Ranking", "Not ranked", "Family and haplotypes", "Reasons and flags, donor by donor",
             "Could not weigh (missing facts, never guessed)", "Warnings", "Parameters",
             "References", "Evidence not yet verified [M]", "Review and sign-off")


def test_demo_pdf_has_no_table_header_or_heading_alone_at_a_page_foot(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, _ = run(capsys, "demo", "--out", str(tmp_path))
    assert status == 0
    reader = pypdf.PdfReader(str(tmp_path / "report.pdf"))
    for number, page in enumerate(reader.pages, start=1):
        lines = [line.strip() for line in page.extract_text().splitlines()]
        content = [line for line in lines[:-1] if line and line != "·"]  # no footer, no bullets
        for i, line in enumerate(content):
            if line in _HEADINGS or line.startswith(_TABLE_HEADERS):
                after = len(content) - i - 1
                assert after >= 2, f"page {number}: {line!r} ends the page"
