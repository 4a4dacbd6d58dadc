"""``everydonor outcomes km|cif|cox|finegray --db URL --cohort FILTER --endpoint NAME``: the
estimates on the registry instead of a CSV file.

The rows are the cohort's transplants, each with the endpoint's ``(time, event)`` derived from
the stored follow-up (:mod:`everydonor.adapters.registry.outcomes_data`, by the ``scores``
definitions); the columns ``--group``, ``--strata`` and ``--covariate`` may name are
``donor_type``, ``centre``, ``hct_year``, ``disease``, ``disease_risk``, ``disease_status``,
``sex``, ``age_band`` and ``graft`` (a value the registry does not hold reads ``unknown``, a
level of its own). The JSON adds ``endpoint`` (its definition, citation and cause labels),
``cohort`` and ``excluded {count, reasons, patients}``.

``km`` on an endpoint with competing events (nrm, relapse, GVHD, engraftment) is refused: 1 − KM
treats the competing events as censoring and overestimates the incidence
(``clinical-scores.md`` §7.6: "never report 1 − KM for a cause-specific endpoint"); ``cif``
computes the Aalen-Johansen estimate.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from everydonor.errors import InputError

#: The options only ``--db`` takes, and their attribute names.
_DB_ONLY = (("cohort", "--cohort"), ("endpoint", "--endpoint"), ("horizon", "--horizon"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The registry options of one ``outcomes`` subcommand."""
    from everydonor.outcomes.endpoints import ENDPOINTS

    p.add_argument("--db", metavar="URL", help="take the data from the registry (instead of "
                   "--data): sqlite:///FILE or postgresql://…")
    p.add_argument("--cohort", metavar="FILTER", help="(--db) comma-separated conditions, e.g. "
                   "'centre=BJ,hct_from=2020-01-01,hct_to=2024-12-31,donor_type=haploidentical "
                   "related'; keys: centre, hct_from, hct_to, donor_type, disease, hct "
                   "(first|all), consent (research), source (local|pooled|all; default local: "
                   "pooled = other centres' imported de-identified exports)")
    p.add_argument("--endpoint", metavar="NAME", choices=list(ENDPOINTS),
                   help=f"(--db) one of: {', '.join(ENDPOINTS)}")
    p.add_argument("--horizon", type=int, metavar="DAYS",
                   help="(--db) censor at this day (default: the endpoint's: aGVHD 100, cGVHD "
                        "730, GRFS 365, others all follow-up)")
    p.add_argument("--user", help="(--db) who reads the registry (audited; default: the OS "
                   "login)")
    p.add_argument("--reason", help="(--db) why (audited)")


def check_source(args: argparse.Namespace) -> None:
    """Exactly one of ``--data`` and ``--db``, and each with its own options; with ``--db`` the
    time and event columns are the endpoint's (``time``, ``event``)."""
    if (args.data is None) == (args.db is None):
        raise InputError("give either --data FILE.csv or --db URL (with --cohort and "
                         "--endpoint), not both" if args.data else
                         "give --data FILE.csv, or --db URL --endpoint NAME [--cohort FILTER]",
                         field="--data" if args.data else "--db")
    if args.data is not None:
        for name, option in _DB_ONLY:
            if getattr(args, name, None) is not None:
                raise InputError(f"{option} takes the data from the registry: it needs --db, "
                                 "not --data", field=option, value=str(getattr(args, name)))
        for name, option in (("time", "--time"), ("event", "--event")):
            if getattr(args, name) is None:
                raise InputError(f"--data needs {option} COL", field=option)
        return
    if args.endpoint is None:
        raise InputError("--db needs --endpoint NAME (os, lfs, grfs, nrm, relapse, agvhd_2_4, "
                         "agvhd_3_4, cgvhd, neutrophil, platelet)", field="--endpoint")
    for name, option in (("time", "--time"), ("event", "--event")):
        if getattr(args, name) not in (None, name):
            raise InputError(f"with --db, {option} is the endpoint's (derived from the follow-up"
                             f", never a column to choose): leave {option} out", field=option,
                             value=getattr(args, name))
    args.time, args.event = "time", "event"


@dataclass(frozen=True, slots=True)
class RegistrySource:
    """The endpoint data read for one command, and where it came from."""

    data: Any  # outcomes_data.EndpointData
    cohort: Any  # outcomes_data.Cohort
    where: str

    def columns(self) -> dict[str, list[str]]:
        columns: dict[str, list[str]] = self.data.columns()
        return columns


