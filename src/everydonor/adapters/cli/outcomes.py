"""``everydonor outcomes km|cif|cox|finegray``: survival and competing-risk estimates on a CSV.

Reads the file with the csv module (no pandas), validates every row (the line number, column
and value are named on refusal), calls the pure estimators of :mod:`everydonor.outcomes` and
renders JSON or text. ``cox`` and ``finegray`` are refused (exit 2) until they are built.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import dataclass
from typing import Any

from everydonor import __version__
from everydonor.adapters.cli.common import NOTICE, Parser
from everydonor.adapters.cli.outcomes_gray import GRAY_METHOD, gray_lines, gray_section
from everydonor.errors import InputError

KM_METHOD = {
    "estimator": "Kaplan-Meier (product-limit)",
    "variance": "Greenwood",
    "confidence_interval": "log-log (R survival conf.type=\"log-log\"), 95%",
    "median": "first event time with S(t) <= 0.5; midpoint to the next event time where S(t) "
              "is exactly 0.5 (R quantile.survfit)",
    "at": "the estimate at the last event time at or before t",
    "undefined": "lower/upper null where S is 0 or 1 (R: NA); se null where S is 0",
}
LOGRANK_METHOD = "log-rank test, k groups, stratified when --strata is given (R survival::survdiff, "\
                 "rho = 0)"
CIF_METHOD = {
    "estimator": "Aalen-Johansen cumulative incidence on the data as given (tied times not "
                 "jittered)",
    "variance": {"aalen": "Aalen (1978) as in Pintilie (2006) Eq. 4.5",
                 "delta": "delta method, Dinse & Larson (1986) Eq. 6"},
    "confidence_interval": "log-log on F(t), se(log F) = se/F, 95%",
    "at": "the estimate at the last event time at or before t",
    "undefined": "lower/upper null where F is 0",
}


@dataclass(frozen=True, slots=True)
class Columns:
    time: list[float]
    event: list[int]
    group: list[str] | None
    strata: list[str] | None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_columns(path: str, time: str, event: str, group: str | None,
                 strata: str | None) -> Columns:
    """The named columns of a CSV file, every value checked (line 1 is the header)."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise InputError(f"cannot read {path!r}: {exc.strerror}", field="--data",
                         value=path) from exc
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        for option, column in (("--time", time), ("--event", event), ("--group", group),
                               ("--strata", strata)):
            if column is not None and column not in header:
                raise InputError(f"{path}: no column {column!r} (for {option}); the header has "
                                 f"{', '.join(repr(h) for h in header) or 'no columns'}",
                                 field=option, value=column)
        times: list[float] = []
        events: list[int] = []
        groups: list[str] = []
        stratas: list[str] = []
        for line, row in enumerate(reader, start=2):
            raw_t = (row.get(time) or "").strip()
            t = _number(raw_t)
            if t is None or t < 0:
                raise InputError(f"{path} line {line}, column {time!r}: time must be a number "
                                 f"≥ 0, got {raw_t!r}", field=time, value=raw_t)
            raw_e = (row.get(event) or "").strip()
            if not raw_e.isdigit():
                raise InputError(f"{path} line {line}, column {event!r}: event must be an "
                                 f"integer ≥ 0 (0 = censored, 1…k = causes), got {raw_e!r}",
                                 field=event, value=raw_e)
            times.append(t)
            events.append(int(raw_e))
            for column, into in ((group, groups), (strata, stratas)):
                if column is not None:
                    value = (row.get(column) or "").strip()
                    if not value:
                        raise InputError(f"{path} line {line}, column {column!r}: empty value",
                                         field=column, value=value)
                    into.append(value)
    if not times:
        raise InputError(f"{path}: no data rows", field="--data", value=path)
    return Columns(times, events, groups if group else None, stratas if strata else None)


