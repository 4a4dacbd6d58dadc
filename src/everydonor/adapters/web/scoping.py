"""Centre of the objects a URL can name (the app's authorisation compares it with the user's)."""

from __future__ import annotations

from sqlalchemy import select

from everydonor.adapters.registry.models import Centre, Patient, Snapshot
from everydonor.adapters.registry.store import Registry


def snapshot_centre(registry: Registry, snapshot_id: str) -> str | None:
    """The centre of the snapshot's patient; None when there is no such live snapshot."""
    if len(snapshot_id) > 64:
        return None
    with registry.reading() as s:
        row = s.execute(select(Centre.code)
                        .join(Patient, Patient.centre_id == Centre.id)
                        .join(Snapshot, Snapshot.patient_id == Patient.id)
                        .where(Snapshot.id == snapshot_id, Patient.deleted.is_(False))
                        ).one_or_none()
        return None if row is None else str(row[0])
