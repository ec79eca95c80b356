"""Figures of survival results: the interactive Kaplan–Meier plot and the subgroup forest plot.

Both take the tidy results of :mod:`trialkit.outcomes` and compute nothing statistical themselves.
The KM figure puts the numbers-at-risk table in a second subplot that shares the x axis with the
curves, so it stays aligned under them when the user zooms or pans, and each arm's curve, band,
censoring ticks and at-risk row form one legend group that is shown or hidden together.
"""

from __future__ import annotations

import numpy as np

from ._spec import figure_from_spec

__all__ = ["plot_km", "plot_forest", "PALETTE"]

#: Okabe–Ito colour-blind-safe palette (control arm first).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


#: pixels of a digit at the risk table's font size (12 px Arial/Open Sans: about 7 px)
_DIGIT_PX = 7.2


def plot_km(result, *, ci: bool = True, censor_marks: bool = True, risk_table: bool = True,
            title: str | None = None, annotation: str | None = None, colors=PALETTE, height: int = 560):
    """Interactive Kaplan–Meier plot of a :class:`~trialkit.outcomes.KMResult`.

    The numbers at risk sit in their own subplot that shares (``matches``) the curves' x axis, so
    they stay under the curves when zooming or panning. The arm names of that table are a label
    column of their own, left of the plot area and clear of it by more than half the widest number,
    and the x axis starts left of 0: the counts at time 0 are never drawn under (or cut by) the
    labels, at any width.

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
        ``"censor"`` or ``"risk"``; the risk table's arm labels are annotations named ``risk-label``.

    Examples
    --------
    >>> fig = tk.plot_km(tk.km(study, endpoint="EFS", time_unit="months"))
    >>> sorted({t.meta for t in fig.data})
    ['band', 'censor', 'curve', 'risk']
    """
    groups = list(result.groups)
    unit = result.time_unit
    pct = f"{result.conf_level:.0%}"
    data: list[dict] = []
    for i, g in enumerate(groups):
        cur = result.curves[result.curves["group"] == g]
        if len(cur):
            data += _km_traces(result, g, cur, colors[i % len(colors)], ci, censor_marks, unit, pct)
            if risk_table:
                data += _risk_trace(result, g, colors[i % len(colors)], unit)
    rt = result.risk_table
    widest = max([len(f"{int(v):,}") for v in rt["n_risk"]] + [1]) if risk_table and len(rt) else 1
    gap = _DIGIT_PX * widest / 2 + 10  # the labels end this far left of the plot area
    # the label column holds the arm names and its "Number at risk" header (bold, ~8 px a character)
    label_px = max([len(str(g)) * 7.5 for g in groups] + [14 * 8.2])
    x_max = float(result.curves["time"].max()) if len(result.curves) else 1.0
    x_range = [-0.045 * x_max, x_max * 1.02]  # left of 0: a count at time 0 is whole inside the plot
    ticks = rt["time"].unique().tolist() if risk_table else None
    layout = {
        "title": {"text": (title or f"{result.endpoint or 'Survival'} by {result.by or 'group'}")
                  + f"<br><sup>{pct} CI: {result.conf_method}</sup>"},
        "height": height, "hovermode": "closest",
        "legend": {"title": {"text": result.by or ""}, "orientation": "h", "yanchor": "bottom", "y": 1.0,
                   "xanchor": "right", "x": 1},
        "margin": {"l": int(max(80, label_px + gap + 16)) if risk_table else 70, "r": 30, "t": 90, "b": 50},
        "xaxis": {"anchor": "y", "domain": [0, 1], "range": x_range, "zeroline": False,
                  **({"matches": "x2", "showticklabels": False, "tickvals": ticks} if risk_table
                     else {"title": {"text": f"Time ({unit})"}})},
        "yaxis": {"anchor": "x", "domain": [0.3008, 1.0] if risk_table else [0, 1], "range": [0, 1.03],
                  "tickformat": ".0%", "title": {"text": "Survival probability"}},
        "annotations": [],
    }
    if annotation:
        layout["annotations"].append({"text": annotation, "xref": "x domain", "yref": "y domain", "x": 0.02,
                                      "y": 0.04, "showarrow": False, "align": "left",
                                      "bgcolor": "rgba(255,255,255,0.8)"})
    if risk_table:
        layout["xaxis2"] = {"anchor": "y2", "domain": [0, 1], "range": x_range, "tickvals": ticks, "zeroline": False,
                            "title": {"text": f"Time ({unit})"}}
        layout["yaxis2"] = {"anchor": "x2", "domain": [0, 0.2208], "type": "category", "categoryorder": "array",
                            "categoryarray": list(reversed(groups)), "showgrid": False, "zeroline": False,
                            "fixedrange": True, "showticklabels": False}
        layout["annotations"] += _risk_labels(groups, colors, gap)
    return figure_from_spec(data, layout)


