"""The forecast explorer: as-of date, targets, sites still to open, event model; and the backtest.

Wiring only. :func:`compute_view` calls :func:`trialkit.forecast_accrual` and
:func:`trialkit.forecast_events` and the figures of :mod:`trialkit.plots.forecast` for one choice of
the controls; :func:`render_view` turns the view into the HTML panels; :func:`compute_backtest`
runs both backtests. The callbacks (:func:`on_control_change`, :func:`refresh`,
:func:`on_run_backtest`) are named functions a test calls without a browser. The event forecast is
pooled over arms, so the explorer shows nothing comparative by arm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from ..errors import TrialkitError
from ._common import figure_box, plotly_preload, show_figure

__all__ = ["forecast_explorer", "explorer_options", "compute_view", "render_view", "compute_backtest",
           "ForecastView", "BacktestView", "refresh", "on_control_change", "on_run_backtest"]


@dataclass(frozen=True)
class ForecastView:
    """Everything the explorer shows for one choice of controls (None where not computable)."""

    accrual: object | None
    events: object | None
    accrual_figure: object | None
    event_figure: object | None
    site_figure: object | None
    errors: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BacktestView:
    accrual: object | None
    events: object | None
    figures: tuple = ()
    errors: tuple[str, ...] = field(default_factory=tuple)


def _endpoints(study) -> list[str]:
    out = study.outcomes
    eps = list(pd.unique(out["endpoint"].dropna().astype(str))) if len(out) else []
    declared = [e["code"] for e in (study.protocol.endpoints or ()) if e.get("kind") == "time_to_event"]
    return [e for e in declared if e in eps] + [e for e in eps if e not in declared]


def explorer_options(study) -> dict:
    """The choices and defaults the controls offer for ``study``.

    Returns
    -------
    dict
        ``as_of`` (the data cut, then month ends back to the first quarter of accrual, newest first,
        as ISO dates), ``target`` (planned enrollment, else 1.5 × randomized), ``endpoint``,
        ``target_events`` (per endpoint: 1.25 × observed events), ``model``.
    """
    rnd = study.randomization["randomization_date"]
    cut = study.data_cut_date if study.data_cut_date is not None else rnd.max()
    cut = pd.Timestamp(cut).normalize()
    first = rnd.sort_values().iloc[min(4, len(rnd) - 1)] if len(rnd) else cut
    months = pd.date_range(first, cut, freq="ME")[::-1]
    as_of = [cut.date().isoformat()] + [m.date().isoformat() for m in months if m < cut]
    n = len(rnd)
    target = study.protocol.planned_enrollment or max(int(math.ceil(1.5 * n)), n + 1)
    eps = _endpoints(study)
    events = {}
    for ep in eps:
        d = int(study.outcomes.loc[study.outcomes["endpoint"] == ep, "event"].sum())
        events[ep] = max(int(math.ceil(1.25 * d)), d + 1)
    return {"as_of": as_of, "target": int(target), "endpoint": eps, "target_events": events,
            "model": ["weibull", "piecewise"]}


def compute_view(study, *, as_of: str | None = None, target: int | None = None, new_sites: int = 0,
                 opening_rate: float = 1.0, model: str = "weibull", endpoint: str | None = None,
                 target_events: int | None = None, n_sims: int = 2000, seed: int = 0) -> ForecastView:
    """Compute what the explorer shows; a part that cannot be computed leaves its message in ``errors``.

    Parameters
    ----------
    study : Study
    as_of, target, endpoint, target_events, model
        As offered by :func:`explorer_options`.
    new_sites : int
        Sites to open beyond the site table, one after another at ``opening_rate`` per month.
    n_sims, seed
        Simulated paths and seed of both forecasts.
    """
    from ..forecast import forecast_accrual, forecast_events
    from ..plots.forecast import plot_accrual_forecast, plot_event_forecast, plot_site_rates

    errors: list[str] = []
    extra = {"new_sites": int(new_sites), "opening_rate": float(opening_rate)} if new_sites else {}

    def attempt(label, fn):
        try:
            return fn()
        except TrialkitError as exc:
            errors.append(f"{label}: {exc}")
            return None

    acc = attempt("accrual", lambda: forecast_accrual(study, target=target, as_of=as_of, n_sims=n_sims, seed=seed,
                                                      by="country", **extra))
    ev = None
    if endpoint:
        ev = attempt("events", lambda: forecast_events(study, endpoint=endpoint, target_events=target_events,
                                                       as_of=as_of, model=model, n_sims=n_sims, seed=seed,
                                                       accrual_target=target, **extra))
    return ForecastView(accrual=acc, events=ev,
                        accrual_figure=plot_accrual_forecast(acc, height=460) if acc is not None else None,
                        event_figure=plot_event_forecast(ev, height=460) if ev is not None else None,
                        site_figure=plot_site_rates(acc) if acc is not None else None, errors=tuple(errors))


def render_view(view: ForecastView) -> dict[str, str]:
    """HTML of each text panel: ``accrual``, ``events``, ``errors``."""
    def html(obj):
        return obj._repr_html_() if obj is not None else "<i>not available</i>"

    errs = "".join(f"<li>{e}</li>" for e in view.errors)
    return {"accrual": html(view.accrual), "events": html(view.events),
            "errors": f"<ul class='tk-forecast-error-list'>{errs}</ul>" if errs else ""}


def compute_backtest(study, *, endpoint: str | None, model: str = "weibull", n_sims: int = 1000,
                     seed: int = 0) -> BacktestView:
    """Both backtests at their default cutoffs, with their figures."""
    from ..forecast import backtest_accrual, backtest_events

    errors: list[str] = []
    acc = ev = None
    try:
        acc = backtest_accrual(study, n_sims=n_sims, seed=seed)
    except TrialkitError as exc:
        errors.append(f"accrual backtest: {exc}")
    if endpoint:
        try:
            ev = backtest_events(study, endpoint=endpoint, model=model, n_sims=n_sims, seed=seed)
        except TrialkitError as exc:
            errors.append(f"event backtest: {exc}")
    figures = tuple(b.figure() for b in (acc, ev) if b is not None)
    return BacktestView(accrual=acc, events=ev, figures=figures, errors=tuple(errors))


def _controls(widgets, options: dict, endpoint: str | None) -> dict:
    style = {"description_width": "120px"}
    layout = widgets.Layout(width="300px")
    ep = endpoint if endpoint in options["endpoint"] else (options["endpoint"][0] if options["endpoint"] else None)
    c = {
        "as_of": widgets.Dropdown(options=options["as_of"], value=options["as_of"][0], description="Forecast as of"),
        "target": widgets.BoundedIntText(value=options["target"], min=1, max=1_000_000, description="Target patients"),
        "new_sites": widgets.IntSlider(value=0, min=0, max=60, description="New sites to open"),
        "opening_rate": widgets.BoundedFloatText(value=2.0, min=0.1, max=100, step=0.5,
                                                 description="Openings / month"),
        "endpoint": widgets.Dropdown(options=options["endpoint"], value=ep, description="Endpoint"),
        "target_events": widgets.BoundedIntText(value=options["target_events"].get(ep, 1), min=1, max=1_000_000,
                                                description="Target events"),
        "model": widgets.ToggleButtons(options=options["model"], value="weibull", description="Event model"),
    }
    for name, w in c.items():
        if name != "model":
            w.layout = layout
            w.style = style
        w.add_class(f"tk-forecast-{name.replace('_', '-')}")
    c["model"].style = {"description_width": "120px", "button_width": "90px"}
    return c


def refresh(explorer) -> ForecastView:
    """Recompute both forecasts from the controls and redraw every panel; return the view."""
    c, out = explorer.controls, explorer.outputs
    out["status"].value = "<i>computing…</i>"
    view = compute_view(explorer.study, as_of=c["as_of"].value, target=c["target"].value,
                        new_sites=c["new_sites"].value, opening_rate=c["opening_rate"].value, model=c["model"].value,
                        endpoint=c["endpoint"].value, target_events=c["target_events"].value,
                        n_sims=explorer.n_sims, seed=explorer.seed)
    html = render_view(view)
    for key in ("accrual", "events", "errors"):
        out[key].value = html[key]
    for key, fig in (("accrual_figure", view.accrual_figure), ("event_figure", view.event_figure),
                     ("site_figure", view.site_figure)):
        show_figure(out[key], fig)
    explorer.view = view
    median = "—"
    if view.accrual is not None and pd.notna(view.accrual.summary["median"].iloc[0]):
        median = view.accrual.summary["median"].iloc[0].date().isoformat()
    out["status"].value = (f"<span class='tk-forecast-state'>as of {c['as_of'].value} · target {c['target'].value} "
                           f"· median {median} · new sites {c['new_sites'].value} · {c['endpoint'].value} "
                           f"{c['target_events'].value} events · {c['model'].value}</span>")
    return view


def on_control_change(explorer, change) -> None:
    """Callback of every control: a new endpoint resets its target events; any change redraws."""
    if change.get("name") != "value" or change.get("new") == change.get("old") or explorer.quiet:
        return
    if change.get("owner") is explorer.controls["endpoint"]:
        default = explorer.options["target_events"].get(change["new"])
        if default:
            explorer.quiet = True  # set the endpoint's default target without a second redraw
            try:
                explorer.controls["target_events"].value = default
            finally:
                explorer.quiet = False
    refresh(explorer)


def on_run_backtest(explorer, _button=None) -> BacktestView:
    """Callback of the backtest button: run both backtests and show their tables and figures."""
    from IPython.display import HTML, display

    out = explorer.outputs["backtest"]
    c = explorer.controls
    bt = compute_backtest(explorer.study, endpoint=c["endpoint"].value, model=c["model"].value,
                          n_sims=max(500, explorer.n_sims // 2), seed=explorer.seed)
    with out:
        out.clear_output(wait=True)
        for e in bt.errors:
            display(HTML(f"<p class='tk-forecast-error'>{e}</p>"))
        for res, fig in zip([b for b in (bt.accrual, bt.events) if b is not None], bt.figures):
            display(fig)
            display(HTML(res._repr_html_()))
    explorer.backtest = bt
    return bt


def forecast_explorer(data, *, endpoint: str | None = None, n_sims: int = 2000, seed: int = 0):
    """Interactive forecast explorer for a :class:`~trialkit.Study`.

    Controls: the forecast date (the data cut or an earlier month end), the target number of
    patients, new sites still to open and their opening rate, the endpoint, its target number of
    events and the event model. Panels: the accrual fan chart and table (per arm and country,
    conversion, sites), the site rates, the event fan chart (pooled over arms) and its table, and
    a button running both backtests.

    Parameters
    ----------
    data : Study
    endpoint : str, optional
        Initial endpoint (default the first time-to-event endpoint).
    n_sims : int, default 2000
        Simulated paths per forecast (the backtest uses half).
    seed : int, default 0

    Returns
    -------
    ipywidgets.VBox
        With attributes ``study``, ``controls``, ``outputs``, ``options``, ``view`` and ``backtest``.

    Examples
    --------
    >>> tk.forecast_explorer(tk.load_study("data/demo/b1931036"))  # doctest: +SKIP
    """
    from .._optional import require
    from ..forecast._common import check_int, check_seed
    from ..forecast._data import _is_study

    if not _is_study(data):
        raise TrialkitError(f"forecast_explorer needs a Study (tk.load_study), not {type(data).__name__}; for a "
                            "forecast frame call tk.forecast_accrual / tk.forecast_events directly")
    n_sims, seed = check_int("n_sims", n_sims, minimum=100), check_seed(seed)
    widgets = require("ipywidgets", feature="forecast_explorer")
    study = data
    if not len(study.randomization):
        raise TrialkitError("this study has no randomized patient yet: there is nothing to forecast from")
    options = explorer_options(study)
    controls = _controls(widgets, options, endpoint)
    outputs = {"status": widgets.HTML(), "errors": widgets.HTML(), "accrual_figure": figure_box(widgets),
               "accrual": widgets.HTML(), "site_figure": figure_box(widgets), "event_figure": figure_box(widgets),
               "events": widgets.HTML(), "backtest": widgets.Output()}
    for name, w in outputs.items():
        w.add_class(f"tk-forecast-{name.replace('_', '-')}")
    button = widgets.Button(description="Run backtest", button_style="info", icon="history")
    button.add_class("tk-forecast-run-backtest")
    sites = widgets.Accordion(children=[outputs["site_figure"]])
    sites.set_title(0, "Site recruitment rates")
    row1 = widgets.HBox([controls["as_of"], controls["target"], controls["new_sites"], controls["opening_rate"]],
                        layout=widgets.Layout(flex_flow="row wrap"))
    row2 = widgets.HBox([controls["endpoint"], controls["target_events"], controls["model"]],
                        layout=widgets.Layout(flex_flow="row wrap"))
    box = widgets.VBox([row1, row2, outputs["status"], outputs["errors"], outputs["accrual_figure"],
                        outputs["accrual"], sites, outputs["event_figure"], outputs["events"], button,
                        outputs["backtest"], plotly_preload(widgets)])
    box.add_class("tk-forecast-explorer")
    box.study, box.controls, box.outputs, box.options = study, controls, outputs, options
    box.n_sims, box.seed, box.view, box.backtest, box.quiet = int(n_sims), int(seed), None, None, False
    for w in controls.values():
        w.observe(partial(on_control_change, box), names="value")
    button.on_click(partial(on_run_backtest, box))
    refresh(box)
    return box
