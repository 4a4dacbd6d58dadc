"""One exception tree for everydonor.

Three things are kept apart on purpose (see ARCHITECTURE.md):

* ``InvalidHlaName``: the text is not well-formed HLA nomenclature (``A*01:0X``).
* ``UnknownAllele``: well formed, but absent from the reference release (``A*01:9999``).
* ambiguity (``A*01:XX``): a *result*, never an error.

Every error carries the bad value, the field or locus it came from, and the release it was
checked against, so that a message can name all three.
"""

from __future__ import annotations

import copy

#: How a person's role reads in a message.
_ROLE_LABEL = {"unrelated": "unrelated donor"}


class EverydonorError(Exception):
    """Base of every error everydonor raises on purpose."""

    def __init__(self, message: str, *, value: str | None = None, field: str | None = None,
                 release: str | None = None, person: str | None = None,
                 locus: str | None = None, role: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.value = value
        self.field = field
        self.release = release
        self.person = person
        self.locus = locus
        #: The person's role in a case: ``patient``, ``relative`` or ``unrelated``.
        self.role = role

    def with_context(self, *, person: str | None = None, field: str | None = None,
                     role: str | None = None) -> EverydonorError:
        """A copy of this error, told where it came from (person, role, field); the original is
        left as it was (it may be a memoised refusal shared by other callers)."""
        located = copy.copy(self)
        if person is not None:
            located.person = person
        if role is not None:
            located.role = role
        if field is not None:
            located.field = field
        return located

    def __str__(self) -> str:
        where = []
        role = _ROLE_LABEL.get(self.role or "", self.role)
        if role:
            where.append(role)
        if self.person:
            where.append(f"person {self.person!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        elif self.locus:
            where.append(f"locus {self.locus}")
        prefix = (", ".join(where) + ": ") if where else ""
        got = ""
        if self.value is not None and self.value.strip("'\"") not in self.message and (
                repr(self.value) not in self.message):
            got = f" (got {self.value})"
        suffix = f" (IPD-IMGT/HLA {self.release})" if self.release else ""
        return f"{prefix}{self.message}{got}{suffix}"

    def to_dict(self) -> dict[str, str | None]:
        """The error as the JSON object the command line and API print."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "value": self.value,
            "field": self.field,
            "locus": self.locus,
            "person": self.person,
            "role": self.role,
            "release": self.release,
        }


class HlaError(EverydonorError):
    """A problem with an HLA name or typing."""


class InvalidHlaName(HlaError):
    """The text is not well-formed HLA nomenclature."""


class UnknownAllele(HlaError):
    """Well-formed, but not an allele (or group, or antigen) of the reference release."""


class UnknownMacCode(HlaError):
    """A well-formed NMDP multiple allele code absent from the MAC list in use."""


class ReferenceDataError(EverydonorError):
    """A reference release folder or derived cache is missing, unreadable or inconsistent."""


class InputError(EverydonorError):
    """Bad input outside HLA nomenclature (a case file field, a command-line value)."""