def parse_at(text: str | None) -> list[float] | None:
    if text is None:
        return None
    values = []
    for part in text.split(","):
        v = _number(part.strip())
        if v is None or v < 0:
            raise InputError(f"--at takes numbers ≥ 0 separated by commas, got {part.strip()!r}",
                             field="--at", value=text)
        values.append(v)
    return values


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def _refuse_options(args: argparse.Namespace, allowed: set[str]) -> None:
    for name, option in (("covariate", "--covariate"), ("reference", "--reference"),
                         ("ties", "--ties"), ("cause", "--cause"), ("variance", "--variance")):
        if getattr(args, name) not in (None, []) and name not in allowed:
            raise InputError(f"{option} does not apply to `outcomes {args.outcomes_command}`",
                             field=option)


def _split(cols: Columns) -> list[tuple[str | None, list[int]]]:
    if cols.group is None:
        return [(None, list(range(len(cols.time))))]
    out: dict[str, list[int]] = {}
    for i, g in enumerate(cols.group):
        out.setdefault(g, []).append(i)
    return [(g, out[g]) for g in sorted(out)]


def _provenance(method: dict[str, Any]) -> dict[str, Any]:
    return {"software": f"everydonor {__version__}", "method": method, "notice": NOTICE}


def km_group(label: str | None, km: Any, at: list[float] | None) -> dict[str, Any]:
    """One group of a ``km`` answer: the estimate at ``at``, or at every event time."""
    times = at if at is not None else km.time[km.n_event > 0].tolist()
    values = km.at(times)
    return {"group": label, "n": km.n, "events": km.events, "median": km.median,
            "at": [{"time": float(values["time"][i]), "survival": _num(values["survival"][i]),
                    "se": _num(values["se"][i]), "lower": _num(values["lower"][i]),
                    "upper": _num(values["upper"][i])} for i in range(len(times))]}


def cif_group(label: str | None, r: Any, cause: int | None,
              at: list[float] | None) -> dict[str, Any]:
    """One group of a ``cif`` answer: each cause (or only ``cause``) at ``at``, or at each of
    its event times."""
    causes = []
    for k in r.causes if cause is None else (cause,):
        times = at if at is not None else r.time[r.n_event[:, k] > 0].tolist()
        values = r.at(k, times)
        causes.append({"cause": k, "events": int(r.n_event[:, k].sum()), "at": [
            {"time": float(values["time"][i]), "cif": _num(values["cif"][i]),
             "se": _num(values["se"][i]), "lower": _num(values["lower"][i]),
             "upper": _num(values["upper"][i])} for i in range(len(times))]})
    return {"group": label, "n": r.n, "causes": causes}


def km_document(args: argparse.Namespace, cols: Columns) -> dict[str, Any]:
    import numpy as np

    from everydonor.outcomes import kaplan_meier, logrank_test

    at = parse_at(args.at)
    time = np.asarray(cols.time)
    event = np.asarray(cols.event)
    groups = []
    for label, idx in _split(cols):
        km = kaplan_meier(time[idx], event[idx])
        groups.append(km_group(label, km, at))
    document: dict[str, Any] = {"command": "km", "data": args.data, "time": args.time,
                                "event": args.event, "group": args.group, "strata": args.strata,
                                "groups": groups}
    method = dict(KM_METHOD)
    if cols.group is not None:
        lr = logrank_test(time, event, np.asarray(cols.group),
                          None if cols.strata is None else np.asarray(cols.strata))
        document["logrank"] = {"statistic": lr.statistic, "df": lr.df, "p": _num(lr.p),
                               "observed": dict(zip(lr.groups, lr.observed.tolist(), strict=True)),
                               "expected": dict(zip(lr.groups, lr.expected.tolist(), strict=True))}
        method["test"] = LOGRANK_METHOD
    document["provenance"] = _provenance(method)
    return document


