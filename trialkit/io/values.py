"""Reading the values of one column: missing-value tokens, numbers, dates, yes/no, text.

Nothing is guessed value by value. A column's **decimal mark** is decided from the values that can
only be read one way (``0.0085``, ``12,5``, ``1.250,5``); a column whose only evidence is values
such as ``1,250`` or ``1.250`` (a thousands separator or a decimal mark?) is a problem unless
``decimal:`` is declared. A column's **day/month order** is decided the same way (``13/04/2023``
can only be day first); a column where every such date has day and month ≤ 12 is a problem unless
``date_order:`` or ``date_format:`` is declared, and the order is never mixed within a column.
**Missing-value tokens** (``NA``, ``ND``, …) are counted per column and reported in the notes.

Each reader returns a :class:`ColumnRead`: the values in the canonical dtype, the problems (each
with the positions of the rows concerned) and notes. Text work is vectorized with pyarrow.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..conventions import FALSE_WORDS, MONTHS, NA_TOKENS, TRUE_WORDS

__all__ = ["ColumnRead", "Issue", "ReadSettings", "read_values", "missing_mask", "STRING", "EXCEL_EPOCH"]

STRING = pd.StringDtype("pyarrow")  # canonical string storage: arrow-backed, prints as "string"
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
#: Excel serial day numbers read as dates (1 = 1900-01-01 … 80000 = 2119-01-10).
SERIAL_RANGE = (1, 80000)
_DATE_MIN, _DATE_MAX = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")


@dataclass(frozen=True)
class Issue:
    """A problem found while reading a column: the rows it concerns (positions), what and the fix.

    ``per_row`` issues become one problem row per position; otherwise one problem names the first
    position and its value (the problem text gives the count).
    """

    positions: np.ndarray
    problem: str
    fix: str
    per_row: bool = True
    report: bool = True  # False: marks the rows unread; another issue describes them


@dataclass
class ColumnRead:
    values: pd.Series
    issues: list[Issue] = field(default_factory=list)
    imputed: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def failed(self) -> np.ndarray:
        """Mask of the rows named by any issue."""
        mask = np.zeros(len(self.values), dtype=bool)
        for i in self.issues:
            mask[i.positions] = True
        return mask


@dataclass(frozen=True)
class ReadSettings:
    """How to read a column (resolved from ``study.yaml`` for that column)."""

    decimal: str | None = None
    date_format: str | None = None
    date_order: str | None = None
    partial: str = "first"
    na_values: tuple[str, ...] = NA_TOKENS
    kind: str = "text"  # text | excel | parquet: what a number in a date column can mean
    declared: str = "study.yaml"  # where the settings were declared, for messages


# --------------------------------------------------------------------------------------------
# text views and missing values
# --------------------------------------------------------------------------------------------
def _chunked(arr) -> pa.ChunkedArray:
    return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])


def _bool_np(arr) -> np.ndarray:
    """A boolean arrow array as numpy (nulls are False)."""
    if arr.null_count:
        arr = pc.fill_null(arr, False)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _kind_codes(values: pd.Series) -> np.ndarray:
    """For an object column: 0 missing, 1 text, 2 number, 3 yes/no, 4 date/time, 5 other."""
    def code(v):
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
            return 0
        if isinstance(v, str):
            return 1
        if isinstance(v, bool | np.bool_):
            return 3
        if isinstance(v, int | float | np.integer | np.floating | Decimal):
            return 2
        if isinstance(v, _dt.date | _dt.datetime | pd.Timestamp | np.datetime64):
            return 4
        return 5
    return np.fromiter((code(v) for v in values.to_numpy(dtype=object)), dtype=np.int8, count=len(values))


def _as_text(v) -> str | None:
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return repr(float(v))
    if isinstance(v, pd.Timestamp | _dt.datetime):
        ts = pd.Timestamp(v)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    return str(v)


def text_view(values: pd.Series) -> pa.ChunkedArray:
    """The column as arrow strings (numbers, dates and yes/no of an object column as text)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return _chunked(values.array._pa_array)
    if isinstance(values.dtype, pd.StringDtype):
        return pa.chunked_array([pa.array(values.to_numpy(dtype=object, na_value=None), type=pa.string())])
    if values.dtype == object:
        obj = values.to_numpy(dtype=object)
        try:
            return pa.chunked_array([pa.array(obj, type=pa.string(), from_pandas=True)])
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # not only text: render each value
            return pa.chunked_array([pa.array([_as_text(v) for v in obj], type=pa.string())])
    return pa.chunked_array([pa.array([_as_text(v) for v in values.to_numpy(dtype=object)], type=pa.string())])


def missing_mask(text: pa.ChunkedArray, tokens) -> tuple[pa.ChunkedArray, np.ndarray, dict[str, int]]:
    """Trim ``text`` and find the missing values: nulls, empty text and the ``tokens``
    (case-insensitive). Returns ``(trimmed text, missing mask, {token as written: count})``; the
    count leaves out empty cells."""
    stripped, na, token = _missing_core(text, tokens)
    return stripped, na, _token_counts(stripped, token)


def missing_masks(texts: list[pa.ChunkedArray], tokens) -> list[tuple[pa.ChunkedArray, np.ndarray, dict[str, int]]]:
    """:func:`missing_mask` of each of ``texts`` (all of one arrow type), found in one pass over them
    all: the same results, without a dozen pyarrow calls per column (a table of a few rows costs
    mostly these calls)."""
    lengths = [len(t) for t in texts]
    combined = pa.chunked_array([c for t in texts for c in t.chunks], type=texts[0].type)
    stripped, na, token = _missing_core(combined, tokens)
    out, start = [], 0
    for n in lengths:
        part, tok = stripped.slice(start, n), token[start:start + n]
        out.append((part, na[start:start + n].copy(), _token_counts(part, tok)))
        start += n
    return out


