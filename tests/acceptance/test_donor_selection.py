"""The donor-selection acceptance table (donor_selection.yaml), row by row, on examples/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_tce
from everydonor.case import parse_case
from everydonor.selection.catalogue import get_rule_set
from everydonor.selection.ranking import rank_case

ROOT = Path(__file__).resolve().parents[2]
TABLE = yaml.safe_load((Path(__file__).with_name("donor_selection.yaml")).read_text("utf-8"))


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in patch.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.fixture(scope="module")
def rank(reducer):  # type: ignore[no-untyped-def]
    tce, kir = read_tce(open_release()), load_kir_table()
    memo: dict[str, Any] = {}

    def run(case_file: str, rules: str, patch: dict[str, Any] | None) -> dict[str, Any]:
        key = f"{case_file}|{rules}|{patch}"
        if key not in memo:
            data = yaml.safe_load((ROOT / "examples" / case_file).read_text("utf-8"))
            case = parse_case(_merge(data, patch or {}), today=dt.date(2026, 11, 25))
            memo[key] = rank_case(case, reducer, tce, kir, get_rule_set(rules))[0].document
        return memo[key]

    return run


def deciding_criterion(doc: dict[str, Any], upper: str, lower: str) -> str | None:
    """The first criterion (or the hierarchy) on which two ranked donors differ."""
    by_id = {d["id"]: d for d in doc["ranking"]}
    a, b = by_id[upper], by_id[lower]
    if a["hierarchy_position"] != b["hierarchy_position"]:
        return "hierarchy"
    for ca, cb in zip(a["criteria"], b["criteria"], strict=True):
        if ca["tier"] != cb["tier"]:
            return str(ca["id"])
    return None


def test_every_row_cites_a_source_and_names_a_known_criterion() -> None:
    known = {"hierarchy", "eligibility", "partner", "missing"}
    for name in ("beijing", "beijing@csh2018", "baltimore", "ebmt"):
        known |= {c.id for c in get_rule_set(name).criteria}
    for row in TABLE:
        assert row.get("source") and row.get("says"), row
        assert row["rule"] in known, row["rule"]
        assert (ROOT / "examples" / row["case"]).is_file()


@pytest.mark.parametrize("row", TABLE, ids=[f"{r['rule']}: {r['says'][:60]}" for r in TABLE])
def test_row(rank, row: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    doc = rank(row["case"], row["rules"], row.get("patch"))
    order = [d["id"] for d in doc["ranking"]]
    excluded = {x["id"]: x for x in doc["excluded"]}
    if "before" in row:
        upper, lower = row["before"]
        assert upper in order and lower in order, (order, excluded)
        assert order.index(upper) < order.index(lower), order
        assert deciding_criterion(doc, upper, lower) == row["rule"], (
            f"{upper} above {lower} is decided by {deciding_criterion(doc, upper, lower)}")
    if "excluded" in row:
        x = excluded[row["excluded"]]
        assert row["excluded"] not in order
        assert any(row["because"] in reason for reason in x["because"]), x["because"]
    if "ranked" in row:
        assert row["ranked"] in order and row["ranked"] not in excluded
    if "flag" in row:
        who, text = row["flag"]
        flags = next(d["flags"] for d in doc["ranking"] if d["id"] == who)
        assert any(text in f for f in flags), flags
    if "warning" in row:
        assert any(row["warning"] in w for w in doc["warnings"]), doc["warnings"]
