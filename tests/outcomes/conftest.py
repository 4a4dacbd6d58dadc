"""Data for the outcomes tests: public HSCT data shipped in scikit-survival, and seeded
synthetic cohorts with many ties (integer days)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest


@pytest.fixture(scope="session")
def bmt() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scrucca, Santucci & Aversa (2007) Bone Marrow Transplant 40:381 — 35 patients with acute
    leukaemia after HSCT: ftime (months), status 0 censored / 1 transplant-related mortality /
    2 relapse, dis 0 ALL / 1 AML; as shipped by scikit-survival (``sksurv.datasets.load_bmt``)."""
    from sksurv.datasets import load_bmt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = load_bmt()
    return (np.asarray(y["ftime"], dtype=float), np.asarray(y["status"], dtype=int),
            x["dis"].astype(str).to_numpy())


@pytest.fixture(scope="session")
def tied() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """600 patients, integer days (many tied event and censoring times), 2 causes, 3 groups,
    2 strata; fixed seed."""
    rng = np.random.default_rng(20261203)
    n = 600
    group = rng.integers(0, 3, n)
    strata = rng.integers(0, 2, n)
    t1 = rng.exponential(300 + 100 * group)
    t2 = rng.exponential(600, n)
    c = rng.uniform(0, 900, n)
    time = np.ceil(np.minimum(np.minimum(t1, t2), c) / 7) * 7  # weekly visits: heavy ties
    event = np.where(c <= np.minimum(t1, t2), 0, np.where(t1 <= t2, 1, 2))
    return time, event, group.astype(str), strata.astype(str)
