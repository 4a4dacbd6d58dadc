"""Federated outcomes: each centre shares aggregate risk tables, a coordinator pools them.

A centre's share is, for each (stratum, group) cell, the risk table of its patients: every
distinct observed time (an event or a censoring) with the number at risk, the events of each
cause and the censorings there (:func:`centre_tables`). Pooling adds the centres' tables time
by time (:func:`everydonor.outcomes.counting.merge_tables`): the number at risk of centre c at
a pooled time t is its count of times ≥ t, read off its own table, so the pooled table equals,
count for count, the risk table of the concatenated patients. Kaplan-Meier, Aalen-Johansen
and the (stratified) log-rank test then run through the very functions the patient-level
estimators call (``kaplan_meier_from_table``, ``aalen_johansen_from_table``,
``logrank_from_tables``), so a pooled answer is the patient-level answer, float for float.

What is disclosed (:data:`DISCLOSURE`): the tables are equivalent to the list of (time, event
code, group, stratum) of the centre's patients with everything else removed — no ids, dates,
covariates or row order, but not anonymous. Exactness needs every censoring time: a rule that
suppresses or merges small counts would change the numbers at risk and the pooled estimate
would no longer equal the patient-level one, so none is applied here and no threshold is
chosen; see ARCHITECTURE.md ("Federated outcomes").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from everydonor.errors import InputError
from everydonor.outcomes.counting import (
    FloatArray,
    IntArray,
    RiskTable,
    check_arrays,
    merge_tables,
    risk_table,
)
from everydonor.outcomes.cumulative_incidence import (
    CumulativeIncidenceResult,
    Variance,
    aalen_johansen_from_table,
)
from everydonor.outcomes.gray import GrayResult, gray_test
from everydonor.outcomes.kaplan_meier import KaplanMeierResult, kaplan_meier_from_table
from everydonor.outcomes.logrank import LogRankResult, logrank_from_tables

DISCLOSURE = (
    "For each stratum and group: every distinct follow-up time at which a patient had an event "
    "or was censored, with the number at risk, the events of each cause and the censorings at "
    "that time. This equals the centre's list of (time, event code, group, stratum) with "
    "identifiers, dates, covariates and row order removed; it is not anonymous: a count of 1 "
    "is one patient's exact follow-up time and outcome. No small-cell suppression is applied: "
    "suppressing or merging small counts would make the pooled estimates differ from the "
    "patient-level ones."
)


@dataclass(frozen=True, slots=True)
class Cell:
    """The risk table of the patients of one (stratum, group); ``None`` where not split."""

    stratum: str | None
    group: str | None
    table: RiskTable


@dataclass(frozen=True, slots=True)
class CentreTables:
    """One centre's aggregate tables, cells sorted by (stratum, group); causes 1…n_causes."""

    centre: str
    n_causes: int
    cells: tuple[Cell, ...]

    @property
    def n(self) -> int:
        return sum(int(c.table.n_risk[0]) for c in self.cells if c.table.time.size)


def _labels(values: npt.ArrayLike | None, size: int, field: str) -> npt.NDArray[np.str_] | None:
    if values is None:
        return None
    out = np.asarray(values).astype(str)
    if out.shape != (size,):
        raise InputError(f"{field} must have one value per observation", field=field)
    return out


def _key(value: str | None) -> str:
    return "" if value is None else value


def centre_tables(time: npt.ArrayLike, event: npt.ArrayLike, group: npt.ArrayLike | None = None,
                  strata: npt.ArrayLike | None = None, *, centre: str,
                  n_causes: int | None = None) -> CentreTables:
    """The aggregate tables of one centre (event 0 = censored, 1…n_causes = causes; by default
    n_causes is the largest cause observed, at least 1).

    >>> c = centre_tables([1, 2, 2, 5], [1, 0, 2, 1], centre="A")
    >>> t = c.cells[0].table
    >>> t.time.tolist(), t.n_risk.tolist(), t.n_event[:, 1:].tolist(), t.n_censor.tolist()
    ([1.0, 2.0, 5.0], [4, 3, 1], [[1, 0], [0, 1], [1, 0]], [0, 1, 0])
    """
    if not centre.strip():
        raise InputError("the centre label is empty", field="centre", value=centre)
    t, e = check_arrays(time, event)
    top = int(e.max())
    k = max(top, 1) if n_causes is None else n_causes
    if k < 1:
        raise InputError(f"the number of causes must be ≥ 1, got {k}", field="causes",
                         value=str(k))
    if top > k:
        row = int(np.flatnonzero(e > k)[0])
        raise InputError(f"event {int(e[row])} at index {row} is above the {k} causes declared",
                         field="event", value=str(int(e[row])))
    g = _labels(group, t.size, "group")
    s = _labels(strata, t.size, "strata")
    cells = []
    s_values: list[str | None] = [None] if s is None else [str(x) for x in np.unique(s)]
    for stratum in s_values:
        in_s = np.ones(t.size, dtype=bool) if s is None else s == stratum
        g_values: list[str | None] = [None] if g is None else [str(x) for x in np.unique(g[in_s])]
        for label in g_values:
            sel = in_s if g is None else in_s & (g == label)
            cells.append(Cell(stratum, label, risk_table(t[sel], e[sel], n_causes=k)))
    return CentreTables(centre=centre, n_causes=k, cells=tuple(cells))


