"""Figures of safety results: the AE dot plot and the cumulative incidence of an event of special interest.

Both take the tidy results of :mod:`trialkit.safety` and compute nothing statistical themselves. The
dot plot follows the "AE dot plot" of safety reviews (Amit, Heiberger & Lane, Pharmaceutical
Statistics 2008): on the left the incidence of each preferred term in each group, on the right the
risk difference against the reference group with its interval, the two panels sharing the rows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._spec import figure_from_spec
from .outcomes import PALETTE, _rgba

__all__ = ["plot_ae_dotplot", "plot_cumulative_incidence"]


@lru_cache(maxsize=1)
def _dot_axes() -> dict:
    """Axes and title positions of the dot plot's two panels, as ``make_subplots`` lays them out (once)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.55, 0.45], horizontal_spacing=0.03,
                        subplot_titles=("left", "right"))
    layout = fig.layout.to_plotly_json()
    return {"xaxis": layout["xaxis"], "yaxis": layout["yaxis"], "xaxis2": layout["xaxis2"],
            "yaxis2": layout["yaxis2"], "annotations": layout["annotations"]}


def _dot_rows(result, kind: str, top: int | None):
    """The rows drawn: the ``top`` most frequent, bottom to top by risk difference (else by frequency)."""
    s = result.summary[result.summary["kind"] == kind]
    d = result.differences[result.differences["kind"] == kind] if len(result.differences) else result.differences
    total = s.groupby("order")["n"].sum().sort_values(ascending=False, kind="stable")
    chosen = total.index[:top] if top is not None else total.index
    if len(d):
        rd = d.groupby("order", sort=False)["rd"].first().reindex(chosen)
        keep = list(rd.sort_values(ascending=True, kind="stable").index)  # plotly draws the first row at the bottom
    else:
        keep = list(total.reindex(chosen).sort_values(ascending=True, kind="stable").index)
    return s[s["order"].isin(keep)], d[d["order"].isin(keep)] if len(d) else d, keep


def plot_ae_dotplot(result, *, top: int | None = 30, title: str | None = None, colors=PALETTE,
                    height: int | None = None):
    """The AE dot plot of an :class:`~trialkit.safety.AETableResult`.

    Parameters
    ----------
    result : AETableResult
        From :func:`trialkit.ae_table` (preferred-term rows, or SOC rows for ``rows="soc"``).
    top : int, optional, default 30
        Show the ``top`` most frequent rows (None: all).
    title : str, optional
    colors : sequence of str
        One colour per group, in group order.
    height : int, optional
        Default grows with the number of rows.

    Returns
    -------
    plotly.graph_objects.Figure
        Left panel: one marker trace per group (``meta="incidence"``, x = % of participants). Right
        panel: one trace per comparison (``meta="difference"``, x = risk difference in percentage
        points, error bars = its interval), rows sorted by the difference, largest excess on top.

    Examples
    --------
    >>> fig = tk.plot_ae_dotplot(tk.ae_table(study, min_pct=10))  # doctest: +SKIP
    """
    import copy

    kind = "pt" if (result.summary["kind"] == "pt").any() else "soc"
    s, d, keep = _dot_rows(result, kind, top)
    rows = s.drop_duplicates("order").set_index("order")
    labels = rows["term" if kind == "pt" else "soc"].astype(str)
    twice = labels.duplicated(keep=False)
    if twice.any():  # a term recorded under two classes would share one row of a categorical axis
        labels = labels.where(~twice, labels + " (" + rows["soc"].astype(str) + ")")
    y = [labels[o] for o in keep]
    # the traces and layout plotly's make_subplots / add_trace / update_* calls made, as plain dicts
    # (figure_from_spec: without validating every property)
    data = []
    for i, g in enumerate(result.groups):
        sub = s[s["group"] == g].set_index("order").loc[keep]
        data.append({
            "customdata": np.column_stack([sub["n"], sub["events"]]) if len(sub) else None,
            "hovertemplate": "%{y}<br>" + g + ": %{x:.1f}% (%{customdata[0]} participants, %{customdata[1]} events)"
                             "<extra></extra>",
            "legendgroup": g, "marker": {"color": colors[i % len(colors)], "size": 9, "symbol": "circle"},
            "meta": "incidence", "mode": "markers", "name": f"{g} (N={int(sub['N'].iloc[0]) if len(sub) else 0})",
            "x": sub["pct"].to_numpy(), "y": y, "type": "scatter", "xaxis": "x", "yaxis": "y"})
    comps = list(dict.fromkeys(d["comparison"])) if len(d) else []
    for j, comp in enumerate(comps):
        sub = d[d["comparison"] == comp].set_index("order").loc[keep]
        x = 100 * sub["rd"].to_numpy(dtype=float)
        data.append({
            "error_x": {"array": 100 * sub["upper"].to_numpy(dtype=float) - x,
                        "arrayminus": x - 100 * sub["lower"].to_numpy(dtype=float), "symmetric": False,
                        "thickness": 1.2, "type": "data", "width": 3},
            "hovertemplate": "%{y}<br>" + comp + ": %{x:.1f} points<extra></extra>",
            "marker": {"color": colors[(j + 1) % len(colors)], "size": 8, "symbol": "diamond"}, "meta": "difference",
            "mode": "markers", "name": comp, "x": x, "y": y, "type": "scatter", "xaxis": "x2", "yaxis": "y2"})
    panel = copy.deepcopy(_dot_axes())
    right = (f"Risk difference vs {result.reference}<br>(percentage points, {result.conf_level:.0%} CI)"
             if result.reference else "")
    annotations = [{**a, "text": t} for a, t in zip(panel["annotations"], ("Participants with the event (%)", right))
                   if t]
    top_pct = float(s["pct"].max()) if len(s) else 0.0
    layout = {"xaxis": {**panel["xaxis"], "title": {"text": "%"}, "range": [-2, max(10.0, top_pct * 1.05)]},
              "yaxis": {**panel["yaxis"], "tickfont": {"size": 11}},
              "xaxis2": {**panel["xaxis2"], "title": {"text": "percentage points"}}, "yaxis2": panel["yaxis2"],
              "annotations": annotations}
    if comps:
        layout["shapes"] = [{"line": {"color": "#888", "dash": "dot", "width": 1}, "type": "line", "x0": 0, "x1": 0,
                             "xref": "x2", "y0": 0, "y1": 1, "yref": "y2 domain"}]
    text = title or result.title()
    if title is None and " — " in text:  # the population on a line of its own: one long line was cut at the right
        head, population = text.rsplit(" — ", 1)
        text = f"{head}<br><sup>{population}</sup>"
    # r=30: the right subplot's drag handles and title stay inside the figure (no sideways scrollbar in a
    # narrow notebook); dots at 0 stay whole (the left panel's x range starts at -2)
    layout.update({"legend": {"orientation": "h", "y": -0.12}, "margin": {"l": 10, "r": 30, "t": 110},
                   "title": {"text": text}, "height": height or max(320, 110 + 22 * len(keep))})
    return figure_from_spec(data, layout)


