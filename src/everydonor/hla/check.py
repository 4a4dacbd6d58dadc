"""``hla check`` on one typing: is it valid in this release, what kind, how ambiguous.

Shared by the command line (``everydonor hla check``) and the web app (the live check and
``POST /api/v1/hla/check``), so the three give the same answer.
"""

from __future__ import annotations

from typing import Any

from everydonor.hla.designation import MacDictionary, expand, parse_typing
from everydonor.hla.glstring import is_gl_string, parse_gl
from everydonor.hla.reference import HlaReference


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