def cif_document(args: argparse.Namespace, cols: Columns) -> dict[str, Any]:
    import numpy as np

    from everydonor.outcomes import aalen_johansen

    at = parse_at(args.at)
    time = np.asarray(cols.time)
    event = np.asarray(cols.event)
    n_causes = max(*cols.event, 1)
    if args.cause is not None and not 1 <= args.cause <= n_causes:
        raise InputError(f"--cause {args.cause}: the event column has causes 1…{n_causes}",
                         field="--cause", value=str(args.cause))
    variance = args.variance or "aalen"
    groups = []
    for label, idx in _split(cols):
        r = aalen_johansen(time[idx], event[idx], variance=variance, n_causes=n_causes)
        groups.append(cif_group(label, r, args.cause, at))
    method = dict(CIF_METHOD)
    method["variance"] = CIF_METHOD["variance"][variance]  # type: ignore[index]
    document: dict[str, Any] = {"command": "cif", "data": args.data, "time": args.time,
                                "event": args.event, "group": args.group, "strata": args.strata,
                                "variance": variance, "groups": groups}
    if cols.group is not None:
        document["gray"] = gray_section(time, event, cols.group, cols.strata, args.cause)
        method["test"] = GRAY_METHOD
    document["provenance"] = _provenance(method)
    return document


def _fmt(x: float | None, digits: int = 4) -> str:
    return "NA" if x is None else f"{x:.{digits}f}"


def cif_lines(document: dict[str, Any], subject: str) -> list[str]:
    """The cumulative-incidence table of a ``cif`` answer, per group and cause."""
    lines = [f"Cumulative incidence (Aalen-Johansen): {subject} ({document['variance']} "
             "variance, log-log 95% CI)"]
    for g in document["groups"]:
        name = "all" if g["group"] is None else f"{document['group']} = {g['group']}"
        lines.append(f"{name}: n {g['n']}")
        for c in g["causes"]:
            lines.append(f"  cause {c['cause']} ({c['events']} events)")
            lines.append(f"    {'time':>10} {'cif':>8} {'se':>8} {'lower':>8} {'upper':>8}")
            lines += [f"    {r['time']:>10g} {_fmt(r['cif']):>8} {_fmt(r['se']):>8} "
                      f"{_fmt(r['lower']):>8} {_fmt(r['upper']):>8}" for r in c["at"]]
    return lines


def render_text(document: dict[str, Any]) -> str:
    lines = []
    if document["command"] == "km":
        lines.append(f"Kaplan-Meier: time {document['time']!r}, event {document['event']!r} "
                     "(Greenwood se, log-log 95% CI)")
        for g in document["groups"]:
            name = "all" if g["group"] is None else f"{document['group']} = {g['group']}"
            lines.append(f"{name}: n {g['n']}, events {g['events']}, median "
                         f"{_fmt(g['median'], 6) if g['median'] is not None else 'not reached'}")
            lines.append(f"  {'time':>10} {'survival':>9} {'se':>8} {'lower':>8} {'upper':>8}")
            lines += [f"  {r['time']:>10g} {_fmt(r['survival']):>9} {_fmt(r['se']):>8} "
                      f"{_fmt(r['lower']):>8} {_fmt(r['upper']):>8}" for r in g["at"]]
        if "logrank" in document:
            lr = document["logrank"]
            p = lr["p"]
            p_text = _fmt(p) if p is None or p >= 1e-4 else f"{p:.2e}"
            lines.append(f"log-rank: chi-square {lr['statistic']:.4f} on {lr['df']} df, p = {p_text}"
                         + (f" (stratified by {document['strata']})" if document["strata"] else ""))
    else:
        lines += cif_lines(document, f"time {document['time']!r}, event {document['event']!r}")
        lines += gray_lines(document)
    lines.append(f"everydonor {__version__}. {NOTICE}")
    return "\n".join(lines)


