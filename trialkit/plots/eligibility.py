"""Figures of eligibility results: the screening funnel, the CONSORT flow diagram, and screen-failure
rates by site or country over calendar time.

Each function renders a result of :mod:`trialkit.eligibility` and computes nothing itself. Traces,
shapes and annotations carry ``meta``/``name`` tags so tests (and users) can find them in
``fig.to_dict()``. For HTML export use the renderer ``"plotly_mimetype+notebook"`` (a figure kept
only as ``application/vnd.plotly.v1+json`` is dropped by nbconvert).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._spec import figure_from_spec

__all__ = ["plot_funnel", "plot_consort", "plot_screen_failure_rates", "what_if_text", "integer_axis",
           "FUNNEL_COLORS"]

#: remaining (all inputs known), remaining (some input unknown), excluded at this step (Okabe–Ito)
FUNNEL_COLORS = ("#0072B2", "#56B4E9", "#D55E00")
_BOX_LINE = "#333333"
_STAGE_FILL = "#A6CEE3"


def _labels(x):
    """The protocol's label dictionary for a result (ids when the protocol has none or is not known)."""
    from ..errors import ProtocolError
    from ..labels import labels_for

    try:
        return labels_for(getattr(x, "protocol_id", None))
    except ProtocolError:  # a protocol built in code (e.g. from CDISC trial design) is not registered
        return labels_for(None)


def what_if_text(result, *, html: bool = False) -> str:
    """What a what-if changed, in words: ``"switched off: Marrow blasts ≥ 5 % (≥ M2); changed: Bilirubin ≤ 3 × ULN
    (protocol 1.5)"`` (without "changed: " when nothing is switched off); empty for the protocol as written. ``result`` is a funnel or CONSORT result."""
    lab = _labels(result)
    parts = []
    off = [lab.criterion(c, getattr(result, "params", {})) for c in getattr(result, "disabled", ())]
    if off:
        parts.append("switched off: " + ", ".join(off))
    moved = []
    for p, default in (getattr(result, "changed", {}) or {}).items():
        t = lab.threshold(p)
        moved.append(f"{t.describe(result.params[p])} (protocol {t.with_unit(default)})")
    if moved:  # said apart from what was switched off: a moved threshold is still applied
        parts.append(("changed: " if off else "") + "; ".join(moved))
    text = "; ".join(parts)
    return text.replace("<", "&lt;") if html else text


def _state_title(base: str, result, filters: str | None) -> str:
    """``base`` with the filter and a what-if marker: the view's state is part of its title."""
    prefix = "WHAT-IF · " if getattr(result, "what_if", False) else ""
    return prefix + base + (f" — {filters}" if filters else "")


_WHAT_IF_CHARS = 95


def _what_if_lines(result) -> list[str]:
    """The what-if, in words, wrapped to lines that fit a figure 800 pixels wide (none when as written)."""
    text = what_if_text(result)
    return textwrap.wrap("What-if — " + text, _WHAT_IF_CHARS) if text else []


def _title_block(main: str, result, sub: str | None = None) -> tuple[dict, int]:
    """The title (its state in it: main line, a grey sub-line, the what-if in orange lines) and the pixels
    it needs; it starts at the figure's left edge, so long labels never push it out of view."""
    lines = _what_if_lines(result)
    text = main + (f"<br><sup>{sub}</sup>" if sub else "")
    for i, line in enumerate(lines):
        body = line.replace("<", "&lt;")
        if i == 0:
            body = body.replace("What-if —", "<b>What-if</b> —", 1)
        text += f"<br><span style='font-size:12px;color:#8a4b00'>{body}</span>"
    height = 34 + (16 if sub else 0) + 17 * len(lines)
    return {"text": text, "x": 0, "xref": "container", "xanchor": "left", "yref": "container", "y": 1,
            "yanchor": "top", "pad": {"t": 12, "l": 12}}, height


def _what_if_badge(result) -> list[dict]:
    """An orange "WHAT-IF" badge at the plot's top right (the changes in its hover text and the title)."""
    text = what_if_text(result)
    if not text:
        return []
    return [{"text": "<b>WHAT-IF</b>", "hovertext": text.replace("<", "&lt;"), "xref": "paper", "yref": "paper",
             "x": 1, "y": 1, "xanchor": "right", "yanchor": "bottom", "yshift": 4, "showarrow": False,
             "bgcolor": "#FFF1DB", "bordercolor": "#E69F00", "borderwidth": 1.5, "borderpad": 3,
             "font": {"size": 12, "color": "#5a3a00"}, "name": "what_if"}]


