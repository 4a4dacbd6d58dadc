"""HML import: the message as JSON, and its typings written into a case file or the registry.

:func:`read_message` streams the file (:mod:`.reader`), expresses each typing as a GL String
Code ``hla#VERSION#GL`` under the release the laboratory reported (``allele-version``, kept
verbatim), validates it under that release when it is the loaded one, and otherwise flags it
(:func:`everydonor.hla.glsc.release_flag`) - never re-interpreted silently. Everything is
collected before anything is written: a refused file writes nothing.

Writing (:func:`apply_to_document`): a sample's HLA typings become the person's ``hla_gl`` (one
GL String Code, the loci joined by ``^``), replacing what was there; the replaced typing and the
file's identity (name, SHA-256, hmlid, sample id, reporting centre) are kept in the person's
``x_hml`` extension, which the case format carries unread. Refused, with nothing written: a
sample with no HLA genotype, a typing whose GL string names alleles absent from its (loaded)
release, typings of one sample under different releases (one code carries one version), the
same locus twice, a sample that matches no person, two samples for one person.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from everydonor import __version__
from everydonor.adapters.hml.reader import (
    DEFAULT_MAX_BYTES,
    HmlReading,
    HmlSample,
    HmlTyping,
    iter_samples,
)
from everydonor.case import parse_case
from everydonor.errors import EverydonorError, InputError
from everydonor.hla.designation import MacDictionary, expand, parse_typing
from everydonor.hla.glsc import Glsc, format_glsc, parse_glsc, release_flag
from everydonor.hla.glstring import parse_gl
from everydonor.hla.reference import HlaReference

FORMAT = "everydonor.hml-import/1"
#: The person extension key that records where a typing came from.
PROVENANCE_KEY = "x_hml"
_RELEASE = re.compile(r"^\d+\.\d+\.\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_NAMESPACES = {"HLA": "hla", "KIR": "kir"}


@dataclass(frozen=True, slots=True)
class ImportedTyping:
    typing: HmlTyping
    glsc: str | None
    version: str | None
    release_status: str
    valid: bool | None
    error: str | None
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        t = self.typing
        return {
            "typing": t.index, "allele_assignment": t.assignment,
            "gene_family": t.gene_family, "date": t.date, "assignment_date": t.assignment_date,
            "allele_db": t.allele_db, "allele_version": t.allele_version,
            "source": t.source, "gl": t.gl, "glsc": self.glsc, "glsc_version": self.version,
            "release_status": self.release_status, "valid": self.valid, "error": self.error,
            "uris": list(t.uris), "methods": [dict(m) for m in t.methods],
            "consensus_blocks": t.consensus_blocks, "variants": t.variants,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class ImportedSample:
    sample: HmlSample
    typings: tuple[ImportedTyping, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.sample.id, "center_code": self.sample.center_code,
                "typings": [t.to_dict() for t in self.typings]}


@dataclass(frozen=True, slots=True)
class HmlMessage:
    reading: HmlReading
    samples: tuple[ImportedSample, ...]
    release: str

    @property
    def hmlid(self) -> str | None:
        ids = self.reading.header.hmlids
        if not ids:
            return None
        h = ids[0]
        return ".".join(x for x in (h.get("root"), h.get("extension")) if x) or None

    def to_dict(self) -> dict[str, Any]:
        r = self.reading
        centers = r.header.reporting_centers
        flagged = sum(1 for s in self.samples for t in s.typings
                      if t.release_status != "loaded release")
        return {
            "format": FORMAT,
            "file": Path(r.path).name,
            "sha256": r.sha256,
            "size_bytes": r.size,
            "hml_version": r.header.version,
            "project_name": r.header.project_name,
            "hmlid": r.header.hmlids[0] if r.header.hmlids else None,
            "reporting_center": centers[0] if centers else None,
            "release_loaded": self.release,
            "counts": {"samples": len(self.samples),
                       "typings": sum(len(s.typings) for s in self.samples),
                       "typings_under_another_release": flagged},
            "samples": [s.to_dict() for s in self.samples],
            "miring": r.miring.to_dict(),
        }


def read_message(path: str | Path, ref: HlaReference, macs: MacDictionary | None = None, *,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> HmlMessage:
    """Read the whole message (streaming) and judge each typing; raises on a refused file."""
    reading = HmlReading(str(path), max_bytes)
    memo: dict[str, str | None] = {}
    samples = tuple(ImportedSample(s, tuple(judge_typing(t, s.id, ref, macs, memo)
                                            for t in s.typings))
                    for s in iter_samples(path, reading, max_bytes=max_bytes))
    return HmlMessage(reading, samples, ref.release)


def judge_typing(t: HmlTyping, sample: str, ref: HlaReference, macs: MacDictionary | None,
                 memo: dict[str, str | None] | None = None) -> ImportedTyping:
    """The typing's GL String Code, and whether its release is the loaded one (then validated
    name by name: ``memo`` keeps each name's verdict, None or the error, across typings)."""
    warnings = list(t.notes)
    namespace = _NAMESPACES.get(t.gene_family)
    if t.gl is None:
        return ImportedTyping(t, None, None, "no genotype", None, None, tuple(warnings))
    if namespace is None:
        warnings.append(f"gene family {t.gene_family!r} has no GL String Code namespace (hla or "
                        "kir): the GL string is kept as reported")
        return ImportedTyping(t, None, None, "unknown namespace", None, None, tuple(warnings))
    version = (t.allele_version or "").strip()
    if not _RELEASE.match(version):
        date = (t.assignment_date or t.date or "")[:10]
        reported = repr(t.allele_version) if t.allele_version else "no allele-version"
        if not _DATE.match(date):
            warnings.append(f"{reported} and no date: no GL String Code can be written (its "
                            "version needs a release or a construction date)")
            return ImportedTyping(t, None, None, "unknown release", None, None,
                                  tuple(warnings))
        warnings.append(f"{reported} is not a release like 3.58.0: the GL String Code carries "
                        f"the assignment date {date} instead (GLSC: the construction date when "
                        "the release is unknown)")
        version = date
    try:
        code = format_glsc(t.gl, version, namespace)
    except EverydonorError as exc:
        raise InputError(f"sample {sample!r}, typing {t.index}: {exc.message}; nothing "
                         "imported", field="glstring", value=t.gl, person=sample) from None
    if namespace != "hla":
        warnings.append(f"{t.gene_family} typing: kept as reported, not validated (only HLA "
                        "releases are loaded)")
        return ImportedTyping(t, code, version, "not validated", None, None, tuple(warnings))
    parsed = Glsc(namespace, version, code.split("#", 2)[2])  # format_glsc has checked it
    if version == ref.release:
        error = _validate(parsed.gl, ref, macs, {} if memo is None else memo)
        return ImportedTyping(t, code, version, "loaded release", error is None, error,
                              tuple(warnings))
    if release_flag(parsed, ref.release):
        what = (f"reported under IPD-IMGT/HLA {version}" if parsed.is_release else
                f"written with the construction date {version} (release unknown)")
        warnings.append(f"{what}, not the loaded IPD-IMGT/HLA {ref.release}: kept verbatim "
                        "with its version and NOT validated (allele names can change between "
                        "releases; load that release with --imgt DIR to validate it)")
    status = "another release" if parsed.is_release else "release unknown"
    return ImportedTyping(t, code, version, status, None, None, tuple(warnings))


