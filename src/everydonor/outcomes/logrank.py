"""The k-sample log-rank test, optionally stratified (R ``survival::survdiff``, rho = 0)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError
from everydonor.outcomes.counting import FloatArray, check_arrays, chi2_sf, risk_table


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
    k = labels.size
    if strata is None:
        s_index = np.zeros(t.size, dtype=np.int64)
    else:
        s = np.asarray(strata).astype(str)
        if s.shape != t.shape:
            raise InputError("strata must have one value per observation", field="strata")
        s_index = np.unique(s, return_inverse=True)[1]
    observed = np.zeros(k)
    expected = np.zeros(k)
    variance = np.zeros((k, k))
    for stratum in np.unique(s_index):
        in_s = s_index == stratum
        ts, es, gs = t[in_s], (e[in_s] > 0).astype(np.int64), g_index[in_s]
        table = risk_table(ts, es, n_causes=1)
        times = table.time
        n = table.n_risk.astype(np.float64)
        d = table.n_event[:, 0].astype(np.float64)
        n_g = np.empty((k, times.size))
        d_g = np.empty((k, times.size))
        for j in range(k):
            tj = np.sort(ts[gs == j])
            n_g[j] = tj.size - np.searchsorted(tj, times, side="left")
            ev = np.sort(ts[(gs == j) & (es > 0)])
            d_g[j] = (np.searchsorted(ev, times, side="right")
                      - np.searchsorted(ev, times, side="left"))
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
        statistic = float(diff @ np.linalg.solve(vv, diff))
        df = int(keep.size)
    return LogRankResult(groups=tuple(str(x) for x in labels), observed=observed,
                         expected=expected, variance=variance, statistic=statistic, df=df,
                         p=chi2_sf(statistic, df) if df else float("nan"))
