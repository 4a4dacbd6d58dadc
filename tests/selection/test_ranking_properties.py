"""Properties of the ranking on the example families: every candidate accounted for exactly once,
the order independent of the order people are listed in, and explained link by link."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from everydonor.adapters.reference.imgt import load_kir_table, open_release, read_tce
from everydonor.case import parse_case
from everydonor.selection.catalogue import get_rule_set
from everydonor.selection.ranking import rank_case

#: The example cases (examples/ also holds a centre rule-set file and other inputs).
EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "examples").glob("*.yaml")
                  if "everydonor.case/1" in p.read_text("utf-8"))


@pytest.fixture(scope="module")
def tables():  # type: ignore[no-untyped-def]
    return read_tce(open_release()), load_kir_table()


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
@pytest.mark.parametrize("rules", ["beijing", "beijing@csh2018", "baltimore", "ebmt"])
def test_accounted_for_order_free_and_explained(path: Path, rules: str, reducer,  # type: ignore[no-untyped-def]
                                                tables) -> None:
    data: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    rs = get_rule_set(rules)
    orders = []
    for seed in range(3):
        shuffled = dict(data)
        people = list(data["relatives"])
        random.Random(seed).shuffle(people)
        shuffled["relatives"] = people
        case = parse_case(shuffled, today=dt.date(2026, 11, 25))
        doc = rank_case(case, reducer, *tables, rs)[0].document
        ranked = [d["id"] for d in doc["ranking"]]
        excluded = [x["id"] for x in doc["excluded"]]
        everyone = [p["id"] for p in data["relatives"]] + [p["id"] for p in data["unrelated"]]
        assert sorted(ranked + excluded) == sorted(everyone)
        for upper, lower in zip(doc["ranking"], doc["ranking"][1:], strict=False):
            assert upper["decided_by"]["next"] == lower["id"]
            assert upper["decided_by"]["text"]
            assert upper["hierarchy_position"] <= lower["hierarchy_position"]
        orders.append((ranked, sorted(excluded)))
    assert orders[0] == orders[1] == orders[2]
