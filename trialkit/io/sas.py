"""SAS transport files and the value conventions of CDISC SDTM/ADaM data.

The pieces every CDISC mapper shares: reading an ``.xpt`` file into a clean frame, parsing SDTM
ISO 8601 ``--DTC`` text and ADaM numeric dates, reading Y/N flags, and gathering problems (file,
1-based record number, variable, value, what is wrong and how to fix it) into one frame.

Reading ``.xpt`` files
----------------------
``pandas.read_sas(format="xport")`` returns character variables as bytes (decoded here as UTF-8,
else cp1252) and, for some files, reads an IBM-float zero as ``5.397605e-79`` (pandas issue
#50670; it happens in the CDISC pilot's ``CNSR`` and ``TRT01PN``): numbers smaller in magnitude
than ``1e-70`` are set to 0. ADaM numeric dates are days since 1960-01-01.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FAILURE_COLUMNS, StudyFolderError
from .flatfile import parse_dates
from .values import iso_days

__all__ = ["read_xpt", "clean_frame", "VariableLabels", "SAS_EPOCH", "Problems", "no_problems", "by_subject", "SubjectLookup",
           "first_available"]

SAS_EPOCH = pd.Timestamp("1960-01-01")
#: SDTM --DTC values: ISO 8601 extended format, complete or partial from the right (2013, 2013-05, 2013-05-17T10:30)
_ISO_8601 = r"\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?"
_ISO_8601_RE = re.compile(_ISO_8601)
#: a complete date, the usual --DTC value, with or without a time of day (read as its date, as parse_dates does)
_ISO_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?)?")
_SAS_EPOCH_NS, _DAY_NS = np.datetime64("1960-01-01", "ns"), np.timedelta64(86_400_000_000_000, "ns")
_SAFE_DAYS = 100_000  # days from 1960 that stay inside datetime64[ns] (1686-2233): read in numpy, others by pandas
_IBM_ZERO = 1e-70  # pandas reads some IBM-float zeros as 16**-65 ≈ 5.4e-79 (pandas-dev/pandas#50670)
_STRING = pd.StringDtype()  # pandas' "string" dtype (comparing with an instance costs less than parsing "string")


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
class VariableLabels(Mapping):
    """The variables' labels of a SAS file (``{"HEIGHTBL": "Baseline Height (cm)", ...}``), read-only.

    Kept in ``frame.attrs["labels"]``. pandas deep-copies a frame's ``attrs`` into the result of
    every operation (``__finalize__``); a plain dict of fifty labels made that copy cost more than
    the operations themselves on a CDISC domain. Being immutable, this mapping is its own deep copy.

    Examples
    --------
    >>> import copy
    >>> labels = VariableLabels({"AGE": "Age"})
    >>> labels["AGE"], dict(labels), copy.deepcopy(labels) is labels
    ('Age', {'AGE': 'Age'}, True)
    """

    __slots__ = ("_labels",)

    def __init__(self, labels: Mapping | None = None):
        self._labels = {str(k): str(v) for k, v in (labels or {}).items()}

    def __getitem__(self, key):
        return self._labels[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)

    def __deepcopy__(self, memo) -> VariableLabels:
        return self

    def __reduce__(self):
        return VariableLabels, (self._labels,)

    def __repr__(self) -> str:
        return f"VariableLabels({self._labels!r})"


def _bytes_mask(values: np.ndarray, kind: str | None) -> np.ndarray | None:
    """Which of a column's values are bytes (as ``pandas.read_sas`` returns text), or None when none is.
    Decided in C by pandas' type inference (``kind``, None for a column not of object dtype), value by
    value only for a column of mixed kinds."""
    if kind is None:
        return None
    if kind == "bytes":
        return ~pd.isna(values)
    if not kind.startswith("mixed"):
        return None
    mask = np.fromiter((isinstance(v, bytes) for v in values), dtype=bool, count=len(values))
    return mask if mask.any() else None


def _cp1252(v: bytes) -> str:
    try:
        return v.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined: read as latin-1 (the same code points)
        return v.decode("latin-1")


def _decode(s: pd.Series):
    """A text column as SAS holds it: bytes decoded as UTF-8, or when any value is not UTF-8 the whole
    column as Windows-1252 (SAS's Western default); right-stripped; blank is missing. Returns the
    column's new values (an array of pandas' ``string`` dtype)."""
    values = s.to_numpy() if s.dtype == object else None
    if values is not None and len(values) and pd.api.types.infer_dtype(values, skipna=False) == "bytes":
        return _decode_text_values(values, np.ones(len(values), dtype=bool))  # as read_sas returns text
    kind = pd.api.types.infer_dtype(values, skipna=True) if values is not None else None
    text_only = kind in ("string", "empty")  # text already (a frame built by hand): the same one pass, no bytes
    mask = np.zeros(len(s), dtype=bool) if text_only else _bytes_mask(values, kind)
    if mask is not None:
        fast = _decode_text_values(values, mask)
        if fast is not None:
            return fast
        b = s[mask]  # text beside the bytes is not only str (a frame built by hand): the general path
        try:
            b = b.str.decode("utf-8")
        except UnicodeDecodeError:
            b = b.map(_cp1252)
        s = s.astype(object).copy()
        s[mask] = b
    s = s.astype("string").str.rstrip()
    return s.mask(s == "").array


def _decode_text_values(values: np.ndarray, is_bytes: np.ndarray):
    """:func:`_decode` value by value for a column (an object array) of bytes, str and missing values
    only (what ``read_sas`` returns, or text built by hand), or None for any other column. One pass in
    Python costs less than the half-dozen pandas operations of the general path on a column of a few
    thousand values."""
    if len(values) and is_bytes.all():  # as read_sas returns a text column (a blank is b""): decoded and stripped in one pass
        try:
            out = [v.decode("utf-8").rstrip() or None for v in values]
        except UnicodeDecodeError:
            out = [_cp1252(v).rstrip() or None for v in values]
        return pd.array(out, dtype=_STRING)
    missing = pd.isna(values)
    if not (is_bytes | missing).all() and not all(isinstance(v, str) for v in values[~(is_bytes | missing)]):
        return None
    raw = values[is_bytes]
    try:
        decoded = [v.decode("utf-8") for v in raw]
    except UnicodeDecodeError:
        decoded = [_cp1252(v) for v in raw]
    text = values.copy()
    text[is_bytes] = decoded
    text[missing] = None
    out = [None if v is None else (v.rstrip() or None) for v in text]
    return pd.array(out, dtype=_STRING)


def clean_frame(df: pd.DataFrame, *, source: str = "the frame") -> pd.DataFrame:
    """Normalize a domain frame the way SAS reads it.

    Variable names are upper-cased, character values decoded (bytes as ``pandas.read_sas`` returns
    them) and right-stripped, blank values made missing (blank is missing in SAS), and IBM-float
    zeros read as 5.4e-79 set to 0. The input is not mutated; a frame that is already the output of
    this function is returned as it is. Variable labels in ``df.attrs["labels"]`` are kept.

    Examples
    --------
    >>> import pandas as pd
    >>> clean_frame(pd.DataFrame({"usubjid": [b"S-1  ", b""], "cnsr": [5.397605346934028e-79, 1.0]}))
      USUBJID  CNSR
    0     S-1   0.0
    1    <NA>   1.0
    """
    if df.attrs.get("trialkit_clean"):
        return df
    names = [str(c).strip().upper() for c in df.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:  # two variables of one name: neither may silently replace the other
        raise StudyFolderError(f"{source}: variable(s) {', '.join(repeated)} appear more than once (names are "
                               "compared upper-cased and trimmed, as SAS does); keep one of each.")
    labels = df.attrs.get("labels") or {}
    if df.attrs:  # the columns below are computed without the input's attrs (pandas would copy them into each)
        df = df.copy(deep=False)
        df.attrs = {}
    out = {}
    for name, (_, s) in zip(names, df.items()):
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out[name] = _decode(s)
        elif isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":  # as read_sas returns numbers
            values = s.to_numpy()
            tiny = np.abs(values) < _IBM_ZERO
            if tiny.any():
                values = values.copy()
                values[tiny] = 0.0
            out[name] = values
        else:
            if pd.api.types.is_float_dtype(s.dtype):
                tiny = (np.abs(s.to_numpy(dtype=float, na_value=np.nan)) < _IBM_ZERO)
                if tiny.any():
                    s = s.mask(tiny, 0.0)
            out[name] = s.to_numpy() if isinstance(s.dtype, np.dtype) else s.array
    clean = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    clean.attrs["labels"] = VariableLabels({str(k).strip().upper(): v for k, v in labels.items()})
    clean.attrs["trialkit_clean"] = True
    return clean


def _text(v) -> str:
    return v.decode("utf-8", "replace").strip() if isinstance(v, bytes) else str(v or "").strip()


def read_xpt(path: str | os.PathLike) -> pd.DataFrame:
    """Read one SAS transport (XPORT v5) file into a clean frame (see :func:`clean_frame`).

    The variables' labels are kept in ``frame.attrs["labels"]`` (``{"HEIGHTBL": "Baseline Height
    (cm)", ...}``).

    Raises
    ------
    StudyFolderError
        The file cannot be read as SAS transport.
    """
    p = Path(path)
    try:
        with pd.read_sas(p, format="xport", iterator=True) as reader:
            labels = {_text(f["name"]).upper(): _text(f.get("label")) for f in reader.fields}
            df = reader.read()
    except Exception as exc:  # unreadable file: say which and what to do, never a bare traceback
        raise StudyFolderError(f"{p.name}: cannot be read as a SAS transport (XPORT) file "
                               f"({type(exc).__name__}: {exc}); export it again as XPORT version 5.") from None
    if df is None:  # a transport file with variables but no records
        df = pd.DataFrame(columns=list(labels))
    df.attrs["labels"] = labels
    return clean_frame(df, source=p.name)


# --------------------------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------------------------
def no_problems() -> pd.DataFrame:
    """An empty problem frame (the columns of :data:`trialkit.errors.FAILURE_COLUMNS`)."""
    return _NO_PROBLEMS.copy()


_NO_PROBLEMS = pd.DataFrame({c: pd.Series(dtype="float64" if c == "row" else "object") for c in FAILURE_COLUMNS})


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # a list or array value is not missing
        return False


class Problems:
    """Collects problems of one mapping step; :meth:`frame` returns them as one frame."""

    def __init__(self):
        self.frames: list[pd.DataFrame] = []

    def add(self, table, file, records, variable, values, problem, fix) -> None:
        """Add one problem per record (``records`` are 1-based record numbers, NaN for none)."""
        records = np.asarray(records, dtype=float)
        if not len(records):
            return
        vals = ["" if _missing(v) else str(v) for v in values] if values is not None else ""
        self.frames.append(pd.DataFrame({"table": table, "file": file, "row": records, "column": variable,
                                         "value": vals, "problem": problem, "fix": fix}))

    def add_mask(self, mask, frame, variable, *, table, file, problem, fix) -> None:
        """Add a problem for every record where ``mask`` is true (value read from ``frame[variable]``)."""
        pos = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(pos):
            self.add(table, file, pos + 1, variable, frame[variable].iloc[pos], problem, fix)

    def frame(self) -> pd.DataFrame:
        return (pd.concat(self.frames, ignore_index=True)[FAILURE_COLUMNS] if self.frames else no_problems())


# --------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------
def col(df: pd.DataFrame | None, var: str, dtype: str = "string") -> pd.Series:
    """``df[var]``, or an all-missing series of ``dtype`` when the variable (or frame) is absent."""
    n = 0 if df is None else len(df)
    if df is not None and var in df.columns:
        return df[var]
    return _all_missing(pd.RangeIndex(n), dtype)


def _all_missing(index: pd.Index, dtype: str) -> pd.Series:
    """A series of missing values of ``dtype`` (dates as NaT)."""
    if dtype.startswith("datetime"):
        s = pd.Series(np.full(len(index), np.datetime64("NaT", "ns")), index=index)
        return s if s.dtype == dtype else s.astype(dtype)
    if dtype in _MASKED_EMPTY:  # taking position -1 of an empty array fills in its dtype's missing value
        return pd.Series(_MASKED_EMPTY[dtype].take(np.full(len(index), -1), allow_fill=True), index=index)
    return pd.Series(pd.NA, index=index, dtype=_STRING if dtype == "string" else dtype)


#: empty arrays of the nullable dtypes :func:`_all_missing` is asked for (never changed)
_MASKED_EMPTY = {d: pd.array([], dtype=_STRING if d == "string" else d) for d in ("string", "Float64", "Int64", "boolean")}


def as_text(s: pd.Series) -> pd.Series:
    """``s`` in pandas' ``string`` dtype: the series itself when it is one already (``astype`` would copy it)."""
    return s if s.dtype == _STRING else s.astype(_STRING)


