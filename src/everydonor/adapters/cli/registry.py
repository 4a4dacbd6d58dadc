"""``everydonor registry init|upgrade|add|list|show|export|history|verify-audit|backup|restore…``.

The command group lives with the registry adapter (:mod:`everydonor.adapters.registry.commands`);
this module only puts it on the main command line, beside the other command groups.
"""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add ``registry`` and its subcommands."""
    from everydonor.adapters.registry.commands import register as register_registry

    register_registry(sub)
