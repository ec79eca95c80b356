"""Figures of eligibility results: the screening funnel, the CONSORT flow diagram, and screen-failure
rates by site or country over calendar time.

Each function renders a result of :mod:`trialkit.eligibility` and computes nothing itself. Traces,
shapes and annotations carry ``meta``/``name`` tags so tests (and users) can find them in
``fig.to_dict()``. For HTML export use the renderer ``"plotly_mimetype+notebook"`` (a figure kept
only as ``application/vnd.plotly.v1+json`` is dropped by nbconvert).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

__all__ = ["plot_funnel", "plot_consort", "plot_screen_failure_rates", "FUNNEL_COLORS"]

#: remaining (all inputs known), remaining (some input unknown), excluded at this step (Okabe–Ito)
FUNNEL_COLORS = ("#0072B2", "#56B4E9", "#D55E00")
_BOX_LINE = "#333333"
_STAGE_FILL = "#A6CEE3"


def plot_funnel(funnel, *, title: str | None = None, height: int | None = None, label: str = "label"):
    """The sequential screening funnel as horizontal stacked bars, one bar per criterion step.

    Each bar is the number *entering* the step, split into: still in with every input known so far
    (``known``), still in with some input unknown (``unknown``; never counted as excluded), and
    excluded at this step (``excluded``). The top bar is the screened total.

    Parameters
    ----------
    funnel : FunnelResult
        From :func:`trialkit.funnel`.
    label : {"label", "criterion_id"}
        Which name to show on the axis.

    Returns
    -------
    plotly.graph_objects.Figure
        Three bar traces with ``meta`` ``known``, ``unknown``, ``excluded``; y categories top-down.
    """
    import plotly.graph_objects as go

    s = funnel.summary
    t = funnel.totals
    names = ["Screened"] + [(f"{r.criterion_id}" if label == "criterion_id" else f"{r.label}")
                            + (" (post-enrollment)" if r.stage != "screening" else "")
                            for r in s.itertuples()]
    known = [t["screened"]] + s["remaining_all_known"].tolist()
    unknown = [0] + (s["remaining"] - s["remaining_all_known"]).tolist()
    excluded = [0] + s["excluded"].tolist()
    fig = go.Figure()
    for vals, name, color, meta in ((known, "remaining, inputs known", FUNNEL_COLORS[0], "known"),
                                    (unknown, "remaining, some input unknown", FUNNEL_COLORS[1], "unknown"),
                                    (excluded, "excluded at this step", FUNNEL_COLORS[2], "excluded")):
        fig.add_trace(go.Bar(y=names, x=vals, orientation="h", name=name, marker_color=color, meta=meta,
                             text=[v if v else "" for v in vals], textposition="inside",
                             hovertemplate="%{y}<br>" + name + ": %{x}<extra></extra>"))
    head = (f"{t['screened']} screened → {t['eligible']} eligible, {t['not_eligible']} excluded, "
            f"{t['undetermined']} undetermined")
    fig.update_layout(barmode="stack", title=title or f"Screening funnel{_pid(funnel)}: {head}",
                      xaxis_title="patients", yaxis={"autorange": "reversed"},
                      height=height or max(320, 26 * len(names) + 150), template="plotly_white",
                      legend={"orientation": "h", "y": -0.12}, margin={"l": 10, "r": 10})
    return fig


def _pid(x) -> str:
    pid = getattr(x, "protocol_id", None)
    return f" ({pid.upper()})" if pid else ""


def _ratio_text(ratio: dict, arms) -> str:
    """'2:1 (InO:ALLR3)' for unequal ratios, largest share first; '1:1:1' when equal."""
    if not ratio:
        return ""
    shares = [ratio.get(a, 0) for a in arms]
    if len(set(shares)) == 1:
        return ":".join(str(x) for x in shares)
    order = sorted(range(len(arms)), key=lambda i: (-shares[i], -i))
    return ":".join(str(shares[i]) for i in order) + " " + ":".join(arms[i] for i in order)


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(str(text), width=width, break_long_words=True) or [""]


def _lines_for(consort, box: str, arm: str | None, width: int, top: int = 6) -> list[str]:
    """The '• reason (n=k)' lines of a box (largest first; beyond ``top`` grouped as 'other')."""
    b = consort.summary
    sel = b["box"].eq(box) & b["reason"].notna() & (b["arm"].isna() if arm is None else b["arm"].eq(arm))
    rows = b.loc[sel.fillna(False)]
    out = []
    shown = rows.iloc[:top]
    for r in shown.itertuples():
        out += _wrap(f"• {r.reason} (n={r.n})", width)
    rest = rows.iloc[top:]
    if len(rest):
        out.append(f"• {len(rest)} other reason(s) (n={int(rest['n'].sum())})")
    return out


def plot_consort(consort, *, title: str | None = None, width: int = 1100, max_reasons: int = 12,
                 show_criteria: bool = True):
    """A CONSORT 2010/2025-style participant flow diagram.

    Enrollment (assessed → excluded side box with its groups and, optionally, the criteria behind
    them → randomized), Allocation (one column per arm, in protocol dose order, headed with the
    allocation ratio such as 2:1), Follow-up (lost to follow-up, discontinued, off protocol after
    enrollment, with reasons) and Analysis (analysed, excluded from analysis). Stage labels sit in
    the left margin as in the CONSORT template.

    Parameters
    ----------
    consort : ConsortResult
        From :func:`trialkit.consort` (its counts are already reconciled).
    max_reasons : int
        Reasons listed per box before the rest are grouped.
    show_criteria : bool
        List the excluding criteria under each exclusion group.

    Returns
    -------
    plotly.graph_objects.Figure
        Boxes are layout shapes named ``box:<box>[:<arm>]``; their text annotations carry the same
        name; arrows are shapes named ``arrow``.
    """
    import plotly.graph_objects as go

    k = consort.n
    arms = list(consort.arms)
    n_arms = max(1, len(arms))
    line_h = 15.8
    pad = 10.0
    gap = 34.0
    W = float(width)
    left = 120.0  # stage labels
    col_w = (W - left - 20) / n_arms
    chars = max(24, int(col_w / 6.4) - 3)

    boxes: list[dict] = []  # {name, x0, x1, y0 (top), lines}

    def add(name, x0, x1, y_top, lines, bold_first=True):
        h = pad * 2 + line_h * len(lines)
        boxes.append({"name": name, "x0": x0, "x1": x1, "y0": y_top, "y1": y_top + h, "lines": lines,
                      "bold": bold_first})
        return y_top + h

    # --- enrollment ------------------------------------------------------------------------------
    cx = left + (W - left) / 2
    main_w = min(320.0, (W - left) * 0.42)
    y = 40.0
    assessed_bottom = add("box:assessed", cx - main_w / 2 - 120, cx + main_w / 2 - 120, y,
                          [f"Assessed for eligibility (n={k('assessed')})"])
    ex_lines = [f"Excluded (n={k('excluded')})"]
    b = consort.summary
    groups = b.loc[(b["box"].eq("excluded") & b["group"].notna() & b["reason"].isna()).fillna(False)]
    side_w = W - (cx + main_w / 2 - 120) - 60
    side_chars = max(30, int(side_w / 6.4) - 3)
    for g in groups.itertuples():
        ex_lines += _wrap(f"• {g.group} (n={g.n})", side_chars)
        if show_criteria and g.n:
            rs = b.loc[(b["box"].eq("excluded") & b["group"].eq(g.group) & b["reason"].notna()).fillna(False)]
            for r in rs.iloc[:max_reasons].itertuples():
                ex_lines += ["    " + line for line in _wrap(f"◦ {r.reason} (n={r.n})", side_chars - 4)]
            if len(rs) > max_reasons:
                ex_lines.append(f"    ◦ {len(rs) - max_reasons} more (n={int(rs['n'].iloc[max_reasons:].sum())})")
    side_x0 = cx + main_w / 2 - 120 + 50
    side_top = assessed_bottom + gap / 2
    side_bottom = add("box:excluded", side_x0, W - 10, side_top, ex_lines)
    rand_top = max(side_bottom + gap / 2, assessed_bottom + gap * 2)
    ratio_line = _ratio_text(consort.ratio or {}, list(consort.arms))
    rand_bottom = add("box:randomized", cx - main_w / 2 - 120, cx + main_w / 2 - 120, rand_top,
                      [f"Randomized (n={k('randomized')})"]
                      + ([f"allocation ratio {ratio_line}"] if ratio_line else []))
    enrollment = (20.0, rand_bottom)

    # --- per-arm columns ---------------------------------------------------------------------------
    ratio = consort.ratio or {}
    total_share = sum(ratio.get(a, 0) for a in arms)
    y_alloc = rand_bottom + gap * 1.5
    contents = {}
    for a in arms:
        label = consort.arm_labels.get(a, a)
        alloc = [f"Allocated to {label} (n={k('allocated', arm=a)})"]
        if ratio and total_share:
            alloc.append(f"(planned share {ratio.get(a, 0)}/{total_share} of those randomized)")
        alloc += [f"• Received allocated intervention (n={k('received', arm=a)})",
                  f"• Did not receive allocated intervention (n={k('not_received', arm=a)})"]
        alloc += ["    " + x for x in _lines_for(consort, "not_received", a, chars - 4, max_reasons)]
        fu = [f"Lost to follow-up (n={k('lost_to_follow_up', arm=a)})"]
        fu += ["    " + x for x in _lines_for(consort, "lost_to_follow_up", a, chars - 4, max_reasons)]
        fu.append(f"Discontinued intervention (n={k('discontinued', arm=a)})")
        fu += ["    " + x for x in _lines_for(consort, "discontinued", a, chars - 4, max_reasons)]
        if (b["box"] == "off_protocol_post_enrollment").any():
            fu.append(f"Off protocol after enrollment (n={k('off_protocol_post_enrollment', arm=a)})")
            fu += ["    " + x for x in _lines_for(consort, "off_protocol_post_enrollment", a, chars - 4, max_reasons)]
        an = [f"Analysed (n={k('analysed', arm=a)})",
              f"• Excluded from analysis (n={k('excluded_from_analysis', arm=a)})"]
        an += ["    " + x for x in _lines_for(consort, "excluded_from_analysis", a, chars - 4, max_reasons)]
        contents[a] = (alloc, fu, an)
    # equal heights per row across arms (as the template)
    h_alloc = max(len(c[0]) for c in contents.values()) if contents else 1
    h_fu = max(len(c[1]) for c in contents.values()) if contents else 1
    h_an = max([3] + [len(c[2]) for c in contents.values()])
    h_alloc = max(h_alloc, 4)
    y_fu = y_alloc + pad * 2 + line_h * h_alloc + gap
    y_an = y_fu + pad * 2 + line_h * h_fu + gap
    for i, a in enumerate(arms):
        x0 = left + i * col_w + 10
        x1 = left + (i + 1) * col_w - 10
        alloc, fu, an = contents[a]
        add(f"box:allocated:{a}", x0, x1, y_alloc, alloc + [""] * (h_alloc - len(alloc)))
        add(f"box:follow_up:{a}", x0, x1, y_fu, fu + [""] * (h_fu - len(fu)), bold_first=False)
        add(f"box:analysed:{a}", x0, x1, y_an, an + [""] * (h_an - len(an)))
    y_end = y_an + pad * 2 + line_h * h_an
    stage_rows = [("Enrollment", enrollment[0], enrollment[1]),
                  ("Allocation", y_alloc, y_fu - gap),
                  ("Follow-Up", y_fu, y_an - gap), ("Analysis", y_an, y_end)]

    fig = go.Figure()
    shapes, annotations = [], []
    for bx in boxes:
        shapes.append({"type": "rect", "x0": bx["x0"], "x1": bx["x1"], "y0": bx["y0"], "y1": bx["y1"],
                       "line": {"color": _BOX_LINE, "width": 1.2}, "fillcolor": "white", "name": bx["name"],
                       "layer": "below"})
        lines = [line.replace("<", "&lt;") for line in bx["lines"]]
        while lines and lines[-1] == "":
            lines.pop()
        if bx["bold"] and lines:
            lines[0] = f"<b>{lines[0]}</b>"
        annotations.append({"x": bx["x0"] + 8, "y": bx["y0"] + pad - 2, "xanchor": "left", "yanchor": "top",
                            "align": "left", "showarrow": False, "text": "<br>".join(lines),
                            "font": {"size": 12, "family": "Arial, sans-serif", "color": "#111"},
                            "name": bx["name"]})
    for label, y0, y1 in stage_rows:
        shapes.append({"type": "rect", "x0": 8, "x1": left - 18, "y0": y0, "y1": y1, "line": {"width": 0},
                       "fillcolor": _STAGE_FILL, "name": f"stage:{label}", "layer": "below"})
        annotations.append({"x": (8 + left - 18) / 2, "y": (y0 + y1) / 2, "text": f"<b>{label}</b>",
                            "showarrow": False, "textangle": -90, "font": {"size": 13, "color": "#0b3d62"},
                            "name": f"stage:{label}"})

    def box(name):
        return next(x for x in boxes if x["name"] == name)

    def arrow(x0, y0, x1, y1, head=True):
        shapes.append({"type": "line", "x0": x0, "y0": y0, "x1": x1, "y1": y1,
                       "line": {"color": _BOX_LINE, "width": 1.2}, "name": "arrow"})
        if head:
            annotations.append({"x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x",
                                "ayref": "y", "showarrow": True, "arrowhead": 2, "arrowsize": 1.1,
                                "arrowwidth": 1.2, "arrowcolor": _BOX_LINE, "text": "", "name": "arrow"})

    a_box, r_box, e_box = box("box:assessed"), box("box:randomized"), box("box:excluded")
    mid = (a_box["x0"] + a_box["x1"]) / 2
    arrow(mid, a_box["y1"], mid, r_box["y0"])
    e_mid = (e_box["y0"] + e_box["y1"]) / 2 if e_box["y1"] - e_box["y0"] < 60 else e_box["y0"] + 20
    arrow(mid, e_mid, e_box["x0"], e_mid)
    if arms:
        split_y = r_box["y1"] + gap * 0.75
        arrow(mid, r_box["y1"], mid, split_y, head=False)
        centers = [(box(f"box:allocated:{a}")["x0"] + box(f"box:allocated:{a}")["x1"]) / 2 for a in arms]
        arrow(min(centers + [mid]), split_y, max(centers + [mid]), split_y, head=False)
        for a, c in zip(arms, centers):
            arrow(c, split_y, c, box(f"box:allocated:{a}")["y0"])
            arrow(c, box(f"box:allocated:{a}")["y1"], c, box(f"box:follow_up:{a}")["y0"])
            arrow(c, box(f"box:follow_up:{a}")["y1"], c, box(f"box:analysed:{a}")["y0"])
    H = y_end + 30
    # one data unit = one pixel: the plot area is exactly W x H (text sizes are in pixels)
    fig.update_layout(
        shapes=shapes, annotations=annotations, width=W, height=H + 50, template="plotly_white",
        title=title or f"CONSORT flow diagram{_pid(consort)}",
        xaxis={"range": [0, W], "visible": False, "fixedrange": True},
        yaxis={"range": [H, 0], "visible": False, "fixedrange": True},
        margin={"l": 0, "r": 0, "t": 50, "b": 0, "pad": 0}, showlegend=False, plot_bgcolor="white")
    # an invisible trace so the axes exist for the shapes in every renderer
    fig.add_trace(go.Scatter(x=[0, W], y=[0, H], mode="markers", marker={"opacity": 0}, hoverinfo="skip",
                             meta="canvas"))
    if consort.notes:
        fig.add_annotation(x=left, y=H - 8, xanchor="left", yanchor="bottom", showarrow=False,
                           text="<i>" + " ".join(consort.notes).replace("<", "&lt;")[:300] + "</i>",
                           font={"size": 10, "color": "#555"}, name="notes")
    return fig


def plot_screen_failure_rates(rates: pd.DataFrame, *, title: str | None = None, height: int | None = None,
                              min_screened: int = 1):
    """Screen-failure rate over calendar time per country (lines) or per site (heatmap).

    Parameters
    ----------
    rates : pandas.DataFrame
        From :func:`trialkit.eligibility.compute_screen_failure_rates` (its first column, ``country``
        or ``site_id``, decides the layout).
    min_screened : int
        Periods with fewer screened patients are shown empty (the rate of 1 patient is noise).

    Returns
    -------
    plotly.graph_objects.Figure
        By country: one ``Scatter`` per country (``meta`` = country) plus ``meta="overall"``. By
        site: one ``Heatmap`` (``meta="heatmap"``), sites as rows, periods as columns.
    """
    import plotly.graph_objects as go

    by = rates.columns[0]
    r = rates.copy()
    r.loc[r["screened"] < min_screened, "rate"] = np.nan
    fig = go.Figure()
    if by == "site_id":
        piv = r.pivot_table(index="site_id", columns="period", values="rate", aggfunc="first", dropna=False)
        cnt = r.pivot_table(index="site_id", columns="period", values="screened", aggfunc="first", fill_value=0)
        piv = piv.reindex(columns=sorted(piv.columns))
        cnt = cnt.reindex(index=piv.index, columns=piv.columns, fill_value=0)
        fig.add_trace(go.Heatmap(z=piv.to_numpy(dtype=float).tolist(), x=[pd.Timestamp(c) for c in piv.columns],
                                 y=piv.index.astype(str).tolist(), colorscale="YlOrRd", zmin=0, zmax=1,
                                 xgap=1, ygap=1,
                                 customdata=cnt.to_numpy().tolist(), meta="heatmap", colorbar={"title": "failure rate"},
                                 hovertemplate="%{y} · %{x|%Y-%m}<br>rate %{z:.0%} of %{customdata} screened"
                                               "<extra></extra>"))
        fig.update_layout(height=height or max(360, 16 * len(piv) + 160), xaxis_title="period of screening",
                          yaxis={"type": "category", "dtick": 1, "tickfont": {"size": 10}},
                          plot_bgcolor="#f4f4f4")  # grey = no screening in that period; 0 % is pale yellow
    else:
        for g, sub in r.groupby(by, sort=True):
            fig.add_trace(go.Scatter(x=sub["period"].tolist(), y=sub["rate"].tolist(), mode="lines+markers",
                                     name=str(g), meta=str(g), connectgaps=True,
                                     customdata=np.c_[sub["failed"], sub["screened"]].tolist(),
                                     hovertemplate=str(g) + " · %{x|%Y-%m}<br>%{y:.0%} (%{customdata[0]} of "
                                                   "%{customdata[1]})<extra></extra>"))
        tot = r.groupby("period", sort=True)[["screened", "failed", "undetermined"]].sum()
        denom = (tot["screened"] - tot["undetermined"]).astype(float)
        overall = np.where(denom > 0, tot["failed"] / denom.where(denom > 0, 1), np.nan)
        fig.add_trace(go.Scatter(x=list(tot.index), y=overall.tolist(),
                                 mode="lines", name="all countries", meta="overall",
                                 line={"color": "black", "width": 3, "dash": "dash"}))
        fig.update_layout(height=height or 440, yaxis={"tickformat": ".0%", "range": [-0.03, 1.05]},
                          yaxis_title="screen-failure rate", xaxis_title="period of screening")
    fig.update_layout(title=title or f"Screen-failure rate by {'site' if by == 'site_id' else by} over time",
                      template="plotly_white")
    return fig