def text_values(s: pd.Series):
    """The values of ``s`` to loop over in Python: an object array for text (looping over a pandas array
    costs a method call per value; the values are the same str and ``pd.NA``), else ``s.array``."""
    return s.to_numpy(dtype=object) if s.dtype == object or s.dtype == _STRING else s.array


def upper_values(s: pd.Series) -> np.ndarray:
    """:func:`upper` as an object array with None for missing values, for masks built with numpy
    (``upper_values(s) == "Y"`` is False where ``s`` is missing)."""
    return np.array([None if v is pd.NA else v.strip().upper() for v in as_text(s).to_numpy(dtype=object)],
                    dtype=object)


def upper(s: pd.Series) -> pd.Series:
    """Text stripped and upper-cased (CDISC controlled terms are compared this way)."""
    return pd.Series(pd.array(upper_values(s), dtype=_STRING), index=s.index, name=s.name)


def dtc(df, var, *, file, table, probs: Problems, notes: list) -> pd.Series:
    """Parse an SDTM ISO 8601 ``--DTC`` variable (partial dates imputed to the first day and noted).

    Only the ISO 8601 extended format SDTM prescribes is read; anything else ("01/06/2020" — January
    or June?) is a problem, never a guess.
    """
    if df is None or var not in df.columns:
        return col(df, var, "datetime64[ns]")
    values = df[var]
    days = _complete_dates(values)
    if days is not None:  # every value is a complete date (or missing): what parse_dates reads them as, directly
        dates, failed = days
        probs.add_mask(failed, df, var, table=table, file=file, problem=f"{var} is not an ISO 8601 date",
                       fix=f"write {var} in {file} as YYYY-MM-DD (ISO 8601; partial dates such as 2013-05 are allowed)")
        return dates
    not_iso = np.array([v is not pd.NA and _ISO_8601_RE.fullmatch(v.strip()) is None
                        for v in as_text(values).to_numpy(dtype=object)], dtype=bool)
    dates, failed, imputed = parse_dates(values.mask(not_iso) if not_iso.any() else values,  # "01/06/2020" is ambiguous
                                         partial="first")
    failed = failed.to_numpy(dtype=bool) | not_iso
    probs.add_mask(failed, df, var, table=table, file=file, problem=f"{var} is not an ISO 8601 date",
                   fix=f"write {var} in {file} as YYYY-MM-DD (ISO 8601; partial dates such as 2013-05 are allowed)")
    if imputed.any():
        notes.append(f"{file}: {int(imputed.sum())} partial date(s) in {var} imputed to the first day of the period")
    return dates


