"""Table rendering: tidy result frames to HTML (Jupyter), Excel and LaTeX.

Presentation layer only: these functions take a frame that a compute function produced and lay it
out; they compute no statistics. Every result object with a ``display_frame()`` (or
``to_frame()``) and a ``caption`` can be passed to :func:`render_table`.

Examples
--------
>>> import pandas as pd
>>> from trialkit.tables import frame_html
>>> "<table" in frame_html(pd.DataFrame({"a": [1.23456]}), caption="demo", digits=2)
True
"""

from __future__ import annotations

import html
import math
import re
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import TrialkitError

__all__ = ["format_value", "format_estimate", "format_count", "format_mean_sd", "frame_html", "frame_latex",
           "render_table", "result_html", "FORMATS", "NOT_ESTIMABLE"]

FORMATS = (".html", ".xlsx", ".tex", ".csv")

#: what a table shows for a statistic that cannot be computed (the SD of one patient, a ratio of zero)
NOT_ESTIMABLE = "–"
#: column names that hold counts: shown as integers even when stored as floats (a missing count makes pandas
#: store the column as float)
COUNT_COLUMNS = frozenset({"n", "N", "events", "count", "missing", "screened", "failed", "undetermined", "excluded",
                           "entering", "remaining", "remaining_all_known", "unknown", "n_risk", "n_events",
                           "n_censored", "censored", "at_risk", "randomized", "eligible"})
_NAN_TOKEN = re.compile(r"(?<![A-Za-z])(nan|NaN)(?![A-Za-z])")

_CSS = ("<style>.tk-result{font-family:system-ui,sans-serif;margin:4px 0}"
        ".tk-result .tk-title{font-weight:600;margin:2px 0 6px}"
        ".tk-result .tk-part{margin:2px 0 10px}.tk-result .tk-notes{color:#555;font-size:12px;margin:4px 0}"
        ".tk-table{border-collapse:collapse;font-size:12px;font-family:system-ui,sans-serif}"
        ".tk-table th{border-bottom:2px solid #444;padding:3px 8px;text-align:left;background:#f4f4f4}"
        ".tk-table td{padding:2px 8px;border-bottom:1px solid #e4e4e4;text-align:left;white-space:nowrap}"
        ".tk-table td.num{text-align:right;font-variant-numeric:tabular-nums}"
        ".tk-table td.tk-head{font-weight:600;background:#fafafa}"
        ".tk-table caption{caption-side:bottom;text-align:left;color:#555;padding-top:6px;max-width:60em}"
        ".tk-table td.tk-flag{color:#b00;font-weight:600}</style>")


def format_value(v, digits: int = 2) -> str:
    """Format one cell: empty for missing, thousands separators for integers, ``digits`` decimals."""
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return ""
        if float(v).is_integer() and abs(v) >= 1e4:
            return f"{int(v):,}"
        return f"{v:.{digits}f}"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}" if abs(int(v)) >= 1e4 else str(int(v))
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return str(v)


def format_estimate(v, digits: int = 2) -> str:
    """An estimate to ``digits`` decimals; ``"–"`` when it cannot be computed (NaN), never ``"nan"``."""
    if v is None or v is pd.NA:
        return NOT_ESTIMABLE
    x = float(v)
    return NOT_ESTIMABLE if math.isnan(x) else f"{x:.{digits}f}"


def format_count(v) -> str:
    """A count as an integer with thousands separators (``"1,234"``); empty when missing."""
    if v is None or v is pd.NA or (isinstance(v, float | np.floating) and math.isnan(v)):
        return ""
    return f"{int(round(float(v))):,}"


def format_mean_sd(mean, sd, digits: int = 1) -> str:
    """``"12.3 (4.5)"``; the SD of a single patient is ``"12.3 (–)"``; no patient gives ``""``."""
    if mean is None or mean is pd.NA or math.isnan(float(mean)):
        return ""
    return f"{float(mean):.{digits}f} ({format_estimate(sd, digits)})"


def clean_text(v):
    """A text cell with any formatted ``nan`` (e.g. ``"12.3 (nan)"``) shown as ``"–"``."""
    if not isinstance(v, str) or ("nan" not in v and "NaN" not in v):  # the regex only where it can match
        return v
    return _NAN_TOKEN.sub(NOT_ESTIMABLE, v)


def _is_count_column(name, col: pd.Series) -> bool:
    if not pd.api.types.is_float_dtype(col) or not (str(name) in COUNT_COLUMNS or str(name).startswith("n_")):
        return False
    x = col.dropna().to_numpy(dtype=float)
    return bool(len(x)) and bool(np.all(np.equal(np.mod(x, 1), 0)))


