"""Outcome plots as SVG text: Kaplan-Meier and cumulative-incidence step curves with censoring
ticks and a numbers-at-risk table under the axis, and the activity chart (transplants per year
by donor type, stacked bars).

matplotlib with the Agg canvas (no pyplot, no display), one ``Figure`` per plot. The SVG is
deterministic: fixed font (DejaVu Sans, written as text, not glyph paths, so a PDF keeps it as
text and a Chinese label falls back to the report's CJK font), no date in the metadata, and
``svg.hashsalt`` fixed so clip-path ids are the same on every run. Colours are the Okabe-Ito
palette (distinguishable with the common colour-vision deficiencies) and every group also has
its own line style, so a black-and-white print still tells the curves apart.

The functions take arrays and labels already in the reader's language; they compute nothing
clinical (the estimates come from :mod:`everydonor.outcomes`).
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: Okabe & Ito (2008), "Color Universal Design": blue, vermillion, bluish green, orange,
#: reddish purple, sky blue, yellow, black.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 3)),
              (0, (3, 1, 1, 1)))
#: The font written into the SVG; a reader without it (or a Chinese label) falls back in order.
FONT_FAMILY = "DejaVu Sans"
SVG_FONT_STACK = "'DejaVu Sans', 'EverydonorSans', 'Noto Sans CJK SC', sans-serif"
SALT = "everydonor-outcome-plots"
_RC: Any = {"svg.fonttype": "none", "svg.hashsalt": SALT, "font.family": [FONT_FAMILY],
       "font.size": 9.0, "axes.titlesize": 10.0, "axes.labelsize": 9.0,
       "xtick.labelsize": 8.0, "ytick.labelsize": 8.0, "legend.fontsize": 8.0,
       "path.simplify": False, "svg.image_inline": True}
_LOCK = threading.Lock()  # rcParams are global: one rendering at a time


@dataclass(frozen=True, slots=True)
class Curve:
    """One group's step function: ``value`` holds from ``time[i]`` until the next time (it is
    the estimate just after ``time[i]``); ``censored`` the times of censored observations;
    ``risk_time`` / ``n_risk`` the distinct observed times and the numbers at risk there
    (everyone with time ≥ t)."""

    label: str
    time: npt.NDArray[np.float64]
    value: npt.NDArray[np.float64]
    censored: npt.NDArray[np.float64]
    risk_time: npt.NDArray[np.float64]
    n_risk: npt.NDArray[np.int64]

    def value_at(self, t: npt.ArrayLike, start: float) -> npt.NDArray[np.float64]:
        idx = np.searchsorted(self.time, np.asarray(t, dtype=np.float64), side="right") - 1
        out = np.where(idx >= 0, self.value[np.maximum(idx, 0)], start)
        return np.asarray(out, dtype=np.float64)

    def at_risk(self, t: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Numbers still at risk at each ``t`` (observed time ≥ t)."""
        idx = np.searchsorted(self.risk_time, np.asarray(t, dtype=np.float64), side="left")
        n = np.append(self.n_risk, 0)
        return np.asarray(n[idx], dtype=np.int64)


def _render(fig: object) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_RC), warnings.catch_warnings():
        # a Chinese label has no glyph in DejaVu Sans: it is written as text and the reader's
        # CJK font draws it (the PDF's embedded Noto Sans SC); the warning says nothing new
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buffer, format="svg", metadata={"Date": None})  # type: ignore[attr-defined]
    svg = buffer.getvalue()
    # matplotlib writes ``font-family: 'DejaVu Sans'``: give the reader's fallbacks too
    svg = svg.replace("font-family: 'DejaVu Sans'", f"font-family: {SVG_FONT_STACK}")
    svg = svg.replace('font-family="DejaVu Sans"', f'font-family="{SVG_FONT_STACK}"')
    # the XML prolog and doctype would be invalid inside an HTML page
    start = svg.find("<svg")
    return svg[start:].strip() + "\n"


