"""The outcomes explorer: pick endpoint, population, subgroup, stratification and CI transform.

Wiring only. :func:`compute_view` calls the compute functions of :mod:`trialkit.outcomes` and the
figures of :mod:`trialkit.plots.outcomes` for one choice of the controls and returns an
:class:`OutcomesView`; :func:`render_view` turns a view into the HTML shown; the widget callbacks
(:func:`on_control_change`, :func:`refresh`) are named functions a test calls without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from ..analysis_set import POPULATIONS, group_order, subject_frame
from ..errors import TrialkitError
from ..outcomes import cox, cox_subgroups, km, logrank, response_rates
from ..outcomes.survival import CONF_TYPES

__all__ = ["outcomes_explorer", "compute_view", "explorer_options", "render_view", "OutcomesView",
           "on_control_change", "refresh", "ALL"]

ALL = "All subjects"
SUBGROUP_COLUMNS = ("age_band", "sex", "country")


@dataclass(frozen=True)
class OutcomesView:
    """Everything the explorer shows for one choice of controls (None where not computable)."""

    km: object
    logrank: object | None
    cox: object | None
    response: object | None
    subgroups: object | None
    figure: object | None
    forest: object | None
    errors: tuple[str, ...] = field(default_factory=tuple)


def _time_to_event_endpoints(study) -> list[str]:
    eps = list(pd.unique(study.outcomes["endpoint"].dropna().astype(str))) if len(study.outcomes) else []
    declared = [e["code"] for e in (study.protocol.endpoints or ()) if e.get("kind") == "time_to_event"]
    return [e for e in declared if e in eps] + [e for e in eps if e not in declared]


def _strata_factors(study) -> list[str]:
    cols = set(study.randomization.columns)
    return [f.name for f in study.protocol.stratification if f.name in cols]


def _attributes(study) -> pd.DataFrame:
    cols = [c for c in SUBGROUP_COLUMNS if c in ("age_band", "country") or c in study.screening.columns]
    return subject_frame(study, cols)


def _subgroup_columns(study, attrs: pd.DataFrame | None = None) -> list[str]:
    attrs = _attributes(study) if attrs is None else attrs
    return [c for c in (*SUBGROUP_COLUMNS, *_strata_factors(study)) if c in attrs.columns and attrs[c].notna().any()]


def explorer_options(study) -> dict:
    """The choices each control offers for ``study``.

    Returns
    -------
    dict
        ``endpoint`` (time-to-event endpoints present), ``population``, ``subgroup`` (labels
        ``"column = level"`` after ``ALL``), ``strata`` (``"none"``, each factor, and all factors
        together as ``"a + b"``), ``conf_type``.
    """
    attrs = _attributes(study)
    subgroups = [ALL]
    for col in _subgroup_columns(study, attrs):
        levels = group_order(attrs[col], protocol=study.protocol, column=col)
        subgroups += [f"{col} = {v}" for v in levels]
    factors = _strata_factors(study)
    strata = ["none", *factors] + ([" + ".join(factors)] if len(factors) > 1 else [])
    disp = study.disposition
    pops = [p for p in POPULATIONS if p == "randomized" or (p in disp.columns and disp[p].notna().any())
            or (p == "safety" and "treated" in disp.columns and disp["treated"].notna().any())]
    return {"endpoint": _time_to_event_endpoints(study), "population": pops, "subgroup": subgroups,
            "strata": strata, "conf_type": list(CONF_TYPES)}


def _parse_subgroup(label: str) -> dict | None:
    if not label or label == ALL:
        return None
    col, _, val = label.partition(" = ")
    return {col: val}


def _parse_strata(label: str) -> tuple[str, ...]:
    return () if not label or label == "none" else tuple(s.strip() for s in label.split("+"))


def compute_view(study, *, endpoint: str, population: str = "randomized", subgroup: str = ALL,
                 strata: str = "none", conf_type: str = "log-log", time_unit: str = "months",
                 forest: bool = True) -> OutcomesView:
    """Compute what the explorer shows; a part that cannot be computed leaves its message in ``errors``.

    Parameters
    ----------
    study : Study
    endpoint, population, subgroup, strata, conf_type
        Values as offered by :func:`explorer_options`.
    time_unit : str, default "months"
    forest : bool, default True
        Also compute the subgroup hazard ratios and the forest plot (the slowest part).

    Returns
    -------
    OutcomesView
    """
    from ..plots.outcomes import plot_forest, plot_km

    sub = _parse_subgroup(subgroup)
    st = _parse_strata(strata)
    errors = []

    def attempt(label, fn):
        try:
            return fn()
        except TrialkitError as exc:
            errors.append(f"{label}: {exc}")
            return None

    k = km(study, endpoint=endpoint, population=population, subgroup=sub, conf_type=conf_type, time_unit=time_unit)
    lr = attempt("log-rank", lambda: logrank(study, endpoint=endpoint, population=population, subgroup=sub,
                                             strata=st or None))
    cx = attempt("Cox", lambda: cox(study, endpoint=endpoint, population=population, subgroup=sub, strata=st or None))
    rr = attempt("response", lambda: response_rates(study, population=population, subgroup=sub))
    sg = None
    if forest and sub is None:
        sg = attempt("subgroups", lambda: cox_subgroups(study, endpoint=endpoint, population=population,
                                                        subgroups=_subgroup_columns(study)))
    note = f"{lr.summary['test'].iloc[0]} p = {lr.p_value:.3g}" if lr is not None else None
    fig = plot_km(k, annotation=note, title=f"{endpoint} by arm" + (f" ({subgroup})" if sub else ""))
    return OutcomesView(km=k, logrank=lr, cox=cx, response=rr, subgroups=sg, figure=fig,
                        forest=plot_forest(sg) if sg is not None else None, errors=tuple(errors))


def render_view(view: OutcomesView) -> dict[str, str]:
    """HTML of each text panel: ``summary``, ``tests``, ``cox``, ``response``, ``errors``."""
    def html(obj, empty="not available"):
        return obj._repr_html_() if obj is not None else f"<i>{empty}</i>"

    errs = "".join(f"<li>{e}</li>" for e in view.errors)
    return {"summary": html(view.km), "tests": html(view.logrank), "cox": html(view.cox),
            "response": html(view.response), "errors": f"<ul>{errs}</ul>" if errs else ""}


def _controls(widgets, options: dict, endpoint: str | None) -> dict:
    layout = widgets.Layout(width="300px")
    style = {"description_width": "90px"}
    ep = endpoint if endpoint in options["endpoint"] else (options["endpoint"][0] if options["endpoint"] else None)
    c = {
        "endpoint": widgets.Dropdown(options=options["endpoint"], value=ep, description="Endpoint"),
        "population": widgets.Dropdown(options=options["population"], value="randomized", description="Population"),
        "subgroup": widgets.Dropdown(options=options["subgroup"], value=ALL, description="Subgroup"),
        "strata": widgets.Dropdown(options=options["strata"], value="none", description="Stratify by"),
        "conf_type": widgets.ToggleButtons(options=options["conf_type"], value="log-log", description="CI transform"),
    }
    for name, w in c.items():
        if name != "conf_type":
            w.layout = layout
            w.style = style
        w.add_class(f"tk-outcomes-{name.replace('_', '-')}")
    c["conf_type"].style = {"description_width": "90px", "button_width": "80px"}
    c["conf_type"].tooltips = ["SAS / lifelines default", "R survival default"]
    return c


def refresh(explorer) -> OutcomesView:
    """Recompute the view from the explorer's controls and redraw every panel; return the view."""
    from IPython.display import display

    c = explorer.controls
    out = explorer.outputs
    out["status"].value = "<i>computing…</i>"
    view = compute_view(explorer.study, endpoint=c["endpoint"].value, population=c["population"].value,
                        subgroup=c["subgroup"].value, strata=c["strata"].value, conf_type=c["conf_type"].value,
                        time_unit=explorer.time_unit)
    html = render_view(view)
    for key in ("summary", "tests", "cox", "response", "errors"):
        out[key].value = html[key]
    with out["figure"]:
        out["figure"].clear_output(wait=True)
        display(view.figure)
    with out["forest"]:
        out["forest"].clear_output(wait=True)
        if view.forest is not None:
            display(view.forest)
    explorer.view = view
    out["status"].value = (f"<span class='tk-outcomes-state'>{c['endpoint'].value} · {c['population'].value} · "
                           f"{c['subgroup'].value} · strata: {c['strata'].value} · {c['conf_type'].value}</span>")
    return view


