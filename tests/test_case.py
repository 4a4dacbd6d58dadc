import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from everydonor.adapters.inputs.casefile import read_case
from everydonor.case import Relationship, Sex, parse_case
from everydonor.errors import EverydonorError, InputError, InvalidHlaName

TODAY = dt.date(2026, 11, 25)


def base() -> dict[str, Any]:
    return {
        "format": "everydonor.case/1",
        "patient": {"id": "P1", "sex": "male", "age": 34, "weight_kg": 68.0, "abo": "A+",
                    "cmv_igg": "positive",
                    "hla": {"A": ["A*02:01", "A*11:01"], "B": ["B*46:01", "B*51:01"]},
                    "antibodies": {"test_date": "2026-10-02", "method": "single_antigen_bead",
                                   "results": [{"specificity": "A*24:02", "mfi": 8500}]}},
        "relatives": [{"id": "F", "relationship": "father", "age": 61, "abo": "O+",
                       "hla": {"A": ["A*02:01", "A*24:02"], "B": ["B*46:01", "B*40:01"]},
                       "medically_eligible": True}],
        "unrelated": [],
    }


def test_valid_case() -> None:
    case = parse_case(base(), today=TODAY)
    assert case.patient.sex is Sex.MALE and case.patient.age == 34
    father = case.person("F")
    assert father.relationship is Relationship.FATHER and father.sex is Sex.MALE
    assert case.patient.antibodies is not None
    assert case.patient.antibodies.results[0].mfi == 8500
    assert case.as_of == TODAY


@pytest.mark.parametrize(
    ("path", "value", "person", "field", "fragment"),
    [
        (("patient", "sex"), "m", "P1", "sex", "male' or 'female"),
        (("patient", "age"), 190, "P1", "age", "outside the human range"),
        (("patient", "weight_kg"), "heavy", "P1", "weight_kg", "must be a number"),
        (("patient", "abo"), "C+", "P1", "abo", "O, A, B or AB"),
        (("patient", "cmv_igg"), "yes", "P1", "cmv_igg", "positive, negative or unknown"),
        (("relatives", 0, "relationship"), "dad", "F", "relationship", "not one of"),
        (("relatives", 0, "sex"), "female", "F", "sex", "a father is male"),
        (("relatives", 0, "through"), "father", "F", "through", "does not apply"),
        (("relatives", 0, "medically_eligible"), "yes", "F", "medically_eligible", "true or false"),
    ],
)
def test_bad_values_name_person_field_value(path: tuple[Any, ...], value: Any, person: str,
                                            field: str, fragment: str) -> None:
    data = base()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(EverydonorError) as err:
        parse_case(data, today=TODAY)
    assert err.value.person == person and err.value.field == field
    assert fragment in str(err.value)
    assert repr(value) in (err.value.value or "")


def test_hla_errors_name_the_person() -> None:
    data = base()
    data["relatives"][0]["hla"]["A"] = ["A*02:01", "A*2401"]
    with pytest.raises(InvalidHlaName) as err:
        parse_case(data, today=TODAY)
    assert err.value.person == "F" and err.value.field == "hla.A"
    data["relatives"][0]["hla"]["A"] = ["A*02:01"]
    with pytest.raises(InvalidHlaName, match="exactly two typings"):
        parse_case(data, today=TODAY)


def test_structure_errors() -> None:
    with pytest.raises(InputError, match="format must be"):
        parse_case({"patient": {}}, today=TODAY)
    data = base()
    data["relatives"].append(dict(data["relatives"][0]))
    with pytest.raises(InputError, match="used twice"):
        parse_case(data, today=TODAY)
    data = base()
    data["relatives"].append({"id": "F2", "relationship": "father"})
    with pytest.raises(InputError, match="more than one father"):
        parse_case(data, today=TODAY)
    data = base()
    data["patient"]["hla_gl"] = "A*02:01+A*11:01"
    with pytest.raises(InputError, match="hla or hla_gl, not both"):
        parse_case(data, today=TODAY)


def test_birth_date_and_an_unknown_field_is_refused() -> None:
    data = base()
    del data["patient"]["age"]
    data["patient"]["birth_date"] = "1992-11-25"
    case = parse_case(data, today=TODAY)
    assert case.patient.age == pytest.approx(34.0, abs=0.01)
    assert not case.warnings
    data["patient"]["age"] = 40  # age and birth date disagree: neither is dropped silently
    with pytest.raises(InputError, match="disagree") as err:
        parse_case(data, today=TODAY)
    assert err.value.person == "P1" and err.value.field == "birth_date"
    data["patient"]["age"] = 34
    assert parse_case(data, today=TODAY).patient.age == 34
    data["patient"]["favourite_colour"] = "blue"  # no longer kept with a warning: refused
    with pytest.raises(InputError, match="'favourite_colour' is not a field of the patient"):
        parse_case(data, today=TODAY)
    del data["patient"]["favourite_colour"]
    data["patient"]["birth_date"] = "2027-01-01"
    with pytest.raises(InputError, match="after the case date"):
        parse_case(data, today=TODAY)


def test_files_json_and_yaml(tmp_path: Path) -> None:
    import yaml

    j = tmp_path / "case.json"
    j.write_text(json.dumps(base()))
    y = tmp_path / "case.yaml"
    y.write_text(yaml.safe_dump(base()))
    assert read_case(j, TODAY).patient.id == read_case(y, TODAY).patient.id == "P1"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_case(bad, TODAY)
    with pytest.raises(InputError, match="cannot read case file"):
        read_case(tmp_path / "missing.json", TODAY)


def test_selection_facts_are_read() -> None:
    data = base()
    data["patient"].update({"diagnosis": "AML", "disease_status": "CR1", "disease_risk": "high",
                            "name": "李明"})
    data["relatives"][0]["desensitisation_plan"] = "PE + IVIG"
    data["centre"] = {"name": "PKUPH", "haplo_experienced": True}
    case = parse_case(data, today=TODAY)
    assert (case.patient.diagnosis, case.patient.disease_risk, case.patient.name) == (
        "AML", "high", "李明")
    assert case.person("F").desensitization_plan == "PE + IVIG"
    assert case.centre.haplo_experienced is True and case.centre.name == "PKUPH"
    assert not case.warnings


@pytest.mark.parametrize(("where", "key", "value", "person", "field"), [
    ("patient", "disease_risk", "terrible", "P1", "disease_risk"),
    ("relative", "disease_risk", "high", "F", "disease_risk"),
    ("patient", "desensitization_plan", "PE", "P1", "desensitization_plan"),
    ("relative", "desensitization_plan", 12, "F", "desensitization_plan"),
    ("centre", "haplo_experienced", "yes", None, "centre.haplo_experienced"),
])
def test_bad_selection_facts_are_refused(where: str, key: str, value: Any, person: str | None,
                                         field: str) -> None:
    data = base()
    if where == "patient":
        data["patient"][key] = value
    elif where == "relative":
        data["relatives"][0][key] = value
    else:
        data["centre"] = {key: value}
    with pytest.raises(InputError) as err:
        parse_case(data, today=TODAY)
    assert err.value.person == person and err.value.field == field
    assert repr(value) in (err.value.value or "")