def integer_axis(max_value: float) -> dict:
    """Axis settings that count whole patients: integer ticks only (no 0.5 patient), from 0."""
    out = {"tickformat": ",d", "rangemode": "tozero"}
    if max_value <= 10:
        out["dtick"] = 1
    return out


#: a funnel segment narrower than this share of the widest bar gets its number outside the bar
_SMALL_SEGMENT = 0.07


def plot_funnel(funnel, *, title: str | None = None, height: int | None = None, label: str = "label",
                filters: str | None = None):
    """The sequential screening funnel as horizontal stacked bars, one bar per criterion step.

    Each bar is the number *entering* the step, split into: still in with every input known so far
    (``known``), still in with some input unknown (``unknown``; never counted as excluded), and
    excluded at this step (``excluded``). The top bar is the screened total; every bar is what the
    bar above it left. Post-enrollment steps (e.g. AALL1732's MPAL central confirmation) come last,
    below a dashed line. Criteria are named by the protocol's label dictionary with the thresholds in
    force ("Marrow blasts ≥ 25 %" under a what-if); the criterion id is in the hover text. A segment
    too narrow for its number is labelled outside the bar, never with a squeezed or rotated number.

    Parameters
    ----------
    funnel : FunnelResult
        From :func:`trialkit.funnel`.
    label : {"label", "criterion_id"}
        Which name to show on the axis.
    filters : str, optional
        The filter the funnel was computed under (e.g. ``"Germany · site DE02"``), added to the title.

    Returns
    -------
    plotly.graph_objects.Figure
        Three bar traces with ``meta`` ``known``, ``unknown``, ``excluded``; y categories top-down;
        annotations ``outside:<row>`` for small segments and ``what_if`` for a what-if funnel.

    Examples
    --------
    >>> import trialkit as tk
    >>> fig = tk.funnel(tk.load_study("data/demo/b1931036")).figure()
    >>> [t.meta for t in fig.data]
    ['known', 'unknown', 'excluded']
    """
    s = funnel.summary
    t = funnel.totals
    lab = _labels(funnel)
    names = ["Screened"] + [_wrap_label(_step_name(r, lab, funnel.params, label)) for r in s.itertuples()]
    ids = ["all screened patients"] + s["criterion_id"].astype(str).tolist()
    known = [int(t["screened"])] + s["remaining_all_known"].astype(int).tolist()
    unknown = [0] + (s["remaining"] - s["remaining_all_known"]).astype(int).tolist()
    excluded = [0] + s["excluded"].astype(int).tolist()
    widest = max([t["screened"], 1])
    data = []
    for vals, name, color, meta in ((known, "remaining, inputs known", FUNNEL_COLORS[0], "known"),
                                    (unknown, "remaining, some input unknown", FUNNEL_COLORS[1], "unknown"),
                                    (excluded, "excluded at this step", FUNNEL_COLORS[2], "excluded")):
        data.append({"type": "bar", "y": names, "x": vals, "orientation": "h", "name": name,
                     "marker": {"color": color}, "meta": meta, "customdata": ids,
                     "text": [f"{v:,}" if v and v >= _SMALL_SEGMENT * widest else "" for v in vals],
                     "textposition": "inside", "textangle": 0, "insidetextanchor": "middle",
                     "hovertemplate": "%{y}<br><i>%{customdata}</i><br>" + name + ": %{x:,}<extra></extra>"})
    annotations = _outside_labels(names, known, unknown, excluded, widest)
    shapes = []
    n_post = int((s["stage"] != "screening").sum())
    if n_post:
        y_line = len(names) - n_post - 0.5
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": y_line, "y1": y_line,
                       "line": {"color": "#555", "dash": "dash", "width": 1}, "name": "enrollment"})
        annotations.append({"text": "<i>after enrollment</i>", "xref": "paper", "x": 1, "xanchor": "right",
                            "yanchor": "bottom", "y": y_line, "showarrow": False, "font": {"size": 11, "color": "#555"},
                            "name": "enrollment"})
    annotations += _what_if_badge(funnel)
    head, head_px = _title_block(title or _state_title(f"Screening funnel{_pid(funnel)}", funnel, filters), funnel,
                                 _funnel_head(t))
    layout = {
        "barmode": "stack", "shapes": shapes, "annotations": annotations, "title": head,
        "xaxis": {"title": {"text": "patients"}, **integer_axis(widest), "range": [0, widest * 1.04]},
        "yaxis": {"autorange": "reversed", "type": "category"}, "uniformtext": {"minsize": 10, "mode": "hide"},
        "height": height or max(340, 28 * len(names) + 190),
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "traceorder": "normal"},
        # the right margin holds the outside labels of small segments ("−3 excluded · 1 unknown")
        "margin": {"l": 10, "r": 170, "b": 90, "t": head_px + 30}}
    return figure_from_spec(data, layout)