def _km_traces(result, g, cur, col, ci: bool, censor_marks: bool, unit: str, pct: str) -> list[dict]:
    t = cur["time"].to_numpy()
    out = []
    if ci:
        out.append({"type": "scatter", "x": t, "y": cur["upper"].to_numpy(), "mode": "lines",
                    "line": {"width": 0, "shape": "hv"}, "legendgroup": g, "showlegend": False, "hoverinfo": "skip",
                    "meta": "band", "name": f"{g} upper", "xaxis": "x", "yaxis": "y"})
        out.append({"type": "scatter", "x": t, "y": cur["lower"].to_numpy(), "mode": "lines",
                    "line": {"width": 0, "shape": "hv"}, "fill": "tonexty", "fillcolor": _rgba(col, 0.18),
                    "legendgroup": g, "showlegend": False, "hoverinfo": "skip", "meta": "band",
                    "name": f"{g} {pct} CI", "xaxis": "x", "yaxis": "y"})
    custom = np.column_stack([cur["n_risk"], cur["n_event"], cur["n_censor"], cur["lower"], cur["upper"]])
    out.append({"type": "scatter", "x": t, "y": cur["survival"].to_numpy(), "mode": "lines",
                "line": {"color": col, "width": 2.2, "shape": "hv"}, "name": g, "legendgroup": g, "meta": "curve",
                "customdata": custom, "xaxis": "x", "yaxis": "y",
                "hovertemplate": (f"<b>{g}</b><br>time %{{x:.4g}} {unit}<br>survival %{{y:.3f}} "
                                  f"({pct} CI %{{customdata[3]:.3f}}–%{{customdata[4]:.3f}})<br>at risk "
                                  "%{customdata[0]}, events %{customdata[1]}, censored %{customdata[2]}<extra></extra>")})
    if censor_marks:
        cens = cur[cur["n_censor"] > 0]
        out.append({"type": "scatter", "x": cens["time"].to_numpy(), "y": cens["survival"].to_numpy(),
                    "mode": "markers", "legendgroup": g, "showlegend": False, "meta": "censor",
                    "name": f"{g} censored", "xaxis": "x", "yaxis": "y",
                    "marker": {"symbol": "line-ns-open", "size": 9, "color": col, "line": {"width": 1.5}},
                    "customdata": cens["n_censor"].to_numpy(),
                    "hovertemplate": f"<b>{g}</b> censored: %{{customdata}} at %{{x:.4g}} {unit}<extra></extra>"})
    return out


def _risk_trace(result, g, color: str, unit: str) -> list[dict]:
    out = []
    rt = result.risk_table[result.risk_table["group"] == g]
    if len(rt):
        out.append({"type": "scatter", "x": rt["time"].to_numpy(), "y": [g] * len(rt), "mode": "text",
                    "text": [f"{int(v):,}" for v in rt["n_risk"]], "legendgroup": g, "showlegend": False,
                    "meta": "risk", "name": f"{g} at risk", "xaxis": "x2", "yaxis": "y2", "cliponaxis": True,
                    "textfont": {"color": color, "size": 12},
                    "customdata": np.column_stack([rt["n_events"], rt["n_censored"]]),
                    "hovertemplate": (f"<b>{g}</b> at %{{x:.4g}} {unit}: %{{text}} at risk, %{{customdata[0]}} "
                                      "events, %{customdata[1]} censored so far<extra></extra>")})
    return out


