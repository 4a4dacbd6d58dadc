"""``everydonor serve --demo``: a fresh registry holding the bundled example families and one
demo account per role, so a newcomer sees a working app in one command.

The demo registry lives in a new temporary folder with its own pseudonym key; nothing of it is
kept after the server stops. Demo passwords are printed at start-up: never use a demo registry
for real patients (every page says so).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from everydonor.adapters.registry.accounts import ROLES, Accounts
from everydonor.adapters.registry.store import Registry

DEMO_CENTRE = "DEMO"
#: A second centre, so that centre scoping can be seen: its users never see DEMO's patients.
OTHER_CENTRE = "OTHER"


def example_cases() -> list[Path]:
    """The bundled example families (the package's examples folder, else the checkout's)."""
    root = Path(str(resources.files("everydonor"))).parents[1] / "examples"
    return sorted(root.glob("0*.yaml")) if root.is_dir() else []


def demo_password(role: str) -> str:
    return f"demo-{role.replace('_', '-')}-pass"


def build_demo(folder: Path | None = None) -> tuple[str, list[dict[str, Any]], list[str]]:
    """Create the demo registry; returns its URL, the demo accounts (with passwords and TOTP
    secrets) and the patients loaded."""
    from everydonor.adapters.inputs.casefile import load_case_data

    folder = folder or Path(tempfile.mkdtemp(prefix="everydonor-demo-"))
    os.environ.setdefault("EVERYDONOR_PSEUDONYM_KEY", secrets.token_hex(32))
    url = f"sqlite:///{folder / 'demo-registry.sqlite'}"
    reg = Registry(url)
    reg.init(actor="demo", reason="demo registry")
    loaded = []
    cases = example_cases()
    for i, path in enumerate(cases):
        upn = f"DEMO-{i + 1:03d}"
        reg.add_case(load_case_data(str(path)), actor="demo", reason="demo example", upn=upn,
                     centre=DEMO_CENTRE)
        loaded.append(upn)
    for upn, path in zip(loaded, cases, strict=False):
        # the transplant the example's own notes describe (example 07: brother B1, day 0
        # 2026-06-15), so the follow-up and statistics pages have a transplant to show
        if path.name.startswith("07-"):
            reg.add_hct(upn, day0=dt.date(2026, 6, 15), hct_type="allo", donor="B1",
                        graft=None, actor="demo", reason="demo example")
    if cases:  # one patient of another centre: DEMO's users never see it
        reg.add_case(load_case_data(str(cases[0])), actor="demo", reason="demo example",
                     upn="OTHER-001", centre=OTHER_CENTRE)
        loaded.append("OTHER-001")
    accounts = Accounts(reg)
    now = dt.datetime.now(dt.UTC)
    made = []
    for role in ROLES:
        centre = None if role == "system_admin" else DEMO_CENTRE
        name = f"demo.{role.replace('_', '-')}"
        result = accounts.create(name, role=role, centre=centre,
                                 display_name=f"Demo {ROLES[role].split(' (')[0]}",
                                 password=demo_password(role), actor="demo",
                                 reason="demo account", now=now)
        made.append({**result, "password": demo_password(role)})
    other = accounts.create("demo.other-physician", role="physician", centre=OTHER_CENTRE,
                            display_name="Demo physician of another centre",
                            password=demo_password("other-physician"), actor="demo",
                            reason="demo account", now=now)
    made.append({**other, "password": demo_password("other-physician")})
    reg.close()
    return url, made, loaded