def _wrap_label(text: str, width: int = 46) -> str:
    """A long criterion label on two or more lines (plotly does not wrap), so the bars keep their room."""
    return "<br>".join(textwrap.wrap(text, width)) if len(text) > width else text


def _step_name(r, lab, params, label: str) -> str:
    name = r.criterion_id if label == "criterion_id" else lab.criterion(r.criterion_id, params, default=r.label)
    return name + (" (after enrollment)" if r.stage != "screening" else "")


def _funnel_head(t: dict) -> str:
    head = (f"{t['screened']:,} screened → {t['eligible']:,} eligible, {t['not_eligible']:,} excluded, "
            f"{t['undetermined']:,} undetermined")
    if "off_protocol_after_enrollment" in t:
        head += f"; after enrollment {t['off_protocol_after_enrollment']:,} off protocol"
    return head


def _outside_labels(names, known, unknown, excluded, widest) -> list[dict]:
    """Small excluded/unknown segments: their counts in words right of the bar (hover has them too)."""
    small = _SMALL_SEGMENT * widest
    out = []
    for i, (k, u, e) in enumerate(zip(known, unknown, excluded)):
        bits = []
        if 0 < e < small:
            bits.append(f"−{e:,} excluded")
        if 0 < u < small:
            bits.append(f"{u:,} unknown")
        if bits:
            out.append({"x": k + u + e, "y": names[i], "text": " · ".join(bits), "showarrow": False,
                        "xanchor": "left", "xshift": 4, "font": {"size": 11, "color": "#333"}, "name": f"outside:{i}"})
    return out


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


def _reason_text(reason: str, lab, params) -> str:
    """A reason as a clinician reads it: criterion ids (with their file label) become the protocol's label
    with the thresholds in force; other text stays as recorded."""
    out = str(reason)
    for cid in sorted({*lab.criteria, *lab.fallback_criteria}, key=len, reverse=True):
        if cid in out:
            out = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(cid)}(?![A-Za-z0-9_])(: [^;]*)?", lambda _m, c=cid: lab.criterion(c, params),
                         out)
    return out


def _reasons_by_box(consort) -> dict:
    """``{(box, arm): [(reason, n), ...]}`` in the summary's order, read once per figure."""
    b = consort.summary
    out: dict = {}
    for box, arm, reason, n in zip(b["box"].tolist(), b["arm"].astype(object).tolist(),
                                   b["reason"].astype(object).tolist(), b["n"].tolist()):
        if reason is not None and reason is not pd.NA:
            out.setdefault((box, None if arm is pd.NA else arm), []).append((str(reason), int(n)))
    return out


def _lines_for(rows: list, width: int, top: int, lab, params, hover: list) -> list[str]:
    """The '• reason (n=k)' lines of a box (largest first; beyond ``top`` grouped as 'other')."""
    out = []
    for reason, n in rows[:top]:
        text = _reason_text(reason, lab, params)
        if text != reason:
            hover.append(f"{text} = {reason}")
        out += _wrap(f"• {text} (n={n})", width)
    rest = rows[top:]
    if rest:
        out.append(f"• {len(rest)} other reason(s) (n={sum(n for _, n in rest)})")
    return out


@dataclass
class _Box:
    name: str
    x0: float
    x1: float
    y0: float
    lines: list
    bold: bool = True
    hover: list = field(default_factory=list)

    @property
    def y1(self) -> float:
        return self.y0 + _PAD * 2 + _LINE_H * len(self.lines)


_LINE_H, _PAD, _GAP, _LEFT = 15.8, 10.0, 34.0, 120.0


