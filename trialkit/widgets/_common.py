"""Wiring shared by the explorers: the study map, the signal banner, "Export this view" (tables through the
project's one formula-safe writer, :func:`trialkit.io.export.write_table`; figures as offline HTML)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..errors import ExportError, TrialkitError
from ..io.export import write_table

__all__ = ["as_study_map", "warm_up_display", "signals_html", "write_table", "write_figure", "export_view", "safe_name",
           "ExportError"]


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
    not paid by the user's first click on a tab with a figure.
    """
    import plotly.io._renderers  # noqa: F401


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
