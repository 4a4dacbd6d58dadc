"""Nothing clinical is dropped silently: unknown keys are refused, extensions are carried."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from everydonor.case import KNOWN_FIELDS, check_typings, known_fields, parse_case
from everydonor.errors import EverydonorError, InputError, InvalidHlaName, UnknownAllele
from everydonor.family.analysis import analyse_family

TODAY = dt.date(2026, 11, 25)
EXAMPLES = Path(__file__).parents[1] / "examples"


def base() -> dict[str, Any]:
    return {
        "format": "everydonor.case/1",
        "patient": {"id": "P1", "sex": "male", "age": 34,
                    "hla": {"A": ["A*02:01", "A*11:01"], "B": ["B*46:01", "B*51:01"],
                            "DRB1": ["DRB1*09:01", "DRB1*15:01"]},
                    "antibodies": {"test_date": "2026-10-02", "method": "single_antigen_bead",
                                   "results": [{"specificity": "A*24:02", "mfi": 6000}]}},
        "relatives": [{"id": "F", "relationship": "father", "age": 61,
                       "hla": {"A": ["A*02:01", "A*24:02"], "B": ["B*46:01", "B*40:01"],
                               "DRB1": ["DRB1*09:01", "DRB1*12:01"]}},
                      {"id": "S3", "relationship": "sister", "age": 30,
                       "hla": {"A": ["A*02:01", "A*24:02"], "B": ["B*46:01", "B*40:01"],
                               "DRB1": ["DRB1*09:01", "DRB1*15:01"]}}],
        "unrelated": [{"id": "U1", "registry": "CMDP", "donor_id": "CMDP-1",
                       "hla_gl": "A*02:01+A*11:01^B*46:01+B*51:01",
                       "match_probability": {"p_10_of_10": 0.5, "frequency_set": "set3"}}],
        "centre": {"name": "PKUPH", "haplo_experienced": True},
        "follow_up": {"active_gvhd": False,
                      "mrd": [{"date": "2027-01-14", "wt1_pct": 0.9, "flow": "positive",
                               "fusion": {"name": "RUNX1-RUNX1T1", "positive": True}}]},
    }


def refused(data: Any) -> InputError:
    with pytest.raises(InputError) as err:
        parse_case(data, today=TODAY)
    return err.value


def test_the_base_case_parses() -> None:
    case = parse_case(base(), today=TODAY)
    assert case.patient.antibodies is not None and case.patient.antibodies.results[0].mfi == 6000
    assert not case.warnings


def test_a_misspelled_antibodies_key_is_refused_not_dropped() -> None:
    """The headline case: a donor-specific antibody (MFI 6,000) must never vanish."""
    data = base()
    data["patient"]["antibodys"] = data["patient"].pop("antibodies")
    err = refused(data)
    assert (err.person, err.role, err.field, err.value) == ("P1", "patient", "antibodys",
                                                            "antibodys")
    text = str(err)
    assert text.startswith("patient, person 'P1', field 'antibodys': ")
    assert "did you mean 'antibodies'?" in text and "x_" in text and "extensions" in text
    assert err.to_dict()["role"] == "patient"


def test_the_misspelling_in_an_example_file_is_refused() -> None:
    text = (EXAMPLES / "04-donor-specific-antibodies.yaml").read_text(encoding="utf-8")
    assert "  antibodies:\n" in text
    typo = yaml.safe_load(text.replace("  antibodies:\n", "  antibodys:\n", 1))
    with pytest.raises(InputError, match="did you mean 'antibodies'"):
        parse_case(typo, today=TODAY)


# (where the mapping is, the misspelled key, person, role, field, suggestion)
LEVELS: list[tuple[tuple[Any, ...], str, str | None, str | None, str, str]] = [
    ((), "relativs", None, None, "relativs", "relatives"),
    ((), "centr", None, None, "centr", "centre"),
    ((), "folow_up", None, None, "folow_up", "follow_up"),
    ((), "asof", None, None, "asof", "as_of"),
    (("patient",), "diagnosys", "P1", "patient", "diagnosys", "diagnosis"),
    (("patient",), "weight", "P1", "patient", "weight", "weight_kg"),
    (("relatives", 0), "relationshp", "F", "relative", "relationshp", "relationship"),
    (("relatives", 1), "medically_elegible", "S3", "relative", "medically_elegible",
     "medically_eligible"),
    (("unrelated", 0), "registy", "U1", "unrelated", "registy", "registry"),
    (("patient", "antibodies"), "test_dat", "P1", "patient", "antibodies.test_dat",
     "test_date"),
    (("patient", "antibodies", "results", 0), "mfl", "P1", "patient",
     "antibodies.results[0].mfl", "mfi"),
    (("patient", "hla"), "DQB", "P1", "patient", "hla.DQB", "DQB1"),
    (("relatives", 1, "hla"), "drb1", "S3", "relative", "hla.drb1", "DRB1"),
    (("centre",), "haplo_experianced", None, None, "centre.haplo_experianced",
     "haplo_experienced"),
    (("follow_up",), "mdr", "P1", "patient", "follow_up.mdr", "mrd"),
    (("follow_up", "mrd", 0), "wt1", "P1", "patient", "follow_up.mrd[0].wt1", "wt1_pct"),
    (("follow_up", "mrd", 0, "fusion"), "postive", "P1", "patient",
     "follow_up.mrd[0].fusion.postive", "positive"),
    (("unrelated", 0, "match_probability"), "p_10_of10", "U1", "unrelated",
     "match_probability.p_10_of10", "p_10_of_10"),
]


@pytest.mark.parametrize(("path", "key", "person", "role", "field", "near"), LEVELS,
                         ids=[f"{'.'.join(map(str, p)) or 'top'}:{k}" for p, k, *_ in LEVELS])
def test_a_misspelled_key_at_every_level_is_refused(path: tuple[Any, ...], key: str,  # noqa: PLR0917
                                                     person: str | None, role: str | None,
                                                     field: str, near: str) -> None:
    data = base()
    target: Any = data
    for step in path:
        target = target[step]
    target[key] = target.pop(near, "a value")
    err = refused(data)
    assert (err.person, err.role, err.field) == (person, role, field)
    assert f"did you mean {near!r}?" in str(err)
    assert "NoneType" not in str(err)


def test_every_level_is_checked() -> None:
    assert {"case", "patient", "relative", "unrelated", "antibodies", "antibody_result", "hla",
            "centre", "follow_up", "mrd_result", "fusion", "match_probability"} == set(
        KNOWN_FIELDS)
    tables = known_fields()
    assert tables["antibody_result"] == {"where": "patient.antibodies.results[]",
                                         "keys": ["specificity", "mfi", "c1q"]}


def test_a_key_with_no_near_match_lists_the_known_keys() -> None:
    data = base()
    data["centre"]["zzz"] = 1
    assert "known: name, haplo_experienced" in str(refused(data))
    data = base()
    data[3] = "a number as key"  # YAML allows it; refused, not a crash
    assert refused(data).field == "3"


def test_a_person_without_id_and_a_misspelled_key_is_located() -> None:
    data = base()
    data["relatives"][1]["idd"] = data["relatives"][1].pop("id")
    err = refused(data)
    assert (err.person, err.role, err.field) == (None, "relative", "relatives[1].idd")
    assert "did you mean 'id'?" in str(err)
    del data["relatives"][1]["idd"]
    err = refused(data)
    assert err.field == "relatives[1].id" and "relatives[1] has no id" in str(err)


@pytest.mark.parametrize(("where", "key", "value", "fragment"), [
    (("relatives", 0), "diagnosis", "AML", "belongs to the patient, not to a relative"),
    (("relatives", 0), "antibodies", {"results": []}, "belongs to the patient"),
    (("unrelated", 0), "disease_risk", None, "belongs to the patient"),
    (("patient",), "registry", "CMDP", "belongs to unrelated donors"),
    (("patient",), "medically_eligible", True, "belongs to donors"),
    (("patient",), "relationship", "self", "belongs to relatives"),
    (("unrelated", 0), "through", "father", "belongs to relatives"),
    (("relatives", 0), "match_probability", {}, "belongs to unrelated donors"),
])
def test_a_key_of_another_role_is_refused(where: tuple[Any, ...], key: str, value: Any,
                                          fragment: str) -> None:
    data = base()
    target: Any = data
    for step in where:
        target = target[step]
    target[key] = value
    err = refused(data)
    assert err.field == key and fragment in str(err)


def test_two_spellings_of_one_field_are_refused() -> None:
    data = base()
    data["center"] = {"name": "other"}
    assert "centre or center, not both" in str(refused(data))
    data = base()
    data["relatives"][0].update({"desensitization_plan": "PE", "desensitisation_plan": "IVIG"})
    assert "not both" in str(refused(data))
    data = base()
    del data["centre"]
    data["center"] = {"name": "Hôpital", "x_unit": 4}
    case = parse_case(data, today=TODAY)
    assert case.centre.name == "Hôpital" and case.centre.extensions == {"x_unit": 4}


def test_extensions_are_carried_through_untouched() -> None:
    data = base()
    blob = {"pku": {"mrn": "12345", "flags": [1, 2]}}
    data.update({"x_registry_case": "R-9", "extensions": blob, "id": "case-7",
                 "notes": ["first", "second"]})
    data["patient"].update({"x_bed": "3-12", "extensions": {"ward": "H3"}, "notes": "stable"})
    data["patient"]["hla"]["x_lab"] = "HLA lab 2"
    data["patient"]["antibodies"]["x_kit"] = "LABScreen"
    data["patient"]["antibodies"]["results"][0]["x_bead"] = 117
    data["relatives"][0]["x_consent"] = True
    data["unrelated"][0]["match_probability"]["x_engine"] = "haplostats"
    data["centre"]["x_jacie"] = "accredited"
    data["follow_up"]["x_protocol"] = "BJ-2026"
    data["follow_up"]["mrd"][0]["x_sample"] = "M-1"
    data["follow_up"]["mrd"][0]["fusion"]["x_copies"] = 1200
    written = copy.deepcopy(data)
    case = parse_case(data, today=TODAY)
    assert data == written  # the parser never changes what it was given
    assert case.extensions == {"x_registry_case": "R-9", "extensions": blob}
    assert case.extensions["extensions"] is blob  # as written, not copied or rebuilt
    assert (case.id, case.notes) == ("case-7", ("first", "second"))
    p = case.patient
    assert p.extensions == {"x_bed": "3-12", "extensions": {"ward": "H3"}} and p.notes == "stable"
    assert p.hla_extensions == {"x_lab": "HLA lab 2"} and p.hla is not None
    assert [loc.value for loc in p.hla.typed_loci()] == ["A", "B", "DRB1"]
    assert p.antibodies is not None and p.antibodies.extensions == {"x_kit": "LABScreen"}
    assert p.antibodies.results[0].extensions == {"x_bead": 117}
    assert case.person("F").extensions == {"x_consent": True}
    assert case.person("S3").extensions == {}
    probability = case.person("U1").match_probability
    assert probability is not None and probability["x_engine"] == "haplostats"
    assert case.centre.extensions == {"x_jacie": "accredited"}
    assert case.follow_up is not None and case.follow_up["x_protocol"] == "BJ-2026"
    assert case.follow_up["mrd"][0]["x_sample"] == "M-1"
    assert not case.warnings


def test_extensions_must_be_a_mapping_and_only_where_allowed() -> None:
    data = base()
    data["patient"]["extensions"] = ["not", "a", "mapping"]
    err = refused(data)
    assert err.field == "extensions" and "must be a mapping" in str(err)
    data = base()
    data["centre"]["extensions"] = {"a": 1}  # only top level and persons: x_ keys elsewhere
    assert "with the prefix 'x_'" in str(refused(data))
    data = base()
    data["patient"]["X_bed"] = 1  # the prefix is lower-case
    assert refused(data).field == "X_bed"


def test_an_unknown_locus_is_refused_with_the_nearest() -> None:
    data = base()
    data["patient"]["hla"]["HLA-DRB"] = ["DRB1*09:01", "DRB1*15:01"]
    err = refused(data)
    assert err.field == "hla.HLA-DRB" and "did you mean 'DRB1'?" in str(err)
    assert "'HLA-DRB' is not a typing locus" in str(err)
    data = base()
    data["patient"]["hla"]["HLA-A"] = data["patient"]["hla"].pop("A")  # the prefix is fine
    parse_case(data, today=TODAY)


def test_hla_name_errors_name_the_person_role_and_field() -> None:
    data = base()
    data["relatives"][1]["hla"]["DRB1"] = ["DRB1*09:01", "DRB1*1501"]
    with pytest.raises(InvalidHlaName) as err:
        parse_case(data, today=TODAY)
    assert (err.value.person, err.value.role, err.value.field) == ("S3", "relative", "hla.DRB1")
    assert str(err.value).startswith("relative, person 'S3', field 'hla.DRB1': ")


def test_an_allele_absent_from_the_release_names_whose_typing_it_was(reducer: Any) -> None:
    data = base()
    data["relatives"][1]["hla"]["DRB1"] = ["DRB1*09:01", "DRB1*15:999"]
    case = parse_case(data, today=TODAY)  # well formed: the release decides later
    with pytest.raises(UnknownAllele) as err:
        analyse_family(case, reducer)
    e = err.value
    assert (e.person, e.role, e.field, e.release) == ("S3", "relative", "hla.DRB1",
                                                      reducer.release)
    assert str(e).startswith("relative, person 'S3', field 'hla.DRB1': 'DRB1*15:999' is not")
    assert f"IPD-IMGT/HLA {reducer.release}" in str(e)


def test_a_gl_typing_error_names_the_unrelated_donor_and_hla_gl(reducer: Any) -> None:
    data = base()
    data["unrelated"][0]["hla_gl"] = "A*02:01+A*11:999^B*46:01+B*51:01"
    case = parse_case(data, today=TODAY)
    with pytest.raises(UnknownAllele) as err:
        check_typings(case, reducer.alleles_of)
    assert (err.value.person, err.value.role, err.value.field) == ("U1", "unrelated", "hla_gl")
    assert str(err.value).startswith("unrelated donor, person 'U1', field 'hla_gl': ")
    check_typings(parse_case(base(), today=TODAY), reducer.alleles_of)  # a good case passes


def test_with_context_leaves_the_original_error_alone() -> None:
    original = UnknownAllele("'A*01:999' is not an allele", value="A*01:999", locus="A")
    located = original.with_context(person="S3", role="relative", field="hla.A")
    assert (original.person, original.role, original.field) == (None, None, None)
    assert type(located) is UnknownAllele and located.locus == "A"


@pytest.mark.parametrize(("data", "fragment"), [
    (None, "the case file is empty"),
    ({}, "the case file is empty"),
    ([], "the case file is empty"),
    ("", "the case file is empty"),
    ("   \n", "the case file is empty"),
    ([{"format": "everydonor.case/1"}], "expected a mapping with 'format', 'patient'"),
    ("patient: P1", "got text ('patient: P1')"),
    (42, "got a number (42)"),
    (True, "got true"),
])
def test_an_empty_or_wrong_document_says_so_plainly(data: Any, fragment: str) -> None:
    err = refused(data)
    assert fragment in str(err) and "NoneType" not in str(err) and "(got" not in str(err)
    assert str(err).startswith(("the case file is empty", "expected a mapping"))


@pytest.mark.parametrize("text", ["", "# only a comment\n", "[]\n", "{}\n", "just text\n"])
def test_an_empty_yaml_file_says_so_plainly(text: str) -> None:
    with pytest.raises(InputError) as err:  # what the YAML reader hands over for such a file
        parse_case(yaml.safe_load(text), today=TODAY)
    assert "NoneType" not in str(err.value)
    assert ("the case file is empty" in str(err.value)) == (text != "just text\n")


def test_wrong_shapes_are_named_in_words() -> None:
    data = base()
    data["relatives"] = {"id": "F"}
    assert "relatives must be a list (write [] for none), got a mapping" in str(refused(data))
    data = base()
    data["relatives"] = None  # `relatives:` left empty in YAML
    assert "relatives must be a list (write [] for none), got null" in str(refused(data))
    data = base()
    data["patient"] = None
    assert "each patient must be a mapping" in str(refused(data))
    data = base()
    data["patient"]["antibodies"] = []
    assert "antibodies must be a mapping" in str(refused(data))
    data = base()
    data["patient"]["antibodies"]["results"] = ["A*24:02"]
    assert "got text ('A*24:02')" in str(refused(data))


def test_yaml_round_trip_keeps_extensions() -> None:
    data = base()
    data["patient"]["extensions"] = {"pku": {"mrn": "12345"}}
    case = parse_case(yaml.safe_load(yaml.safe_dump(data, allow_unicode=True)), today=TODAY)
    assert case.patient.extensions == {"extensions": {"pku": {"mrn": "12345"}}}


def test_errors_are_everydonor_errors() -> None:
    data = base()
    data["patient"]["antibodies"]["results"][0]["mfl"] = data["patient"]["antibodies"][
        "results"][0].pop("mfi")
    with pytest.raises(EverydonorError):
        parse_case(data, today=TODAY)