def _excluded_lines(consort, lab, chars: int, max_reasons: int, show_criteria: bool, hover: list) -> list[str]:
    k = consort.n
    b = consort.summary
    lines = [f"Excluded (n={k('excluded')})"]
    groups = b.loc[(b["box"].eq("excluded") & b["group"].notna() & b["reason"].isna()).fillna(False)]
    for g in groups.itertuples():
        lines += _wrap(f"• {g.group} (n={g.n})", chars)
        if not (show_criteria and g.n):
            continue
        rs = b.loc[(b["box"].eq("excluded") & b["group"].eq(g.group) & b["reason"].notna()).fillna(False)]
        for r in rs.iloc[:max_reasons].itertuples():
            text = _reason_text(r.reason, lab, consort.params)
            if text != r.reason:
                hover.append(f"{text} = {r.reason}")
            lines += ["    " + line for line in _wrap(f"◦ {text} (n={r.n})", chars - 4)]
        if len(rs) > max_reasons:
            lines.append(f"    ◦ {len(rs) - max_reasons} more (n={int(rs['n'].iloc[max_reasons:].sum())})")
    return lines


def _enrollment_boxes(consort, lab, W: float, max_reasons: int, show_criteria: bool) -> list[_Box]:
    k = consort.n
    cx = _LEFT + (W - _LEFT) / 2
    main_w = min(320.0, (W - _LEFT) * 0.42)
    mx0, mx1 = cx - main_w / 2 - 120, cx + main_w / 2 - 120
    assessed = _Box("box:assessed", mx0, mx1, 40.0, [f"Assessed for eligibility (n={k('assessed')})"])
    side_chars = max(30, int((W - mx1 - 60) / 6.4) - 3)
    hover: list = []
    excluded = _Box("box:excluded", mx1 + 50, W - 10, assessed.y1 + _GAP / 2,
                    _excluded_lines(consort, lab, side_chars, max_reasons, show_criteria, hover), hover=hover)
    ratio_line = _ratio_text(consort.ratio or {}, [lab.arm(a) for a in consort.arms])
    randomized = _Box("box:randomized", mx0, mx1, max(excluded.y1 + _GAP / 2, assessed.y1 + _GAP * 2),
                      [f"Randomized (n={k('randomized')})"] + ([f"allocation ratio {ratio_line}"] if ratio_line else []))
    return [assessed, excluded, randomized]


def _arm_contents(consort, lab, a: str, chars: int, max_reasons: int, index: dict) -> tuple[list, list, list, list]:
    """(allocation, follow-up, analysis lines, hover) of one arm's column."""
    k = consort.n
    ratio = consort.ratio or {}
    total_share = sum(ratio.get(x, 0) for x in consort.arms)
    hover: list = []

    def reasons(box):
        return ["    " + x for x in _lines_for(index.get((box, a), []), chars - 4, max_reasons, lab, consort.params,
                                               hover)]

    name, long = lab.arm(a), consort.arm_labels.get(a, a)
    alloc = [f"Allocated to {name} (n={k('allocated', arm=a)})"] + ([long] if long not in (name, a) else [])
    if ratio and total_share:
        alloc.append(f"(planned share {ratio.get(a, 0)}/{total_share} of those randomized)")
    alloc += [f"• Received allocated intervention (n={k('received', arm=a)})",
              f"• Did not receive allocated intervention (n={k('not_received', arm=a)})", *reasons("not_received")]
    fu = [f"Lost to follow-up (n={k('lost_to_follow_up', arm=a)})", *reasons("lost_to_follow_up"),
          f"Discontinued intervention (n={k('discontinued', arm=a)})", *reasons("discontinued")]
    if (consort.summary["box"] == "off_protocol_post_enrollment").any():
        fu += [f"Off protocol after enrollment (n={k('off_protocol_post_enrollment', arm=a)})",
               *reasons("off_protocol_post_enrollment")]
    an = [f"Analysed (n={k('analysed', arm=a)})",
          f"• Excluded from analysis (n={k('excluded_from_analysis', arm=a)})", *reasons("excluded_from_analysis")]
    return alloc, fu, an, hover


