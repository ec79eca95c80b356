"""The outcomes explorer: pick study, endpoint, population, subgroup, stratification and CI transform.

Wiring only. :func:`compute_view` calls the compute functions of :mod:`trialkit.outcomes` and the
figures of :mod:`trialkit.plots.outcomes` for one choice of the controls and returns an
:class:`OutcomesView`; :func:`render_view` turns a view into the HTML shown; the widget callbacks
(:func:`on_control_change`, :func:`on_study_change`, :func:`refresh`, :func:`on_export`) are named
functions a test calls without a browser.

Each part is cached by the controls it depends on (the KM curve by the CI transform, the tests and
Cox model by the strata, the subgroup forest by endpoint and population), so switching the CI
transform recomputes the KM curve only; the forest, the slowest part, is drawn last. The tables are
stacked (never side by side, where they overlapped at 1280 pixels) and wrap instead of scrolling.
"""

from __future__ import annotations

import html as _html
import threading
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import pandas as pd

from ..analysis_set import POPULATIONS, group_order, subject_frame
from ..errors import TrialkitError
from ..labels import labels_for
from ..outcomes import cox, cox_subgroups, km, logrank, response_rates
from ..outcomes.survival import CONF_TYPES
from ._common import (
    ResultCache,
    as_study_map,
    cached,
    cached_html,
    export_view,
    figure_box,
    in_kernel,
    plotly_preload,
    safe_name,
    show_figure,
    signals_html,
    warm_up_display,
)

__all__ = ["outcomes_explorer", "compute_view", "explorer_options", "render_view", "OutcomesView",
           "on_control_change", "on_study_change", "on_export", "refresh", "ALL"]

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
    """Subgroup columns with data, each once: the derived age band is left out when a stratification
    factor has the very same levels (B1931036's age stratum is its age band; two rows per band misled)."""
    attrs = _attributes(study) if attrs is None else attrs
    cols = [c for c in (*SUBGROUP_COLUMNS, *_strata_factors(study)) if c in attrs.columns and attrs[c].notna().any()]
    factor_levels = [set(f.levels) for f in study.protocol.stratification if f.name in cols]
    if "age_band" in cols:
        bands = set(attrs["age_band"].dropna().astype(str))
        if any(bands and bands <= lv for lv in factor_levels):
            cols.remove("age_band")
    return list(dict.fromkeys(cols))


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
                 forest: bool = True, cache: dict | None = None, tables: bool = True) -> OutcomesView:
    """Compute what the explorer shows; a part that cannot be computed leaves its message in ``errors``.

    Parameters
    ----------
    study : Study
    endpoint, population, subgroup, strata, conf_type
        Values as offered by :func:`explorer_options`.
    time_unit : str, default "months"
    forest : bool, default True
        Also compute the subgroup hazard ratios and the forest plot (the slowest part).
    cache : dict, optional
        Results of earlier calls, keyed by the controls each part depends on (the explorer keeps one);
        a part whose controls did not change is taken from it.
    tables : bool, default True
        Also compute the Cox model and the response rates (False: the KM figure and its log-rank
        test only, what the explorer draws first).

    Returns
    -------
    OutcomesView
    """
    from ..plots.outcomes import plot_km

    sub = _parse_subgroup(subgroup)
    st = _parse_strata(strata)
    errors = []
    cache = {} if cache is None else cache
    sid = id(study)

    def part(key, label, fn):
        return cached(cache, key, label, fn, errors)

    k = part(("km", sid, endpoint, population, subgroup, conf_type, time_unit), "Kaplan–Meier",
             lambda: km(study, endpoint=endpoint, population=population, subgroup=sub, conf_type=conf_type,
                        time_unit=time_unit))
    if k is None:
        raise TrialkitError(errors[-1])
    lr = part(("logrank", sid, endpoint, population, subgroup, strata), "log-rank",
              lambda: logrank(study, endpoint=endpoint, population=population, subgroup=sub, strata=st or None))
    cx = rr = None
    if tables:
        cx = part(("cox", sid, endpoint, population, subgroup, strata), "Cox",
                  lambda: cox(study, endpoint=endpoint, population=population, subgroup=sub, strata=st or None))
        rr = part(("response", sid, population, subgroup), "response",
                  lambda: response_rates(study, population=population, subgroup=sub))
    sg, fp = (_forest(study, endpoint, population, part) if forest and sub is None else (None, None))
    note = f"{lr.summary['test'].iloc[0]} p = {lr.p_value:.3g}" if lr is not None else None
    state = " · ".join(x for x in (population if population != "randomized" else "",
                                   subgroup if sub else "", f"strata: {strata}" if st else "") if x)
    title = f"{endpoint} by arm" + (f" ({state})" if state else "")
    fig = part(("figure", id(k), note, title), "figure", lambda: plot_km(k, annotation=note, title=title))
    return OutcomesView(km=k, logrank=lr, cox=cx, response=rr, subgroups=sg, figure=fig, forest=fp,
                        errors=tuple(errors))