def _risk_labels(groups, colors, gap: float) -> list[dict]:
    """The risk table's arm names: a label column left of the plot area, clear of every number."""
    out = [{"text": "<b>Number at risk</b>", "xref": "paper", "yref": "paper", "x": 0, "y": 0.2208,
            "xanchor": "right", "yanchor": "bottom", "xshift": -gap, "showarrow": False, "align": "right",
            "font": {"size": 11, "color": "#444"}, "name": "risk-header"}]
    for i, g in enumerate(groups):
        out.append({"text": str(g), "xref": "paper", "yref": "y2", "x": 0, "y": g, "xanchor": "right",
                    "xshift": -gap, "showarrow": False, "font": {"size": 12, "color": colors[i % len(colors)]},
                    "name": "risk-label"})
    return out


def _fmt_ci(hr, lo, hi) -> str:
    if not np.isfinite(hr):
        return "NE"
    return f"{hr:.2f} ({lo:.2f}–{hi:.2f})"


#: readable ticks of a hazard-ratio axis (log scale)
_HR_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def _not_estimable(note) -> str:
    """``"not estimable (the model did not converge)"``: the reason, short (the full note is the hover text)."""
    text = str(note or "").strip().split(";")[0]
    if not text.startswith("not estimable"):
        return "not estimable" + (f" ({text})" if text else "")
    return text.split(":")[0] + ")" if ":" in text and text.endswith(")") else text


def _forest_rows(t, labels):
    """One row per (subgroup, level), in order, duplicates removed; its label and the right-hand text."""
    keys = list(dict.fromkeys(zip(t["subgroup"], t["level"])))
    rows = []
    for sg, lev in keys:
        r = t[(t["subgroup"] == sg) & (t["level"] == lev)]
        first = r.iloc[0]
        name = "All subjects" if sg == "All" else f"{labels.get(sg, sg)}: {lev}"
        est = r[np.isfinite(r["hr"].to_numpy(float))]
        if len(est):
            right = "; ".join(_fmt_ci(h, lo, hi) for h, lo, hi in zip(est["hr"], est["lower"], est["upper"]))
        else:
            right = _not_estimable(first.get("note", ""))
        p = r["p_interaction"].dropna()
        if len(p):
            right += f"   p-int {p.iloc[0]:.3f}"
        rows.append({"key": (sg, lev), "label": f"{name} ({int(first['n'])}, {int(first['events'])} ev)"
                     + ("" if len(est) else " — NE"), "right": right, "estimable": bool(len(est)),
                     "note": str(first.get("note", "") or "")})
    return rows