def _missing_core(text: pa.ChunkedArray, tokens) -> tuple[pa.ChunkedArray, np.ndarray, np.ndarray]:
    """The trimmed text, the missing mask and the mask of the tokens (not empty cells) of ``text``."""
    stripped = pc.utf8_trim_whitespace(text)
    keys = tuple(sorted({str(t).strip().lower() for t in tokens} | {""}))
    found = pc.index_in(pc.utf8_lower(stripped), value_set=_string_array(keys))
    found = np.asarray(found.to_numpy(zero_copy_only=False), dtype=float)  # position in keys; NaN: none
    na = ~np.isnan(found)
    token = na & (found != keys.index(""))  # (nulls are not found)
    if stripped.null_count:
        na |= _bool_np(pc.is_null(stripped))
    return stripped, na, token


def _token_counts(stripped: pa.ChunkedArray, token: np.ndarray) -> dict[str, int]:
    """``{token as written: count}`` of the values of ``stripped`` where ``token`` is True."""
    if not token.any():
        return {}
    vc = pc.value_counts(pc.filter(stripped, pa.chunked_array([pa.array(token)])))
    return dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()))


@lru_cache(maxsize=64)
def _string_array(texts: tuple[str, ...]) -> pa.Array:
    """An arrow array of a few texts, built once (a value set for ``is_in``)."""
    return pa.array(texts, type=pa.string())


