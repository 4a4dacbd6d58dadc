"""``everydonor outcomes share`` and ``everydonor outcomes pool FILES…``: federated analyses.

``share`` writes one centre's aggregate risk tables (no patient rows) as a JSON file with a
SHA-256 of its content; ``pool`` checks the files against each other (schema, endpoint, time
unit, causes, grouping; no file or centre twice; no file altered) and computes Kaplan-Meier,
Aalen-Johansen or the log-rank test from the tables alone, in the JSON shape of ``outcomes km``
/ ``outcomes cif`` plus ``sources[]``. The arithmetic is :mod:`everydonor.outcomes.federated`.

The share file (schema 1)::

    {"format": "everydonor outcomes share", "schema_version": 1, "software": "everydonor X",
     "centre": "...", "endpoint": "...", "time_unit": "days|weeks|months|years",
     "columns": {"time", "event", "group", "strata"},   # column names at the centre
     "causes": [{"cause": 1, "label": str|null}, ...], "n": patients, "disclosure": "...",
     "tables": [{"stratum": str|null, "group": str|null, "n": patients,
                 "time": [...], "n_risk": [...], "n_censor": [...],
                 "n_event": {"1": [...], "2": [...]}}, ...],
     "sha256": hex digest of the canonical JSON (sorted keys, no spaces, UTF-8) of the rest}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from typing import Any

from everydonor import __version__
from everydonor.adapters.cli.common import NOTICE, write_output
from everydonor.errors import InputError

FORMAT = "everydonor outcomes share"
SCHEMA_VERSION = 1
TIME_UNITS = ("days", "weeks", "months", "years")
GRAY_METHOD = ("Gray's K-sample test (Gray 1988; R cmprsk::cuminc $Tests, rho = 0), per cause, "
               "stratified by the shared strata, on the records the pooled tables stand for")
POOL_METHOD = ("pooled from the centres' aggregate risk tables: numbers at risk and events "
               "added time by time, then the patient-level estimator's own arithmetic on the "
               "pooled table (equal to the estimate on the concatenated patients)")


def canonical_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the document without its ``sha256`` key, as canonical JSON."""
    body = {k: v for k, v in document.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------- share


def share_document(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from everydonor.adapters.cli import outcomes_registry
    from everydonor.adapters.cli.outcomes import read_columns
    from everydonor.outcomes.federated import DISCLOSURE, centre_tables

    outcomes_registry.check_source(args)  # --data FILE.csv or --db URL --endpoint NAME
    if args.strata and not args.group:
        raise InputError("--strata stratifies the log-rank test: it needs --group",
                         field="--strata", value=args.strata)
    for option, column in (("--group", args.group), ("--strata", args.strata)):
        if args.db is not None and column == "patient":
            raise InputError(f"{option} patient would share one table per patient",
                             field=option, value=column)
    extra: dict[str, Any] = {}
    labels: dict[int, str] = {}
    n_causes = args.causes
    if args.db is None:
        if args.time_unit is None:
            raise InputError("--time-unit is required with --data (days, weeks, months or "
                             "years): pool refuses to add centres measured in different units",
                             field="--time-unit")
        cols = read_columns(args.data, args.time, args.event, args.group, args.strata)
        endpoint, unit = args.endpoint_name or args.event, args.time_unit
    else:
        if args.endpoint_name is not None:
            raise InputError("--endpoint-name names a CSV's endpoint; with --db the endpoint is "
                             "--endpoint", field="--endpoint-name", value=args.endpoint_name)
        if args.time_unit not in (None, "days"):
            raise InputError("registry endpoints are in days from day 0 of the transplant",
                             field="--time-unit", value=args.time_unit)
        source = outcomes_registry.load(args)
        cols = outcomes_registry.columns_for(args, source)
        annotated = outcomes_registry.annotate({}, source)
        excluded = annotated["excluded"]
        endpoint, unit = source.data.endpoint, "days"
        labels = {int(k): str(v) for k, v in source.data.cause_labels.items()}
        n_causes = max(labels) if n_causes is None else n_causes
        extra = {"endpoint_definition": annotated["endpoint"], "cohort": annotated["cohort"],
                 # counts per reason only: the excluded patients' ids stay at the centre
                 "excluded": {"count": excluded["count"], "reasons": excluded["reasons"]}}
    tables = centre_tables(np.asarray(cols.time), np.asarray(cols.event),
                           None if cols.group is None else np.asarray(cols.group),
                           None if cols.strata is None else np.asarray(cols.strata),
                           centre=args.centre, n_causes=n_causes)
    document: dict[str, Any] = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION,
        "software": f"everydonor {__version__}", "centre": args.centre,
        "endpoint": endpoint, "time_unit": unit,
        "columns": {"time": args.time, "event": args.event, "group": args.group,
                    "strata": args.strata},
        "causes": [{"cause": k, "label": labels.get(k)} for k in range(1, tables.n_causes + 1)],
        **extra,
        "n": tables.n, "disclosure": DISCLOSURE,
        "tables": [{
            "stratum": cell.stratum, "group": cell.group, "n": int(cell.table.n_risk[0]),
            "time": [float(x) for x in cell.table.time],
            "n_risk": [int(x) for x in cell.table.n_risk],
            "n_censor": [int(x) for x in cell.table.n_censor],
            "n_event": {str(k): [int(x) for x in cell.table.n_event[:, k]]
                        for k in range(1, tables.n_causes + 1)}}
            for cell in tables.cells],
        "notice": NOTICE,
    }
    document["sha256"] = canonical_hash(document)
    return document


def share_text(document: dict[str, Any]) -> str:
    """The file's text: one key per line, each table on one line (readable, diffable)."""
    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)

    lines = []
    for key, value in document.items():
        if key == "tables":
            rows = ",\n".join(f"  {dump(t)}" for t in value)
            lines.append(f' "tables": [\n{rows}\n ]')
        else:
            lines.append(f" {dump(key)}: {dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def cmd_share(args: argparse.Namespace) -> int:
    document = share_document(args)
    write_output(share_text(document), args.output)
    rows = sum(len(t["time"]) for t in document["tables"])
    print(f"wrote {args.output}: centre {document['centre']!r}, endpoint "
          f"{document['endpoint']!r}, {document['n']} patients in {len(document['tables'])} "
          f"table(s) of {rows} distinct times in all; sha256 {document['sha256']}\n"
          f"Disclosed: {document['disclosure']}")
    return 0


# ----------------------------------------------------------------------------------- pool


def _field(doc: dict[str, Any], name: str, kind: type, path: str) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind):
        raise InputError(f"{path}: {name!r} is missing or not a {kind.__name__} — not an "
                         "everydonor share file", field=name, value=path)
    return value