def _figure(width: float, height: float) -> object:
    import matplotlib

    with matplotlib.rc_context(_RC):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
    return fig


def curve_plot(curves: Sequence[Curve], *, kind: str, xlabel: str, ylabel: str,
               risk_times: Sequence[float], risk_label: str, scale: float = 1.0,
               tick_labels: Sequence[str] | None = None, x_max: float | None = None,
               title: str | None = None) -> str:
    """Step curves of ``curves`` (``kind`` "survival": starting at 1, or "incidence":
    starting at 0), with censoring ticks ("+") and the numbers at risk at ``risk_times``
    (days) in a table under the axis. ``scale`` divides times for the x axis (30.4375 shows
    days as months); ``tick_labels`` name the risk times on the axis."""
    import matplotlib

    if kind not in ("survival", "incidence"):
        raise ValueError(f"kind is survival or incidence, not {kind!r}")
    start = 1.0 if kind == "survival" else 0.0
    rows = max(len(curves), 1)
    with _LOCK, matplotlib.rc_context(_RC):
        # laid out in inches: title, plot, x axis (ticks and label), then the at-risk table
        width, left, right = 6.8, 2.0, 0.2
        top, plot_h, axis_h, row_h = (0.35 if title else 0.12), 2.9, 0.55, 0.2
        table_h = row_h * (rows + 1)
        height = top + plot_h + axis_h + table_h + 0.08
        fig = _figure(width, height)
        w = (width - left - right) / width
        ax = fig.add_axes((left / width, (height - top - plot_h) / height,  # type: ignore[attr-defined]
                           w, plot_h / height))
        table = fig.add_axes((left / width, 0.08 / height, w,  # type: ignore[attr-defined]
                              table_h / height))
        limit = x_max if x_max is not None else max(
            [float(c.risk_time.max()) for c in curves if c.risk_time.size] + [1.0])
        for i, c in enumerate(curves):
            colour, style = PALETTE[i % len(PALETTE)], LINESTYLES[i % len(LINESTYLES)]
            keep = c.time <= limit
            xs = np.concatenate(([0.0], c.time[keep], [limit])) / scale
            ys = np.concatenate(([start], c.value[keep],
                                 [c.value_at([limit], start)[0]]))
            ax.step(xs, ys, where="post", color=colour, linestyle=style, linewidth=1.6,
                    label=c.label)
            cens = c.censored[c.censored <= limit]
            if cens.size:
                ax.plot(cens / scale, c.value_at(cens, start), linestyle="none", marker="+",
                        markersize=6, markeredgewidth=1.0, color=colour)
        ax.set_xlim(0, limit / scale)
        ax.set_ylim(-0.01, 1.01)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_yticklabels(["0%", "20%", "40%", "60%", "80%", "100%"])
        ax.set_ylabel(ylabel)
        ax.grid(True, color="#d9d9d9", linewidth=0.5)
        ax.spines[["top", "right"]].set_visible(False)
        ticks = [t / scale for t in risk_times]
        ax.set_xticks(ticks)
        ax.set_xticklabels(list(tick_labels) if tick_labels is not None
                           else [f"{t:g}" for t in ticks])
        ax.set_xlabel(xlabel)
        if title:
            ax.set_title(title, loc="left")
        if curves:
            ax.legend(loc="lower left" if kind == "survival" else "upper left",
                      frameon=True, framealpha=0.9, edgecolor="#bbbbbb", handlelength=3.0)
        # the numbers-at-risk table: one row per group, coloured like its curve
        table.set_xlim(0, limit / scale)
        table.set_ylim(rows - 0.5, -1.5)
        table.set_yticks(list(range(rows)))
        table.set_yticklabels([c.label for c in curves] or [""])
        for i, tick in enumerate(table.get_yticklabels()):
            tick.set_color(PALETTE[i % len(PALETTE)])
        table.tick_params(axis="both", length=0, labelbottom=False)
        table.tick_params(axis="y", pad=16)
        for side in ("top", "right", "bottom", "left"):
            table.spines[side].set_visible(False)
        table.text(-0.04, -1.0, risk_label, transform=table.get_yaxis_transform(),
                   ha="right", va="center", fontsize=8, fontweight="bold")
        for i, c in enumerate(curves):
            for t, n in zip(risk_times, c.at_risk(risk_times), strict=True):
                table.text(t / scale, i, str(int(n)), ha="center", va="center", fontsize=8,
                           color=PALETTE[i % len(PALETTE)])
        return _render(fig)