def _validate(gl: str, ref: HlaReference, macs: MacDictionary | None,
              memo: dict[str, str | None]) -> str | None:
    """The first name of ``gl`` that the release does not know (the error), or None."""
    names = ([n.strip() for n in re.split(r"[/~+|^?]", gl)] if "?" in gl
             else parse_gl(gl).tokens())
    for name in names:
        name = name.removeprefix("HLA-")
        if name not in memo:
            try:
                expand(parse_typing(name), ref, macs)
                memo[name] = None
            except EverydonorError as exc:
                located = exc.with_context(field="glstring")
                memo[name] = f"{located} (in {gl})"
        if memo[name] is not None:
            return memo[name]
    return None


# -- writing -----------------------------------------------------------------------------------

def sample_glsc(s: ImportedSample) -> tuple[str, list[str]]:
    """The sample's HLA genotype as ONE GL String Code, and notes; raises when it cannot be."""
    sid = s.sample.id
    by_typing: dict[int, list[ImportedTyping]] = {}
    for t in s.typings:
        if t.typing.gene_family == "HLA" and t.glsc is not None:
            by_typing.setdefault(t.typing.index, []).append(t)
    notes: list[str] = []
    chosen: list[ImportedTyping] = []
    for index, options in sorted(by_typing.items()):
        if len(options) > 1:
            dates = sorted((o.typing.assignment_date or "", o.typing.assignment) for o in options)
            if len(dates) > 1 and dates[-1][0] == dates[-2][0]:
                raise InputError(f"sample {sid!r}, typing {index}: {len(options)} allele "
                                 "assignments with the same date; cannot tell which is current",
                                 field="allele-assignment", person=sid)
            best = next(o for o in options if o.typing.assignment == dates[-1][1])
            notes.append(f"typing {index}: the latest allele-assignment ({best.typing.date}"
                         f", {best.version}) is written; {len(options) - 1} earlier one(s) "
                         "are in the import report only")
            options = [best]
        chosen.append(options[0])
    if not chosen:
        raise InputError(f"sample {sid!r} has no HLA genotype that can be written (no GL "
                         "string, or only a URI)", field="glstring", person=sid)
    for t in chosen:
        if t.valid is False:
            raise InputError(f"sample {sid!r}, typing {t.typing.index}: {t.error}",
                             field="glstring", value=t.glsc, person=sid)
    versions = sorted({t.version or "" for t in chosen})
    if len(versions) > 1:
        raise InputError(f"sample {sid!r}: its typings were reported under different versions "
                         f"({', '.join(versions)}); one GL String Code carries one version, so "
                         "import them separately or ask the laboratory for one release",
                         field="allele-version", person=sid)
    seen: dict[str, int] = {}
    bodies = []
    for t in chosen:
        body = parse_glsc(t.glsc or "").gl
        for token in parse_gl(body).tokens():
            locus = parse_typing(token).locus
            name = locus.value if locus else token
            if seen.get(name, t.typing.index) != t.typing.index:
                raise InputError(f"sample {sid!r}: locus {name} is reported by typings "
                                 f"{seen[name]} and {t.typing.index}", field="typing",
                                 person=sid, value=name)
            seen[name] = t.typing.index
        bodies.append(body)
    return format_glsc("^".join(bodies), versions[0]), notes


