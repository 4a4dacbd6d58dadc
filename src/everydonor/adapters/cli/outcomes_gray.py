"""Gray's K-sample test for ``everydonor outcomes cif --group COL [--strata COL]``: the ``gray``
section of the JSON document, its provenance line and its text lines."""

from __future__ import annotations

import math
from typing import Any

GRAY_METHOD = ("Gray (1988, Ann Stat 16:1141-1154) K-sample test of equal cumulative incidence "
               "across the groups, per cause, rho = 0 (R cmprsk::cuminc $Tests), tied times as "
               "given; stratified when --strata is given (scores and variances summed over "
               "strata); statistic and p null where the variance matrix is singular (cmprsk "
               "prints stat -1, pv 1)")


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def gray_section(time: Any, event: Any, group: list[str], strata: list[str] | None,
                 cause: int | None) -> list[dict[str, Any]]:
    """``gray[] {cause, statistic, df, p}`` for every cause with events, or only ``cause``."""
    import numpy as np

    from everydonor.outcomes import gray_test

    results = gray_test(time, event, np.asarray(group),
                        None if strata is None else np.asarray(strata))
    return [{"cause": r.cause, "statistic": _finite(r.statistic), "df": r.df, "p": _finite(r.p)}
            for r in results if cause is None or r.cause == cause]


def gray_lines(document: dict[str, Any]) -> list[str]:
    """The text format's test lines (empty when the document is not grouped)."""
    if "gray" not in document:
        return []
    by = f" (stratified by {document['strata']})" if document.get("strata") else ""
    lines = [f"Gray's test, {document['group']}{by}:"]
    for t in document["gray"]:
        if t["statistic"] is None:
            lines.append(f"  cause {t['cause']}: not computable (singular variance: no "
                         "comparison between the groups at the event times)")
            continue
        p = t["p"]
        p_text = f"{p:.4f}" if p >= 1e-4 else f"{p:.2e}"
        lines.append(f"  cause {t['cause']}: chi-square {t['statistic']:.4f} on {t['df']} df, "
                     f"p = {p_text}")
    shown = {t["cause"] for t in document["gray"]}
    for g in document["groups"][:1]:
        lines += [f"  cause {c['cause']}: no events, no test" for c in g["causes"]
                  if c["cause"] not in shown and not _any_events(document, c["cause"])]
    return lines


def _any_events(document: dict[str, Any], cause: int) -> bool:
    return any(c["events"] > 0 for g in document["groups"] for c in g["causes"]
               if c["cause"] == cause)