def _token_notes(counts: dict[str, int], file: str, column: str) -> list[str]:
    return [f"{file}: `{column}`: {n} value(s) {tok!r} read as missing" for tok, n in
            sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _numeric_tokens(tokens) -> list[float]:
    out = []
    for t in tokens:
        try:
            x = float(str(t).strip())
        except ValueError:
            continue
        if x == x and abs(x) != float("inf"):
            out.append(x)
    return out


# --------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------
_SEP = "[ \u00a0\u202f']"
_NUM = {
    "plain": r"^[+-]?\d+(\.\d+)?$",
    "int": r"^[+-]?\d+([eE][+-]?\d+)?$",
    "dot": r"^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$",
    "comma": r"^[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?$",
    "amb_dot": r"^[+-]?[1-9]\d{0,2}\.\d{3}$",
    "amb_comma": r"^[+-]?[1-9]\d{0,2},\d{3}$",
    "th_dot": r"^[+-]?[1-9]\d{0,2}(\.\d{3})+(,\d+)?$",
    "th_comma": r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$",
    "sp_dot": rf"^[+-]?[1-9]\d{{0,2}}({_SEP}\d{{3}})+\.\d+$",
    "sp_comma": rf"^[+-]?[1-9]\d{{0,2}}({_SEP}\d{{3}})+,\d+$",
    "sp_int": rf"^[+-]?[1-9]\d{{0,2}}({_SEP}\d{{3}})+$",
}


def _match(arr, name: str) -> np.ndarray:
    return _bool_np(pc.match_substring_regex(arr, _NUM[name]))


def _decimal_votes(arr) -> dict[str, np.ndarray]:
    m = {k: _match(arr, k) for k in _NUM if k != "plain"}
    return {
        ".": (m["dot"] & ~m["amb_dot"]) | (m["th_comma"] & ~m["amb_comma"]) | m["sp_dot"],
        ",": (m["comma"] & ~m["amb_comma"]) | (m["th_dot"] & ~m["amb_dot"]) | m["sp_comma"],
        "ambiguous": m["amb_dot"] | m["amb_comma"],
        "valid.": m["int"] | m["dot"] | m["th_comma"] | m["sp_dot"] | m["sp_int"],
        "valid,": m["int"] | m["comma"] | m["th_dot"] | m["sp_comma"] | m["sp_int"],
    }


def _to_float(arr, decimal: str) -> np.ndarray:
    thousands = "[,\u00a0\u202f' ]" if decimal == "." else "[.\u00a0\u202f' ]"
    clean = pc.replace_substring_regex(arr, thousands, "")
    if decimal == ",":
        clean = pc.replace_substring(clean, ",", ".")
    return pc.cast(clean, pa.float64()).to_numpy(zero_copy_only=False)


def _choose_decimal(votes, settings: ReadSettings, sub_pos: np.ndarray, sub_vals, issues: list[Issue]):
    """The decimal mark of a column (None when undecidable), adding issues for contradicting values."""
    if settings.decimal:
        return settings.decimal
    n_dot, n_comma = int(votes["."].sum()), int(votes[","].sum())
    if n_dot and n_comma:
        mark = "." if n_dot >= n_comma else ","
        other = "," if mark == "." else "."
        bad = np.flatnonzero(votes[other])
        issues.append(Issue(sub_pos[bad], f"decimal mark {other!r} where the rest of the column uses {mark!r} "
                            f"({max(n_dot, n_comma)} value(s) vs {len(bad)})",
                            f"write every number of the column with the same decimal mark, or declare "
                            f"`decimal:` for it in {settings.declared}"))
        return mark
    if n_dot or n_comma:
        return "." if n_dot else ","
    amb = np.flatnonzero(votes["ambiguous"])
    if len(amb):
        first = amb[0]
        issues.append(Issue(sub_pos[amb[:1]], f"decimal mark cannot be told: {len(amb)} value(s) such as "
                            f"{sub_vals[first]!r} may be a thousands separator or a decimal mark, and no value of "
                            "the column decides it", f"declare it in {settings.declared}: `decimal: ','` or "
                            "`decimal: '.'` (for all files, per table or per column)", per_row=False))
        issues.append(Issue(sub_pos[amb], "", "", report=False))
    return None


def read_numbers(values: pd.Series, dtype: str, settings: ReadSettings, na: np.ndarray,
                 text: pa.ChunkedArray | None) -> ColumnRead:
    """Numbers (``Float64`` or whole ``Int64``) from typed values or text, the decimal mark decided per column."""
    n = len(values)
    out = np.full(n, np.nan)
    issues: list[Issue] = []
    notes: list[str] = []
    kinds = _kind_codes(values) if values.dtype == object else None
    typed = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
    if typed:
        out = np.where(na, np.nan, values.to_numpy(dtype="float64", na_value=np.nan))
    elif pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        bad = np.flatnonzero(~na)
        what = "yes/no values" if pd.api.types.is_bool_dtype(values.dtype) else "dates"
        if len(bad):
            issues.append(Issue(bad, f"wrong type: the file stores {what} where numbers are expected",
                                "store the column as numbers"))
    else:
        textual = ~na if kinds is None else (~na & (kinds == 1))
        if kinds is not None:
            num = np.flatnonzero(~na & (kinds == 2))
            out[num] = [float(v) for v in values.to_numpy(dtype=object)[num]]
            other = np.flatnonzero(~na & np.isin(kinds, (3, 4, 5)))
            if len(other):
                issues.append(Issue(other, "not a number (a date or yes/no value where a number is expected)",
                                    "enter a number"))
        _text_numbers(text, textual, out, settings, issues, notes)
    res = ColumnRead(pd.Series(pd.arrays.FloatingArray(out, np.isnan(out)), index=values.index), issues, notes=notes)
    if dtype == "Int64":
        frac = np.flatnonzero(~np.isnan(out) & (out != np.round(out)))
        if len(frac):
            res.issues.append(Issue(frac, "value is not a whole number", "correct the value in the source file"))
        big = np.abs(out) > 2**53
        vals = np.where(np.isnan(out) | big | (out != np.round(out)), np.nan, out)
        missing = np.isnan(vals)
        res.values = pd.Series(pd.arrays.IntegerArray(np.where(missing, 0, vals).astype(np.int64), missing),
                               index=values.index)
        if big.any():
            res.issues.append(Issue(np.flatnonzero(big), "number too large for a whole-number column",
                                    "correct the value"))
    res.values = _blank_failed(res)
    return res


def _text_numbers(text, textual: np.ndarray, out: np.ndarray, settings: ReadSettings, issues: list[Issue],
                  notes: list[str]):
    pos = np.flatnonzero(textual)
    if not len(pos):
        return
    sub = pc.take(text, pa.array(pos)) if len(pos) < len(textual) else text
    if pc.any(pc.match_substring(sub, "\u2212")).as_py():  # the typographic minus sign of some exports
        sub = pc.replace_substring(sub, "\u2212", "-")
    if not settings.decimal or settings.decimal == ".":  # fast path: plain numbers, decimal point decided
        plain = _match(sub, "plain")
        if plain.all():
            has_dot = _bool_np(pc.match_substring(sub, "."))
            amb = _match(sub, "amb_dot") if has_dot.any() else np.zeros(len(pos), bool)
            if settings.decimal == "." or not amb.any() or (has_dot & ~amb).any():
                out[pos] = pc.cast(sub, pa.float64()).to_numpy(zero_copy_only=False)
                return
    votes = _decimal_votes(sub)
    sub_vals = np.asarray(sub.to_numpy(zero_copy_only=False), dtype=object)
    mark = _choose_decimal(votes, settings, pos, sub_vals, issues)
    if mark is None:
        ok = votes["valid."] & votes["valid,"] & ~votes["ambiguous"]  # integers only
        out[pos[ok]] = _to_float(pc.filter(sub, pa.array(ok)), ".")
        _thousands_note(sub, ok, None, out[pos], sub_vals, notes)
        rest = ~ok & ~votes["ambiguous"]
        if rest.any():
            issues.append(Issue(pos[rest], "value is not a number", "correct the value in the source file"))
        return
    other = "," if mark == "." else "."
    ok = votes[f"valid{mark}"]
    if ok.any():
        out[pos[ok]] = _to_float(pc.filter(sub, pa.array(ok)), mark)
        _thousands_note(sub, ok, mark, out[pos], sub_vals, notes)
    already = np.zeros(len(pos), bool)
    for i in issues:
        already |= np.isin(pos, i.positions)
    wrong_mark = ~ok & votes[f"valid{other}"] & ~already
    if wrong_mark.any():
        src = f"declared in {settings.declared}" if settings.decimal else "used by the rest of the column"
        issues.append(Issue(pos[wrong_mark], f"not a number with the decimal mark {mark!r} ({src})",
                            "write the number with that decimal mark"))
    bad = ~ok & ~votes[f"valid{other}"] & ~already
    if bad.any():
        issues.append(Issue(pos[bad], "value is not a number", "correct the value in the source file"))


def _thousands_note(sub, ok: np.ndarray, mark: str | None, read: np.ndarray, sub_vals, notes: list[str]) -> None:
    """The file shows ``1,250`` and trialkit 1250: count such values in the notes, with an example."""
    seps = "[,\u00a0\u202f' ]" if mark == "." else "[.\u00a0\u202f' ]" if mark == "," else "[\u00a0\u202f' ]"
    grouped = ok & _bool_np(pc.match_substring_regex(sub, seps))
    if grouped.any():
        first = int(np.flatnonzero(grouped)[0])
        what = f", decimal mark {mark!r}" if mark else ""
        notes.append(f"{int(grouped.sum())} value(s) with thousands separators{what} (e.g. {sub_vals[first]!r} = "
                     f"{np.format_float_positional(read[first], trim='-')})")


def _blank_failed(res: ColumnRead) -> pd.Series:
    failed = res.failed()
    if not failed.any():
        return res.values
    vals = res.values.copy()
    vals[failed] = pd.NaT if pd.api.types.is_datetime64_any_dtype(vals.dtype) else pd.NA
    return vals


# --------------------------------------------------------------------------------------------
# dates
# --------------------------------------------------------------------------------------------
_D = {
    "iso": r"^\d{4}-\d{2}-\d{2}$",
    "iso_time": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$",
    "iso_month": r"^\d{4}-\d{2}$",
    "year": r"^(19|20|21)\d{2}$",
    "basic": r"^(19|20|21)\d{2}(0[1-9]|1[0-2])\d{2}$",
    "dmy": r"^(?P<a>\d{1,2})[./-](?P<b>\d{1,2})[./-](?P<y>\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$",
    "dmy2": r"^\d{1,2}([./-])\d{1,2}([./-])\d{2}$",
    "ymd": r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})$",
    "month_year": r"^(?P<m>\d{1,2})[/.-](?P<y>\d{4})$",
    "d_mon_y": r"^(?P<d>\d{1,2})[ ./-]?(?P<mon>\pL{3,9})\.?[ ./,-]*(?P<y>\d{4})$",
    "mon_d_y": r"^(?P<mon>\pL{3,9})\.?[ ./-]?(?P<d>\d{1,2}),?[ ./-]*(?P<y>\d{4})$",
    "serial": r"^\d{4,5}([.,]\d+)?$",
}
_ORDER_FIX = ("declare the order in {where}: `date_order: dmy` or `date_order: mdy` (or a `date_format`), "
              "for all files, per table or per column")


