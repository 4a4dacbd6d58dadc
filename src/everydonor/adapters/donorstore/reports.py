"""What an import reports: rows not imported and why, counts; --strict refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from everydonor.errors import InputError


@dataclass(frozen=True, slots=True)
class Rejection:
    """One row that was not imported, and why."""

    record: int
    donor_id: str | None
    field: str
    value: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "donor_id": self.donor_id, "field": self.field,
                "value": self.value, "reason": self.reason}


@dataclass(slots=True)
class ImportReport:
    file: str
    sha256: str
    format: str
    records: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    already_imported: bool = False
    store_donors: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "format": self.format,
                "records": self.records, "imported": self.imported, "updated": self.updated,
                "unchanged": self.unchanged, "rejected_count": len(self.rejected),
                "already_imported": self.already_imported, "store_donors": self.store_donors,
                "warnings": self.warnings,
                "rejected": [r.to_dict() for r in self.rejected]}



class RejectedRows(InputError):
    """``--strict``: some rows could not be read, so nothing was imported."""

    def __init__(self, report: ImportReport) -> None:
        first = report.rejected[0]
        super().__init__(
            f"{len(report.rejected)} of {report.records} rows rejected (--strict: nothing "
            f"imported); first: record {first.record}, donor {first.donor_id!r}: "
            f"{first.reason}", person=first.donor_id, field=first.field, value=first.value)
        self.report = report
