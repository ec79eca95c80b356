"""The randomization and balance explorer: ipywidgets over studies, wiring only.

Every statistic comes from :mod:`trialkit.randomization` and every figure from
:mod:`trialkit.plots.randomization`. The callbacks are plain named functions taking the explorer
(and the ipywidgets change), so tests call them without a browser:

* :func:`on_protocol_change` — a new study: refill the filter and covariate choices, refresh;
* :func:`on_filter_change` — country / site / stratum / date range / covariates changed: update the
  status line, draw the visible tab (allocation vs plan; Table 1 and the SMD plot; cumulative
  allocation and allocation by site over calendar time), then the signal banner; the other tabs are
  drawn when opened (:func:`on_tab_change`), and every result is cached per filter state;
* :func:`on_run_simulation` — compare the chosen schemes on the current study's accrual;
* :func:`on_export` — "Export this view": the visible tab's table (CSV or XLSX) and figure (HTML).

The banner opens the explorer with what deserves attention: a scheme p-value below 0.05 (an
allocation unusual for the protocol's own scheme), covariates beyond their chance limit. Simulated
p-values and bands use :data:`trialkit.defaults.DEFAULT_N_SIM` re-randomizations and
:data:`~trialkit.defaults.DEFAULT_SEED` (the notebook and the reports use the same) and say so beside
the table. Figure titles carry the filter.

:func:`filter_study` (the only data step here) subsets the randomization table and keeps every
other table, so the same compute functions run on the subset.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..defaults import DEFAULT_N_SIM, DEFAULT_SEED, DEFAULT_SIM_TRIALS, simulation_note
from ..labels import labels_for
from ..tables import frame_html
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

__all__ = ["balance_explorer", "BalanceExplorer", "filter_study", "on_protocol_change", "on_filter_change",
           "on_tab_change", "on_run_simulation", "on_export", "render_tab", "ALL", "TABS"]

ALL = "(all)"
DEFAULT_SCHEMES = ("protocol", "complete", "blocks", "blocks by site_id")
TABS = ("Allocation vs plan", "Table 1 (SMD)", "Cumulative allocation", "Design simulation")
#: the allocation levels the explorer shows (site-level groups are mostly too small to test)
LEVELS = ("overall", "stratum", "country")
#: tables wrap their text cells so that every column (SMD, p-values, note) fits the notebook's width
_WRAP_CSS = ("<style>.tk-rnd-wrap .tk-table td{white-space:normal}.tk-rnd-wrap .tk-table{max-width:100%}"
             ".tk-rnd-wrap .tk-table th{white-space:normal}"
             # 12 columns at 1280 px with the file browser open: 4 px padding instead of 8 keeps `note` in view
             ".tk-rnd-wrap .tk-table td,.tk-rnd-wrap .tk-table th{padding-left:4px;padding-right:4px}</style>")


def _site_country(study) -> pd.Series:
    if len(study.sites):
        return study.sites.drop_duplicates("site_id").set_index("site_id")["country"]
    return pd.Series(dtype="string")


def filter_study(study, *, country: str | None = None, site: str | None = None, stratum: str | None = None,
                 date_from=None, date_to=None):
    """The study with its randomization table restricted to the filters (``None``/``"(all)"`` = no filter).

    Other tables are kept whole; the balance table and allocation summary join on the randomized
    subjects, so they follow the filter. The scheme reference (``p_scheme``, the cumulative band,
    the simulation panel) then re-randomizes the subset on its own, in its enrollment order: an
    approximation for a country or date window, whose patients shared blocks with others.
    """
    rnd = study.randomization
    keep = pd.Series(True, index=rnd.index)
    if country not in (None, ALL):
        keep &= rnd["site_id"].map(_site_country(study)).eq(country).fillna(False).astype(bool)
    if site not in (None, ALL):
        keep &= rnd["site_id"].eq(site).fillna(False).astype(bool)
    if stratum not in (None, ALL) and "stratum" in rnd:
        keep &= rnd["stratum"].eq(stratum).fillna(False).astype(bool)
    if date_from is not None:
        keep &= rnd["randomization_date"] >= pd.Timestamp(date_from)
    if date_to is not None:
        keep &= rnd["randomization_date"] <= pd.Timestamp(date_to)
    return study.replace(randomization=rnd[keep.to_numpy()].reset_index(drop=True))


@dataclass
class BalanceExplorer:
    """Holds the widgets and the studies; ``.widget`` is what the notebook displays."""

    studies: dict
    n_sim: int = DEFAULT_N_SIM
    sim_trials: int = DEFAULT_SIM_TRIALS
    seed: int = DEFAULT_SEED
    w: dict = field(default_factory=dict)
    widget: object = None
    last: dict = field(default_factory=dict)
    export_dir: str = "."
    cache: OrderedDict = field(default_factory=OrderedDict)

    @property
    def study(self):
        return self.studies[self.w["protocol"].value]

    @property
    def labels(self):
        return labels_for(self.study.protocol)

    def state_key(self) -> tuple:
        w = self.w
        return (w["protocol"].value, w["country"].value, w["site"].value, w["stratum"].value,
                str(w["date_from"].value), str(w["date_to"].value), tuple(w["covariates"].value))

    def current(self):
        """The filtered study the outputs show."""
        w = self.w
        return filter_study(self.study, country=w["country"].value, site=w["site"].value,
                            stratum=w["stratum"].value, date_from=w["date_from"].value, date_to=w["date_to"].value)

    def filter_text(self) -> str:
        """The filters in words (empty when none), for titles and file names."""
        w = self.w
        parts = [str(w["country"].value) if w["country"].value not in (None, ALL) else "",
                 f"site {w['site'].value}" if w["site"].value not in (None, ALL) else "",
                 f"stratum {w['stratum'].value}" if w["stratum"].value not in (None, ALL) else ""]
        d0, d1 = self.last.get("dates", (None, None))
        lo, hi = w["date_from"].value, w["date_to"].value
        if lo is not None and d0 is not None and pd.Timestamp(lo) > d0.normalize():
            parts.append(f"randomized from {pd.Timestamp(lo):%Y-%m-%d}")
        if hi is not None and d1 is not None and pd.Timestamp(hi) < d1.normalize():
            parts.append(f"randomized to {pd.Timestamp(hi):%Y-%m-%d}")
        return " · ".join(p for p in parts if p)

    def cached(self, name: str, compute):
        """``compute()`` once per filter state (the last 32 states are kept)."""
        key = (self.state_key(), name)
        if key not in self.cache:
            self.cache[key] = compute()
            while len(self.cache) > 32:
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(key)
        return self.cache[key]

    def _repr_mimebundle_(self, **kwargs):  # pragma: no cover - display in Jupyter
        return self.widget._repr_mimebundle_(**kwargs)


def _options(study):
    rnd = study.randomization
    countries = sorted(pd.unique(rnd["site_id"].map(_site_country(study)).dropna().astype(str)))
    sites = sorted(pd.unique(rnd["site_id"].dropna().astype(str)))
    strata = sorted(pd.unique(rnd["stratum"].dropna().astype(str))) if "stratum" in rnd else []
    from ..randomization.balance import DEFAULT_STUDY_COVARIATES

    scr = study.screening
    cand = [c for c in DEFAULT_STUDY_COVARIATES if c in scr and scr[c].notna().any()]
    factors = [f.name for f in study.protocol.stratification if f.name in rnd]
    covs = list(dict.fromkeys([*cand[:2], *factors, *cand[2:]]))  # the order balance_table uses
    dates = rnd["randomization_date"].dropna()
    return countries, sites, strata, covs, (dates.min(), dates.max()) if len(dates) else (None, None)


def on_protocol_change(ex: BalanceExplorer, change=None) -> None:
    """Refill country/site/stratum/covariate choices and the date range for the chosen study; refresh."""
    w = ex.w
    countries, sites, strata, covs, (d0, d1) = _options(ex.study)
    lab = ex.labels
    ex.last["refreshing"] = True
    try:
        w["country"].options = [ALL, *countries]
        w["country"].value = ALL
        w["site"].options = [ALL, *sites]
        w["site"].value = ALL
        w["stratum"].options = [ALL, *strata]
        w["stratum"].value = ALL
        w["covariates"].options = [(lab.covariate(c), c) for c in covs]
        w["covariates"].value = tuple(covs[:6])
        w["date_from"].value = d0.date() if d0 is not None else None
        w["date_to"].value = d1.date() if d1 is not None else None
        ex.last["dates"] = (d0, d1)
    finally:
        ex.last["refreshing"] = False
    on_filter_change(ex)


def _sync_sites(ex: BalanceExplorer) -> None:
    """Keep the site list consistent with the chosen country."""
    w, st = ex.w, ex.study
    sc = st.randomization["site_id"].map(_site_country(st))
    sites = st.randomization["site_id"] if w["country"].value == ALL else st.randomization["site_id"][
        sc.eq(w["country"].value).fillna(False).astype(bool)]
    ex.last["refreshing"] = True
    try:
        w["site"].options = [ALL, *sorted(pd.unique(sites.dropna().astype(str)))]
        w["site"].value = ALL
    finally:
        ex.last["refreshing"] = False


def on_filter_change(ex: BalanceExplorer, change=None) -> None:
    """Update the status line, draw the visible tab, then the signal banner (other tabs on demand)."""
    if ex.last.get("refreshing"):
        return
    w = ex.w
    owner = change.get("owner") if isinstance(change, Mapping) else getattr(change, "owner", None)
    if owner is w["country"]:
        _sync_sites(ex)
    s = ex.current()
    n = len(s.randomization)
    counts = s.randomization["arm"].value_counts()
    lab = ex.labels
    arms = " · ".join(f"{lab.arm(a)} {int(counts.get(a, 0))}" for a in s.protocol.arm_codes)
    state = ex.filter_text()
    w["status"].value = (f"<span class='tk-rnd-status'><b>{s.protocol.id}</b>: {n} randomized ({arms}); "
                         f"planned ratio {' : '.join(f'{lab.arm(k)} {v}' for k, v in s.protocol.ratio.items())}"
                         + (f" — filter: {html.escape(state)}" if state else "") + "</span>")
    ex.last["study"] = s
    ex.last["stale"] = set(range(len(TABS) - 1))
    render_tab(ex, w["tabs"].selected_index or 0)
    w["signals"].value = signals_html(signals(ex), css_class="tk-rnd-signals") if n else ""


def _alloc(ex: BalanceExplorer, s):
    import trialkit as tk

    return ex.cached("allocation", lambda: tk.allocation_summary(s, levels=LEVELS, n_sim=ex.n_sim, seed=ex.seed))


def _balance(ex: BalanceExplorer, s):
    import trialkit as tk

    covs = list(ex.w["covariates"].value)
    if not covs:
        return None
    return ex.cached("balance", lambda: tk.balance_table(s, covariates=covs, labels=ex.labels.covariates))


def signals(ex: BalanceExplorer) -> list[tuple[str, str]]:
    """What deserves attention in the current view: allocation unusual for the scheme, covariates
    beyond their chance limit (computed, or taken from the cache)."""
    s = ex.last.get("study")
    if s is None or not len(s.randomization):
        return []
    out = []
    alloc = _alloc(ex, s)
    t = alloc.summary
    alpha = 1 - alloc.conf_level
    low = t[t["p_scheme"].notna() & (t["p_scheme"] < alpha)]
    note = simulation_note(ex.n_sim, ex.seed)
    for r in low.to_dict("records"):
        got = r.get(f"n_{r['arm']}")
        count = f"{ex.labels.arm(r['arm'])} {int(got)} of {int(r['n'])}" if got is not None else f"n = {int(r['n'])}"
        out.append(("alert", f"Allocation ({r['level']} {r['group']}): p_scheme = {r['p_scheme']:.3g} — {count} vs "
                             f"{r['expected']:.1f} expected, unusual for the protocol's scheme; look for an "
                             f"allocation error. {note}"))
    bt = _balance(ex, s)
    if bt is not None and len(bt.smd):
        beyond = bt.smd[bt.smd["beyond_chance"].fillna(False).astype(bool)]
        for r in beyond.itertuples():
            out.append(("watch", f"{ex.labels.covariate(r.variable)}: |SMD| {r.abs_smd:.3f} beyond its "
                                 f"{bt.conf_level:.0%} chance limit {r.chance_limit:.3f} ({r.comparison})"))
    if not out:
        out.append(("ok", f"Allocation within the scheme's range and every covariate within its chance limit "
                          f"({note})"))
    return out


def render_tab(ex: BalanceExplorer, index: int) -> None:
    """Draw one tab (0 allocation, 1 Table 1 and SMD, 2 cumulative allocation and by site) for the current study."""
    w, s = ex.w, ex.last.get("study")
    if s is None:
        return
    if not len(s.randomization):
        msg = "<p class='tk-rnd-empty'>No randomized subject matches the filters; widen them.</p>"
        for k in ("alloc", "table"):
            w[k].value = msg
        for k in ("cum_out", "smd_out", "site_out"):
            show_figure(w[k], None)
        ex.last["stale"] = set()
        return
    if index == 0:
        alloc = _alloc(ex, s)
        ex.last["allocation"] = alloc
        w["alloc"].value = ex.cached("allocation_html", lambda: _WRAP_CSS + "<div class='tk-rnd-wrap'>" + frame_html(
            alloc.display_frame(list(LEVELS)), caption=alloc.caption + " " + simulation_note(ex.n_sim, ex.seed)
            + _state_suffix(ex)) + "</div>")
    elif index == 1:
        _render_balance(ex, s)
    elif index == 2:
        _render_cumulative(ex, s)
    ex.last.setdefault("stale", set()).discard(index)


def _state_suffix(ex: BalanceExplorer) -> str:
    state = ex.filter_text()
    return f" Filter: {state}." if state else ""


def _title(base: str, ex: BalanceExplorer) -> str:
    state = ex.filter_text()
    return base + (f" — {state}" if state else "")


def _render_balance(ex: BalanceExplorer, s) -> None:
    from ..plots.randomization import plot_smd

    w = ex.w
    bt = _balance(ex, s)
    if bt is None:
        w["table"].value = "<p>Choose at least one covariate.</p>"
        show_figure(w["smd_out"], None)
        return
    ex.last["balance"] = bt
    w["table"].value = _WRAP_CSS + "<div class='tk-rnd-wrap'>" + ex.cached("balance_html", bt._repr_html_) + "</div>"
    show_figure(w["smd_out"], plot_smd(bt, title=_title("Standardized mean differences vs the chance band", ex))
          if len(bt.groups) >= 2 else None)


def _render_cumulative(ex: BalanceExplorer, s) -> None:
    import trialkit as tk

    from ..plots.randomization import plot_allocation_by_site, plot_cumulative_allocation
    from ..randomization.monitoring import allocation_over_time

    w = ex.w
    cum = ex.cached("cumulative", lambda: tk.cumulative_allocation(s, n_sim=ex.n_sim, seed=ex.seed))
    ex.last["cumulative"] = cum
    e = cum.experimental_arm
    show_figure(w["cum_out"], plot_cumulative_allocation(cum, height=380, title=_title(
        f"Cumulative allocation to {e} minus its planned share (ρ = {cum.planned_prop:.3g}); "
        f"{ex.n_sim:,} re-randomizations, seed {ex.seed}", ex)))
    by = "site_id" if s.randomization["site_id"].nunique() <= 80 else "country"
    over = ex.cached("over_time", lambda: allocation_over_time(s.replace(randomization=s.randomization.assign(
        country=s.randomization["site_id"].map(_site_country(s)))), by=by))
    ex.last["over_time"] = over
    show_figure(w["site_out"], plot_allocation_by_site(over, by=by, arms=s.protocol.arm_codes,
                                                       title=_title(f"Allocation by {by} over calendar time", ex)))


def on_tab_change(ex: BalanceExplorer, change=None) -> None:
    """A tab was opened: draw it if the filters changed since it was last drawn."""
    index = change.get("new") if isinstance(change, Mapping) else getattr(change, "new", None)
    if index is None:
        index = ex.w["tabs"].selected_index or 0
    if index in ex.last.get("stale", set()):
        render_tab(ex, index)


def on_run_simulation(ex: BalanceExplorer, button=None) -> None:
    """Simulate the chosen schemes on the current (filtered) accrual sequence and show the comparison."""
    import trialkit as tk

    from ..plots.randomization import plot_design_simulation
    from ..randomization.simulate import protocol_scheme

    s = ex.last.get("study") or ex.current()
    rnd = s.randomization
    if not len(rnd):
        ex.w["sim_table"].value = "<p>No randomized subject matches the filters.</p>"
        return
    frame = rnd.assign(country=rnd["site_id"].map(_site_country(s)))
    schemes = [protocol_scheme(s.protocol) if x == "protocol" else x for x in ex.w["schemes"].value]
    if not schemes:
        ex.w["sim_table"].value = "<p>Choose at least one scheme.</p>"
        return
    sim = tk.simulate_design(frame, protocol=s.protocol, schemes=schemes, n_trials=ex.sim_trials, seed=ex.seed)
    ex.last["simulation"] = sim
    cols = ["scheme", "n_patients", "median_abs_final", "p95_abs_final", "p95_abs_max", "n_strata_used",
            "share_strata_incomplete"]
    ex.w["sim_table"].value = frame_html(sim.summary[cols], digits=2, caption=(
        f"{sim.n_trials:,} re-randomizations of these {len(rnd)} patients in their enrollment order (seed "
        f"{ex.seed}). |imbalance| = |N_{sim.experimental_arm} − planned share × n|." + _state_suffix(ex)))
    show_figure(ex.w["sim_out"], plot_design_simulation(sim, height=360, title=_title(
        f"Imbalance N_{sim.experimental_arm} − planned share, {sim.n_trials:,} simulated trials per scheme "
        "(whiskers 5–95 %)", ex)))


def view_table_and_figure(ex: BalanceExplorer, index: int | None = None):
    """The visible tab's table and figure (drawing the tab first if it is stale)."""
    w = ex.w
    index = (w["tabs"].selected_index or 0) if index is None else index
    if index in ex.last.get("stale", set()):
        render_tab(ex, index)
    if index == 0 and "allocation" in ex.last:
        return ex.last["allocation"].display_frame(list(LEVELS)), None
    if index == 1 and ex.last.get("balance") is not None:
        return ex.last["balance"].display_frame(), getattr(w["smd_out"], "figure", None)
    if index == 2 and "cumulative" in ex.last:
        return ex.last["cumulative"].summary, getattr(w["cum_out"], "figure", None)
    if index == 3 and "simulation" in ex.last:
        return ex.last["simulation"].summary, getattr(w["sim_out"], "figure", None)
    return None, None


