"""Survival and competing-risk estimates (pure: numpy arrays in, typed results out; no I/O).

Our own numpy estimators, each written to the convention of R's ``survival`` package (and
checked in tests against lifelines, scikit-survival and statsmodels; see ARCHITECTURE.md,
"Outcomes"):

* :func:`kaplan_meier` — Kaplan-Meier, Greenwood variance, log-log intervals, R's median.
* :func:`logrank_test` — the k-sample log-rank test, optionally stratified (R ``survdiff``).
* :func:`aalen_johansen` — cumulative incidence of competing risks on the data as given (no
  jittering of tied times), Aalen or delta-method variance, log-log intervals.
* :func:`gray_test` — Gray's K-sample test of cumulative incidence per cause, optionally
  stratified (R ``cmprsk::cuminc``'s ``$Tests``).
* :func:`cox_regression` — (cause-specific) Cox model, Breslow or Efron ties named, strata,
  categorical covariates with a stated reference (:func:`design_matrix`) (R ``coxph``).
* :func:`fine_gray` — Fine-Gray subdistribution hazards as an IPCW-weighted Cox model
  (coefficients and sandwich standard errors as R ``cmprsk::crr``).
"""

from everydonor.outcomes.cox import CoxResult, CoxTerm, Design, Ties, cox_regression, design_matrix
from everydonor.outcomes.cumulative_incidence import (
    CumulativeIncidenceResult,
    Variance,
    aalen_johansen,
)
from everydonor.outcomes.finegray import fine_gray
from everydonor.outcomes.finegray_variance import fine_gray_sandwich_variance
from everydonor.outcomes.gray import GrayResult, gray_test
from everydonor.outcomes.kaplan_meier import KaplanMeierResult, kaplan_meier
from everydonor.outcomes.logrank import LogRankResult, logrank_test

__all__ = [
    "CoxResult",
    "CoxTerm",
    "CumulativeIncidenceResult",
    "Design",
    "GrayResult",
    "KaplanMeierResult",
    "LogRankResult",
    "Ties",
    "Variance",
    "aalen_johansen",
    "cox_regression",
    "design_matrix",
    "fine_gray",
    "fine_gray_sandwich_variance",
    "gray_test",
    "kaplan_meier",
    "logrank_test",
]
