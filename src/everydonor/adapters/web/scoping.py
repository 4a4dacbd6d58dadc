"""Centre of the objects a URL can name (the app's authorisation compares it with the user's)."""

from __future__ import annotations

from sqlalchemy import select

from everydonor.adapters.registry.models import Centre, Patient, Snapshot, UserAccount
from everydonor.adapters.registry.store import Registry

#: The "centre" of a system administrator's account (it has none: it works for every centre).
#: No centre has this code, so only a system administrator (centre None) may open such an
#: account; to everyone else it answers 404, as another centre's account does.
EVERY_CENTRE = "(every centre)"


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


def account_centre(registry: Registry, username: str) -> str | None:
    """The centre of an account (disabled ones included: they stay to be reviewed);
    :data:`EVERY_CENTRE` for a system administrator's; None when there is no such account."""
    if len(username) > 64:
        return None
    with registry.reading() as s:
        row = s.execute(select(UserAccount.centre_code)
                        .where(UserAccount.username == username)).one_or_none()
        if row is None:
            return None
        return EVERY_CENTRE if row[0] is None else str(row[0])
