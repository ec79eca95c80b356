"""The safety explorer: pick the arm grouping, a grade threshold, a system organ class and an AESI category.

Wiring only. :func:`compute_view` calls :func:`trialkit.ae_summary`, :func:`trialkit.ae_table` and
:func:`trialkit.aesi` and the figures of :mod:`trialkit.plots.safety` for one choice of the controls
and returns a :class:`SafetyView` (each part cached by the controls it depends on, so a change of grade
recomputes the table and its dot plot only); :func:`render_view` turns a view into the HTML shown; the widget
callbacks (:func:`on_control_change`, :func:`refresh`) are named functions a test calls without a
browser. Comparative safety results by arm of a running trial are for the Data Monitoring Committee.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from ..errors import TrialkitError
from ..safety import ae_summary, ae_table, aesi, aesi_categories
from ._common import ResultCache, cached, cached_html, figure_box, plotly_preload, show_figure

__all__ = ["safety_explorer", "compute_view", "explorer_options", "render_view", "SafetyView", "on_control_change",
           "refresh", "ALL_SOCS", "GRADES"]

ALL_SOCS = "All system organ classes"
#: grade control label -> lowest grade counted
GRADES = {"any grade": None, "grade ≥ 2": 2, "grade ≥ 3": 3, "grade ≥ 4": 4, "grade 5": 5}
_BY = {"arm": "as randomized (arm)", "actual_arm": "as treated (actual_arm)"}


@dataclass(frozen=True)
class SafetyView:
    """Everything the explorer shows for one choice of controls (None where not computable)."""

    summary: object | None
    table: object | None
    dotplot: object | None
    aesi: object | None
    incidence: object | None
    errors: tuple[str, ...] = field(default_factory=tuple)


def explorer_options(study) -> dict:
    """The choices each control offers for ``study``.

    Returns
    -------
    dict
        ``by`` (``{label: column}``: as randomized, and as treated when ``actual_arm`` is recorded),
        ``grade`` (labels of :data:`GRADES`), ``soc`` (:data:`ALL_SOCS` then the classes present) and
        ``category`` (the protocol's AESI categories, then any other the data name).
    """
    if not len(study.adverse_events):
        raise TrialkitError("this study has no adverse events to explore (its adverse_events table is empty)")
    by = {_BY["arm"]: "arm"}
    if "actual_arm" in study.randomization.columns and study.randomization["actual_arm"].notna().any():
        by[_BY["actual_arm"]] = "actual_arm"
    socs = sorted(pd.unique(study.adverse_events["soc"].dropna().astype(str)), key=str.casefold)
    cats = list(aesi_categories(study.protocol))
    cats += [c for c in pd.unique(study.adverse_events["aesi_category"].dropna().astype(str)) if c not in cats]
    return {"by": by, "grade": list(GRADES), "soc": [ALL_SOCS, *socs], "category": cats}


def compute_view(study, *, by: str = "arm", grade: str = "any grade", soc: str = ALL_SOCS,
                 category: str | None = None, min_pct: float = 0.0, top: int = 25,
                 cache: dict | None = None) -> SafetyView:
    """Compute what the explorer shows; a part that cannot be computed leaves its message in ``errors``.

    Parameters
    ----------
    study : Study
    by, grade, soc, category
        Values as offered by :func:`explorer_options` (``by`` is the column: ``"arm"`` or ``"actual_arm"``).
    min_pct : float, default 0
        Passed to :func:`trialkit.ae_table`.
    top : int, default 25
        Rows of the dot plot.
    cache : dict, optional
        Results of earlier calls, keyed by the controls each part depends on (the explorer keeps one):
        a change of grade recomputes the table and its dot plot, not the summary or the special interest.

    Returns
    -------
    SafetyView
    """
    from ..plots.safety import plot_ae_dotplot, plot_cumulative_incidence

    if grade not in GRADES:
        raise TrialkitError(f"grade must be one of {', '.join(GRADES)}, not {grade!r}")
    errors = []
    cache = {} if cache is None else cache
    sid = id(study)
    g = GRADES[grade]
    socs = None if soc in (None, ALL_SOCS) else soc
    summary = cached(cache, ("summary", sid, by), "summary", lambda: ae_summary(study, by=by), errors)
    key = ("table", sid, by, g, socs, min_pct)
    table = cached(cache, key, "table", lambda: ae_table(study, by=by, grade=g, soc=socs, min_pct=min_pct), errors)
    dot = cached(cache, ("dot plot", key, top), "dot plot", lambda: plot_ae_dotplot(
        table, top=top, title=f"Adverse events by preferred term ({grade}"
                              + (f", {soc}" if socs else "") + ")"), errors) if table is not None else None
    key = ("special interest", sid, by, category)
    special = cached(cache, key, "special interest", lambda: aesi(study, by=by, category=category),
                     errors) if category else None
    inc = cached(cache, ("incidence", key), "cumulative incidence", lambda: plot_cumulative_incidence(special),
                 errors) if special is not None else None
    return SafetyView(summary=summary, table=table, dotplot=dot, aesi=special, incidence=inc, errors=tuple(errors))


#: the explorer's tables wrap their text cells, so that every column (differences, CIs, the listing's
#: outcome) is in view at 1280 px with JupyterLab's file browser open, without a sideways scrollbar
_WRAP_CSS = ("<style>.tk-safety-explorer .tk-table td,.tk-safety-explorer .tk-table th{white-space:normal;"
             "padding-left:4px;padding-right:4px}.tk-safety-explorer .tk-table{max-width:100%}</style>")


#: the listing columns the explorer shows (the full listing has 15; all of them do not fit a laptop screen)
LISTING_COLUMNS = ("subject_id", "group", "study_day", "preferred_term", "grade", "serious", "related", "outcome")


def _compact_listing(result):
    if result is None or not hasattr(result, "listing"):
        return result
    from dataclasses import replace

    cols = [c for c in LISTING_COLUMNS if c in result.listing.columns]
    return replace(result, listing=result.listing[cols])


def _compact_html(result) -> str:
    return _compact_listing(result)._repr_html_()


def render_view(view: SafetyView, cache: dict | None = None) -> dict[str, str]:
    """HTML of each text panel: ``summary``, ``table``, ``aesi``, ``errors`` (each result rendered once
    when a ``cache`` is given)."""
    cache = {} if cache is None else cache

    def html(obj, empty="not available", render=None):
        return _WRAP_CSS + cached_html(cache, obj, render=render) if obj is not None else f"<i>{empty}</i>"

    errs = "".join(f"<li>{e}</li>" for e in view.errors)
    aesi_html = html(view.aesi, "choose a category of special interest", render=_compact_html)
    if view.aesi is not None and len(view.aesi.listing.columns) > len(LISTING_COLUMNS):
        aesi_html += ("<p class='tk-note'><i>Listing: the columns a reviewer reads first; the full listing "
                      "(site, reported term, SOC, dates, action taken) is the result's <code>.listing</code>.</i></p>")
    return {"summary": html(view.summary), "table": html(view.table, "no adverse event with these filters"),
            "aesi": aesi_html,
            "errors": f"<ul>{errs}</ul>" if errs else ""}


def _controls(widgets, options: dict, by: str, category: str | None) -> dict:
    layout = widgets.Layout(width="340px")
    style = {"description_width": "110px"}
    cat = category if category in options["category"] else (options["category"][0] if options["category"] else None)
    by_label = next((k for k, v in options["by"].items() if v == by), next(iter(options["by"])))
    c = {
        "by": widgets.Dropdown(options=list(options["by"]), value=by_label, description="Arms"),
        "grade": widgets.ToggleButtons(options=options["grade"], value="any grade", description="Grade"),
        "soc": widgets.Dropdown(options=options["soc"], value=ALL_SOCS, description="System organ class"),
        "category": widgets.Dropdown(options=options["category"], value=cat, description="Special interest"),
    }
    for name, w in c.items():
        if name != "grade":
            w.layout = layout
            w.style = style
        w.add_class(f"tk-safety-{name}")
    c["grade"].style = {"description_width": "110px", "button_width": "80px"}
    return c


def refresh(explorer) -> SafetyView:
    """Recompute the view from the explorer's controls and redraw every panel; return the view."""
    c = explorer.controls
    out = explorer.outputs
    out["status"].value = "<i>computing…</i>"
    by = explorer.options["by"][c["by"].value]
    view = compute_view(explorer.study, by=by, grade=c["grade"].value, soc=c["soc"].value,
                        category=c["category"].value, min_pct=explorer.min_pct, cache=explorer.cache)
    html = render_view(view, explorer.cache)
    for key in ("summary", "table", "aesi", "errors"):
        out[key].value = html[key]
    for key, fig in (("dotplot", view.dotplot), ("incidence", view.incidence)):
        show_figure(out[key], fig)
    explorer.view = view
    out["status"].value = (f"<span class='tk-safety-state'>{by} · {c['grade'].value} · {c['soc'].value} · "
                           f"{c['category'].value}</span>")
    return view


def on_control_change(explorer, change) -> None:
    """Callback of every control: redraw when a value changed."""
    if change.get("name") == "value" and change.get("new") != change.get("old"):
        refresh(explorer)


def safety_explorer(data, *, by: str = "arm", category: str | None = "hepatic_vod_sos", min_pct: float = 0.0):
    """Interactive safety explorer for a :class:`~trialkit.Study` with adverse events.

    Controls: arms as randomized or as treated, the lowest CTCAE grade counted, one system organ
    class, the category of special interest. Panels: the AE summary, the SOC/PT table with risk
    differences, the AE dot plot, and the special-interest summary, cumulative incidence (death as a
    competing risk) and listing. The safety population (``disposition.safety``, else the treated)
    and treatment-emergent events, as in :func:`trialkit.ae_table`.

    Parameters
    ----------
    data : Study
    by : {"arm", "actual_arm"}, default "arm"
    category : str, optional
        Initial category of special interest (default hepatic VOD/SOS; the first the study knows when
        it does not know that one).
    min_pct : float, default 0
        Rows of the table below this incidence in every group are not shown.

    Returns
    -------
    ipywidgets.VBox
        With attributes ``study``, ``controls``, ``outputs``, ``options`` and ``view`` (the last
        :class:`SafetyView`), so it can be driven from code.

    Examples
    --------
    >>> tk.safety_explorer(tk.load_study("data/demo/b1931036"))  # doctest: +SKIP
    """
    import ipywidgets as widgets

    options = explorer_options(data)
    controls = _controls(widgets, options, by, category)
    outputs = {"status": widgets.HTML(), "errors": widgets.HTML(), "summary": widgets.HTML(),
               "dotplot": figure_box(widgets), "table": widgets.HTML(), "aesi": widgets.HTML(),
               "incidence": figure_box(widgets)}
    for name, w in outputs.items():
        w.add_class(f"tk-safety-{name}")
    # the controls wrap onto a second line in a narrow notebook (1280 px with the file browser open)
    row = widgets.HBox([controls["by"], controls["soc"], controls["category"]],
                       layout=widgets.Layout(flex_flow="row wrap"))
    box = widgets.VBox([row, controls["grade"],
                        outputs["status"], outputs["errors"], outputs["summary"], outputs["dotplot"], outputs["table"],
                        outputs["incidence"], outputs["aesi"], plotly_preload(widgets)])
    box.add_class("tk-safety-explorer")
    box.study = data
    box.controls = controls
    box.outputs = outputs
    box.options = options
    box.min_pct = min_pct
    box.cache = ResultCache()
    box.view = None
    for w in controls.values():
        w.observe(partial(on_control_change, box), names="value")
    refresh(box)
    return box