def _cells(values) -> list:
    """An array's cells as ``Series.map`` hands them to its function: Python scalars, ``pd.NA``, Timestamps, NaT.

    ``values`` is a Series' or an Index's ``.array``. As in pandas' ``map_array``: a numpy column gives Python
    scalars (an object column the objects themselves); dates, nullable Int64/Float64/boolean and every other
    array give their ``astype(object)`` (so a nullable integer column with a missing value keeps its integers:
    ``1``, not the ``1.00`` of its float ``to_numpy()``).
    """
    if isinstance(values.dtype, np.dtype) and values.dtype.kind not in "mM":
        return values.to_numpy().tolist()
    return list(values.astype(object))


def _map_cells(col: pd.Series, func) -> list[str]:
    """``col.map(func).astype(str)`` as a list, without a Series per column (``func`` returns text)."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # Categorical.map: each category once, a missing cell as func(NaN)
        cat = col.array
        text = [func(v) for v in _cells(cat.categories.array)]
        if len(cat) and cat.codes.min() < 0:
            text.append(func(np.nan))
        return [text[code] for code in cat.codes.tolist()]
    if isinstance(dtype, pd.SparseDtype | pd.ArrowDtype):  # their own map rules
        return col.map(func).astype(str).tolist()
    return [func(v) for v in _cells(col.array)]


def _format_column(name, col: pd.Series, digits: int) -> list[str]:
    if _is_count_column(name, col):
        return _map_cells(col, format_count)

    return _map_cells(col, lambda v: clean_text(format_value(v, digits)))


def _text_array(df: pd.DataFrame, digits: int) -> np.ndarray:
    """The formatted cells of ``df`` (object array of ``str``, one column per column of ``df``)."""
    out = np.empty(df.shape, dtype=object)
    for j, (name, col) in enumerate(df.items()):
        out[:, j] = _format_column(name, col, digits)
    return out


def _formatted(df: pd.DataFrame, digits: int) -> pd.DataFrame:
    return pd.DataFrame(_text_array(df, digits), index=df.index, columns=df.columns)


def _escape_html(s: str) -> str:
    """``s`` as pandas' ``Styler.format(escape="html")`` escapes it (markupsafe's five characters)."""
    return s.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("'", "&#39;").replace(
        '"', "&#34;")


def _cell_classes(df: pd.DataFrame, head_rows, flags) -> pd.DataFrame:
    """The CSS classes of each cell: ``num`` (right-aligned), ``tk-flag`` (red), ``tk-head`` (a group header row)."""
    classes = np.full(df.shape, "", dtype=object)
    for j, (c, col) in enumerate(df.items()):
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            classes[:, j] = "num"
        if flags is not None and c in flags:
            flagged = flags[c].reindex(df.index).fillna(False).astype(bool).to_numpy()
            classes[flagged, j] = classes[flagged, j] + " tk-flag"
    if head_rows is not None:
        head = pd.Series(head_rows).reindex(df.index).fillna(False).astype(bool).to_numpy()
        classes[head, :] = classes[head, :] + " tk-head"
    return pd.DataFrame(np.frompyfunc(str.strip, 1, 1)(classes), index=df.index,
                        columns=[str(c) for c in df.columns])


def _styler_html(df: pd.DataFrame, *, caption: str, digits: int, head_rows=None, flags=None) -> str:
    """One table through pandas' Styler: formatted text, numeric cells right-aligned, flagged cells red."""
    names = [str(c) for c in df.columns]
    # Styler places cell classes by label: a repeated column name or row label gets positions instead
    # (the index is hidden; the header still shows the names as given)
    repeated = not (pd.Index(names).is_unique and df.index.is_unique)
    classes = _cell_classes(df, head_rows, flags)
    if repeated:
        classes.index, classes.columns = pd.RangeIndex(len(df)), pd.RangeIndex(len(names))
    text = pd.DataFrame(np.frompyfunc(_escape_html, 1, 1)(_text_array(df, digits)),
                        index=classes.index if repeated else df.index, columns=classes.columns if repeated else names)
    from pandas.io.formats.style import Styler

    # the cells come escaped, so Styler's default formatter shows them as they are; format() with no
    # argument drops any formatter that pandas' styler.format options set. Same HTML as
    # format(escape="html"), without a formatter per cell for to_html's deep copy to copy.
    sty = (Styler(text, cell_ids=False, uuid="tk").hide(axis="index").format()
           .set_td_classes(classes).set_table_attributes("class='tk-table'"))
    if repeated:
        sty = sty.relabel_index(names, axis="columns")
    if caption:
        sty = sty.set_caption(html.escape(caption))
    return sty.to_html(doctype_html=False)