def plot_cumulative_incidence(result, *, ci: bool = True, title: str | None = None, colors=PALETTE,
                              height: int = 460):
    """Cumulative incidence of the first event of special interest, by group (an :class:`AESIResult`).

    Parameters
    ----------
    result : AESIResult
        From :func:`trialkit.aesi`.
    ci : bool, default True
        Draw the pointwise confidence bands.
    title : str, optional
    colors : sequence of str
    height : int, default 460

    Returns
    -------
    plotly.graph_objects.Figure
        Per group a step curve (``meta="curve"``) and, with ``ci``, two band traces (``meta="band"``)
        sharing its ``legendgroup``.

    Examples
    --------
    >>> fig = tk.plot_cumulative_incidence(tk.aesi(study, category="hepatic_vod_sos"))  # doctest: +SKIP
    """
    data = []
    inc = result.incidence
    inc_group = inc["group"].astype(str).to_numpy()
    summary = result.summary
    names = list(summary["group"].astype(str))
    first = {}  # each group's first summary row
    for i, g in enumerate(names):
        first.setdefault(g, i)
    for i, g in enumerate(names):
        cur = inc[inc_group == g]
        if not len(cur):
            continue
        col = colors[i % len(colors)]
        t = cur["time"].to_numpy(dtype=float)
        if ci:
            data.append({"hoverinfo": "skip", "legendgroup": g, "line": {"shape": "hv", "width": 0}, "meta": "band",
                         "mode": "lines", "name": f"{g} upper", "showlegend": False, "x": t,
                         "y": 100 * cur["upper"].to_numpy(), "type": "scatter"})
            data.append({"fill": "tonexty", "fillcolor": _rgba(col, 0.15), "hoverinfo": "skip", "legendgroup": g,
                         "line": {"shape": "hv", "width": 0}, "meta": "band", "mode": "lines",
                         "name": f"{g} {result.conf_level:.0%} CI", "showlegend": False, "x": t,
                         "y": 100 * cur["lower"].to_numpy(), "type": "scatter"})
        n_row = summary.iloc[first[g]]
        data.append({
            "customdata": np.column_stack([cur["at_risk"], cur["events"], cur["competing"]]),
            "hovertemplate": (f"{g}<br>%{{x:g}} {result.time_unit}: %{{y:.1f}}%<br>at risk %{{customdata[0]}}, "
                              "events %{customdata[1]}, deaths without the event %{customdata[2]}<extra></extra>"),
            "legendgroup": g, "line": {"color": col, "shape": "hv", "width": 2.2}, "meta": "curve", "mode": "lines",
            "name": f"{g}: {int(n_row['n'])}/{int(n_row['N'])} with the event", "x": t,
            "y": 100 * cur["cif"].to_numpy(), "type": "scatter"})
    return figure_from_spec(data, {
        "legend": {"orientation": "h", "y": -0.2}, "title": {"text": title or f"Cumulative incidence: {result.label}"},
        "height": height, "xaxis": {"title": {"text": f"{result.time_unit.capitalize()} from first dose"}},
        "yaxis": {"title": {"text": "Cumulative incidence (%), death as competing risk"}, "rangemode": "tozero"}})