def plot_forest(result, *, title: str | None = None, colors=PALETTE[1:], height: int | None = None, labels=None):
    """Forest plot of hazard ratios across subgroups.

    Rows are ``subgroup: level (n, events)`` in the order of the result (age bands from the
    protocol's age range, strata as declared), each (subgroup, level) once. A row whose hazard ratio
    cannot be estimated is listed with "— NE" and the reason at the right ("not estimable (no events
    or a single arm)"), never drawn as an empty row. The log axis has readable ticks (0.1, 0.2, 0.5,
    1, 2, 5 …) over the range of the intervals.

    Parameters
    ----------
    result : SubgroupResult or DataFrame
        From :func:`trialkit.cox_subgroups` (or its ``summary``): ``subgroup, level, comparison, n,
        events, hr, lower, upper, p_interaction`` (and ``note``).
    title : str, optional
    colors : sequence of str
        One colour per comparison (arm vs reference).
    height : int, optional
        Default grows with the number of rows.
    labels : mapping, optional
        ``{subgroup column: label}`` (e.g. the protocol's ``labels.subgroups``); the column name
        stays in the hover text.

    Returns
    -------
    plotly.graph_objects.Figure
        One marker trace per comparison (``meta="hr"``) on a log x axis with a reference line at 1;
        the right-hand texts are annotations (``name="forest-text"``).

    Examples
    --------
    >>> fig = tk.plot_forest(tk.cox_subgroups(study, endpoint="EFS", subgroups=["sex"]))
    >>> [t.meta for t in fig.data], fig.layout.xaxis.type
    (['hr'], 'log')
    """
    t = (result.summary if hasattr(result, "summary") else result).reset_index(drop=True)
    labels = dict(labels or {})
    rows = _forest_rows(t, labels)
    y_of = {r["key"]: i for i, r in enumerate(rows)}
    comps = [c for c in dict.fromkeys(t["comparison"]) if c]
    offsets = {c: (j - (len(comps) - 1) / 2) * 0.22 for j, c in enumerate(comps)}
    data = []
    for j, comp in enumerate(comps):
        s = t[(t["comparison"] == comp)].drop_duplicates(["subgroup", "level"])
        text = [_fmt_ci(h, lo, hi) for h, lo, hi in zip(s["hr"], s["lower"], s["upper"])]
        data.append({
            "type": "scatter", "x": s["hr"].to_numpy(float), "mode": "markers", "name": comp, "meta": "hr",
            "y": [y_of[(a, b)] + offsets[comp] for a, b in zip(s["subgroup"], s["level"])], "legendgroup": comp,
            "marker": {"symbol": "square", "size": np.clip(np.sqrt(s["events"].to_numpy(float)) * 2.2, 6, 16),
                       "color": colors[j % len(colors)]},
            "error_x": {"type": "data", "symmetric": False, "array": (s["upper"] - s["hr"]).to_numpy(float),
                        "arrayminus": (s["hr"] - s["lower"]).to_numpy(float), "thickness": 1.5, "width": 0},
            "customdata": np.column_stack([s["subgroup"], s["level"], s["n"], s["events"], text]),
            "hovertemplate": ("<b>%{customdata[0]}: %{customdata[1]}</b><br>" + comp + "<br>HR %{customdata[4]}"
                              "<br>n %{customdata[2]}, events %{customdata[3]}<extra></extra>")})
    lo = t["lower"].to_numpy(float)
    hi = t["upper"].to_numpy(float)
    finite = np.r_[lo[np.isfinite(lo) & (lo > 0)], hi[np.isfinite(hi) & (hi > 0)], 1.0]
    x0, x1 = max(finite.min() / 1.3, 0.01), min(finite.max() * 1.3, 100)
    ticks = [v for v in _HR_TICKS if x0 <= v <= x1] or [1]
    annotations = [{"text": r["right"], "xref": "paper", "x": 1.01, "y": i, "yref": "y", "showarrow": False,
                    "xanchor": "left", "font": {"size": 11, "color": "#111" if r["estimable"] else "#777"},
                    "name": "forest-text", **({"hovertext": r["note"]} if r["note"] else {})}
                   for i, r in enumerate(rows)]
    layout = {
        "title": {"text": title or "Hazard ratio by subgroup (left of 1 favours the experimental arm)"},
        "height": height or max(320, 28 * len(rows) + 140), "margin": {"l": 280, "r": 300, "t": 70, "b": 50},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        "hovermode": "closest", "annotations": annotations,
        "shapes": [{"type": "line", "x0": 1, "x1": 1, "xref": "x", "yref": "paper", "y0": 0, "y1": 1,
                    "line": {"color": "grey", "dash": "dash", "width": 1}, "name": "hr1"}],
        "xaxis": {"type": "log", "range": [np.log10(x0), np.log10(x1)], "tickvals": ticks,
                  "ticktext": [f"{v:g}" for v in ticks], "title": {"text": "Hazard ratio (95% CI, log scale)"}},
        "yaxis": {"tickvals": list(range(len(rows))), "ticktext": [r["label"] for r in rows],
                  "autorange": "reversed", "zeroline": False},
    }
    return figure_from_spec(data, layout)
