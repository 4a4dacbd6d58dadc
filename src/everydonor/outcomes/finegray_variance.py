"""The Fine-Gray sandwich variance (Fine & Gray 1999, JASA 94:496-509, §3), the standard error
that R ``cmprsk::crr`` and SAS PROC PHREG (``EVENTCODE=``) print.

The model-based variance of :func:`everydonor.outcomes.fine_gray` treats the censoring weights
G(t−)/G(T_i−) as known. Fine & Gray's estimator also accounts for G being estimated
(Kaplan-Meier of the censoring times):

    V = Ω⁻¹ Σ_i (η_i + ψ_i)(η_i + ψ_i)ᵀ Ω⁻¹

* Ω — the weighted information at β̂ (Breslow ties), as in the fit;
* η_i = ∫ (Z_i − E(β̂, t)) w_i(t) dM̂_i¹(t): the subject's weighted score residual — its own
  cause-of-interest failure, minus its share r_i w_i(t) dΛ̂₀(t) of every failure time t at
  which it is in the subdistribution risk set (weight 1 while T_i ≥ t; G(t−)/G(T_i−) after a
  competing failure at T_i < t);
* ψ_i = ∫ q(u)/π(u) dM̂_i^c(u): the censoring martingale of subject i, weighted by
  q(u) = Σ_{failures t ≥ u} Σ_{competing j, T_j < u} r_j G(t−)/G(T_j−) (Z_j − E(β̂, t)) / S0(t)
  (the sensitivity of the score to the censoring hazard at u) and π(u) = Y(u), the number at
  risk: ψ_i = δᶜ_i q(T_i)/Y(T_i) − Σ_{censoring times u ≤ T_i} q(u) dNᶜ(u)/Y(u)².

Discretisation as in cmprsk's Fortran ``crrvv`` (G at left limits; a censoring tied with an
event time counts in q with failures at t ≥ u and competing failures at T_j < u), so that the
result is crr's standard error. Our own numpy code, O(n × distinct failure times × p²) time and
O(n × p) memory per failure time. Single censoring distribution only (crr's default
``cengroup``); with strata use the model-based variance or bootstrap.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError
from everydonor.outcomes.counting import FloatArray, check_arrays
from everydonor.outcomes.cox import Design, check_design
from everydonor.outcomes.finegray import censoring_left_limit, g_before


def fine_gray_sandwich_variance(time: npt.ArrayLike, event: npt.ArrayLike, design: Design, *,
                                cause: int, coef: npt.ArrayLike) -> FloatArray:
    """Fine & Gray's (1999) sandwich covariance of the coefficients ``coef`` (the Breslow fit of
    :func:`everydonor.outcomes.fine_gray` on the same data) — cmprsk ``crr``'s ``$var``.

    >>> from everydonor.outcomes import design_matrix, fine_gray
    >>> d = design_matrix({"x": ["0", "1", "0", "1", "0", "1", "1", "0"]})
    >>> t, e = [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 1, 0, 2, 1, 1, 0]
    >>> fit = fine_gray(t, e, d, cause=1, se="model")
    >>> v = fine_gray_sandwich_variance(t, e, d, cause=1, coef=fit.coef)
    >>> round(float(v[0, 0]) ** 0.5, 4), round(fit.terms[0].se, 4)
    (0.9083, 1.0044)
    """
    t, e = check_arrays(time, event)
    n = t.size
    x = check_design(design, n)
    beta = np.asarray(coef, dtype=float).reshape(-1)
    p = x.shape[1]
    if beta.size != p:
        raise InputError(f"coef has {beta.size} values for {p} design terms", field="coef",
                         value=str(beta.size))
    fail = e == cause
    if not fail.any():
        raise InputError(f"no events of cause {cause}: no variance", field="--cause",
                         value=str(cause))
    competing = (e > 0) & ~fail
    censored = e == 0
    g_times, g_values = censoring_left_limit(t, e)
    g_own = g_before(g_times, g_values, t)          # G(T_i−)
    xc = x - x.mean(axis=0)                           # centring leaves every quantity unchanged
    lp = xc @ beta
    r = np.exp(lp - np.max(lp))                       # a common factor cancels in E, dΛ·r, q

    fail_times, d_fail = np.unique(t[fail], return_counts=True)
    g_fail = g_before(g_times, g_values, fail_times)  # G(t−) at each failure time
    m = fail_times.size

    eta = np.zeros((n, p))
    info = np.zeros((p, p))
    s0 = np.empty(m)
    e_t = np.empty((m, p))
    for k, tk in enumerate(fail_times):
        w = np.where(t >= tk, 1.0, np.where(competing & (t < tk), g_fail[k] / g_own, 0.0))
        wr = w * r
        s0[k] = wr.sum()
        e_t[k] = wr @ xc / s0[k]
        dev = xc - e_t[k]
        info += d_fail[k] * (dev.T * wr) @ dev / s0[k]
        # η: minus each at-risk subject's share of the d_k failures at tk
        eta -= (d_fail[k] * wr / s0[k])[:, None] * dev
        # η: plus the subject's own failure
        own = fail & (t == tk)
        eta[own] += dev[own]

    # ψ: censoring martingale terms, at each distinct censoring time u
    psi = np.zeros((n, p))
    cens_times, d_cens = np.unique(t[censored], return_counts=True)
    at_risk = n - np.searchsorted(np.sort(t), cens_times, side="left")   # Y(u) = #{T ≥ u}
    comp_idx = np.flatnonzero(competing)
    q_at = np.zeros((cens_times.size, p))
    for c in range(cens_times.size):
        u = cens_times[c]
        later = fail_times >= u
        before = comp_idx[t[comp_idx] < u]
        if later.any() and before.size:
            # Σ_{t ≥ u} d_t / S0(t) Σ_{j competing, T_j < u} r_j G(t−)/G(T_j−) (Z_j − E(t))
            ratio = g_fail[later][:, None] / g_own[before][None, :]          # (m', |before|)
            weight = ratio * r[before][None, :] * (d_fail[later] / s0[later])[:, None]
            q = (weight @ xc[before]).sum(axis=0) - (weight.sum(axis=1) @ e_t[later])
        else:
            q = np.zeros(p)
        q_at[c] = q
    # ψ_i = δᶜ_i q(T_i)/Y(T_i) − Σ_{u ≤ T_i} q(u) dNᶜ(u)/Y(u)²
    running = np.cumsum(q_at * (d_cens / at_risk.astype(float) ** 2)[:, None], axis=0)
    idx = np.searchsorted(cens_times, t, side="right") - 1
    has = idx >= 0
    psi[has] = -running[idx[has]]
    ci = np.searchsorted(cens_times, t[censored])
    psi[censored] += q_at[ci] / at_risk[ci][:, None]

    u_i = eta + psi
    bread = np.linalg.inv(info)
    out: FloatArray = bread @ (u_i.T @ u_i) @ bread
    return out
