"""Row history (SR-08): a change never overwrites or deletes a row without keeping it.

Every versioned row carries who changed it last, when and why. :func:`change` copies the old
image of a row (every column, encoded) into ``row_history`` (``identity_history`` for the
identity table, so that identifying data never leaves it), then writes the new values with the
next version — in the caller's transaction. A deletion is :func:`soft_delete`: a change that sets
``deleted`` with its reason. :func:`as_of` rebuilds a row as it was at a given time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from everydonor.adapters.registry.codec import decode, encode
from everydonor.adapters.registry.models import (
    Base,
    Identity,
    IdentityHistory,
    RowHistory,
    Versioned,
)


@dataclass(frozen=True, slots=True)
class WriteContext:
    """Who writes, why, when (one time for the whole transaction) and the command run's id."""

    actor: str
    reason: str
    now: dt.datetime
    request_id: str | None = None

    def stamp(self) -> dict[str, Any]:
        """The bookkeeping columns of a new row (version 1)."""
        return {"version": 1, "changed_at": self.now, "changed_by": self.actor,
                "change_reason": self.reason, "deleted": False}


def primary_key(row: Base) -> str:
    identity = inspect(row).identity
    if identity is None:
        raise ValueError("row is not persistent")
    return str(identity[0])


def plain(row: Base) -> dict[str, Any]:
    """Every column of a row, as Python values."""
    return {attr.key: getattr(row, attr.key) for attr in inspect(row).mapper.column_attrs}


def image(row: Base) -> dict[str, Any]:
    """Every column of a row, JSON-ready."""
    return {attr.key: encode(getattr(row, attr.key)) for attr in inspect(row).mapper.column_attrs}


def change(session: Session, row: Any, values: dict[str, Any], ctx: WriteContext, *,
           patient_id: str | None, operation: str = "update", force: bool = False
           ) -> list[dict[str, Any]]:
    """Keep the old version, then apply ``values`` as the next version.

    Returns the fields changed as ``{"field", "old", "new"}`` (encoded), for the audit entry;
    nothing changed, nothing is written (unless ``force``: a new version of the same values).
    """
    assert isinstance(row, Versioned) and isinstance(row, Base)
    diffs = [{"field": k, "old": encode(getattr(row, k)), "new": encode(v)}
             for k, v in values.items() if encode(getattr(row, k)) != encode(v)]
    if not diffs and not force:
        return []
    history: RowHistory | IdentityHistory
    common = {"table_name": row.__tablename__, "row_id": primary_key(row),
              "version": row.version, "data": image(row), "valid_from": row.changed_at,
              "valid_to": ctx.now, "operation": operation, "superseded_by": ctx.actor,
              "supersede_reason": ctx.reason}
    if isinstance(row, Identity):
        history = IdentityHistory(**common)
    else:
        history = RowHistory(**common, patient_id=patient_id)
    session.add(history)
    for k, v in values.items():
        setattr(row, k, v)
    row.version = row.version + 1
    row.changed_at = ctx.now
    row.changed_by = ctx.actor
    row.change_reason = ctx.reason
    return diffs


def soft_delete(session: Session, row: Any, ctx: WriteContext, *,
                patient_id: str | None) -> list[dict[str, Any]]:
    """Mark a row deleted (it stays, with its history), with who, when and why."""
    return change(session, row, {"deleted": True}, ctx, patient_id=patient_id,
                  operation="delete")


def as_of(session: Session, model: type[Base], row_id: str, when: dt.datetime
          ) -> dict[str, Any] | None:
    """The row as it was at ``when`` (decoded), or None if it did not exist yet."""
    row = session.get(model, row_id)
    if row is None:
        return None
    assert isinstance(row, Versioned)
    if row.changed_at <= when:
        return {k: decode(v) for k, v in image(row).items()}
    table: type[RowHistory] | type[IdentityHistory] = (
        IdentityHistory if model is Identity else RowHistory)
    old = session.execute(
        select(table.data).where(table.table_name == model.__tablename__,
                                 table.row_id == row_id, table.valid_from <= when,
                                 table.valid_to > when)
    ).scalar_one_or_none()
    return None if old is None else {k: decode(v) for k, v in old.items()}
