"""A small registry cohort with transplants and follow-up, for the centre report and the
statistician's outcomes page: patients of the bundled example families in two centres, each
with one allogeneic HCT (donor types: haploidentical parent, unrelated, cord blood, no donor
recorded), neutrophil and platelet recovery dates, some relapses, deaths and last contacts.

Every value is derived from the patient's index by fixed arithmetic (no randomness), so the
expected numbers are recomputed by the tests from the registry, never written down here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
#: (example file, donor's case person id or None, graft): the donor type it gives.
DONORS = (("01-matched-sibling-and-haplo-siblings.yaml", "F", "PBSC"),  # parent → haplo
          ("06-unrelated-donors-and-father.yaml", "U1", "PBSC"),        # unrelated
          ("07-post-transplant-mrd-follow-up.yaml", "M", "BM"),         # parent → haplo
          ("03-older-patient-with-children.yaml", None, "UCB"),         # cord blood
          ("01-matched-sibling-and-haplo-siblings.yaml", None, "PBSC"))  # no donor → unknown


def seed(registry: Any, n: int = 15, centres: tuple[str, ...] = ("PKUPH", "OTHER"),
         prefix: str = "R") -> list[str]:
    """``n`` patients ``{prefix}-000``…; returns their UPNs."""
    from everydonor.adapters.inputs.casefile import load_case_data

    cases: dict[str, Any] = {}
    upns = []
    for i in range(n):
        name, donor, graft = DONORS[i % len(DONORS)]
        case = cases.setdefault(name, load_case_data(str(EXAMPLES / name)))
        upn = f"{prefix}-{i:03d}"
        centre = centres[i % len(centres)] if i % 3 else centres[0]
        registry.add_case(case, actor="fixture", reason="report cohort", upn=upn, centre=centre)
        day0 = dt.date(2019 + i % 6, 1 + i % 12, 1 + (7 * i) % 27)
        registry.add_hct(upn, day0=day0, hct_type="allo", donor=donor, graft=graft,
                         actor="fixture", reason="report cohort")

        def event(kind: str, day: int, payload: dict[str, Any], upn: str = upn,
                  day0: dt.date = day0) -> None:
            registry.record_event(upn, kind, day0 + dt.timedelta(days=day), payload,
                                  actor="fixture", reason="report cohort", hct_number=1)

        if i % 7 != 6:  # one in seven never recovers neutrophils (dies early or is censored)
            event("engraftment", 0, {"anc_500_date": (day0 + dt.timedelta(days=11 + i % 9))
                                     .isoformat(),
                                     "platelet_20_date": (day0 + dt.timedelta(days=14 + 3 * (i % 6)))
                                     .isoformat()})
        if i % 4 == 1:
            event("relapse", 120 + 37 * i, {"relapse_type": "haematologic"})
        if i % 5 == 2:
            event("death", 60 + 53 * i, {"cause": "infection"})
        elif i % 4 == 1 and i % 2:
            event("death", 200 + 41 * i, {"cause": "relapse_progression"})
        else:
            event("last_contact", 300 + 29 * i, {"vital_status": "alive"})
        upns.append(upn)
    return upns
