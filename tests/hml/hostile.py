"""Hostile XML written by the tests (never shipped as files): XXE, entity bomb, DTD, oversize."""

from __future__ import annotations

from pathlib import Path

NS = "http://schemas.nmdp.org/spec/hml/1.0.1"
SAMPLE = ('<sample id="{sid}"><typing gene-family="HLA" date="2020-01-01">'
          '<allele-assignment date="2020-01-01" allele-db="IPD-IMGT/HLA" '
          'allele-version="3.58.0"><glstring>{gl}</glstring></allele-assignment>'
          '<typing-method><sso locus="HLA-A" test-id="T1" test-id-source="LAB" scores="1"/>'
          '</typing-method></typing></sample>')


def message(samples: str, prolog: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
            f'<hml xmlns="{NS}" version="1.0.1"><hmlid root="1.2.3" extension="x"/>'
            f'<reporting-center reporting-center-id="1" reporting-center-context="NMDP"/>'
            f'{samples}</hml>\n')


def xxe(tmp: Path, secret: Path) -> Path:
    body = SAMPLE.format(sid="&xxe;", gl="HLA-A*01:01+HLA-A*02:01")
    p = tmp / "xxe.xml"
    p.write_text(message(body, f'<!DOCTYPE hml [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'))
    return p


def billion_laughs(tmp: Path) -> Path:
    decl = ['<!ENTITY lol0 "lol">']
    decl += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    body = SAMPLE.format(sid="S1", gl="&lol9;")
    p = tmp / "bomb.xml"
    p.write_text(message(body, "<!DOCTYPE hml [\n" + "\n".join(decl) + "\n]>\n"))
    return p


def external_dtd(tmp: Path) -> Path:
    p = tmp / "dtd.xml"
    p.write_text(message(SAMPLE.format(sid="S1", gl="HLA-A*01:01+HLA-A*02:01"),
                         '<!DOCTYPE hml SYSTEM "http://example.invalid/hml.dtd">\n'))
    return p


def plain(tmp: Path, n: int = 1, name: str = "plain.xml") -> Path:
    p = tmp / name
    p.write_text(message("".join(SAMPLE.format(sid=f"S{i}", gl="HLA-A*01:01+HLA-A*02:01")
                                 for i in range(1, n + 1))))
    return p
