"""The audit trail (SR-07): append-only and hash-chained, written in the transaction it records.

Each entry's ``hash`` is SHA-256 over the canonical JSON of ``seq``, ``at`` (UTC, ISO 8601,
microseconds), ``actor``, ``action``, ``object`` (``type:id``), ``reason``, the SHA-256 of the
canonical payload, ``prev_hash`` (the previous entry's hash; 64 zeros for the first) and, when
set, ``request_id``. Editing, deleting, inserting or reordering entries by raw SQL breaks the
chain at the first entry touched, which :func:`verify_chain` names; the chain head
(``audit_head``) also catches a truncated tail.

Appends serialise: a writer locks the head row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
writers already hold the database's write lock from ``BEGIN IMMEDIATE``), so two concurrent
writers can never give two entries the same predecessor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from everydonor.adapters.registry.codec import canonical_json, digest, sha256_hex
from everydonor.adapters.registry.models import AuditHead, AuditLog

GENESIS = "0" * 64


def timestamp(now: dt.datetime) -> str:
    """The entry's time as hashed: UTC, ISO 8601 with microseconds."""
    return now.astimezone(dt.UTC).isoformat(timespec="microseconds")


def entry_hash(*, seq: int, at: str, actor: str, action: str, object_type: str, object_id: str,
               reason: str, payload_sha256: str, prev_hash: str,
               request_id: str | None = None) -> str:
    fields: dict[str, Any] = {
        "seq": seq, "at": at, "actor": actor, "action": action,
        "object": f"{object_type}:{object_id}", "reason": reason,
        "payload_sha256": payload_sha256, "prev_hash": prev_hash,
    }
    if request_id is not None:
        fields["request_id"] = request_id
    return sha256_hex(canonical_json(fields))


def next_entry(*, prev_seq: int, prev_hash: str, now: dt.datetime, actor: str, action: str,
               object_type: str, object_id: str, reason: str, payload: Any,
               request_id: str | None) -> dict[str, Any]:
    """The column values of the entry after (``prev_seq``, ``prev_hash``)."""
    seq = prev_seq + 1
    at = timestamp(now)
    payload_sha = digest(payload)
    h = entry_hash(seq=seq, at=at, actor=actor, action=action, object_type=object_type,
                   object_id=object_id, reason=reason, payload_sha256=payload_sha,
                   prev_hash=prev_hash, request_id=request_id)
    return {"seq": seq, "at": at, "actor": actor, "action": action, "object_type": object_type,
            "object_id": object_id, "reason": reason, "payload": payload,
            "payload_sha256": payload_sha, "prev_hash": prev_hash, "hash": h,
            "request_id": request_id}


def lock_head(session: Session) -> AuditHead:
    """The chain head, locked until the transaction ends (PostgreSQL ``FOR UPDATE``)."""
    return session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()
                           ).scalar_one()


def append_many(session: Session, entries: list[dict[str, Any]], *, now: dt.datetime,
                request_id: str | None) -> list[dict[str, Any]]:
    """Append entries (each: actor, action, object_type, object_id, reason, payload) in order,
    in one statement, and move the head."""
    head = lock_head(session)
    rows = []
    seq, prev = head.seq, head.hash
    for e in entries:
        row = next_entry(prev_seq=seq, prev_hash=prev, now=now, request_id=request_id, **e)
        rows.append(row)
        seq, prev = row["seq"], row["hash"]
    if rows:
        session.execute(insert(AuditLog), rows)
        head.seq, head.hash = seq, prev
        session.flush()
    return rows


def append(session: Session, *, now: dt.datetime, actor: str, action: str, object_type: str,
           object_id: str, reason: str, payload: Any, request_id: str | None
           ) -> dict[str, Any]:
    """Add one entry after the current head (locking it) and move the head."""
    return append_many(session, [{"actor": actor, "action": action, "object_type": object_type,
                                  "object_id": object_id, "reason": reason,
                                  "payload": payload}], now=now, request_id=request_id)[0]


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The answer of ``registry verify-audit``."""

    intact: bool
    entries: int
    head_seq: int
    #: The first entry (by position in the chain) that does not verify, and why.
    first_broken: int | None = None
    problem: str | None = None

    def document(self) -> dict[str, Any]:
        return {"intact": self.intact, "entries": self.entries, "head_seq": self.head_seq,
                "first_broken": self.first_broken, "problem": self.problem}


def verify_chain(session: Session, *, batch: int = 5000) -> ChainReport:
    """Walk the chain in ``seq`` order and recompute every hash (see the module docstring)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    prev = GENESIS
    expected = 1
    count = 0
    rows = session.execute(select(AuditLog).order_by(AuditLog.seq).execution_options(
        yield_per=batch)).scalars()
    for entry in rows:
        count += 1
        problem = None
        if entry.seq != expected:
            problem = (f"entry {entry.seq} follows entry {expected - 1}: entries "
                       f"{expected}..{entry.seq - 1} are missing" if entry.seq > expected
                       else f"entry {entry.seq} is out of order (expected {expected})")
        elif entry.prev_hash != prev:
            problem = "its prev_hash is not the hash of the entry before it"
        elif digest(entry.payload) != entry.payload_sha256:
            problem = "its payload does not match the payload digest"
        elif entry_hash(seq=entry.seq, at=entry.at, actor=entry.actor, action=entry.action,
                        object_type=entry.object_type, object_id=entry.object_id,
                        reason=entry.reason, payload_sha256=entry.payload_sha256,
                        prev_hash=entry.prev_hash, request_id=entry.request_id) != entry.hash:
            problem = "its content does not match its hash (edited)"
        if problem is not None:
            # a gap is named by the first missing entry; anything else by the entry itself
            broken = expected if entry.seq > expected else entry.seq
            return ChainReport(False, count, head.seq if head else 0, broken, problem)
        prev = entry.hash
        expected += 1
    if head is None:
        return ChainReport(False, count, 0, None, "the chain head (audit_head) is missing")
    last = expected - 1
    if head.seq > last:
        return ChainReport(False, count, head.seq, expected,
                           f"the chain head says {head.seq} entries, the chain holds {last}: "
                           f"entries after {last} were removed")
    if head.seq < last:
        return ChainReport(False, count, head.seq, head.seq + 1,
                           f"the chain head says {head.seq} entries, the chain holds {last}: "
                           f"entries after {head.seq} were added outside the registry")
    if head.hash != prev:
        return ChainReport(False, count, head.seq, last,
                           "the last entry's hash is not the chain head's")
    return ChainReport(True, count, head.seq)
