"""The centre's outcomes report: activity and every registry endpoint, as a document (the
numbers), HTML (the web page and the PDF's source) and PDF (WeasyPrint).

:func:`report_document` gathers everything from the registry (the endpoint data derived by
``registry/outcomes_data.py`` with the ``scores`` event definitions; the transplants for the
activity picture) and computes every estimate with the core's estimators
(:mod:`everydonor.outcomes`): Kaplan-Meier for endpoints with one kind of event, Aalen-Johansen
for those with competing events. Nothing here estimates anything itself; it picks the times,
formats and draws. :func:`audit_report` records who produced which report of which cohort.

The estimate at a time t is the value at the last event time at or before t (the ``at``
convention of the CLI); the number at risk at t counts the patients still followed at t
(observed time ≥ t).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from everydonor import __version__
from everydonor.errors import InputError

NOTICE = ("Decision support for the treating transplant team; check every answer against its "
          "source before clinical use.")


def N_(message: str) -> str:
    """Mark a message for the catalogue (translated where it is shown)."""
    return message


#: Donor types of the activity picture and the groups of the curves, in display order
#: (``everydonor.outcomes.endpoints.classify_donor_type``).
DONOR_TYPES = ("matched sibling", "haploidentical related", "unrelated", "cord", "other",
               "unknown")
DONOR_TYPE_LABELS = {"matched sibling": N_("matched sibling"),
                     "haploidentical related": N_("haploidentical related"),
                     "unrelated": N_("unrelated"), "cord": N_("cord blood"),
                     "other": N_("other"), "unknown": N_("unknown")}

#: The report's endpoints, in order, with their titles and the kind of estimate shown. An
#: endpoint the registry adapter does not know is skipped (and listed as such).
ENDPOINT_TITLES = {"os": N_("Overall survival"), "lfs": N_("Leukaemia-free survival"),
                   "grfs": N_("GVHD-free, relapse-free survival"),
                   "nrm": N_("Non-relapse mortality"), "relapse": N_("Relapse incidence"),
                   "agvhd_2_4": N_("Acute GVHD grade II-IV by day 100"),
                   "agvhd_3_4": N_("Acute GVHD grade III-IV by day 100"),
                   "cgvhd": N_("Chronic GVHD by 2 years"),
                   "neutrophil": N_("Neutrophil recovery"),
                   "platelet": N_("Platelet recovery")}
REPORT_ENDPOINTS = tuple(ENDPOINT_TITLES)

#: Default times (days from HCT day 0) of the estimate tables, per endpoint; ``--at
#: NAME=T1,T2`` replaces them. 1 year = 365 days, 2 years = 730 days. Engraftment at days 28
#: and 100 (neutrophil recovery is usually judged by day 28, platelets by day 100); acute GVHD
#: at days 28 and 100 (the day-100 horizon of its definition); the rest at day 100, 1 and 2
#: years. These are reporting choices, not clinical thresholds.
DEFAULT_TIMES: dict[str, tuple[float, ...]] = {
    "os": (100, 365, 730), "lfs": (100, 365, 730), "grfs": (100, 365, 730),
    "nrm": (100, 365, 730), "relapse": (100, 365, 730), "agvhd_2_4": (28, 100),
    "agvhd_3_4": (28, 100), "cgvhd": (365, 730), "neutrophil": (28, 100),
    "platelet": (28, 100)}
#: Plots of these endpoints are drawn in days, the others in months (30.4375 days).
DAY_SCALE = ("agvhd_2_4", "agvhd_3_4", "neutrophil", "platelet")
MONTH = 30.4375

METHODS = {
    "km": N_("Kaplan-Meier product-limit estimate; Greenwood variance; 95% confidence interval "
             "on the log(-log) scale (R survival conf.type = \"log-log\"). Groups compared by "
             "the log-rank test (R survival::survdiff, rho = 0)."),
    "cif": N_("Aalen-Johansen cumulative incidence of the endpoint's event with the "
              "competing events as stated; tied times as recorded (no jittering); Aalen "
              "variance (Pintilie 2006, Eq. 4.5); 95% confidence interval on the log(-log) "
              "scale. Groups compared by Gray's K-sample test where it is available."),
    "at": N_("An estimate at day t is the value at the last event time at or before t; the "
             "number at risk at t counts the patients still followed at t."),
}
CITATIONS = (
    "Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat "
    "Assoc 1958;53:457-481.",
    "Greenwood M. The natural duration of cancer. Rep Public Health Med Subj 1926;33:1-26.",
    "Aalen OO, Johansen S. An empirical transition matrix for non-homogeneous Markov chains "
    "based on censored observations. Scand J Stat 1978;5:141-150.",
    "Pintilie M. Competing Risks: A Practical Perspective. Wiley 2006.",
    "Gray RJ. A class of K-sample tests for comparing the cumulative incidence of a competing "
    "risk. Ann Stat 1988;16:1141-1154.",
    "Mantel N. Evaluation of survival data and two new rank order statistics arising in its "
    "consideration. Cancer Chemother Rep 1966;50:163-170.",
)


if TYPE_CHECKING:
    from everydonor.adapters.registry.outcomes_data import Cohort, EndpointData, TransplantRow


@dataclass(frozen=True)
class ReportRequest:
    """What the reader asked for: the cohort and the presentation."""

    centre: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    cohort: str | None = None
    donor_type: str | None = None
    endpoints: tuple[str, ...] = REPORT_ENDPOINTS
    at: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    group_by_donor_type: bool = True
    #: Include the pooled cohort (other centres' imported de-identified exports, cohort
    #: ``source=all``): ``centre`` then narrows this registry's own patients only.
    pooled: bool = False

    def times(self, endpoint: str) -> tuple[float, ...]:
        return tuple(self.at.get(endpoint) or DEFAULT_TIMES.get(endpoint, (100, 365, 730)))

    def describe(self) -> dict[str, Any]:
        return {"centre": self.centre,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
                "cohort": self.cohort, "donor_type": self.donor_type,
                "pooled": self.pooled, "endpoints": list(self.endpoints),
                "at": {k: list(v) for k, v in sorted(self.at.items())}}


def parse_at_options(values: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """``NAME=T1,T2`` options (days from HCT) → {endpoint: times}."""
    out: dict[str, tuple[float, ...]] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        name = name.strip()
        if not sep or name not in ENDPOINT_TITLES:
            raise InputError(f"--at takes ENDPOINT=T1,T2 (days), ENDPOINT one of "
                             f"{', '.join(ENDPOINT_TITLES)}; got {value!r}", field="--at",
                             value=value)
        times = []
        for part in rest.split(","):
            try:
                t = float(part)
            except ValueError:
                t = -1.0
            if not np.isfinite(t) or t < 0:
                raise InputError(f"--at {name}: times are days ≥ 0 separated by commas, got "
                                 f"{part.strip()!r}", field="--at", value=value)
            times.append(t)
        out[name] = tuple(times)
    return out


def parse_date(text: str | None, option: str) -> dt.date | None:
    if text is None or text == "":
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} takes a date YYYY-MM-DD, got {text!r}", field=option,
                         value=text) from None


# -- numbers -------------------------------------------------------------------------------------

def _num(x: Any) -> float | None:
    v = float(x)
    return v if np.isfinite(v) else None


def _at_risk(time: npt.NDArray[np.float64], t: float) -> int:
    return int(np.count_nonzero(time >= t))


def estimate_rows(kind: str, time: npt.NDArray[np.float64], event: npt.NDArray[np.int64],
                  times: Sequence[float], n_causes: int) -> dict[str, Any]:
    """n, events and the estimates at ``times`` of one group (KM of any event, or the
    cumulative incidence of cause 1), each with its 95% CI and the number at risk."""
    from everydonor.outcomes import aalen_johansen, kaplan_meier

    out: dict[str, Any] = {"n": int(time.size), "events": int(np.count_nonzero(event == 1))}
    if time.size == 0:
        out["at"] = [{"time": t, "estimate": None, "se": None, "lower": None, "upper": None,
                      "n_risk": 0} for t in times]
        out["median"] = None
        return out
    if kind == "km":
        km = kaplan_meier(time, event)
        values = km.at(list(times))
        out["events"] = km.events
        out["median"] = km.median
        key = "survival"
    else:
        cif = aalen_johansen(time, event, n_causes=n_causes)
        values = cif.at(1, list(times))
        out["median"] = None
        key = "cif"
    out["at"] = [{"time": float(t), "estimate": _num(values[key][i]),
                  "se": _num(values["se"][i]), "lower": _num(values["lower"][i]),
                  "upper": _num(values["upper"][i]), "n_risk": _at_risk(time, float(t))}
                 for i, t in enumerate(times)]
    return out


def activity_table(rows: Sequence[TransplantRow]) -> dict[str, Any]:
    """Transplants per centre, year and donor type, and pooled over centres."""
    counts: Counter[tuple[str, int, str]] = Counter()
    for r in rows:
        dtype = r.donor_type if r.donor_type in DONOR_TYPES else "other"
        counts[(r.centre, int(r.year), dtype)] += 1
    centres = sorted({c for c, _, _ in counts})
    years = sorted({y for _, y, _ in counts})

    def row(keys: Sequence[str], year: int) -> dict[str, Any]:
        c = {d: sum(counts.get((k, year, d), 0) for k in keys) for d in DONOR_TYPES}
        return {"year": year, "counts": c, "total": sum(c.values())}

    per_centre = {c: [row([c], y) for y in years if row([c], y)["total"]] for c in centres}
    pooled = [row(centres, y) for y in years]
    totals = {d: sum(v for (_, _, dd), v in counts.items() if dd == d) for d in DONOR_TYPES}
    return {"donor_types": list(DONOR_TYPES), "centres": centres, "years": years,
            "per_centre": per_centre, "pooled": pooled, "totals": totals,
            "total": sum(counts.values())}


def _selected(data: EndpointData, request: ReportRequest) -> npt.NDArray[np.bool_]:
    """The rows of ``data`` in the requested centre and donor type."""
    n = len(data.patient)
    keep = np.ones(n, dtype=bool)
    if request.centre is not None:
        sources = data.extra.get("source") or ["local"] * n
        keep &= np.array([c == request.centre or (request.pooled and s == "pooled")
                          for c, s in zip(data.centre, sources, strict=True)], dtype=bool)
    if request.donor_type is not None:
        keep &= np.array([d == request.donor_type for d in data.donor_type], dtype=bool)
    return keep


def endpoint_section(data: EndpointData, request: ReportRequest,
                     gray: Callable[..., Any] | None = None) -> dict[str, Any]:
    """One endpoint's numbers: all patients and per donor type, the group test, exclusions."""
    from everydonor.outcomes import logrank_test

    keep = _selected(data, request)
    time = np.asarray(data.time, dtype=np.float64)[keep]
    event = np.asarray(data.event, dtype=np.int64)[keep]
    dtypes = [d for d, k in zip(data.donor_type, keep, strict=True) if k]
    causes = sorted(data.cause_labels)
    n_causes = max([*causes, int(event.max()) if event.size else 1, 1])
    kind = "km" if n_causes == 1 else "cif"
    times = request.times(data.endpoint)
    groups = [{"group": None, **estimate_rows(kind, time, event, times, n_causes)}]
    present = [d for d in DONOR_TYPES if d in set(dtypes)]
    test = None
    if request.group_by_donor_type and len(present) > 1:
        labels = np.asarray(dtypes)
        for d in present:
            idx = labels == d
            groups.append({"group": d, **estimate_rows(kind, time[idx], event[idx], times,
                                                       n_causes)})
        if kind == "km":
            lr = logrank_test(time, (event > 0).astype(np.int64), labels)
            if lr.df > 0 and int(np.count_nonzero(event)) > 0:
                test = {"name": "log-rank", "statistic": float(lr.statistic),
                        "df": int(lr.df), "p": _num(lr.p)}
        elif gray is not None:
            res = [g for g in gray(time, event, labels) if int(g.cause) == 1]
            if res:
                test = {"name": "Gray", "statistic": float(res[0].statistic),
                        "df": int(res[0].df), "p": _num(res[0].p)}
    reasons = Counter(reason for _, reason in data.excluded)
    spec = _spec(data.endpoint)
    return {"endpoint": data.endpoint, "kind": kind, "times": list(times),
            "confidence": getattr(spec, "confidence", None),
            "citation": getattr(spec, "citation", None),
            "description": getattr(spec, "description", None),
            "notes": list(getattr(spec, "notes", ())),
            "cause_labels": {int(k): v for k, v in sorted(data.cause_labels.items())},
            "definition": data.definition, "groups": groups, "test": test,
            "excluded": sorted(data.excluded), "excluded_by_reason": dict(sorted(reasons.items())),
            "_arrays": (time, event, dtypes, n_causes)}


