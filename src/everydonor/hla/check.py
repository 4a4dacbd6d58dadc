"""The per-typing answers of ``hla check``, ``hla reduce`` and ``hla expand``.

Shared by the command line (``everydonor hla check|reduce|expand``) and the web app (the live
check and ``POST /api/v1/hla/check|reduce|expand``), so they give the same answer.
"""

from __future__ import annotations

from typing import Any

from everydonor.hla.designation import MacDictionary, expand, parse_typing
from everydonor.hla.glstring import is_gl_string, map_tokens, parse_gl
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import HlaReference, Resolution


def check_typing(text: str, ref: HlaReference, macs: MacDictionary | None) -> dict[str, Any]:
    """The ``hla check`` result of one typing (or GL string); raises the HLA error of the first
    part that is not valid (``InvalidHlaName``, ``UnknownAllele``, ``UnknownMacCode``)."""
    tokens = parse_gl(text).tokens() if is_gl_string(text) else [text]
    parts = []
    for token in tokens:
        typing = parse_typing(token)
        alleles = expand(typing, ref, macs)
        parts.append({"typing": token, "kind": typing.kind.value,
                      "locus": typing.locus.value if typing.locus else None,
                      "alleles": len(alleles), "ambiguous": len(alleles) > 1})
    out: dict[str, Any] = {"input": text, "valid": True}
    if len(parts) == 1:
        out.update({k: v for k, v in parts[0].items() if k != "typing"})
    else:
        out["kind"] = "gl_string"
        out["ambiguous"] = any(p["ambiguous"] for p in parts)
        out["parts"] = parts
    return out


def reduce_typing(text: str, reducer: Reducer, to: Resolution) -> dict[str, Any]:
    """The ``hla reduce --to TO`` result of one typing (or GL string, token by token)."""
    if is_gl_string(text):
        gl = parse_gl(text)
        reduced = map_tokens(gl, lambda t: reducer.reduce(parse_typing(t), to).output or t)
        return {"input": text, "output": reduced.format(), "kind": "gl_string"}
    return reducer.reduce(parse_typing(text), to).to_dict()


def expand_typing(text: str, ref: HlaReference, macs: MacDictionary | None) -> dict[str, Any]:
    """The ``hla expand`` result of one typing: every allele of the release it stands for."""
    if is_gl_string(text):
        gl = parse_gl(text)
        expanded = map_tokens(gl, lambda t: "/".join(expand(parse_typing(t), ref, macs)) or t)
        return {"input": text, "output": expanded.format(), "kind": "gl_string"}
    typing = parse_typing(text)
    alleles = expand(typing, ref, macs)
    return {"input": text, "kind": typing.kind.value, "alleles": list(alleles),
            "count": len(alleles)}
