"""The k-sample log-rank test, optionally stratified (R ``survival::survdiff``, rho = 0)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError
from everydonor.outcomes.counting import (
    FloatArray,
    RiskTable,
    at_risk,
    check_arrays,
    chi2_sf,
    events_at,
    merge_tables,
    risk_table,
)


@dataclass(frozen=True, slots=True)
class LogRankResult:
    """Observed and expected events per group (in ``groups`` order), their covariance, and the
    chi-square statistic on ``df`` degrees of freedom."""

    groups: tuple[str, ...]
    observed: FloatArray
    expected: FloatArray
    variance: FloatArray
    statistic: float
    df: int
    p: float


def logrank_test(time: npt.ArrayLike, event: npt.ArrayLike, group: npt.ArrayLike,
                 strata: npt.ArrayLike | None = None) -> LogRankResult:
    """Log-rank test of equal hazards across the groups; with ``strata``, observed, expected
    and variance are summed over strata (as R's ``survdiff(... + strata(s))``).

    The statistic drops the groups with no expected events, then the first group, and uses
    the rest of (O − E) and its covariance, exactly as survdiff does.

    >>> r = logrank_test([1, 2, 3, 4], [1, 1, 1, 1], ["a", "b", "a", "b"])
    >>> round(r.statistic, 4), r.df
    (0.6154, 1)
    """
    t, e = check_arrays(time, event)
    g = np.asarray(group).astype(str)
    if g.shape != t.shape:
        raise InputError("group must have one value per observation", field="group")
    labels, g_index = np.unique(g, return_inverse=True)
    if strata is None:
        s_index = np.zeros(t.size, dtype=np.int64)
    else:
        s = np.asarray(strata).astype(str)
        if s.shape != t.shape:
            raise InputError("strata must have one value per observation", field="strata")
        s_index = np.unique(s, return_inverse=True)[1]
    any_event = (e > 0).astype(np.int64)
    cells: list[dict[str, RiskTable]] = []
    for stratum in np.unique(s_index):
        in_s = s_index == stratum
        cells.append({str(labels[j]): risk_table(t[in_s & (g_index == j)],
                                                 any_event[in_s & (g_index == j)], n_causes=1)
                      for j in np.unique(g_index[in_s])})
    return logrank_from_tables(cells)


def logrank_from_tables(strata: Sequence[Mapping[str, RiskTable]]) -> LogRankResult:
    """The log-rank test from risk tables: for each stratum (summed in the order given), the
    table of each group present in it (events of any cause, ``n_event[:, 0]``). The
    arithmetic of :func:`logrank_test`, which calls it, so pooled tables give the
    patient-level answer. Groups are sorted by label (as ``numpy.unique``)."""
    labels = sorted({label for cells in strata for label in cells})
    if not labels:
        raise InputError("no observations", field="time")
    k = len(labels)
    observed = np.zeros(k)
    expected = np.zeros(k)
    variance = np.zeros((k, k))
    for cells in strata:
        tables = [cells[label] for label in labels if label in cells]
        if not tables:
            continue
        stratum = merge_tables([_any_cause(x) for x in tables], n_causes=1)
        times = stratum.time
        n = stratum.n_risk.astype(np.float64)
        d = stratum.n_event[:, 0].astype(np.float64)
        n_g = np.zeros((k, times.size))
        d_g = np.zeros((k, times.size))
        for j, label in enumerate(labels):
            if label in cells:
                n_g[j] = at_risk(cells[label], times)
                d_g[j] = events_at(cells[label], times)
        observed += d_g.sum(axis=1)
        expected += n_g @ (d / n)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(n > 1, d * (n - d) / (n * (n - 1)), 0.0)
        variance += np.diag(n_g @ w) - (n_g * (w / n)) @ n_g.T
    keep = np.flatnonzero(expected > 0)[1:]
    diff = (observed - expected)[keep]
    vv = variance[np.ix_(keep, keep)]
    if keep.size == 0:
        statistic, df = 0.0, 0
    else:
        try:
            statistic = float(diff @ np.linalg.solve(vv, diff))
        except np.linalg.LinAlgError:
            raise InputError("the log-rank test is undefined for these data: the covariance of "
                             "observed minus expected events is singular (a group's events all "
                             "fall where it alone is at risk; R survdiff stops the same way)",
                             field="group") from None
        df = int(keep.size)
    return LogRankResult(groups=tuple(labels), observed=observed,
                         expected=expected, variance=variance, statistic=statistic, df=df,
                         p=chi2_sf(statistic, df) if df else float("nan"))


def _any_cause(table: RiskTable) -> RiskTable:
    """The table with one event column (any cause)."""
    return RiskTable(time=table.time, n_risk=table.n_risk,
                     n_event=np.repeat(table.n_event[:, :1], 2, axis=1),
                     n_censor=table.n_censor)