def km_curve(label: str, time: npt.ArrayLike, event: npt.ArrayLike) -> Curve:
    """The Kaplan-Meier curve of one group (any non-zero event is an event)."""
    from everydonor.outcomes import kaplan_meier

    km = kaplan_meier(time, event)
    censored = km.time[km.n_censor > 0]
    return Curve(label, km.time, km.survival, censored, km.time, km.n_risk)


def cif_curve(label: str, time: npt.ArrayLike, event: npt.ArrayLike, cause: int,
              n_causes: int) -> Curve:
    """The Aalen-Johansen cumulative incidence of ``cause`` in one group."""
    from everydonor.outcomes import aalen_johansen

    r = aalen_johansen(time, event, n_causes=n_causes)
    n_censor = r.n_risk - np.append(r.n_risk[1:], 0) - r.n_event[:, 0]
    return Curve(label, r.time, r.cif[cause - 1], r.time[n_censor > 0], r.time, r.n_risk)


def activity_plot(counts: Mapping[tuple[int, str], int], donor_types: Sequence[str],
                  labels: Mapping[str, str], *, xlabel: str, ylabel: str,
                  title: str | None = None, years: Sequence[int] | None = None) -> str:
    """Stacked bars: transplants per year (``counts[(year, donor_type)]``), one colour and one
    hatch per donor type in ``donor_types`` order; the total over each bar."""
    import matplotlib

    span = sorted(years if years is not None else {y for y, _ in counts})
    if not span:
        span = []
    all_years = list(range(span[0], span[-1] + 1)) if span else []
    hatches = ("", "//", "..", "xx", "\\\\", "--", "++", "oo")
    with _LOCK, matplotlib.rc_context(_RC):
        fig = _figure(6.8, 3.2)
        ax = fig.add_axes((0.1, 0.17, 0.62, 0.72) if title else  # type: ignore[attr-defined]
                          (0.1, 0.17, 0.62, 0.78))
        bottom = np.zeros(len(all_years))
        x = np.arange(len(all_years))
        for i, dtype in enumerate(donor_types):
            heights = np.array([counts.get((y, dtype), 0) for y in all_years], dtype=float)
            ax.bar(x, heights, bottom=bottom, width=0.7, color=PALETTE[i % len(PALETTE)],
                   hatch=hatches[i % len(hatches)], edgecolor="#333333", linewidth=0.4,
                   label=labels.get(dtype, dtype))
            bottom += heights
        top = float(bottom.max()) if bottom.size else 0.0
        for xi, total in zip(x, bottom, strict=True):
            if total:
                ax.text(xi, total + max(top, 1) * 0.015, f"{int(total)}", ha="center",
                        va="bottom", fontsize=7.5)
        ax.set_xticks(x)
        step = max(1, len(all_years) // 12)
        ax.set_xticklabels([str(y) if k % step == 0 else "" for k, y in enumerate(all_years)])
        ax.set_xlim(-0.6 - max(0, 3 - len(all_years)) / 2,  # a year or two: no bar wider
                    len(all_years) - 0.4 + max(0, 3 - len(all_years)) / 2)
        ax.set_ylim(0, max(top * 1.12, 1.0))
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", color="#d9d9d9", linewidth=0.5)
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
        if title:
            ax.set_title(title, loc="left")
        handles, names = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], names[::-1], loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  frameon=False)
        return _render(fig)