def _forest(study, endpoint: str, population: str, part):
    from ..plots.outcomes import plot_forest

    cols = _subgroup_columns(study)
    sg = part(("subgroups", id(study), endpoint, population), "subgroups",
              lambda: cox_subgroups(study, endpoint=endpoint, population=population, subgroups=cols))
    if sg is None:
        return None, None
    fig = plot_forest(sg, labels=labels_for(study.protocol).subgroups,
                      title=f"{endpoint}: hazard ratio by subgroup (left of 1 favours the experimental arm)"
                      + (f" — {population}" if population != "randomized" else ""))
    return sg, fig


def render_view(view: OutcomesView) -> dict[str, str]:
    """HTML of each text panel: ``summary``, ``tests``, ``cox``, ``response``, ``errors``."""
    def html(obj, empty="not available"):
        return obj._repr_html_() if obj is not None else f"<i>{empty}</i>"

    errs = "".join(f"<li>{_html.escape(e)}</li>" for e in view.errors)
    return {"summary": html(view.km), "tests": html(view.logrank), "cox": html(view.cox),
            "response": html(view.response), "errors": f"<ul>{errs}</ul>" if errs else ""}


def _signals(view: OutcomesView) -> list[tuple[str, str]]:
    """What deserves attention: parts that could not be computed, subjects the analysis left out."""
    out = [("watch", e) for e in view.errors]
    for note in getattr(view.km, "notes", ()) or ():
        out.append(("watch", str(note)))
    return out


def _subgroup_options(study, values) -> list[tuple[str, str]]:
    """``("Age band: 1 to <10 years", "age_band = 1 to <10 years")``: protocol labels shown, values kept."""
    lab = labels_for(study.protocol)
    out = []
    for v in values:
        col, _, level = v.partition(" = ")
        out.append((v if v == ALL else f"{lab.subgroup(col)}: {level}", v))
    return out


