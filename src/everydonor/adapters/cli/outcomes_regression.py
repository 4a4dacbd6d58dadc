"""``everydonor outcomes cox|finegray``: cause-specific Cox and Fine-Gray regression on a CSV or
on a registry endpoint (``--db``).

The covariates are read as text, as they stand in the file; :func:`design_matrix` decides which
are continuous (every value a number) and which categorical (a term ``COL=LEVEL`` per level
other than the reference: ``--reference COL=LEVEL`` or the first level in sorted order). A row
with an empty or ``NA`` covariate is left out and counted, as R's ``na.omit`` does, and the
answer says how many and for which column. Everything the fit assumed — ties, reference
levels, which covariates were taken as numbers, the kind of standard error — is in the answer.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from typing import Any

from everydonor import __version__
from everydonor.adapters.cli.common import NOTICE
from everydonor.errors import InputError

MISSING = frozenset({"", "NA", "N/A", "NaN", "nan", "."})

COX_METHOD = {
    "estimator": "Cox proportional hazards, partial likelihood maximised by Newton-Raphson "
                 "(R survival::coxph conventions)",
    "hazard": "with --cause K the cause-specific hazard of K (other causes censored); without "
              "it, any non-zero event",
    "se": "model-based: the inverse of the observed information at the maximum (R se(coef))",
    "p": "two-sided Wald test",
    "interval": "95% exp(coef ± 1.96·se)",
}
FINEGRAY_METHOD = {
    "estimator": "Fine-Gray proportional subdistribution hazards (Fine & Gray 1999, JASA "
                 "94:496), as an IPCW-weighted Cox model (Geskus 2011, Biometrics 67:39): "
                 "competing failures stay in the risk set weighted G(t-)/G(T-), G the "
                 "Kaplan-Meier of the censoring distribution; coefficients as R cmprsk::crr",
    "se": "sandwich (Fine & Gray 1999 §3, with the term for the estimated censoring "
          "distribution): what cmprsk::crr and SAS PHREG print",
    "p": "two-sided Wald test",
    "interval": "95% exp(coef ± 1.96·se)",
    "caveat": "subdistribution hazard ratios describe the cumulative incidence, not the rate "
              "among those still event-free; Fine-Gray models of several causes can imply "
              "incidences summing above 1 — read them next to the cause-specific Cox model",
}


def _parse_references(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, level = item.partition("=")
        if not sep or not name.strip() or not level.strip():
            raise InputError(f"--reference takes COL=LEVEL, got {item!r}", field="--reference",
                             value=item)
        if name.strip() in out:
            raise InputError(f"--reference {name.strip()} given twice", field="--reference",
                             value=item)
        out[name.strip()] = level.strip()
    return out


def read_covariates(path: str, names: list[str]) -> dict[str, list[str]]:
    """The named columns of a CSV as text (already known to open: read_columns ran first)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        for name in names:
            if name not in header:
                raise InputError(f"{path}: no column {name!r} (for --covariate); the header has "
                                 f"{', '.join(repr(h) for h in header) or 'no columns'}",
                                 field="--covariate", value=name)
        out: dict[str, list[str]] = {name: [] for name in names}
        for row in reader:
            for name in names:
                out[name].append((row.get(name) or "").strip())
    return out


