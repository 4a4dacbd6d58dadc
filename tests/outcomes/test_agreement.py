"""Our estimators against independent implementations, in the same test, on the same data.

Where the libraries compute the same quantity we require agreement to 1e-10 (in practice ~1e-16).
Where conventions differ, the test says how:

* lifelines' AalenJohansenFitter jitters tied times by default (we never do); on untied data its
  delta-method variance equals our ``delta``; its ``confidence_interval_`` columns are labelled
  upper/lower the wrong way round (the "upper" column holds the lower bound).
* scikit-survival's CIF variances are ``var_type="Aalen"`` (= our ``aalen``) and
  ``"Dinse_Approx"`` (= our ``delta``); it sets the interval to (F, F) where the variance is
  ≤ machine epsilon and (0, 0) where F = 0, where we report no interval (null).
* lifelines' median is the first time S ≤ 0.5, without R's midpoint rule.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from everydonor.outcomes import aalen_johansen, kaplan_meier, logrank_test
from everydonor.outcomes.counting import chi2_sf

TOL = 1e-10

pytestmark = pytest.mark.filterwarnings("ignore")


def _both_finite(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.isfinite(a) & np.isfinite(b)


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    ok = _both_finite(a, b)
    return float(np.max(np.abs(a[ok] - b[ok]))) if ok.any() else 0.0


def _datasets(bmt, tied):  # type: ignore[no-untyped-def]
    return [("bmt", bmt[0], bmt[1]), ("tied", tied[0], tied[1])]


@pytest.mark.parametrize("which", ["bmt", "tied"])
def test_kaplan_meier_equals_sksurv_and_lifelines(which, bmt, tied):  # type: ignore[no-untyped-def]
    from lifelines import KaplanMeierFitter
    from sksurv.nonparametric import kaplan_meier_estimator

    time, event = (bmt if which == "bmt" else tied)[:2]
    ours = kaplan_meier(time, event)

    x, s, ci = kaplan_meier_estimator(event > 0, time, conf_type="log-log")
    assert np.array_equal(x, ours.time)
    assert np.max(np.abs(s - ours.survival)) < TOL
    inner = (ours.survival > 0) & (ours.survival < 1)
    assert np.max(np.abs(ci[0][inner] - ours.lower[inner])) < TOL
    assert np.max(np.abs(ci[1][inner] - ours.upper[inner])) < TOL

    kmf = KaplanMeierFitter().fit(time, event > 0)
    lt = kmf.survival_function_.index.to_numpy()
    ll = kmf.survival_function_.to_numpy()[:, 0]
    lo = kmf.confidence_interval_.to_numpy()
    at = ours.at(lt)
    assert np.max(np.abs(ll - at["survival"])) < TOL
    assert _max_diff(lo[:, 0], at["lower"]) < TOL
    assert _max_diff(lo[:, 1], at["upper"]) < TOL
    # Greenwood's sum, lifelines' private running total of d/(n(n-d))
    gw = np.asarray(kmf._cumulative_sq_.to_numpy())
    keep = np.isfinite(gw) & np.isfinite(ours.at(lt)["se"]) & (at["survival"] > 0)
    assert np.max(np.abs(np.sqrt(gw[keep]) * at["survival"][keep] - at["se"][keep])) < TOL


def test_logrank_equals_lifelines_and_statsmodels(bmt, tied):  # type: ignore[no-untyped-def]
    from lifelines.statistics import logrank_test as lifelines_logrank
    from lifelines.statistics import multivariate_logrank_test
    from statsmodels.duration.survfunc import survdiff

    time, event, group = bmt
    ours = logrank_test(time, event, group)
    a, b = group == "0", group == "1"
    theirs = lifelines_logrank(time[a], time[b], event[a] > 0, event[b] > 0)
    assert abs(ours.statistic - theirs.test_statistic) < TOL
    assert abs(ours.p - theirs.p_value) < TOL

    t, e, g, s = tied
    ours3 = logrank_test(t, e, g)
    mv = multivariate_logrank_test(t, g, e > 0)
    assert abs(ours3.statistic - mv.test_statistic) < TOL and ours3.df == 2
    assert abs(ours3.p - mv.p_value) < TOL
    stat, p = survdiff(t, (e > 0).astype(int), g)
    assert abs(ours3.statistic - stat) < TOL and abs(ours3.p - p) < TOL
    # stratified: statsmodels' survdiff(strata=) sums O, E and V over strata like R survdiff
    strat = logrank_test(t, e, g, strata=s)
    stat_s, p_s = survdiff(t, (e > 0).astype(int), g, strata=s)
    assert abs(strat.statistic - stat_s) < TOL and abs(strat.p - p_s) < TOL
    assert abs(strat.statistic - ours3.statistic) > 1e-6  # strata do change it here


@pytest.mark.parametrize("which", ["bmt", "tied"])
@pytest.mark.parametrize(("ours_v", "sk_v"), [("aalen", "Aalen"), ("delta", "Dinse_Approx")])
def test_aalen_johansen_equals_sksurv(which, ours_v, sk_v, bmt, tied):  # type: ignore[no-untyped-def]
    from sksurv import nonparametric as npm

    time, event = (bmt if which == "bmt" else tied)[:2]
    ours = aalen_johansen(time, event, variance=ours_v)
    x, cif, ci = npm.cumulative_incidence_competing_risks(event, time, conf_type="log-log",
                                                          var_type=sk_v)
    assert np.array_equal(x, ours.time)
    assert np.max(np.abs(cif[1:] - ours.cif)) < TOL
    assert np.max(np.abs(cif[0] - (1 - ours.survival))) < TOL
    # the variance itself, from scikit-survival's (private) variance functions
    _, n_events, n_risk, _ = npm._compute_counts(event, time)
    s = np.cumprod(1 - n_events[:, 0] / n_risk)
    s_prev = np.r_[1.0, s[:-1]]
    fn = npm._var_aalen if sk_v == "Aalen" else npm._var_dinse_approx
    var = fn(n_events, s_prev, n_risk, cif)
    assert _max_diff(var, ours.variance) < TOL
    defined = ours.variance > 1e-15
    assert np.max(np.abs(ci[1:, 0][defined] - ours.lower[defined])) < TOL
    assert np.max(np.abs(ci[1:, 1][defined] - ours.upper[defined])) < TOL


def test_aalen_johansen_delta_equals_lifelines_on_untied_data():  # type: ignore[no-untyped-def]
    from lifelines import AalenJohansenFitter

    rng = np.random.default_rng(7)
    time = rng.exponential(10, 300)
    event = rng.integers(0, 3, 300)
    assert np.unique(time).size == time.size  # lifelines would jitter ties; here there are none
    ours = aalen_johansen(time, event, variance="delta")
    for cause in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ajf = AalenJohansenFitter(calculate_variance=True).fit(time, event,
                                                                   event_of_interest=cause)
        lt = ajf.cumulative_density_.index.to_numpy()
        at = ours.at(cause, lt)
        assert np.max(np.abs(ajf.cumulative_density_.to_numpy()[:, 0] - at["cif"])) < TOL
        assert _max_diff(ajf.variance_.to_numpy(), at["se"] ** 2) < TOL
        ci = ajf.confidence_interval_
        # lifelines labels its columns the wrong way round: "upper" holds the lower bound
        lower = ci.filter(like="upper").to_numpy()[:, 0]
        upper = ci.filter(like="lower").to_numpy()[:, 0]
        assert _max_diff(lower, at["lower"]) < TOL
        assert _max_diff(upper, at["upper"]) < TOL


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 8, 11])
@pytest.mark.parametrize("x", [0.0, 1e-6, 0.3, 1.0, 3.84, 10.0, 40.0, 200.0])
def test_chi2_sf_equals_scipy(df, x):  # type: ignore[no-untyped-def]
    from scipy.stats import chi2

    assert abs(chi2_sf(x, df) - chi2.sf(x, df)) < 1e-13