def _arm_boxes(consort, lab, W: float, y_alloc: float, max_reasons: int) -> tuple[list[_Box], float, list]:
    """One column per arm (protocol dose order), rows of equal height across arms as in the template."""
    arms = list(consort.arms)
    col_w = (W - _LEFT - 20) / max(1, len(arms))
    chars = max(24, int(col_w / 6.4) - 3)
    index = _reasons_by_box(consort)
    contents = {a: _arm_contents(consort, lab, a, chars, max_reasons, index) for a in arms}
    h_alloc = max([4] + [len(c[0]) for c in contents.values()])
    h_fu = max([1] + [len(c[1]) for c in contents.values()])
    h_an = max([3] + [len(c[2]) for c in contents.values()])
    y_fu = y_alloc + _PAD * 2 + _LINE_H * h_alloc + _GAP
    y_an = y_fu + _PAD * 2 + _LINE_H * h_fu + _GAP
    boxes = []
    for i, a in enumerate(arms):
        x0, x1 = _LEFT + i * col_w + 10, _LEFT + (i + 1) * col_w - 10
        alloc, fu, an, hover = contents[a]
        boxes += [_Box(f"box:allocated:{a}", x0, x1, y_alloc, alloc + [""] * (h_alloc - len(alloc)), hover=hover),
                  _Box(f"box:follow_up:{a}", x0, x1, y_fu, fu + [""] * (h_fu - len(fu)), bold=False, hover=hover),
                  _Box(f"box:analysed:{a}", x0, x1, y_an, an + [""] * (h_an - len(an)), hover=hover)]
    y_end = y_an + _PAD * 2 + _LINE_H * h_an
    stages = [("Allocation", y_alloc, y_fu - _GAP), ("Follow-Up", y_fu, y_an - _GAP), ("Analysis", y_an, y_end)]
    return boxes, y_end, stages


def _box_shapes(boxes: list[_Box], stages) -> tuple[list, list]:
    shapes, annotations = [], []
    for bx in boxes:
        shapes.append({"type": "rect", "x0": bx.x0, "x1": bx.x1, "y0": bx.y0, "y1": bx.y1,
                       "line": {"color": _BOX_LINE, "width": 1.2}, "fillcolor": "white", "name": bx.name,
                       "layer": "below"})
        lines = [line.replace("<", "&lt;") for line in bx.lines]
        while lines and lines[-1] == "":
            lines.pop()
        if bx.bold and lines:
            lines[0] = f"<b>{lines[0]}</b>"
        ann = {"x": bx.x0 + 8, "y": bx.y0 + _PAD - 2, "xanchor": "left", "yanchor": "top", "align": "left",
               "showarrow": False, "text": "<br>".join(lines), "name": bx.name,
               "font": {"size": 12, "family": "Arial, sans-serif", "color": "#111"}}
        if bx.hover:
            ann["hovertext"] = "<br>".join(dict.fromkeys(h.replace("<", "&lt;") for h in bx.hover))
        annotations.append(ann)
    for label, y0, y1 in stages:
        shapes.append({"type": "rect", "x0": 8, "x1": _LEFT - 18, "y0": y0, "y1": y1, "line": {"width": 0},
                       "fillcolor": _STAGE_FILL, "name": f"stage:{label}", "layer": "below"})
        annotations.append({"x": (8 + _LEFT - 18) / 2, "y": (y0 + y1) / 2, "text": f"<b>{label}</b>",
                            "showarrow": False, "textangle": -90, "font": {"size": 13, "color": "#0b3d62"},
                            "name": f"stage:{label}"})
    return shapes, annotations


def _arrows(boxes: list[_Box], arms, shapes: list, annotations: list) -> None:
    by = {b.name: b for b in boxes}

    def arrow(x0, y0, x1, y1, head=True):
        shapes.append({"type": "line", "x0": x0, "y0": y0, "x1": x1, "y1": y1,
                       "line": {"color": _BOX_LINE, "width": 1.2}, "name": "arrow"})
        if head:
            annotations.append({"x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x",
                                "ayref": "y", "showarrow": True, "arrowhead": 2, "arrowsize": 1.1,
                                "arrowwidth": 1.2, "arrowcolor": _BOX_LINE, "text": "", "name": "arrow"})

    a_box, r_box, e_box = by["box:assessed"], by["box:randomized"], by["box:excluded"]
    mid = (a_box.x0 + a_box.x1) / 2
    arrow(mid, a_box.y1, mid, r_box.y0)
    e_mid = (e_box.y0 + e_box.y1) / 2 if e_box.y1 - e_box.y0 < 60 else e_box.y0 + 20
    arrow(mid, e_mid, e_box.x0, e_mid)
    if not arms:
        return
    split_y = r_box.y1 + _GAP * 0.75
    arrow(mid, r_box.y1, mid, split_y, head=False)
    centers = [(by[f"box:allocated:{a}"].x0 + by[f"box:allocated:{a}"].x1) / 2 for a in arms]
    arrow(min(centers + [mid]), split_y, max(centers + [mid]), split_y, head=False)
    for a, c in zip(arms, centers):
        arrow(c, split_y, c, by[f"box:allocated:{a}"].y0)
        arrow(c, by[f"box:allocated:{a}"].y1, c, by[f"box:follow_up:{a}"].y0)
        arrow(c, by[f"box:follow_up:{a}"].y1, c, by[f"box:analysed:{a}"].y0)


