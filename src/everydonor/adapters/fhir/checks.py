"""Checks of a FHIR bundle: structure against the ``fhir.resources`` models, and the codes.

``fhir.resources`` 8.3.0 ships FHIR R5 as its default package and R4B (4.3.0) as a subpackage;
it has no R4 (4.0.1) package. The bundle is validated against the **R4B** models: every element
the export writes (Patient, RelatedPerson, Observation, DiagnosticReport, Procedure,
MedicationStatement, Bundle) has the same name, type and cardinality in R4 and R4B, while R5
renamed or moved several of them (``Procedure.performed[x]`` became ``occurrence[x]``,
``MedicationStatement.medication[x]`` a CodeableReference). The models check structure, types
and cardinality, not terminology bindings or profile slicing; so the project checks its own codes
here: the GL String Code invariant of the NMDP IG (``matches('^hla#.+')``) and that the code
reads as a GL String Code, the LOINC codes (only those :mod:`.codes` names), the HGNC gene ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from everydonor.adapters.fhir import codes as c
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.glsc import parse_glsc

#: The NMDP HLA reporting IG's invariant ``GLSC``: ``matches('^hla#.+')``.
GLSC_INVARIANT = re.compile(r"^hla#.+")


def where(entry_index: int | None, resource: Mapping[str, Any] | None) -> str:
    """``Observation[entry 3]`` (with its id when it has one): how a refusal names a resource."""
    kind = str(resource.get("resourceType", "resource")) if isinstance(resource, Mapping) \
        else "resource"
    rid = resource.get("id") if isinstance(resource, Mapping) else None
    place = f"entry {entry_index}" if entry_index is not None else "the document"
    return f"{kind}/{rid} ({place})" if rid else f"{kind} ({place})"


def validate_models(data: Any) -> Any:
    """The Bundle (or a lone resource) read by the R4B models; a structural error raises
    :class:`InputError` naming the entry, the resource, the element path and the value."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    if not isinstance(data, Mapping) or not isinstance(data.get("resourceType"), str):
        raise InputError("not a FHIR resource (a JSON object with resourceType)",
                         field="resourceType", value=type(data).__name__)
    try:
        model = get_fhir_model_class(data["resourceType"])
    except (KeyError, ValueError, AttributeError):
        raise InputError(f"unknown FHIR R4 resource type {data['resourceType']!r}",
                         field="resourceType", value=str(data["resourceType"])) from None
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(x) for x in err.get("loc", ())]
        entry_index = None
        resource: Any = data
        path = loc
        if len(loc) >= 3 and loc[0] == "entry" and loc[1].isdigit() and loc[2] == "resource":
            entry_index = int(loc[1])
            entries = data.get("entry") or []
            resource = entries[entry_index].get("resource") if entry_index < len(entries) \
                else None
            path = loc[3:]
        value = err.get("input")
        shown = value if isinstance(value, str | int | float | bool) or value is None \
            else type(value).__name__
        raise InputError(f"{where(entry_index, resource)}: {'.'.join(path) or '(resource)'}: "
                         f"{err.get('msg')}", field=".".join(path) or "resource",
                         value=repr(shown)) from None


def resources(bundle: Mapping[str, Any]) -> Iterator[tuple[int | None, Mapping[str, Any]]]:
    """(entry index, resource) of a Bundle; a lone resource as (None, it)."""
    if bundle.get("resourceType") != "Bundle":
        yield None, bundle
        return
    for i, entry in enumerate(bundle.get("entry") or []):
        res = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(res, Mapping):
            yield i, res