def _complete_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray] | None:
    """A text column (pandas' ``string`` dtype) whose every value is a complete ``YYYY-MM-DD`` date
    (``THH:MM`` or ``THH:MM:SS`` may follow) or missing, read as :func:`~trialkit.io.flatfile.parse_dates`
    reads it: the date, the time of day dropped; a day that does not exist, such as 2013-02-30, or a
    year outside 1678-2261 is unreadable. Returns ``(dates, unreadable)``, or None for any other
    column, which goes the general way. The digits are read with numpy, not a regex per value."""
    if values.dtype != _STRING:
        return None
    text = values.to_numpy(dtype=object)
    present = ~pd.isna(text)
    given = text[present]
    if not all(_ISO_DAY_RE.fullmatch(v) for v in given):
        return None
    parsed = iso_days(given)
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    out[present] = parsed
    failed = np.zeros(len(text), dtype=bool)
    failed[present] = np.isnat(parsed)
    return pd.Series(out, index=values.index), failed


def sas_date(df, var, *, file, table, probs: Problems, notes: list) -> pd.Series:
    """An ADaM date: numeric days since 1960-01-01 (character ISO 8601 dates are accepted too)."""
    if df is None or var not in df.columns:
        return col(df, var, "datetime64[ns]")
    s = df[var]
    if not pd.api.types.is_numeric_dtype(s.dtype):
        return dtc(df, var, file=file, table=table, probs=probs, notes=notes)
    x = s.astype("float64")
    v = x.to_numpy()
    bad = ~np.isnan(v) & ((v != np.round(v)) | (np.abs(v) > 2_000_000))
    probs.add_mask(bad, df, var, table=table, file=file, problem=f"{var} is not a SAS date",
                   fix=f"{var} in {file} must hold whole days since 1960-01-01 (SAS date)")
    return sas_days_to_dates(x.where(~bad) if bad.any() else x)


