"""The per-typing answers of ``hla check``, ``hla reduce`` and ``hla expand``.

Shared by the command line (``everydonor hla check|reduce|expand``) and the web app (the live
check and ``POST /api/v1/hla/check|reduce|expand``), so they give the same answer.

A GL String Code (``hla#3.58.0#HLA-A*01:01+HLA-A*02:01``) is read by
:mod:`everydonor.hla.glsc`; its answer says under which release it was read (``release``),
what the code said (``glsc``) and, when the two differ, a warning (:func:`release_flag`). The
caller passes the tables of the code's own release when that release is installed. A ``kir``
code and a GL String 1.1 ``?`` are kept verbatim and flagged, never split or reduced.
"""

from __future__ import annotations

import re
from typing import Any

from everydonor.hla.designation import MacDictionary, expand, parse_typing
from everydonor.hla.glsc import PARALOG_NOTE, Glsc, looks_like_glsc, parse_glsc, release_flag
from everydonor.hla.glstring import is_gl_string, map_tokens, parse_gl
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import HlaReference, Resolution

KIR_NOTE = ("a KIR GL String Code: kept verbatim, not checked (everydonor loads no IPD-KIR "
            "release)")


def code_of(text: str) -> Glsc | None:
    """The GL String Code ``text`` is written as, or None for a plain typing or GL string.
    Raises :class:`~everydonor.errors.InvalidHlaName` for a malformed code."""
    return parse_glsc(text) if looks_like_glsc(text) else None


def _stamped(out: dict[str, Any], code: Glsc | None, release: str,
             *notes: str) -> dict[str, Any]:
    """``out`` with the code's namespace and version, the release it was read under, and the
    warnings (the release flag first)."""
    if code is None:
        return out
    out["glsc"] = {"namespace": code.namespace, "version": code.version,
                   "version_kind": "release" if code.is_release else "construction_date"}
    out["release"] = release
    flag = release_flag(code, release) if code.namespace == "hla" else None
    warnings = [w for w in (flag, *(f"{code.text}: {n}" for n in notes)) if w]
    if warnings:
        out["warnings"] = warnings
    return out


def _unsplit(text: str, code: Glsc, release: str) -> dict[str, Any] | None:
    """The answer for a code that is kept verbatim and not split (``kir``, ``?``), else None."""
    if code.namespace != "hla":
        return _stamped({"input": text, "valid": None, "kind": "kir_gl_string", "output": None,
                         "note": KIR_NOTE}, code, release, KIR_NOTE)
    if code.has_paralog_ambiguity:
        return _stamped({"input": text, "valid": None, "kind": "gl_string", "output": None,
                         "note": PARALOG_NOTE}, code, release, PARALOG_NOTE)
    return None


def check_typing(text: str, ref: HlaReference, macs: MacDictionary | None) -> dict[str, Any]:
    """The ``hla check`` result of one typing (or GL string); raises the HLA error of the first
    part that is not valid (``InvalidHlaName``, ``UnknownAllele``, ``UnknownMacCode``)."""
    code = code_of(text)
    if code is not None and code.namespace == "hla" and code.has_paralog_ambiguity:
        # every name is checked; the '?' structure is kept, not interpreted
        names = [t.strip().removeprefix("HLA-") for t in re.split(r"[/~+|^?]", code.gl)]
        for name in names:
            expand(parse_typing(name), ref, macs)
        return _stamped({"input": text, "valid": True, "kind": "gl_string", "names": len(names),
                         "note": PARALOG_NOTE}, code, ref.release, PARALOG_NOTE)
    if code is not None and (unsplit := _unsplit(text, code, ref.release)) is not None:
        return unsplit
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
    return _stamped(out, code, ref.release)


def reduce_typing(text: str, reducer: Reducer, to: Resolution) -> dict[str, Any]:
    """The ``hla reduce --to TO`` result of one typing (or GL string, token by token)."""
    code = code_of(text)
    if code is not None and (unsplit := _unsplit(text, code, reducer.ref.release)) is not None:
        return unsplit
    if is_gl_string(text):
        gl = parse_gl(text)
        reduced = map_tokens(gl, lambda t: reducer.reduce(parse_typing(t), to).output or t)
        return _stamped({"input": text, "output": reduced.format(), "kind": "gl_string"}, code,
                        reducer.ref.release)
    return reducer.reduce(parse_typing(text), to).to_dict()


def expand_typing(text: str, ref: HlaReference, macs: MacDictionary | None) -> dict[str, Any]:
    """The ``hla expand`` result of one typing: every allele of the release it stands for."""
    code = code_of(text)
    if code is not None and (unsplit := _unsplit(text, code, ref.release)) is not None:
        return unsplit
    if is_gl_string(text):
        gl = parse_gl(text)
        expanded = map_tokens(gl, lambda t: "/".join(expand(parse_typing(t), ref, macs)) or t)
        return _stamped({"input": text, "output": expanded.format(), "kind": "gl_string"}, code,
                        ref.release)
    typing = parse_typing(text)
    alleles = expand(typing, ref, macs)
    return {"input": text, "kind": typing.kind.value, "alleles": list(alleles),
            "count": len(alleles)}