def _dmatch(arr, name: str) -> np.ndarray:
    return _bool_np(pc.match_substring_regex(arr, _D[name]))


def _extract(sub, mask: np.ndarray, pattern: str, default: str):
    """Named groups of ``pattern`` for the rows of ``mask`` (the others read ``default``)."""
    return pc.extract_regex(pc.if_else(pa.chunked_array([pa.array(mask)]), sub, default), pattern)


def _ints(struct, name: str) -> np.ndarray:
    if isinstance(struct, pa.ChunkedArray):
        struct = struct.combine_chunks()
    return pc.cast(struct.field(name), pa.int64()).to_numpy(zero_copy_only=False)


def _from_parts(y, m, d) -> np.ndarray:
    """datetime64[ns] from year/month/day arrays; NaT where the date does not exist."""
    y, m, d = (np.asarray(a, dtype=np.int64) for a in (y, m, d))
    ok = (m >= 1) & (m <= 12) & (d >= 1) & (y >= 1678) & (y <= 2261)
    months = np.where(ok, (y - 1970) * 12 + m - 1, 0).astype("datetime64[M]")
    days_in = ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(np.int64)
    ok &= d <= days_in
    out = (months.astype("datetime64[D]") + np.where(ok, d - 1, 0)).astype("datetime64[ns]")
    out[~ok] = np.datetime64("NaT")
    return out


@dataclass
class _DateWork:
    """The state of a date column being read: values found so far, rows still to read, issues."""

    out: np.ndarray
    todo: np.ndarray
    imputed: np.ndarray
    issues: list[Issue]
    notes: list[str]