def _spec(name: str) -> Any:
    try:
        from everydonor.outcomes.endpoints import ENDPOINTS
    except ImportError:  # pragma: no cover (the endpoint catalogue ships with the package)
        return None
    return ENDPOINTS.get(name)


def _gray() -> Callable[..., Any] | None:
    try:
        from everydonor.outcomes.gray import gray_test  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return gray_test  # type: ignore[no-any-return,unused-ignore]


def compute_report(sections: Sequence[EndpointData], transplants: Sequence[TransplantRow],
                   request: ReportRequest, *, data_as_of: str | None = None,
                   audit_head: str | None = None, skipped: Sequence[str] = ()
                   ) -> dict[str, Any]:
    """The report's numbers from the endpoint data and the transplants (no registry access)."""
    gray = _gray()
    selected = [t for t in transplants if (request.centre is None or t.centre == request.centre
                                           or (request.pooled and t.source == "pooled"))
                and (request.donor_type is None or t.donor_type == request.donor_type)]
    endpoints = [endpoint_section(d, request, gray) for d in sections]
    pooled_centres = sorted({t.centre for t in selected
                             if getattr(t, "source", "local") == "pooled"})
    patients = set()
    for d in sections:
        keep = _selected(d, request)
        patients |= {p for p, k in zip(d.patient, keep, strict=True) if k}
    return {"title": "Centre outcomes report", "request": request.describe(),
            "software": f"everydonor {__version__}", "notice": NOTICE,
            "data_as_of": data_as_of, "audit_head": audit_head,
            "patients": len(patients), "activity": {**activity_table(selected),
                                                    "pooled_centres": pooled_centres},
            "pooled_centres": pooled_centres,
            "endpoints": endpoints, "skipped": list(skipped),
            "methods": dict(METHODS), "citations": list(CITATIONS),
            "gray_available": gray is not None}