def on_export(ex: BalanceExplorer, button=None) -> list[Path]:
    """"Export this view": the visible tab's table (CSV or XLSX) and figure (HTML) in ``ex.export_dir``."""
    from ..errors import TrialkitError

    index = ex.w["tabs"].selected_index or 0
    table, fig = view_table_and_figure(ex, index)
    if table is None and fig is None:
        ex.w["export_status"].value = "<span class='tk-rnd-export'>Nothing to export in this tab yet.</span>"
        return []
    stem = safe_name(ex.w["protocol"].value, TABS[index].split(" (")[0].lower(), ex.filter_text())
    caption = f"{ex.w['protocol'].value.upper()} · {TABS[index]} · {ex.filter_text() or 'all randomized'}"
    try:
        paths = export_view(ex.export_dir, stem, table=table, figure=fig, fmt=ex.w["export_format"].value,
                            caption=caption + " · " + simulation_note(ex.n_sim, ex.seed))
    except TrialkitError as exc:
        ex.w["export_status"].value = f"<span class='tk-rnd-export tk-error'>Not written: {html.escape(str(exc))}</span>"
        return []
    ex.w["export_status"].value = ("<span class='tk-rnd-export'>Wrote " + ", ".join(html.escape(str(p)) for p in paths)
                                   + "</span>")
    return paths