def _check_options(args: argparse.Namespace) -> None:
    command = args.outcomes_command
    for name, option in (("group", "--group"), ("at", "--at"), ("variance", "--variance")):
        if getattr(args, name) is not None:
            hint = (": put the column in the model with --covariate COL" if name == "group"
                    else "")
            raise InputError(f"{option} does not apply to `outcomes {command}`{hint}",
                             field=option, value=str(getattr(args, name)))
    if not args.covariate:
        raise InputError(f"`outcomes {command}` needs at least one --covariate COL",
                         field="--covariate")
    if len(set(args.covariate)) != len(args.covariate):
        raise InputError("a --covariate is named twice", field="--covariate",
                         value=",".join(args.covariate))
    for option, column in (("--time", args.time), ("--event", args.event),
                           ("--strata", args.strata)):
        if column is not None and column in args.covariate:
            raise InputError(f"{column!r} is both {option} and a --covariate",
                             field="--covariate", value=column)
    if args.cause is not None and args.cause < 1:
        raise InputError(f"--cause must be ≥ 1 (0 is censoring), got {args.cause}",
                         field="--cause", value=str(args.cause))


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def regression_document(args: argparse.Namespace, *, time: list[float], event: list[int],
                        strata: list[str] | None, covariates: dict[str, list[str]],
                        source: str) -> dict[str, Any]:
    """Fit and describe: rows with a missing covariate are left out and counted."""
    import numpy as np

    from everydonor.outcomes import cox_regression, design_matrix, fine_gray

    command = args.outcomes_command
    missing_by: dict[str, int] = {}
    keep = []
    for i in range(len(time)):
        absent = [c for c in covariates if covariates[c][i] in MISSING]
        for c in absent:
            missing_by[c] = missing_by.get(c, 0) + 1
        if not absent:
            keep.append(i)
    if not keep:
        raise InputError("every row has a missing covariate: nothing to fit",
                         field="--covariate", value=",".join(covariates))
    n_causes = max(event)
    cause = args.cause
    if command == "finegray" and cause is None:
        if args.db is None:
            raise InputError("`outcomes finegray` needs --cause K: the cause whose cumulative "
                             "incidence is modelled (the others compete)", field="--cause")
        cause = 1  # a registry endpoint's event of interest is 1 by definition
    if cause is None and args.db is not None:
        cause = 1
    if cause is not None and cause > n_causes:
        raise InputError(f"--cause {cause}: the event column has causes 1…{n_causes}",
                         field="--cause", value=str(cause))
    design = design_matrix({c: [covariates[c][i] for i in keep] for c in covariates},
                           _parse_references(args.reference))
    t = np.asarray(time)[keep]
    e = np.asarray(event)[keep]
    s = None if strata is None else np.asarray(strata)[keep]
    ties = args.ties or ("efron" if command == "cox" else "breslow")
    if command == "cox":
        fit = cox_regression(t, e, design, cause=cause, ties=ties, strata=s)
        method = dict(COX_METHOD)
    else:
        assert cause is not None
        fit = fine_gray(t, e, design, cause=cause, ties=ties, strata=s)
        method = dict(FINEGRAY_METHOD)
        if fit.se_method != "sandwich":
            method["se"] = ("model-based (the weights taken as known): the Fine-Gray sandwich "
                            "is built for Breslow ties without strata" + (
                                "; a coefficient may be infinite" if fit.infinite_terms
                                else "") + " — not what cmprsk::crr prints")
    method["ties"] = {"breslow": "Breslow", "efron": "Efron"}[ties] + (
        " (R coxph's default)" if ties == "efron" else " (cmprsk::crr's)"
        if command == "finegray" else "")
    if strata is not None:
        method["strata"] = (f"a separate baseline hazard per level of {args.strata}"
                            + (" and a separate censoring distribution G per level"
                               if command == "finegray" else ""))
    competing = sorted({int(v) for v in e if v > 0 and cause is not None and v != cause})
    covariate_notes: list[dict[str, Any]] = []
    for name in covariates:
        if name in design.references:
            levels = [name_ for name_ in design.terms if name_.startswith(f"{name}=")]
            covariate_notes.append({"name": name, "type": "categorical",
                                    "reference": design.references[name],
                                    "terms": levels})
        else:
            covariate_notes.append({"name": name, "type": "continuous (every value a number)",
                                    "reference": None, "terms": [name]})
    document: dict[str, Any] = {
        "command": command, "data": source, "time": args.time, "event": args.event,
        "cause": cause, "competing_causes": competing if command == "finegray" else None,
        "censored_causes": competing if command == "cox" else None,
        "strata": args.strata, "n": fit.n, "events": fit.events, "ties": fit.ties.value,
        "se_method": fit.se_method,
        "terms": [{"term": x.term, "coef": x.coef, "hr": x.hr, "se": _num(x.se),
                   "z": _num(x.z), "p": _num(x.p), "lower": _num(x.lower),
                   "upper": _num(x.upper)} for x in fit.terms],
        "covariates": covariate_notes,
        "missing": {"rows_left_out": len(time) - len(keep), "by_covariate": missing_by},
        "loglik": fit.loglik, "loglik_null": fit.loglik_null,
        "likelihood_ratio": {"statistic": fit.lr_statistic, "df": fit.lr_df,
                             "p": _num(fit.lr_p)},
        "converged": fit.converged, "iterations": fit.iterations,
    }
    document["infinite_terms"] = list(fit.infinite_terms)
    if fit.infinite_terms:
        document["warning"] = (f"the coefficient of {', '.join(fit.infinite_terms)} may be "
                               "infinite (monotone likelihood: e.g. a level with no events); "
                               "its hazard ratio, se and p cannot be read")
    elif not fit.converged:
        document["warning"] = ("the fit did not converge in "
                               f"{fit.iterations} iterations; do not read these numbers")
    document["provenance"] = {"software": f"everydonor {__version__}", "method": method,
                              "notice": NOTICE}
    return document


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "NA"
    if digits == 4 and x != 0 and abs(x) < 1e-4:
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def render_text(document: dict[str, Any]) -> str:
    what = ("Cox proportional hazards" if document["command"] == "cox"
            else "Fine-Gray subdistribution hazards")
    cause = document["cause"]
    lines = [f"{what}: time {document['time']!r}, event {document['event']!r}"
             + (f", cause {cause}" if cause is not None else ", any event")
             + (f", competing {document['competing_causes']}"
                if document.get("competing_causes") else "")
             + (f", stratified by {document['strata']}" if document["strata"] else "")
             + f"; {document['ties']} ties",
             f"n {document['n']}, events {document['events']}"
             + (f"; {document['missing']['rows_left_out']} rows left out for a missing "
                f"covariate ({', '.join(f'{k} {v}' for k, v in document['missing']['by_covariate'].items())})"
                if document["missing"]["rows_left_out"] else ""),
             f"  {'term':<24} {'coef':>9} {'HR':>9} {'se':>8} {'p':>9} {'95% CI of HR':>20}"]
    for term in document["terms"]:
        ci = f"{_fmt(term['lower'], 3)}–{_fmt(term['upper'], 3)}"
        lines.append(f"  {term['term']:<24} {_fmt(term['coef']):>9} {_fmt(term['hr']):>9} "
                     f"{_fmt(term['se']):>8} {_fmt(term['p']):>9} {ci:>20}")
    for c in document["covariates"]:
        if c["type"] == "categorical":
            lines.append(f"  {c['name']}: categorical, reference {c['reference']!r}")
        else:
            lines.append(f"  {c['name']}: continuous (per unit)")
    lr = document["likelihood_ratio"]
    lines.append(f"likelihood ratio test: {lr['statistic']:.4f} on {lr['df']} df, p = "
                 f"{_fmt(lr['p'])}")
    lines.append(f"se: {document['provenance']['method']['se']}")
    if "warning" in document:
        lines.append(f"WARNING: {document['warning']}")
    lines.append(f"everydonor {__version__}. {NOTICE}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """``outcomes cox|finegray`` (the source already checked by the caller)."""
    from everydonor.adapters.cli import outcomes_registry
    from everydonor.adapters.cli.outcomes import read_columns

    _check_options(args)
    if args.db is None:
        cols = read_columns(args.data, args.time, args.event, None, args.strata)
        covariates = read_covariates(args.data, list(args.covariate))
        document = regression_document(args, time=cols.time, event=cols.event,
                                       strata=cols.strata, covariates=covariates,
                                       source=args.data)
    else:
        source = outcomes_registry.load(args)
        cols = outcomes_registry.columns_for(args, source)
        covariates = outcomes_registry.covariate_columns(args, source)
        document = regression_document(args, time=cols.time, event=cols.event,
                                       strata=cols.strata, covariates=covariates,
                                       source=source.where)
        document = outcomes_registry.annotate(document, source)
    text = (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
            if args.format == "json" else render_text(document))
    if args.db is not None and args.format == "text":
        text = outcomes_registry.render_header(document) + "\n" + text
    print(text)
    return 0