def public(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document without its arrays (for JSON and the audit digest)."""
    out = dict(document)
    out["endpoints"] = [{k: v for k, v in e.items() if not k.startswith("_")}
                        for e in document["endpoints"]]
    return out


def digest(document: Mapping[str, Any]) -> str:
    text = json.dumps(public(document), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- plots ---------------------------------------------------------------------------------------

def endpoint_svg(section: Mapping[str, Any], gettext: Callable[[str], str]) -> str:
    """The curves of one endpoint (all patients, or one curve per donor type)."""
    from everydonor.adapters.report.outcome_plots import cif_curve, curve_plot, km_curve

    time, event, dtypes, n_causes = section["_arrays"]
    name = section["endpoint"]
    labels = np.asarray(dtypes)
    grouped = [g for g in section["groups"] if g["group"] is not None]
    subsets: list[tuple[str, Any]] = []
    if grouped:
        for g in grouped:
            subsets.append((f"{gettext(DONOR_TYPE_LABELS[g['group']])} (n={g['n']})",
                            labels == g["group"]))
    elif time.size:
        subsets.append((f"{gettext('All patients')} (n={time.size})",
                        np.ones(time.size, dtype=bool)))
    curves = []
    for label, idx in subsets:
        if section["kind"] == "km":
            curves.append(km_curve(label, time[idx], event[idx]))
        else:
            curves.append(cif_curve(label, time[idx], event[idx], 1, n_causes))
    days = name in DAY_SCALE
    horizon = max([*section["times"], float(time.max()) if time.size else 0.0, 1.0])
    if days:
        step = 7.0 if horizon <= 60 else 14.0 if horizon <= 120 else 30.0 if horizon <= 365 else 90.0
        ticks = list(np.arange(0.0, horizon + 0.01, step))
        tick_labels = [f"{t:g}" for t in ticks]
        xlabel, scale = gettext("Days from HCT"), 1.0
    else:
        months = horizon / MONTH
        step_m = 3 if months <= 24 else 6 if months <= 60 else 12
        ticks = [m * MONTH for m in range(0, int(months) + 1, step_m)]
        tick_labels = [str(m) for m in range(0, int(months) + 1, step_m)]
        xlabel, scale = gettext("Months from HCT"), MONTH
    x_max = max(ticks[-1], *section["times"]) if ticks else horizon
    ylabel = gettext("Probability") if section["kind"] == "km" else gettext(
        "Cumulative incidence")
    return curve_plot(curves, kind="survival" if section["kind"] == "km" else "incidence",
                      xlabel=xlabel, ylabel=ylabel, risk_times=ticks,
                      risk_label=gettext("Number at risk"), scale=scale,
                      tick_labels=tick_labels, x_max=x_max)


def activity_svgs(activity: Mapping[str, Any], gettext: Callable[[str], str]
                  ) -> list[tuple[str, str]]:
    """(title, svg) of the pooled chart and, with more than one centre, one per centre."""
    from everydonor.adapters.report.outcome_plots import activity_plot

    labels = {d: gettext(DONOR_TYPE_LABELS[d]) for d in DONOR_TYPES}
    years = activity["years"]
    out = []
    panels: list[tuple[str, list[dict[str, Any]]]] = []
    if len(activity["centres"]) != 1:
        panels.append((gettext("All centres, pooled"), activity["pooled"]))
    pooled = set(activity.get("pooled_centres") or ())
    for c in activity["centres"]:
        panels.append((f"{c} ({gettext('pooled cohort')})" if c in pooled else c,
                       activity["per_centre"][c]))
    for title, rows in panels:
        counts = {(r["year"], d): r["counts"][d] for r in rows for d in DONOR_TYPES}
        out.append((title, activity_plot(counts, DONOR_TYPES, labels,
                                         xlabel=gettext("Year of HCT"),
                                         ylabel=gettext("Transplants"), years=years)))
    return out


# -- HTML and PDF --------------------------------------------------------------------------------

def _fmt_percent(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _day(t: float) -> str:
    return f"{t:g}"


def render_html(document: Mapping[str, Any], *, language: Any = None, body_only: bool = False,
                pdf_url: str | None = None) -> str:
    """The report as an HTML page (``body_only``: the content the web page embeds)."""
    import base64

    from everydonor.adapters.report.html import FONT_FILE, _environment

    env = _environment(language)
    translations = language.translations if language is not None else None

    def gettext(message: str) -> str:
        return str(translations.gettext(message)) if translations is not None else message

    def data_uri(svg: str) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode()

    plots = {e["endpoint"]: data_uri(endpoint_svg(e, gettext)) for e in document["endpoints"]}
    activity = [(t, data_uri(s)) for t, s in activity_svgs(document["activity"], gettext)]
    footer = f"{document['software']} · {gettext('centre outcomes report')}"
    template = "centre_report_body.html.j2" if body_only else "centre_report.html.j2"
    return env.get_template(template).render(
        doc=document, plots=plots, activity_plots=activity, titles=ENDPOINT_TITLES,
        donor_labels=DONOR_TYPE_LABELS, pct=_fmt_percent, pval=_fmt_p, day=_day,
        font_url=FONT_FILE.as_uri(), footer=footer, pdf_url=pdf_url,
        lang=language.code if language is not None else "en")


def render_pdf(document: Mapping[str, Any], *, language: Any = None) -> bytes:
    from everydonor.adapters.report.pdf import html_to_pdf

    return html_to_pdf(render_html(document, language=language))


# -- the registry --------------------------------------------------------------------------------

def cohort_of(request: ReportRequest) -> Cohort:
    """The registry cohort: the filter text, narrowed by the centre, period and donor type
    options (an option and the same key in the filter: refused, one must say it once)."""
    import dataclasses

    from everydonor.adapters.registry import outcomes_data

    cohort = outcomes_data.parse_cohort(request.cohort)
    changes: dict[str, Any] = {}
    for option, key, value in (("--centre", "centre", (request.centre,) if request.centre
                                else ()),
                               ("--from", "hct_from", request.date_from),
                               ("--to", "hct_to", request.date_to),
                               ("--donor-type", "donor_type", (request.donor_type,)
                                if request.donor_type else ())):
        if not value:
            continue
        if getattr(cohort, key):
            raise InputError(f"{option} and the cohort filter's {key}= both say which "
                             f"{key.replace('_', ' ')}: give it once", field=option,
                             value=str(request.cohort))
        changes[key] = value
    if request.date_from and request.date_to and request.date_from > request.date_to:
        raise InputError(f"--from {request.date_from} is after --to {request.date_to}",
                         field="--from", value=request.date_from.isoformat())
    if request.pooled:
        if cohort.source != "local":
            raise InputError("the pooled cohort is asked for twice (the choice and the cohort "
                             "filter's source=): give it once", field="pooled",
                             value=str(request.cohort))
        changes["source"] = "all"
        if "centre" in changes:  # the centre's own patients, and the whole pooled cohort
            changes["local_centre"] = changes.pop("centre")
    cohort = dataclasses.replace(cohort, **changes) if changes else cohort
    outcomes_data.check_period(cohort)
    return cohort


def report_document(registry: Any, request: ReportRequest, *, actor: str,
                    reason: str) -> dict[str, Any]:
    """Load every endpoint and the transplants of the cohort from the registry (each read
    audited by the registry adapter as ``actor``); compute."""
    from sqlalchemy import select

    from everydonor.adapters.registry import outcomes_data
    from everydonor.adapters.registry.models import AuditLog

    cohort = cohort_of(request)
    known = _known_endpoints()
    sections = []
    skipped = []
    for name in request.endpoints:
        if known is not None and name not in known:
            skipped.append(name)
            continue
        sections.append(outcomes_data.endpoint_data(registry, name, cohort, actor=actor,
                                                    reason=reason))
    transplants = outcomes_data.transplants(registry, cohort, actor=actor, reason=reason)
    with registry.reading() as s:
        head = s.execute(select(AuditLog.at, AuditLog.hash).order_by(AuditLog.seq.desc())
                         .limit(1)).first()
    return compute_report(sections, transplants, request,
                          data_as_of=str(head[0]) if head else None,
                          audit_head=str(head[1]) if head else None, skipped=skipped)


def _known_endpoints() -> set[str] | None:
    from everydonor.outcomes.endpoints import ENDPOINTS

    return set(ENDPOINTS)


def audit_report(registry: Any, document: Mapping[str, Any], *, actor: str, reason: str,
                 action: str, output: str | None = None, request_id: str | None = None
                 ) -> None:
    """One audit entry: who produced (or viewed) which cohort's report, with its digest."""
    from everydonor.adapters.registry import audit

    request = document["request"]
    with registry.transaction(actor, reason) as (s, ctx):
        audit.append(s, now=ctx.now, actor=ctx.actor, action=action, object_type="centre",
                     object_id=request.get("centre") or "(all centres)", reason=ctx.reason,
                     payload={"request": request, "patients": document["patients"],
                              "transplants": document["activity"]["total"],
                              "sha256": digest(document), "output": output},
                     request_id=request_id or ctx.request_id)