def read_dates(values: pd.Series, settings: ReadSettings, na: np.ndarray, text: pa.ChunkedArray | None,
               *, file: str = "", column: str = "") -> ColumnRead:
    """Dates from typed values or text, with one day/month order per column (see the module docstring)."""
    n = len(values)
    w = _DateWork(np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"), ~na, np.zeros(n, bool), [], [])
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        _typed_dates(values, w)
    elif pd.api.types.is_bool_dtype(values.dtype):
        w.issues.append(Issue(np.flatnonzero(w.todo), "wrong type: the file stores yes/no values where dates "
                              "are expected", "store the column as dates"))
    elif pd.api.types.is_numeric_dtype(values.dtype):
        _numeric_dates(values.astype("float64").to_numpy(na_value=np.nan), np.flatnonzero(w.todo), settings, w)
    else:
        if values.dtype == object:
            _object_dates(values, settings, w)
        _text_dates(text, settings, w, file=file, column=column)
    res = ColumnRead(pd.Series(w.out, index=values.index), w.issues, w.imputed, w.notes)
    res.values = _blank_failed(res)
    return res


def _typed_dates(values: pd.Series, w: _DateWork) -> None:
    s = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
    raw = s.to_numpy()
    valid = ~np.isnat(raw)
    lo, hi = np.datetime64(_DATE_MIN), np.datetime64(_DATE_MAX)
    inside = valid & (raw >= lo) & (raw <= hi)
    w.out[inside] = raw[inside].astype("datetime64[ns]")
    outside = np.flatnonzero(valid & ~inside)
    if len(outside):
        w.issues.append(Issue(outside, "date out of the readable range (1678-2261)", "correct the date"))
    times = inside & (w.out != w.out.astype("datetime64[D]").astype("datetime64[ns]"))
    w.out[inside] = w.out[inside].astype("datetime64[D]").astype("datetime64[ns]")
    if times.any():
        w.notes.append(f"{int(times.sum())} value(s) with a time of day kept as their date")


def _numeric_dates(x: np.ndarray, pos: np.ndarray, settings: ReadSettings, w: _DateWork) -> None:
    """Numbers in a date column: Excel serial days in a spreadsheet; otherwise a wrong physical type."""
    if not len(pos):
        return
    v = x[pos]
    if settings.date_format and np.all(v == np.round(v)):
        got = pd.to_datetime(pd.Series([str(int(i)) for i in v]), format=settings.date_format,
                             errors="coerce").to_numpy()
        ok = ~np.isnat(got)
        w.out[pos[ok]] = got[ok]
        if (~ok).any():
            w.issues.append(Issue(pos[~ok], f"number is not a date in the declared date_format "
                                  f"{settings.date_format!r}", "correct the value"))
        return
    if settings.kind == "excel":
        ok = (v >= SERIAL_RANGE[0]) & (v <= SERIAL_RANGE[1])
        days = np.floor(np.where(ok, v, 0)).astype("int64")
        w.out[pos[ok]] = (np.datetime64(EXCEL_EPOCH, "D") + days[ok]).astype("datetime64[ns]")
        if ok.any():
            first = int(np.flatnonzero(ok)[0])
            w.notes.append(_serial_note(int(ok.sum()), np.format_float_positional(v[first], trim="-"),
                                      w.out[pos[first]]))
        if (~ok).any():
            w.issues.append(Issue(pos[~ok], "number is not a plausible Excel date serial (1 = 1900-01-01 … "
                                  f"{SERIAL_RANGE[1]})", "format the cells as dates, or enter the date as "
                                  "YYYY-MM-DD"))
        return
    basic = (v >= 19000101) & (v <= 21991231) & (v == np.round(v))
    hint = " (it looks like YYYYMMDD: declare `date_format: '%Y%m%d'`)" if basic.any() else ""
    w.issues.append(Issue(pos, f"wrong type: the file stores numbers where dates are expected{hint}",
                          "store dates as a date/timestamp type or as ISO text (YYYY-MM-DD)"))


def _object_dates(values: pd.Series, settings: ReadSettings, w: _DateWork) -> None:
    """A spreadsheet column mixing real dates, numbers and text: dates and numbers here, text later."""
    kinds = _kind_codes(values)
    obj = values.to_numpy(dtype=object)
    dt = np.flatnonzero(w.todo & (kinds == 4))
    if len(dt):
        days = np.array([np.datetime64(v.date() if isinstance(v, _dt.datetime) else v, "D") for v in obj[dt]])
        inside = (days >= np.datetime64(_DATE_MIN, "D")) & (days <= np.datetime64(_DATE_MAX, "D"))
        w.out[dt[inside]] = days[inside].astype("datetime64[ns]")
        if (~inside).any():
            w.issues.append(Issue(dt[~inside], "date out of the readable range (1678-2261)", "correct the date"))
        w.todo[dt] = False
    num = np.flatnonzero(w.todo & (kinds == 2))
    if len(num):
        x = np.full(len(obj), np.nan)
        x[num] = [float(v) for v in obj[num]]
        _numeric_dates(x, num, settings, w)
        w.todo[num] = False
    other = np.flatnonzero(w.todo & np.isin(kinds, (3, 5)))
    if len(other):
        w.issues.append(Issue(other, "not a date", "enter the date as YYYY-MM-DD"))
        w.todo[other] = False


def _text_dates(text, settings: ReadSettings, w: _DateWork, *, file: str, column: str) -> None:
    pos = np.flatnonzero(w.todo)
    if not len(pos):
        return
    sub = pc.take(text, pa.array(pos)) if len(pos) < len(w.todo) else text
    left = np.ones(len(pos), bool)

    def put(mask, dates, imputed=False):
        ok = mask & ~np.isnat(dates)
        w.out[pos[ok]] = dates[ok]
        if imputed:
            w.imputed[pos[ok]] = True
        bad = mask & np.isnat(dates)
        if bad.any():
            far = bad & _far_years(sub, bad)
            if far.any():
                w.issues.append(Issue(pos[far], "date out of the readable range (1678-2261)", "correct the date"))
            if (bad & ~far).any():
                w.issues.append(Issue(pos[bad & ~far], "value is not a date (no such day: the day or month is out "
                                      "of range)", "correct the date"))
        left[mask] = False

    if settings.date_format:
        got = pd.to_datetime(pd.Series(sub.to_pylist()), format=settings.date_format, errors="coerce").to_numpy()
        ok = ~np.isnat(got)
        w.out[pos[ok]] = got[ok].astype("datetime64[D]").astype("datetime64[ns]")
        left[ok] = False
    iso = _dmatch(sub, "iso")
    if iso.all() and left.all():  # fast path: every value is YYYY-MM-DD
        put(iso, _strptime(sub, iso))
        return
    if (iso & left).any():
        put(iso & left, _strptime(sub, iso & left))
    _iso_time(sub, pos, left, put, w)
    _partial_iso(sub, left, put, settings.partial)
    if settings.date_format:
        rest = np.flatnonzero(left)
        if len(rest):
            w.issues.append(Issue(pos[rest], f"not a date in the declared date_format {settings.date_format!r} "
                                  "(nor ISO 8601)", f"correct the value, or the date_format in {settings.declared}"))
        return
    _basic_and_named(sub, left, put)
    _day_month(sub, pos, left, put, settings, w)
    _serials(sub, left, put, w)
    rest = np.flatnonzero(left)
    two = _dmatch(sub, "dmy2")
    if two[rest].any():
        r2 = rest[two[rest]]
        w.issues.append(Issue(pos[r2], "two-digit year: the century cannot be told",
                              f"write four-digit years, or declare a `date_format` such as '%d/%m/%y' in "
                              f"{settings.declared}"))
        rest = rest[~two[rest]]
    if len(rest):
        w.issues.append(Issue(pos[rest], "value is not a date", "write dates as YYYY-MM-DD (ISO 8601), or declare "
                              f"a `date_format` in {settings.declared}"))


def _far_years(sub, mask: np.ndarray) -> np.ndarray:
    """True where the text of ``mask`` holds a four-digit year outside 1678-2261 (pandas' range)."""
    text = pc.if_else(pa.chunked_array([pa.array(mask)]), sub, "2000")
    year = pc.extract_regex(text, r"(?:^|\D)(?P<y>\d{4})(?:\D|$)")
    year = year.combine_chunks() if isinstance(year, pa.ChunkedArray) else year
    y = pc.fill_null(pc.cast(year.field("y"), pa.int64()), 2000).to_numpy(zero_copy_only=False)
    return mask & ((y < 1678) | (y > 2261))


def iso_days(texts: np.ndarray) -> np.ndarray:
    """datetime64[ns] of the leading ``YYYY-MM-DD`` of each text (an object array of str whose first ten
    characters the caller has checked to be ASCII digits and dashes in that shape); NaT where that day does
    not exist or lies outside 1678-2261 (:func:`_from_parts`). The digits are read with numpy, not a
    parser per value."""
    g = np.asarray(texts, dtype=object).astype("U10").view(np.uint32).reshape(-1, 10).astype(np.int64) - ord("0")
    return _from_parts(g[:, 0] * 1000 + g[:, 1] * 100 + g[:, 2] * 10 + g[:, 3],
                       g[:, 5] * 10 + g[:, 6], g[:, 8] * 10 + g[:, 9])


#: Columns up to this length are read by :func:`iso_days` (less per call); longer ones by pyarrow (less per value).
_SHORT = 512


def _strptime(arr, mask: np.ndarray) -> np.ndarray:
    """The leading YYYY-MM-DD of the texts of ``mask`` (checked to be digits there) as
    datetime64[ns]; NaT where that day does not exist (pyarrow's strptime would roll 2023-02-31
    over to 2023-03-03)."""
    if len(mask) <= _SHORT:
        out = np.full(len(mask), np.datetime64("2000-01-01", "ns"))
        out[mask] = iso_days(np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)[mask])
        return out
    text = arr if mask.all() else pc.if_else(pa.chunked_array([pa.array(mask)]), arr, "2000-01-01")

    def part(a, b):
        return pc.cast(pc.utf8_slice_codeunits(text, a, b), pa.int64()).to_numpy(zero_copy_only=False)
    return _from_parts(part(0, 4), part(5, 7), part(8, 10))


