"""The one writer of tables people open in a spreadsheet: CSV and Excel, safe from formula injection.

A cell whose text begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets when the file is opened (OWASP, "CSV Injection").
:func:`write_table` neutralizes such cells:

- in **CSV** the text is prefixed with a single quote (``'=HYPERLINK(...)``), as OWASP advises;
- in **XLSX** the cell is written as a text cell with Excel's own quote-prefix mark (what Excel
  does when you type ``'=1+1``): it shows the text exactly and is never evaluated.

Real numbers stay numbers: numeric columns are written as numbers, and text that is a plain
number (``-0.5``, ``+3``) is left as it is. Every export of trialkit (exclusion and disagreement
lists, Table 1, explorer downloads, problem reports, study folders) goes through this function.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ExportError, InputTypeError

__all__ = ["write_table", "csv_text", "neutralize", "risky_cells", "formula_like", "FORMULA_TRIGGERS"]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_RISKY = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
SUFFIXES = (".csv", ".xlsx")
_TRIGGER_SET = frozenset(FORMULA_TRIGGERS)
_NUMBER_RE = re.compile(_NUMBER)


def _is_text_column(s: pd.Series) -> bool:
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype) or isinstance(s.dtype, pd.CategoricalDtype)


def risky_cells(data: pd.DataFrame) -> pd.DataFrame:
    """Boolean frame: True where a cell is text that a spreadsheet would run as a formula."""
    hits = np.zeros(data.shape, dtype=bool)
    for j in range(data.shape[1]):
        s = data.iloc[:, j]
        if _is_text_column(s):
            hits[:, j] = _risky_text(s.to_numpy(dtype=object))
    return pd.DataFrame(hits, index=data.index, columns=data.columns)


def _risky_text(values: np.ndarray) -> np.ndarray | bool:
    """Which values are text starting like a formula and not a plain number (False where none is).

    Value by value in Python: one look at each first character costs far less than pandas' string
    methods on a column, and most columns have no candidate at all."""
    if not any(isinstance(v, str) and v[:1] in _TRIGGER_SET for v in values):
        return False
    return np.fromiter((isinstance(v, str) and v[:1] in _TRIGGER_SET and _NUMBER_RE.fullmatch(v) is None
                        for v in values), dtype=bool, count=len(values))


def neutralize(data: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """A copy of ``data`` whose formula-like text cells are prefixed with ``'``; and the count per column."""
    risky = risky_cells(data)
    counts = {str(c): int(n) for c, n in risky.sum().items() if n}
    if not counts:
        return data, counts
    out = data.copy()
    for j in np.flatnonzero(risky.any().to_numpy()):
        col = out.iloc[:, j].astype(object)
        mask = risky.iloc[:, j].to_numpy()
        col[mask] = ["'" + v for v in col[mask]]
        out.isetitem(j, col)
    return out, counts


def formula_like(data: pd.DataFrame) -> bool:
    """Does any text cell or column name of ``data`` start like a spreadsheet formula?"""
    return bool(risky_cells(data).to_numpy().any()) or _safe_header(data) is not data


def _safe_header(data: pd.DataFrame) -> pd.DataFrame:
    names = [str(c) for c in data.columns]
    fixed = ["'" + n if re.match(_RISKY, n) and not re.fullmatch(_NUMBER, n) else n for n in names]
    if fixed == list(data.columns):
        return data
    out = data.copy()
    out.columns = fixed
    return out


