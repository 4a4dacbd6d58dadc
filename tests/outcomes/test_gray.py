"""Gray's K-sample test against published R output and an independent implementation.

* Published R: cmprsk's own saved regression output, ``tests/test.Rout.save`` of the CRAN package
  cmprsk (R. Gray; R 1.2.1, 2001; read in the GitHub mirror cran/cmprsk at commit
  2b13c18db7f7bda31c1143a380de55c2468b73e0). Its data are R random numbers, rebuilt in
  ``r_rng.py``; the test first reproduces the Aalen-Johansen estimates printed in the same file
  to show the data are R's, then the ``Tests:`` tables (3 groups, 2 strata; and 2 groups).
* comprisk 0.8.0 (``comprisk.gray_test``, a separate Python implementation): equal to 1e-8
  (relative; in practice ~1e-15) on scikit-survival's ``load_bmt`` (Scrucca et al. 2007) and the
  tied synthetic cohort, for rho = 0, 1 and −0.5. comprisk has no strata: the stratified test is
  checked against the sum of its per-stratum score vectors and covariances, the construction of
  Gray's stratified test (and of cmprsk's ``crstm``).
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from everydonor.errors import InputError
from everydonor.outcomes import GrayResult, aalen_johansen, gray, gray_test
from tests.outcomes.r_rng import MarsagliaMulticarry

REL = 1e-8

pytestmark = pytest.mark.filterwarnings("ignore")


def test_docstring_example():
    result = doctest.testmod(gray)
    assert result.attempted > 0 and result.failed == 0


def _printed(value: float, text: str) -> bool:
    """``value`` equals R's printed ``text`` to the digits printed."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(value - float(text)) <= 0.5 * 10.0**-decimals + 1e-15


@pytest.fixture(scope="module")
def cmprsk_test_data() -> dict[str, np.ndarray]:
    """``set.seed(2); ss <- rexp(100); gg <- factor(sample(1:3,100,replace=T),1:3,c('a','b','c'));
    cc <- sample(0:2,100,replace=T); strt <- sample(1:2,100,replace=T)`` (R 1.2.1)."""
    rng = MarsagliaMulticarry(2)
    ss = np.array([rng.exp() for _ in range(100)])
    gg = np.array(["abc"[i - 1] for i in rng.sample([1, 2, 3], 100)])
    cc = np.array(rng.sample([0, 1, 2], 100))
    strt = np.array(rng.sample([1, 2], 100))
    return {"ss": ss, "gg": gg, "cc": cc, "strt": strt}


def test_cmprsk_data_rebuilt(cmprsk_test_data):  # type: ignore[no-untyped-def]
    # test.Rout.save: print(xx <- cuminc(ss,cc)) -> $est at times 1..5
    d = cmprsk_test_data
    aj = aalen_johansen(d["ss"], d["cc"])
    printed = {1: ["0.2352861", "0.3287068", "0.4247898", "0.4247898", "0.4247898"],
               2: ["0.2567862", "0.3931580", "0.4631781", "0.4911861", "0.4911861"]}
    for cause, texts in printed.items():
        est = aj.at(cause, [1, 2, 3, 4, 5])["cif"]
        assert all(_printed(float(x), s) for x, s in zip(est, texts, strict=True))


@pytest.mark.parametrize(("subset", "expected"), [
    # print(xx <- cuminc(ss,cc,gg,strt))
    ("all", [("3.393977", "0.1832345", 2), ("1.989511", "0.3698139", 2)]),
    # print(xx <- cuminc(ssd,ccd,gg2,strtd,subset=gg != 'b'))
    ("not b", [("3.5151549", "0.06080997", 1), ("0.1400145", "0.70826655", 1)]),
    # gg2[c(5,10,50)] <- NA; print(xx <- cuminc(ss,cc,gg2,strt,subset=d2$X == 1)), X = first 80
    ("first 80, 3 missing", [("4.716769", "0.0945729", 2), ("2.696396", "0.2597078", 2)]),
])
def test_published_cmprsk_output(cmprsk_test_data, subset, expected):  # type: ignore[no-untyped-def]
    d = cmprsk_test_data
    keep = np.ones(100, dtype=bool)
    if subset == "not b":
        keep = d["gg"] != "b"
    elif subset == "first 80, 3 missing":
        keep[80:] = False
        keep[[4, 9, 49]] = False
    results = gray_test(d["ss"][keep], d["cc"][keep], d["gg"][keep], strata=d["strt"][keep])
    assert [r.cause for r in results] == [1, 2]
    for r, (stat, pv, df) in zip(results, expected, strict=True):
        assert _printed(r.statistic, stat) and _printed(r.p, pv) and r.df == df


def _comprisk(time, event, group, cause, *, rho=0.0, strata=None):  # type: ignore[no-untyped-def]
    from comprisk import gray_test as comprisk_gray

    if strata is None:
        r = comprisk_gray(time, event, group, cause=cause, rho=rho)
        return r.stat, r.pvalue, r.df
    score, var = 0.0, 0.0
    for s in np.unique(strata):
        sel = strata == s
        part = comprisk_gray(time[sel], event[sel], group[sel], cause=cause, rho=rho)
        score, var = score + part.score, var + part.var
    from scipy.stats import chi2

    stat = float(score @ np.linalg.solve(var, score))
    df = np.unique(group).size - 1
    return stat, float(chi2.sf(stat, df)), df


