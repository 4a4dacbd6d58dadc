"""Arbitrary content in any field of a case file gives an everydonor error, never a crash."""

import contextlib
import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from everydonor.case import parse_case
from everydonor.errors import EverydonorError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6),
                                                                      children, max_size=3),
    max_leaves=8,
)
FIELDS = ["id", "sex", "age", "birth_date", "weight_kg", "height_cm", "abo", "cmv_igg", "hla",
          "hla_gl", "relationship", "through", "medically_eligible", "antibodies"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["patient", "relative"]), st.sampled_from(FIELDS), json_values)
def test_any_field_value(where: str, field: str, value: Any) -> None:
    patient: dict[str, Any] = {"id": "P1", "hla": {"A": ["A*02:01", "A*11:01"]}}
    relative: dict[str, Any] = {"id": "F", "relationship": "father"}
    (patient if where == "patient" else relative)[field] = value
    data = {"format": "everydonor.case/1", "patient": patient, "relatives": [relative]}
    try:
        parse_case(data, today=dt.date(2026, 11, 25))
    except EverydonorError as exc:
        assert exc.message


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_document(value: Any) -> None:
    with contextlib.suppress(EverydonorError):
        parse_case(value, today=dt.date(2026, 11, 25))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["A", "B", "DRB1", "HLA-C", "X"]), json_values)
def test_any_hla_typing_value(locus: str, value: Any) -> None:
    data = {"format": "everydonor.case/1",
            "patient": {"id": "P1", "hla": {locus: value}}, "relatives": []}
    with contextlib.suppress(EverydonorError):
        parse_case(data, today=dt.date(2026, 11, 25))


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, min_size=2, max_size=2))
def test_any_pair_of_typings(pair: list[Any]) -> None:
    data = {"format": "everydonor.case/1",
            "patient": {"id": "P1", "hla": {"A": pair}}, "relatives": []}
    with contextlib.suppress(EverydonorError):
        parse_case(data, today=dt.date(2026, 11, 25))
