"""Figures of forecasts: the accrual and event fan charts, the per-site rates and the backtest.

They draw the parts of :class:`~trialkit.forecast.AccrualForecast`,
:class:`~trialkit.forecast.EventForecast` and :class:`~trialkit.forecast.Backtest` and compute
nothing statistical themselves. Every trace carries ``meta`` naming what it shows (``"observed"``,
``"band"``, ``"median"``, ``"target_date"``, ``"site"`` …) so tests and the browser can find it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .outcomes import PALETTE, _rgba

__all__ = ["plot_accrual_forecast", "plot_event_forecast", "plot_site_rates", "plot_backtest"]

OBSERVED = "#222222"
FORECAST = PALETTE[0]
TARGET = PALETTE[1]


def _check(result, kind: str, fn: str, height, title) -> None:
    """``result`` must be the forecast ``fn`` draws, ``height`` a number of pixels, ``title`` text."""
    from ..errors import ForecastError

    # by the result's `analysis` name: importing the result classes here would import trialkit.forecast back
    analyses = {"accrual": ("forecast_accrual",), "events": ("forecast_events",),
                "backtest": ("backtest_accrual", "backtest_events")}[kind]
    makers = {"accrual": "tk.forecast_accrual", "events": "tk.forecast_events",
              "backtest": "tk.backtest_accrual or tk.backtest_events"}
    if getattr(result, "analysis", None) not in analyses:
        raise ForecastError(f"{fn} draws the result of {makers[kind]}, not {type(result).__name__}")
    if height is not None and (isinstance(height, bool) or not isinstance(height, int | float) or not height >= 100):
        raise ForecastError(f"height must be a number of pixels >= 100, not {height!r}")
    if title is not None and not isinstance(title, str):
        raise ForecastError(f"title must be text, not {title!r}")


def _levels(result) -> list[float]:
    return sorted(result.conf_level, reverse=True)  # widest band first (drawn underneath)


def _pct(lv: float) -> str:
    return f"{lv * 100:g}"


def _fan_traces(fig, fan: pd.DataFrame, levels, color: str, unit: str) -> None:
    import plotly.graph_objects as go

    for i, lv in enumerate(levels):
        p = _pct(lv)
        alpha = 0.14 + 0.14 * i
        fig.add_trace(go.Scatter(x=fan["date"], y=fan[f"upper_{p}"], mode="lines", line=dict(width=0),
                                 showlegend=False, hoverinfo="skip", meta="band", name=f"{p}% upper"))
        fig.add_trace(go.Scatter(
            x=fan["date"], y=fan[f"lower_{p}"], mode="lines", line=dict(width=0), fill="tonexty",
            fillcolor=_rgba(color, alpha), name=f"{p}% prediction interval", meta="band",
            customdata=fan[f"upper_{p}"], hovertemplate=f"%{{x|%Y-%m-%d}}: {p}% interval %{{y:.0f}}–"
                                                        f"%{{customdata:.0f}} {unit}<extra></extra>"))
    fig.add_trace(go.Scatter(x=fan["date"], y=fan["median"], mode="lines", line=dict(color=color, width=2, dash="dash"),
                             name="median forecast", meta="median",
                             hovertemplate=f"%{{x|%Y-%m-%d}}: median %{{y:.0f}} {unit}<extra></extra>"))


def _observed_trace(fig, observed: pd.DataFrame, as_of, name: str) -> None:
    import plotly.graph_objects as go

    x = list(observed["date"]) + [as_of]
    y = list(observed["cumulative"]) + [int(observed["cumulative"].iloc[-1]) if len(observed) else 0]
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=OBSERVED, width=2.2, shape="hv"), name=name,
                             meta="observed", hovertemplate="%{x|%Y-%m-%d}: %{y} so far<extra></extra>"))


def _target_marks(fig, summary_row: pd.Series, target, levels, label: str, fig_x_end) -> None:
    """Target line, and the target date's median with its widest interval as a horizontal bar."""
    import plotly.graph_objects as go

    if target is None:
        return
    fig.add_hline(y=target, line=dict(color=TARGET, width=1.5, dash="dot"),
                  annotation=dict(text=f"target {target}", xanchor="left", x=0.0, font=dict(color=TARGET)))
    med = summary_row.get("median")
    if med is None or pd.isna(med):
        return
    p = _pct(levels[0])
    lo, hi = summary_row[f"lower_{p}"], summary_row[f"upper_{p}"]
    text = (f"{label}: median {med.date()}<br>{p}% interval {lo.date() if pd.notna(lo) else '?'} – "
            f"{hi.date() if pd.notna(hi) else 'not reached'}")
    if pd.notna(lo):  # the interval as a segment (error bars do not draw on a date axis)
        end = hi if pd.notna(hi) else fig_x_end
        fig.add_trace(go.Scatter(x=[lo, end], y=[target, target], mode="lines", line=dict(color=TARGET, width=4),
                                 opacity=0.55, name=f"{label}: {p}% interval", meta="target_interval",
                                 hovertemplate=text + "<extra></extra>"))
    fig.add_trace(go.Scatter(x=[med], y=[target], mode="markers", marker=dict(color=TARGET, size=11, symbol="diamond"),
                             name=f"{label}: median", meta="target_date", hovertemplate=text + "<extra></extra>"))