def codings(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every Coding anywhere under ``node`` (an object with ``system`` and ``code``)."""
    if isinstance(node, Mapping):
        if isinstance(node.get("system"), str) and "code" in node:
            yield node
        for value in node.values():
            yield from codings(value)
    elif isinstance(node, list):
        for value in node:
            yield from codings(value)


def is_genotype(resource: Mapping[str, Any]) -> bool:
    """An Observation whose value carries a GL String Code coding."""
    value = resource.get("valueCodeableConcept")
    return resource.get("resourceType") == "Observation" and isinstance(value, Mapping) and any(
        isinstance(cd, Mapping) and str(cd.get("system", "")).rstrip("/") in c.GLSC_SYSTEMS
        for cd in value.get("coding") or [])


def check_glsc(code: Any, *, at: str) -> str:
    """The GLSC invariant and the GL String Code's grammar; returns the code."""
    if not isinstance(code, str) or not GLSC_INVARIANT.match(code):
        raise InputError(f"{at}: valueCodeableConcept.coding.code {code!r} breaks the GLSC "
                         "invariant of the NMDP HLA IG (matches('^hla#.+'))",
                         field="valueCodeableConcept.coding.code", value=repr(code))
    try:
        parse_glsc(code)
    except EverydonorError as exc:
        raise InputError(f"{at}: valueCodeableConcept.coding.code is not a GL String Code: "
                         f"{exc}", field="valueCodeableConcept.coding.code",
                         value=code) from None
    return code


def genotype_parts(resource: Mapping[str, Any], *, at: str) -> tuple[str, list[str], list[str]]:
    """A genotype Observation's GL String Code, the loci of its geneStudied components (HGNC
    ids checked), and warnings (a code other than LOINC 84413-4, ``www.glstring.org``)."""
    warnings: list[str] = []
    value = resource["valueCodeableConcept"]
    gl = [cd for cd in value.get("coding") or []
          if str(cd.get("system", "")).rstrip("/") in c.GLSC_SYSTEMS]
    if len(gl) != 1:
        raise InputError(f"{at}: expected one GL String Code coding, found {len(gl)}",
                         field="valueCodeableConcept.coding", value=str(len(gl)))
    if gl[0]["system"].rstrip("/") != c.GLSC_SYSTEM:
        warnings.append(f"{at}: GL String Code system {gl[0]['system']!r} read as "
                        f"{c.GLSC_SYSTEM!r}")
    code = check_glsc(gl[0].get("code"), at=at)
    loinc = [cd.get("code") for cd in (resource.get("code") or {}).get("coding") or []
             if cd.get("system") == c.LOINC]
    if c.GENOTYPE_CODE not in loinc:
        warnings.append(f"{at}: code is {', '.join(map(str, loinc)) or 'not LOINC'}, not LOINC "
                        f"{c.GENOTYPE_CODE} as the nmdp-hla-genotype profile fixes; read by its "
                        "GL String Code")
    loci: list[str] = []
    for i, comp in enumerate(resource.get("component") or []):
        comp_codes = [cd.get("code") for cd in (comp.get("code") or {}).get("coding") or []
                      if cd.get("system") == c.LOINC]
        if c.GENE_STUDIED_CODE not in comp_codes:
            continue
        genes = [cd for cd in (comp.get("valueCodeableConcept") or {}).get("coding") or []
                 if cd.get("system") == c.HGNC_SYSTEM]
        if not genes:
            raise InputError(f"{at}: component[{i}] (geneStudied) has no HGNC gene id "
                             f"({c.HGNC_SYSTEM})", field=f"component[{i}].valueCodeableConcept",
                             value=repr(comp.get("valueCodeableConcept")))
        for g in genes:
            locus = c.LOCUS_OF_HGNC.get(str(g.get("code")))
            if locus is None:
                raise InputError(f"{at}: component[{i}] gene {g.get('code')!r} is not an HGNC "
                                 f"id of a typed HLA locus ({', '.join(sorted(c.HGNC.values()))})",
                                 field=f"component[{i}].valueCodeableConcept.coding.code",
                                 value=str(g.get("code")))
            display = g.get("display")
            if display is not None and display != f"HLA-{locus}":
                raise InputError(f"{at}: component[{i}] gene {g['code']} is HLA-{locus}, but "
                                 f"its display says {display!r}",
                                 field=f"component[{i}].valueCodeableConcept.coding.display",
                                 value=str(display))
            loci.append(locus)
    return code, loci, warnings


def check_bundle(bundle: Mapping[str, Any]) -> None:
    """What the export guarantees before it writes: the R4B models accept every resource;
    every LOINC coding is one :data:`codes.LOINC_CODES` names, with its display; every HGNC
    coding a known gene id; every genotype Observation has the GLSC coding (invariant and
    grammar), LOINC 84413-4 and one geneStudied per locus it names."""
    validate_models(bundle)
    for i, res in resources(bundle):
        at = where(i, res)
        for cd in codings(res):
            if cd["system"] == c.LOINC and (cd["code"] not in c.LOINC_CODES or cd.get(
                    "display", c.LOINC_CODES.get(cd["code"])) != c.LOINC_CODES[cd["code"]]):
                raise InputError(f"{at}: LOINC {cd['code']} {cd.get('display')!r} is not a code "
                                 "this module may write", field="coding", value=str(cd["code"]))
            if cd["system"] == c.HGNC_SYSTEM and cd["code"] not in c.LOCUS_OF_HGNC:
                raise InputError(f"{at}: unknown HGNC gene id", field="coding",
                                 value=str(cd["code"]))
        if is_genotype(res):
            _, loci, warnings = genotype_parts(res, at=at)
            if warnings or not loci:
                raise InputError(f"{at}: not a well-formed genotype Observation: "
                                 f"{'; '.join(warnings) or 'no geneStudied component'}",
                                 field="code", value=str(res.get("code")))
