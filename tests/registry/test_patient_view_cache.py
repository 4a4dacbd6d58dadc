"""The patient view cache (``Registry.patient_view`` / ``clinical_case``): an answer is reused
only while the audit chain's head stands still — any registry write, by this process or another
(a second Registry object on the same database stands for another server process), makes the
next read recompute; a hit costs one small query; callers get copies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from everydonor.adapters.registry.store import Registry
from tests.registry.conftest import EXAMPLES, load


@contextmanager
def statements(reg: Registry) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(reg.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(reg.engine, "before_cursor_execute", count)


def test_a_hit_is_one_query_and_a_write_anywhere_recomputes(db_url: str, reducer: Any) -> None:
    reg = Registry(db_url, reducer=reducer)
    reg.init(actor="tester")
    reg.add_case(load(EXAMPLES[0]), actor="tester", upn="P1")
    reg.add_case(load(EXAMPLES[1]), actor="tester", upn="P2")
    first = reg.patient_view("P1")
    with statements(reg) as seen:
        again = reg.patient_view("P1")
    assert again == first
    assert len([q for q in seen if q.lstrip().upper().startswith("SELECT")]) == 1, seen
    # a copy: changing what was handed out changes nothing kept
    again[1][0]["patient"]["sex"] = "changed by a caller"
    assert reg.clinical_case("P1") == first[1]
    # another process (another Registry object) edits P1: the next read sees it
    other = Registry(db_url, reducer=reducer)
    case = load(EXAMPLES[0])
    case["patient"]["disease_status"] = "CR2"
    other.add_case(case, actor="tester", upn="P1", reason="status corrected")
    shown, (document, digest, version) = reg.patient_view("P1")
    assert document["patient"]["disease_status"] == "CR2"
    assert shown["disease"]["disease_status"] == "CR2"
    assert digest != first[1][1] and version == first[1][2] + 1
    # a write about another patient moves the head too: recomputed, still equal
    reg.add_hct("P2", day0=dt.date(2026, 1, 5), actor="tester",
                reason="transplant")
    with statements(reg) as seen:
        assert reg.patient_view("P1") == (shown, (document, digest, version))
    assert len([q for q in seen if q.lstrip().upper().startswith("SELECT")]) > 1
    other.close()
    reg.close()


def test_snapshots_kept_show_at_once(db_url: str, reducer: Any) -> None:
    reg = Registry(db_url, reducer=reducer)
    reg.init(actor="tester")
    reg.add_case(load(EXAMPLES[0]), actor="tester", upn="P1")
    assert reg.patient_view("P1")[0]["snapshots"] == []
    reg.add_snapshots("P1", [("family", {"people": []})], actor="tester", reason="kept")
    assert [x["kind"] for x in reg.patient_view("P1")[0]["snapshots"]] == ["family"]
    reg.close()