@pytest.mark.parametrize("rho", [0.0, 1.0, -0.5])
@pytest.mark.parametrize("which", ["bmt", "tied", "tied stratified"])
def test_equals_comprisk(which, rho, bmt, tied):  # type: ignore[no-untyped-def]
    if which == "bmt":
        time, event, group = bmt
        strata = None
    else:
        time, event, group, s = tied
        strata = s if which == "tied stratified" else None
    ours = gray_test(time, event, group, strata=strata, rho=rho)
    assert [r.cause for r in ours] == [1, 2]
    for r in ours:
        stat, p, df = _comprisk(time, event, group, r.cause, rho=rho, strata=strata)
        assert r.statistic == pytest.approx(stat, rel=REL)
        assert r.p == pytest.approx(p, rel=REL)
        assert r.df == df


def test_bmt_values(bmt):  # type: ignore[no-untyped-def]
    # guards the numbers quoted in the README (computed here, cross-checked against comprisk
    # above); the Scrucca et al. paper's own printout could not be found to cite
    time, event, dis = bmt
    trm, relapse = gray_test(time, event, dis)
    assert (trm.cause, round(trm.statistic, 4), round(trm.p, 4)) == (1, 1.3016, 0.2539)
    assert (relapse.cause, round(relapse.statistic, 4), round(relapse.p, 4)) == (2, 7.0823, 0.0078)


def test_group_labels_and_order_do_not_matter(tied):  # type: ignore[no-untyped-def]
    time, event, group, strata = tied
    base = gray_test(time, event, group, strata=strata)
    renamed = {"0": "z", "1": "a", "2": "m"}
    other = gray_test(time, event, np.array([renamed[g] for g in group]), strata=strata)
    for a, b in zip(base, other, strict=True):
        assert a.statistic == pytest.approx(b.statistic, rel=1e-12)
    order = np.random.default_rng(1).permutation(time.size)
    shuffled = gray_test(time[order], event[order], group[order], strata=strata[order])
    for a, b in zip(base, shuffled, strict=True):
        assert a.statistic == pytest.approx(b.statistic, rel=1e-12)


def test_one_stratum_is_the_unstratified_test(bmt):  # type: ignore[no-untyped-def]
    time, event, dis = bmt
    assert gray_test(time, event, dis, strata=["x"] * time.size) == gray_test(time, event, dis)


def test_ties_are_not_broken(tied):  # type: ignore[no-untyped-def]
    # jittering the tied times (as some software does) changes the answer: we keep them tied
    time, event, group, _ = tied
    jitter = time + np.random.default_rng(3).uniform(0, 1e-6, time.size)
    assert gray_test(time, event, group)[0].statistic != pytest.approx(
        gray_test(jitter, event, group)[0].statistic, rel=1e-6)


def test_one_group_is_refused(bmt):  # type: ignore[no-untyped-def]
    time, event, _ = bmt
    with pytest.raises(InputError, match="at least 2") as info:
        gray_test(time, event, ["AML"] * time.size)
    assert info.value.field == "group" and info.value.value == "AML"


def test_only_causes_with_events_are_reported():
    time = [1, 2, 3, 4, 5, 6, 7, 8]
    event = [1, 3, 0, 1, 3, 1, 0, 3]  # no cause 2: cmprsk reports causes 1 and 3
    group = ["a", "b"] * 4
    results = gray_test(time, event, group)
    assert [r.cause for r in results] == [1, 3]
    assert gray_test(time, [0] * 8, group) == ()


def test_a_group_without_events_of_a_cause(bmt):  # type: ignore[no-untyped-def]
    time, event, dis = bmt
    event = event.copy()
    event[(dis == "1") & (event == 1)] = 0  # no TRM among AML
    (trm, relapse) = gray_test(time, event, dis)
    stat, p, _ = _comprisk(time, event, dis, 1)
    assert np.isfinite(trm.statistic) and trm.statistic == pytest.approx(stat, rel=REL)
    assert trm.p == pytest.approx(p, rel=REL) and relapse.df == 1


def test_singular_variance_gives_nan_not_a_p_value():
    # the events all happen when only group a is still followed: nothing to compare
    (r,) = gray_test([5, 6, 7, 1, 2], [1, 1, 0, 0, 0], ["a", "a", "a", "b", "b"])
    assert r == GrayResult(cause=1, statistic=r.statistic, df=1, p=r.p)
    assert np.isnan(r.statistic) and np.isnan(r.p)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"group": ["a", "b"]}, "group"),
    ({"strata": ["x"]}, "strata"),
    ({"rho": float("nan")}, "rho"),
    ({"event": [1, -1, 0, 2]}, "event"),
])
def test_bad_input_is_refused(kwargs, field):  # type: ignore[no-untyped-def]
    args = {"time": [1, 2, 3, 4], "event": [1, 2, 0, 1], "group": ["a", "b", "a", "b"]} | kwargs
    with pytest.raises(InputError) as info:
        gray_test(**args)
    assert info.value.field == field
