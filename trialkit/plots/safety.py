"""Figures of safety results: the AE dot plot and the cumulative incidence of an event of special interest.

Both take the tidy results of :mod:`trialkit.safety` and compute nothing statistical themselves. The
dot plot follows the "AE dot plot" of safety reviews (Amit, Heiberger & Lane, Pharmaceutical
Statistics 2008): on the left the incidence of each preferred term in each group, on the right the
risk difference against the reference group with its interval, the two panels sharing the rows.
"""

from __future__ import annotations

import numpy as np

from .outcomes import PALETTE, _rgba

__all__ = ["plot_ae_dotplot", "plot_cumulative_incidence"]


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
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    kind = "pt" if (result.summary["kind"] == "pt").any() else "soc"
    s, d, keep = _dot_rows(result, kind, top)
    rows = s.drop_duplicates("order").set_index("order")
    labels = rows["term" if kind == "pt" else "soc"].astype(str)
    twice = labels.duplicated(keep=False)
    if twice.any():  # a term recorded under two classes would share one row of a categorical axis
        labels = labels.where(~twice, labels + " (" + rows["soc"].astype(str) + ")")
    y = [labels[o] for o in keep]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.55, 0.45], horizontal_spacing=0.03,
                        subplot_titles=("Participants with the event (%)",
                                        f"Risk difference vs {result.reference}<br>(percentage points, "
                                        f"{result.conf_level:.0%} CI)" if result.reference else ""))
    for i, g in enumerate(result.groups):
        sub = s[s["group"] == g].set_index("order").loc[keep]
        fig.add_trace(go.Scatter(
            x=sub["pct"], y=y, mode="markers", name=f"{g} (N={int(sub['N'].iloc[0]) if len(sub) else 0})",
            marker=dict(color=colors[i % len(colors)], size=9, symbol="circle"), meta="incidence", legendgroup=g,
            customdata=np.column_stack([sub["n"], sub["events"]]) if len(sub) else None,
            hovertemplate="%{y}<br>" + g + ": %{x:.1f}% (%{customdata[0]} participants, %{customdata[1]} events)"
                          "<extra></extra>"), row=1, col=1)
    comps = list(dict.fromkeys(d["comparison"])) if len(d) else []
    for j, comp in enumerate(comps):
        sub = d[d["comparison"] == comp].set_index("order").loc[keep]
        x = 100 * sub["rd"].to_numpy(dtype=float)
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="markers", name=comp, meta="difference",
            marker=dict(color=colors[(j + 1) % len(colors)], size=8, symbol="diamond"),
            error_x=dict(type="data", symmetric=False, array=100 * sub["upper"].to_numpy(dtype=float) - x,
                         arrayminus=x - 100 * sub["lower"].to_numpy(dtype=float), thickness=1.2, width=3),
            hovertemplate="%{y}<br>" + comp + ": %{x:.1f} points<extra></extra>"), row=1, col=2)
    if comps:
        fig.add_vline(x=0, line=dict(color="#888", width=1, dash="dot"), row=1, col=2)
    fig.update_yaxes(tickfont=dict(size=11), row=1, col=1)
    top_pct = float(s["pct"].max()) if len(s) else 0.0
    fig.update_xaxes(title_text="%", range=[-2, max(10.0, top_pct * 1.05)], row=1, col=1)  # dots at 0 stay whole
    fig.update_xaxes(title_text="percentage points", row=1, col=2)
    text = title or result.title()
    if title is None and " — " in text:  # the population on a line of its own: one long line was cut at the right
        head, population = text.rsplit(" — ", 1)
        text = f"{head}<br><sup>{population}</sup>"
    fig.update_layout(title=text, height=height or max(320, 110 + 22 * len(keep)),
                      template="plotly_white", legend=dict(orientation="h", y=-0.12),
                      # r=30: the right subplot's drag handles and title stay inside the figure (no sideways
                      # scrollbar in a narrow notebook)
                      margin=dict(l=10, r=30, t=110))
    return fig


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
    import plotly.graph_objects as go

    fig = go.Figure()
    inc = result.incidence
    for i, g in enumerate(result.summary["group"].astype(str)):
        cur = inc[inc["group"].astype(str) == g]
        if not len(cur):
            continue
        col = colors[i % len(colors)]
        t = cur["time"].to_numpy(dtype=float)
        if ci:
            fig.add_trace(go.Scatter(x=t, y=100 * cur["upper"], mode="lines", line=dict(width=0, shape="hv"),
                                     legendgroup=g, showlegend=False, hoverinfo="skip", meta="band",
                                     name=f"{g} upper"))
            fig.add_trace(go.Scatter(x=t, y=100 * cur["lower"], mode="lines", line=dict(width=0, shape="hv"),
                                     fill="tonexty", fillcolor=_rgba(col, 0.15), legendgroup=g, showlegend=False,
                                     hoverinfo="skip", meta="band", name=f"{g} {result.conf_level:.0%} CI"))
        n_row = result.summary[result.summary["group"].astype(str) == g].iloc[0]
        fig.add_trace(go.Scatter(
            x=t, y=100 * cur["cif"], mode="lines", line=dict(color=col, width=2.2, shape="hv"), legendgroup=g,
            name=f"{g}: {int(n_row['n'])}/{int(n_row['N'])} with the event", meta="curve",
            customdata=np.column_stack([cur["at_risk"], cur["events"], cur["competing"]]),
            hovertemplate=(f"{g}<br>%{{x:g}} {result.time_unit}: %{{y:.1f}}%<br>at risk %{{customdata[0]}}, "
                           "events %{customdata[1]}, deaths without the event %{customdata[2]}<extra></extra>")))
    fig.update_layout(
        title=title or f"Cumulative incidence: {result.label}", height=height, template="plotly_white",
        xaxis_title=f"{result.time_unit.capitalize()} from first dose",
        yaxis_title="Cumulative incidence (%), death as competing risk", legend=dict(orientation="h", y=-0.2))
    fig.update_yaxes(rangemode="tozero")
    return fig