def _iso_time(sub, pos, left, put, w: _DateWork) -> None:
    m = _dmatch(sub, "iso_time") & left
    if not m.any():
        return
    put(m, _strptime(sub, m))
    t = pc.utf8_slice_codeunits(sub, 11, 19)
    midnight = _bool_np(pc.match_substring_regex(t, r"^00:00(:00)?$"))
    if (m & ~midnight).any():
        w.notes.append(f"{int((m & ~midnight).sum())} value(s) with a time of day kept as their date")


def _partial_iso(sub, left, put, partial: str) -> None:
    month = _dmatch(sub, "iso_month") & left
    if month.any():
        ym = _extract(sub, month, r"^(?P<y>\d{4})-(?P<m>\d{2})$", "2000-01")
        y, m = _ints(ym, "y"), _ints(ym, "m")
        d = _impute_day(y, m, partial)
        put(month, _from_parts(y, m, d), imputed=True)
    year = _dmatch(sub, "year") & left
    if year.any():
        y = np.where(year, pc.cast(pc.if_else(pa.chunked_array([pa.array(year)]), sub, "2000"),
                                   pa.int64()).to_numpy(zero_copy_only=False), 2000)
        m = {"first": 1, "middle": 7, "last": 12}[partial]
        d = {"first": 1, "middle": 1, "last": 31}[partial]
        put(year, _from_parts(y, np.full(len(y), m), np.full(len(y), d)), imputed=True)


def _impute_day(y, m, partial: str) -> np.ndarray:
    if partial == "first":
        return np.ones(len(y), dtype=np.int64)
    if partial == "middle":
        return np.full(len(y), 15, dtype=np.int64)
    months = ((y - 1970) * 12 + m - 1).astype("datetime64[M]")
    return ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(np.int64)


