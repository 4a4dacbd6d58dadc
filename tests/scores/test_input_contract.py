"""The input contract every score keeps (clinical-scores.md; scores/base.py docstring):

- a missing key and ``null`` are one input; a finding (bool, or an enum with an absent value)
  that is not given is absent — the answer is the same omitted, null or false — and no score
  crashes on a missing or null input;
- enumerated values match whatever their case, surrounding whitespace and separators, and by
  their documented synonyms; the answer echoes the canonical value; an unknown value is refused
  listing the accepted values and naming the closest one; an ambiguous one names what it may
  mean.

Every test is parametrised over the catalogue, so a new score or field is covered when it is
added (``BASELINES`` must then name an input for a new score).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from everydonor.errors import InputError
from everydonor.scores.base import Field, Score, check_vocabulary, enum_key, validate
from everydonor.scores.catalogue import SCORES, compute_score

README = Path(__file__).resolve().parents[2] / "README.md"

#: One computable, non-trivial input per score: the contract is checked around it.
BASELINES: dict[str, dict[str, Any]] = {
    "magic_agvhd_skin_stage": {"rash_bsa_pct": 60},
    "magic_agvhd_liver_stage": {"total_bilirubin_mg_dl": 2.5},
    "magic_agvhd_lower_gi_stage": {"stool_ml_per_day": 800, "weight_kg": 70},
    "magic_agvhd_grade": {"skin_stage": 2, "lower_gi_stage": 1},
    "keystone_glucksberg_agvhd_grade": {"skin_stage": 3, "gut_stage": 2},
    "ibmtr_agvhd_severity_index": {"skin_stage": 1, "liver_stage": 1},
    "nih2014_cgvhd_skin_score": {"bsa_pct_involved": 20},
    "nih2014_cgvhd_lung_score": {"fev1_pct_predicted": 55},
    "nih2014_cgvhd_liver_score": {"total_bilirubin_mg_dl": 0.8, "bilirubin_uln_mg_dl": 1.2,
                                  "alt_x_uln": 3.5},
    "nih2014_cgvhd_global_severity": {"organ_scores": {"skin": 1, "mouth": 2}},
    "hct_ci": {"arrhythmia": True, "diabetes": True},
    "hct_ci_item_pulmonary": {"dlco_pct": 70},
    "hct_ci_item_hepatic": {"bilirubin_x_uln": 1.2},
    "hct_ci_item_renal": {"creatinine_mg_dl": 2.5},
    "hct_ci_item_cardiac": {"ejection_fraction_pct": 45},
    "hct_ci_item_obesity": {"bmi": 36},
    "hct_ci_age": {"hct_ci": 2, "age_years": 45},
    "refined_dri_stage": {"disease": "AML", "status_at_hct": "CR1"},
    "refined_dri": {"disease_group": "CLL", "stage_risk": "high"},
    "ebmt_risk_score": {"age": 45, "stage": "intermediate", "months_dx_to_tx": 14,
                        "donor": "unrelated", "donor_female": True, "recipient_male": True},
    "karnofsky": {"kps": 80},
    "lansky": {"lps": 60},
    "performance_scale_selection": {"age_years": 12},
    "neutrophil_engraftment_day": {"anc_by_day_x10e9_per_l": [[1, 0.1], [10, 0.6], [11, 0.7],
                                                              [12, 0.8]]},
    "platelet_engraftment_day": {"platelets_by_day_x10e9_per_l": [[1, 5], [10, 25], [11, 30],
                                                                  [12, 35]],
                                 "platelet_transfusion_days": [2]},
    "primary_graft_failure": {"anc_recovery_day": 20, "assessed_through_day": 40,
                              "graft_source": "cord_blood"},
    "donor_chimerism_category": {"donor_pct": 80},
    "cmv_classification": {"plasma_cmv_dna_detected": True, "prior_infection": True,
                           "weeks_undetectable_under_surveillance": 5},
    "relapse_nrm_coding": {"relapse_day": 100, "last_followup_day": 400},
    "lfs_os_coding": {"death_day": 200, "last_followup_day": 400},
    "grfs_event": {"agvhd": [{"day": 30, "grade": "III"}], "last_followup_day": 400},
}


def outcome(name: str, data: Mapping[str, Any]) -> Any:
    """The answer, or the refusal as (field, message): anything else escapes and fails."""
    try:
        return compute_score(name, dict(data))
    except InputError as err:
        return ("refused", err.field, err.message)


def _findings() -> list[tuple[str, Field, Any]]:
    """(score, field, the value that means "absent") for every finding of every score."""
    out: list[tuple[str, Field, Any]] = []
    for s in SCORES.values():
        for f in s.fields:
            if f.kind == "bool":
                out.append((s.name, f, False))
            elif f.kind == "enum" and f.absent is not None:
                out.append((s.name, f, f.absent))
    return out


def _vocabularies() -> list[tuple[Score, str, tuple[str, ...], Mapping[str, str],
                                  Mapping[str, tuple[str, ...]]]]:
    """Every enumerated input of every score: fields and text-valued parameters."""
    out: list[tuple[Score, str, tuple[str, ...], Mapping[str, str],
                    Mapping[str, tuple[str, ...]]]] = []
    for s in SCORES.values():
        out += [(s, f.name, f.choices, f.synonyms, f.ambiguous) for f in s.fields
                if f.kind == "enum"]
        out += [(s, k, tuple(a), {}, {}) for k, (_, a) in s.parameters.items()
                if all(isinstance(x, str) for x in a)]
    return out


FINDINGS = _findings()
VOCABULARIES = _vocabularies()
_vid = [f"{s.name}.{name}" for s, name, *_ in VOCABULARIES]
CHOICES = [(s, name, c) for s, name, choices, *_ in VOCABULARIES for c in choices]
SYNONYMS = [(s, name, syn, c) for s, name, _, synonyms, _ in VOCABULARIES
            for syn, c in synonyms.items()]
AMBIGUOUS = [(s, name, spelling, targets) for s, name, _, _, amb in VOCABULARIES
             for spelling, targets in amb.items()]


def test_every_score_has_a_baseline_that_computes() -> None:
    assert set(BASELINES) == set(SCORES)
    assert len(SCORES) == 31
    for name, data in BASELINES.items():
        assert not isinstance(outcome(name, data), tuple), name


def test_the_catalogue_has_the_findings_and_enumerations_this_file_checks() -> None:
    # guards the parametrisation below against silently checking nothing
    assert len(FINDINGS) == 17 + 2 + 3 + 2 + 1 + 1  # hct_ci, MAGIC, EBMT, CMV, NIH skin, CMV enum
    assert {f"{s}.{f.name}" for s, f, _ in FINDINGS} >= {
        "cmv_classification.end_organ_findings", "nih2014_cgvhd_skin_score.sclerotic_features",
        "ebmt_risk_score.donor_female", "magic_agvhd_skin_stage."
        "bullae_and_desquamation_gt5pct_bsa"}
    assert set(_vid) >= {"primary_graft_failure.graft_source", "refined_dri_stage.disease",
                         "refined_dri_stage.status_at_hct", "refined_dri.disease_group",
                         "ebmt_risk_score.donor", "keystone_glucksberg_agvhd_grade.gut4_grade"}


# Missing or null ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SCORES))
def test_every_field_omitted_equals_null(name: str) -> None:
    base = BASELINES[name]
    for f in SCORES[name].fields:
        omitted = {k: v for k, v in base.items() if k != f.name}
        assert outcome(name, omitted) == outcome(name, {**omitted, f.name: None}), f.name
    nulls = {f.name: None for f in SCORES[name].fields}
    assert outcome(name, {}) == outcome(name, nulls)


@pytest.mark.parametrize(("name", "f", "absent"), FINDINGS,
                         ids=[f"{s}.{f.name}" for s, f, _ in FINDINGS])
def test_a_finding_not_given_is_absent(name: str, f: Field, absent: Any) -> None:
    base = {k: v for k, v in BASELINES[name].items() if k != f.name}
    omitted = outcome(name, base)
    assert not isinstance(omitted, tuple), omitted
    assert omitted == outcome(name, {**base, f.name: None})
    assert omitted == outcome(name, {**base, f.name: absent})
    assert f.name not in omitted["inputs"]  # an absent finding is not echoed as given
    nulls = {k for k, v in omitted.items() if v is None}
    assert nulls <= _MAY_BE_UNKNOWN.get(name, set()), nulls


#: Answers that may be null for a reason other than a finding: an unknown measurement (CMV
#: refractoriness needs the loads and the days on antiviral therapy).
_MAY_BE_UNKNOWN = {"cmv_classification": {"refractory"}}


@pytest.mark.parametrize("data", [
    {}, {"end_organ_findings": None}, {"end_organ_findings": "none"},
    {"end_organ_findings": " NONE "}, {"plasma_cmv_dna_detected": True},
    {"plasma_cmv_dna_detected": None, "prior_infection": None}])
def test_cmv_disease_is_false_when_no_end_organ_disease(data: dict[str, Any]) -> None:
    out = compute_score("cmv_classification", data)
    assert out["cmv_disease"] is False
    assert out["cmv_infection"] is bool(data.get("plasma_cmv_dna_detected"))
    assert out["cmv_dnaemia"] is bool(data.get("plasma_cmv_dna_detected"))
    assert out["recurrent_infection"] is False


@pytest.mark.parametrize("grade", ["probable", "proven", "Proven"])
def test_cmv_disease_names_the_grade_when_present(grade: str) -> None:
    out = compute_score("cmv_classification", {"end_organ_findings": grade})
    assert out["cmv_disease"] == grade.lower() and out["cmv_infection"] is True
    assert out["inputs"] == {"end_organ_findings": grade.lower()}


@pytest.mark.parametrize("data", [{}, {"organ_scores": None}, {"organ_scores": {}}])
def test_nih_global_without_organ_scores_is_none_and_does_not_crash(
        data: dict[str, Any]) -> None:
    out = compute_score("nih2014_cgvhd_global_severity", data)
    assert (out["global_severity"], out["involved_organs"], out["excluded_organs"]) == (
        "none", [], [])


def test_nih_global_organ_left_out_is_not_involved_null_is_excluded() -> None:
    out = compute_score("nih2014_cgvhd_global_severity",
                        {"organ_scores": {"skin": 1, "eyes": None}})
    assert out["global_severity"] == "mild"
    assert out["excluded_organs"] == ["eyes"]  # not the six organs that were left out
    assert out["involved_organs"] == ["skin"]


_value = st.one_of(st.none(), st.booleans(), st.integers(-5, 500), st.floats(-1, 200),
                   st.sampled_from(["", "none", "x", "CR1", "PB"]), st.just([]),
                   st.just([[1, 0.2]]), st.just({}))


@given(st.sampled_from(sorted(SCORES)), st.data())
def test_no_input_crashes_a_score(name: str, data: st.DataObject) -> None:
    """Whatever subset of keys is given, null or wrong: an answer or an InputError."""
    keys = [f.name for f in SCORES[name].fields] + list(SCORES[name].parameters)
    chosen = data.draw(st.lists(st.sampled_from(keys), unique=True))
    source = data.draw(st.sampled_from(["baseline", "null", "random"]))
    doc = {k: (BASELINES[name].get(k) if source == "baseline" else None if source == "null"
               else data.draw(_value)) for k in chosen}
    outcome(name, doc)


# Enumerations -----------------------------------------------------------------------------------

def _variants(canonical: str) -> list[str]:
    out = {canonical.upper(), canonical.lower(), canonical.swapcase(), canonical.title(),
           f"  {canonical}\t", canonical.replace("_", " "), canonical.replace("_", "-"),
           canonical.replace("_", " - ")}
    return sorted(out)


@pytest.mark.parametrize(("score", "name", "canonical"), CHOICES,
                         ids=[f"{s.name}.{n}={c}" for s, n, c in CHOICES])
def test_canonical_values_in_any_case_and_spacing(score: Score, name: str,
                                                  canonical: str) -> None:
    for variant in _variants(canonical):
        assert validate(score, {name: variant})[name] == canonical, variant


@pytest.mark.parametrize(("score", "name", "synonym", "canonical"), SYNONYMS,
                         ids=[f"{s.name}.{n}={syn}" for s, n, syn, _ in SYNONYMS])
def test_each_synonym_maps_to_its_canonical_value(score: Score, name: str, synonym: str,
                                                  canonical: str) -> None:
    for variant in (synonym, synonym.upper(), synonym.lower(), f" {synonym} "):
        assert validate(score, {name: variant})[name] == canonical, variant


@pytest.mark.parametrize(("score", "name", "spelling", "targets"), AMBIGUOUS,
                         ids=[f"{s.name}.{n}={a}" for s, n, a, _ in AMBIGUOUS])
def test_ambiguous_spellings_are_refused_naming_the_candidates(
        score: Score, name: str, spelling: str, targets: tuple[str, ...]) -> None:
    with pytest.raises(InputError) as err:
        validate(score, {name: spelling.upper()})
    assert err.value.field == name and "ambiguous" in err.value.message
    for target in targets:
        assert target in err.value.message


def _typo(text: str) -> str:
    return text + "q"  # no accepted spelling ends in q


@pytest.mark.parametrize(("score", "name", "spelling", "canonical"),
                         [(s, n, c, c) for s, n, c in CHOICES] + SYNONYMS,
                         ids=[f"{s.name}.{n}={c}" for s, n, c in CHOICES]
                         + [f"{s.name}.{n}={syn}" for s, n, syn, _ in SYNONYMS])
def test_an_unknown_value_is_refused_listing_values_and_the_closest(
        score: Score, name: str, spelling: str, canonical: str) -> None:
    typo = _typo(spelling)
    with pytest.raises(InputError) as err:
        validate(score, {name: typo})
    assert err.value.field == name and err.value.value == repr(typo)
    message = err.value.message
    assert f"{typo!r} is not one of " in message
    vocabulary = next(v for v in VOCABULARIES if v[0] is score and v[1] == name)
    for accepted in (*vocabulary[2], *vocabulary[3]):
        assert accepted in message
    closest = re.search(r"closest: (.+?)(?: \(([^()]+)\))?$", message)
    assert closest is not None, message
    assert validate(score, {name: closest.group(1)})[name] == canonical
    if closest.group(2):  # a synonym is shown with the value it stands for
        assert closest.group(2) == canonical


def test_the_example_in_the_issue() -> None:
    with pytest.raises(InputError) as err:
        compute_score("primary_graft_failure", {"graft_source": "PBCS"})
    assert err.value.field == "graft_source"
    assert ("'PBCS' is not one of peripheral_blood, bone_marrow, cord_blood (synonyms: PBSC, "
            "PB, ") in err.value.message
    assert err.value.message.endswith("closest: PBSC (peripheral_blood)")
    assert "field 'graft_source'" in str(err.value)


@pytest.mark.parametrize("value", [3, True, ["PB"], {"PB": 1}])
def test_an_enumerated_value_must_be_text(value: Any) -> None:
    with pytest.raises(InputError) as err:
        compute_score("primary_graft_failure", {"graft_source": value})
    assert err.value.field == "graft_source" and "peripheral_blood" in err.value.message


@pytest.mark.parametrize("value", ["", "   ", "xyz", "G-BM"])
def test_blank_or_unmapped_text_is_refused_not_guessed(value: str) -> None:
    with pytest.raises(InputError) as err:
        compute_score("primary_graft_failure", {"graft_source": value})
    assert err.value.field == "graft_source"


@pytest.mark.parametrize(("source", "canonical", "window"), [
    ("PBSC", "peripheral_blood", 30), ("pb", "peripheral_blood", 30),
    ("Peripheral Blood", "peripheral_blood", 30), ("BM", "bone_marrow", 30),
    ("bone marrow", "bone_marrow", 30), ("CB", "cord_blood", 42),
    ("cord blood", "cord_blood", 42), ("Cord-Blood", "cord_blood", 42)])
def test_graft_source_synonyms_choose_the_window_and_echo_the_canonical_value(
        source: str, canonical: str, window: int) -> None:
    out = compute_score("primary_graft_failure", {"graft_source": source,
                                                  "assessed_through_day": 35})
    assert out["window_day"] == window
    assert out["primary_graft_failure"] is (None if window == 42 else True)
    assert out["inputs"]["graft_source"] == canonical


@pytest.mark.parametrize(("disease", "status", "blasts", "stage", "echo"), [
    ("cml", "CP", None, "low", ("CML", "chronic_phase")),
    ("CML", "blast crisis", None, "high", ("CML", "blast_phase")),
    ("mds", None, 3, "low", ("MDS", None)),
    ("Hodgkin lymphoma", "CR3", None, "low", ("hodgkin_lymphoma", "CR3+")),
    ("multiple myeloma", "PD", None, "high", ("multiple_myeloma", "progressive_disease")),
    ("T-cell lymphoma, extranodal", "refractory", None, "high",
     ("t_cell_nhl_extranodal", "refractory")),
    ("Acute Myeloid Leukaemia", "PIF", None, "high", ("AML", "primary_induction_failure")),
    ("mantle cell lymphoma", "partial remission", None, "low", ("mantle_cell_lymphoma", "PR"))])
def test_refined_dri_stage_reads_disease_names_as_written(
        disease: str, status: str | None, blasts: float | None, stage: str,
        echo: tuple[str, str | None]) -> None:
    out = compute_score("refined_dri_stage", {"disease": disease, "status_at_hct": status,
                                              "marrow_blasts_pct_at_hct": blasts})
    assert out["stage_risk"] == stage
    assert (out["inputs"]["disease"], out["inputs"].get("status_at_hct")) == echo


@pytest.mark.parametrize(("group", "stage", "dri"), [
    ("indolent B-cell NHL", "low", "low"), ("follicular lymphoma", "high", "intermediate"),
    ("T-cell lymphoma, nodal", "low", "intermediate"), ("AITL", "high", "high"),
    ("extranodal T-cell NHL", "low", "high"), ("Chronic Lymphocytic Leukemia", "low", "low"),
    ("DLBCL/transformed indolent B-cell NHL", "low", "intermediate"), ("MPN", "LOW", "intermediate"),
    ("Non-Malignant", None, "N/A - non-malignant indication")])
def test_refined_dri_reads_disease_names_as_written(group: str, stage: str | None,
                                                     dri: str) -> None:
    assert compute_score("refined_dri", {"disease_group": group, "stage_risk": stage})[
        "dri"] == dri


@pytest.mark.parametrize(("donor", "points"), [
    ("MSD", 0), ("HLA-identical sibling", 0), ("identical twin", 0), ("MUD", 1), ("haplo", 1),
    ("Haploidentical", 1), ("MMUD", 1)])
def test_ebmt_donor_synonyms(donor: str, points: int) -> None:
    out = compute_score("ebmt_risk_score", {"age": 30, "stage": "Early", "months_dx_to_tx": 6,
                                            "donor": donor})
    assert out["points"]["donor"] == points
    assert out["inputs"]["stage"] == "early"


def test_text_parameters_and_event_grades_match_in_any_case() -> None:
    out = compute_score("keystone_glucksberg_agvhd_grade", {"gut_stage": 4, "gut4_grade": "iv"})
    assert out["grade"] == "IV" and out["inputs"]["gut4_grade"] == "IV"
    assert compute_score("hct_ci", {"variant": "CIBMTR form"})["variant"] == "cibmtr_form"
    out = compute_score("grfs_event", {"agvhd": [{"day": 40, "grade": "iii"}],
                                       "last_followup_day": 400})
    assert (out["first_event"], out["time_days"]) == ("agvhd_grade_III_or_worse", 40)
    with pytest.raises(InputError) as err:
        compute_score("grfs_event", {"agvhd": [{"day": 40, "grade": "V"}],
                                     "last_followup_day": 400})
    assert err.value.field == "agvhd.grade"
    assert "'V' is not one of 0, I, II, III, IV" in err.value.message
    with pytest.raises(InputError) as err:
        compute_score("keystone_glucksberg_agvhd_grade", {"gut4_grade": "IIII"})
    assert err.value.message.endswith("closest: III")


@pytest.mark.parametrize(("name", "parameter", "value"), [
    ("ebmt_risk_score", "cr1_time_rule", 1), ("platelet_engraftment_day", "threshold", True),
    ("platelet_engraftment_day", "threshold", "20")])
def test_non_text_parameters_keep_their_type(name: str, parameter: str, value: Any) -> None:
    with pytest.raises(InputError) as err:
        validate(SCORES[name], {parameter: value})
    assert err.value.field == parameter


def test_the_answer_echoes_every_parameter_including_defaults() -> None:
    out = compute_score("ebmt_risk_score", {"age": 50, "stage": "early", "months_dx_to_tx": 24,
                                            "in_cr1": True, "donor": "unrelated",
                                            "cr1_time_rule": False})
    assert out["inputs"]["cr1_time_rule"] is False and out["score"] == 4
    assert compute_score("keystone_glucksberg_agvhd_grade", {})["inputs"] == {"gut4_grade": "III"}


# The tables themselves ------------------------------------------------------------------------

@pytest.mark.parametrize(("score", "name", "choices", "synonyms", "ambiguous"), VOCABULARIES,
                         ids=_vid)
def test_vocabularies_are_unambiguous_and_documented(
        score: Score, name: str, choices: tuple[str, ...], synonyms: Mapping[str, str],
        ambiguous: Mapping[str, tuple[str, ...]]) -> None:
    keys = [enum_key(x) for x in (*choices, *synonyms, *ambiguous)]
    assert len(keys) == len(set(keys))
    if name in {f.name for f in score.fields}:
        described = next(f for f in score.describe()["fields"] if f["name"] == name)
        assert described["choices"] == list(choices)
        assert described["synonyms"] == dict(synonyms)
        assert described.get("ambiguous", {}) == {k: list(v) for k, v in ambiguous.items()}
    readme = README.read_text(encoding="utf-8")
    for spelling in (*synonyms, *ambiguous):
        assert f"`{spelling}`" in readme, spelling


@pytest.mark.parametrize(("synonyms", "ambiguous"), [
    ({"bone marrow": "bone_marrow"}, {}),  # merely respells a choice
    ({"PB": "peripheral_blood", "p-b": "peripheral_blood"}, {}),  # two spellings compare equal
    ({"BM": "marrow"}, {}),  # names no choice
    ({}, {"PB": ("peripheral_blood",)}),  # ambiguous between fewer than two
    ({"PB": "peripheral_blood"}, {"pb": ("peripheral_blood", "bone_marrow")})])
def test_a_bad_table_is_refused_when_the_score_is_defined(
        synonyms: dict[str, str], ambiguous: dict[str, tuple[str, ...]]) -> None:
    with pytest.raises(ValueError, match="graft_source"):
        check_vocabulary("graft_source", ("peripheral_blood", "bone_marrow"), synonyms,
                         ambiguous)
    with pytest.raises(ValueError):
        Field("graft_source", "enum", choices=("peripheral_blood", "bone_marrow"),
              synonyms=synonyms, ambiguous=ambiguous)


def test_the_listing_describes_fields_and_how_missing_reads() -> None:
    described = {f["name"]: f for f in SCORES["cmv_classification"].describe()["fields"]}
    assert described["plasma_cmv_dna_detected"]["missing_or_null"] is False
    assert described["end_organ_findings"]["missing_or_null"] == "none"
    assert "missing_or_null" not in described["viral_load_log10_now"]