def check_table(time: npt.ArrayLike, n_risk: npt.ArrayLike, n_event: npt.ArrayLike,
                n_censor: npt.ArrayLike, *, where: str) -> RiskTable:
    """A risk table from shared columns, refused unless it could come from patients: times
    finite, ≥ 0 and strictly increasing; counts integers ≥ 0, every row with an event or a
    censoring; ``n_risk`` the count of times ≥ t (so the last row's is its events +
    censorings). ``n_event`` has one column per cause; column 0 (any cause) is added here.
    ``where`` names the table in messages."""
    t = np.asarray(time, dtype=np.float64)
    m = t.size
    if t.ndim != 1 or m == 0:
        raise InputError(f"{where}: a table needs at least one time", field="time")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise InputError(f"{where}: times must be finite numbers ≥ 0", field="time")
    if np.any(np.diff(t) <= 0):
        j = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 1
        raise InputError(f"{where}: times must be strictly increasing (row {j + 1}: "
                         f"{float(t[j])!r} after {float(t[j - 1])!r})", field="time",
                         value=repr(float(t[j])))
    counts = {}
    for name, raw, shape in (("n_risk", n_risk, (m,)), ("n_censor", n_censor, (m,)),
                             ("n_event", n_event, None)):
        a = np.asarray(raw)
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise InputError(f"{where}: {name} must hold integers", field=name)
        a = a.astype(np.int64)
        if (shape is not None and a.shape != shape) or (shape is None and (
                a.ndim != 2 or a.shape[0] != m or a.shape[1] < 1)):
            raise InputError(f"{where}: {name} must have one entry per time ({m})", field=name)
        if np.any(a < 0):
            raise InputError(f"{where}: {name} must be ≥ 0", field=name)
        counts[name] = a
    per_cause = counts["n_event"]
    any_cause = per_cause.sum(axis=1)
    leaving = any_cause + counts["n_censor"]
    if np.any(leaving == 0):
        j = int(np.flatnonzero(leaving == 0)[0])
        raise InputError(f"{where}: row {j + 1} (time {float(t[j])!r}) has neither an event "
                         "nor a censoring", field="n_event")
    expected = np.cumsum(leaving[::-1])[::-1]
    if not np.array_equal(expected, counts["n_risk"]):
        j = int(np.flatnonzero(expected != counts["n_risk"])[0])
        raise InputError(f"{where}: n_risk at row {j + 1} (time {float(t[j])!r}) is "
                         f"{int(counts['n_risk'][j])}, but the events and censorings from there "
                         f"on add up to {int(expected[j])}", field="n_risk",
                         value=str(int(counts["n_risk"][j])))
    return RiskTable(time=t, n_risk=counts["n_risk"],
                     n_event=np.column_stack([any_cause, per_cause]).astype(np.int64),
                     n_censor=counts["n_censor"])


def _same_causes(centres: Sequence[CentreTables]) -> int:
    if not centres:
        raise InputError("no centres to pool", field="centres")
    causes = {c.n_causes for c in centres}
    if len(causes) != 1:
        raise InputError("the centres declare different numbers of causes: "
                         + ", ".join(f"{c.centre} {c.n_causes}" for c in centres),
                         field="causes")
    return causes.pop()


def pooled_groups(centres: Sequence[CentreTables]) -> list[tuple[str | None, RiskTable]]:
    """Per group (sorted; one ``None`` group when not split), the risk table of all centres'
    patients of that group, strata merged: the table ``risk_table`` gives on the
    concatenated patients of the group."""
    k = _same_causes(centres)
    by_group: dict[str | None, list[RiskTable]] = {}
    for c in centres:
        for cell in c.cells:
            by_group.setdefault(cell.group, []).append(cell.table)
    if None in by_group and len(by_group) > 1:
        raise InputError("some centres' tables are split by group and some are not",
                         field="group")
    return [(g, merge_tables(by_group[g], n_causes=k))
            for g in sorted(by_group, key=_key)]


