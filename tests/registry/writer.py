"""A registry writer run as its own process by the durability and concurrency tests.

    python -m tests.registry.writer DB_URL PREFIX BATCHES BATCH_SIZE [--retry]

Adds BATCHES transactions of BATCH_SIZE synthetic cases each (UPNs PREFIX-0000, …), and prints
``committed UPN,UPN,…`` after each commit (flushed), so that a parent that kills it knows what
was committed. With ``--retry`` a busy registry is retried (printing ``busy``), else it exits 75.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from everydonor.adapters.registry.store import Registry, RegistryBusy
from tests.registry.conftest import EXAMPLES, load


def synthetic(n: int) -> Any:
    """Case ``n``: an example case with ids varied, so every case is different."""
    raw = copy.deepcopy(load(EXAMPLES[n % len(EXAMPLES)]))
    raw["as_of"] = "2026-11-25"
    raw["x_synthetic"] = n
    raw["patient"]["id"] = f"P{n}"
    return raw


def expected_people(n: int) -> int:
    raw = synthetic(n)
    return 1 + len(raw.get("relatives") or []) + len(raw.get("unrelated") or [])


def main(argv: list[str]) -> int:
    url, prefix, batches, size = argv[0], argv[1], int(argv[2]), int(argv[3])
    retry = "--retry" in argv
    reg = Registry(url)
    n = 0
    for _ in range(batches):
        prepared = []
        for _ in range(size):
            prepared.append(reg.prepare(synthetic(n), upn=f"{prefix}-{n:04d}"))
            n += 1
        while True:
            try:
                reg.add_prepared(prepared, actor=f"writer-{prefix}", reason=None)
                break
            except RegistryBusy as exc:
                if not retry:
                    print(f"busy {exc}", flush=True)
                    return 75
                print("busy", flush=True)
        print("committed " + ",".join(p.upn for p in prepared), flush=True)
    reg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
