"""The named rule sets: the built-in ones and a centre's own, by name.

:func:`get_rule_set` answers a name (``beijing``, ``beijing@csh2018``, ``baltimore``, ``ebmt`` and
their versioned aliases); a centre adds its own as a module (build a
:class:`~everydonor.selection.rules.RuleSet`, call :func:`register_rule_set`) or as a mapping
(YAML/JSON, read by the command line) given to :func:`rule_set_from_mapping`, which starts from a
named base set. The rule-set modules are data and import only :mod:`.rules`; this module imports
them, so there is no import circle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from everydonor.errors import InputError
from everydonor.selection.baltimore import BALTIMORE_PTCY
from everydonor.selection.beijing import BEIJING_CSH2018, BEIJING_CSH2021
from everydonor.selection.criteria import COMPARISONS
from everydonor.selection.ebmt import EBMT_2020
from everydonor.selection.rules import DonorType, RuleSet

_REGISTRY: dict[str, RuleSet] = {}


def register_rule_set(rules: RuleSet, *aliases: str) -> RuleSet:
    """Make a rule set available by name (and aliases) to :func:`get_rule_set`."""
    for c in rules.criteria:
        if c.compare not in COMPARISONS:
            raise InputError(f"rule set {rules.name}: criterion {c.id!r} names an unknown "
                             f"comparison {c.compare!r}", field="criteria", value=c.compare)
    for name in (rules.name, *aliases):
        _REGISTRY[name] = rules
    return rules


def rule_set_names() -> list[str]:
    return sorted(_REGISTRY)


def get_rule_set(name: str) -> RuleSet:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown rule set {name!r}; known: {', '.join(sorted(_REGISTRY))}",
                         field="--rules", value=name) from None


_OVERRIDABLE = {"name", "version", "base", "parameters", "criteria", "hierarchy", "summary",
                "notes", "centre", "center", "verified_by", "verified_on"}


def rule_set_from_mapping(data: Any) -> RuleSet:
    """A centre's rule set: a named base with overrides.

    ``{"name": "pumch-2026", "version": "1", "base": "beijing",
    "parameters": {"dsa_exclude_mfi": 5000}, "criteria": ["dsa", "donor_age_band", ...],
    "hierarchy": ["matched_sibling", ...]}``. ``criteria`` lists criterion ids of the base in
    the centre's order (a criterion left out is not applied; one not in the base is refused).
    """
    if data is None:
        raise InputError("the rule-set file is empty (expected name, version, base, …)",
                         field="rules")
    if not isinstance(data, Mapping):
        raise InputError("a rule-set file must hold one object (name, version, base, …), got "
                         f"a {type(data).__name__}", field="rules")
    unknown = sorted(set(data) - _OVERRIDABLE)
    if unknown:
        raise InputError(f"rule-set file: unknown field(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join(sorted(_OVERRIDABLE))}", field=unknown[0], value=unknown[0])
    for required in ("name", "version", "base"):
        if not isinstance(data.get(required), str | int) or str(data[required]).strip() == "":
            raise InputError(f"rule-set file: {required} is required", field=required,
                             value=repr(data.get(required)))
    base = get_rule_set(str(data["base"]))
    params = base.parameters
    raw_params = data.get("parameters") or {}
    if not isinstance(raw_params, Mapping):
        raise InputError("parameters must be an object", field="parameters",
                         value=repr(raw_params))
    known = set(params.to_dict())
    for key, value in raw_params.items():
        if key not in known:
            raise InputError(f"unknown parameter {key!r}; known: {', '.join(sorted(known))}",
                             field=f"parameters.{key}", value=repr(value))
        if key == "matched_unrelated_loci":
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise InputError("matched_unrelated_loci must be a list of loci",
                                 field=f"parameters.{key}", value=repr(value))
            value = tuple(str(v) for v in value)
        elif key == "dsa_c1q_escalates":
            if not isinstance(value, bool):
                raise InputError(f"{key} must be true or false", field=f"parameters.{key}",
                                 value=repr(value))
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                    or value < 0):
            raise InputError(f"{key} must be a number >= 0 or null", field=f"parameters.{key}",
                             value=repr(value))
        elif value is not None:
            value = float(value)
        if key == "dsa_exclude_mfi" and value is None:
            raise InputError("dsa_exclude_mfi cannot be null", field=f"parameters.{key}",
                             value="null")
        params = replace(params, **{key: value})
    criteria = base.criteria
    if data.get("criteria") is not None:
        ids = data["criteria"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InputError("criteria must be a list of criterion ids", field="criteria",
                             value=repr(ids))
        by_id = {c.id: c for c in base.criteria}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise InputError(f"criterion {missing[0]!r} is not in base rule set {base.name} "
                             f"({', '.join(by_id)})", field="criteria", value=missing[0])
        criteria = tuple(by_id[i] for i in ids)
    hierarchy = base.hierarchy
    if data.get("hierarchy") is not None:
        try:
            hierarchy = tuple(DonorType(t) for t in data["hierarchy"])
        except (ValueError, TypeError):
            raise InputError("hierarchy must list donor types: "
                             + ", ".join(t.value for t in DonorType), field="hierarchy",
                             value=repr(data["hierarchy"])) from None
        if set(hierarchy) != set(DonorType) or len(hierarchy) != len(DonorType):
            raise InputError("hierarchy must list every donor type exactly once",
                             field="hierarchy", value=repr(data["hierarchy"]))
    overrides = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()
                 if k not in ("name", "version", "base")}
    notes = tuple(str(n) for n in data.get("notes") or ())
    return RuleSet(
        name=str(data["name"]), version=str(data["version"]), platform=base.platform,
        guideline=base.guideline, summary=str(data.get("summary") or base.summary),
        hierarchy=hierarchy, hierarchy_citation=base.hierarchy_citation,
        hierarchy_confidence=base.hierarchy_confidence, criteria=criteria, parameters=params,
        parameter_sources=base.parameter_sources, references=base.references, reads=base.reads,
        haplo_over_sibling=base.haplo_over_sibling, notes=(*base.notes, *notes),
        derived_from=f"{base.name}@{base.version}", overrides=overrides,
        verified_by=_text_or_none(data, "verified_by"),
        verified_on=_text_or_none(data, "verified_on"),
        hierarchy_references=base.hierarchy_references)


def _text_or_none(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int) and not hasattr(value, "isoformat"):
        raise InputError(f"{key} must be text", field=key, value=repr(value))
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


#: the built-in rule sets with their aliases
BUILTIN_RULE_SETS: tuple[tuple[RuleSet, tuple[str, ...]], ...] = (
    (BEIJING_CSH2021, ("beijing@csh2021",)),
    (BEIJING_CSH2018, ()),
    (BALTIMORE_PTCY, ("baltimore@jhu-ptcy",)),
    (EBMT_2020, ("ebmt@2020",)),
)
for _rules, _aliases in BUILTIN_RULE_SETS:
    register_rule_set(_rules, *_aliases)