def load(args: argparse.Namespace) -> RegistrySource:
    """Read the endpoint data (audited), refusing a competing-risk endpoint for ``km``."""
    from everydonor.adapters.registry import outcomes_data as od
    from everydonor.adapters.registry.store import Registry
    from everydonor.outcomes.endpoints import get_endpoint

    spec = get_endpoint(args.endpoint)
    if args.outcomes_command == "km" and spec.competing:
        raise InputError(f"endpoint {spec.name} has competing events "
                         f"({', '.join(v for k, v in spec.cause_labels.items() if k > 1)}): "
                         "1 − Kaplan-Meier would count them as censored and overestimate the "
                         f"incidence (clinical-scores.md §7.6); use `outcomes cif --endpoint "
                         f"{spec.name}`", field="--endpoint", value=spec.name)
    cohort = od.parse_cohort(args.cohort)
    parameters = {} if args.horizon is None else {"horizon_days": args.horizon}
    with Registry(args.db) as reg:
        data = od.endpoint_data(reg, spec.name, cohort, parameters=parameters,
                                actor=args.user, reason=args.reason)
        where = reg.where
    if len(data.time) == 0:
        summary = data.exclusion_summary()
        reasons = "; ".join(f"{n}× {r}" for r, n in summary["reasons"].items()) or "none"
        raise InputError(f"no transplant of the cohort gives the endpoint {spec.name} "
                         f"({summary['count']} excluded: {reasons})", field="--cohort",
                         value=args.cohort or "(all)")
    return RegistrySource(data, cohort, where)


def columns_for(args: argparse.Namespace, source: RegistrySource) -> Any:
    """The :class:`~everydonor.adapters.cli.outcomes.Columns` of the command (group and strata
    checked against the columns the registry offers)."""
    from everydonor.adapters.cli.outcomes import Columns

    table = source.columns()
    for option, column in (("--group", args.group), ("--strata", args.strata),
                           *(("--covariate", c) for c in getattr(args, "covariate", []) or [])):
        if column is not None and column not in table:
            offered = [c for c in table if c not in ("time", "event", "patient")]
            raise InputError(f"no column {column!r} (for {option}) in the registry data; the "
                             f"columns are: {', '.join(offered)}", field=option, value=column)
    return Columns(source.data.time.tolist(), source.data.event.tolist(),
                   table[args.group] if args.group else None,
                   table[args.strata] if args.strata else None)


def covariate_columns(args: argparse.Namespace, source: RegistrySource) -> dict[str, list[str]]:
    """The ``--covariate`` columns (``cox``, ``finegray``) as text, as a CSV's would be: the
    input of ``design_matrix`` (names checked by :func:`columns_for`)."""
    table = source.columns()
    return {c: table[c] for c in getattr(args, "covariate", []) or []}


def annotate(document: dict[str, Any], source: RegistrySource) -> dict[str, Any]:
    """The command's answer with where the rows came from: endpoint (definition, citation,
    cause labels, parameters), cohort, exclusions."""
    from everydonor.outcomes.endpoints import get_endpoint

    spec = get_endpoint(source.data.endpoint)
    described = spec.describe()
    described["parameters_used"] = {k: list(v) if isinstance(v, tuple) else v
                                    for k, v in source.data.parameters.items()}
    described["definition"] = source.data.definition
    out = {"command": document.get("command"), "db": source.where, "endpoint": described,
           "cohort": source.cohort.describe(),
           "excluded": source.data.exclusion_summary(),
           "n_transplants": len(source.data.time)}
    if source.cohort.pooled:  # which rows are this registry's, which the pooled cohort's
        kinds = source.data.extra.get("source") or []
        out["sources"] = {
            "local": kinds.count("local"), "pooled": kinds.count("pooled"),
            "pooled_centres": sorted({c for c, k in zip(source.data.centre, kinds, strict=True)
                                      if k == "pooled"}),
            "note": "pooled = other centres' de-identified exports imported here (registry "
                    "import-pooled); endpoints derived by the same definitions from their "
                    "intervals; only their HCT year is real"}
    out.update({k: v for k, v in document.items() if k not in ("command", "data")})
    out["time_unit"] = "days from day 0 of the transplant (derived from the stored dates)"
    out["event_codes"] = {str(k): v for k, v in {0: "censored",
                                                 **source.data.cause_labels}.items()}
    return out


def render_header(document: dict[str, Any]) -> str:
    """The text format's first lines: endpoint, cohort, exclusions."""
    e, x = document["endpoint"], document["excluded"]
    codes = ", ".join(f"{k} {v}" for k, v in document["event_codes"].items())
    lines = [f"Endpoint {e['name']}: {e['definition']}",
             f"Registry {document['db']}, cohort {document['cohort']['filter'] or '(all)'}: "
             f"{document['n_transplants']} transplants; event codes: {codes}",
             *([f"Sources: {document['sources']['local']} local, "
                f"{document['sources']['pooled']} pooled (centres "
                f"{', '.join(document['sources']['pooled_centres']) or 'none'})"]
               if "sources" in document else []),
             f"Excluded: {x['count']}" + ("" if not x["count"] else " — " + "; ".join(
                 f"{n}× {r}" for r, n in x["reasons"].items()))]
    return "\n".join(lines)