def frame_html(df: pd.DataFrame, *, caption: str = "", digits: int = 2, index: bool = False,
               head_rows: pd.Series | None = None, flags: pd.DataFrame | None = None, max_rows: int = 500) -> str:
    """Render a frame as an HTML table: the one table renderer behind every result's ``_repr_html_``.

    Parameters
    ----------
    head_rows : boolean Series aligned with ``df``, optional
        Rows drawn as group headers (bold).
    flags : boolean DataFrame like ``df``, optional
        Cells drawn in red (e.g. an SMD beyond its chance limit).
    max_rows : int
        Longer frames are cut, and the caption says how many rows were left out.
    """
    shown = df if len(df) <= max_rows else df.head(max_rows)
    if index:
        shown = shown.reset_index()
    cap = caption + (f" (first {max_rows} of {len(df)} rows shown)" if len(df) > max_rows else "")
    return _CSS + _styler_html(shown, caption=cap, digits=digits,
                               head_rows=None if head_rows is None else pd.Series(head_rows).iloc[:len(shown)],
                               flags=flags)


def result_html(result, *, digits: int = 3, max_rows: int = 200) -> str:
    """A trialkit result as HTML: its title, each of its tables (``html_parts()``) and its notes.

    The one ``_repr_html_`` of :class:`trialkit.results.Result`; site reports use it too.
    """
    out = [_CSS, "<div class='tk-result'>", f"<div class='tk-title'>{html.escape(result.title())}</div>"]
    for item in result.html_parts():
        caption, df = item[0], item[1]
        opts = item[2] if len(item) > 2 else {}
        shown = df if len(df) <= max_rows else df.head(max_rows)
        cap = caption + (f" (first {max_rows} of {len(df)} rows shown)" if len(df) > max_rows else "")
        out.append("<div class='tk-part'>" + _styler_html(shown, caption=cap, digits=opts.get("digits", digits),
                                                          head_rows=opts.get("head_rows"), flags=opts.get("flags"))
                   + "</div>")
    notes = getattr(result, "notes", ()) or ()
    if notes:
        out.append("<ul class='tk-notes'>" + "".join(f"<li>{html.escape(str(n))}</li>" for n in notes) + "</ul>")
    out.append("</div>")
    return "".join(out)


def frame_latex(df: pd.DataFrame, *, caption: str = "", digits: int = 2, label: str | None = None) -> str:
    """Render a frame as a LaTeX ``table`` with booktabs rules (special characters escaped)."""
    text = _formatted(df, digits)
    sty = text.style.hide(axis="index").format(escape="latex")
    sty = sty.format_index(escape="latex", axis=1)
    kw = {"hrules": True, "position_float": "centering"}
    if caption:
        kw["caption"] = caption.replace("\\", "/").replace("%", "\\%").replace("&", "\\&").replace("_", "\\_")
    if label:
        kw["label"] = label
    return sty.to_latex(**kw)


def _clean_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Text columns with formatted ``nan`` shown as ``"–"``; numbers untouched (a spreadsheet keeps them)."""
    out = df.copy()
    for j in range(out.shape[1]):
        col = out.iloc[:, j]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            out.iloc[:, j] = col.map(clean_text)
    return out


def _parts(result) -> tuple[pd.DataFrame, str]:
    if isinstance(result, pd.DataFrame):
        return result, ""
    if hasattr(result, "display_frame"):
        return result.display_frame(), str(getattr(result, "caption", "") or "")
    if hasattr(result, "summary") and isinstance(result.summary, pd.DataFrame):
        return result.summary, result.title() if hasattr(result, "title") else ""
    raise TrialkitError(f"cannot render a {type(result).__name__}: pass a DataFrame or a trialkit result.")


def render_table(result, path: str | PathLike, *, caption: str | None = None, digits: int = 2) -> Path:
    """Write a result's table (its ``display_frame()`` or ``summary``) or a frame to ``path``.

    The suffix chooses the format; returns the path.

    ``.html`` (standalone page), ``.xlsx`` (caption in cell A1, table from row 3), ``.tex``
    (LaTeX table with booktabs rules) or ``.csv``.
    """
    path = Path(path)
    df, cap = _parts(result)
    cap = cap if caption is None else caption
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise TrialkitError(f"cannot write {path.name}: use one of the suffixes {', '.join(FORMATS)}.")
    if suffix == ".html":
        from .io.export import formula_like

        body = frame_html(df, caption=cap, digits=digits, max_rows=max(len(df), 1))
        # Excel opens an HTML table as a sheet and runs a cell that starts like a formula; with the Text number
        # format (mso-number-format "\@") it shows it as written. Only a page with such a cell gets it (numbers
        # stay numbers otherwise); a browser ignores the property.
        style = "<style>td, th { mso-number-format: \"\\@\"; }</style>" if formula_like(df) else ""
        path.write_text(f"<!doctype html><html><head><meta charset='utf-8'>{style}</head><body>{body}</body></html>",
                        encoding="utf-8")
    elif suffix == ".tex":
        path.write_text(frame_latex(df, caption=cap, digits=digits), encoding="utf-8")
    elif suffix == ".csv":
        from .io.export import write_table

        write_table(_clean_frame(df), path)
    else:
        from .io.export import write_table

        write_table(_clean_frame(df), path, sheet="table", caption=cap)
    return path
