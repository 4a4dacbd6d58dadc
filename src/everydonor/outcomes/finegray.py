"""Fine-Gray proportional subdistribution hazards (Fine & Gray 1999, JASA 94:496-509), as an
inverse-probability-of-censoring weighted Cox model (Geskus 2011, Biometrics 67:39-49).

At each failure time t of the cause of interest, the risk set holds everyone still under
observation (T_i ≥ t, weight 1) and everyone who failed of a competing cause before t, with
weight G(t−)/G(T_i−), G the Kaplan-Meier estimate of the censoring distribution (left limits,
as R ``cmprsk::crr`` evaluates it). This is the counting-process expansion of the spec (§4.2)
computed directly with cumulative sums, so no expanded data set is built.

Variance: the **model-based** standard error — the inverse of the weighted information, treating
the weights as known. It is not the sandwich variance that ``cmprsk::crr`` prints, which also
accounts for the estimation of G; the two are usually close (see ARCHITECTURE.md, "Outcomes").
Fine-Gray cumulative incidences of several causes can sum above 1; report the cause-specific
Cox model alongside (Austin & Fine 2017, Stat Med 36:4391-4400).

With ``strata``, each stratum has its own baseline subdistribution hazard and its own censoring
distribution G (Zhou et al. 2011, Biometrics 67:661-670, for stratified Fine-Gray).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError
from everydonor.outcomes.counting import FloatArray, IntArray, check_arrays
from everydonor.outcomes.cox import (
    CoxResult,
    Design,
    RiskSums,
    Ties,
    build_stratum,
    check_design,
    fit_risk_sets,
    strata_index,
    summarise,
)
from everydonor.outcomes.kaplan_meier import kaplan_meier


def censoring_left_limit(time: FloatArray, event: IntArray) -> tuple[FloatArray, FloatArray]:
    """The Kaplan-Meier estimate of the censoring distribution (censoring = event 0): its
    distinct times and values, for G(t−) lookups."""
    g = kaplan_meier(time, (event == 0).astype(np.int64))
    return g.time, g.survival


def g_before(times: FloatArray, values: FloatArray, at: FloatArray) -> FloatArray:
    """G(t−): the value at the last distinct time strictly before t (1 before the first)."""
    i = np.searchsorted(times, at, side="left") - 1
    out = np.ones(at.shape)
    out[i >= 0] = values[i[i >= 0]]
    return out


def subdistribution_risk_sums(time: FloatArray, *, competing: npt.NDArray[np.bool_],
                              g_at_own: FloatArray, x: FloatArray, event_times: FloatArray,
                              g_at_events: FloatArray) -> RiskSums:
    """Risk-set sums at each event time t: Σ_{T_i ≥ t} r_i (·x, ·xxᵀ) plus
    G(t−) Σ_{competing, T_i < t} r_i / G(T_i−) (·x, ·xxᵀ)."""
    p = x.shape[1]
    outer = (x[:, :, None] * x[:, None, :]).reshape(x.shape[0], p * p)
    order = np.argsort(time, kind="stable")
    i_tail = np.searchsorted(time[order], event_times, side="left")
    comp = np.flatnonzero(competing)
    c_order = comp[np.argsort(time[comp], kind="stable")]
    i_head = np.searchsorted(time[c_order], event_times, side="left")  # competing with T < t

    def tail(values: FloatArray) -> FloatArray:
        v = values[order]
        c = np.concatenate((np.cumsum(v[::-1], axis=0)[::-1], np.zeros((1, *v.shape[1:]))))
        out: FloatArray = c[i_tail]
        return out

    def head(values: FloatArray) -> FloatArray:
        v = values[c_order] / g_at_own[c_order].reshape((-1,) + (1,) * (values.ndim - 1))
        c = np.concatenate((np.zeros((1, *v.shape[1:])), np.cumsum(v, axis=0)))
        g = g_at_events.reshape((-1,) + (1,) * (values.ndim - 1))
        out: FloatArray = g * c[i_head]
        return out

    def sums(risk: FloatArray, _unused: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        r1 = risk[:, None]
        s0 = tail(risk) + head(risk)
        s1 = tail(r1 * x) + head(r1 * x)
        s2 = tail(r1 * outer) + head(r1 * outer)
        return s0, s1, s2.reshape(event_times.size, p, p)

    return sums


def fine_gray(time: npt.ArrayLike, event: npt.ArrayLike, design: Design, *, cause: int,
              ties: Ties | str = Ties.BRESLOW, strata: npt.ArrayLike | None = None,
              se: str | None = None, conf_level: float = 0.95) -> CoxResult:
    """Subdistribution hazard ratios for ``cause``; every other non-zero event competes.

    ``ties`` defaults to Breslow, which is what ``cmprsk::crr`` uses. ``se``: ``"sandwich"``
    (Fine & Gray 1999 §3, what crr and SAS PHREG print: needs Breslow ties and no strata),
    ``"model"`` (the weights taken as known), or None — the sandwich where it applies, else
    model-based; the result's ``se_method`` says which.

    >>> from everydonor.outcomes.cox import design_matrix
    >>> d = design_matrix({"x": ["0", "1", "0", "1", "0", "1", "1", "0"]})
    >>> r = fine_gray([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 1, 0, 2, 1, 1, 0], d, cause=1)
    >>> r.events, round(r.terms[0].coef, 4)
    (4, -0.1297)
    """
    method = Ties(ties)
    t, e = check_arrays(time, event)
    n = t.size
    if cause < 1:
        raise InputError(f"--cause must be ≥ 1, got {cause}", field="--cause", value=str(cause))
    x = check_design(design, n)
    status = (e == cause).astype(np.int64)
    events = int(status.sum())
    if events == 0:
        raise InputError(f"no events of cause {cause}: the model cannot be fitted",
                         field="--cause", value=str(cause))
    competing = (e > 0) & (e != cause)
    xc = x - x.mean(axis=0)
    weight = np.ones(n)
    start = np.full(n, -np.inf)
    s_index = strata_index(strata, n)
    groups = []
    for s in np.unique(s_index):
        rows = np.flatnonzero(s_index == s)
        g_times, g_values = censoring_left_limit(t[rows], e[rows])
        ev = rows[status[rows] > 0]
        event_times = np.unique(t[ev])
        sums = subdistribution_risk_sums(
            t[rows], competing=competing[rows], g_at_own=g_before(g_times, g_values, t[rows]),
            x=xc[rows], event_times=event_times,
            g_at_events=g_before(g_times, g_values, event_times))
        groups.append(build_stratum(rows, start=start, stop=t, status=status, weight=weight, x=xc,
                                    sums=sums))
    fit = fit_risk_sets(groups, xc, weight, status, method, terms=design.terms)
    sandwich_applies = method is Ties.BRESLOW and strata is None
    if se not in (None, "sandwich", "model"):
        raise InputError(f"se must be 'sandwich' or 'model', got {se!r}", field="se",
                         value=str(se))
    if se == "sandwich" and not sandwich_applies:
        raise InputError("the Fine-Gray sandwich variance is built for Breslow ties and one "
                         "censoring distribution (no strata): use the model-based se",
                         field="se", value=se)
    if se == "model" or not sandwich_applies or fit.infinite:
        return summarise(n=n, events=events, ties=method, design=design, fit=fit,
                         conf_level=conf_level)
    from everydonor.outcomes.finegray_variance import fine_gray_sandwich_variance

    variance = fine_gray_sandwich_variance(t, e, design, cause=cause, coef=fit.beta)
    return summarise(n=n, events=events, ties=method, design=design,
                     fit=dataclasses.replace(fit, variance=variance), conf_level=conf_level,
                     se_method="sandwich")

