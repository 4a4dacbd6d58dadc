"""The risk table: distinct times with numbers at risk and events per cause (ties as given)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class RiskTable:
    """One row per distinct observed time (event or censoring), in increasing order.

    ``n_event[:, 0]`` counts events of any cause; ``n_event[:, k]`` those of cause ``k``.
    """

    time: FloatArray
    n_risk: IntArray
    n_event: IntArray
    n_censor: IntArray


def check_arrays(time: npt.ArrayLike, event: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
    """``time`` as finite non-negative floats, ``event`` as integers ≥ 0 (0 = censored)."""
    t = np.asarray(time, dtype=np.float64)
    e_raw = np.asarray(event)
    if t.ndim != 1 or e_raw.shape != t.shape:
        raise InputError(f"time and event must be 1-d arrays of one length (got {t.shape} and "
                         f"{e_raw.shape})", field="event")
    if t.size == 0:
        raise InputError("no observations", field="time")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        bad = int(np.flatnonzero(~np.isfinite(t) | (t < 0))[0])
        raise InputError(f"time must be a finite number ≥ 0 (index {bad})", field="time",
                         value=str(t[bad]))
    if np.issubdtype(e_raw.dtype, np.integer) or e_raw.dtype == np.bool_:
        e_int = e_raw.astype(np.int64)
        if e_int.min() >= 0:
            return t, e_int
    e_float = e_raw.astype(np.float64)
    if np.any(e_float < 0) or np.any(e_float != np.round(e_float)):
        bad = int(np.flatnonzero((e_float < 0) | (e_float != np.round(e_float)))[0])
        raise InputError(f"event must be an integer ≥ 0 (index {bad})", field="event",
                         value=str(e_raw[bad]))
    return t, e_float.astype(np.int64)


def risk_table(time: FloatArray, event: IntArray, n_causes: int | None = None) -> RiskTable:
    """Counts at each distinct time; tied times are kept tied (no jitter)."""
    k = int(event.max()) if n_causes is None else n_causes
    top = float(time.max())
    if top <= 4 * time.size + 100_000 and np.array_equal(time, np.floor(time)):
        # whole days (as registries record them): a counting sort, O(n), exact
        days = time.astype(np.int64)
        total = np.bincount(days)
        present = np.flatnonzero(total)
        n_event = np.zeros((present.size, k + 1), dtype=np.int64)
        for cause in range(1, k + 1):
            n_event[:, cause] = np.bincount(days[event == cause], minlength=total.size)[present]
        n_event[:, 0] = n_event[:, 1:].sum(axis=1)
        counts = total[present]
        n_risk = np.cumsum(counts[::-1])[::-1]
        return RiskTable(time=present.astype(np.float64), n_risk=n_risk.astype(np.int64),
                         n_event=n_event, n_censor=(counts - n_event[:, 0]).astype(np.int64))
    # sorting values is cheaper than argsort + gather: the times, then each cause's times
    t = np.sort(time)
    new = np.empty(t.size, dtype=bool)
    new[0] = True
    np.not_equal(t[1:], t[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    uniq = t[starts]
    n_event = np.zeros((starts.size, k + 1), dtype=np.int64)
    for cause in range(1, k + 1):
        tk = np.sort(time[event == cause])
        n_event[:, cause] = (np.searchsorted(tk, uniq, side="right")
                             - np.searchsorted(tk, uniq, side="left"))
    n_event[:, 0] = n_event[:, 1:].sum(axis=1)
    counts = np.diff(np.append(starts, t.size))
    return RiskTable(time=uniq, n_risk=(t.size - starts).astype(np.int64), n_event=n_event,
                     n_censor=(counts - n_event[:, 0]).astype(np.int64))


def z_value(conf_level: float) -> float:
    """The two-sided normal quantile (1.959963984540054 for 0.95, R's ``qnorm(0.975)``)."""
    if not 0.0 < conf_level < 1.0:
        raise InputError("conf_level must lie strictly between 0 and 1", field="conf_level",
                         value=str(conf_level))
    return NormalDist().inv_cdf(1.0 - (1.0 - conf_level) / 2.0)


def chi2_sf(x: float, df: int) -> float:
    """Upper tail of the chi-square distribution with an integer ``df`` (closed forms:
    Abramowitz & Stegun 26.4.4-26.4.5), so the core needs no scipy."""
    if df <= 0 or not math.isfinite(x):
        return math.nan
    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, math.exp(-half) * total)
    root = math.sqrt(x)
    total = math.erfc(root / math.sqrt(2.0))
    term = math.sqrt(2.0 / math.pi) * math.exp(-half) * root
    for i in range(1, (df + 1) // 2):
        total += term
        term *= x / (2 * i + 1)
    return min(1.0, total)


def loglog_interval(estimate: FloatArray, se_log: FloatArray,
                    z: float) -> tuple[FloatArray, FloatArray]:
    """R's ``conf.type = "log-log"``: the interval for log(-log p), back-transformed,
    ``p^exp(∓ z·se_log/log p)``, where ``se_log`` is the standard error of log p. Undefined
    (NaN, R's NA) where p is 0 or 1 or the standard error is not finite."""
    lower = np.full(estimate.shape, np.nan)
    upper = np.full(estimate.shape, np.nan)
    ok = (estimate > 0) & (estimate < 1) & np.isfinite(se_log)
    logp = np.log(estimate[ok])
    theta = z * se_log[ok] / logp
    lower[ok] = np.exp(np.exp(-theta) * logp)
    upper[ok] = np.exp(np.exp(theta) * logp)
    return lower, upper


def index_at(times: FloatArray, at: FloatArray) -> IntArray:
    """For each time in ``at``, the row of the last distinct time ≤ it (-1 before the first)."""
    return np.searchsorted(times, at, side="right").astype(np.int64) - 1


def merge_tables(tables: list[RiskTable], n_causes: int) -> RiskTable:
    """The risk table of the union of the patients behind ``tables`` (each a
    :class:`RiskTable` with ``n_causes + 1`` event columns), counts added at each distinct
    time; the number at risk at t is everyone's count of times ≥ t. Equal, integer for
    integer, to :func:`risk_table` of the concatenated data (the basis of pooling centres'
    tables, :mod:`everydonor.outcomes.federated`)."""
    parts = [t for t in tables if t.time.size]
    if not parts:
        return RiskTable(time=np.zeros(0), n_risk=np.zeros(0, dtype=np.int64),
                         n_event=np.zeros((0, n_causes + 1), dtype=np.int64),
                         n_censor=np.zeros(0, dtype=np.int64))
    times = np.unique(np.concatenate([t.time for t in parts]))
    n_event = np.zeros((times.size, n_causes + 1), dtype=np.int64)
    n_censor = np.zeros(times.size, dtype=np.int64)
    for t in parts:
        if t.n_event.shape[1] != n_causes + 1:
            raise InputError(f"a table with {t.n_event.shape[1] - 1} causes cannot be merged "
                             f"into one with {n_causes}", field="causes")
        rows = np.searchsorted(times, t.time)
        n_event[rows] += t.n_event
        n_censor[rows] += t.n_censor
    counts = n_event[:, 0] + n_censor
    n_risk = np.cumsum(counts[::-1])[::-1].astype(np.int64)
    return RiskTable(time=times, n_risk=n_risk, n_event=n_event, n_censor=n_censor)


def at_risk(table: RiskTable, times: FloatArray) -> IntArray:
    """The table's number at risk (count of times ≥ t) at each of ``times``: its ``n_risk``
    at the first of its own times ≥ t, 0 after its last."""
    i = np.searchsorted(table.time, times, side="left")
    padded = np.append(table.n_risk, 0).astype(np.int64)
    return padded[i]


def events_at(table: RiskTable, times: FloatArray, column: int = 0) -> IntArray:
    """The table's events (column 0 = any cause, k = cause k) at each of ``times`` exactly
    (0 where the table has no such time)."""
    i = np.searchsorted(table.time, times, side="left")
    hit = i < table.time.size
    hit[hit] = table.time[i[hit]] == times[hit]
    out = np.zeros(times.size, dtype=np.int64)
    out[hit] = table.n_event[i[hit], column]
    return out
