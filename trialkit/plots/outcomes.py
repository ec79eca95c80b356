"""Figures of survival results: the interactive Kaplan–Meier plot and the subgroup forest plot.

Both take the tidy results of :mod:`trialkit.outcomes` and compute nothing statistical themselves.
The KM figure puts the numbers-at-risk table in a second subplot that shares the x axis with the
curves, so it stays aligned under them when the user zooms or pans, and each arm's curve, band,
censoring ticks and at-risk row form one legend group that is shown or hidden together.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_km", "plot_forest", "PALETTE"]

#: Okabe–Ito colour-blind-safe palette (control arm first).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def plot_km(result, *, ci: bool = True, censor_marks: bool = True, risk_table: bool = True,
            title: str | None = None, annotation: str | None = None, colors=PALETTE, height: int = 560):
    """Interactive Kaplan–Meier plot of a :class:`~trialkit.outcomes.KMResult`.

    Parameters
    ----------
    result : KMResult
        From :func:`trialkit.km`.
    ci : bool, default True
        Draw the pointwise confidence bands (the transform is named in the subtitle).
    censor_marks : bool, default True
        Tick marks at censoring times.
    risk_table : bool, default True
        Numbers at risk at ``result.risk_table`` times, in a subplot sharing the x axis.
    title : str, optional
    annotation : str, optional
        Text placed in the lower left of the curves (e.g. a log-rank p-value).
    colors : sequence of str
        One colour per group, in group order.
    height : int, default 560

    Returns
    -------
    plotly.graph_objects.Figure
        Traces carry ``legendgroup`` = group name and ``meta`` = ``"curve"``, ``"band"``,
        ``"censor"`` or ``"risk"``.

    Examples
    --------
    >>> fig = tk.plot_km(tk.km(study, endpoint="EFS", time_unit="months"))
    >>> sorted({t.meta for t in fig.data})
    ['band', 'censor', 'curve', 'risk']
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    groups = list(result.groups)
    rows = 2 if risk_table else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.76, 0.24] if risk_table else [1.0])
    unit = result.time_unit
    pct = f"{result.conf_level:.0%}"
    for i, g in enumerate(groups):
        col = colors[i % len(colors)]
        cur = result.curves[result.curves["group"] == g]
        if not len(cur):
            continue
        t = cur["time"].to_numpy()
        if ci:
            fig.add_trace(go.Scatter(x=t, y=cur["upper"], mode="lines", line=dict(width=0, shape="hv"),
                                     legendgroup=g, showlegend=False, hoverinfo="skip", meta="band",
                                     name=f"{g} upper"), row=1, col=1)
            fig.add_trace(go.Scatter(x=t, y=cur["lower"], mode="lines", line=dict(width=0, shape="hv"),
                                     fill="tonexty", fillcolor=_rgba(col, 0.18), legendgroup=g, showlegend=False,
                                     hoverinfo="skip", meta="band", name=f"{g} {pct} CI"), row=1, col=1)
        custom = np.column_stack([cur["n_risk"], cur["n_event"], cur["n_censor"], cur["lower"], cur["upper"]])
        fig.add_trace(go.Scatter(
            x=t, y=cur["survival"], mode="lines", line=dict(color=col, width=2.2, shape="hv"), name=g,
            legendgroup=g, meta="curve", customdata=custom,
            hovertemplate=(f"<b>{g}</b><br>time %{{x:.4g}} {unit}<br>survival %{{y:.3f}} "
                           f"({pct} CI %{{customdata[3]:.3f}}–%{{customdata[4]:.3f}})<br>at risk %{{customdata[0]}}, "
                           "events %{customdata[1]}, censored %{customdata[2]}<extra></extra>")), row=1, col=1)
        if censor_marks:
            cens = cur[cur["n_censor"] > 0]
            fig.add_trace(go.Scatter(
                x=cens["time"], y=cens["survival"], mode="markers", legendgroup=g, showlegend=False, meta="censor",
                name=f"{g} censored", marker=dict(symbol="line-ns-open", size=9, color=col, line=dict(width=1.5)),
                customdata=cens["n_censor"],
                hovertemplate=f"<b>{g}</b> censored: %{{customdata}} at %{{x:.4g}} {unit}<extra></extra>"),
                row=1, col=1)
        if risk_table:
            rt = result.risk_table[result.risk_table["group"] == g]
            fig.add_trace(go.Scatter(
                x=rt["time"], y=[g] * len(rt), mode="text", text=rt["n_risk"].astype(str), legendgroup=g,
                showlegend=False, meta="risk", name=f"{g} at risk", textfont=dict(color=col, size=12),
                customdata=np.column_stack([rt["n_events"], rt["n_censored"]]),
                hovertemplate=(f"<b>{g}</b> at %{{x:.4g}} {unit}: %{{text}} at risk, %{{customdata[0]}} events, "
                               "%{customdata[1]} censored so far<extra></extra>")), row=2, col=1)
    subtitle = f"{pct} CI: {result.conf_method}"
    fig.update_layout(
        title=dict(text=(title or f"{result.endpoint or 'Survival'} by {result.by or 'group'}")
                   + f"<br><sup>{subtitle}</sup>"),
        height=height, template="plotly_white", hovermode="closest",
        legend=dict(title=result.by or "", orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
        margin=dict(l=150 if risk_table else 70, r=30, t=90, b=50))
    fig.update_yaxes(title_text="Survival probability", range=[0, 1.03], tickformat=".0%", row=1, col=1)
    x_max = float(result.curves["time"].max()) if len(result.curves) else 1.0
    fig.update_xaxes(range=[0, x_max * 1.02])  # both rows: they share (match) one x axis
    if risk_table:
        fig.update_yaxes(title_text="At risk", type="category", categoryorder="array",
                         categoryarray=list(reversed(groups)), showgrid=False, zeroline=False, fixedrange=True,
                         row=2, col=1)
        fig.update_xaxes(title_text=f"Time ({unit})", tickvals=result.risk_table["time"].unique(), row=2, col=1)
        fig.update_xaxes(tickvals=result.risk_table["time"].unique(), row=1, col=1)
    else:
        fig.update_xaxes(title_text=f"Time ({unit})", row=1, col=1)
    if annotation:
        fig.add_annotation(text=annotation, xref="x domain", yref="y domain", x=0.02, y=0.04, showarrow=False,
                           align="left", bgcolor="rgba(255,255,255,0.8)")
    return fig


def _fmt_ci(hr, lo, hi) -> str:
    if not np.isfinite(hr):
        return "NE"
    return f"{hr:.2f} ({lo:.2f}–{hi:.2f})"


def plot_forest(result, *, title: str | None = None, colors=PALETTE[1:], height: int | None = None):
    """Forest plot of hazard ratios across subgroups.

    Parameters
    ----------
    result : SubgroupResult or DataFrame
        From :func:`trialkit.cox_subgroups` (or its ``table``): ``subgroup, level, comparison, n,
        events, hr, lower, upper, p_interaction``.
    title : str, optional
    colors : sequence of str
        One colour per comparison (arm vs reference).
    height : int, optional
        Default grows with the number of rows.

    Returns
    -------
    plotly.graph_objects.Figure
        One marker trace per comparison (``meta="hr"``) on a log x axis with a reference line at 1;
        rows are labelled ``subgroup: level (n, events)`` and not-estimable rows are kept, shown as NE.

    Examples
    --------
    >>> fig = tk.plot_forest(tk.cox_subgroups(study, endpoint="EFS"))
    >>> [t.meta for t in fig.data]
    ['hr']
    """
    import plotly.graph_objects as go

    t = result.summary if hasattr(result, "summary") else result
    t = t.reset_index(drop=True)
    keys = list(dict.fromkeys(zip(t["subgroup"], t["level"])))
    y_of = {k: i for i, k in enumerate(keys)}
    comps = [c for c in dict.fromkeys(t["comparison"]) if c]
    offsets = {c: (j - (len(comps) - 1) / 2) * 0.22 for j, c in enumerate(comps)}
    fig = go.Figure()
    for j, comp in enumerate(comps):
        s = t[t["comparison"] == comp]
        y = [y_of[(a, b)] + offsets[comp] for a, b in zip(s["subgroup"], s["level"])]
        text = [_fmt_ci(h, lo, hi) for h, lo, hi in zip(s["hr"], s["lower"], s["upper"])]
        fig.add_trace(go.Scatter(
            x=s["hr"], y=y, mode="markers", name=comp, meta="hr", legendgroup=comp,
            marker=dict(symbol="square", size=np.clip(np.sqrt(s["events"].to_numpy(float)) * 2.2, 6, 16),
                        color=colors[j % len(colors)]),
            error_x=dict(type="data", symmetric=False, array=(s["upper"] - s["hr"]).to_numpy(),
                         arrayminus=(s["hr"] - s["lower"]).to_numpy(), thickness=1.5, width=0),
            customdata=np.column_stack([s["subgroup"], s["level"], s["n"], s["events"], text]),
            hovertemplate=("<b>%{customdata[0]}: %{customdata[1]}</b><br>" + comp + "<br>HR %{customdata[4]}"
                           "<br>n %{customdata[2]}, events %{customdata[3]}<extra></extra>")))
    labels = []
    for sg, lev in keys:
        r = t[(t["subgroup"] == sg) & (t["level"] == lev)].iloc[0]
        lab = "All subjects" if sg == "All" else f"{sg}: {lev}"
        labels.append(f"{lab} ({int(r['n'])}, {int(r['events'])} ev)")
    for (sg, lev), i in y_of.items():
        rows = t[(t["subgroup"] == sg) & (t["level"] == lev)]
        right = "; ".join(_fmt_ci(h, lo, hi) for h, lo, hi in zip(rows["hr"], rows["lower"], rows["upper"]))
        p = rows["p_interaction"].dropna()
        if len(p):
            right += f"   p-int {p.iloc[0]:.3f}"
        fig.add_annotation(text=right, xref="paper", x=1.01, y=i, yref="y", showarrow=False, xanchor="left",
                           font=dict(size=11))
    fig.add_vline(x=1, line=dict(color="grey", dash="dash", width=1))
    fig.update_layout(
        title=title or "Hazard ratio by subgroup (left of 1 favours the experimental arm)", template="plotly_white",
        height=height or max(320, 28 * len(keys) + 140), margin=dict(l=260, r=260, t=70, b=50),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1), hovermode="closest")
    fig.update_xaxes(type="log", title_text="Hazard ratio (95% CI, log scale)")
    fig.update_yaxes(tickvals=list(range(len(keys))), ticktext=labels, autorange="reversed", zeroline=False)
    return fig

