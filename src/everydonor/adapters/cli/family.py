"""``everydonor family`` and ``everydonor match``: segregation and compatibility of a case."""

from __future__ import annotations

import argparse
import json
from typing import Any

from everydonor import __version__
from everydonor.adapters.cli.common import (
    NOTICE,
    Context,
    case_arguments,
    load_case,
)


def cmd_family(args: argparse.Namespace) -> int:
    from everydonor.family.analysis import analyse_family, render_text

    ctx = Context(args)
    case = load_case(args)
    result = analyse_family(case, ctx.reducer)
    document = dict(result.document)
    document["provenance"] = ctx.provenance()
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(render_text(document, NOTICE, f"everydonor {__version__}"))
    return 0


def _words(value: Any, unknown: str = "not recorded") -> str:
    """A value as a clinician reads it: yes / no / not recorded, words for ``snake_case``."""
    if value is None:
        return unknown
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("_", " ")


def cmd_match(args: argparse.Namespace) -> int:
    from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_tce
    from everydonor.matching.analysis import match_case

    ctx = Context(args)
    case = load_case(args)
    tce = read_tce(open_release(ctx.imgt_dir))
    kir = load_kir_table(ctx.imgt_dir)
    document = match_case(case, ctx.reducer, tce, kir, dsa_positive_mfi=args.dsa_positive_mfi)
    document["provenance"] = ctx.provenance()
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    lines = [f"# everydonor match — IPD-IMGT/HLA {document['release']} — patient "
             f"{document['patient']}", f"# {NOTICE}", ""]
    for d in document["donors"]:
        hla = d["hla"]
        if hla is None:
            lines.append(f"{d['id']:<8} not HLA typed")
            continue
        loci = " ".join(f"{loc}:{v['gvh']}/{v['hvg']}{'?' if v.get('ambiguous') else ''}"
                        for loc, v in hla["loci"].items())
        m = hla["match"]
        dsa = d["dsa"]
        dsa_text = _words(dsa["status"]) + (f" (max MFI {dsa['max_mfi']:g})" if dsa["max_mfi"]
                                            else "")
        lines.append(f"{d['id']:<8} {_words(d.get('relationship') or d.get('registry') or ''):<12} "
                     f"{_words(m['of_8'], '?')}/8 {_words(m['of_10'], '?')}/10 "
                     f"{_words(m['of_12'], '?')}/12  gvh/hvg {loci}")
        kir_text = _words(d["kir_ligand_mismatch_gvh"],
                          "unknown (HLA-A, -B or -C not typed or ambiguous)")
        lines.append(f"{'':<8} untyped {','.join(hla['untyped_loci']) or 'none'}; DPB1 TCE "
                     f"{_words(d['dpb1_tce'])}; KIR-ligand mismatch GvH {kir_text}; "
                     f"DSA {dsa_text}; ABO {_words(d['abo'])}; CMV {d['cmv']}; "
                     f"sex {d['sex']}")
    print("\n".join(lines))
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the main parser."""
    fam = sub.add_parser("family", help="segregate the family's HLA haplotypes and judge every "
                         "relative's relation to the patient")
    case_arguments(fam)
    fam.set_defaults(func=cmd_family)

    mat = sub.add_parser("match", help="compare every candidate donor with the patient: HLA by "
                         "direction, DPB1 TCE, KIR ligands, DSA, ABO, CMV, sex")
    case_arguments(mat)
    mat.add_argument("--dsa-positive-mfi", type=float, default=None, metavar="MFI",
                     help="count only antibody results at or above this MFI (the laboratory's "
                     "cut-off; default: every reported result)")
    mat.set_defaults(func=cmd_match)