def cmd_outcomes(args: argparse.Namespace) -> int:
    from everydonor.adapters.cli import outcomes_registry

    command = args.outcomes_command
    outcomes_registry.check_source(args)  # --data FILE.csv or --db URL --endpoint NAME
    if command in ("cox", "finegray"):
        from everydonor.adapters.cli import outcomes_regression

        return outcomes_regression.run(args)
    if command == "km":
        _refuse_options(args, set())
        if args.strata and not args.group:
            raise InputError("--strata stratifies the log-rank test: it needs --group",
                             field="--strata", value=args.strata)
    else:
        _refuse_options(args, {"cause", "variance"})
        if args.strata and not args.group:
            raise InputError("--strata stratifies Gray's test between the groups: it needs "
                             "--group", field="--strata", value=args.strata)
    source = outcomes_registry.load(args) if args.db is not None else None
    cols = (read_columns(args.data, args.time, args.event, args.group, args.strata)
            if source is None else outcomes_registry.columns_for(args, source))
    document = km_document(args, cols) if command == "km" else cif_document(args, cols)
    if source is not None:
        document = outcomes_registry.annotate(document, source)
    text = (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
            if args.format == "json" else render_text(document))
    if source is not None and args.format == "text":
        text = outcomes_registry.render_header(document) + "\n" + text
    print(text)
    return 0


def register(sub: Any) -> None:
    """Add ``outcomes`` and its subcommands."""
    oc = sub.add_parser("outcomes", help="survival (Kaplan-Meier, log-rank) and competing-risk "
                        "(Aalen-Johansen) estimates on a CSV file, R survival conventions")
    kinds = oc.add_subparsers(dest="outcomes_command", required=True, parser_class=Parser)
    helps = {"km": "Kaplan-Meier, Greenwood se, log-log CI, median; log-rank with --group",
             "cif": "Aalen-Johansen cumulative incidence per cause (aalen or delta variance); "
                    "Gray's test with --group",
             "cox": "Cox proportional hazards (cause-specific with --cause K), Breslow or Efron "
                    "ties, strata, categorical covariates with a stated reference",
             "finegray": "Fine-Gray subdistribution hazards of --cause K (others compete)"}
    from everydonor.adapters.cli import outcomes_registry

    for name, text in helps.items():
        p = kinds.add_parser(name, help=text)
        p.add_argument("--data", metavar="FILE.csv", help="CSV with a header row (or --db)")
        p.add_argument("--time", metavar="COL", help="(--data) follow-up time (≥ 0)")
        p.add_argument("--event", metavar="COL",
                       help="0 = censored, 1…k = causes (km: any non-zero is an event)")
        p.add_argument("--group", metavar="COL", help="estimate per group; test between groups")
        p.add_argument("--strata", metavar="COL", help="stratify the test by this column")
        p.add_argument("--covariate", metavar="COL", action="append", default=[],
                       help="(cox, finegray) a covariate")
        p.add_argument("--reference", metavar="COL=LEVEL", action="append", default=[],
                       help="(cox, finegray) reference level of a categorical covariate")
        p.add_argument("--ties", choices=["breslow", "efron"], help="(cox, finegray) ties")
        p.add_argument("--cause", type=int, metavar="K",
                       help="(cif) report this cause only; (cox) the cause-specific hazard of "
                       "K; (finegray) the cause modelled")
        p.add_argument("--variance", choices=["aalen", "delta"],
                       help="(cif) variance of the cumulative incidence (default aalen)")
        p.add_argument("--at", metavar="T1,T2,…", help="report at these times (default: every "
                       "event time)")
        p.add_argument("--format", choices=["json", "text"], default="json")
        outcomes_registry.add_arguments(p)  # --db URL --cohort FILTER --endpoint NAME
        p.set_defaults(func=cmd_outcomes)

    from everydonor.adapters.cli import outcomes_federated

    outcomes_federated.register(kinds)

    from everydonor.adapters.cli import outcomes_report

    outcomes_report.register(kinds)
