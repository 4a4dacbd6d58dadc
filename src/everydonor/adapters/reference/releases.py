"""Other IPD-IMGT/HLA releases, for typings reported under them (a GL String Code's version).

Only 3.58.0 ships. A site that receives typings written under other releases can install those
release folders (the ANHIG/IMGTHLA layout :func:`~everydonor.adapters.reference.imgt.open_release`
reads) under one or more folders named by ``EVERYDONOR_IMGT_RELEASES`` (separated like ``PATH``),
each release in a sub-folder named by its version (``3.40.0``) or its IMGTHLA branch name
(``3400``). A typing reported under such a release is then checked and reduced under it; a
typing whose release is not installed is read under the loaded release and flagged
(:func:`everydonor.hla.glsc.release_flag`), never silently re-interpreted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from everydonor.adapters.reference.imgt import bundled_release_dir, load_reference, open_release
from everydonor.errors import ReferenceDataError
from everydonor.hla.designation import MacDictionary
from everydonor.hla.reduction import Reducer
from everydonor.hla.reference import HlaReference

RELEASES_ENV = "EVERYDONOR_IMGT_RELEASES"
BUNDLED_RELEASE = "3.58.0"


def release_roots(extra: Sequence[str | Path] = ()) -> list[Path]:
    """The folders searched for installed releases: ``extra``, then ``EVERYDONOR_IMGT_RELEASES``."""
    roots = [Path(p).expanduser() for p in extra]
    env = os.environ.get(RELEASES_ENV, "")
    roots += [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return roots


def find_release(version: str, roots: Sequence[str | Path] | None = None) -> Path | None:
    """The folder of release ``version`` if installed (the bundled one for 3.58.0), else None.

    A folder named for a release but holding another is refused (a mislabelled release would
    check typings against the wrong names)."""
    if version == BUNDLED_RELEASE:
        return bundled_release_dir()
    for root in release_roots() if roots is None else [Path(r) for r in roots]:
        for name in (version, version.replace(".", "")):
            folder = root / name
            if folder.is_dir():
                release = open_release(folder)
                if release.version != version:
                    raise ReferenceDataError(
                        f"release folder {str(folder)!r} is named for {version} but holds "
                        f"IPD-IMGT/HLA {release.version}", value=str(folder), field="imgt")
                return folder
    return None


class Releases:
    """The loaded release and, on demand, the installed releases typings were reported under."""

    def __init__(self, loaded: HlaReference, loaded_reducer: Reducer,
                 macs: MacDictionary | None = None,
                 roots: Sequence[str | Path] | None = None) -> None:
        self.loaded = loaded
        self.macs = macs
        self.roots = roots
        self._cache: dict[str, tuple[HlaReference, Reducer] | None] = {
            loaded.release: (loaded, loaded_reducer)}

    def get(self, version: str | None) -> tuple[HlaReference, Reducer] | None:
        """The tables and reducer of ``version`` when installed; None when not (or a date)."""
        if version is None:
            return None
        if version not in self._cache:
            folder = find_release(version, self.roots)
            if folder is None:
                self._cache[version] = None
            else:
                ref = load_reference(folder)
                self._cache[version] = (ref, Reducer(ref, self.macs))
        return self._cache[version]

    def for_version(self, version: str | None) -> tuple[HlaReference, Reducer]:
        """The installed release ``version``, else the loaded one (the answer then flags it)."""
        found = self.get(version)
        if found is not None:
            return found
        loaded = self._cache[self.loaded.release]
        assert loaded is not None  # set in __init__
        return loaded