def write_table(data: pd.DataFrame, path: str | os.PathLike, *, sheet: str = "table", caption: str | None = None,
                index: bool = False, date_format: str | None = None, lineterminator: str = "\n",
                encoding: str = "utf-8") -> Path:
    """Write a frame to ``.csv`` or ``.xlsx`` with formula-like cells neutralized; return the path.

    Parameters
    ----------
    data : pandas.DataFrame
        The table (not modified).
    path : path-like
        The file; its suffix chooses the format (``.csv`` or ``.xlsx``). The folder must exist.
    sheet : str, default "table"
        Worksheet name (Excel only).
    caption : str, optional
        Excel: written in cell A1 and the table starts on row 3. Ignored for CSV.
    index : bool, default False
        Write the index as the first column(s).
    date_format, lineterminator, encoding
        CSV only: strftime format of datetime columns, line end, text encoding.

    Raises
    ------
    ExportError
        An unknown suffix, a missing folder, or a file that cannot be written.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from trialkit.io.export import write_table
    >>> p = write_table(pd.DataFrame({"note": ["=1+1", "-5"]}), tempfile.mkdtemp() + "/t.csv")
    >>> p.read_text().splitlines()
    ['note', "'=1+1", '-5']
    """
    _need_frame(data, "write_table")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ExportError(f"cannot write {path.name}: write_table writes {' or '.join(SUFFIXES)} files.")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist.")
    frame = data.reset_index() if index else data
    try:
        if suffix == ".csv":
            safe, _ = neutralize(_safe_header(frame))
            safe.to_csv(path, index=False, date_format=date_format, lineterminator=lineterminator, encoding=encoding,
                        quoting=_quoting(safe))
        else:
            _write_xlsx(frame, path, sheet=sheet, caption=caption)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}.") from None
    return path


def csv_text(data: pd.DataFrame, *, date_format: str | None = None, lineterminator: str = "\n") -> str:
    r"""The CSV text :func:`write_table` would write (formula-like cells neutralized), for writers that
    add lines of their own around the table.

    Examples
    --------
    >>> import pandas as pd
    >>> from trialkit.io.export import csv_text
    >>> csv_text(pd.DataFrame({"arm": ["InO", "@SUM(A1)"]}))
    "arm\nInO\n'@SUM(A1)\n"
    """
    _need_frame(data, "csv_text")
    safe, _ = neutralize(_safe_header(data))
    return safe.to_csv(index=False, date_format=date_format, lineterminator=lineterminator, quoting=_quoting(safe))


def _need_frame(data, verb: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise InputTypeError(f"{verb} writes a pandas DataFrame, not a {type(data).__name__}.")


def _quoting(data: pd.DataFrame) -> int:
    """Minimal quoting, or every field quoted when a text holds a carriage return (Python's csv
    writer quotes line breaks of the line terminator only, and an unquoted CR splits the record)."""
    for j in range(data.shape[1]):
        s = data.iloc[:, j]
        if _is_text_column(s) and any(isinstance(v, str) and "\r" in v for v in s.astype(object)):
            return csv.QUOTE_ALL
    return csv.QUOTE_MINIMAL


def _cell_value(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float | np.floating) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.tz_localize(None).to_pydatetime() if v.tzinfo else v.to_pydatetime()
    if isinstance(v, str | int | float | bool):
        return v
    return str(v)


def _put(ws, row: int, col: int, v) -> None:
    v = _cell_value(v)
    cell = ws.cell(row=row, column=col)
    if isinstance(v, str) and re.match(_RISKY, v) and not re.fullmatch(_NUMBER, v):
        cell.value = v
        cell.data_type = "s"  # text, never a formula
        cell.quotePrefix = True
    else:
        cell.value = v


def _write_xlsx(frame: pd.DataFrame, path: Path, *, sheet: str, caption: str | None) -> None:
    from .._optional import require

    Workbook = require("openpyxl", feature=f"writing {path.name}").Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = (re.sub(r"[\[\]:*?/\\]", "_", sheet) or "table")[:31]
    top = 1
    if caption:
        _put(ws, 1, 1, caption)
        top = 3
    for j, c in enumerate(frame.columns, 1):
        _put(ws, top, j, str(c))
    columns = [frame.iloc[:, j].to_numpy(dtype=object) for j in range(frame.shape[1])]
    for i in range(len(frame)):
        for j, col in enumerate(columns, 1):
            _put(ws, top + 1 + i, j, col[i])
    wb.save(path)
