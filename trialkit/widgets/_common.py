"""Wiring shared by the explorers: the study map, the signal banner, "Export this view" (tables through the
project's one formula-safe writer, :func:`trialkit.io.export.write_table`; figures as offline HTML)."""

from __future__ import annotations

import html
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..errors import ExportError, TrialkitError
from ..io.export import write_table

__all__ = ["as_study_map", "warm_up_display", "figure_box", "show_figure", "in_kernel", "plotly_preload",
           "ResultCache", "cached", "cached_html",
           "signals_html", "write_table", "write_figure", "export_view", "safe_name", "ExportError"]


class ResultCache(OrderedDict):
    """An explorer's results by the controls they depend on; the least recently used go beyond 256
    entries (a view and its prefetched neighbours are about 40)."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        try:
            self.move_to_end(key)
        except KeyError:  # evicted meanwhile by another thread
            pass
        return value

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        while len(self) > 256:
            try:
                self.popitem(last=False)
            except KeyError:  # emptied meanwhile by another thread
                break


def cached(cache, key: tuple, label: str, fn: Callable, errors: list | None = None):
    """``fn()``, or what it gave before under ``key``; a :class:`TrialkitError` is kept as the message
    ``"<label>: <error>"`` (appended to ``errors``) and gives None, so the rest of the view still shows."""
    hit = cache.get(key)
    if hit is None:
        try:
            hit = (fn(), None)
        except TrialkitError as exc:
            hit = (None, f"{label}: {exc}")
        cache[key] = hit
    value, err = hit
    if err and errors is not None:
        errors.append(err)
    return value


def cached_html(cache, obj, empty: str = "not available", *, render: Callable | None = None) -> str:
    """A result's HTML (``render(obj)``, by default its ``_repr_html_()``), rendered once per result object
    and renderer (the results come from ``cache`` too)."""
    if obj is None:
        return f"<i>{empty}</i>"
    key = ("html", id(obj), render)
    hit = cache.get(key)
    if hit is None or hit[0] is not obj:
        hit = cache[key] = (obj, obj._repr_html_() if render is None else render(obj))
    return hit[1]


def as_study_map(studies, explorer: str) -> dict:
    """One study, a list of studies or a ``{name: study}`` mapping → ``{name: study}``.

    Raises a :class:`~trialkit.errors.TrialkitError` naming ``explorer`` when there is no study.
    """
    if hasattr(studies, "protocol"):
        studies = {studies.protocol.id: studies}
    elif not isinstance(studies, Mapping):
        studies = {s.protocol.id: s for s in studies}
    studies = dict(studies)
    if not studies:
        raise TrialkitError(f"{explorer} needs at least one study; load one with tk.load_study(...).")
    return studies


def warm_up_display() -> None:
    """Import plotly's notebook renderers now, while the explorer is built.

    The first figure a kernel displays imports them (and, through nbformat and jsonschema, compiles
    dozens of grammars): 30 s or more on a loaded machine. Paid here, in the notebook's own run, it is
    not paid by the user's first click on a tab with a figure. Outside a kernel nothing is displayed,
    so nothing is imported.
    """
    if in_kernel():
        import plotly.io._renderers  # noqa: F401


def plotly_preload(widgets):
    """A hidden Output holding a tiny plotly figure, for an explorer whose first view has no figure.

    JupyterLab loads plotly.js (several MB of JavaScript; about a second to compile on a slow machine)
    when a page draws its first plotly figure. Without this, that is paid by the user's first click on
    a tab with a figure; with it, while the explorer is first shown.
    """
    out = widgets.Output(layout=widgets.Layout(display="none"))
    out.add_class("tk-plotly-preload")
    if in_kernel():
        import plotly.graph_objects as go
        from IPython.display import display

        with out:
            # no axes: their tick labels would push the margins past 10 px (plotly.js then throws
            # "Something went wrong with axis scaling" into the page)
            display(go.Figure(layout={"width": 10, "height": 10, "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
                                      "xaxis": {"visible": False}, "yaxis": {"visible": False}}))
    return out


def in_kernel() -> bool:
    """Is this code running in a Jupyter kernel (where widgets are drawn)?"""
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def figure_box(widgets):
    """The panel an explorer draws one plotly figure into (a box); see :func:`show_figure`.

    The figure shown is kept in ``.figure`` (for tests, scripts and the export), in a kernel or not.
    """
    box = widgets.VBox()
    box.figure = None
    box.view = None
    box.lock = threading.Lock()   # show_figure runs in worker threads too (the outcomes explorer's forest)
    box.revived = 0               # fresh views given after a deaf one (see _on_view_message)
    return box


def show_figure(box, fig, *, html: str | None = None) -> None:
    """Show ``fig`` (a plotly figure; or, when None, the ``html`` message or nothing) in a :func:`figure_box`.

    In a kernel the figure is drawn by a :class:`PlotlyView`, which keeps its plot and hands each new
    figure to ``Plotly.react`` (an update in place: about half the time of drawing a new plot). Safe
    from a worker thread (widget messages go through the kernel's IOPub thread). Outside a kernel
    only ``.figure`` is set.
    """
    import ipywidgets

    box.figure = fig
    if not in_kernel():
        return
    if fig is None:
        with box.lock:
            box.children, box.view = ((ipywidgets.HTML(html),) if html else ()), None
        return
    spec = _bundle(fig)["application/vnd.plotly.v1+json"]
    with box.lock:
        if box.view is None:
            _new_view(box, spec)
        else:
            box.view.figure = spec


# How many fresh views one figure box is given after deaf ones (a page that stays too busy for anywidget
# to start a model in 2 s); past it the box keeps its last view.
MAX_REVIVALS = 5


def _new_view(box, spec: dict):
    """A new :class:`PlotlyView` of ``spec`` as the box's only child (the caller holds ``box.lock``)."""
    view = plotly_view(spec)
    view.on_msg(lambda widget, content, buffers: _on_view_message(box, widget, content))
    box.view = view
    box.children = (view,)
    return view


def _on_view_message(box, view, content) -> None:
    """A message from a figure view in the page: ``ping`` (answered ``pong``) or ``deaf``.

    anywidget (0.9 to 0.11) gives a model 2 s to start in the page; past that, every message the
    kernel sends to it is dropped, for good (a busy page: a reloaded tab restoring many widgets,
    plotly.js being compiled). Such a view would keep its first figure while the rest of the explorer
    moves on: a figure that misleads. So each view pings the kernel when it is drawn; a view that hears
    no pong says it is deaf, and the box gets a fresh view (a new model: its figure comes with it, not
    in a message) of the figure it shows now. A pong merely late (the kernel busy with other cells)
    costs one redraw.
    """
    kind = content.get("kind") if isinstance(content, Mapping) else None
    if kind == "ping":
        view.send({"kind": "pong"})
    elif kind == "deaf":
        with box.lock:
            if box.view is not view or box.revived >= MAX_REVIVALS:
                return
            box.revived += 1
            _new_view(box, view.figure)
        view.close()


_PLOTLY_VIEW_ESM = """
function render({ model, el }) {
  const div = document.createElement("div");
  div.style.width = "100%";
  el.appendChild(div);
  el.dataset.tkDraws = "0";   // figures drawn by this view (tests and diagnostics read it)
  let timer = null, busy = false, again = false, waited = 0;
  // one Plotly.react at a time, and always the latest figure: a change that arrives while a draw is
  // under way is drawn when it ends (two overlapping draws could leave the older figure on screen)
  const draw = () => {
    timer = null;
    const P = window.Plotly;   // loaded by JupyterLab's plotly renderer (see plotly_preload)
    if (!P || !div.isConnected) {
      // say why nothing is drawn rather than leave an empty panel (a front end without plotly's renderer)
      if (!P && (waited += 50) >= 5000 && !div.textContent)
        div.textContent = "Waiting for plotly.js: these figures are drawn with the plotly renderer of JupyterLab " +
          "(JupyterLab 4 with plotly installed in its environment).";
      timer = setTimeout(draw, 50); return;
    }
    if (div.textContent && !div.querySelector(".plot-container")) div.textContent = "";
    if (busy) { again = true; return; }
    busy = true; el.dataset.tkBusy = "1";
    const fig = model.get("figure") || {};
    const layout = Object.assign({}, fig.layout || {});
    if (layout.width === undefined) layout.autosize = true;   // the panel's width, not plotly's 700 px
    Promise.resolve()
      .then(() => P.react(div, fig.data || [], layout, Object.assign({ responsive: true, showTips: false }, fig.config || {})))
      .catch((e) => console.error("trialkit figure:", e))
      .finally(() => {
        busy = false; el.dataset.tkBusy = "0"; el.dataset.tkDraws = String(Number(el.dataset.tkDraws || 0) + 1);
        if (again) { again = false; draw(); }
      });
  };
  model.on("change:figure", () => { if (!timer) draw(); });
  draw();
  // anywidget drops every message to a model that took over 2 s to start in a busy page, for good: ask the
  // kernel for an echo and, without one in 8 s, for a fresh view (see _on_view_message in widgets/_common.py)
  let heard = false;
  model.on("msg:custom", (msg) => { if (msg && msg.kind === "pong") heard = true; });
  model.send({ kind: "ping" });
  const probe = setTimeout(() => { if (!heard) { el.dataset.tkDeaf = "1"; model.send({ kind: "deaf" }); } }, 8000);
  return () => { clearTimeout(probe); if (timer) clearTimeout(timer); if (window.Plotly) window.Plotly.purge(div); };
}
export default { render };
"""


def plotly_view(spec: dict):
    """A widget that draws a plotly figure spec (``{"data", "layout"}``) and redraws it in place
    (``Plotly.react``) when its ``figure`` changes; needs ``anywidget`` (the ``[notebooks]`` extra).

    Not plotly's own ``FigureWidget``: since plotly 6 it is drawn at a fixed 700 px inside widget boxes
    (plotly/plotly.py#5208). This one draws once its element is in the page, as wide as its panel.
    It uses the plotly.js that JupyterLab's plotly renderer loads (each explorer holds a
    :func:`plotly_preload`).
    """
    from .._optional import require

    anywidget = require("anywidget", feature="the explorers' figures")
    import traitlets

    global _PlotlyView
    if _PlotlyView is None:
        class PlotlyView(anywidget.AnyWidget):
            _esm = _PLOTLY_VIEW_ESM
            figure = traitlets.Dict().tag(sync=True)

        _PlotlyView = PlotlyView
    return _PlotlyView(figure=spec)


_PlotlyView = None


def _bundle(fig) -> dict:
    """The mime bundle JupyterLab renders for a plotly figure (plotly's own renderer extension)."""
    import json

    import plotly.io as pio

    return {"application/vnd.plotly.v1+json": json.loads(pio.to_json(fig, validate=False)),
            "text/plain": f"<Figure {fig.layout.title.text or ''}>"}


def signals_html(signals: Sequence[tuple[str, str]], *, css_class: str) -> str:
    """The banner an explorer opens with: ``[(level, text)]`` with level ``"alert"``, ``"watch"`` or ``"ok"``.

    Alerts first; an empty list says that nothing needs attention (never an empty banner).
    """
    order = {"alert": 0, "watch": 1, "ok": 2}
    items = sorted(signals, key=lambda s: order.get(s[0], 1)) or [("ok", "Nothing needs attention in this view.")]
    colour = {"alert": ("#fde8e6", "#b3261e"), "watch": ("#fff4dd", "#8a5a00"), "ok": ("#e8f3ea", "#1e6b2e")}
    lis = "".join(f"<li class='tk-signal tk-signal-{lvl}' style='background:{colour.get(lvl, colour['watch'])[0]};"
                  f"color:{colour.get(lvl, colour['watch'])[1]};padding:3px 8px;margin:2px 0;border-radius:3px'>"
                  f"{html.escape(text)}</li>" for lvl, text in items)
    return (f"<div class='tk-signals {css_class}'><b>Signals</b><ul style='list-style:none;padding-left:0;"
            f"margin:2px 0 6px'>{lis}</ul></div>")


def write_figure(fig, path) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js inside: it opens offline); return the path."""
    path = Path(path)
    if path.suffix.lower() != ".html":
        raise ExportError(f"cannot write {path.name}: figures are written as .html (interactive, offline).")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist.")
    try:
        fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}.") from None
    return path


def safe_name(*parts: str) -> str:
    """A file-name stem from the view's state: letters, digits, ``-`` and ``_`` only."""
    stem = "_".join(p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_") or "view"


def export_view(folder, stem: str, *, table: pd.DataFrame | None, figure=None, fmt: str = "csv",
                caption: str | None = None) -> list[Path]:
    """Write the view's table (``fmt`` ``"csv"`` or ``"xlsx"``) and figure (HTML) as ``<folder>/<stem>.*``."""
    folder = Path(folder)
    if fmt not in ("csv", "xlsx"):
        raise ExportError(f"format {fmt!r}: choose csv or xlsx.")
    out = []
    if table is not None:
        out.append(write_table(table, folder / f"{stem}.{fmt}", caption=caption))
    if figure is not None:
        out.append(write_figure(figure, folder / f"{stem}.html"))
    return out
