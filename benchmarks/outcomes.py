"""Outcomes: Kaplan-Meier and Aalen-Johansen with variance, against lifelines and scikit-survival.

``--n`` synthetic patients (default 1,000,000) in 3 groups, follow-up in whole days up to 5
years (so, as in a registry, almost every time is tied), two competing causes (1 and 2) and
censoring. For each group, in the same run:

* Kaplan-Meier with Greenwood variance and log-log 95% intervals: ours, scikit-survival
  ``kaplan_meier_estimator(conf_type="log-log")``, lifelines ``KaplanMeierFitter`` (which also
  computes the intervals, log-log by default).
* Aalen-Johansen for both causes with variance and log-log intervals: ours (``aalen`` and
  ``delta``), scikit-survival ``cumulative_incidence_competing_risks`` (``var_type="Aalen"``
  and ``"Dinse_Approx"``, which compute the same quantities), and lifelines
  ``AalenJohansenFitter(calculate_variance=True)``, which jitters tied times before it
  estimates (so it answers a slightly different question; its difference is shown, not
  required to be 0).

Times are the best of ``--repeat`` runs; the ratio is the baseline's seconds over ours. Answers
are compared (max absolute difference over survival/CIF, se or variance and the interval
bounds); with ``--check`` the script exits 1 if an answer differs by more than 1e-10 where the
quantity is the same, or ours is slower than the faster library.

Usage: python benchmarks/outcomes.py [--n 1000000] [--repeat 3] [--no-lifelines-aj] [--check]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from everydonor.outcomes import aalen_johansen, kaplan_meier

TOL = 1e-10


def synthetic(n: int, seed: int = 20261203) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    relapse = rng.exponential(700 + 300 * group)
    nrm = rng.exponential(1500, n)
    censor = rng.uniform(30, 1826, n)
    time_ = np.ceil(np.minimum(np.minimum(relapse, nrm), censor))
    event = np.where(censor <= np.minimum(relapse, nrm), 0, np.where(relapse <= nrm, 1, 2))
    return time_, event, group


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    result, seconds = None, float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        seconds = min(seconds, time.perf_counter() - t0)
    return seconds, result


def diff(a: Any, b: Any, mask: Any = None) -> float:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if mask is not None:
        ok &= mask
    return float(np.max(np.abs(a[ok] - b[ok]))) if ok.any() else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-lifelines-aj", action="store_true",
                    help="skip lifelines' AalenJohansenFitter (slow: it jitters every tie)")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from lifelines import AalenJohansenFitter, KaplanMeierFitter
    from sksurv import nonparametric as sk

    time_, event, group = synthetic(args.n)
    print(f"{args.n:,} synthetic patients, 3 groups, {np.unique(time_).size} distinct days; "
          f"best of {args.repeat}")
    seconds: dict[str, float] = {}
    worst: dict[str, float] = {}
    failures = []

    def add(name: str, s: float) -> None:
        seconds[name] = seconds.get(name, 0.0) + s

    def same(name: str, value: float) -> None:
        worst[name] = max(worst.get(name, 0.0), value)

    for g in range(3):
        t, e = time_[group == g], event[group == g]
        s, ours = best(lambda t=t, e=e: kaplan_meier(t, e), args.repeat)
        add("km ours", s)
        s, (_x, surv, ci) = best(lambda t=t, e=e: sk.kaplan_meier_estimator(
            e > 0, t, conf_type="log-log"), args.repeat)
        add("km scikit-survival", s)
        inner = (ours.survival > 0) & (ours.survival < 1)
        same("km vs scikit-survival", max(diff(surv, ours.survival),
                                          diff(ci[0], ours.lower, inner),
                                          diff(ci[1], ours.upper, inner)))

        def lifelines_km(t: Any = t, e: Any = e) -> Any:
            f = KaplanMeierFitter().fit(t, e > 0)
            return f, f.confidence_interval_

        s, (kmf, lci) = best(lifelines_km, args.repeat)
        add("km lifelines", s)
        lt = kmf.survival_function_.index.to_numpy()
        at = ours.at(lt)
        same("km vs lifelines", max(diff(kmf.survival_function_.to_numpy()[:, 0],
                                         at["survival"]),
                                    diff(lci.to_numpy()[:, 0], at["lower"]),
                                    diff(lci.to_numpy()[:, 1], at["upper"])))

        for ours_v, sk_v in (("aalen", "Aalen"), ("delta", "Dinse_Approx")):
            s, aj = best(lambda t=t, e=e, v=ours_v: aalen_johansen(t, e, variance=v),
                         args.repeat)
            add(f"aj {ours_v} ours", s)
            s, (_x, cif, cci) = best(lambda t=t, e=e, v=sk_v: sk.cumulative_incidence_competing_risks(
                e, t, conf_type="log-log", var_type=v), args.repeat)
            add(f"aj {ours_v} scikit-survival", s)
            defined = aj.variance > 1e-15
            same(f"aj {ours_v} vs scikit-survival",
                 max(diff(cif[1:], aj.cif), diff(cci[1:, 0], aj.lower, defined),
                     diff(cci[1:, 1], aj.upper, defined)))
        if not args.no_lifelines_aj:
            aj = aalen_johansen(t, e, variance="delta")
            for cause in (1, 2):
                def lifelines_aj(t: Any = t, e: Any = e, c: int = cause) -> Any:
                    return AalenJohansenFitter(calculate_variance=True, seed=1).fit(
                        t, e, event_of_interest=c)
                s, ajf = best(lifelines_aj, 1)
                add("aj delta lifelines (jitters ties)", s)
                # lifelines moved tied times by a tiny jitter: compare at our distinct days
                lt = ajf.cumulative_density_.index.to_numpy()
                mine = aj.at(cause, aj.time)
                theirs = np.interp(aj.time, lt, ajf.cumulative_density_.to_numpy()[:, 0])
                same("aj delta vs lifelines (jittered ties; not the same quantity)",
                     diff(theirs, mine["cif"]))

    print("\nseconds (sum over the 3 groups):")
    for name, s in seconds.items():
        print(f"  {name:<40} {s:9.3f}")
    print("\nratios (baseline seconds / ours):")
    for stem in ("km", "aj aalen", "aj delta"):
        for lib in ("scikit-survival", "lifelines", "lifelines (jitters ties)"):
            key = f"{stem} {lib}"
            if key not in seconds:
                continue
            ratio = seconds[key] / seconds[f"{stem} ours"]
            print(f"  ratio: {key:<40} {ratio:8.1f}x")
            if args.check and "jitters" not in lib and ratio < 1.0:
                failures.append(f"{stem} slower than {lib}")
    print("\nanswers compared (max absolute difference):")
    for name, d in worst.items():
        print(f"  {name:<62} {d:.3g}")
        if args.check and "not the same quantity" not in name and d > TOL:
            failures.append(f"{name} differs by {d:.3g}")
    if failures:
        print("targets missed: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
