"""The donor ranking, its snapshots, electronic sign-off (21 CFR 11.50/11.70) and the PDF report.

- ``GET /patients/{upn}/ranking?rules=NAME``: the ranking of the stored case under a rule set,
  shown with the report's own template body (``report_body.html.j2``: the same ranks, reasons,
  citations, confidence marks, flags, exclusions, references and provenance as the PDF).
- ``POST /patients/{upn}/ranking``: keep the family, match and ranking exactly as computed, in
  one transaction (``Registry.add_snapshots``), then the ranking snapshot's page.
- ``GET /snapshots/{snapshot_id}``: the stored answer as stored (never recomputed), its SHA-256
  and integrity, who kept it, its signatures with their state now (valid / superseded /
  broken) and the sign form.
- ``POST /snapshots/{snapshot_id}/sign``: password AND a fresh TOTP code again, a meaning with
  its statement, a confirmation; then ``Accounts.sign``.
- ``GET /snapshots/{snapshot_id}/report.pdf``: the report of the stored snapshot with its
  signature manifest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from everydonor.adapters.registry.accounts import (
    ROLES,
    SIGNATURE_MEANINGS,
    LoginFailed,
    signature_document,
)
from everydonor.adapters.registry.codec import decode
from everydonor.adapters.registry.models import Patient, Signature, Snapshot
from everydonor.adapters.web import i18n
from everydonor.adapters.web.http import NotFound, actor, lang, render, services, session
from everydonor.adapters.web.policy import permission
from everydonor.adapters.web.services import WebServices
from everydonor.errors import InputError

router = APIRouter(include_in_schema=False)

#: The kept snapshots listed on the ranking page (newest first).
RECENT = 10
CONFIRMATION = ("I confirm that this electronic signature is the legally binding equivalent of "
                "my handwritten signature, and that I have read the donor selection above.")


def rule_set_choices() -> list[dict[str, str]]:
    """The built-in rule sets offered by the switch (name, label)."""
    from everydonor.selection.catalogue import BUILTIN_RULE_SETS

    out = []
    for rules, _ in BUILTIN_RULE_SETS:
        out.append({"name": rules.name, "label": f"{rules.name}@{rules.version}",
                    "summary": str(getattr(rules, "summary", "") or "")})
    return out


def _rule_set(name: str) -> Any:
    from everydonor.selection.catalogue import get_rule_set, rule_set_names

    if name not in rule_set_names():
        raise InputError(f"unknown rule set; the rule sets are: {', '.join(rule_set_names())}",
                         field="rules", value=name)
    return get_rule_set(name)


# -- the report body, rendered once per (data, rule set, release) ------------------------------

_BODIES: OrderedDict[tuple[str, ...], Markup] = OrderedDict()
_BODIES_LOCK = threading.Lock()


def report_language(language: str) -> Any:
    """The report's :class:`Language` for the UI language (its labels from the app's
    catalogue)."""
    from everydonor.adapters.report.html import Language

    return Language(language, i18n.translations(language))


def report_body(key: tuple[str, ...], doc: dict[str, Any], family: dict[str, Any],
                language: str = i18n.DEFAULT_LANGUAGE) -> Markup:
    """The report's content for the web page (``render_ranking_body``), cached under ``key``
    (the data digest, rule set and release, or a snapshot's SHA-256) and the language: a pure
    function of them."""
    key = (*key, language)
    with _BODIES_LOCK:
        hit = _BODIES.get(key)
        if hit is not None:
            _BODIES.move_to_end(key)
            return hit
    from everydonor.adapters.report.html import render_ranking_body

    body = render_ranking_body(doc, family, family.get("people") or [],
                               report_language(language))
    with _BODIES_LOCK:
        _BODIES[key] = body
        while len(_BODIES) > 256:
            _BODIES.popitem(last=False)
    return body


# -- stored snapshots ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Kept:
    """A stored snapshot as stored, with what the pages need around it."""

    id: str
    upn: str
    kind: str
    rule_set: str | None
    rule_set_version: str | None
    release: str | None
    software_version: str
    sha256: str
    actual_sha256: str
    created_at: dt.datetime
    created_by: str
    reason: str
    answer: Any
    family: Any  # the family snapshot kept with a ranking (None otherwise / not found)
    family_id: str | None

    @property
    def intact(self) -> bool:
        return self.actual_sha256 == self.sha256

    @property
    def data_sha256(self) -> str | None:
        """The case-data digest the ranking was computed from (its provenance)."""
        if self.kind != "ranking" or not isinstance(self.answer, dict):
            return None
        value = (self.answer.get("provenance") or {}).get("data_sha256")
        return str(value) if value else None


def load_snapshot(svc: WebServices, snapshot_id: str) -> Kept:
    """The snapshot (the app has checked its centre) and, for a ranking, its family snapshot:
    the one kept in the same transaction (same patient, same ``created_at``); for rankings kept
    one by one (the command line), the latest family snapshot kept before it by the same user
    under the same rule set and release."""
    with svc.registry.reading() as s:
        row = s.execute(select(Snapshot, Patient.upn)
                        .join(Patient, Patient.id == Snapshot.patient_id)
                        .where(Snapshot.id == snapshot_id, Patient.deleted.is_(False))
                        ).one_or_none()
        if row is None:
            raise NotFound("snapshot")
        snap, upn = row
        family_row = None
        if snap.kind == "ranking":
            family_row = s.execute(select(Snapshot).where(
                Snapshot.patient_id == snap.patient_id, Snapshot.kind == "family",
                Snapshot.created_at == snap.created_at).order_by(Snapshot.id)
            ).scalars().first()
            if family_row is None:
                family_row = s.execute(select(Snapshot).where(
                    Snapshot.patient_id == snap.patient_id, Snapshot.kind == "family",
                    Snapshot.created_at <= snap.created_at,
                    Snapshot.created_by == snap.created_by,
                    Snapshot.rule_set == snap.rule_set,
                    Snapshot.rule_set_version == snap.rule_set_version,
                    Snapshot.release == snap.release).order_by(Snapshot.created_at.desc())
                ).scalars().first()
        return Kept(
            id=snap.id, upn=str(upn), kind=snap.kind, rule_set=snap.rule_set,
            rule_set_version=snap.rule_set_version, release=snap.release,
            software_version=snap.software_version, sha256=snap.sha256,
            actual_sha256=hashlib.sha256(snap.answer.encode()).hexdigest(),
            created_at=snap.created_at, created_by=snap.created_by, reason=snap.reason,
            answer=decode(json.loads(snap.answer)),
            family=decode(json.loads(family_row.answer)) if family_row is not None else None,
            family_id=family_row.id if family_row is not None else None)


def _utc(value: Any) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return str(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    return str(value)


def signatures_of(svc: WebServices, kept: Kept) -> list[dict[str, Any]]:
    """``Accounts.signatures`` (state now: valid / superseded / broken), with the role's name
    and the time in UTC. A signature given on data other than the data the ranking was
    computed from is never shown valid."""
    out = []
    for sig in svc.accounts.signatures(kept.id):
        sig = dict(sig)
        if sig["state"] == "valid" and kept.data_sha256 and sig["data_sha256"] != \
                kept.data_sha256:
            sig["state"] = "superseded"
            sig["explanation"] = ("the ranking was computed from other case data than the data "
                                  "signed: re-rank and re-sign")
        sig["role_label"] = ROLES.get(sig["role"], sig["role"])
        sig["signed_at_utc"] = _utc(sig["signed_at"])
        out.append(sig)
    return out


def recent_rankings(svc: WebServices, upn: str, current_data: str) -> list[dict[str, Any]]:
    """The patient's last kept rankings with their signatures' states (one query each)."""
    with svc.registry.reading() as s:
        snaps = list(s.execute(select(Snapshot).join(Patient, Patient.id == Snapshot.patient_id)
                               .where(Patient.upn == upn, Snapshot.kind == "ranking")
                               .order_by(Snapshot.created_at.desc(), Snapshot.id)
                               .limit(RECENT)).scalars())
        sigs: dict[str, list[Signature]] = {x.id: [] for x in snaps}
        if snaps:
            for sig in s.execute(select(Signature).where(Signature.snapshot_id.in_(sigs))
                                 .order_by(Signature.signed_at)).scalars():
                sigs[sig.snapshot_id].append(sig)
        out = []
        for x in snaps:
            actual = hashlib.sha256(x.answer.encode()).hexdigest()
            docs = [signature_document(g, current_data=current_data, snapshot_sha=actual)
                    for g in sigs[x.id]]
            provenance = (json.loads(x.answer).get("provenance") or {})
            out.append({"id": x.id, "rule_set": f"{x.rule_set}@{x.rule_set_version}",
                        "stale": provenance.get("data_sha256") not in (None, current_data),
                        "release": x.release, "created_at": x.created_at,
                        "created_by": x.created_by, "sha256": x.sha256,
                        "signatures": docs})
        return out


def _stale(svc: WebServices, kept: Kept) -> tuple[bool, int]:
    """Whether the case data changed since the ranking was computed; the patient version now."""
    data_sha, version = svc.registry.data_digest(kept.upn)
    return (kept.data_sha256 is not None and kept.data_sha256 != data_sha), version


# -- pages ---------------------------------------------------------------------------------------

@router.get("/patients/{upn}/ranking", name="ranking")
@permission("patient.read")
def ranking_page(request: Request, upn: str,
                 rules: Annotated[str, Query(max_length=64)] = "beijing") -> Response:
    svc = services(request)
    rule_set = _rule_set(rules)
    ranked = svc.ranked(upn, rules)
    key = (ranked.data_sha256, f"{rule_set.name}@{rule_set.version}", svc.reference.release)
    body = report_body(key, ranked.document, ranked.family, lang(request))
    kept = recent_rankings(svc, upn, ranked.data_sha256)
    return render(request, "ranking.html.j2", title="Donor ranking", upn=upn, rules=rules,
                  choices=rule_set_choices(), doc=ranked.document, body=body, kept=kept,
                  patient_version=ranked.patient_version, data_sha256=ranked.data_sha256)


@router.post("/patients/{upn}/ranking", name="ranking_save")
@permission("rank.save")
def ranking_save(request: Request, upn: str,
                 rules: Annotated[str, Form(max_length=64)] = "beijing",
                 reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    svc = services(request)
    rule_set = _rule_set(rules)
    ranked = svc.ranked(upn, rules)
    why = " ".join(reason.split()) or f"ranking kept under {rule_set.name}@{rule_set.version}"
    saved = svc.registry.add_snapshots(
        upn, [("family", ranked.family), ("match", ranked.match), ("ranking", ranked.document)],
        actor=actor(request), reason=why, rule_set=rule_set.name,
        rule_set_version=rule_set.version, release=svc.reference.release)
    ranking_id = next(x["id"] for x in saved if x["kind"] == "ranking")
    return RedirectResponse(f"/snapshots/{ranking_id}", status_code=303)


def _snapshot_page(request: Request, kept: Kept, *, status_code: int = 200,
                   error: str | None = None, form: dict[str, Any] | None = None,
                   signed: bool = False) -> Response:
    svc = services(request)
    signatures = signatures_of(svc, kept) if kept.kind == "ranking" else []
    stale, version = _stale(svc, kept)
    body = None
    if kept.kind == "ranking" and kept.family is not None:
        body = report_body(("snapshot", kept.sha256, kept.actual_sha256), kept.answer,
                           kept.family, lang(request))
    superseded = [s for s in signatures if s["state"] == "superseded"]
    broken = [s for s in signatures if s["state"] == "broken"]
    pretty = None if body is not None else json.dumps(kept.answer, indent=2,
                                                      ensure_ascii=False, default=str)
    return render(request, "snapshot.html.j2", status_code=status_code, title="Snapshot",
                  kept=kept, body=body, pretty=pretty, signatures=signatures,
                  superseded=superseded, broken=broken, stale=stale,
                  patient_version=version, meanings=SIGNATURE_MEANINGS,
                  confirmation=CONFIRMATION, error=error, signed=signed and not error,
                  form=form or {"meaning": "", "confirm": False})


@router.get("/snapshots/{snapshot_id}", name="snapshot")
@permission("patient.read")
def snapshot_page(request: Request, snapshot_id: str,
                  signed: Annotated[str, Query(max_length=16)] = "") -> Response:
    return _snapshot_page(request, load_snapshot(services(request), snapshot_id),
                          signed=signed in SIGNATURE_MEANINGS)


@router.post("/snapshots/{snapshot_id}/sign", name="snapshot_sign")
@permission("sign")
def snapshot_sign(request: Request, snapshot_id: str, *,
                  meaning: Annotated[str, Form(max_length=16)] = "",
                  password: Annotated[str, Form(max_length=256)] = "",
                  code: Annotated[str, Form(max_length=12)] = "",
                  confirm: Annotated[str, Form(max_length=8)] = "") -> Response:
    """Re-authentication (password and a fresh TOTP code) and the signature. Any refusal
    re-renders the page with the error and the choices made (never the password or code), and
    signs nothing."""
    svc = services(request)
    info = session(request)
    kept = load_snapshot(svc, snapshot_id)
    form = {"meaning": meaning, "confirm": confirm == "yes"}

    def refuse(status: int, message: str) -> Response:
        return _snapshot_page(request, kept, status_code=status, error=message, form=form)

    if kept.kind != "ranking":
        return refuse(422, "only a donor ranking snapshot is signed here")
    if not kept.intact:
        return refuse(422, "the snapshot does not match its SHA-256: it cannot be signed")
    if meaning not in SIGNATURE_MEANINGS:
        return refuse(422, "choose what your signature means: authored, reviewed or approved")
    if confirm != "yes":
        return refuse(422, "tick the confirmation to sign")
    stale, _ = _stale(svc, kept)
    if stale:
        return refuse(422, "the case data changed after this ranking was kept: re-rank, keep "
                           "the new ranking and sign that one")
    client = request.client.host if request.client else None
    try:
        account = svc.accounts.authenticate(info.account.username, password, now=svc.now(),
                                            ip=client)
    except LoginFailed as exc:
        return refuse(401, f"not signed: {exc.message}")
    if account.id != info.account.id:  # pragma: no cover - the same username
        return refuse(401, "not signed: the signer must be the signed-in user")
    if not svc.accounts.verify_totp(account.username, code, now=svc.now()):
        return refuse(401, "not signed: the one-time code is wrong, expired or already used")
    svc.accounts.sign(kept.id, account=account, meaning=meaning, now=svc.now(),
                      reason=f"electronic signature ({meaning}) of the donor ranking")
    return RedirectResponse(f"/snapshots/{kept.id}?signed={meaning}#signatures",
                            status_code=303)


def _filename_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "patient"


@router.get("/snapshots/{snapshot_id}/report.pdf", name="snapshot_report")
@permission("patient.read")
def snapshot_report(request: Request, snapshot_id: str) -> Response:
    from everydonor.adapters.report.html import render_ranking_html
    from everydonor.adapters.report.pdf import html_to_pdf

    svc = services(request)
    kept = load_snapshot(svc, snapshot_id)
    if kept.kind != "ranking":
        raise InputError("only a donor ranking snapshot has a donor selection report",
                         field="snapshot", value=kept.kind)
    if kept.family is None:
        raise InputError("the family snapshot kept with this ranking is missing: the report "
                         "cannot draw the family", field="snapshot", value=kept.id)
    _, version = _stale(svc, kept)
    manifest = {"snapshot": {"id": kept.id, "sha256": kept.sha256, "intact": kept.intact,
                             "created_at": _utc(kept.created_at),
                             "created_by": kept.created_by},
                "patient_version": version, "signatures": signatures_of(svc, kept)}
    pdf = html_to_pdf(render_ranking_html(kept.answer, kept.family,
                                          kept.family.get("people") or [], manifest,
                                          report_language(lang(request))))
    name = f"everydonor-{_filename_part(kept.upn)}-{kept.id[:8]}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