def plot_consort(consort, *, title: str | None = None, width: int = 820, max_reasons: int = 12,
                 show_criteria: bool = True, filters: str | None = None):
    """A CONSORT 2010/2025-style participant flow diagram.

    Enrollment (assessed → excluded side box with its groups and, optionally, the criteria behind
    them → randomized), Allocation (one column per arm, in protocol dose order, headed with the
    allocation ratio such as 2:1), Follow-up (lost to follow-up, discontinued, off protocol after
    enrollment, with reasons; every subject in one of them at most) and Analysis (analysed, excluded
    from analysis). Stage labels sit in the left margin as in the CONSORT template. Criteria read as
    the protocol's labels with the thresholds in force (ids in the boxes' hover text); a flow
    computed under a what-if carries "WHAT-IF" in its title and an orange marker listing the changes.

    Parameters
    ----------
    consort : ConsortResult
        From :func:`trialkit.consort` (its counts are already reconciled).
    width : int, default 820
        Width in pixels (one data unit is one pixel, so text never scales). 820 fits a notebook's
        output area at 1280 pixels with JupyterLab's file browser open: both arms without scrolling.
    max_reasons : int
        Reasons listed per box before the rest are grouped.
    show_criteria : bool
        List the excluding criteria under each exclusion group.
    filters : str, optional
        The filter the flow was computed under, added to the title.

    Returns
    -------
    plotly.graph_objects.Figure
        Boxes are layout shapes named ``box:<box>[:<arm>]``; their text annotations carry the same
        name; arrows are shapes named ``arrow``.

    Examples
    --------
    >>> import trialkit as tk
    >>> fig = tk.consort(tk.load_study("data/demo/b1931036")).figure(width=900)
    >>> fig.layout.width
    900.0
    """
    lab = _labels(consort)
    W = float(width)
    top = _enrollment_boxes(consort, lab, W, max_reasons, show_criteria)
    arm_boxes, y_end, stages = _arm_boxes(consort, lab, W, top[-1].y1 + _GAP * 1.5, max_reasons)
    boxes = top + arm_boxes
    shapes, annotations = _box_shapes(boxes, [("Enrollment", 20.0, top[-1].y1), *stages])
    _arrows(boxes, list(consort.arms), shapes, annotations)
    H = y_end + 30
    head, head_px = _title_block(title or _state_title(f"CONSORT flow diagram{_pid(consort)}", consort, filters),
                                 consort)
    margin_t = head_px + 16
    annotations += _what_if_badge(consort)
    if consort.notes:
        annotations.append({"x": _LEFT, "y": H - 8, "xanchor": "left", "yanchor": "bottom", "showarrow": False,
                            "text": "<i>" + " ".join(consort.notes).replace("<", "&lt;")[:300] + "</i>",
                            "font": {"size": 10, "color": "#555"}, "name": "notes"})
    # one data unit = one pixel: the plot area is exactly W x H (text sizes are in pixels); an invisible
    # trace so the axes exist for the shapes in every renderer
    data = [{"type": "scatter", "x": [0, W], "y": [0, H], "mode": "markers", "marker": {"opacity": 0},
             "hoverinfo": "skip", "meta": "canvas"}]
    layout = {
        "shapes": shapes, "annotations": annotations, "width": W, "height": H + margin_t,
        "title": head,
        "xaxis": {"range": [0, W], "visible": False, "fixedrange": True},
        "yaxis": {"range": [H, 0], "visible": False, "fixedrange": True},
        "margin": {"l": 0, "r": 0, "t": margin_t, "b": 0, "pad": 0}, "showlegend": False, "plot_bgcolor": "white"}
    return figure_from_spec(data, layout)


