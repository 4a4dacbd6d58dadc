"""Cox proportional hazards regression (cause-specific), Breslow or Efron ties, strata,
categorical covariates with a stated reference level; the weighted risk-set engine that the
Fine-Gray model (:mod:`everydonor.outcomes.finegray`) also runs on.

Conventions are R ``survival::coxph``'s: the partial likelihood maximised by Newton-Raphson from
β = 0 with step halving; the standard error from the inverse of the observed information at the
maximum (model-based, ``se(coef)``); a two-sided Wald p-value; the 95% interval exp(β ± z·se).
Ties (Therneau & Grambsch 2000, *Modeling Survival Data*, §3.3):

* ``breslow``: every failure at t sees the whole risk set, log L = Σ_t [Σ_i∈D w_i η_i −
  W_t log S0(t)];
* ``efron``: the l-th of d tied failures sees the risk set less l/d of the failures,
  log L = Σ_t [Σ_i∈D w_i η_i − w̄_t Σ_{l<d} log(S0(t) − (l/d) E0(t))], w̄_t the mean weight of
  the tied failures (R's weighting).

Risk sets are sums over (start, stop] intervals computed with sorted cumulative sums (O(n log n)
per iteration), so the same code serves right-censored data, delayed entry and the IPCW weights
of Fine-Gray.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError
from everydonor.outcomes.counting import FloatArray, IntArray, check_arrays, z_value


class Ties(StrEnum):
    BRESLOW = "breslow"
    EFRON = "efron"


@dataclass(frozen=True, slots=True)
class Design:
    """The model matrix: one column per term; a categorical column ``COL`` contributes one
    indicator ``COL=LEVEL`` per level other than its reference."""

    matrix: FloatArray
    terms: tuple[str, ...]
    references: Mapping[str, str]       # categorical column -> its reference level
    continuous: tuple[str, ...]


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _level_key(level: str) -> tuple[int, float, str]:
    number = _as_number(level)
    return (0, number, level) if number is not None else (1, 0.0, level)


def design_matrix(columns: Mapping[str, Sequence[str]],
                  reference: Mapping[str, str] | None = None) -> Design:
    """Build the model matrix from named columns of text values (as read from a CSV).

    A column whose values all parse as finite numbers is continuous (one term, its name) unless
    a reference level is given for it; any other column is categorical, with one indicator term
    ``COL=LEVEL`` per level and the reference level ``reference[COL]``, or else the first level
    in sorted order (numbers numerically, then text), as R's ``factor`` does.

    >>> d = design_matrix({"age": ["30", "41"], "dis": ["AML", "ALL"]})
    >>> d.terms, d.references["dis"]
    (('age', 'dis=AML'), 'ALL')
    """
    reference = dict(reference or {})
    for name in reference:
        if name not in columns:
            raise InputError(f"--reference {name}={reference[name]}: {name!r} is not a covariate "
                             f"(covariates: {', '.join(columns) or 'none'})", field="--reference",
                             value=f"{name}={reference[name]}")
    if not columns:
        raise InputError("a regression needs at least one covariate", field="--covariate")
    n = len(next(iter(columns.values())))
    blocks: list[FloatArray] = []
    terms: list[str] = []
    refs: dict[str, str] = {}
    continuous: list[str] = []
    for name, raw in columns.items():
        values = [v.strip() for v in raw]
        if len(values) != n:
            raise InputError(f"covariate {name!r} has {len(values)} values, expected {n}",
                             field=name)
        numbers = [_as_number(v) for v in values]
        if name not in reference and all(x is not None for x in numbers):
            blocks.append(np.asarray(numbers, dtype=np.float64)[:, None])
            terms.append(name)
            continuous.append(name)
            continue
        levels = sorted(set(values), key=_level_key)
        ref = reference.get(name, levels[0])
        if ref not in levels:
            raise InputError(f"--reference {name}={ref}: {name!r} has no level {ref!r} (levels: "
                             f"{', '.join(levels)})", field="--reference", value=f"{name}={ref}")
        others = [lv for lv in levels if lv != ref]
        if not others:
            raise InputError(f"covariate {name!r} has a single level ({ref!r}): nothing to "
                             "compare", field=name, value=ref)
        arr = np.asarray(values)
        blocks.append(np.column_stack([(arr == lv).astype(np.float64) for lv in others]))
        terms += [f"{name}={lv}" for lv in others]
        refs[name] = ref
    return Design(matrix=np.hstack(blocks), terms=tuple(terms), references=refs,
                  continuous=tuple(continuous))


@dataclass(frozen=True, slots=True)
class CoxTerm:
    term: str
    coef: float
    hr: float
    se: float
    z: float
    p: float
    lower: float   # of the hazard ratio
    upper: float


@dataclass(frozen=True, slots=True)
class CoxResult:
    """A fitted model. ``loglik`` is at the maximum, ``loglik_null`` at β = 0; ``lr_*`` is the
    likelihood-ratio test of all terms; ``variance`` the model-based covariance of β."""

    n: int
    events: int
    ties: Ties
    terms: tuple[CoxTerm, ...]
    coef: FloatArray
    variance: FloatArray
    loglik: float
    loglik_null: float
    lr_statistic: float
    lr_df: int
    lr_p: float
    iterations: int
    converged: bool
    infinite_terms: tuple[str, ...]   # coefficients that may be infinite (R's warning)
    conf_level: float
    se_method: str = "model-based"   # or "sandwich" (Fine-Gray: Fine & Gray 1999 §3)


def _normal_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0)) if math.isfinite(z) else math.nan


#: sums over the risk set at each event time of one stratum, given exp(η)·w per row:
#: returns (S0 (m,), S1 (m,p), S2 (m,p,p)) at the stratum's distinct event times
RiskSums = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray, FloatArray]]


def interval_risk_sums(start: FloatArray, stop: FloatArray, x: FloatArray,
                       times: FloatArray) -> RiskSums:
    """Risk-set sums over rows with start < t ≤ stop at each of ``times``: the sums over
    stop ≥ t minus those over start ≥ t, by sorted cumulative sums."""
    by_stop = np.argsort(stop, kind="stable")
    by_start = np.argsort(start, kind="stable")
    i_stop = np.searchsorted(stop[by_stop], times, side="left")
    i_start = np.searchsorted(start[by_start], times, side="left")
    has_entry = bool(np.any(start > -np.inf))
    p = x.shape[1]
    outer = (x[:, :, None] * x[:, None, :]).reshape(x.shape[0], p * p)

    def tail(order: IntArray, idx: IntArray, values: FloatArray) -> FloatArray:
        v = values[order]
        c = np.concatenate((np.cumsum(v[::-1], axis=0)[::-1], np.zeros((1, *v.shape[1:]))))
        out: FloatArray = c[idx]
        return out

    def sums(risk: FloatArray, _unused: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        r1 = risk[:, None]
        s0 = tail(by_stop, i_stop, risk)
        s1 = tail(by_stop, i_stop, r1 * x)
        s2 = tail(by_stop, i_stop, r1 * outer)
        if has_entry:
            s0 = s0 - tail(by_start, i_start, risk)
            s1 = s1 - tail(by_start, i_start, r1 * x)
            s2 = s2 - tail(by_start, i_start, r1 * outer)
        return s0, s1, s2.reshape(times.size, p, p)

    return sums


@dataclass(frozen=True, slots=True)
class _Stratum:
    times: FloatArray          # distinct event times
    d: FloatArray              # number of events at each
    wsum: FloatArray           # sum of the events' weights
    event_rows: IntArray       # rows of the events, grouped by time in ``times`` order
    event_time_index: IntArray  # for each event row, its index into ``times``
    sums: RiskSums
    rows: IntArray             # the stratum's rows in the full data


def _efron_expand(st: _Stratum, ties: Ties) -> tuple[IntArray, FloatArray, FloatArray]:
    """(index into times, fraction l/d, weight multiplier) per Efron term."""
    if ties is Ties.BRESLOW:
        return (np.arange(st.times.size), np.zeros(st.times.size), st.wsum)
    d = st.d.astype(np.int64)
    idx = np.repeat(np.arange(st.times.size), d)
    starts = np.cumsum(d) - d
    rank = np.arange(idx.size) - np.repeat(starts, d)
    frac = rank / d[idx]
    return idx, frac, (st.wsum / st.d)[idx]


def _singular(info: FloatArray, terms: Sequence[str]) -> InputError:
    """Name what makes the information matrix singular."""
    scale = max(float(np.max(np.abs(np.diag(info)))), 1.0)
    empty = [terms[j] for j in range(len(terms)) if info[j, j] <= 1e-12 * scale]
    if empty:
        return InputError(f"no information on {', '.join(empty)}: the term does not vary among "
                          "the patients at risk at any event time (e.g. a level with no one at "
                          "risk when events occur); drop it or merge its level",
                          field="--covariate", value=", ".join(empty))
    return InputError(f"the terms {', '.join(terms)} are collinear (the information matrix is "
                      "singular): drop or merge a term", field="--covariate",
                      value=", ".join(terms))


@dataclass(frozen=True, slots=True)
class _Fit:
    beta: FloatArray
    variance: FloatArray
    loglik: float
    loglik0: float
    iterations: int
    converged: bool
    infinite: tuple[str, ...]


def fit_risk_sets(strata: Sequence[_Stratum], x: FloatArray, weight: FloatArray,
                  status: IntArray, ties: Ties, *, terms: Sequence[str], max_iter: int = 50,
                  tolerance: float = 1e-10) -> _Fit:
    """Newton-Raphson on the (weighted) partial likelihood, from β = 0 with step halving:
    β, its model-based covariance, log L at β and at 0, the iterations, whether log L
    converged, and the terms whose coefficient may be infinite."""
    p = x.shape[1]
    expansions = [_efron_expand(st, ties) for st in strata]

    def evaluate(beta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        eta = x @ beta
        shift = float(eta.max()) if eta.size else 0.0
        risk = weight * np.exp(eta - shift)
        loglik = float(np.sum((weight * eta)[status > 0])) - 0.0
        grad = np.zeros(p)
        info = np.zeros((p, p))
        for st, (idx, frac, wmul) in zip(strata, expansions, strict=True):
            rows = st.event_rows
            grad += (weight[rows][:, None] * x[rows]).sum(axis=0)
            s0, s1, s2 = st.sums(risk[st.rows], weight[st.rows])
            if ties is Ties.EFRON:
                e_risk = risk[rows]
                e0 = np.bincount(st.event_time_index, weights=e_risk, minlength=st.times.size)
                e1 = np.zeros((st.times.size, p))
                np.add.at(e1, st.event_time_index, e_risk[:, None] * x[rows])
                e2 = np.zeros((st.times.size, p, p))
                np.add.at(e2, st.event_time_index,
                          e_risk[:, None, None] * x[rows][:, :, None] * x[rows][:, None, :])
                a0 = s0[idx] - frac * e0[idx]
                a1 = s1[idx] - frac[:, None] * e1[idx]
                a2 = s2[idx] - frac[:, None, None] * e2[idx]
            else:
                a0, a1, a2 = s0[idx], s1[idx], s2[idx]
            mean = a1 / a0[:, None]
            loglik -= float(np.sum(wmul * (np.log(a0) + shift)))
            grad -= (wmul[:, None] * mean).sum(axis=0)
            info += np.einsum("k,kij->ij", wmul, a2 / a0[:, None, None]) \
                - np.einsum("k,ki,kj->ij", wmul, mean, mean)
        return loglik, grad, info

    beta = np.zeros(p)
    loglik0, grad, info = evaluate(beta)
    if np.linalg.matrix_rank(info) < p:
        raise _singular(info, terms)
    loglik = loglik0
    loglik_converged = False
    step: FloatArray = np.zeros(p)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported)
        if np.linalg.matrix_rank(info) < p:
            break  # the information vanished on the way: a coefficient runs to infinity
        step = np.asarray(np.linalg.solve(info, grad), dtype=np.float64)
        new_beta = beta + step
        new_loglik, new_grad, new_info = evaluate(new_beta)
        halvings = 0
        while (not math.isfinite(new_loglik) or new_loglik < loglik - 1e-12) and halvings < 30:
            step /= 2.0
            new_beta = beta + step
            new_loglik, new_grad, new_info = evaluate(new_beta)
            halvings += 1
        change = abs(new_loglik - loglik)
        beta, loglik, grad, info = new_beta, new_loglik, new_grad, new_info
        loglik_converged = change <= tolerance * max(1.0, abs(loglik))
        if loglik_converged and float(np.max(np.abs(step))) < 1e-8:
            break
    # R coxph's test for a coefficient that may be infinite (monotone likelihood): the last
    # Newton step is not small against the coefficient (toler.inf = sqrt(1e-9))
    tol_inf = math.sqrt(1e-9)
    diag = np.diag(info)
    scale = max(float(np.max(np.abs(diag))), 1.0)
    infinite = tuple(terms[j] for j in range(p)
                     if (abs(step[j]) > tol_inf and abs(step[j]) > tol_inf * abs(beta[j]))
                     or diag[j] <= 1e-12 * scale)
    variance = np.linalg.pinv(info) if infinite else np.linalg.inv(info)
    return _Fit(beta=np.asarray(beta, dtype=np.float64),
                variance=np.asarray(variance, dtype=np.float64), loglik=loglik,
                loglik0=loglik0, iterations=iterations, converged=loglik_converged,
                infinite=infinite)


def build_stratum(rows: IntArray, *, start: FloatArray, stop: FloatArray, status: IntArray,
                  weight: FloatArray, x: FloatArray, sums: RiskSums | None = None) -> _Stratum:
    """The event times of one stratum and its risk-set sums (``sums`` overrides the plain
    (start, stop] risk sets, as Fine-Gray does)."""
    ev = rows[status[rows] > 0]
    ev = ev[np.argsort(stop[ev], kind="stable")]
    times, index, counts = np.unique(stop[ev], return_inverse=True, return_counts=True)
    wsum = np.bincount(index, weights=weight[ev], minlength=times.size).astype(np.float64)
    if sums is None:
        sums = interval_risk_sums(start[rows], stop[rows], x[rows], times)
    return _Stratum(times=times, d=counts.astype(np.float64), wsum=wsum, event_rows=ev,
                    event_time_index=index.astype(np.int64), sums=sums, rows=rows)


def strata_index(strata: npt.ArrayLike | None, n: int) -> IntArray:
    if strata is None:
        return np.zeros(n, dtype=np.int64)
    s = np.asarray(strata).astype(str)
    if s.shape != (n,):
        raise InputError("strata must have one value per observation", field="strata")
    return np.unique(s, return_inverse=True)[1].astype(np.int64)


def check_design(design: Design, n: int) -> FloatArray:
    x = np.asarray(design.matrix, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != n:
        raise InputError(f"the design has {x.shape[0] if x.ndim else 0} rows for {n} observations",
                         field="--covariate")
    return x


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def summarise(*, n: int, events: int, ties: Ties, design: Design, fit: _Fit,
              conf_level: float, se_method: str = "model-based") -> CoxResult:
    """Coefficients, hazard ratios, Wald tests and intervals; the covariates were centred for
    the fit, which leaves β unchanged."""
    z = z_value(conf_level)
    beta, variance, loglik, loglik0 = fit.beta, fit.variance, fit.loglik, fit.loglik0
    terms = []
    for j, name in enumerate(design.terms):
        se = float(math.sqrt(variance[j, j])) if variance[j, j] >= 0 else math.nan
        b = float(beta[j])
        terms.append(CoxTerm(term=name, coef=b, hr=_exp(b), se=se,
                             z=b / se if se > 0 else math.nan, p=_normal_p(b / se) if se > 0
                             else math.nan, lower=_exp(b - z * se), upper=_exp(b + z * se)))
    from everydonor.outcomes.counting import chi2_sf
    lr = max(0.0, 2.0 * (loglik - loglik0))
    return CoxResult(n=n, events=events, ties=ties, terms=tuple(terms), coef=beta,
                     variance=variance, loglik=loglik, loglik_null=loglik0, lr_statistic=lr,
                     lr_df=len(design.terms), lr_p=chi2_sf(lr, len(design.terms)),
                     iterations=fit.iterations, converged=fit.converged,
                     infinite_terms=fit.infinite, conf_level=conf_level, se_method=se_method)


def cox_regression(time: npt.ArrayLike, event: npt.ArrayLike, design: Design, *,
                   cause: int | None = None, ties: Ties | str = Ties.EFRON,
                   strata: npt.ArrayLike | None = None, entry: npt.ArrayLike | None = None,
                   conf_level: float = 0.95) -> CoxResult:
    """Cox model of the hazard of ``cause`` (other causes censored: the cause-specific hazard),
    or of any event when ``cause`` is None; separate baseline hazards per stratum.

    >>> d = design_matrix({"x": ["0", "1", "0", "1", "0", "1"]})
    >>> r = cox_regression([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 1], d, ties="breslow")
    >>> round(r.terms[0].coef, 4)
    -1.2075
    """
    method = Ties(ties)
    t, e = check_arrays(time, event)
    n = t.size
    x = check_design(design, n)
    if cause is not None:
        if cause < 1:
            raise InputError(f"--cause must be ≥ 1, got {cause}", field="--cause", value=str(cause))
        status = (e == cause).astype(np.int64)
    else:
        status = (e > 0).astype(np.int64)
    start = np.full(n, -np.inf) if entry is None else np.asarray(entry, dtype=np.float64)
    if start.shape != (n,) or np.any(start >= t):
        raise InputError("entry times must be one per observation and before the exit time",
                         field="entry")
    weight = np.ones(n)
    xc = x - x.mean(axis=0)
    s_index = strata_index(strata, n)
    groups = [build_stratum(np.flatnonzero(s_index == s), start=start, stop=t, status=status,
                            weight=weight, x=xc) for s in np.unique(s_index)]
    events = int(status.sum())
    if events == 0:
        raise InputError("no events of the modelled cause: the model cannot be fitted",
                         field="--event")
    fit = fit_risk_sets(groups, xc, weight, status, method, terms=design.terms)
    return summarise(n=n, events=events, ties=method, design=design, fit=fit,
                     conf_level=conf_level)
