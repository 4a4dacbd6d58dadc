"""Hand-computed tiny examples (ties, all censored, a group of one, times before the first and
after the last event) and numbers published as R output."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest

from everydonor.errors import InputError
from everydonor.outcomes import aalen_johansen, kaplan_meier, logrank_test


@pytest.mark.parametrize("name", ["kaplan_meier", "logrank", "cumulative_incidence"])
def test_docstring_examples(name):  # type: ignore[no-untyped-def]
    module = importlib.import_module(f"everydonor.outcomes.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_ties_of_events_and_censorings_at_one_time():
    # at t=2: two deaths and one censoring; the censored patient is still at risk at 2 (R)
    km = kaplan_meier([1, 2, 2, 2, 3], [1, 1, 1, 0, 0])
    assert km.time.tolist() == [1, 2, 3]
    assert km.n_risk.tolist() == [5, 4, 1]
    assert km.n_event.tolist() == [1, 2, 0]
    assert km.n_censor.tolist() == [0, 1, 1]
    assert km.survival.tolist() == pytest.approx([0.8, 0.4, 0.4], abs=1e-15)
    greenwood = 1 / (5 * 4) + 2 / (4 * 2)
    assert km.se[1] == pytest.approx(0.4 * math.sqrt(greenwood), abs=1e-15)
    z = 1.959963984540054
    s, sl = 0.4, math.sqrt(greenwood)
    assert km.lower[1] == pytest.approx(s ** math.exp(-z * sl / math.log(s)), abs=1e-15)
    assert km.upper[1] == pytest.approx(s ** math.exp(z * sl / math.log(s)), abs=1e-15)
    assert km.median == 2.0


def test_all_censored():
    km = kaplan_meier([3, 1, 2], [0, 0, 0])
    assert km.survival.tolist() == [1.0, 1.0, 1.0]
    assert km.events == 0 and km.median is None
    assert np.isnan(km.lower).all() and np.isnan(km.upper).all()  # R: NA where S = 1
    assert km.se.tolist() == [0.0, 0.0, 0.0]
    aj = aalen_johansen([3, 1, 2], [0, 0, 0])
    assert aj.cif.tolist() == [[0.0, 0.0, 0.0]] and aj.se.tolist() == [[0.0, 0.0, 0.0]]
    lr = logrank_test([1, 2, 3, 4], [0, 0, 0, 0], ["a", "a", "b", "b"])
    assert lr.df == 0 and lr.statistic == 0.0 and math.isnan(lr.p)


def test_group_of_one_patient():
    km = kaplan_meier([5], [1])
    assert km.survival.tolist() == [0.0] and km.median == 5.0
    assert math.isnan(km.se[0]) and math.isnan(km.lower[0])  # Greenwood undefined at S = 0
    lr = logrank_test([1, 2, 3, 5], [1, 0, 1, 1], ["a", "a", "a", "b"])
    # hand: t=1 n=4 (b 1) d=1; t=3 n=2 (b 1) d=1; t=5 n=1 (b 1) d=1
    e_b = 1 / 4 + 1 / 2 + 1
    v_b = (1 / 4) * (3 / 4) + (1 / 2) * (1 / 2) + 0.0  # a single patient at risk adds 0
    assert lr.expected[1] == pytest.approx(e_b, abs=1e-15)
    assert lr.statistic == pytest.approx((1 - e_b) ** 2 / v_b, abs=1e-13)


def test_at_before_the_first_event_and_after_the_last():
    km = kaplan_meier([2, 4, 6], [1, 1, 0])
    at = km.at([0, 1.999, 2, 3, 4, 100])
    assert at["survival"].tolist() == pytest.approx([1, 1, 2 / 3, 2 / 3, 1 / 3, 1 / 3])
    assert at["se"][:2].tolist() == [0.0, 0.0]
    assert np.isnan(at["lower"][:2]).all()
    aj = aalen_johansen([2, 4, 6], [1, 2, 0])
    a1 = aj.at(1, [0, 2, 100])
    assert a1["cif"].tolist() == pytest.approx([0, 1 / 3, 1 / 3])
    with pytest.raises(InputError):
        aj.at(3, [1])


def test_median_midpoint_where_the_curve_is_flat_at_one_half():
    # S = 0.75, 0.5, 0.25, 0: R's quantile.survfit gives (2 + 3) / 2; lifelines gives 2
    assert kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1]).median == 2.5
    # flat at 0.5 to the end of follow-up: the time it reached 0.5
    assert kaplan_meier([1, 2, 3, 4], [1, 1, 0, 0]).median == 2.0


def test_aalen_johansen_tied_causes_at_one_time():
    aj = aalen_johansen([2, 2, 2, 5], [1, 2, 0, 1])
    assert aj.cif[:, 0].tolist() == [0.25, 0.25]
    assert aj.cif[0, -1] == pytest.approx(0.75) and aj.cif[1, -1] == pytest.approx(0.25)
    assert aj.survival.tolist() == [0.5, 0.0]


def test_bad_arrays_are_refused():
    with pytest.raises(InputError, match="time"):
        kaplan_meier([1, -1], [1, 1])
    with pytest.raises(InputError, match="event"):
        kaplan_meier([1, 2], [1, 0.5])
    with pytest.raises(InputError, match="no observations"):
        kaplan_meier([], [])


# The acute myelogenous leukaemia maintenance data (Miller 1981, *Survival Analysis*, p. 49),
# R survival's `aml`; the R output below is that printed by the examples of R survival's
# ?survdiff and ?survfit (survdiff(Surv(time, status) ~ x, data = aml): Observed 7 / 11,
# Expected 10.69 / 7.31, Chisq = 3.4 on 1 degree of freedom, p = 0.07; summary(survfit(...)):
# Maintained S = 0.909, 0.818, 0.716 with std.err 0.0867, 0.1163, 0.1397 at 9, 13, 18;
# medians 31 (Maintained) and 23 (Nonmaintained)).
AML = {"Maintained": [(9, 1), (13, 1), (13, 0), (18, 1), (23, 1), (28, 0), (31, 1), (34, 1),
                      (45, 0), (48, 1), (161, 0)],
       "Nonmaintained": [(5, 1), (5, 1), (8, 1), (8, 1), (12, 1), (16, 0), (23, 1), (27, 1),
                         (30, 1), (33, 1), (43, 1), (45, 1)]}


def test_r_survival_aml_output():
    rows = [(g, t, e) for g, obs in AML.items() for t, e in obs]
    g = np.array([r[0] for r in rows])
    t = np.array([r[1] for r in rows], dtype=float)
    e = np.array([r[2] for r in rows])
    lr = logrank_test(t, e, g)
    assert lr.observed.tolist() == [7, 11]
    assert np.round(lr.expected, 2).tolist() == [10.69, 7.31]
    assert round(lr.statistic, 1) == 3.4 and lr.df == 1 and round(lr.p, 2) == 0.07
    km = kaplan_meier(t[g == "Maintained"], e[g == "Maintained"])
    assert np.round(km.survival[:3], 3).tolist() == [0.909, 0.818, 0.716]
    assert np.round(km.se[:3], 4).tolist() == [0.0867, 0.1163, 0.1397]
    assert km.median == 31.0
    assert kaplan_meier(t[g == "Nonmaintained"], e[g == "Nonmaintained"]).median == 23.0


def test_whole_day_counting_sort_equals_the_general_path():
    from everydonor.outcomes.counting import risk_table

    rng = np.random.default_rng(3)
    days = rng.integers(0, 400, 5000).astype(float)
    event = rng.integers(0, 3, 5000)
    fast = risk_table(days, event, 2)
    general = risk_table(days + 0.25, event, 2)  # not whole days: the sorting path
    assert np.array_equal(fast.time + 0.25, general.time)
    for name in ("n_risk", "n_event", "n_censor"):
        assert np.array_equal(getattr(fast, name), getattr(general, name))