def sas_days_to_dates(days: pd.Series) -> pd.Series:
    """Whole days since 1960-01-01 (floats; NaN for missing) as ``datetime64[ns]`` dates (NaT for missing).

    Through nullable integers: pandas 2.3's ``to_timedelta`` on floats rounds an uninitialised buffer in
    place of the missing values (``cast_from_unit_vectorized``), so it warns "overflow encountered in
    multiply" now and then, depending on the memory it got (the dates themselves come out right).
    """
    v = days.to_numpy(dtype=float, na_value=np.nan)
    present = ~np.isnan(v)
    if (np.abs(v[present]) < _SAFE_DAYS).all():  # in numpy (the same dates, rounded half to even as Series.round)
        out = np.full(len(v), np.datetime64("NaT"), dtype="datetime64[ns]")
        out[present] = _SAS_EPOCH_NS + np.round(v[present]).astype(np.int64) * _DAY_NS
        return pd.Series(out, index=days.index, name=days.name)
    whole = days.round().astype("Int64")
    return (SAS_EPOCH + pd.to_timedelta(whole, unit="D")).astype("datetime64[ns]")


def flag(s: pd.Series, *, blank: bool | None = None) -> pd.Series:
    """ADaM Y/N flag to boolean: Y = True, N = False, blank = ``blank`` (missing by default).

    ``blank=False`` is for flags that are "Y" or blank, never "N" (``DTHFL``, ``ANL01FL``).
    Other values are missing; :func:`bad_flag` finds them.
    """
    u = upper_values(s)
    yes, no = u == "Y", u == "N"
    values = np.full(len(u), bool(blank)) | yes
    values[no] = False
    missing = ~(yes | no) if blank is None else np.zeros(len(u), dtype=bool)
    return pd.Series(pd.arrays.BooleanArray(values, missing), index=s.index)