def _ints(values: Any, where: str, name: str) -> list[int]:
    if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InputError(f"{where}: {name!r} must be a list of integers", field=name)
    return values


def read_share(path: str) -> tuple[dict[str, Any], Any]:
    """The share file's document and its tables (:class:`CentreTables`), every field checked."""
    import numpy as np

    from everydonor.outcomes.federated import Cell, CentreTables, check_table

    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise InputError(f"cannot read {path!r}: {exc.strerror}", field="FILES",
                         value=path) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON file ({exc})", field="FILES", value=path) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"{path}: not an everydonor share file (written by `everydonor "
                         "outcomes share`)", field="FILES", value=path)
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(f"{path}: share schema version {version!r}; this everydonor "
                         f"({__version__}) reads version {SCHEMA_VERSION}",
                         field="schema_version", value=str(version))
    digest = _field(document, "sha256", str, path)
    if canonical_hash(document) != digest:
        raise InputError(f"{path}: the content does not match its sha256 (the file was changed "
                         "after `outcomes share` wrote it)", field="sha256", value=digest)
    centre = _field(document, "centre", str, path)
    for name in ("endpoint", "time_unit", "software"):
        _field(document, name, str, path)
    _field(document, "columns", dict, path)
    causes = _field(document, "causes", list, path)
    numbers = [c.get("cause") if isinstance(c, dict) else None for c in causes]
    if not numbers or numbers != list(range(1, len(numbers) + 1)):
        raise InputError(f"{path}: causes must be numbered 1…k, got {numbers}", field="causes")
    k = len(numbers)
    cells = []
    for i, raw in enumerate(_field(document, "tables", list, path), start=1):
        where = f"{path}, table {i}"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: not an object", field="tables")
        for name in ("stratum", "group"):
            if raw.get(name) is not None and not isinstance(raw.get(name), str):
                raise InputError(f"{where}: {name} must be a string or null", field=name)
        times = raw.get("time")
        if not isinstance(times, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in times):
            raise InputError(f"{where}: 'time' must be a list of numbers", field="time")
        by_cause = raw.get("n_event")
        if not isinstance(by_cause, dict) or sorted(by_cause) != sorted(str(c) for c in numbers):
            raise InputError(f"{where}: 'n_event' must have one list per cause {numbers}",
                             field="n_event")
        n_event = [_ints(by_cause[str(c)], where, f"n_event {c}") for c in numbers]
        table = check_table(times, np.asarray(_ints(raw.get("n_risk"), where, "n_risk"),
                                              dtype=np.int64),
                            np.asarray(n_event, dtype=np.int64).reshape(k, -1).T,
                            np.asarray(_ints(raw.get("n_censor"), where, "n_censor"),
                                       dtype=np.int64), where=where)
        cells.append(Cell(raw.get("stratum"), raw.get("group"), table))
    if not cells:
        raise InputError(f"{path}: no tables", field="tables", value=path)
    keys = [(c.stratum or "", c.group or "") for c in cells]
    if len(set(keys)) != len(keys):
        raise InputError(f"{path}: a (stratum, group) table appears twice", field="tables")
    return document, CentreTables(centre=centre, n_causes=k, cells=tuple(cells))


