"""The one result protocol every trialkit analysis follows.

Every result is a frozen dataclass that mixes in :class:`Result`:

* ``.summary`` — the headline tidy frame (one row per group, test or table row);
* ``.parts()`` — every table the result holds, ``summary`` first (curves, risk tables, differences …);
* ``.to_frame()`` — all of it, lossless and long: an *analysis results dataset* in the spirit of CDISC
  ARS and gtsummary's ARD, one row per statistic with the columns of :data:`ARD_COLUMNS`;
* ``.figure()`` where a figure exists (it delegates to :mod:`trialkit.plots`);
* ``_repr_html_`` — the one HTML rendering, through :func:`trialkit.tables.result_html`.

The long frame
--------------
``analysis``   the analysis (``"km"``, ``"logrank"``, ``"balance_table"`` …);
``part``       which table of the result (``"summary"``, ``"curves"``, ``"settings"`` …);
``group``      the level of the ``by`` column the statistic belongs to (empty when none);
``term``       what else identifies the row, as ``key=value`` pairs joined by ``"; "``
               (``"time=180.0"``, ``"variable=age_years; level="``), empty when nothing does;
``statistic``  the statistic's name (a column of the part, e.g. ``"median"``);
``value``      its value: numbers stay numbers (float or int), text stays text, missing is ``None``.

The settings a result was computed with (confidence level, CI transform, time unit, population …)
are the part ``"settings"``, and its notes the part ``"notes"``, so nothing is lost.

Examples
--------
>>> import pandas as pd
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Demo(Result):
...     summary: pd.DataFrame
...     analysis = "demo"
>>> Demo(pd.DataFrame({"group": ["A"], "n": [3]})).to_frame()[["part", "group", "statistic", "value"]]
      part group statistic value
0  summary     A         n     3
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd

__all__ = ["Result", "ARD_COLUMNS", "long_frame", "part_from_frame"]

#: columns of every result's ``to_frame()``
ARD_COLUMNS = ("analysis", "part", "group", "term", "statistic", "value")


def _plain(v: Any) -> Any:
    """A cell as a plain Python value: numpy scalars unwrapped, every kind of missing as None."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def _term_text(v: Any) -> str:
    v = _plain(v)
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def long_frame(analysis: str, parts: dict[str, pd.DataFrame], *, keys: dict[str, tuple[str, ...]] | None = None,
               settings: dict[str, Any] | None = None, notes=()) -> pd.DataFrame:
    """Stack the parts of a result into the long analysis-results frame (:data:`ARD_COLUMNS`).

    Parameters
    ----------
    analysis : str
    parts : dict of str to DataFrame
        The result's tables by name.
    keys : dict of str to tuple of str, optional
        Per part, the columns that identify a row (besides ``group``); every other column is a
        statistic. Default: ``group`` plus every column that is neither numeric nor boolean.
        A part that is already long (it has ``statistic`` and ``value`` columns) keeps them.
    settings : dict, optional
        The settings the result was computed with (the ``"settings"`` part).
    notes : sequence of str
        The result's notes (the ``"notes"`` part, statistic ``"note"``).
    """
    keys = keys or {}
    out: list[tuple] = []
    for name, df in parts.items():
        if df is None:
            continue
        long_already = "statistic" in df.columns and "value" in df.columns
        if name in keys:
            ids = [c for c in keys[name] if c != "group"]
        else:
            ids = [c for c in df.columns if c not in ("group", "statistic", "value")
                   and not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
        stats = ["value"] if long_already else [c for c in df.columns if c != "group" and c not in ids]
        group = df["group"].astype(object).tolist() if "group" in df.columns else [None] * len(df)
        id_values = [df[c].astype(object).tolist() for c in ids]
        terms = ["; ".join(f"{c}={_term_text(v[i])}" for c, v in zip(ids, id_values)) for i in range(len(df))]
        stat_names = df["statistic"].astype(object).tolist() if long_already else None
        for col in stats:
            values = df[col].astype(object).tolist()
            for i, v in enumerate(values):
                out.append((analysis, name, _term_text(group[i]), terms[i],
                            str(stat_names[i]) if long_already else str(col), _plain(v)))
    for k, v in (settings or {}).items():
        out.append((analysis, "settings", "", "", str(k), _plain(v) if not isinstance(v, tuple | list)
                    else ", ".join(map(str, v))))
    for note in notes:
        out.append((analysis, "notes", "", "", "note", str(note)))
    return pd.DataFrame(out, columns=list(ARD_COLUMNS)).astype(
        {"analysis": "string", "part": "string", "group": "string", "term": "string", "statistic": "string",
         "value": object})


def part_from_frame(ard: pd.DataFrame, part: str) -> pd.DataFrame:
    """Rebuild one part (wide) from a long results frame: the inverse of :func:`long_frame`.

    Identifier values come back as text (they were stored as ``key=value`` text); statistics keep
    their values. Used to check that ``to_frame()`` is lossless.
    """
    sub = ard[ard["part"] == part]
    if not len(sub):
        return pd.DataFrame()
    rows: dict[tuple, dict] = {}
    for g, term, stat, value in zip(sub["group"], sub["term"], sub["statistic"], sub["value"]):
        key = (g, term)
        if key not in rows:
            rec = {"group": g} if g != "" else {}
            for pair in (term.split("; ") if term else []):
                k, _, v = pair.partition("=")
                rec[k] = v
            rows[key] = rec
        rows[key][stat] = value
    return pd.DataFrame(list(rows.values()))


class Result:
    """Mixin for trialkit's frozen result dataclasses (see the module docstring).

    A subclass is a ``@dataclass(frozen=True)`` with a ``summary`` field (or property) and sets
    ``analysis``. It overrides :meth:`parts` when it holds more than the summary, :meth:`settings`
    for the options it was computed with, ``part_keys`` when a part's identifying columns are
    numeric (e.g. ``time``), and :meth:`title` for its heading. ``notes`` (a tuple of str), when the
    dataclass has it, is carried into the long frame and the HTML.
    """

    analysis: ClassVar[str] = ""
    #: per part, the columns that identify a row besides ``group`` (numeric keys must be listed)
    part_keys: ClassVar[dict[str, tuple[str, ...]]] = {}

    def parts(self) -> dict[str, pd.DataFrame]:
        """Every table of the result by name, ``summary`` first."""
        return {"summary": self.summary}

    def settings(self) -> dict[str, Any]:
        """The options the result was computed with (part ``"settings"`` of :meth:`to_frame`)."""
        return {}

    def title(self) -> str:
        """A one-line heading for the HTML rendering."""
        return self.analysis.replace("_", " ").capitalize()

    def to_frame(self) -> pd.DataFrame:
        """Everything the result holds as one long frame (:data:`ARD_COLUMNS`); lossless."""
        return long_frame(self.analysis, self.parts(), keys=self.part_keys, settings=self.settings(),
                          notes=getattr(self, "notes", ()) or ())

    def html_parts(self) -> list[tuple[str, pd.DataFrame]]:
        """The tables the HTML rendering shows, with their captions (default: every part)."""
        return [("" if name == "summary" else name.replace("_", " "), df) for name, df in self.parts().items()
                if df is not None and len(df.columns)]

    def _repr_html_(self) -> str:
        from .tables import result_html

        return result_html(self)
