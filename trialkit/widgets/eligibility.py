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
* :func:`on_export` — "Export this view": the visible tab's table (CSV or XLSX) and figure (HTML).

Every view carries its state: the funnel, CONSORT and screen-failure titles name the filter ("Germany
· site DE02") and, under a what-if, say so and list what was changed with the threshold in use
("Marrow blasts ≥ 25 % (protocol 5 %)"); the CONSORT tab applies the what-if. Criteria and thresholds
read as the protocol's label dictionary (``labels:`` in its YAML), ids in the hover text; thresholds
are bounded inputs with their unit, and a minimum above its maximum is refused with a message. The
explorer opens with a banner of what needs attention (randomized patients the rules exclude first).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..labels import labels_for
from ._common import (
    as_study_map,
    export_view,
    figure_box,
    plotly_preload,
    safe_name,
    show_figure,
    signals_html,
    warm_up_display,
)

__all__ = ["eligibility_explorer", "EligibilityExplorer", "EligibilityView", "compute_view", "filter_mask",
           "filter_study", "filter_text", "on_protocol_change", "on_filter_change", "on_rule_change", "on_reset",
           "on_export", "on_tab_change", "render_tab", "refresh", "view_table_and_figure", "ALL", "TABS"]

ALL = "(all)"
_CONSORT_COLUMNS = ("subject_id", "site_id", "screening_outcome", "screen_failure_reason")


_PER_STUDY: dict = {}


def _per_study(study, name: str, compute):
    """``compute()`` once per study object (filter choices and countries do not change between updates)."""
    key = (id(study), name)
    hit = _PER_STUDY.get(key)
    if hit is None or hit[0] is not study:
        if len(_PER_STUDY) > 64:
            _PER_STUDY.clear()
        hit = _PER_STUDY[key] = (study, compute())
    return hit[1]


def _countries(study) -> pd.Series:
    """Country per screening row: the row's own, else its site's."""
    return _per_study(study, "countries", lambda: _row_countries(study))


def _row_countries(study) -> pd.Series:
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
    dates = scr["screening_date"]
    if dates.dtype != np.dtype("datetime64[ns]"):  # (a column of dates is read as it is)
        dates = pd.to_datetime(dates, errors="coerce")
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
    randomized_excluded: tuple = ()  # randomized subjects whom the rules (as changed) exclude
    randomized_undetermined: tuple = ()  # randomized subjects with an input missing, none excluding
    site_failures_rules_eligible: int = 0  # recorded screen failures the rules find eligible

    def signals(self, what_if: str = "") -> list[tuple[str, str]]:
        """What deserves attention, most important first (the explorer's banner)."""
        out = []
        under = "under this what-if" if what_if else "under the protocol as written"
        if self.randomized_excluded:
            ids = ", ".join(self.randomized_excluded[:8]) + (" …" if len(self.randomized_excluded) > 8 else "")
            out.append(("alert", f"{len(self.randomized_excluded)} randomized patient(s) excluded by the rules "
                                 f"{under}: {ids}"))
        if self.randomized_undetermined:
            out.append(("watch", f"{len(self.randomized_undetermined)} randomized patient(s) with eligibility "
                                 "undetermined (an input missing): "
                                 + ", ".join(self.randomized_undetermined[:8])
                                 + (" …" if len(self.randomized_undetermined) > 8 else "")))
        if self.site_failures_rules_eligible:
            out.append(("watch", f"{self.site_failures_rules_eligible} site-recorded screen failure(s) that the "
                                 f"rules find eligible {under}"))
        if self.consort_error:
            out.append(("alert", f"CONSORT flow unavailable: {self.consort_error}"))
        return out

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
        written = full if not thresholds and not tuple(disabled) else evaluate_eligibility(prepared,
                                                                                          protocol=study.protocol)
        prepared.memo["as_written"] = written.eligible.eq(True).to_numpy(dtype=bool, na_value=False)
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
    excl, undet, site_fail = _randomized_signals(study, prepared, res, mask)
    return EligibilityView(result=res, funnel=fun, consort=flow, eligible=k["eligible"],
                           eligible_as_written=as_written, undetermined=k["undetermined"],
                           not_eligible=k["not eligible"], screened=k["screened"], consort_error=err,
                           randomized_excluded=excl, randomized_undetermined=undet,
                           site_failures_rules_eligible=site_fail)


def _randomized_signals(study, prepared, res, mask) -> tuple[tuple, tuple, int]:
    """(randomized subjects the rules exclude, randomized with eligibility undetermined, site screen
    failures the rules find eligible) among the filtered rows."""
    if "randomized" not in prepared.memo:
        ids = set(study.randomization["subject_id"].astype(str)) if len(study.randomization) else set()
        prepared.memo["randomized"] = study.screening["subject_id"].astype(str).isin(ids).to_numpy()
    rnd = prepared.memo["randomized"][mask]
    verdict = res.eligible.reset_index(drop=True)
    sid = np.asarray(res.subject_ids, dtype=object)
    excluded = tuple(sid[rnd & verdict.eq(False).fillna(False).to_numpy(dtype=bool)].astype(str))
    undetermined = tuple(sid[rnd & verdict.isna().to_numpy()].astype(str))
    outcome = res.context["screening_outcome"] if "screening_outcome" in res.context else None
    site_fail = 0
    if outcome is not None:
        failed = outcome.astype("string").eq("screen failure").fillna(False).to_numpy(dtype=bool)
        site_fail = int(np.count_nonzero(failed & verdict.eq(True).fillna(False).to_numpy(dtype=bool)))
    return excluded, undetermined, site_fail


@dataclass
class EligibilityExplorer:
    """Holds the widgets, the studies and their prepared screening data; ``.widget`` is displayed."""

    studies: dict
    w: dict = field(default_factory=dict)
    widget: object = None
    prepared: dict = field(default_factory=dict)
    switches: dict = field(default_factory=dict)  # criterion id -> Checkbox
    thresholds: dict = field(default_factory=dict)  # parameter -> BoundedFloatText
    last: dict = field(default_factory=dict)
    export_dir: str = "."
    consort_width: int = 800

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

    @property
    def labels(self):
        return labels_for(self.study.protocol)

    def filter_text(self) -> str:
        """The filters in words, for titles: ``"Germany · site DE02 · screened 2024-01-01 to 2024-06-30"``."""
        return filter_text(self.study, **{k: v for k, v in self.state().items()
                                          if k in ("country", "site", "date_from", "date_to")})

    def what_if_text(self) -> str:
        """What the rules changed, in words ("" for the protocol as written)."""
        from ..plots.eligibility import what_if_text

        view = self.last.get("view")
        return what_if_text(view.funnel) if view is not None else ""

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
    return _per_study(study, "filter_options", lambda: _compute_filter_options(study))


def _compute_filter_options(study):
    countries = sorted(pd.unique(_countries(study).dropna().astype(str)))
    sites = sorted(pd.unique(study.screening["site_id"].dropna().astype(str)))
    dates = pd.to_datetime(study.screening["screening_date"], errors="coerce").dropna()
    return countries, sites, (dates.min(), dates.max()) if len(dates) else (None, None)


def filter_text(study, *, country=None, site=None, date_from=None, date_to=None) -> str:
    """The filters in words (empty when none): ``"Germany · site DE02 · screened from 2024-01-01"``."""
    parts = []
    if country not in (None, ALL):
        parts.append(str(country))
    if site not in (None, ALL):
        parts.append(f"site {site}")
    _, _, (d0, d1) = _filter_options(study)
    lo = pd.Timestamp(date_from) if date_from is not None else None
    hi = pd.Timestamp(date_to) if date_to is not None else None
    narrowed_lo = lo is not None and d0 is not None and lo > d0.normalize()
    narrowed_hi = hi is not None and d1 is not None and hi < d1.normalize()
    if narrowed_lo and narrowed_hi:
        parts.append(f"screened {lo:%Y-%m-%d} to {hi:%Y-%m-%d}")
    elif narrowed_lo:
        parts.append(f"screened from {lo:%Y-%m-%d}")
    elif narrowed_hi:
        parts.append(f"screened to {hi:%Y-%m-%d}")
    return " · ".join(parts)


def _rule_controls(ex: EligibilityExplorer):
    """One switch per criterion (its clinical label; id and wording in the tooltip) and one bounded number
    box per threshold (label, unit and range from the protocol's label dictionary)."""
    import ipywidgets as W

    crits = _criteria(ex.study)
    lab = ex.labels
    ex.switches, ex.thresholds = {}, {}
    rows = []
    # one layout (and style) object per distinct look, shared by the controls that have it: every widget
    # object costs its construction and its state message, and a study has dozens of controls
    wrap, switch = W.Layout(flex_flow="row wrap"), W.Layout(width="440px")
    widths: dict[str, object] = {}
    style: object = {"description_width": "initial"}  # the first box's style object, then shared
    for c in crits:
        cb = W.Checkbox(value=True, description=lab.criterion(c.id, c.params, default=c.label), indent=False,
                        layout=switch, tooltip=f"{c.id}: {c.text}"[:400])
        cb.add_class("tk-elig-switch")
        cb.add_class(f"tk-elig-switch-{c.id}")
        cb.observe(lambda ch: on_rule_change(ex, ch), names="value")
        ex.switches[c.id] = cb
        boxes = []
        for p, v in c.params.items():
            t = lab.threshold(p)
            width = f"{max(210, 7 * len(t.label + t.unit) + 120)}px"
            if width not in widths:
                widths[width] = W.Layout(width=width)
            box = W.BoundedFloatText(value=float(v), min=t.min if t.min is not None else -1e12,
                                     max=t.max if t.max is not None else 1e12, step=t.step,
                                     description=f"{t.label}" + (f" ({t.unit})" if t.unit else ""),
                                     tooltip=f"{p}: {t.describe(v)} in the protocol; allowed "
                                             f"{t.with_unit(t.min)} to {t.with_unit(t.max)}",
                                     style=style, layout=widths[width])
            style = box.style
            box.add_class("tk-elig-threshold")
            box.add_class(f"tk-elig-threshold-{p}")
            box.observe(lambda ch: on_rule_change(ex, ch), names="value")
            ex.thresholds[p] = box
            boxes.append(box)
        rows.append(W.HBox([cb, W.HBox(boxes, layout=wrap)], layout=wrap))
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
    """A criterion was switched or a threshold moved: refresh (bad input is reported, not raised).

    A minimum set above its maximum (e.g. minimum age 20 with maximum age 18) is refused: the message
    says which and the view stays as it was.
    """
    if ex.last.get("refreshing"):
        return
    problems = ex.labels.check_thresholds({p: t.value for p, t in ex.thresholds.items()})
    if problems:
        ex.w["rule_error"].value = ("<div class='tk-elig-rule-error' style='color:#b3261e'><b>Not applied:</b> "
                                    + " ".join(html.escape(p) for p in problems) + "</div>")
        return
    ex.w["rule_error"].value = ""
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
    ex.w["rule_error"].value = ""
    refresh(ex)


def view_table_and_figure(ex: EligibilityExplorer, index: int | None = None):
    """The visible tab's table and figure (the figure is None for the exclusion list)."""
    view = ex.last.get("view")
    index = ex.w["tabs"].selected_index or 0 if index is None else index
    if view is None:
        return None, None
    if index == 0:
        return view.funnel.summary, _figure(ex, 0)
    if index == 1:
        return (view.consort.summary if view.consort is not None else None), _figure(ex, 1)
    if index == 2:
        return view.exclusions, None
    return _rates(ex), _figure(ex, 3)


def on_export(ex: EligibilityExplorer, button=None) -> list[Path]:
    """"Export this view": the visible tab's table (CSV or XLSX, as chosen) and its figure (HTML) in
    ``ex.export_dir``, named after the study, the tab and the filters; the status line lists the files."""
    from ..errors import TrialkitError

    index = ex.w["tabs"].selected_index or 0
    table, fig = view_table_and_figure(ex, index)
    stem = safe_name(ex.w["protocol"].value, TABS[index].lower(), ex.filter_text(),
                     "what-if" if ex.what_if_text() else "")
    try:
        paths = export_view(ex.export_dir, stem, table=table, figure=fig, fmt=ex.w["export_format"].value,
                            caption=_caption(ex, TABS[index]))
    except TrialkitError as exc:
        ex.w["export_status"].value = f"<span class='tk-elig-export tk-error'>Not written: {html.escape(str(exc))}</span>"
        return []
    rows = f"{len(table):,} rows" if table is not None else ""
    ex.w["export_status"].value = (f"<span class='tk-elig-export'>Wrote {rows} to "
                                   + ", ".join(html.escape(str(p)) for p in paths) + "</span>")
    return paths


def _caption(ex: EligibilityExplorer, tab: str) -> str:
    state = ex.filter_text() or "all screened patients"
    what_if = ex.what_if_text()
    return f"{ex.w['protocol'].value.upper()} · {tab} · {state} · " + (f"WHAT-IF: {what_if}" if what_if
                                                                         else "protocol as written")


TABS = ("Funnel", "CONSORT", "Exclusion list", "Screen-failure rate")


def refresh(ex: EligibilityExplorer) -> EligibilityView | None:
    """Recompute the view, update the headline and the signals, render the visible tab (the others on demand)."""
    from ..errors import TrialkitError

    w = ex.w
    try:
        view = ex.current()
    except TrialkitError as exc:
        w["count"].value = f"<div class='eligible-count tk-elig-error'>Cannot evaluate: {html.escape(str(exc))}</div>"
        return None
    ex.last["view"] = view
    ex.last["figures"] = {}
    what_if = ex.what_if_text()
    state = ex.filter_text()
    w["count"].value = view.headline_html() + (
        f"<div class='tk-elig-changes'>What-if — {html.escape(what_if)}</div>" if what_if else
        "<div class='tk-elig-changes'>Protocol as written.</div>") + (
        f"<div class='tk-elig-filters'>Filter: {html.escape(state)}</div>" if state else "")
    w["signals"].value = signals_html(view.signals(what_if), css_class="tk-elig-signals")
    lab, params = ex.labels, view.funnel.params
    for cid, cb in ex.switches.items():
        text = lab.criterion(cid, params, default=cb.description)
        if cb.description != text:
            cb.description = text
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


def _rates(ex: EligibilityExplorer) -> pd.DataFrame:
    from ..eligibility import compute_screen_failure_rates

    view = ex.last["view"]
    if "rates" not in ex.last.get("figures", {}):
        ex.last.setdefault("figures", {})["rates"] = compute_screen_failure_rates(view.result, by="country", freq="QS")
    return ex.last["figures"]["rates"]


def _figure(ex: EligibilityExplorer, index: int):
    """The figure of tab ``index`` for the last view, with the view's state in its title (built once)."""
    from ..plots.eligibility import plot_consort, plot_funnel, plot_screen_failure_rates

    view, figs = ex.last.get("view"), ex.last.setdefault("figures", {})
    if view is None or not view.screened:
        return None
    if index not in figs:
        state = ex.filter_text() or None
        if index == 0:
            figs[0] = plot_funnel(view.funnel, filters=state)
        elif index == 1:
            figs[1] = plot_consort(view.consort, width=ex.consort_width, filters=state) if view.consort else None
        elif index == 3:
            what_if = ex.what_if_text()
            figs[3] = plot_screen_failure_rates(_rates(ex), top=12, filters=" · ".join(
                x for x in (state, f"WHAT-IF: {what_if}" if what_if else "") if x) or None)
        else:
            figs[index] = None
    return figs[index]


def render_tab(ex: EligibilityExplorer, index: int) -> None:
    """Draw one tab (0 funnel, 1 CONSORT, 2 exclusion list, 3 screen-failure rate) from the last view."""
    from ..tables import frame_html

    w, view = ex.w, ex.last.get("view")
    if view is None:
        return
    if index == 0:
        show_figure(w["funnel_out"], _figure(ex, 0))
    elif index == 1:
        if view.consort is not None:
            show_figure(w["consort_out"], _figure(ex, 1))
        else:
            show_figure(w["consort_out"], None,
                        html=f"<p>CONSORT flow unavailable: {html.escape(view.consort_error)}</p>")
    elif index == 2:
        lab, params = ex.labels, view.funnel.params
        ex_head = view.exclusions.drop(columns=["text"]).head(200)
        ex_head = ex_head.assign(label=[lab.criterion(c, params, default=x)
                                        for c, x in zip(ex_head["criterion_id"], ex_head["label"])])
        state = ex.filter_text() or "all screened patients"
        what_if = ex.what_if_text()
        w["exclusions"].value = frame_html(ex_head, caption=(
            f"{len(view.exclusions):,} subjects excluded (first excluding criterion each; first 200 shown) — "
            f"{state}; {'WHAT-IF: ' + what_if if what_if else 'protocol as written'}. Export writes them all."))
    elif index == 3 and view.screened:
        show_figure(w["rates_out"], _figure(ex, 3))
    ex.last.setdefault("stale", set()).discard(index)


def eligibility_explorer(data, *, export_dir: str = ".", consort_width: int = 800) -> EligibilityExplorer:
    """Build the eligibility explorer over one or more studies.

    Parameters
    ----------
    data : Study, sequence of Study or mapping {name: Study}
        The studies to choose from (e.g. the two demo studies).
    export_dir : str
        The folder "Export this view" writes to.
    consort_width : int
        Width of the CONSORT diagram in pixels (800 fits the explorer at 1280 pixels with JupyterLab's file
        browser open, both arms visible without scrolling).

    Returns
    -------
    EligibilityExplorer
        Display it (or its ``.widget``) in a notebook.

    Examples
    --------
    >>> import trialkit as tk
    >>> ex = tk.eligibility_explorer(tk.load_study("data/demo/b1931036"))
    >>> ex.thresholds["blasts_min_pct"].value = 25.0  # what a user does in the notebook
    >>> "Marrow blasts ≥ 25 % (protocol 5 %)" in ex.w["count"].value
    True
    """
    from .._optional import require

    W = require("ipywidgets", feature="eligibility_explorer")

    studies = as_study_map(data, "eligibility_explorer")
    warm_up_display()
    lay = W.Layout(width="250px")
    w = {
        "protocol": W.Dropdown(options=list(studies), description="Study", layout=lay),
        "country": W.Dropdown(options=[ALL], description="Country", layout=lay),
        "site": W.Dropdown(options=[ALL], description="Site", layout=lay),
        "date_from": W.DatePicker(description="Screened from", style={"description_width": "initial"},
                                  layout=W.Layout(width="260px")),
        "date_to": W.DatePicker(description="to", layout=W.Layout(width="200px")),
        "reset": W.Button(description="Protocol as written", button_style="info"),
        "export": W.Button(description="Export this view", icon="download"),
        "export_format": W.Dropdown(options=["csv", "xlsx"], value="csv", layout=W.Layout(width="80px")),
        "export_status": W.HTML(),
        "count": W.HTML(),
        "signals": W.HTML(),
        "rule_error": W.HTML(),
        "rules": W.VBox(),
        "funnel_out": figure_box(W),
        "consort_out": figure_box(W),
        "exclusions": W.HTML(layout=W.Layout(overflow="auto")),
        "rates_out": figure_box(W),
    }
    ex = EligibilityExplorer(studies=studies, w=w, export_dir=export_dir, consort_width=consort_width)
    for k in ("protocol", "country", "site", "reset", "export", "count", "signals", "export_format"):
        w[k].add_class(f"tk-elig-{k.replace('_', '-')}")
    w["protocol"].observe(lambda ch: on_protocol_change(ex, ch), names="value")
    for k in ("country", "site", "date_from", "date_to"):
        w[k].observe(lambda ch: on_filter_change(ex, ch), names="value")
    w["reset"].on_click(lambda b: on_reset(ex, b))
    w["export"].on_click(lambda b: on_export(ex, b))
    wrap = W.Layout(flex_flow="row wrap")
    filters = W.HBox([w["protocol"], w["country"], w["site"], w["date_from"], w["date_to"]], layout=wrap)
    rules = W.Accordion(children=[W.VBox([W.HBox([w["reset"], w["rule_error"]]), w["rules"]])])
    rules.set_title(0, "What-if: switch criteria off, move thresholds")
    tabs = W.Tab(children=[W.VBox([w["funnel_out"]]), W.VBox([w["consort_out"]]), W.VBox([w["exclusions"]]),
                           W.VBox([w["rates_out"]])])
    for i, t in enumerate(TABS):
        tabs.set_title(i, t)
    tabs.selected_index = 0
    w["tabs"] = tabs
    tabs.observe(lambda ch: on_tab_change(ex, ch), names="selected_index")
    export = W.HBox([w["export"], w["export_format"], w["export_status"]], layout=wrap)
    ex.widget = W.VBox([filters, w["count"], w["signals"], rules, export, tabs, plotly_preload(W)])
    ex.widget.add_class("tk-elig-explorer")
    on_protocol_change(ex)
    return ex