def _agree(docs: list[tuple[str, dict[str, Any]]], what: str, key: Any, hint: str = "") -> None:
    values = {json.dumps(key(d), sort_keys=True) for _, d in docs}
    if len(values) > 1:
        listing = "; ".join(f"{path}: {json.dumps(key(d), ensure_ascii=False)}"
                            for path, d in docs)
        raise InputError(f"the files disagree on {what} ({listing}){hint}", field=what)


def read_shares(paths: list[str]) -> tuple[list[tuple[str, dict[str, Any]]], list[Any]]:
    """All files read and checked against each other (refused with a message naming them)."""
    docs: list[tuple[str, dict[str, Any]]] = []
    centres = []
    for path in paths:
        document, tables = read_share(path)
        for other, seen in docs:
            if seen["sha256"] == document["sha256"]:
                raise InputError(f"{path} and {other} are the same share (sha256 "
                                 f"{document['sha256'][:16]}…): each centre once",
                                 field="FILES", value=path)
            if seen["centre"] == document["centre"]:
                raise InputError(f"{path} and {other} are both from centre "
                                 f"{document['centre']!r}: each centre once",
                                 field="FILES", value=path)
            if seen["tables"] == document["tables"]:
                raise InputError(f"{path} (centre {document['centre']!r}) and {other} (centre "
                                 f"{seen['centre']!r}) hold identical tables: the same patients "
                                 "would be counted twice", field="FILES", value=path)
        docs.append((path, document))
        centres.append(tables)
    _agree(docs, "endpoint", lambda d: d["endpoint"],
           " — share each centre's data with the same --endpoint-name (--data) or --endpoint "
           "(--db)")
    _agree(docs, "endpoint definition", lambda d: [
        (d.get("endpoint_definition") or {}).get(key)
        for key in ("definition", "parameters_used")],
           " — the same registry endpoint with the same parameters (--horizon) at every centre,"
           " or CSV data at every centre")
    _agree(docs, "time_unit", lambda d: d["time_unit"])
    _agree(docs, "causes", lambda d: d["causes"],
           " — share with the same --causes K at every centre")
    _agree(docs, "group", lambda d: d["columns"].get("group"))
    _agree(docs, "strata", lambda d: d["columns"].get("strata"))
    return docs, centres


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def _sources(docs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"centre": d["centre"], "file": os.path.basename(path), "sha256": d["sha256"],
             "n": d.get("n"), "software": d["software"]} for path, d in docs]


def _logrank_entry(lr: Any) -> dict[str, Any]:
    return {"statistic": lr.statistic, "df": lr.df, "p": _num(lr.p),
            "observed": dict(zip(lr.groups, lr.observed.tolist(), strict=True)),
            "expected": dict(zip(lr.groups, lr.expected.tolist(), strict=True))}