def bad_flag(s: pd.Series) -> np.ndarray:
    """Records of a flag variable holding something other than Y, N or blank."""
    u = upper_values(s)
    return s.notna().to_numpy(dtype=bool) & (u != "Y") & (u != "N")


def first_per_subject(df: pd.DataFrame, value: pd.Series, *, order: pd.Series | None = None) -> pd.Series:
    """The first non-missing ``value`` per USUBJID (ordered by ``order``, then record order)."""
    subjects = df["USUBJID"]
    pos = np.flatnonzero(subjects.notna().to_numpy() & value.notna().to_numpy())
    if order is not None:  # a stable sort keeps record order among equal (and among missing, last) keys
        o = order.to_numpy() if order.dtype.kind == "M" else order.to_numpy(dtype=float, na_value=np.nan)
        pos = pos[np.argsort(o[pos], kind="stable")]
    first: dict = {}
    for p, s in zip(pos, text_values(subjects)[pos]):
        first.setdefault(s, p)
    rows = np.fromiter(first.values(), dtype=np.intp, count=len(first))
    return pd.Series(value.array[rows], index=pd.Index(subjects.array[rows], name="USUBJID"), name="v")


def join_codes(df: pd.DataFrame, value: pd.Series) -> pd.Series:
    """``value`` joined with "; " per USUBJID (each code once, in record order)."""
    tmp = pd.DataFrame({"USUBJID": df["USUBJID"], "v": value}).dropna()
    return tmp.groupby("USUBJID", sort=False)["v"].agg(lambda s: "; ".join(dict.fromkeys(s))).astype("string")


