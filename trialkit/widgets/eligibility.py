"""The eligibility explorer: filters and what-if rule controls over studies, wiring only.

Every count comes from :mod:`trialkit.eligibility` and every figure from
:mod:`trialkit.plots.eligibility`. The data step is :func:`compute_view` (pure: a study, its prepared
screening data, filters and rule changes in; an :class:`EligibilityView` out), so the explorer's
update cost can be measured and tested without widgets. The callbacks are plain named functions
taking the explorer (and the ipywidgets change), so tests call them without a browser:

* :func:`on_protocol_change` — another study: rebuild the filter choices and rule controls, refresh;
* :func:`on_filter_change` — country / site / screening date range changed: refresh;
* :func:`on_rule_change` — a criterion switched on/off or a threshold moved: refresh;
* :func:`on_reset` — back to the protocol as written;
* :func:`on_tab_change` — a tab opened: draw it if the view changed (only the visible tab is drawn
  on each update, so an update costs its computation plus one figure);
* :func:`on_export` — write the current exclusion list to CSV.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.export import write_table
from ._common import as_study_map

__all__ = ["eligibility_explorer", "EligibilityExplorer", "EligibilityView", "compute_view", "filter_mask",
           "filter_study", "on_protocol_change", "on_filter_change", "on_rule_change", "on_reset", "on_export",
           "on_tab_change", "render_tab", "refresh", "ALL", "TABS"]

ALL = "(all)"
_CONSORT_COLUMNS = ("subject_id", "site_id", "screening_outcome", "screen_failure_reason")


def _countries(study) -> pd.Series:
    """Country per screening row: the row's own, else its site's."""
    scr = study.screening
    own = scr["country"].astype("string") if "country" in scr else pd.Series(pd.NA, index=scr.index, dtype="string")
    if len(study.sites):
        by_site = scr["site_id"].map(study.sites.drop_duplicates("site_id").set_index("site_id")["country"])
        own = own.where(own.notna(), by_site.astype("string"))
    return own.reset_index(drop=True)


def filter_mask(study, *, country: str | None = None, site: str | None = None, date_from=None,
                date_to=None) -> np.ndarray:
    """Boolean mask over the screening rows (``None``/``"(all)"`` = no filter; dates inclusive)."""
    scr = study.screening
    keep = np.ones(len(scr), dtype=bool)
    if country not in (None, ALL):
        keep &= _countries(study).eq(country).fillna(False).to_numpy(dtype=bool)
    if site not in (None, ALL):
        keep &= scr["site_id"].astype("string").eq(site).fillna(False).to_numpy(dtype=bool)
    dates = pd.to_datetime(scr["screening_date"], errors="coerce")
    if date_from is not None:
        keep &= (dates >= pd.Timestamp(date_from)).to_numpy(dtype=bool)
    if date_to is not None:
        keep &= (dates <= pd.Timestamp(date_to)).to_numpy(dtype=bool)
    return keep


def filter_study(study, mask: np.ndarray, *, columns=None):
    """The study restricted to the screened rows in ``mask`` and the randomized subjects among them.

    ``columns`` keeps only those screening columns (the CONSORT flow needs few; faster on large data).
    """
    scr = study.screening if columns is None else study.screening[[c for c in columns if c in study.screening]]
    scr = scr.loc[mask].reset_index(drop=True)
    ids = set(scr["subject_id"].astype(str))

    def sub(df):
        return df.loc[df["subject_id"].astype(str).isin(ids).to_numpy()].reset_index(drop=True) if len(df) else df

    return study.replace(screening=scr, randomization=sub(study.randomization),
                         disposition=sub(study.disposition))


@dataclass(frozen=True)
class EligibilityView:
    """What the explorer shows for one state of filters and rules."""

    result: object  # EligibilityResult of the filtered screening rows, rules as changed
    funnel: object  # FunnelResult
    consort: object | None  # ConsortResult (None when it cannot be built, see consort_error)
    eligible: int
    eligible_as_written: int
    undetermined: int
    not_eligible: int
    screened: int
    consort_error: str = ""

    @cached_property
    def exclusions(self) -> pd.DataFrame:
        """The exclusion list (first excluding criterion per subject), built when first asked for."""
        from ..eligibility import exclusion_list

        return exclusion_list(self.result, first_only=True)

    @property
    def delta(self) -> int:
        """Change of the eligible count versus the protocol as written (same filters)."""
        return self.eligible - self.eligible_as_written

    def headline_html(self) -> str:
        sign = "+" if self.delta > 0 else ("±" if self.delta == 0 else "−")
        return (f"<div class='eligible-count'><b>Eligible: {self.eligible:,}</b> of {self.screened:,} screened "
                f"<span class='eligible-delta'>({sign}{abs(self.delta):,} vs protocol as written: "
                f"{self.eligible_as_written:,})</span> · {self.not_eligible:,} excluded · "
                f"{self.undetermined:,} undetermined (input missing)</div>")


def compute_view(study, prepared, *, mask: np.ndarray | None = None, thresholds: Mapping | None = None,
                 disabled=(), consort: bool = True) -> EligibilityView:
    """Evaluate the rules (as changed) on the filtered rows and build funnel, CONSORT and exclusion list.

    Parameters
    ----------
    study : Study
    prepared : PreparedScreening
        ``prepare_screening(study)``, reused across updates (criterion codes are cached per threshold).
    mask : numpy.ndarray of bool, optional
        Screening rows kept by the filters (:func:`filter_mask`); all rows when omitted.
    thresholds, disabled
        The what-if changes (see :func:`trialkit.evaluate_eligibility`).
    """
    from ..eligibility import consort as build_consort
    from ..eligibility import evaluate_eligibility, funnel
    from ..eligibility.consort import flow_inputs
    from ..errors import TrialkitError

    full = evaluate_eligibility(prepared, protocol=study.protocol, thresholds=thresholds or None,
                                disabled=tuple(disabled))
    if "as_written" not in prepared.memo:  # the protocol as written, once per study
        prepared.memo["as_written"] = evaluate_eligibility(prepared, protocol=study.protocol).eligible.eq(
            True).to_numpy(dtype=bool, na_value=False)
    if mask is None:
        mask = np.ones(len(full), dtype=bool)
    res = full.select(mask)
    as_written = int(np.count_nonzero(prepared.memo["as_written"] & mask))
    fun = funnel(res)
    flow, err = None, ""
    if consort:
        try:
            if "flow_inputs" not in prepared.memo:
                prepared.memo["flow_inputs"] = flow_inputs(study)
            flow = build_consort(study, eligibility=res, reasons="rules", rows=mask,
                                 inputs=prepared.memo["flow_inputs"])
        except TrialkitError as exc:  # shown in the CONSORT tab, never hidden
            err = str(exc)
    k = res.counts()
    return EligibilityView(result=res, funnel=fun, consort=flow, eligible=k["eligible"],
                           eligible_as_written=as_written, undetermined=k["undetermined"],
                           not_eligible=k["not eligible"], screened=k["screened"], consort_error=err)


@dataclass
class EligibilityExplorer:
    """Holds the widgets, the studies and their prepared screening data; ``.widget`` is displayed."""

    studies: dict
    w: dict = field(default_factory=dict)
    widget: object = None
    prepared: dict = field(default_factory=dict)
    switches: dict = field(default_factory=dict)  # criterion id -> Checkbox
    thresholds: dict = field(default_factory=dict)  # parameter -> FloatText
    last: dict = field(default_factory=dict)
    export_path: str = "eligibility_exclusions.csv"

    @property
    def study(self):
        return self.studies[self.w["protocol"].value]

    def prep(self):
        from ..eligibility import prepare_screening

        key = self.w["protocol"].value
        if key not in self.prepared:
            self.prepared[key] = prepare_screening(self.study)
        return self.prepared[key]

    def state(self) -> dict:
        """The current filters and rule changes (only thresholds that differ from the protocol)."""
        w = self.w
        crits = _criteria(self.study)
        defaults = {p: v for c in crits for p, v in c.params.items()}
        thr = {p: float(t.value) for p, t in self.thresholds.items() if float(t.value) != float(defaults[p])}
        off = tuple(cid for cid, cb in self.switches.items() if not cb.value)
        return {"country": w["country"].value, "site": w["site"].value, "date_from": w["date_from"].value,
                "date_to": w["date_to"].value, "thresholds": thr, "disabled": off}

    def current(self) -> EligibilityView:
        """Compute the view for the current widget state (no rendering)."""
        st = self.state()
        mask = filter_mask(self.study, country=st["country"], site=st["site"], date_from=st["date_from"],
                           date_to=st["date_to"])
        return compute_view(self.study, self.prep(), mask=mask, thresholds=st["thresholds"],
                            disabled=st["disabled"])

    def _repr_mimebundle_(self, **kwargs):  # pragma: no cover - display in Jupyter
        return self.widget._repr_mimebundle_(**kwargs)


def _criteria(study):
    from ..eligibility import criteria_from_protocol

    return criteria_from_protocol(study.protocol)


def _filter_options(study):
    countries = sorted(pd.unique(_countries(study).dropna().astype(str)))
    sites = sorted(pd.unique(study.screening["site_id"].dropna().astype(str)))
    dates = pd.to_datetime(study.screening["screening_date"], errors="coerce").dropna()
    return countries, sites, (dates.min(), dates.max()) if len(dates) else (None, None)


def _rule_controls(ex: EligibilityExplorer):
    """Build one switch per criterion and one number box per threshold for the current protocol."""
    import ipywidgets as W

    crits = _criteria(ex.study)
    ex.switches, ex.thresholds = {}, {}
    rows = []
    for c in crits:
        cb = W.Checkbox(value=True, description=f"{c.id}: {c.label}", indent=False,
                        layout=W.Layout(width="430px"), tooltip=c.text[:300])
        cb.add_class("tk-elig-switch")
        cb.add_class(f"tk-elig-switch-{c.id}")
        cb.observe(lambda ch: on_rule_change(ex, ch), names="value")
        ex.switches[c.id] = cb
        boxes = []
        for p, v in c.params.items():
            t = W.FloatText(value=float(v), description=p, step=0.5, style={"description_width": "initial"},
                            layout=W.Layout(width=f"{max(190, 7 * len(p) + 90)}px"))
            t.add_class("tk-elig-threshold")
            t.add_class(f"tk-elig-threshold-{p}")
            t.observe(lambda ch: on_rule_change(ex, ch), names="value")
            ex.thresholds[p] = t
            boxes.append(t)
        rows.append(W.HBox([cb, W.HBox(boxes, layout=W.Layout(flex_flow="row wrap"))]))
    return rows


def on_protocol_change(ex: EligibilityExplorer, change=None) -> None:
    """Refill the filter choices and rebuild the rule controls for the chosen study; refresh."""
    w = ex.w
    countries, sites, (d0, d1) = _filter_options(ex.study)
    ex.last["refreshing"] = True
    try:
        w["country"].options = [ALL, *countries]
        w["country"].value = ALL
        w["site"].options = [ALL, *sites]
        w["site"].value = ALL
        w["date_from"].value = d0.date() if d0 is not None else None
        w["date_to"].value = d1.date() if d1 is not None else None
        w["rules"].children = _rule_controls(ex)
    finally:
        ex.last["refreshing"] = False
    refresh(ex)


def on_filter_change(ex: EligibilityExplorer, change=None) -> None:
    """Filters changed: keep the site list consistent with the country, then refresh."""
    if ex.last.get("refreshing"):
        return
    w = ex.w
    owner = change.get("owner") if isinstance(change, Mapping) else getattr(change, "owner", None)
    if owner is w["country"]:
        st = ex.study
        c = _countries(st)
        ids = st.screening["site_id"].astype("string")
        sites = ids if w["country"].value == ALL else ids[c.eq(w["country"].value).fillna(False).to_numpy(dtype=bool)]
        ex.last["refreshing"] = True
        try:
            w["site"].options = [ALL, *sorted(pd.unique(sites.dropna().astype(str)))]
            w["site"].value = ALL
        finally:
            ex.last["refreshing"] = False
    refresh(ex)


def on_rule_change(ex: EligibilityExplorer, change=None) -> None:
    """A criterion was switched or a threshold moved: refresh (bad input is reported, not raised)."""
    if ex.last.get("refreshing"):
        return
    refresh(ex)


def on_reset(ex: EligibilityExplorer, button=None) -> None:
    """Back to the protocol as written: every criterion on, every threshold at its protocol value."""
    defaults = {p: v for c in _criteria(ex.study) for p, v in c.params.items()}
    ex.last["refreshing"] = True
    try:
        for cb in ex.switches.values():
            cb.value = True
        for p, t in ex.thresholds.items():
            t.value = float(defaults[p])
    finally:
        ex.last["refreshing"] = False
    refresh(ex)


def on_export(ex: EligibilityExplorer, button=None) -> Path | None:
    """Write the current exclusion list (first excluding criterion per subject) to ``ex.export_path``."""
    view = ex.last.get("view")
    if view is None:
        return None
    path = Path(ex.export_path)
    write_table(view.exclusions, path)
    ex.w["export_status"].value = f"<span class='tk-elig-export'>Wrote {len(view.exclusions):,} rows to {path}</span>"
    return path


TABS = ("Funnel", "CONSORT", "Exclusion list", "Screen-failure rate")


def refresh(ex: EligibilityExplorer) -> EligibilityView | None:
    """Recompute the view, update the headline and render the visible tab (the others on demand)."""
    from ..errors import TrialkitError

    w = ex.w
    try:
        view = ex.current()
    except TrialkitError as exc:
        w["count"].value = f"<div class='eligible-count tk-elig-error'>Cannot evaluate: {exc}</div>"
        return None
    ex.last["view"] = view
    changes = ex.state()
    note = []
    if changes["disabled"]:
        note.append("switched off: " + ", ".join(changes["disabled"]))
    if changes["thresholds"]:
        note.append("thresholds: " + ", ".join(f"{k} = {v:g}" for k, v in changes["thresholds"].items()))
    w["count"].value = view.headline_html() + (
        f"<div class='tk-elig-changes'>What-if — {'; '.join(note)}</div>" if note else
        "<div class='tk-elig-changes'>Protocol as written.</div>")
    ex.last["stale"] = set(range(len(TABS)))
    render_tab(ex, w["tabs"].selected_index or 0)
    return view


def on_tab_change(ex: EligibilityExplorer, change=None) -> None:
    """A tab was opened: render it if the view changed since it was last drawn."""
    index = change.get("new") if isinstance(change, Mapping) else getattr(change, "new", None)
    if index is None:
        index = ex.w["tabs"].selected_index or 0
    if index in ex.last.get("stale", set()):
        render_tab(ex, index)


def render_tab(ex: EligibilityExplorer, index: int) -> None:
    """Draw one tab (0 funnel, 1 CONSORT, 2 exclusion list, 3 screen-failure rate) from the last view."""
    from ..eligibility import compute_screen_failure_rates
    from ..plots.eligibility import plot_consort, plot_funnel, plot_screen_failure_rates
    from ..tables import frame_html

    w, view = ex.w, ex.last.get("view")
    if view is None:
        return
    if index == 0:
        _show(w["funnel_out"], plot_funnel(view.funnel) if view.screened else None)
    elif index == 1:
        if view.consort is not None:
            _show(w["consort_out"], plot_consort(view.consort, width=980))
        else:
            _show(w["consort_out"], None, html=f"<p>CONSORT flow unavailable: {view.consort_error}</p>")
    elif index == 2:
        ex_head = view.exclusions.drop(columns=["text"]).head(200)
        w["exclusions"].value = frame_html(ex_head, caption=(
            f"{len(view.exclusions):,} subjects excluded (first excluding criterion each; first 200 shown). "
            "Export writes them all."))
    elif index == 3 and view.screened:
        rates = compute_screen_failure_rates(view.result, by="country", freq="QS")
        _show(w["rates_out"], plot_screen_failure_rates(rates, min_screened=3))
    ex.last.setdefault("stale", set()).discard(index)


def _show(out, fig, html: str | None = None) -> None:
    from IPython.display import HTML, display

    out.clear_output(wait=True)
    with out:
        if fig is not None:
            display(fig)
        elif html:
            display(HTML(html))


def eligibility_explorer(data, *, export_path: str = "eligibility_exclusions.csv") -> EligibilityExplorer:
    """Build the eligibility explorer over one or more studies.

    Parameters
    ----------
    data : Study, sequence of Study or mapping {name: Study}
        The studies to choose from (e.g. the two demo studies).
    export_path : str
        Where the "Export exclusion list" button writes its CSV.

    Returns
    -------
    EligibilityExplorer
        Display it (or its ``.widget``) in a notebook.

    Examples
    --------
    >>> ex = eligibility_explorer(tk.load_study("../data/demo/b1931036"))  # doctest: +SKIP
    >>> ex  # doctest: +SKIP
    """
    from .._optional import require

    W = require("ipywidgets", feature="eligibility_explorer")

    studies = as_study_map(data, "eligibility_explorer")
    lay = W.Layout(width="260px")
    w = {
        "protocol": W.Dropdown(options=list(studies), description="Study", layout=lay),
        "country": W.Dropdown(options=[ALL], description="Country", layout=lay),
        "site": W.Dropdown(options=[ALL], description="Site", layout=lay),
        "date_from": W.DatePicker(description="Screened from"),
        "date_to": W.DatePicker(description="to"),
        "reset": W.Button(description="Protocol as written", button_style="info"),
        "export": W.Button(description="Export exclusion list (CSV)"),
        "export_status": W.HTML(),
        "count": W.HTML(),
        "rules": W.VBox(),
        "funnel_out": W.Output(),
        "consort_out": W.Output(),
        "exclusions": W.HTML(),
        "rates_out": W.Output(),
    }
    ex = EligibilityExplorer(studies=studies, w=w, export_path=export_path)
    for k in ("protocol", "country", "site", "reset", "export", "count"):
        w[k].add_class(f"tk-elig-{k}")
    w["protocol"].observe(lambda ch: on_protocol_change(ex, ch), names="value")
    for k in ("country", "site", "date_from", "date_to"):
        w[k].observe(lambda ch: on_filter_change(ex, ch), names="value")
    w["reset"].on_click(lambda b: on_reset(ex, b))
    w["export"].on_click(lambda b: on_export(ex, b))
    filters = W.HBox([w["protocol"], w["country"], w["site"], w["date_from"], w["date_to"]])
    rules = W.Accordion(children=[W.VBox([w["reset"], w["rules"]])])
    rules.set_title(0, "What-if: switch criteria off, move thresholds")
    tabs = W.Tab(children=[W.VBox([w["funnel_out"]]), W.VBox([w["consort_out"]]),
                           W.VBox([W.HBox([w["export"], w["export_status"]]), w["exclusions"]]),
                           W.VBox([w["rates_out"]])])
    for i, t in enumerate(TABS):
        tabs.set_title(i, t)
    tabs.selected_index = 0
    w["tabs"] = tabs
    tabs.observe(lambda ch: on_tab_change(ex, ch), names="selected_index")
    ex.widget = W.VBox([filters, w["count"], rules, tabs])
    on_protocol_change(ex)
    return ex