def pool_document(args: argparse.Namespace) -> dict[str, Any]:
    from everydonor.adapters.cli.outcomes import (
        CIF_METHOD,
        KM_METHOD,
        LOGRANK_METHOD,
        _provenance,
        cif_group,
        km_group,
        parse_at,
    )
    from everydonor.outcomes.federated import (
        pooled_aalen_johansen,
        pooled_gray,
        pooled_kaplan_meier,
        pooled_logrank,
    )

    estimate = args.estimate
    for option, value, allowed in (("--variance", args.variance, "cif"),
                                   ("--cause", args.cause, "cif")):
        if value is not None and estimate != allowed:
            raise InputError(f"{option} applies to --estimate {allowed} only", field=option)
    if args.at is not None and estimate == "logrank":
        raise InputError("--at does not apply to --estimate logrank", field="--at")
    at = parse_at(args.at)
    docs, centres = read_shares(args.files)
    first = docs[0][1]
    spec = first.get("endpoint_definition") or {}
    if estimate == "km" and spec.get("competing_risks"):
        raise InputError(f"endpoint {first['endpoint']} has competing events: 1 − Kaplan-Meier "
                         "would count them as censored and overestimate the incidence "
                         "(clinical-scores.md §7.6); use --estimate cif", field="--estimate",
                         value=estimate)
    grouped = first["columns"].get("group") is not None
    document: dict[str, Any] = {
        "command": estimate, "pooled": True, "endpoint": first["endpoint"],
        **({"endpoint_definition": spec} if spec else {}),
        "time_unit": first["time_unit"],
        "time": " / ".join(sorted({d["columns"].get("time") or "" for _, d in docs})),
        "event": " / ".join(sorted({d["columns"].get("event") or "" for _, d in docs})),
        "group": first["columns"].get("group"), "strata": first["columns"].get("strata"),
        "n": sum(c.n for c in centres), "sources": _sources(docs)}
    method: dict[str, Any] = {"pooling": POOL_METHOD}
    groups: list[dict[str, Any]] = []
    if estimate == "km":
        for label, km in pooled_kaplan_meier(centres):
            groups.append(km_group(label, km, at))
        document["groups"] = groups
        method.update(KM_METHOD)
    elif estimate == "cif":
        variance = args.variance or "aalen"
        n_causes = len(first["causes"])
        if args.cause is not None and not 1 <= args.cause <= n_causes:
            raise InputError(f"--cause {args.cause}: the shares have causes 1…{n_causes}",
                             field="--cause", value=str(args.cause))
        for label, r in pooled_aalen_johansen(centres, variance=variance):
            groups.append(cif_group(label, r, args.cause, at))
        document["variance"] = variance
        document["groups"] = groups
        method.update(CIF_METHOD)
        method["variance"] = CIF_METHOD["variance"][variance]  # type: ignore[index]
        if grouped:
            document["gray"] = [
                {"cause": r.cause, "statistic": _num(r.statistic), "df": r.df, "p": _num(r.p)}
                for r in pooled_gray(centres, stratify_by_centre=args.stratify_centre)
                if args.cause is None or r.cause == args.cause]
            document["stratified_by_centre"] = bool(args.stratify_centre)
            method["test"] = GRAY_METHOD + ("; strata are (centre, stratum)"
                                            if args.stratify_centre else "")
    if estimate == "logrank" or (estimate == "km" and grouped):
        if not grouped:
            raise InputError("the log-rank test compares groups: the shares were written "
                             "without --group", field="--estimate", value=estimate)
        lr = pooled_logrank(centres, stratify_by_centre=args.stratify_centre)
        document["logrank"] = _logrank_entry(lr)
        document["stratified_by_centre"] = bool(args.stratify_centre)
        method["test"] = LOGRANK_METHOD + ("; strata are (centre, stratum)"
                                           if args.stratify_centre else "")
    document["provenance"] = _provenance(method)
    return document


def _p_text(p: float | None) -> str:
    return "NA" if p is None else (f"{p:.4f}" if p >= 1e-4 else f"{p:.2e}")