def pooled_kaplan_meier(centres: Sequence[CentreTables], *, conf_level: float = 0.95
                        ) -> list[tuple[str | None, KaplanMeierResult]]:
    """Kaplan-Meier of each group (any cause an event) on the pooled tables."""
    return [(g, kaplan_meier_from_table(table, conf_level=conf_level))
            for g, table in pooled_groups(centres)]


def pooled_aalen_johansen(centres: Sequence[CentreTables], *,
                          variance: Variance | str = Variance.AALEN, conf_level: float = 0.95
                          ) -> list[tuple[str | None, CumulativeIncidenceResult]]:
    """Aalen-Johansen cumulative incidence of each cause, per group, on the pooled tables."""
    return [(g, aalen_johansen_from_table(table, variance=variance, conf_level=conf_level))
            for g, table in pooled_groups(centres)]


def pooled_logrank(centres: Sequence[CentreTables], *,
                   stratify_by_centre: bool = False) -> LogRankResult:
    """The log-rank test between groups on the pooled tables, stratified by the shared strata
    (and, with ``stratify_by_centre``, by centre too: strata are then (centre, stratum))."""
    k = _same_causes(centres)
    cells: dict[tuple[str, str], dict[str, list[RiskTable]]] = {}
    for c in centres:
        for cell in c.cells:
            if cell.group is None:
                raise InputError(f"centre {c.centre}: the tables are not split by group; the "
                                 "log-rank test compares groups", field="group")
            key = (c.centre if stratify_by_centre else "", _key(cell.stratum))
            cells.setdefault(key, {}).setdefault(cell.group, []).append(cell.table)
    return logrank_from_tables([
        {g: merge_tables(tables, n_causes=k) for g, tables in cells[key].items()}
        for key in sorted(cells)])


def records(table: RiskTable) -> tuple[FloatArray, IntArray]:
    """The (time, event) records a table stands for, in time order, censorings last at each
    time — the table carries exactly this information (so any order-free statistic of time and
    event, Gray's test included, can be computed from it)."""
    k = table.n_event.shape[1] - 1
    codes = np.column_stack([table.n_event[:, 1:], table.n_censor])      # (m, k + 1)
    reps = codes.ravel()
    time = np.repeat(np.repeat(table.time, k + 1), reps)
    event = np.repeat(np.tile(np.append(np.arange(1, k + 1), 0), table.time.size), reps)
    return time.astype(np.float64), event.astype(np.int64)


def pooled_gray(centres: Sequence[CentreTables], *, stratify_by_centre: bool = False,
                rho: float = 0.0) -> tuple[GrayResult, ...]:
    """Gray's K-sample test of each cause between groups on the pooled tables (stratified by
    the shared strata, and by centre with ``stratify_by_centre``). Gray's statistic and its
    variance depend on the data only through each (stratum, group)'s numbers at risk, events
    per cause and censorings at each time — what the tables hold — so it runs on the
    (time, event, group, stratum) records the pooled tables stand for (:func:`records`)."""
    k = _same_causes(centres)
    cells: dict[tuple[str, str], dict[str, list[RiskTable]]] = {}
    for c in centres:
        for cell in c.cells:
            if cell.group is None:
                raise InputError(f"centre {c.centre}: the tables are not split by group; Gray's "
                                 "test compares groups", field="group")
            key = (c.centre if stratify_by_centre else "", _key(cell.stratum))
            cells.setdefault(key, {}).setdefault(cell.group, []).append(cell.table)
    times: list[FloatArray] = []
    events: list[IntArray] = []
    groups: list[npt.NDArray[np.str_]] = []
    strata: list[npt.NDArray[np.str_]] = []
    for s_number, key in enumerate(sorted(cells)):
        for g in sorted(cells[key]):
            t, e = records(merge_tables(cells[key][g], n_causes=k))
            times.append(t)
            events.append(e)
            groups.append(np.full(t.size, g))
            strata.append(np.full(t.size, f"{s_number:09d}"))  # sorts as ``sorted(cells)``
    return gray_test(np.concatenate(times), np.concatenate(events), np.concatenate(groups),
                     None if len(cells) == 1 else np.concatenate(strata), rho=rho)
