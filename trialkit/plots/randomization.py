"""Figures of randomization results: cumulative allocation, allocation by site over time, SMD
(Love) plot with its chance band, and design-simulation comparisons.

Each function takes a tidy result of :mod:`trialkit.randomization` and computes nothing
statistical itself. Traces carry ``meta`` tags so tests (and users) can find them in
``fig.to_dict()``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._spec import figure_from_spec

__all__ = ["plot_cumulative_allocation", "plot_allocation_by_site", "plot_smd", "plot_design_simulation",
           "ARM_COLORS"]

#: Okabe–Ito colour-blind-safe palette (control arm first), shared with the outcome plots.
ARM_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def plot_cumulative_allocation(result, *, title: str | None = None, height: int = 420):
    """``N_exp(j) − ρ·j`` against enrollment order with the scheme's and complete randomization's bands.

    Parameters
    ----------
    result : CumulativeAllocation
        From :func:`trialkit.cumulative_allocation`.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces (``meta``): ``scheme_band`` (filled), ``complete_band`` (two dotted lines),
        ``observed`` (the step curve).

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_study("data/demo/b1931036")
    >>> fig = tk.plot_cumulative_allocation(tk.cumulative_allocation(study, n_sim=200))
    >>> [t.meta for t in fig.data]
    ['scheme_band', 'complete_band', 'complete_band', 'observed']
    """
    t = result.summary
    e = result.experimental_arm
    lvl = f"{result.conf_level:.0%}"
    j = t["j"].to_numpy()
    data = [{"type": "scatter", "x": np.r_[j, j[::-1]], "y": np.r_[t["scheme_upper"], t["scheme_lower"][::-1]],
             "fill": "toself", "fillcolor": _rgba(ARM_COLORS[1], 0.18), "line": {"width": 0}, "hoverinfo": "skip",
             "name": f"{lvl} band: {result.scheme}", "meta": "scheme_band"}]
    for k, col in enumerate(("complete_lower", "complete_upper")):
        data.append({"type": "scatter", "x": j, "y": t[col].to_numpy(), "mode": "lines",
                     "line": {"dash": "dot", "color": "#777", "width": 1}, "hoverinfo": "skip",
                     "name": f"{lvl} band: complete randomization", "legendgroup": "complete", "showlegend": k == 0,
                     "meta": "complete_band"})
    hover = [f"j={jj}<br>{s}<br>{a}" + (f"<br>{pd.Timestamp(d):%Y-%m-%d}" if "randomization_date" in t else "")
             for jj, s, a, d in zip(t["j"], t["subject_id"], t["arm"],
                                    t["randomization_date"] if "randomization_date" in t else t["j"])]
    data.append({"type": "scatter", "x": j, "y": t["deviation"].to_numpy(), "mode": "lines+markers",
                 "line": {"shape": "hv", "color": ARM_COLORS[1], "width": 2}, "marker": {"size": 4},
                 "name": f"observed N_{e} − ρ·j", "text": hover, "meta": "observed",
                 "hovertemplate": "%{text}<br>deviation %{y:.2f}<extra></extra>"})
    layout = {"title": {"text": title or f"Cumulative allocation to {e} minus its planned share "
                        f"(ρ = {result.planned_prop:.3g})"},
              "xaxis": {"title": {"text": "enrollment order j"}},
              "yaxis": {"title": {"text": f"N_{e}(j) − ρ·j"}}, "height": height,
              "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0, "y1": 0,
                          "line": {"color": "#333", "width": 1}}],
              "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"}, "margin": {"b": 110}}
    return figure_from_spec(data, layout)


def plot_allocation_by_site(data: pd.DataFrame, *, by: str = "site_id", arms: tuple[str, ...] | None = None,
                            title: str | None = None, height: int | None = None):
    """Each randomization as a point at (date, site), coloured by arm.

    Parameters
    ----------
    data : DataFrame
        From :func:`trialkit.randomization.allocation_over_time` (``randomization_date, <by>, arm,
        k, n_<arm>…``).
    arms : tuple of str, optional
        Arm order for colours and legend (control first); default the order of first appearance.

    Returns
    -------
    plotly.graph_objects.Figure
        One marker trace per arm (``meta`` = arm code); sites ordered by first randomization.

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_study("data/demo/b1931036")
    >>> fig = tk.plot_allocation_by_site(tk.allocation_over_time(study), arms=study.protocol.arm_codes)
    >>> [t.meta for t in fig.data]
    ['ALLR3', 'InO']
    """
    arms = tuple(arms or pd.unique(data["arm"].dropna()))
    first = data.groupby(by)["randomization_date"].min().sort_values()
    order = [str(s) for s in first.index]
    traces = []
    for i, a in enumerate(arms):
        d = data[data["arm"] == a]
        traces.append({"type": "scatter", "x": d["randomization_date"].tolist(), "y": d[by].astype(str).tolist(),
                       "mode": "markers", "name": a, "meta": a, "text": d["subject_id"].astype(str).tolist(),
                       "customdata": d["k"].tolist(),
                       "marker": {"color": ARM_COLORS[i % len(ARM_COLORS)], "size": 9,
                                  "symbol": "circle" if i else "diamond", "line": {"width": 0.5, "color": "white"}},
                       "hovertemplate": "%{y} · %{text}<br>%{x|%Y-%m-%d}<br>patient #%{customdata} at site"
                                        f"<br>{a}<extra></extra>"})
    layout = {"title": {"text": title or f"Allocation by {by} over calendar time"},
              "xaxis": {"title": {"text": "randomization date"}, "type": "date"},
              "yaxis": {"categoryorder": "array", "categoryarray": order[::-1], "title": {"text": by},
                        "type": "category"},
              "height": height or max(300, 18 * len(order) + 140),
              "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom"}}
    return figure_from_spec(traces, layout)


def plot_smd(result, *, title: str | None = None, height: int | None = None, labels=None):
    """Love plot: |SMD| per covariate against the chance scale and each covariate's 95 % chance limit.

    Everything the legend names is drawn over every row: the chance scale √(1/n_A + 1/n_B) as a
    dashed line (the band below it shaded), the customary 0.1 as a dotted grey line (a convention, not
    a chance limit: under randomization most covariates of a small trial exceed it), and each
    covariate's chance limit as a red tick. The legend sits above the plot, clear of the tick labels.

    Parameters
    ----------
    result : BalanceTable
        From :func:`trialkit.balance_table`.
    labels : mapping, optional
        ``{column: label}`` for the rows (default the table's own labels); the column name is in the
        hover text.

    Returns
    -------
    plotly.graph_objects.Figure
        ``meta``: ``chance_band`` (the dashed chance-scale line), ``convention`` (0.1), ``limit``
        (per-covariate chance limits), ``smd`` (one marker trace per comparison). Rows are at
        y = 0, 1, … (top row last) with the labels as tick text.

    Examples
    --------
    >>> import trialkit as tk
    >>> fig = tk.plot_smd(tk.balance_table(tk.load_study("data/demo/b1931036")))
    >>> [t.meta for t in fig.data]
    ['chance_band', 'convention', 'limit', 'smd']
    """
    s = result.smd
    variables = list(dict.fromkeys(s["variable"]))[::-1]
    names = {**dict(result.labels or {}), **dict(labels or {})}
    ticks = [names.get(v, v) for v in variables]
    ys = list(range(len(variables)))
    full = [-0.5, len(variables) - 0.5]  # a line over every row
    data, shapes = [], []
    if np.isfinite(result.band):
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": 0, "x1": result.band, "y0": 0, "y1": 1,
                       "fillcolor": "rgba(120,120,120,0.13)", "line": {"width": 0}, "layer": "below",
                       "name": "chance_band"})
        data.append({"type": "scatter", "x": [result.band, result.band], "y": full, "mode": "lines",
                     "line": {"color": "#555", "dash": "dash"}, "meta": "chance_band", "hoverinfo": "skip",
                     "name": f"chance scale √(1/n_A+1/n_B) = {result.band:.3f} (shaded below)"})
    data.append({"type": "scatter", "x": [0.1, 0.1], "y": full, "mode": "lines", "meta": "convention",
                 "line": {"color": "#aaa", "dash": "dot", "width": 1.5}, "hoverinfo": "skip",
                 "name": "0.1 (customary rule, not a chance limit)"})
    lim = s.drop_duplicates("variable").set_index("variable")["chance_limit"].reindex(variables)
    data.append({"type": "scatter", "x": lim.to_numpy(float), "y": ys, "mode": "markers", "customdata": variables,
                 "marker": {"symbol": "line-ns-open", "size": 16, "color": "#B00", "line": {"width": 2}},
                 "name": f"{result.conf_level:.0%} chance limit of each covariate", "meta": "limit",
                 "hovertemplate": "%{customdata}: chance limit %{x:.3f}<extra></extra>"})
    for i, (comp, g) in enumerate(s.groupby("comparison", sort=False)):
        g = g.set_index("variable").reindex(variables)
        data.append({"type": "scatter", "x": g["abs_smd"].to_numpy(float), "y": ys, "mode": "markers",
                     "name": f"|SMD| {comp}", "meta": "smd", "customdata": variables,
                     "marker": {"size": 10, "color": ARM_COLORS[(i + 1) % len(ARM_COLORS)]},
                     "hovertemplate": "%{customdata}: |SMD| %{x:.3f}<extra>" + comp + "</extra>"})
    top = np.nanmax([0.1, result.band if np.isfinite(result.band) else 0, np.nanmax(lim.to_numpy(float), initial=0),
                     np.nanmax(s["abs_smd"].to_numpy(float), initial=0)])
    H = height or max(320, 28 * len(variables) + 220)
    # title on top, the legend under it, both above the plot: never over the x tick labels
    layout = {"title": {"text": title or "Standardized mean differences vs the chance band", "yref": "container",
                        "y": 1, "yanchor": "top", "pad": {"t": 12}},
              "height": H, "shapes": shapes,
              "xaxis": {"range": [-top * 0.02, top * 1.12], "tickformat": ".2f", "title": {"text": "|SMD|"},
                        "zeroline": False},
              "yaxis": {"tickvals": ys, "ticktext": ticks, "range": full, "zeroline": False, "showgrid": True},
              "legend": {"orientation": "h", "yref": "container", "y": 1 - 44 / H, "yanchor": "top", "x": 0,
                         "xref": "container"},
              "margin": {"t": 140, "b": 50}}
    return figure_from_spec(data, layout)


def plot_design_simulation(result, *, title: str | None = None, height: int = 420):
    """Distribution of the final and maximum |imbalance| per scheme (box plots from quantiles).

    Parameters
    ----------
    result : DesignSimulation
        From :func:`trialkit.simulate_design`.

    Returns
    -------
    plotly.graph_objects.Figure
        Two box traces (``meta`` = ``final`` and ``max``) with one box per scheme, drawn from the
        5/25/50/75/95 % quantiles (the 10,000 values are not embedded in the figure).

    Examples
    --------
    >>> import trialkit as tk
    >>> result = tk.simulate_design(tk.load_study("data/demo/b1931036"), n_trials=500,
    ...                          schemes=["complete", "blocks by site_id"])
    >>> [t.meta for t in tk.plot_design_simulation(result).data]
    ['final', 'max']
    """
    t = result.trials
    schemes = list(dict.fromkeys(t["scheme"]))
    data = []
    for i, (col, name) in enumerate((("abs_final", "final |imbalance|"), ("abs_max", "maximum |imbalance|"))):
        q = t.groupby("scheme", sort=False)[col].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack().reindex(schemes)
        data.append({"type": "box", "x": schemes, "q1": q[0.25].tolist(), "median": q[0.5].tolist(),
                     "q3": q[0.75].tolist(), "lowerfence": q[0.05].tolist(), "upperfence": q[0.95].tolist(),
                     "name": name, "meta": "final" if i == 0 else "max", "marker": {"color": ARM_COLORS[i]}})
    inc = result.summary.set_index("scheme")["share_strata_incomplete"].reindex(schemes)
    ticks = [_wrap(s) + (f"<br><i>{v:.0%} strata end mid-block</i>" if v > 0 else "") for s, v in inc.items()]
    layout = {"boxmode": "group", "title": {"text": title or (
                  f"Imbalance N_{result.experimental_arm} − planned share, {result.n_trials:,} simulated trials per "
                  "scheme (whiskers 5–95 %)")},
              "xaxis": {"tickvals": schemes, "ticktext": ticks, "tickangle": 0, "type": "category"},
              "yaxis": {"rangemode": "tozero", "title": {"text": "|imbalance| (patients)"}}, "height": height,
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0}, "margin": {"b": 110}}
    return figure_from_spec(data, layout)


def _wrap(text: str, width: int = 24) -> str:
    """Break a long axis label into lines of about ``width`` characters (plotly does not wrap)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "<br>".join([*lines, line])
