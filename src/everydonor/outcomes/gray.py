"""Gray's K-sample test for the cumulative incidence of a competing risk (Gray 1988).

Gray RJ. A class of K-sample tests for comparing the cumulative incidence of a competing risk.
Ann Stat 1988;16:1141-1154. The statistic, its variance and the handling of tied times follow
the algorithm of R's ``cmprsk::cuminc`` (Fortran ``crstm``/``crst``, R. Gray), written here in
numpy from that algorithm so that ``$Tests`` (stat, pv, df) is reproduced:

* at each distinct time with an event, every event at that time is counted at once (ties as
  given, no jittering); censorings at a time leave the risk set after that time's events;
* the score of group *g* for cause *k* is Σ_t w(t) [d_gk(t) − d_k(t) R_g(t)/Σ_r R_r(t)], with
  R_g = Y_g (1 − F̂_gk(t−)) / Ŝ_g(t−) (Ŝ_g the group's Kaplan-Meier of any event, F̂_gk its
  Aalen-Johansen cumulative incidence) and the weight w(t) = (1 − F̂_k(t−))^ρ, F̂_k the pooled
  estimate Σ d_k / Σ_r Y_r/Ŝ_r;
* the variance is Gray's martingale estimator (Section 3 of the paper), with cmprsk's finite
  corrections for tied events; the test uses the first K − 1 groups (it does not depend on
  which group is left out) and is chi-square on K − 1 df;
* with strata, scores and variances are computed within each stratum and summed.

Where the variance matrix is singular (cmprsk's QR rank check, tolerance 1e-7) cmprsk prints
stat −1 and pv 1; we return NaN for both rather than a p-value that looks like an answer. The
p-value is the upper chi-square tail computed directly (R prints ``1 - pchisq``, equal to it
above about 1e-15).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError
from everydonor.outcomes.counting import FloatArray, IntArray, check_arrays, chi2_sf

#: R's ``qr()`` tolerance (LINPACK dqrdc2), used by cmprsk to decide the variance is singular
QR_TOLERANCE = 1e-7
_CHUNK_CELLS = 2_000_000  # times × (K−1) × K cells held at once


@dataclass(frozen=True, slots=True)
class GrayResult:
    """Gray's test for one cause: chi-square ``statistic`` on ``df`` = groups − 1 degrees of
    freedom and its upper-tail ``p`` (both NaN where the variance is singular)."""

    cause: int
    statistic: float
    df: int
    p: float


def gray_test(time: npt.ArrayLike, event: npt.ArrayLike, group: npt.ArrayLike,
              strata: npt.ArrayLike | None = None, rho: float = 0.0) -> tuple[GrayResult, ...]:
    """Gray's test of equal cumulative incidence across the groups, one result per cause with
    at least one event (in increasing order), as R's ``cuminc(time, event, group, strata,
    rho)$Tests``. ``event`` is 0 for censored, 1…k for the causes.

    >>> time = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    >>> event = [1, 2, 1, 0, 1, 1, 2, 2, 0, 2]
    >>> group = ["a", "a", "a", "a", "a", "b", "b", "b", "b", "b"]
    >>> [(r.cause, round(r.statistic, 4), r.df, round(r.p, 4))
    ...  for r in gray_test(time, event, group)]
    [(1, 4.573, 1, 0.0325), (2, 0.9846, 1, 0.3211)]
    """
    t, e = check_arrays(time, event)
    g = np.asarray(group).astype(str)
    if g.shape != t.shape:
        raise InputError(f"group must have one value per observation (got {g.size} for "
                         f"{t.size})", field="group")
    labels, g_index = np.unique(g, return_inverse=True)
    if labels.size < 2:
        raise InputError(f"Gray's test compares groups: it needs at least 2, the data have one "
                         f"({labels[0]!r})", field="group", value=str(labels[0]))
    if strata is None:
        s_index = np.zeros(t.size, dtype=np.int64)
    else:
        s = np.asarray(strata).astype(str)
        if s.shape != t.shape:
            raise InputError(f"strata must have one value per observation (got {s.size} for "
                             f"{t.size})", field="strata")
        s_index = np.unique(s, return_inverse=True)[1].astype(np.int64)
    weight_power = float(rho)
    if not np.isfinite(weight_power):
        raise InputError("rho must be a finite number", field="rho", value=str(rho))
    n_groups = int(labels.size)
    causes = [int(c) for c in np.unique(e[e > 0])]
    tables = [_stratum_table(t[s_index == k], e[s_index == k], g_index[s_index == k], n_groups)
              for k in np.unique(s_index)]
    results = []
    for cause in causes:
        score = np.zeros(n_groups - 1)
        variance = np.zeros((n_groups - 1, n_groups - 1))
        for table in tables:
            s_k, v_k = _score_variance(table, cause, weight_power)
            score += s_k
            variance += v_k
        statistic = _quadratic_form(score, variance)
        df = n_groups - 1
        results.append(GrayResult(cause=cause, statistic=statistic, df=df,
                                  p=chi2_sf(statistic, df) if np.isfinite(statistic)
                                  else float("nan")))
    return tuple(results)


@dataclass(frozen=True, slots=True)
class _Table:
    """One stratum, at its distinct times with at least one event: the number at risk per
    group (``n_risk[t, g]``) and events per group and cause (``n_event[t, g, cause]``)."""

    n_risk: FloatArray
    n_event: IntArray


def _stratum_table(time: FloatArray, event: IntArray, group: IntArray, n_groups: int) -> _Table:
    uniq, row = np.unique(time, return_inverse=True)
    n_causes = int(event.max()) + 1
    total = np.zeros((uniq.size, n_groups), dtype=np.int64)
    np.add.at(total, (row, group), 1)
    counts = np.zeros((uniq.size, n_groups, n_causes), dtype=np.int64)
    np.add.at(counts, (row, group, event), 1)
    at_risk = np.cumsum(total[::-1], axis=0)[::-1]  # observed at or after each time
    has_event = counts[:, :, 1:].sum(axis=(1, 2)) > 0
    return _Table(n_risk=at_risk[has_event].astype(np.float64), n_event=counts[has_event])


def _score_variance(table: _Table, cause: int, rho: float) -> tuple[FloatArray, FloatArray]:
    """Score of the first K − 1 groups and its covariance within one stratum."""
    rs = table.n_risk
    n_times, n_groups = rs.shape
    g1 = n_groups - 1
    score = np.zeros(g1)
    variance = np.zeros((g1, g1))
    if n_times == 0:
        return score, variance
    d1 = (table.n_event[:, :, cause] if cause < table.n_event.shape[2]
          else np.zeros(rs.shape, dtype=np.int64)).astype(np.float64)
    d2 = table.n_event[:, :, 1:].sum(axis=2).astype(np.float64) - d1
    at = rs > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # group Kaplan-Meier (any event) and cumulative incidence of the cause: right (t) and
        # left (t−) continuous; a group no longer at risk keeps its last values
        skm = np.cumprod(np.where(at, (rs - d1 - d2) / rs, 1.0), axis=0)
        skmm = np.vstack([np.ones((1, n_groups)), skm[:-1]])
        f1 = np.cumsum(np.where(at, skmm * d1 / rs, 0.0), axis=0)
        f1m = np.vstack([np.zeros((1, n_groups)), f1[:-1]])
        u = np.where(at, rs / skmm, 0.0)  # Y_g / S_g(t−), Gray's ĥ_g
        tr = u.sum(axis=1)
        tq = np.where(at, u * (1.0 - f1m), 0.0).sum(axis=1)
        nd1 = d1.sum(axis=1)
        f = np.cumsum(nd1 / tr)  # pooled cumulative incidence F̂(t)
        fm = np.concatenate([[0.0], f[:-1]])
        fb = (1.0 - fm) ** rho
        score = (fb[:, None] * np.where(at[:, :g1], d1[:, :g1] - nd1[:, None] * u[:, :g1]
                                        * (1.0 - f1m[:, :g1]) / tq[:, None], 0.0)).sum(axis=0)
        # events of the cause: t4 = 1 − (1 − F̂)/Ŝ_g, t3 its weight (finite correction for ties)
        ev1 = (nd1 > 0)[:, None] & at
        t4a = np.where(skm > 0, 1.0 - (1.0 - f[:, None]) / skm, 1.0)
        t5a = np.where(nd1[:, None] > 1, 1.0 - (nd1[:, None] - 1.0) / (tr[:, None] * skmm - 1.0),
                       1.0)
        t3a = np.where(ev1, t5a * skmm * nd1[:, None] / (tr[:, None] * rs), 0.0)
        t4a = np.where(ev1, t4a, 0.0)
        # competing events
        ev2 = (skm > 0) & (d2 > 0)
        t4b = np.where(ev2, (1.0 - f[:, None]) / skm, 0.0)
        t5b = np.where(d2 > 1, 1.0 - (d2 - 1.0) / (rs - 1.0), 1.0)
        t3b = np.where(ev2, t5b * skmm**2 * d2 / rs**2, 0.0)
        c_step = nd1 / (tr * (1.0 - fm))
    v3 = (t4a**2 * t3a).sum(axis=0) + (t4b**2 * t3b).sum(axis=0)
    v2 = np.zeros((g1, n_groups))
    c_total = np.zeros((g1, n_groups))
    chunk = max(1, _CHUNK_CELLS // (g1 * n_groups))
    for lo in range(0, n_times, chunk):
        hi = min(lo + chunk, n_times)
        uu, tt = u[lo:hi], tr[lo:hi]
        # a[t, i, j] = w (δ_ij ĥ_i − ĥ_i ĥ_j / Σĥ), the first K − 1 rows
        a = -(fb[lo:hi] / tt)[:, None, None] * uu[:, :g1, None] * uu[:, None, :]
        diag = np.arange(g1)
        a[:, diag, diag] += fb[lo:hi, None] * uu[:, :g1]
        # c: its running sum weighted by d/(Σĥ (1 − F̂(t−))), including this time's term
        c = c_total + np.cumsum(a * np.where(nd1[lo:hi] > 0, c_step[lo:hi], 0.0)[:, None, None],
                                axis=0)
        c_total = c[-1]
        b = a - t4a[lo:hi, None, :] * c
        v2 += np.einsum("tik,tk->ik", b, t4a[lo:hi] * t3a[lo:hi])
        variance += np.einsum("tik,tjk,tk->ij", b, b, t3a[lo:hi])
        e = t4b[lo:hi, None, :] * c
        v2 -= np.einsum("tik,tk->ik", e, t4b[lo:hi] * t3b[lo:hi])
        variance += np.einsum("tik,tjk,tk->ij", e, e, t3b[lo:hi])
    variance += (c_total * v3) @ c_total.T + c_total @ v2.T + v2 @ c_total.T
    return score, variance


def _full_rank(matrix: FloatArray) -> bool:
    """R's ``qr(v)$rank == ncol(v)`` (LINPACK dqrdc2): no column whose part left after the
    earlier Householder steps is below 1e-7 of its original norm (a zero column never counts)."""
    norms = np.linalg.norm(matrix, axis=0)
    r = np.linalg.qr(matrix, mode="r")
    return bool(np.all(np.abs(np.diag(r)) >= QR_TOLERANCE * np.where(norms > 0, norms, 1.0)))


def _quadratic_form(score: FloatArray, variance: FloatArray) -> float:
    if not (np.all(np.isfinite(variance)) and np.all(np.isfinite(score))):
        return float("nan")
    if not _full_rank(variance):
        return float("nan")
    return float(score @ np.linalg.solve(variance, score))