def _layout(fig, title: str, y_title: str, as_of, height: int) -> None:
    fig.add_vline(x=as_of, line=dict(color="grey", width=1, dash="dash"))
    fig.add_annotation(x=as_of, y=1.0, yref="paper", text=f"forecast date {as_of.date()}", showarrow=False,
                       xanchor="right", yanchor="bottom", font=dict(size=11, color="grey"))
    fig.update_layout(title=dict(text=title), template="plotly_white", height=height, hovermode="closest",
                      legend=dict(orientation="h", yanchor="top", y=-0.14, xanchor="left", x=0),
                      margin=dict(l=60, r=30, t=80, b=90))
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    fig.update_xaxes(title_text="date")


def plot_accrual_forecast(result, *, title: str | None = None, height: int = 520):
    """Fan chart of an accrual forecast: observed cumulative, median, nested prediction bands,
    the target with its predicted date, the forecast date and the planned completion.

    Parameters
    ----------
    result : AccrualForecast
        From :func:`trialkit.forecast_accrual`.
    title : str, optional
    height : int, default 520

    Returns
    -------
    plotly.graph_objects.Figure
        Traces with ``meta`` ``"observed"``, ``"band"`` (two per coverage), ``"median"`` and,
        with a target, ``"target_interval"`` (widest interval as a segment) and ``"target_date"``.

    Examples
    --------
    >>> fig = tk.plot_accrual_forecast(tk.forecast_accrual(study))  # doctest: +SKIP
    """
    _check(result, "accrual", "plot_accrual_forecast", height, title)
    import plotly.graph_objects as go

    fig = go.Figure()
    levels = _levels(result)
    _fan_traces(fig, result.fan, levels, FORECAST, "randomized")
    _observed_trace(fig, result.observed, result.as_of, "randomized (observed)")
    _target_marks(fig, result.summary.iloc[0], result.target, levels, "target reached", result.fan["date"].max())
    if result.planned_completion is not None:
        p = result.summary.iloc[0].get("p_by_planned_completion")
        note = f" (P = {p:.0%})" if p is not None and pd.notna(p) else ""
        fig.add_vline(x=result.planned_completion, line=dict(color=TARGET, width=1, dash="dashdot"))
        fig.add_annotation(x=result.planned_completion, y=0.02, yref="paper", text=f"planned completion{note}",
                           showarrow=False, xanchor="left", font=dict(size=11, color=TARGET))
    s = result.summary.iloc[0]
    sub = (f"{int(s['randomized'])} randomized at {s['rate_per_month']:.1f} per month now; "
           f"{int(s['sites_open'])} sites open, {int(s['sites_to_open'])} to open · Poisson–Gamma model, "
           f"{result.n_sims:,} paths")
    _layout(fig, (title or "Accrual forecast") + f"<br><sup>{sub}</sup>", "patients randomized (cumulative)",
            result.as_of, height)
    return fig


def plot_event_forecast(result, *, title: str | None = None, height: int = 520):
    """Fan chart of an event forecast (pooled over arms): observed cumulative events, median,
    prediction bands, the target events and their predicted date.

    Returns
    -------
    plotly.graph_objects.Figure
        Same trace ``meta`` as :func:`plot_accrual_forecast`.

    Examples
    --------
    >>> fig = tk.plot_event_forecast(tk.forecast_events(study, target_events=60))  # doctest: +SKIP
    """
    _check(result, "events", "plot_event_forecast", height, title)
    import plotly.graph_objects as go

    fig = go.Figure()
    levels = _levels(result)
    _fan_traces(fig, result.fan, levels, PALETTE[2], "events")
    _observed_trace(fig, result.observed, result.as_of, "events (observed)")
    _target_marks(fig, result.summary.iloc[0], result.target_events, levels, "target events reached",
                  result.fan["date"].max())
    sub = (f"{result.endpoint}, all arms pooled · {result.model} event model, exponential dropout · "
           f"{result.n_sims:,} paths")
    _layout(fig, (title or f"{result.endpoint} event forecast") + f"<br><sup>{sub}</sup>",
            f"{result.endpoint} events (cumulative)", result.as_of, height)
    return fig