def _controls(widgets, options: dict, endpoint: str | None, studies: dict, study) -> dict:
    layout = widgets.Layout(width="300px")
    style = {"description_width": "90px"}
    ep = endpoint if endpoint in options["endpoint"] else (options["endpoint"][0] if options["endpoint"] else None)
    c = {
        "study": widgets.Dropdown(options=list(studies), value=next(k for k, v in studies.items() if v is study),
                                  description="Study"),
        "endpoint": widgets.Dropdown(options=options["endpoint"], value=ep, description="Endpoint"),
        "population": widgets.Dropdown(options=options["population"], value="randomized", description="Population"),
        "subgroup": widgets.Dropdown(options=_subgroup_options(study, options["subgroup"]), value=ALL,
                                     description="Subgroup"),
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


def _result_html(explorer, obj, empty="not available") -> str:
    """A result's HTML, rendered once per result object (results come from the explorer's cache)."""
    return cached_html(explorer.cache, obj, empty)


def refresh(explorer) -> OutcomesView:
    """Recompute the view from the explorer's controls and redraw every panel; return the view.

    The KM figure is drawn first, then the tables, then the subgroup forest (the slowest part) with a
    placeholder while it is computed; every part and its HTML come from the cache when their controls
    did not change.
    """
    c = explorer.controls
    out = explorer.outputs
    out["status"].value = "<i>computing…</i>"
    args = {"endpoint": c["endpoint"].value, "population": c["population"].value, "subgroup": c["subgroup"].value,
            "strata": c["strata"].value, "conf_type": c["conf_type"].value, "time_unit": explorer.time_unit,
            "cache": explorer.cache}
    view = compute_view(explorer.study, forest=False, tables=False, **args)
    show_figure(out["figure"], view.figure)
    out["status"].value = (f"<span class='tk-outcomes-state'>{_html.escape(c['study'].value)} · "
                           f"{c['endpoint'].value} · {c['population'].value} · {c['subgroup'].value} · strata: "
                           f"{c['strata'].value} · {c['conf_type'].value}</span>")
    view = compute_view(explorer.study, forest=False, **args)
    errs = "".join(f"<li>{_html.escape(e)}</li>" for e in view.errors)
    for key, obj in (("summary", view.km), ("tests", view.logrank), ("cox", view.cox), ("response", view.response)):
        out[key].value = _result_html(explorer, obj)
    out["errors"].value = f"<ul>{errs}</ul>" if errs else ""
    explorer.view = view
    key = _forest_key(explorer, args)
    explorer.forest_wanted = key
    if c["subgroup"].value != ALL:
        explorer.forest_wanted = None
        out["forest_note"].value = "<i>Subgroup forest plot: choose “All subjects” to see it.</i>"
        show_figure(out["forest"], None)
        explorer.forest_shown = None
        _finish(explorer, view)
    elif key in explorer.cache or not in_kernel():
        _forest_job(explorer, key, args)
    elif key not in explorer.forest_running:  # the slowest part runs beside the kernel's message loop, so the
        explorer.forest_running.add(key)     # next click is not queued behind it; one thread per forest
        out["forest_note"].value = "<i>computing hazard ratios by subgroup…</i>"
        threading.Thread(target=_forest_job, args=(explorer, key, args), daemon=True).start()
    _start_prefetch(explorer, args)
    return explorer.view


def neighbours(explorer, args: dict) -> list[dict]:
    """The views one click away from ``args``: each other stratification, endpoint, CI transform and
    population, the others as they are (the order a user is likely to try them: the slowest first)."""
    c = explorer.controls
    out = []
    for name in ("strata", "endpoint", "conf_type", "population"):
        out += [{**args, name: v} for v in c[name].options if v != args[name]]
    return out


def prefetch(explorer, args: dict, *, generation: int | None = None) -> int:
    """Compute the :func:`neighbours` of ``args`` into the explorer's cache (without drawing), so the
    next click is drawn from it; stop early when the controls moved on (``generation`` no longer the
    explorer's). Returns the number of views computed.

    A view that fails here is computed again, and its failure shown, when the user reaches it.
    """
    done = 0
    for a in neighbours(explorer, args):
        if generation is not None and explorer.prefetch_generation != generation:
            break
        try:
            compute_view(explorer.study, forest=False, **a)
        except Exception:  # noqa: BLE001, S112 - shown when reached (see the docstring)
            continue
        done += 1
    return done


def _start_prefetch(explorer, args: dict) -> None:
    """In a kernel, :func:`prefetch` in a thread while the user looks at the view just drawn."""
    explorer.prefetch_generation += 1
    if in_kernel():
        threading.Thread(target=prefetch, args=(explorer, args),
                         kwargs={"generation": explorer.prefetch_generation}, daemon=True).start()


def _forest_key(explorer, args) -> tuple:
    return ("subgroups", id(explorer.study), args["endpoint"], args["population"])


def _forest_job(explorer, key: tuple, args: dict) -> None:
    """Compute (or take from the cache) the subgroup forest of ``key`` and draw it if it is still wanted.

    Runs in a thread in a kernel: every failure is shown in the explorer, never lost with the thread.
    """
    out = explorer.outputs
    study = explorer.study
    try:
        def part(k, label, fn):
            return cached(explorer.cache, k, label, fn)

        sg, fig = _forest(study, args["endpoint"], args["population"], part)
        err = (explorer.cache.get(key) or (None, None))[1]
    except Exception as exc:  # noqa: BLE001 - a thread must report its failure, not die silently
        sg, fig, err = None, None, f"subgroups: {type(exc).__name__}: {exc}"
    finally:
        explorer.forest_running.discard(key)
    if explorer.forest_wanted != key:
        return  # the controls moved on to another endpoint or population
    out["forest_note"].value = f"<i>{_html.escape(err)}</i>" if err else ""
    explorer.view = replace(explorer.view, subgroups=sg, forest=fig)
    if explorer.forest_shown != key:  # a change of CI transform or strata leaves the forest as it is
        show_figure(out["forest"], fig)
        explorer.forest_shown = key
    _finish(explorer, explorer.view)


def _finish(explorer, view) -> None:
    explorer.outputs["signals"].value = signals_html(_signals(view), css_class="tk-outcomes-signals")


def on_control_change(explorer, change) -> None:
    """Callback of every control: redraw when a value changed."""
    if change.get("name") == "value" and change.get("new") != change.get("old"):
        refresh(explorer)


def on_study_change(explorer, change=None) -> None:
    """Another study: refill every control's choices (endpoints, populations, subgroups, strata), redraw."""
    c = explorer.controls
    explorer.study = explorer.studies[c["study"].value]
    options = explorer_options(explorer.study)
    if not options["endpoint"]:
        explorer.outputs["errors"].value = ("<ul><li>this study has no time-to-event endpoint in its outcomes "
                                            "table; nothing to explore</li></ul>")
        return
    explorer.updating = True
    try:
        ep = c["endpoint"].value if c["endpoint"].value in options["endpoint"] else options["endpoint"][0]
        c["endpoint"].options, c["endpoint"].value = options["endpoint"], ep
        c["population"].options, c["population"].value = options["population"], "randomized"
        c["subgroup"].options = _subgroup_options(explorer.study, options["subgroup"])
        c["subgroup"].value = ALL
        c["strata"].options, c["strata"].value = options["strata"], "none"
    finally:
        explorer.updating = False
    refresh(explorer)


def on_export(explorer, button=None) -> list[Path]:
    """"Export this view": the KM summary (CSV or XLSX, as chosen) and the KM figure (HTML), named after
    the study, endpoint and choices; the status line lists the files."""
    c = explorer.controls
    view = explorer.view
    stem = safe_name(c["study"].value, c["endpoint"].value, c["population"].value,
                     "" if c["subgroup"].value == ALL else c["subgroup"].value,
                     "" if c["strata"].value == "none" else f"strata {c['strata'].value}", c["conf_type"].value)
    try:
        paths = export_view(explorer.export_dir, stem, table=view.km.summary, figure=view.figure,
                            fmt=explorer.outputs["export_format"].value, caption=view.km.title())
    except TrialkitError as exc:
        explorer.outputs["export_status"].value = f"<span class='tk-error'>Not written: {_html.escape(str(exc))}</span>"
        return []
    explorer.outputs["export_status"].value = "Wrote " + ", ".join(_html.escape(str(p)) for p in paths)
    return paths


def outcomes_explorer(data, *, endpoint: str | None = None, time_unit: str = "months", export_dir: str = "."):
    """Interactive outcomes explorer for one or more studies.

    Controls: study, endpoint, population, subgroup (protocol labels), stratification (log-rank and
    Cox strata) and the CI transform of the Kaplan–Meier bands. Panels, stacked: a signal banner,
    the KM figure with numbers at risk, the KM summary (medians, landmarks), the log-rank test, the
    Cox model, response rates, and a forest plot of hazard ratios across subgroups. An ADaM ADTTE is
    explored through :func:`trialkit.load_cdisc`, which turns it into a Study.

    Parameters
    ----------
    data : Study, sequence of Study or mapping {name: Study}
        The studies to choose from (as the other explorers).
    endpoint : str, optional
        Initial endpoint (default the first time-to-event endpoint).
    time_unit : str, default "months"
    export_dir : str
        The folder "Export this view" writes to.

    Returns
    -------
    ipywidgets.VBox
        With attributes ``study`` (the chosen one), ``studies``, ``controls``, ``outputs`` and
        ``view`` (the last :class:`OutcomesView`), so it can be driven from code.

    Examples
    --------
    >>> import trialkit as tk
    >>> ex = tk.outcomes_explorer(tk.load_study("data/demo/b1931036"))
    >>> ex.controls["conf_type"].value = "log"
    >>> ex.view.km.conf_type
    'log'
    """
    from .._optional import require

    widgets = require("ipywidgets", feature="outcomes_explorer")
    studies = as_study_map(data, "outcomes_explorer")
    warm_up_display()
    study = next(iter(studies.values()))
    options = explorer_options(study)
    if not options["endpoint"]:
        raise TrialkitError("this study has no time-to-event endpoint in its outcomes table; nothing to explore")
    controls = _controls(widgets, options, endpoint, studies, study)
    outputs = {
        "status": widgets.HTML(),
        "signals": widgets.HTML(),
        "figure": figure_box(widgets),
        "summary": widgets.HTML(),
        "tests": widgets.HTML(),
        "cox": widgets.HTML(),
        "response": widgets.HTML(),
        "forest_note": widgets.HTML(),
        "forest": figure_box(widgets),
        "errors": widgets.HTML(),
        "export": widgets.Button(description="Export this view", icon="download"),
        "export_format": widgets.Dropdown(options=["csv", "xlsx"], value="csv", layout=widgets.Layout(width="80px")),
        "export_status": widgets.HTML(),
    }
    for name, w in outputs.items():
        w.add_class(f"tk-outcomes-{name.replace('_', '-')}")
    wrap = widgets.Layout(flex_flow="row wrap")
    row1 = widgets.HBox([controls["study"], controls["endpoint"], controls["population"], controls["subgroup"]],
                        layout=wrap)
    row2 = widgets.HBox([controls["strata"], controls["conf_type"]], layout=wrap)
    export = widgets.HBox([outputs["export"], outputs["export_format"], outputs["export_status"]], layout=wrap)
    # the tables one under the other at full width: side by side they overlapped at 1280 pixels
    tables = widgets.VBox([outputs["summary"], outputs["tests"], outputs["cox"], outputs["response"]])
    tables.add_class("tk-outcomes-tables")
    css = widgets.HTML("<style>.tk-outcomes-tables .tk-table td, .tk-outcomes-tables .tk-table th"
                       "{white-space:normal}.tk-outcomes-tables .tk-table{max-width:100%}</style>")
    box = widgets.VBox([css, row1, row2, outputs["status"], outputs["signals"], outputs["errors"], export,
                        outputs["figure"], tables, outputs["forest_note"], outputs["forest"],
                        plotly_preload(widgets)])
    box.add_class("tk-outcomes-explorer")
    box.study = study
    box.studies = studies
    box.controls = controls
    box.outputs = outputs
    box.time_unit = time_unit
    box.export_dir = export_dir
    box.cache = ResultCache()
    box.forest_wanted = None
    box.forest_shown = None
    box.forest_running = set()
    box.prefetch_generation = 0
    box.updating = False
    box.view = None
    controls["study"].observe(lambda ch: on_study_change(box, ch), names="value")
    for name, w in controls.items():
        if name != "study":
            w.observe(partial(_on_control, box), names="value")
    outputs["export"].on_click(lambda b: on_export(box, b))
    refresh(box)
    return box


def _on_control(explorer, change) -> None:
    if not explorer.updating:
        on_control_change(explorer, change)