def on_control_change(explorer, change) -> None:
    """Callback of every control: redraw when a value changed."""
    if change.get("name") == "value" and change.get("new") != change.get("old"):
        refresh(explorer)


def outcomes_explorer(data, *, endpoint: str | None = None, time_unit: str = "months"):
    """Interactive outcomes explorer for a :class:`~trialkit.Study`.

    Controls: endpoint, population, subgroup, stratification (log-rank and Cox strata) and the CI
    transform of the Kaplan–Meier bands. Panels: the KM figure with numbers at risk, the KM
    summary (medians, landmarks), the log-rank test, the Cox model, response rates, and a forest
    plot of hazard ratios across subgroups. An ADaM ADTTE is explored through
    :func:`trialkit.load_cdisc`, which turns it into a Study.

    Parameters
    ----------
    data : Study
    endpoint : str, optional
        Initial endpoint (default the first time-to-event endpoint).
    time_unit : str, default "months"

    Returns
    -------
    ipywidgets.VBox
        With attributes ``study``, ``controls``, ``outputs`` and ``view`` (the last
        :class:`OutcomesView`), so it can be driven from code.

    Examples
    --------
    >>> tk.outcomes_explorer(tk.load_study("data/demo/b1931036"))  # doctest: +SKIP
    """
    from .._optional import require

    widgets = require("ipywidgets", feature="outcomes_explorer")
    options = explorer_options(data)
    if not options["endpoint"]:
        raise TrialkitError("this study has no time-to-event endpoint in its outcomes table; nothing to explore")
    controls = _controls(widgets, options, endpoint)
    outputs = {
        "status": widgets.HTML(),
        "figure": widgets.Output(),
        "summary": widgets.HTML(),
        "tests": widgets.HTML(),
        "cox": widgets.HTML(),
        "response": widgets.HTML(),
        "forest": widgets.Output(),
        "errors": widgets.HTML(),
    }
    for name, w in outputs.items():
        w.add_class(f"tk-outcomes-{name}")
    row1 = widgets.HBox([controls["endpoint"], controls["population"], controls["subgroup"]])
    row2 = widgets.HBox([controls["strata"], controls["conf_type"]])
    tables = widgets.HBox([widgets.VBox([outputs["summary"]], layout=widgets.Layout(width="50%")),
                           widgets.VBox([outputs["tests"], outputs["cox"], outputs["response"]],
                                        layout=widgets.Layout(width="50%"))])
    box = widgets.VBox([row1, row2, outputs["status"], outputs["errors"], outputs["figure"], tables,
                        outputs["forest"]])
    box.add_class("tk-outcomes-explorer")
    box.study = data
    box.controls = controls
    box.outputs = outputs
    box.time_unit = time_unit
    box.view = None
    for w in controls.values():
        w.observe(partial(on_control_change, box), names="value")
    refresh(box)
    return box
