"""The randomization and balance explorer: ipywidgets over studies, wiring only.

Every statistic comes from :mod:`trialkit.randomization` and every figure from
:mod:`trialkit.plots.randomization`. The callbacks are plain named functions taking the explorer
(and the ipywidgets change), so tests call them without a browser:

* :func:`on_protocol_change` — a new study: refill the filter and covariate choices, refresh;
* :func:`on_filter_change` — country / site / stratum / date range / covariates changed: refresh
  the allocation summary, Table 1 and SMD plot, the cumulative allocation and the allocation by
  site over calendar time (by country when a study has more than 80 randomizing sites);
* :func:`on_run_simulation` — compare the chosen schemes on the current study's accrual.

:func:`filter_study` (the only data step here) subsets the randomization table and keeps every
other table, so the same compute functions run on the subset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from ..tables import frame_html
from ._common import as_study_map

__all__ = ["balance_explorer", "BalanceExplorer", "filter_study", "on_protocol_change", "on_filter_change",
           "on_run_simulation", "ALL"]

ALL = "(all)"
DEFAULT_SCHEMES = ("protocol", "complete", "blocks", "blocks by site_id")


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
    n_sim: int = 2000
    sim_trials: int = 2000
    seed: int = 0
    w: dict = field(default_factory=dict)
    widget: object = None
    last: dict = field(default_factory=dict)

    @property
    def study(self):
        return self.studies[self.w["protocol"].value]

    def current(self):
        """The filtered study the outputs show."""
        w = self.w
        return filter_study(self.study, country=w["country"].value, site=w["site"].value,
                            stratum=w["stratum"].value, date_from=w["date_from"].value, date_to=w["date_to"].value)

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
    ex.last["refreshing"] = True
    try:
        w["country"].options = [ALL, *countries]
        w["country"].value = ALL
        w["site"].options = [ALL, *sites]
        w["site"].value = ALL
        w["stratum"].options = [ALL, *strata]
        w["stratum"].value = ALL
        w["covariates"].options = covs
        w["covariates"].value = tuple(covs[:6])
        w["date_from"].value = d0.date() if d0 is not None else None
        w["date_to"].value = d1.date() if d1 is not None else None
    finally:
        ex.last["refreshing"] = False
    on_filter_change(ex)


def on_filter_change(ex: BalanceExplorer, change=None) -> None:
    """Recompute the allocation summary, Table 1, SMD plot and cumulative plot for the filtered study."""
    if ex.last.get("refreshing"):
        return
    import trialkit as tk

    from ..plots.randomization import plot_allocation_by_site, plot_cumulative_allocation, plot_smd
    from ..randomization.monitoring import allocation_over_time

    w = ex.w
    # keep the site list consistent with the chosen country
    if change is not None and getattr(change, "get", lambda k, d=None: None)("owner") is w["country"]:
        st = ex.study
        sc = st.randomization["site_id"].map(_site_country(st))
        sites = st.randomization["site_id"] if w["country"].value == ALL else st.randomization["site_id"][
            sc.eq(w["country"].value).fillna(False).astype(bool)]
        ex.last["refreshing"] = True
        w["site"].options = [ALL, *sorted(pd.unique(sites.dropna().astype(str)))]
        w["site"].value = ALL
        ex.last["refreshing"] = False
    s = ex.current()
    n = len(s.randomization)
    counts = s.randomization["arm"].value_counts()
    arms = " · ".join(f"{a} {int(counts.get(a, 0))}" for a in s.protocol.arm_codes)
    w["status"].value = (f"<span class='tk-rnd-status'><b>{s.protocol.id}</b>: {n} randomized ({arms}); "
                         f"planned ratio {' : '.join(f'{k} {v}' for k, v in s.protocol.ratio.items())}</span>")
    ex.last["study"] = s
    if n == 0:
        msg = "<p class='tk-rnd-empty'>No randomized subject matches the filters; widen them.</p>"
        for k in ("alloc", "table"):
            w[k].value = msg
        for k in ("cum_out", "smd_out", "site_out"):
            _show(w[k], None)
        return
    alloc = tk.allocation_summary(s, n_sim=ex.n_sim, seed=ex.seed)
    ex.last["allocation"] = alloc
    w["alloc"].value = frame_html(alloc.display_frame(["overall", "stratum", "country"]), caption=alloc.caption)
    covs = list(w["covariates"].value)
    if covs:
        bt = tk.balance_table(s, covariates=covs)
        ex.last["balance"] = bt
        w["table"].value = bt._repr_html_()
        _show(w["smd_out"], plot_smd(bt, height=320) if len(bt.groups) >= 2 else None)
    else:
        w["table"].value = "<p>Choose at least one covariate.</p>"
        _show(w["smd_out"], None)
    cum = tk.cumulative_allocation(s, n_sim=ex.n_sim, seed=ex.seed)
    ex.last["cumulative"] = cum
    _show(w["cum_out"], plot_cumulative_allocation(cum, height=380))
    by = "site_id" if s.randomization["site_id"].nunique() <= 80 else "country"
    over = allocation_over_time(s.replace(randomization=s.randomization.assign(
        country=s.randomization["site_id"].map(_site_country(s)))), by=by)
    ex.last["over_time"] = over
    _show(w["site_out"], plot_allocation_by_site(over, by=by, arms=s.protocol.arm_codes))


def on_run_simulation(ex: BalanceExplorer, button=None) -> None:
    """Simulate the chosen schemes on the current (filtered) accrual sequence and show the comparison."""
    import trialkit as tk

    from ..plots.randomization import plot_design_simulation
    from ..randomization.simulate import protocol_scheme
    from ..tables import frame_html

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
        f"{sim.n_trials:,} re-randomizations of these {len(rnd)} patients in their enrollment order. "
        f"|imbalance| = |N_{sim.experimental_arm} − planned share × n|."))
    _show(ex.w["sim_out"], plot_design_simulation(sim, height=360))


def _show(out, fig) -> None:
    """Put ``fig`` in an Output widget (outside a Jupyter kernel there is nothing to draw into)."""
    from IPython import get_ipython
    from IPython.display import display

    out.figure = fig  # kept for tests and scripts
    if getattr(get_ipython(), "kernel", None) is None:
        out.outputs = ()
        return
    out.clear_output(wait=True)
    if fig is not None:
        with out:
            display(fig)


def balance_explorer(data, *, n_sim: int = 2000, sim_trials: int = 2000, seed: int = 0,
                     schemes: Sequence[str] = DEFAULT_SCHEMES) -> BalanceExplorer:
    """Build the explorer over one or more studies.

    Parameters
    ----------
    data : Study, sequence of Study or mapping {name: Study}
        The studies to choose from (one per protocol, e.g. the two demo studies).
    n_sim : int
        Re-randomizations behind the scheme p-values and the cumulative band.
    sim_trials : int
        Simulated trials per scheme in the simulation panel.
    schemes : sequence of str
        Scheme choices of the simulation panel (``"protocol"`` = the protocol's own).

    Returns
    -------
    BalanceExplorer
        Display it (or its ``.widget``) in a notebook.

    Examples
    --------
    >>> import trialkit as tk
    >>> ex = tk.balance_explorer(tk.load_study("data/demo/b1931036"), n_sim=200, sim_trials=200)
    >>> ex.w["country"].value = "Germany"  # what a user does in the notebook
    >>> "randomized" in ex.w["status"].value
    True
    """
    from .._optional import require

    W = require("ipywidgets", feature="balance_explorer")
    studies = as_study_map(data, "balance_explorer")
    lay = W.Layout(width="260px")
    w = {
        "protocol": W.Dropdown(options=list(studies), description="Study", layout=lay),
        "country": W.Dropdown(options=[ALL], description="Country", layout=lay),
        "site": W.Dropdown(options=[ALL], description="Site", layout=lay),
        "stratum": W.Dropdown(options=[ALL], description="Stratum", layout=W.Layout(width="420px")),
        "date_from": W.DatePicker(description="From"),
        "date_to": W.DatePicker(description="To"),
        "covariates": W.SelectMultiple(options=[], description="Covariates", rows=6, layout=W.Layout(width="330px")),
        "schemes": W.SelectMultiple(options=list(schemes), value=tuple(schemes), description="Schemes", rows=4,
                                    layout=W.Layout(width="330px")),
        "run": W.Button(description="Simulate schemes", button_style="info"),
        "status": W.HTML(),
        "alloc": W.HTML(),
        "table": W.HTML(),
        "sim_table": W.HTML(),
        "cum_out": W.Output(),
        "site_out": W.Output(),
        "smd_out": W.Output(),
        "sim_out": W.Output(),
    }
    ex = BalanceExplorer(studies=studies, n_sim=n_sim, sim_trials=sim_trials, seed=seed, w=w)
    for k, cls in (("status", "tk-rnd-status-box"), ("alloc", "tk-rnd-alloc"), ("table", "tk-rnd-table"),
                   ("sim_table", "tk-rnd-sim"), ("country", "tk-rnd-country"), ("site", "tk-rnd-site"),
                   ("stratum", "tk-rnd-stratum"), ("protocol", "tk-rnd-protocol"), ("run", "tk-rnd-run")):
        w[k].add_class(cls)
    w["protocol"].observe(lambda ch: on_protocol_change(ex, ch), names="value")
    for k in ("country", "site", "stratum", "date_from", "date_to", "covariates"):
        w[k].observe(lambda ch: on_filter_change(ex, ch), names="value")
    w["run"].on_click(lambda b: on_run_simulation(ex, b))
    filters = W.VBox([W.HBox([w["protocol"], w["country"], w["site"]]), W.HBox([w["stratum"], w["date_from"],
                                                                                  w["date_to"]])])
    tabs = W.Tab(children=[
        W.VBox([w["alloc"]]),
        W.VBox([W.HBox([w["covariates"]]), w["table"], w["smd_out"]]),
        W.VBox([w["cum_out"], w["site_out"]]),
        W.VBox([W.HBox([w["schemes"], w["run"]]), w["sim_table"], w["sim_out"]]),
    ])
    for i, t in enumerate(("Allocation vs plan", "Table 1 (SMD)", "Cumulative allocation", "Design simulation")):
        tabs.set_title(i, t)
    ex.widget = W.VBox([filters, w["status"], tabs])
    on_protocol_change(ex)
    return ex