def plot_site_rates(result, *, title: str | None = None, height: int | None = None):
    """Each site's estimated rate (per month) with its interval, against the average site's rate;
    flagged sites in red.

    Returns
    -------
    plotly.graph_objects.Figure
        One marker trace per kind (``meta`` ``"site"`` and ``"flagged"``) and the average line.

    Examples
    --------
    >>> fig = tk.plot_site_rates(tk.forecast_accrual(study))  # doctest: +SKIP
    """
    _check(result, "accrual", "plot_site_rates", height, title)
    import plotly.graph_objects as go

    s = result.sites[result.sites["rate_per_month"].notna()].sort_values("rate_per_month").reset_index(drop=True)
    avg = float(result.parameters.loc[result.parameters["parameter"].str.startswith("mean site rate"),
                                      "estimate"].iloc[0])
    fig = go.Figure()
    for flagged, color, meta, name in ((False, FORECAST, "site", "site"), (True, "#b00000", "flagged", "flagged")):
        g = s[s["flag"] == flagged]
        if not len(g):
            continue
        fig.add_trace(go.Scatter(
            x=g["rate_per_month"], y=g["site_id"], mode="markers", marker=dict(color=color, size=7), name=name,
            meta=meta, error_x=dict(type="data", symmetric=False, array=g["rate_upper"] - g["rate_per_month"],
                                    arrayminus=g["rate_per_month"] - g["rate_lower"], thickness=1, width=0),
            customdata=np.column_stack([g["randomized"], g["months_open"], g["expected"]]),
            hovertemplate=("<b>%{y}</b>: %{x:.3f} per month<br>%{customdata[0]} randomized in %{customdata[1]:.1f} "
                           "months (average site: %{customdata[2]:.1f})<extra></extra>")))
    fig.add_vline(x=avg, line=dict(color="grey", dash="dash"), annotation=dict(text="average site"))
    fig.update_layout(title=title or "Site recruitment rates (empirical Bayes, per month)", template="plotly_white",
                      height=height or max(320, 14 * len(s) + 120), margin=dict(l=90, r=30, t=60, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1))
    fig.update_xaxes(title_text="patients per month", rangemode="tozero")
    fig.update_yaxes(type="category", tickfont=dict(size=10))
    return fig


def plot_backtest(result, *, title: str | None = None, height: int = 380):
    """Backtest: each cutoff's forecast (median and intervals) against the actual date, beside the
    straight-line extrapolation.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces with ``meta`` ``"interval"`` (one per coverage), ``"median"``, ``"straight_line"``
        and the actual date as a vertical line.

    Examples
    --------
    >>> fig = tk.plot_backtest(tk.backtest_accrual(study))  # doctest: +SKIP
    """
    _check(result, "backtest", "plot_backtest", height, title)
    import plotly.graph_objects as go

    s = result.summary
    what = "patients" if result.kind == "accrual" else "events"
    dated = pd.concat([s[c] for c in s.columns if pd.api.types.is_datetime64_any_dtype(s[c])])
    far = dated.max() + pd.Timedelta(days=180)  # an upper limit never reached is drawn to here
    labels = [f"{c.date()} ({o} {what})" for c, o in zip(s["cutoff"], s["observed"])]
    fig = go.Figure()
    for i, lv in enumerate(sorted(result.conf_level, reverse=True)):
        p = _pct(lv)
        xs, ys = [], []
        for lab, lo, hi in zip(labels, s[f"lower_{p}"], s[f"upper_{p}"].fillna(far)):
            if pd.notna(lo):  # segments: error bars do not draw on a date axis
                xs += [lo, hi, None]
                ys += [lab, lab, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", meta="interval", name=f"{p}% prediction interval",
                                 line=dict(color=_rgba(FORECAST, 0.3 + 0.35 * i), width=6 + 8 * i),
                                 hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=s["median"], y=labels, mode="markers", meta="median", name="median forecast",
                             marker=dict(color=FORECAST, size=11, symbol="diamond"),
                             hovertemplate="%{y}: median %{x|%Y-%m-%d}<extra></extra>"))
    fig.add_trace(go.Scatter(x=s["straight_line_date"], y=labels, mode="markers", meta="straight_line",
                             name="straight line", marker=dict(color=TARGET, size=11, symbol="x"),
                             hovertemplate="%{y}: straight line %{x|%Y-%m-%d}<extra></extra>"))
    actual = s["actual_date"].iloc[0]
    fig.add_vline(x=actual, line=dict(color=OBSERVED, width=2),
                  annotation=dict(text=f"actual: {result.target} {what} on {actual.date()}", yanchor="bottom"))
    fig.update_layout(title=title or f"Backtest of the {result.kind} forecast", template="plotly_white",
                      height=height, margin=dict(l=190, r=30, t=80, b=80),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0))
    fig.update_yaxes(title_text="forecast made at", type="category", autorange="reversed")
    fig.update_xaxes(title_text=f"date of {what[:-1]} number {result.target}")
    return fig
