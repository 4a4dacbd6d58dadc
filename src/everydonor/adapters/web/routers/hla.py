"""The live HLA check (``POST /hla/check``): one typing, checked as it is typed, with the same
logic as ``everydonor hla check`` (parse, then expand against the release in use).

Three answers are kept apart, as everywhere in everydonor: not HLA nomenclature
(``InvalidHlaName``), well formed but not in the release (``UnknownAllele``, also an unknown MAC
code), and ambiguous — a *result* (``ambiguous: N alleles``), never an error.

:func:`check_typing` is also what the patient forms run on save, so a value the live check
accepts is a value the save accepts.

A GL String Code (``hla#3.58.0#HLA-A*02:01+HLA-A*11:01``) is accepted where a GL string is; one
written under another release, or with a construction date, is accepted with a warning naming
both versions (the save keeps it verbatim with its version); a malformed one is refused (422).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from everydonor.adapters.web.http import render, services
from everydonor.adapters.web.policy import permission
from everydonor.errors import (
    EverydonorError,
    InputError,
    InvalidHlaName,
    UnknownAllele,
    UnknownMacCode,
)
from everydonor.hla.designation import expand, parse_typing
from everydonor.hla.glsc import looks_like_glsc, parse_glsc, release_flag
from everydonor.hla.glstring import is_gl_string, parse_gl
from everydonor.hla.locus import parse_locus
from everydonor.hla.reference import Resolution

router = APIRouter(include_in_schema=False)
#: How many of the expanded allele names the fragment lists before "…".
SHOWN_ALLELES = 4
MAX_VALUE = 2000


def _kind_of_error(exc: EverydonorError) -> str:
    if isinstance(exc, InvalidHlaName):
        return "invalid_name"
    if isinstance(exc, UnknownAllele | UnknownMacCode):
        return "unknown"
    if isinstance(exc, InputError) and exc.field == "locus":
        return "wrong_locus"
    return "invalid"


def _one(reference: Any, token: str, locus: str | None) -> dict[str, Any]:
    typing = parse_typing(token)
    if typing.is_untyped:
        return {"typing": token, "kind": "untyped", "locus": None, "alleles": 0,
                "ambiguous": False, "shown": [], "lgx": None}
    if locus is not None and typing.locus is not None and typing.locus.value != locus:
        raise InputError(f"{token!r} is a typing of locus {typing.locus.value}, entered at "
                         f"locus {locus}", value=token, locus=locus, field="locus")
    alleles = expand(typing, reference.ref, reference.macs)
    try:
        lgx = reference.reducer.reduce_text(token, Resolution.LGX) or None
    except EverydonorError:
        lgx = None
    return {"typing": token, "kind": typing.kind.value,
            "locus": typing.locus.value if typing.locus else None, "alleles": len(alleles),
            "ambiguous": len(alleles) > 1, "shown": list(alleles[:SHOWN_ALLELES]),
            "lgx": lgx, "lgx_count": len(lgx.split("/")) if lgx else 0}


def check_typing(reference: Any, locus: str | None, value: str) -> dict[str, Any]:
    """One typing (or a GL string when ``locus`` is None) checked against the release.

    Returns ``{"input", "valid": True, "kind", "alleles", "ambiguous", ...}`` or
    ``{"input", "valid": False, "error": {...}, "problem": invalid_name|unknown|invalid}``;
    a blank value is ``{"valid": True, "kind": "blank"}``.
    """
    text = value.strip()
    release = reference.release
    if not text:
        return {"input": value, "valid": True, "kind": "blank", "release": release}
    try:
        wanted = None
        if locus:
            parsed = parse_locus(locus)
            if parsed is None:
                raise InvalidHlaName(f"{locus!r} is not a locus", value=locus, field="locus")
            wanted = parsed.value
        if wanted is not None and is_gl_string(text) and not looks_like_glsc(text):
            raise InvalidHlaName(f"{text!r} holds a GL string operator: enter one typing per "
                                 "box (or the whole genotype in the GL string field)",
                                 value=text, locus=wanted)
        tokens = parse_gl(text).tokens() if is_gl_string(text) else [text]
        parts = [_one(reference, t, wanted) for t in tokens]
    except EverydonorError as exc:
        if exc.value is None:
            exc.value = text
        if exc.release is None:
            exc.release = release
        return {"input": text, "valid": False, "problem": _kind_of_error(exc),
                "error": exc.to_dict(), "message": exc.message, "release": release}
    out: dict[str, Any] = {"input": text, "valid": True, "release": release}
    if len(parts) == 1:
        out.update({k: v for k, v in parts[0].items() if k != "typing"})
    else:
        out.update({"kind": "gl_string", "ambiguous": any(p["ambiguous"] for p in parts),
                    "parts": parts, "alleles": sum(p["alleles"] for p in parts)})
    if looks_like_glsc(text):  # well formed (parse_gl read it): kept with its version
        code = parse_glsc(text)
        # the fragment words the warning from these (translated); ``warnings`` is the core's
        out["glsc"] = {"namespace": code.namespace, "version": code.version,
                       "is_release": code.is_release, "locus": wanted,
                       "other_release": code.version != release}
        flag = release_flag(code, release, locus=wanted)
        if flag:
            out["warnings"] = [flag]
    return out


@router.post("/hla/check", name="hla_check")
@permission("compute")
async def hla_check(request: Request) -> Response:
    """Form: ``locus`` (empty for a GL string) and ``value``; or ``field`` naming the form
    field that holds the value (what the patient forms send: htmx posts the input's own name).
    Answers the check fragment (200 for valid or ambiguous, 422 for a refused value)."""
    form = await request.form()
    locus = str(form.get("locus") or "")[:16]
    value = form.get("value")
    field = form.get("field")
    if value is None and isinstance(field, str):
        value = form.get(field)
    text = value if isinstance(value, str) else ""
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE]
    reference = services(request).reference
    result = await run_in_threadpool(check_typing, reference, locus or None, text)
    return render(request, "fragments/hla_check.html.j2",
                  status_code=200 if result["valid"] else 422, check=result)