def _basic_and_named(sub, left, put) -> None:
    basic = _dmatch(sub, "basic") & left
    if basic.any():
        parts = _extract(sub, basic, r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$", "20000101")
        put(basic, _from_parts(_ints(parts, "y"), _ints(parts, "m"), _ints(parts, "d")))
    for pattern in ("d_mon_y", "mon_d_y"):
        hit = _dmatch(sub, pattern) & left
        if not hit.any():
            continue
        vals = np.asarray(sub.to_numpy(zero_copy_only=False), dtype=object)
        import re

        rx = re.compile(_D[pattern].replace("\\pL", "[^\\W\\d_]"))
        y, m, d = np.full(len(vals), 2000), np.zeros(len(vals), dtype=np.int64), np.ones(len(vals), dtype=np.int64)
        for i in np.flatnonzero(hit):
            g = rx.match(vals[i])
            m[i] = MONTHS.get(g["mon"].lower(), 0)
            y[i], d[i] = int(g["y"]), int(g["d"])
        known = hit & (m > 0)
        put(known, _from_parts(y, m, d))


def _day_month(sub, pos, left, put, settings: ReadSettings, w: _DateWork) -> None:
    hit = _dmatch(sub, "dmy") & left
    ymd = _dmatch(sub, "ymd") & left
    if ymd.any():
        p = _extract(sub, ymd, _D["ymd"], "2000/1/1")
        put(ymd, _from_parts(_ints(p, "y"), _ints(p, "m"), _ints(p, "d")))
    my = _dmatch(sub, "month_year") & left
    if my.any():
        p = _extract(sub, my, _D["month_year"], "1/2000")
        y, m = _ints(p, "y"), _ints(p, "m")
        put(my, _from_parts(y, m, _impute_day(y, np.clip(m, 1, 12), settings.partial)), imputed=True)
    if not hit.any():
        return
    p = _extract(sub, hit, _D["dmy"], "1/1/2000")
    a, b, y = _ints(p, "a"), _ints(p, "b"), _ints(p, "y")
    day_first = hit & (a > 12) & (b <= 12)
    month_first = hit & (b > 12) & (a <= 12)
    neutral = hit & (a <= 12) & (b <= 12) & (a != b)
    order = settings.date_order
    declared = order is not None
    if order is None:
        n_d, n_m = int(day_first.sum()), int(month_first.sum())
        if n_d and n_m:
            order = "dmy" if n_d >= n_m else "mdy"
            minority = month_first if order == "dmy" else day_first
            w.issues.append(Issue(pos[minority], f"day/month order differs from the rest of the column "
                                  f"({max(n_d, n_m)} value(s) can only be {order}, {int(minority.sum())} only "
                                  f"{'mdy' if order == 'dmy' else 'dmy'})", "use one order in a column, or "
                                  + _ORDER_FIX.format(where=settings.declared)))
            left[minority] = False
            if neutral.any():
                first = np.flatnonzero(neutral)[0]
                w.issues.append(Issue(pos[neutral], "", "", report=False))
                w.issues.append(Issue(pos[[first]], f"day/month order cannot be told for {int(neutral.sum())} "
                                      "value(s) of a column that mixes both orders",
                                      _ORDER_FIX.format(where=settings.declared), per_row=False))
                left[neutral] = False
        elif n_d or n_m:
            order = "dmy" if n_d else "mdy"
            w.notes.append(f"day/month order read as {order} ({n_d or n_m} value(s) such as "
                           f"{sub[int(np.flatnonzero(day_first | month_first)[0])].as_py()!r} decide it)")
        elif neutral.any():
            first = np.flatnonzero(neutral)[0]
            w.issues.append(Issue(pos[neutral], "", "", report=False))
            w.issues.append(Issue(pos[[first]], f"day/month order cannot be told: {int(neutral.sum())} value(s) "
                                  f"such as {sub[int(first)].as_py()!r} have day and month ≤ 12, and no value of the "
                                  "column decides the order",
                                  _ORDER_FIX.format(where=settings.declared), per_row=False))
            left[neutral] = False
            order = "dmy"  # only values with day == month remain, which read the same either way
        else:
            order = "dmy"
    take = hit & left
    d, m = (a, b) if order == "dmy" else (b, a)
    dates = _from_parts(y, m, d)
    bad = take & np.isnat(dates)
    if bad.any() and declared:
        w.issues.append(Issue(pos[bad], f"value is not a date in the declared order {order} (no such day)",
                              f"correct the value, or the date_order in {settings.declared}"))
        left[bad] = False
        take &= ~bad
    put(take, dates)


def _serials(sub, left, put, w: _DateWork) -> None:
    ser = _dmatch(sub, "serial") & left
    if not ser.any():
        return
    num = pc.cast(pc.replace_substring(pc.if_else(pa.chunked_array([pa.array(ser)]), sub, "0"), ",", "."),
                  pa.float64()).to_numpy(zero_copy_only=False)
    ok = ser & (num >= SERIAL_RANGE[0]) & (num <= SERIAL_RANGE[1])
    days = np.floor(np.where(ok, num, 0)).astype("int64")
    dates = (np.datetime64(EXCEL_EPOCH, "D") + days).astype("datetime64[ns]")
    put(ok, dates)
    if ok.any():
        first = int(np.flatnonzero(ok)[0])
        w.notes.append(_serial_note(int(ok.sum()), sub[first].as_py(), dates[first]))


def _serial_note(n: int, example, date) -> str:
    """Numbers read as Excel serial day numbers change what the file shows: say so, with an example."""
    return (f"{n} number(s) read as Excel serial day numbers (1900 date system; e.g. {example!r} = "
            f"{np.datetime_as_string(np.datetime64(date, 'D'))}, any fraction of a day dropped)")


# --------------------------------------------------------------------------------------------
# yes/no and text
# --------------------------------------------------------------------------------------------
def read_bools(values: pd.Series, na: np.ndarray, text: pa.ChunkedArray | None) -> ColumnRead:
    if pd.api.types.is_bool_dtype(values.dtype):
        return ColumnRead(values.astype("boolean").mask(na))
    issues = []
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        issues.append(Issue(np.flatnonzero(~na), "wrong type: the file stores dates where yes/no values are "
                            "expected", "store the column as true/false"))
        return ColumnRead(pd.Series(pd.NA, index=values.index, dtype="boolean"), issues)
    word = pc.index_in(pc.utf8_lower(text), value_set=_string_array(TRUE_WORDS + FALSE_WORDS))
    word = word.to_numpy(zero_copy_only=False)  # position in the words; NaN: neither
    t, f = word < len(TRUE_WORDS), word >= len(TRUE_WORDS)
    known = (t | f) & ~na
    bad = np.flatnonzero(~na & ~t & ~f)
    if len(bad):
        issues.append(Issue(bad, "value is not a yes/no value (use true/false, yes/no, 1/0)",
                            "correct the value in the source file"))
    out = pd.arrays.BooleanArray(t & known, ~known)
    return ColumnRead(pd.Series(out, index=values.index), issues)


def read_strings(values: pd.Series, na: np.ndarray, text: pa.ChunkedArray,
                 allowed: tuple[str, ...] | None = None) -> tuple[ColumnRead, int]:
    """Trimmed text, missing tokens as <NA>; with ``allowed``, values matched case-insensitively
    (``f`` -> ``F``). Returns the read column and the number of values whose case was changed."""
    out = pc.if_else(pa.chunked_array([pa.array(na)]), pa.scalar(None, pa.string()), text) if na.any() else text
    changed = 0
    if allowed and not _all_allowed(out, tuple(allowed)):
        idx = pc.index_in(pc.utf8_lower(out), value_set=_string_array(tuple(a.lower() for a in allowed)))
        matched = pc.take(_string_array(tuple(allowed)), idx)
        valid = pc.is_valid(idx)
        changed = int(pc.sum(pc.and_(valid, pc.not_equal(matched, out))).as_py() or 0)
        out = pc.if_else(valid, matched, out)
    out = _chunked(out).cast(pa.string())
    return ColumnRead(pd.Series(pd.arrays.ArrowStringArray(out), index=values.index)), changed


def _all_allowed(text, allowed: tuple[str, ...]) -> bool:
    """True when every value of ``text`` is missing or exactly one of ``allowed``, which are ASCII and
    distinct ignoring case: matching them ignoring case would change nothing (two pyarrow calls
    instead of seven)."""
    if not _plain(allowed):
        return False
    hits = pc.sum(pc.is_in(text, value_set=_string_array(allowed))).as_py() or 0
    return hits == len(text) - text.null_count


@lru_cache(maxsize=64)
def _plain(allowed: tuple[str, ...]) -> bool:
    """ASCII values, distinct ignoring case (so pyarrow and Python lower-case them alike)."""
    return all(a.isascii() for a in allowed) and len({a.lower() for a in allowed}) == len(allowed)


def _trimmed_note(raw: pa.ChunkedArray, trimmed: pa.ChunkedArray, na: np.ndarray, file: str, column: str) -> list[str]:
    """A note when text values had spaces around them (read without: ' S001' is S001), with the count and
    an example, so that a value trialkit shows differently from the file is never silent."""
    differs = _bool_np(pc.not_equal(raw, trimmed)) & ~na
    n = int(differs.sum())
    if not n:
        return []
    first = int(np.flatnonzero(differs)[0])
    example = raw[first].as_py()
    shown = example if len(example) <= 40 else example[:37] + "..."
    return [f"{file}: `{column}`: {n} value(s) with spaces around them read without (e.g. {shown!r} as "
            f"{trimmed[first].as_py()[:40]!r})"]


# --------------------------------------------------------------------------------------------
# one column
# --------------------------------------------------------------------------------------------
def read_values(values: pd.Series, dtype: str, settings: ReadSettings, *, file: str = "", column: str = "",
                allowed: tuple[str, ...] | None = None, missing=None) -> ColumnRead:
    """Read a raw column into the canonical ``dtype`` (``string, boolean, Int64, Float64, datetime``).

    Missing-value tokens are counted into the notes; every value that cannot be read is an issue
    (and missing in the result), never silently dropped or changed. ``missing``: the
    :func:`missing_mask` of a text column, when already found (:func:`missing_masks`).
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    typed = not isinstance(values.dtype, pd.StringDtype) and (
        pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
        or pd.api.types.is_datetime64_any_dtype(values.dtype))
    if typed:
        text = None
        na = values.isna().to_numpy()
        counts: dict[str, int] = {}
        numeric_tokens = _numeric_tokens(settings.na_values)
        if numeric_tokens and pd.api.types.is_numeric_dtype(values.dtype) and \
                not pd.api.types.is_bool_dtype(values.dtype):
            hit = values.isin(numeric_tokens).to_numpy() & ~na
            if hit.any():
                for v, k in pd.Series(values[hit]).value_counts().items():
                    counts[_as_text(v)] = int(k)
                na = na | hit
        if dtype == "string" or dtype == "boolean":
            text = text_view(values)
        raw = None
    else:
        raw = text_view(values)
        text, na, counts = missing if missing is not None else missing_mask(raw, settings.na_values)
    notes = _token_notes(counts, file, column)
    if dtype == "datetime":
        res = read_dates(values, settings, na, text, file=file, column=column)
    elif dtype in ("Int64", "Float64"):
        res = read_numbers(values, dtype, settings, na, text)
    elif dtype == "boolean":
        res = read_bools(values, na, text)
    else:
        res, changed = read_strings(values, na, text, allowed)
        if raw is not None:
            notes += _trimmed_note(raw, text, na, file, column)
        if changed:
            notes.append(f"{file}: `{column}`: {changed} value(s) matched to the allowed values ignoring case "
                         f"({', '.join(allowed)})")
    res.notes = notes + [f"{file}: `{column}`: {n}" for n in res.notes]
    return res
