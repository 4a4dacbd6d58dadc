"""Follow-up event types and the payload each may hold (checked before anything is written).

An event is (type, date, payload). Each type lists its fields; any other key is refused unless
it starts with ``x_`` (a centre extension, kept verbatim). Grades are never typed by hand: an
acute-GVHD event holds organ stages, a chronic-GVHD event organ scores, and grades come from
``registry score`` (``everydonor.scores``), stored with the score's name, criteria version and
inputs. ``mrd`` and ``case_status`` events also come from a case file's ``follow_up`` (kept as
written, since the case format validates them where they are read).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from everydonor.errors import InputError

Check = Callable[[Any], str | None]


def _choice(*values: str) -> Check:
    return lambda v: None if v in values else f"one of: {', '.join(values)}"


def _number(lo: float | None = None, hi: float | None = None) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return "a number"
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return f"a number from {lo:g} to {hi:g}" if hi is not None else f"a number >= {lo:g}"
        return None
    return check


def _stage(hi: int) -> Check:
    return lambda v: (None if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= hi
                      else f"a whole stage from 0 to {hi}")


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "text"


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _date(v: Any) -> str | None:
    if isinstance(v, dt.date):
        return None
    try:
        dt.date.fromisoformat(str(v))
    except ValueError:
        return "an ISO date (YYYY-MM-DD)"
    return None


def _scores(v: Any) -> str | None:
    if not isinstance(v, Mapping) or not all(
            isinstance(k, str) and isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 3
            for k, s in v.items()):
        return "a mapping of organ to NIH score 0-3"
    return None


def _mapping(v: Any) -> str | None:
    return None if isinstance(v, Mapping) else "a mapping"


_POSITIVE = _choice("positive", "negative")

#: Each registry event type → {field: check}; ``required`` fields listed apart.
EVENT_TYPES: dict[str, dict[str, Check]] = {
    "engraftment": {"anc_500_date": _date, "platelet_20_date": _date,
                    "graft_failure": _choice("none", "primary", "secondary"),
                    "poor_graft_function": _flag},
    "agvhd": {"skin_stage": _stage(4), "liver_stage": _stage(4), "upper_gi_stage": _stage(1),
              "lower_gi_stage": _stage(4), "steroid_refractory": _flag, "treatment": _text,
              "late_onset": _flag},
    "cgvhd": {"organ_scores": _scores, "classification": _choice("classic", "overlap"),
              "treatment": _text},
    "cmv": {"load_iu_ml": _number(0), "specimen": _text, "pre_emptive_therapy": _text},
    "ebv": {"load_copies_ml": _number(0), "specimen": _text, "pre_emptive_therapy": _text},
    "chimerism": {"donor_pct": _number(0, 100), "method": _text, "lineage": _text},
    "mrd": {"method": _text, "result": _POSITIVE, "value": _number(0), "unit": _text,
            "wt1_pct": _number(0), "flow": _POSITIVE, "fusion": _mapping, "date": _date},
    "relapse": {"relapse_type": _choice("haematologic", "molecular", "extramedullary")},
    "dli": {"dli_type": _choice("prophylactic", "pre_emptive", "therapeutic"),
            "cd3_per_kg": _number(0), "g_csf_mobilised": _flag},
    "intervention": {"name": _text, "detail": _text},
    "death": {"cause": _choice("relapse_progression", "gvhd", "infection", "organ_toxicity",
                               "graft_failure", "other"), "detail": _text},
    "last_contact": {"vital_status": _choice("alive", "dead")},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "engraftment": (), "agvhd": (), "cgvhd": ("organ_scores",), "cmv": ("load_iu_ml",),
    "ebv": ("load_copies_ml",), "chimerism": ("donor_pct",), "mrd": (),
    "relapse": ("relapse_type",), "dli": ("dli_type",), "intervention": ("name",),
    "death": ("cause",), "last_contact": ("vital_status",),
}
#: Types that only the registry itself writes (a score through compute_score; a case's
#: follow_up status through ``registry add``).
RESERVED = ("score", "case_status")


def validate_event(event_type: str, date: Any, payload: Any) -> dt.date:
    """Check a registry follow-up event; return its date. Errors name the field and value."""
    if event_type in RESERVED:
        how = ("`registry score` (computed by everydonor.scores from its inputs, never typed)"
               if event_type == "score" else "`registry add` (the case file's follow_up)")
        raise InputError(f"{event_type} events are written by {how}", field="event_type",
                         value=event_type)
    fields = EVENT_TYPES.get(event_type)
    if fields is None:
        raise InputError(f"unknown follow-up event type (known: {', '.join(EVENT_TYPES)})",
                         field="event_type", value=event_type)
    problem = _date(date) if date is not None else "an ISO date (YYYY-MM-DD)"
    if problem:
        raise InputError(f"the event date must be {problem}", field="date", value=repr(date))
    if not isinstance(payload, Mapping):
        raise InputError("the event payload must be a mapping", field="payload",
                         value=repr(payload))
    for key, value in payload.items():
        if isinstance(key, str) and key.startswith("x_"):
            continue
        check = fields.get(key) if isinstance(key, str) else None
        if check is None:
            raise InputError(f"{key!r} is not a field of a {event_type} event (known: "
                             f"{', '.join(fields)}; centre extensions start with 'x_')",
                             field=f"payload.{key}", value=str(key))
        problem = check(value)
        if problem:
            raise InputError(f"{event_type}.{key} must be {problem}", field=f"payload.{key}",
                             value=repr(value))
    for key in REQUIRED[event_type]:
        if payload.get(key) is None:
            raise InputError(f"a {event_type} event needs {key!r}", field=f"payload.{key}")
    return date if isinstance(date, dt.date) else dt.date.fromisoformat(str(date))
