"""Kaplan-Meier with Greenwood variance and log-log intervals (R ``survfit`` conventions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError
from everydonor.outcomes.counting import (
    FloatArray,
    IntArray,
    RiskTable,
    check_arrays,
    index_at,
    loglog_interval,
    risk_table,
    z_value,
)

#: R's tolerance in ``quantile.survfit`` for "the curve is exactly at 0.5"
_MEDIAN_TOLERANCE = float(np.sqrt(np.finfo(np.float64).eps))


@dataclass(frozen=True, slots=True)
class KaplanMeierResult:
    """The curve at every distinct observed time (events and censorings, like R's survfit).

    ``se`` is Greenwood's standard error of S(t) (R's ``summary.survfit`` ``std.err``);
    ``se_log`` that of log S(t) (R's ``survfit`` ``std.err``), from which the log-log interval
    is built. ``lower``/``upper`` are NaN where S is 0 or 1 (R gives NA there).
    """

    time: FloatArray
    n_risk: IntArray
    n_event: IntArray
    n_censor: IntArray
    survival: FloatArray
    se: FloatArray
    se_log: FloatArray
    lower: FloatArray
    upper: FloatArray
    n: int
    events: int
    conf_level: float

    @property
    def median(self) -> float | None:
        """R's median: the first event time where S ≤ 0.5; if S is exactly 0.5 there (within
        √eps) and falls below later, the midpoint to the first time it is below (R
        ``quantile.survfit``). None if S never reaches 0.5."""
        s = self.survival
        at_or_below = np.flatnonzero(s <= 0.5 + _MEDIAN_TOLERANCE)
        if at_or_below.size == 0:
            return None
        first = int(at_or_below[0])
        if abs(s[first] - 0.5) < _MEDIAN_TOLERANCE:
            below = np.flatnonzero(s < 0.5 - _MEDIAN_TOLERANCE)
            if below.size:
                return float((self.time[first] + self.time[int(below[0])]) / 2.0)
        return float(self.time[first])

    def at(self, times: npt.ArrayLike) -> dict[str, FloatArray]:
        """The estimate at each time: its value at the last distinct time ≤ t (S = 1, se = 0
        before the first; after the last observation, the last value)."""
        t = np.asarray(times, dtype=np.float64)
        i = index_at(self.time, t)
        before = i < 0
        j = np.where(before, 0, i)
        out = {name: getattr(self, name)[j].astype(np.float64)
               for name in ("survival", "se", "lower", "upper")}
        out["survival"][before] = 1.0
        out["se"][before] = 0.0
        out["lower"][before] = np.nan
        out["upper"][before] = np.nan
        out["time"] = t
        return out


def kaplan_meier(time: npt.ArrayLike, event: npt.ArrayLike, *,
                 conf_level: float = 0.95) -> KaplanMeierResult:
    """Kaplan-Meier estimate; any non-zero ``event`` is an event, 0 is censored.

    >>> km = kaplan_meier([1, 2, 2, 3], [1, 1, 0, 0])
    >>> [round(float(s), 4) for s in km.survival]
    [0.75, 0.5, 0.5]
    """
    t, e = check_arrays(time, event)
    return kaplan_meier_from_table(risk_table(t, (e > 0).astype(np.int64), n_causes=1),
                                   conf_level=conf_level)


def kaplan_meier_from_table(table: RiskTable, *, conf_level: float = 0.95) -> KaplanMeierResult:
    """Kaplan-Meier from a risk table (``n_event[:, 0]``, events of any cause, are the events):
    the same arithmetic as :func:`kaplan_meier`, which calls it, so a pooled table
    (:func:`everydonor.outcomes.counting.merge_tables`) gives the patient-level answer."""
    if table.time.size == 0:
        raise InputError("no observations", field="time")
    d = table.n_event[:, 0].astype(np.float64)
    n = table.n_risk.astype(np.float64)
    survival: FloatArray = np.cumprod(1.0 - d / n).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d / (n * (n - d)), 0.0)  # inf where everyone left fails
    greenwood = np.cumsum(term)
    se_log = np.sqrt(greenwood)
    with np.errstate(invalid="ignore"):
        se = np.where(survival > 0, survival * se_log, np.nan)
    lower, upper = loglog_interval(survival, se_log, z_value(conf_level))
    return KaplanMeierResult(time=table.time, n_risk=table.n_risk, n_event=table.n_event[:, 0],
                             n_censor=table.n_censor, survival=survival, se=se, se_log=se_log,
                             lower=lower, upper=upper, n=int(table.n_risk[0]),
                             events=int(table.n_event[:, 0].sum()), conf_level=conf_level)