def plot_screen_failure_rates(rates: pd.DataFrame, *, title: str | None = None, height: int | None = None,
                              min_screened: int = 1, layout: str = "ranked", top: int = 12,
                              filters: str | None = None):
    """Screen-failure rates by country (ranked dots or small multiples) or by site (heatmap).

    Parameters
    ----------
    rates : pandas.DataFrame
        From :func:`trialkit.eligibility.compute_screen_failure_rates` (its first column, ``country``
        or ``site_id``, decides the layout).
    min_screened : int
        Periods with fewer screened patients are shown empty (the rate of 1 patient is noise).
    layout : {"ranked", "panels"}
        By country: ``"ranked"`` — one dot per country at its rate over the whole period, countries
        ranked by rate, each labelled with its numerator and denominator (failed / evaluable, and the
        number screened); ``"panels"`` — small multiples, one panel per country over calendar time,
        each with the all-countries rate dashed.
    top : int
        The ``top`` countries by number screened are shown; the rest are pooled as "other (k
        countries)" (their counts summed), so nothing is dropped.
    filters : str, optional
        The filter the rates were computed under, added to the title.

    Returns
    -------
    plotly.graph_objects.Figure
        ranked: a dot trace ``meta="rate"`` (y = countries, best-to-worst top-down) and a line
        ``meta="overall"``; panels: one ``Scatter`` per country (``meta`` = country) and its
        ``overall`` line per panel; by site: one ``Heatmap`` (``meta="heatmap"``).

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_study("data/demo/b1931036")
    >>> r = tk.compute_screen_failure_rates(study, by="country")
    >>> [t.meta for t in plot_screen_failure_rates(r, top=5).data]
    ['rate', 'overall']
    """
    from ..errors import TrialkitError

    if layout not in ("ranked", "panels"):
        raise TrialkitError(f"layout={layout!r}; use 'ranked' (dots by country) or 'panels' (small multiples).")
    by = rates.columns[0]
    r = rates.copy()
    if by == "site_id":
        fig = _site_heatmap(r, min_screened, height)
    else:
        r = _top_groups(r, by, top)
        fig = _ranked_dots(r, by, height) if layout == "ranked" else _country_panels(r, by, min_screened, height)
    base = title or f"Screen-failure rate by {'site' if by == 'site_id' else by}"
    fig.update_layout(title={"text": base + (f" — {filters}" if filters and not title else "")})
    return fig


def _top_groups(r: pd.DataFrame, by: str, top: int) -> pd.DataFrame:
    """Keep the ``top`` groups by number screened; pool the rest as 'other (k countries)'."""
    screened = r.groupby(by, sort=False)["screened"].sum().sort_values(ascending=False, kind="stable")
    if len(screened) <= top:
        return r
    rest = list(screened.index[top:])
    other = f"other ({len(rest)} {by if by != 'country' else 'countries'})"
    pooled = (r[r[by].isin(rest)].groupby("period", sort=True)[["screened", "failed", "undetermined"]].sum()
              .reset_index().assign(**{by: other}))
    denom = (pooled["screened"] - pooled["undetermined"]).astype(float)
    pooled["rate"] = np.where(denom > 0, pooled["failed"] / denom.where(denom > 0, 1.0), np.nan)
    return pd.concat([r[~r[by].isin(rest)], pooled[r.columns]], ignore_index=True)


def _rate(failed, screened, undetermined) -> float:
    d = float(screened - undetermined)
    return float(failed) / d if d > 0 else float("nan")


def _ranked_dots(r: pd.DataFrame, by: str, height: int | None):
    g = r.groupby(by, sort=False)[["screened", "failed", "undetermined"]].sum()
    g["rate"] = [_rate(f, s, u) for f, s, u in zip(g["failed"], g["screened"], g["undetermined"])]
    g = g.sort_values(["rate", "screened"], ascending=[False, False], na_position="last", kind="stable")
    labels = [f"{name} (n={int(s):,})" for name, s in zip(g.index, g["screened"])]
    text = [f"{int(f):,}/{int(s - u):,}" for f, s, u in zip(g["failed"], g["screened"], g["undetermined"])]
    tot = g[["screened", "failed", "undetermined"]].sum()
    overall = _rate(tot["failed"], tot["screened"], tot["undetermined"])
    everyone = f"all {by if by != 'country' else 'countries'}"
    data = [{"type": "scatter", "x": g["rate"].tolist(), "y": labels, "mode": "markers+text", "text": text,
             "textposition": "middle right", "marker": {"size": 11, "color": FUNNEL_COLORS[2]}, "meta": "rate",
             "name": "screen-failure rate",
             "customdata": np.c_[g["failed"], g["screened"] - g["undetermined"], g["undetermined"]].tolist(),
             "hovertemplate": "%{y}<br>%{x:.0%}: %{customdata[0]} failed of %{customdata[1]} evaluable"
                              "<br>%{customdata[2]} undetermined (left out)<extra></extra>"},
            # the all-countries rate: a line over every row (the shape below), named in the legend here
            {"type": "scatter", "x": [None], "y": [None], "mode": "lines", "meta": "overall",
             "name": f"{everyone}: {overall:.0%}", "line": {"color": "#555", "dash": "dash", "width": 1.5},
             "hoverinfo": "skip"}]
    layout = {"shapes": [{"type": "line", "x0": overall, "x1": overall, "yref": "paper", "y0": 0, "y1": 1,
                          "layer": "below", "line": {"color": "#555", "dash": "dash", "width": 1.5}, "name": "overall"}],
              "height": height or max(300, 26 * len(labels) + 170),
              "xaxis": {"tickformat": ".0%", "range": [-0.02, 1.12],
                        "title": {"text": "screen-failure rate (failed / evaluable; text: failed/evaluable)"}},
              "yaxis": {"autorange": "reversed", "type": "category"},
              "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"},
              "margin": {"l": 10, "r": 30, "b": 90}}
    return figure_from_spec(data, layout)