def render_pool_text(document: dict[str, Any]) -> str:
    from everydonor.adapters.cli.outcomes import cif_lines, render_text

    lines = [f"Pooled from {len(document['sources'])} centre(s), {document['n']} patients, "
             f"endpoint {document['endpoint']!r} ({document['time_unit']}): "
             + ", ".join(f"{s['centre']} (n {s['n']}, sha256 {s['sha256'][:12]}…)"
                         for s in document["sources"])]
    strata = [s for s in (document["strata"], "centre" if document.get("stratified_by_centre")
                          else None) if s]
    stratified = f" (stratified by {' and '.join(strata)})" if strata else ""
    if document["command"] == "km":
        return "\n".join(lines) + "\n" + render_text(document)
    if document["command"] == "cif":
        lines += cif_lines(document, f"endpoint {document['endpoint']!r}")
        for r in document.get("gray", []):
            stat = "NA" if r["statistic"] is None else f"{r['statistic']:.4f}"
            lines.append(f"Gray's test, cause {r['cause']}: chi-square {stat} on {r['df']} df, "
                         f"p = {_p_text(r['p'])}{stratified}")
    else:
        lr = document["logrank"]
        lines.append(f"log-rank ({document['group']}): chi-square {lr['statistic']:.4f} on "
                     f"{lr['df']} df, p = {_p_text(lr['p'])}{stratified}")
    lines.append(f"everydonor {__version__}. {NOTICE}")
    return "\n".join(lines)


def cmd_pool(args: argparse.Namespace) -> int:
    document = pool_document(args)
    print(json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
          if args.format == "json" else render_pool_text(document))
    return 0


def register(kinds: Any) -> None:
    """Add ``outcomes share`` and ``outcomes pool`` to the ``outcomes`` subcommands."""
    from everydonor.adapters.cli import outcomes_registry

    p = kinds.add_parser("share", help="write this centre's aggregate risk tables (no patient "
                         "rows) for a pooled analysis across centres")
    p.add_argument("--data", metavar="FILE.csv", help="CSV with a header row (or --db)")
    p.add_argument("--time", metavar="COL", help="(--data) follow-up time (≥ 0)")
    p.add_argument("--event", metavar="COL", help="(--data) 0 = censored, 1…k = causes")
    p.add_argument("--group", metavar="COL", help="tables per group (for km/cif per group and "
                   "the log-rank and Gray's tests)")
    p.add_argument("--strata", metavar="COL", help="tables per stratum (stratified tests)")
    p.add_argument("--centre", required=True, metavar="LABEL",
                   help="this centre's label (each centre once in a pool)")
    p.add_argument("--endpoint-name", dest="endpoint_name", metavar="NAME",
                   help="(--data) the endpoint's name, the same at every centre (default: the "
                   "event column's name)")
    p.add_argument("--time-unit", choices=TIME_UNITS, dest="time_unit",
                   help="unit of --time (required with --data: pool refuses mixed units; "
                   "--db: days)")
    p.add_argument("--causes", type=int, metavar="K", help="number of causes 1…K (default: the "
                   "largest event code in the data, or the endpoint's causes with --db; give "
                   "the same K at every centre)")
    outcomes_registry.add_arguments(p)  # --db URL --cohort FILTER --endpoint NAME
    p.add_argument("-o", "--output", required=True, metavar="share.json")
    p.set_defaults(func=cmd_share)

    q = kinds.add_parser("pool", help="Kaplan-Meier, Aalen-Johansen or log-rank from centres' "
                         "share files, equal to the estimate on the pooled patients")
    q.add_argument("files", nargs="+", metavar="FILES", help="share files (outcomes share)")
    q.add_argument("--estimate", required=True, choices=["km", "cif", "logrank"])
    q.add_argument("--at", metavar="T1,T2,…", help="report at these times (default: every "
                   "event time)")
    q.add_argument("--variance", choices=["aalen", "delta"],
                   help="(cif) variance of the cumulative incidence (default aalen)")
    q.add_argument("--cause", type=int, metavar="K", help="(cif) report this cause only")
    q.add_argument("--stratify-centre", action="store_true", dest="stratify_centre",
                   help="stratify the log-rank (km, logrank) or Gray's test (cif) by centre "
                   "as well")
    q.add_argument("--format", choices=["json", "text"], default="json")
    q.set_defaults(func=cmd_pool)
