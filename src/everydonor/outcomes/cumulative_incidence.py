"""Aalen-Johansen cumulative incidence of competing risks, on the data as given.

Tied times are kept tied (lifelines' AalenJohansenFitter jitters them by default; we do not):
F_k(t) = Σ_{t_j ≤ t} S(t_{j-1}) d_kj / n_j, with S the all-cause Kaplan-Meier.

Variance, for cause k at t (differences ``F_k(t) − F_k(t_j)`` written ΔF):

* ``aalen`` — Aalen (1978, Ann Stat 6:534) as written by Pintilie (2006, *Competing Risks*,
  Eq. 4.5): Σ ΔF² d_j/((n_j−1)(n_j−d_j)) + Σ S²_{j−1} d_kj (n_j−d_kj)/(n_j²(n_j−1))
  − 2 Σ ΔF S_{j−1} d_kj (n_j−d_kj)/(n_j (n_j−d_j)(n_j−1)); a term with a zero denominator is 0.
* ``delta`` — the delta method, Dinse & Larson (1986, Biometrika 73:379, Eq. 6):
  Σ ΔF² d_j/(n_j(n_j−d_j)) + Σ S²_{j−1} d_kj (n_j−d_kj)/n_j³ − 2 Σ ΔF S_{j−1} d_kj/n_j².

These are scikit-survival's ``var_type="Aalen"`` and ``"Dinse_Approx"``; we compute them in
O(n) by expanding ΔF² with running sums (scikit-survival forms an n×n matrix). The log-log
interval uses se(log F) = se/F: ``F^exp(∓ z·se/(F log F))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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


class Variance(StrEnum):
    AALEN = "aalen"
    DELTA = "delta"


@dataclass(frozen=True, slots=True)
class CumulativeIncidenceResult:
    """Per cause (row ``k − 1`` for cause ``k``) at every distinct observed time."""

    time: FloatArray
    n_risk: IntArray
    n_event: IntArray          # (times, causes + 1); column 0 = any cause
    causes: tuple[int, ...]
    cif: FloatArray            # (causes, times)
    variance: FloatArray       # (causes, times)
    se: FloatArray
    lower: FloatArray
    upper: FloatArray
    survival: FloatArray       # all-cause Kaplan-Meier, (times,)
    n: int
    variance_method: Variance
    conf_level: float

    def at(self, cause: int, times: npt.ArrayLike) -> dict[str, FloatArray]:
        """The estimate for ``cause`` at each time: the value at the last distinct time ≤ t
        (0, se 0, no interval before the first)."""
        if cause not in self.causes:
            raise InputError(f"no cause {cause} (causes: {list(self.causes)})", field="cause",
                             value=str(cause))
        r = cause - 1
        t = np.asarray(times, dtype=np.float64)
        i = index_at(self.time, t)
        before = i < 0
        j = np.where(before, 0, i)
        out = {"cif": self.cif[r, j].copy(), "se": self.se[r, j].copy(),
               "lower": self.lower[r, j].copy(), "upper": self.upper[r, j].copy()}
        out["cif"][before] = 0.0
        out["se"][before] = 0.0
        out["lower"][before] = np.nan
        out["upper"][before] = np.nan
        out["time"] = t
        return out


def _safe_divide(num: FloatArray, den: FloatArray) -> FloatArray:
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


def aalen_johansen(time: npt.ArrayLike, event: npt.ArrayLike, *,
                   variance: Variance | str = Variance.AALEN, conf_level: float = 0.95,
                   n_causes: int | None = None) -> CumulativeIncidenceResult:
    """Cumulative incidence of each cause 1…K (event 0 = censored).

    >>> r = aalen_johansen([1, 2, 3, 4], [1, 2, 0, 1])
    >>> [round(float(x), 4) for x in r.cif[0]]
    [0.25, 0.25, 0.25, 0.75]
    """
    t, e = check_arrays(time, event)
    k = max(int(e.max()), 1) if n_causes is None else n_causes
    return aalen_johansen_from_table(risk_table(t, e, n_causes=k), variance=variance,
                                     conf_level=conf_level)


def aalen_johansen_from_table(table: RiskTable, *, variance: Variance | str = Variance.AALEN,
                              conf_level: float = 0.95) -> CumulativeIncidenceResult:
    """Aalen-Johansen from a risk table with one event column per cause (after column 0, any
    cause): the arithmetic of :func:`aalen_johansen`, which calls it, so a pooled table
    (:func:`everydonor.outcomes.counting.merge_tables`) gives the patient-level answer."""
    method = Variance(variance)
    if table.time.size == 0:
        raise InputError("no observations", field="time")
    k = table.n_event.shape[1] - 1
    n = table.n_risk.astype(np.float64)
    d = table.n_event[:, 0].astype(np.float64)
    survival: FloatArray = np.cumprod(1.0 - d / n).astype(np.float64)
    s_prev = np.concatenate(([1.0], survival[:-1]))
    dk = table.n_event[:, 1:].T.astype(np.float64)                    # (k, m)
    cif = np.cumsum(s_prev * dk / n, axis=1)
    if method is Variance.AALEN:
        a = _safe_divide(d, (n - 1) * (n - d))
        b = _safe_divide(s_prev**2 * dk * (n - dk), (n - 1) * n**2)
        c = _safe_divide(s_prev * dk * (n - dk), n * (n - d) * (n - 1))
    else:
        a = _safe_divide(d, n * (n - d))
        b = s_prev**2 * dk * (n - dk) / n**3
        c = s_prev * dk / n**2
    # Σ_{j≤i} (F_i − F_j)² a_j = F_i² Σa − 2 F_i Σ F_j a_j + Σ F_j² a_j (running sums)
    a0 = np.cumsum(a)
    a1 = np.cumsum(cif * a, axis=1)
    a2 = np.cumsum(cif**2 * a, axis=1)
    var = (cif**2 * a0 - 2 * cif * a1 + a2) + np.cumsum(b, axis=1) \
        - 2 * (cif * np.cumsum(c, axis=1) - np.cumsum(cif * c, axis=1))
    var = np.maximum(var, 0.0)  # rounding in the expansion can leave -1e-19 where it is 0
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        se_log = np.where(cif > 0, se / cif, np.nan)
    lower, upper = loglog_interval(cif, se_log, z_value(conf_level))
    return CumulativeIncidenceResult(
        time=table.time, n_risk=table.n_risk, n_event=table.n_event,
        causes=tuple(range(1, k + 1)), cif=cif, variance=var, se=se, lower=lower, upper=upper,
        survival=survival, n=int(table.n_risk[0]), variance_method=method, conf_level=conf_level)