def _people(document: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(document, dict):
        raise InputError("the case file is not a mapping", field="CASE")
    out: dict[str, dict[str, Any]] = {}
    groups: list[Any] = [[document.get("patient")], document.get("relatives") or [],
                         document.get("unrelated") or []]
    for group in groups:
        for p in group if isinstance(group, list) else []:
            if isinstance(p, dict) and p.get("id") is not None:
                out[str(p["id"])] = p
    return out


def mapping(message: HmlMessage, document: Any, person: str | None) -> dict[str, str]:
    """Sample id -> person id: ``person`` for a one-sample file, else equal ids; refuses any
    sample without its person, or a person given two samples."""
    people = _people(document)
    ids = [s.sample.id for s in message.samples]
    if person is not None:
        if len(ids) != 1:
            raise InputError(f"--person names one person, but the file has {len(ids)} samples "
                             f"({', '.join(ids[:5])}{'…' if len(ids) > 5 else ''}); leave "
                             "--person out and give the people the samples' ids",
                             field="--person", value=person)
        if person not in people:
            raise InputError(f"no person {person!r} in the case (people: "
                             f"{', '.join(people)})", field="--person", value=person)
        return {ids[0]: person}
    missing = [i for i in ids if i not in people]
    if missing:
        raise InputError(f"sample(s) {', '.join(missing[:5])} match no person of the case "
                         f"(people: {', '.join(people)}); give --person ID for a one-sample "
                         "file, or person ids equal to the sample ids", field="sample/@id",
                         value=missing[0])
    return {i: i for i in ids}


def apply_to_document(message: HmlMessage, document: Any, samples_to_people: Mapping[str, str],
                      *, imported_at: str) -> list[dict[str, Any]]:
    """Write each mapped sample's GL String Code into its person (in place); the changes."""
    people = _people(document)
    targets = list(samples_to_people.values())
    if len(set(targets)) != len(targets):
        raise InputError("two samples map to one person", field="--person")
    changes = []
    for s in message.samples:
        pid = samples_to_people.get(s.sample.id)
        if pid is None:
            continue
        code, notes = sample_glsc(s)
        person = people[pid]
        replaced = {k: person.get(k) for k in ("hla", "hla_gl") if person.get(k) is not None}
        person.pop("hla", None)
        person["hla_gl"] = code
        header = message.reading.header
        person[PROVENANCE_KEY] = {
            "file": Path(message.reading.path).name, "sha256": message.reading.sha256,
            "hmlid": message.hmlid, "sample_id": s.sample.id,
            "center_code": s.sample.center_code,
            "reporting_center": (header.reporting_centers[0].get("reporting-center-id")
                                 if header.reporting_centers else None),
            "allele_db": sorted({t.typing.allele_db or "" for t in s.typings} - {""}),
            "imported_at": imported_at, "software": f"everydonor {__version__}",
            "replaced": replaced or None,
        }
        changes.append({"sample": s.sample.id, "person": pid, "hla_gl": code,
                        "replaced": replaced or None, "notes": notes})
    return changes


def import_into_case(message: HmlMessage, case_path: str | Path, person: str | None, *,
                     now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Write the typings into a case file: checked whole, then replaced atomically."""
    from everydonor.adapters.inputs.casefile import load_case_data

    path = Path(case_path)
    document = load_case_data(path)
    changes = apply_to_document(message, document, mapping(message, document, person),
                                imported_at=_stamp(now))
    parse_case(document, today=(now or dt.datetime.now(dt.UTC)).date())
    if path.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    _atomic_write(path, text)
    return changes


def import_into_registry(message: HmlMessage, db: str | None, upn: str, person: str | None, *,
                         actor: str, reason: str | None, reducer: Any = None,
                         now: dt.datetime | None = None) -> dict[str, Any]:
    """Write the typings into a stored patient's case: ONE audited transaction (row history,
    ``case.update`` audit entry with the file's SHA-256 in the reason), all or nothing."""
    from everydonor.adapters.registry.store import Registry

    stamp = _stamp(now)
    changes: list[dict[str, Any]] = []

    def edit(document: Any) -> Any:
        changes.extend(apply_to_document(message, document, mapping(message, document, person),
                                         imported_at=stamp))
        return document

    why = (f"{reason.strip() + ': ' if reason and reason.strip() else ''}HML import "
           f"{Path(message.reading.path).name} (sha256 {message.reading.sha256}, hmlid "
           f"{message.hmlid or 'none'})")
    with Registry(db, reducer=reducer) as reg:
        result = reg.edit_case(upn, edit, actor=actor, reason=why)
    return {"registry": result, "changes": changes, "reason": why}


def _stamp(now: dt.datetime | None) -> str:
    return (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {str(path)!r}: {exc.strerror}", field="--case",
                         value=str(path)) from None