def balance_explorer(data, *, n_sim: int = DEFAULT_N_SIM, sim_trials: int = DEFAULT_SIM_TRIALS,
                     seed: int = DEFAULT_SEED, schemes: Sequence[str] = DEFAULT_SCHEMES,
                     export_dir: str = ".") -> BalanceExplorer:
    """Build the explorer over one or more studies.

    Parameters
    ----------
    data : Study, sequence of Study or mapping {name: Study}
        The studies to choose from (one per protocol, e.g. the two demo studies).
    n_sim, seed : int
        Re-randomizations behind the scheme p-values and the cumulative band, and their seed
        (default :data:`trialkit.defaults.DEFAULT_N_SIM` and ``DEFAULT_SEED``, as the reports).
    sim_trials : int
        Simulated trials per scheme in the simulation panel.
    schemes : sequence of str
        Scheme choices of the simulation panel (``"protocol"`` = the protocol's own).
    export_dir : str
        The folder "Export this view" writes to.

    Returns
    -------
    BalanceExplorer
        Display it (or its ``.widget``) in a notebook.

    Examples
    --------
    >>> import trialkit as tk
    >>> ex = tk.balance_explorer(tk.load_study("data/demo/b1931036"), n_sim=200, sim_trials=200)
    >>> ex.w["country"].value = "Germany"  # what a user does in the notebook
    >>> "randomized" in ex.w["status"].value and "filter: Germany" in ex.w["status"].value
    True
    """
    from .._optional import require

    W = require("ipywidgets", feature="balance_explorer")
    studies = as_study_map(data, "balance_explorer")
    warm_up_display()
    lay = W.Layout(width="250px")
    w = {
        "protocol": W.Dropdown(options=list(studies), description="Study", layout=lay),
        "country": W.Dropdown(options=[ALL], description="Country", layout=lay),
        "site": W.Dropdown(options=[ALL], description="Site", layout=lay),
        "stratum": W.Dropdown(options=[ALL], description="Stratum", layout=W.Layout(width="400px")),
        "date_from": W.DatePicker(description="From", layout=W.Layout(width="220px")),
        "date_to": W.DatePicker(description="To", layout=W.Layout(width="220px")),
        "covariates": W.SelectMultiple(options=[], description="Covariates", rows=6, layout=W.Layout(width="360px")),
        "schemes": W.SelectMultiple(options=list(schemes), value=tuple(schemes), description="Schemes", rows=4,
                                    layout=W.Layout(width="330px")),
        "run": W.Button(description="Simulate schemes", button_style="info"),
        "export": W.Button(description="Export this view", icon="download"),
        "export_format": W.Dropdown(options=["csv", "xlsx"], value="csv", layout=W.Layout(width="80px")),
        "export_status": W.HTML(),
        "status": W.HTML(),
        "signals": W.HTML(),
        "alloc": W.HTML(),
        "table": W.HTML(),
        "sim_table": W.HTML(),
        "cum_out": figure_box(W),
        "site_out": figure_box(W),
        "smd_out": figure_box(W),
        "sim_out": figure_box(W),
    }
    ex = BalanceExplorer(studies=studies, n_sim=n_sim, sim_trials=sim_trials, seed=seed, w=w, export_dir=export_dir)
    for k, cls in (("status", "tk-rnd-status-box"), ("alloc", "tk-rnd-alloc"), ("table", "tk-rnd-table"),
                   ("sim_table", "tk-rnd-sim"), ("country", "tk-rnd-country"), ("site", "tk-rnd-site"),
                   ("stratum", "tk-rnd-stratum"), ("protocol", "tk-rnd-protocol"), ("run", "tk-rnd-run"),
                   ("signals", "tk-rnd-signals-box"), ("export", "tk-rnd-export-button"),
                   ("export_format", "tk-rnd-export-format"), ("covariates", "tk-rnd-covariates"),
                   ("smd_out", "tk-rnd-smd"), ("cum_out", "tk-rnd-cum")):
        w[k].add_class(cls)
    w["protocol"].observe(lambda ch: on_protocol_change(ex, ch), names="value")
    for k in ("country", "site", "stratum", "date_from", "date_to", "covariates"):
        w[k].observe(lambda ch: on_filter_change(ex, ch), names="value")
    w["run"].on_click(lambda b: on_run_simulation(ex, b))
    w["export"].on_click(lambda b: on_export(ex, b))
    wrap = W.Layout(flex_flow="row wrap")
    filters = W.HBox([w["protocol"], w["country"], w["site"], w["stratum"], w["date_from"], w["date_to"]],
                     layout=wrap)
    tabs = W.Tab(children=[
        W.VBox([w["alloc"]]),
        W.VBox([W.HBox([w["covariates"]]), w["table"], w["smd_out"]]),
        W.VBox([w["cum_out"], w["site_out"]]),
        W.VBox([W.HBox([w["schemes"], w["run"]], layout=wrap), w["sim_table"], w["sim_out"]]),
    ])
    for i, t in enumerate(TABS):
        tabs.set_title(i, t)
    tabs.selected_index = 0
    w["tabs"] = tabs
    tabs.observe(lambda ch: on_tab_change(ex, ch), names="selected_index")
    export = W.HBox([w["export"], w["export_format"], w["export_status"]], layout=wrap)
    # the first tab has no figure: plotly.js is loaded now, not on the first click on a tab with one
    ex.widget = W.VBox([filters, w["status"], w["signals"], export, tabs, plotly_preload(W)])
    ex.widget.add_class("tk-rnd-explorer")
    on_protocol_change(ex)
    return ex
