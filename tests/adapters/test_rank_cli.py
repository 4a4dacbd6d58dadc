"""`everydonor rank` and `everydonor demo` from the command line: formats, files, bad input;
the PDF report rendered and its text read back with pypdf."""

from __future__ import annotations

import json
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