def _country_panels(r: pd.DataFrame, by: str, min_screened: int, height: int | None):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    r = r.copy()
    r.loc[r["screened"] < min_screened, "rate"] = np.nan
    order = list(r.groupby(by, sort=False)["screened"].sum().sort_values(ascending=False, kind="stable").index)
    cols = 3
    rows = -(-len(order) // cols)
    n_of = r.groupby(by)["screened"].sum()
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes=True, shared_yaxes=True, vertical_spacing=0.12 / max(rows, 1) + 0.04,
                        subplot_titles=[f"{g} (n={int(n_of[g]):,})" for g in order])
    tot = r.groupby("period", sort=True)[["screened", "failed", "undetermined"]].sum()
    overall = [_rate(f, s, u) for f, s, u in zip(tot["failed"], tot["screened"], tot["undetermined"])]
    for i, g in enumerate(order):
        sub = r[r[by] == g].sort_values("period")
        row, col = i // cols + 1, i % cols + 1
        fig.add_trace(go.Scatter(x=list(tot.index), y=overall, mode="lines", meta="overall", showlegend=i == 0,
                                 name="all countries", line={"color": "#888", "dash": "dash", "width": 1},
                                 hoverinfo="skip"), row=row, col=col)
        fig.add_trace(go.Scatter(x=sub["period"].tolist(), y=sub["rate"].tolist(), mode="lines+markers",
                                 name=str(g), meta=str(g), connectgaps=True, showlegend=False,
                                 line={"color": FUNNEL_COLORS[0]},
                                 customdata=np.c_[sub["failed"], sub["screened"]].tolist(),
                                 hovertemplate=str(g) + " · %{x|%Y-%m}<br>%{y:.0%} (%{customdata[0]} of "
                                               "%{customdata[1]})<extra></extra>"), row=row, col=col)
    fig.update_yaxes(tickformat=".0%", range=[-0.05, 1.05], dtick=0.5)
    fig.update_layout(height=height or 150 * rows + 180, margin={"b": 80}, template="plotly_white",
                      legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"})
    return fig


def _site_heatmap(r: pd.DataFrame, min_screened: int, height: int | None):
    r.loc[r["screened"] < min_screened, "rate"] = np.nan
    piv = r.pivot_table(index="site_id", columns="period", values="rate", aggfunc="first", dropna=False)
    cnt = r.pivot_table(index="site_id", columns="period", values="screened", aggfunc="first", fill_value=0)
    piv = piv.reindex(columns=sorted(piv.columns))
    cnt = cnt.reindex(index=piv.index, columns=piv.columns, fill_value=0)
    data = [{"type": "heatmap", "z": piv.to_numpy(dtype=float).tolist(), "x": [pd.Timestamp(c) for c in piv.columns],
             "y": piv.index.astype(str).tolist(), "colorscale": "YlOrRd", "zmin": 0, "zmax": 1, "xgap": 1, "ygap": 1,
             "customdata": cnt.to_numpy().tolist(), "meta": "heatmap", "colorbar": {"title": {"text": "failure rate"}},
             "hovertemplate": "%{y} · %{x|%Y-%m}<br>rate %{z:.0%} of %{customdata} screened<extra></extra>"}]
    layout = {"height": height or max(360, 16 * len(piv) + 160), "xaxis": {"title": {"text": "period of screening"}},
              "yaxis": {"type": "category", "dtick": 1, "tickfont": {"size": 10}},
              "plot_bgcolor": "#f4f4f4"}  # grey = no screening in that period; 0 % is pale yellow
    return figure_from_spec(data, layout)
