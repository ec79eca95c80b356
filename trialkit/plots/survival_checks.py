"""Figures that check the assumptions of a survival model: the proportional-hazards plot.

Draws a :class:`~trialkit.outcomes.CoxZphResult` and computes nothing statistical: the scaled
Schoenfeld residuals, their smooth and its band come with the result (:func:`trialkit.cox_zph`).
"""

from __future__ import annotations

__all__ = ["plot_ph_check"]

_POINTS = "#7f7f7f"
_CURVE = "#0072B2"


def plot_ph_check(result, *, terms=None, height_per_term: int = 300, title: str | None = None):
    """β(t) of each term: scaled Schoenfeld residuals, their smooth with ±2 SE, and the fitted β.

    As R's ``plot.cox.zph``: if hazards are proportional the smooth is flat at the fitted
    coefficient (the dotted line; 1 for a term with several columns, whose β(t) is that of its part
    of the linear predictor). Each panel's title carries its score test (chi-square, df, p).

    Parameters
    ----------
    result : CoxZphResult
        From :func:`trialkit.cox_zph`.
    terms : sequence of str, optional
        The terms to draw (default all).
    height_per_term : int, default 300
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        One row per term; traces carry ``meta`` = ``"residuals"``, ``"smooth"``, ``"band"`` or
        ``"beta"`` and ``legendgroup`` = the term.

    Examples
    --------
    >>> import trialkit as tk
    >>> from trialkit.plots.survival_checks import plot_ph_check
    >>> zph = tk.cox_zph(tk.load_study("data/demo/b1931036"), endpoint="EFS")
    >>> [t.meta for t in plot_ph_check(zph).data]
    ['band', 'smooth', 'residuals', 'beta']
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    table = result.summary.set_index("term")
    names = [t for t in table.index if t != "GLOBAL"] if terms is None else list(terms)
    unknown = [t for t in names if t not in table.index or t == "GLOBAL"]
    if unknown:
        from ..errors import TrialkitError

        raise TrialkitError(f"no PH test for term(s) {unknown}; the model has {', '.join(n for n in table.index if n != 'GLOBAL')}")
    coefs = dict(result.coefficients)
    subtitles = [f"{t}: chi-square = {table.loc[t, 'chisq']:.3f} on {int(table.loc[t, 'df'])} df, "
                 f"p = {table.loc[t, 'p_value']:.3g}" for t in names]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=subtitles, vertical_spacing=0.08)
    for i, term in enumerate(names, start=1):
        sm = result.smooth[result.smooth["term"] == term]
        res = result.residuals[result.residuals["term"] == term]
        fig.add_trace(go.Scatter(x=list(sm["time"]) + list(sm["time"][::-1]),
                                 y=list(sm["upper"]) + list(sm["lower"][::-1]), fill="toself",
                                 fillcolor="rgba(0,114,178,0.15)", line={"width": 0}, hoverinfo="skip",
                                 name="±2 SE", meta="band", legendgroup=term, showlegend=i == 1), row=i, col=1)
        fig.add_trace(go.Scatter(x=sm["time"], y=sm["beta_t"], mode="lines", line={"color": _CURVE, "width": 2},
                                 name="smooth of β(t)", meta="smooth", legendgroup=term, showlegend=i == 1),
                      row=i, col=1)
        fig.add_trace(go.Scatter(x=res["time"], y=res["beta_t"], mode="markers",
                                 marker={"color": _POINTS, "size": 5, "opacity": 0.6},
                                 name="scaled Schoenfeld residual + β", meta="residuals", legendgroup=term,
                                 showlegend=i == 1,
                                 hovertemplate="time %{x:.3g}<br>β(t) %{y:.3g}<extra>" + term + "</extra>"),
                      row=i, col=1)
        cols = [c for c in coefs if c == term or c.startswith(f"{term}[")]
        level = coefs[cols[0]] if len(cols) == 1 else 1.0
        fig.add_trace(go.Scatter(x=[res["time"].min(), res["time"].max()], y=[level, level], mode="lines",
                                 line={"color": "black", "dash": "dot", "width": 1}, name="fitted β (constant)",
                                 meta="beta", legendgroup=term, showlegend=i == 1), row=i, col=1)
        fig.update_yaxes(title_text=f"β(t) for {term}", row=i, col=1)
    fig.update_xaxes(title_text=f"time ({getattr(result, 'time_unit', 'days')})", row=len(names), col=1)
    fig.update_layout(height=max(height_per_term * len(names), 320), template="plotly_white",
                      title=title or f"Proportional hazards check ({result.endpoint or ''}; g(t) = {result.transform})")
    return fig
