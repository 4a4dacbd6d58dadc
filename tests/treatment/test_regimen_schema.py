"""Regimen files: the bundled ones load; a broken file is refused naming regimen, line, field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from everydonor.adapters.inputs.regimens import bundled_regimens, load_regimen, regimen_dir
from everydonor.errors import InputError
from everydonor.treatment.regimen import Basis, regimen_from_mapping

MAC = yaml.safe_load((regimen_dir() / "beijing-mac-malignancy.yaml").read_text("utf-8"))


def test_bundled_regimens_load_with_citations_on_every_line() -> None:
    regimens = {r.id: r for r in bundled_regimens()}
    assert {"beijing-mac-malignancy", "beijing-saa", "beijing-ric-elderly"} <= set(regimens)
    for r in regimens.values():
        assert r.references
        for line in (*r.lines, *r.donor_lines):
            assert line.citation and line.confidence in ("S", "S-part", "M")
    mac = regimens["beijing-mac-malignancy"]
    assert [ln.drug for ln in mac.lines][:5] == ["cytarabine", "busulfan", "cyclophosphamide",
                                                 "semustine", "antithymocyte_globulin"]
    atg = next(ln for ln in mac.lines if ln.id == "antithymocyte_globulin")
    assert atg.dose == 2.5 and atg.days == (-5, -4, -3, -2) and atg.basis is Basis.PER_KG
    assert set(mac.options["atg_total_mg_per_kg"].choices) == {"10", "7.5"}
    assert mac.options["atg_total_mg_per_kg"].default == "10"
    assert regimens["beijing-ric-elderly"].summary()["unset_doses"] == [
        "fludarabine", "busulfan", "cyclophosphamide"]
    with pytest.raises(InputError, match="unknown regimen 'beijing-xyz'"):
        load_regimen("beijing-xyz")


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(MAC)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value", "field"), [
    (["format"], "everydonor.regimen/0", "format"),
    (["references"], [], "references"),
    (["lines", 0, "citation"], KeyError, "lines[cytarabine].citation"),
    (["lines", 0, "basis"], "per_lb", "lines[cytarabine].basis"),
    (["lines", 0, "dose"], -4, "lines[cytarabine].dose"),
    (["lines", 0, "dose"], "4 g", "lines[cytarabine].dose"),
    (["lines", 0, "days"], [-9, -10], "lines[cytarabine].days"),
    (["lines", 0, "days"], [-10, -10], "lines[cytarabine].days"),
    (["lines", 0, "route"], "IT", "lines[cytarabine].route"),
    (["lines", 0, "confidence"], "probably", "lines[cytarabine].confidence"),
    (["lines", 0, "colour"], "red", "lines[0].colour"),
    (["lines", 1, "weight"], "adjusted", "lines[busulfan].adjusted_factor"),
    (["lines", 5, "continuous"], {"from": 100, "to": -9}, "lines[ciclosporin].continuous"),
    (["lines", 2, "output_unit"], "MIU", "lines[cyclophosphamide].output_unit"),
    (["options", "atg_total_mg_per_kg", "default"], "12", "options.atg_total_mg_per_kg.default"),
    (["options", "atg_total_mg_per_kg", "choices", "10", "line"], "atg",
     "options.atg_total_mg_per_kg.choices.10.line"),
    (["monitoring", 0, "days"], None, "monitoring[0].days"),
    (["graft_targets", 0, "low"], "6e8", "graft_targets[0].low"),
])
def test_broken_regimen_is_refused_naming_the_field(path: list[Any], value: Any,
                                                     field: str) -> None:
    with pytest.raises(InputError) as err:
        regimen_from_mapping(_broken(path, value))
    assert err.value.field == field, str(err.value)
    assert "beijing-mac-malignancy" in str(err.value)


def test_duplicate_line_ids_are_refused() -> None:
    data = copy.deepcopy(MAC)
    data["lines"].append(copy.deepcopy(data["lines"][0]))
    with pytest.raises(InputError, match="line ids must be unique"):
        regimen_from_mapping(data)
