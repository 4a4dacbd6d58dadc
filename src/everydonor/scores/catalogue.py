"""Every score by name, and :func:`compute_score` — the ``everydonor score`` answer."""

from __future__ import annotations

from typing import Any

from everydonor.errors import InputError
from everydonor.scores import events, gvhd, risk
from everydonor.scores.base import Score, echo, validate

SCORES: dict[str, Score] = {s.name: s for s in (*gvhd.SCORES, *risk.SCORES, *events.SCORES)}


def get_score(name: str) -> Score:
    try:
        return SCORES[name]
    except KeyError:
        raise InputError(f"unknown score {name!r}; see `everydonor score --list`",
                         field="NAME", value=name) from None


def compute_score(name: str, data: Any) -> dict[str, Any]:
    """Validate the input and compute; the answer carries the criteria version and citation,
    and echoes the inputs it used (canonical values; every parameter, defaults included).

    >>> compute_score("magic_agvhd_grade", {"skin_stage": 3})["grade"]
    'II'
    """
    score = get_score(name)
    inputs = validate(score, data)
    result = score.compute(inputs)
    notes = [*result.pop("notes", []), *score.notes]
    # "name" always names the score; "score" does too, unless the score computes a value of
    # that name (HCT-CI, EBMT, the NIH organ scores), which then takes the key, as before.
    return {"name": score.name, "score": score.name, **result, "criteria": score.criteria,
            "citation": score.citation, "confidence": score.confidence, "notes": notes,
            "inputs": echo(score, inputs)}