def by_subject(subjects: pd.Series, frame: pd.DataFrame | None, column: str, dtype: str) -> pd.Series:
    """``frame[column]`` looked up for each of ``subjects`` by ``USUBJID`` (missing when absent)."""
    return SubjectLookup(subjects, frame)(column, dtype)


class SubjectLookup:
    """:func:`by_subject` for several columns of one frame: each subject's first record is found once.

    ``lookup = SubjectLookup(subjects, frame)``; ``lookup(column, dtype)`` is ``by_subject(subjects, frame,
    column, dtype)``; ``lookup.frame`` is ``frame``.
    """

    def __init__(self, subjects: pd.Series, frame: pd.DataFrame | None):
        self.subjects, self.frame = subjects, frame
        self._rows: np.ndarray | None = None

    def rows(self) -> np.ndarray:
        """The position in ``frame`` of each subject's first record, -1 for a subject without one."""
        if self._rows is None:
            first = np.flatnonzero(~self.frame["USUBJID"].duplicated().to_numpy())
            at = pd.Index(self.frame["USUBJID"].array[first]).get_indexer(self.subjects.array)  # as Series.map does
            self._rows = np.full(len(at), -1, dtype=np.intp)
            self._rows[at >= 0] = first[at[at >= 0]]
        return self._rows

    def __call__(self, column: str, dtype: str) -> pd.Series:
        if self.frame is None or column not in self.frame.columns:
            return _all_missing(self.subjects.index, dtype)
        values = self.frame[column].array
        if isinstance(values, pd.arrays.NumpyExtensionArray):
            values = values.to_numpy()
        out = pd.Series(pd.api.extensions.take(values, self.rows(), allow_fill=True), index=self.subjects.index,
                        name=self.subjects.name)
        return out if out.dtype == dtype else out.astype(dtype)


def first_available(n: int, candidates: list[tuple[str, pd.Series | np.ndarray]]) -> tuple[pd.Series, str]:
    """Dates taken from the first candidate source that has one, row by row.

    Returns the dates (``datetime64[ns]``, ``n`` rows) and a text naming each source with the number
    of rows it gave, e.g. ``"SV screening visit (306)"``.
    """
    out = np.full(n, np.datetime64("NaT", "ns"))
    used = []
    for label, values in candidates:
        v = np.asarray(values, dtype="datetime64[ns]")
        take = np.isnat(out) & ~np.isnat(v)
        if take.any():
            used.append(f"{label} ({int(take.sum())})")
            out[take] = v[take]
    return pd.Series(out, index=pd.RangeIndex(n)), ", ".join(used)
