"""Derived inputs: the named, tested functions eligibility rules read instead of inline arithmetic.

Two layers:

1. Array helpers (``age_in_years``, ``days_between``, ``months_between``, ``business_days_between``,
   ``ratio_to_uln``, ``schwartz_bedside_egfr``) take numpy arrays (floats with NaN, datetime64 with
   NaT for missing) and return float arrays with NaN where an input is missing.
2. Derived inputs (:data:`DERIVED_INPUTS`): functions of the screening frame returning one float
   array, NaN = unknown. Rules name them like columns (``renal_function_ml_min``). Each is
   replaceable per call: ``evaluate_eligibility(df, protocol=p, derivations={"renal_function_ml_min":
   my_formula})`` where ``my_formula(frame)`` returns an array or Series.

Conventions (documented, because protocols rarely state them)
-------------------------------------------------------------
- Age is exact calendar age: completed years plus the elapsed fraction of the current year of age,
  so a child is 18.0 on the 18th birthday (no 365.25-day drift at the boundary).
- Months between two dates are days / (365.25 / 12) = days / 30.4375 (the average Gregorian month).
- Business days are Monday to Friday (``numpy.busday_count``), optionally minus holidays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ColumnCache", "age_in_years", "days_between", "months_between", "business_days_between", "ratio_to_uln",
    "schwartz_bedside_egfr", "DerivedInput", "DERIVED_INPUTS", "DAYS_PER_MONTH",
]

#: average Gregorian month in days (365.25 / 12)
DAYS_PER_MONTH = 365.25 / 12


def _as_days(x) -> np.ndarray:
    """datetime-like -> datetime64[D] numpy array (NaT for missing)."""
    if isinstance(x, (pd.Series, pd.Index)):
        x = x.to_numpy() if x.dtype.kind == "M" else x.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT"))
    arr = np.asarray(x)
    if arr.dtype == np.dtype("datetime64[D]"):
        return arr
    if arr.dtype.kind != "M":
        arr = pd.to_datetime(pd.Series(np.atleast_1d(arr)), errors="coerce").to_numpy()
    return arr.astype("datetime64[D]")


def _as_float(x) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.Index)) or hasattr(x, "to_numpy"):
        return pd.Series(x).to_numpy(dtype=float, na_value=np.nan)
    return np.asarray(x, dtype=float)


def days_between(start, end) -> np.ndarray:
    """Calendar days from ``start`` to ``end`` (``end - start``; negative if end is earlier).

    >>> days_between(np.array(["2024-01-01"], "M8[D]"), np.array(["2024-03-01"], "M8[D]"))
    array([60.])
    """
    s, e = _as_days(start), _as_days(end)
    d = (e - s).astype("timedelta64[D]")
    out = d.astype(np.int64).astype(float)
    out[np.isnat(d)] = np.nan
    return out


def months_between(start, end) -> np.ndarray:
    """Months from ``start`` to ``end`` as days / 30.4375 (see module notes)."""
    return days_between(start, end) / DAYS_PER_MONTH


def business_days_between(start, end, *, holidays=()) -> np.ndarray:
    """Business days (Mon–Fri, minus ``holidays``) after ``start`` up to and including ``end``.

    ``business_days_between(Mon 2024-01-01, Wed 2024-01-10)`` is 7 (Jan 2–5 and 8–10). Negative when
    ``end`` precedes ``start``; NaN when either is missing.
    """
    s, e = _as_days(start), _as_days(end)
    s, e = np.broadcast_arrays(s, e)
    bad = np.isnat(s) | np.isnat(e)
    s2 = np.where(bad, np.datetime64("2000-01-03"), s) + np.timedelta64(1, "D")
    e2 = np.where(bad, np.datetime64("2000-01-03"), e) + np.timedelta64(1, "D")
    hol = np.asarray(holidays, dtype="datetime64[D]")
    out = np.busday_count(s2, e2, holidays=hol).astype(float)
    out[bad] = np.nan
    return out


def age_in_years(birth_date, at_date) -> np.ndarray:
    """Exact age in years at ``at_date``: completed years + fraction of the current year of age.

    A birthday on 29 February is celebrated on 28 February in non-leap years.

    >>> age_in_years(np.array(["2008-03-01"], "M8[D]"), np.array(["2026-03-01"], "M8[D]"))
    array([18.])
    """
    b, a = _as_days(birth_date), _as_days(at_date)
    b, a = np.broadcast_arrays(b, a)
    bad = np.isnat(b) | np.isnat(a)
    fill = np.datetime64("2000-01-01")
    b = np.where(bad, fill, b)
    a = np.where(bad, fill, a)
    by, bm, bd = _ymd(b)
    ay, am, ad = _ymd(a)
    years = ay - by - ((am < bm) | ((am == bm) & (ad < bd)))
    last = _anniversary(by + years, bm, bd)
    nxt = _anniversary(by + years + 1, bm, bd)
    frac = (a - last).astype(float) / (nxt - last).astype(float)
    out = years + frac
    out[bad] = np.nan
    return out


def _ymd(d: np.ndarray):
    y = d.astype("datetime64[Y]").astype(int) + 1970
    m = d.astype("datetime64[M]").astype(int) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(int) + 1
    return y, m, day


def _anniversary(year, month, day) -> np.ndarray:
    first = (np.asarray(year) - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (np.asarray(month) - 1)
    days_in_month = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(int)
    return first.astype("datetime64[D]") + (np.minimum(day, days_in_month) - 1)


def ratio_to_uln(value, uln) -> np.ndarray:
    """Lab value as a multiple of the upper limit of normal; NaN if either is missing or ULN ≤ 0."""
    v, u = _as_float(value), _as_float(uln)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = v / u
    return np.where(u > 0, out, np.nan)


def schwartz_bedside_egfr(height_cm, creatinine_mg_dl) -> np.ndarray:
    """Bedside Schwartz eGFR (mL/min/1.73 m²) = 0.413 × height (cm) / serum creatinine (mg/dL).

    Reference: Schwartz GJ, Muñoz A, Schneider MF, et al. New equations to estimate GFR in children
    with CKD. J Am Soc Nephrol 2009;20:629-637 (the "bedside" IDMS-traceable equation, k = 0.413).
    NaN when an input is missing or creatinine ≤ 0.

    >>> schwartz_bedside_egfr(np.array([120.0]), np.array([0.5]))
    array([99.12])
    """
    h, cr = _as_float(height_cm), _as_float(creatinine_mg_dl)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 0.413 * h / cr
    return np.where(cr > 0, out, np.nan)


# --- derived inputs over the screening frame ------------------------------------------------------
class ColumnCache:
    """A screening frame whose numeric and date columns are converted once and memoized.

    :func:`trialkit.evaluate_eligibility` passes one to the built-in derivations so that a column read
    by several of them (``relapse_date``) is converted once. It reads like the frame (``columns``,
    ``len``, ``[col]``); user derivations receive the plain frame.
    """

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.columns = frame.columns
        self._memo: dict = {}

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, col):
        return self.frame[col]

    def num(self, col: str) -> np.ndarray:
        key = ("num", col)
        if key not in self._memo:
            self._memo[key] = _num_plain(self.frame, col)
        return self._memo[key]

    def days(self, col: str) -> np.ndarray:
        key = ("days", col)
        if key not in self._memo:
            self._memo[key] = _date_plain(self.frame, col)
        return self._memo[key]


def raise_text_column(s: pd.Series, col: str, want: str, *, reader: str = "the derived inputs",
                      convert: str = "pd.to_numeric / pd.to_datetime") -> None:
    """Raise DataValidationError: ``col`` holds text where ``reader`` reads ``want`` (never coerced)."""
    from ..errors import DataValidationError

    bad = s.dropna().head(5)
    fc = pd.DataFrame({"table": "screening", "file": "", "row": (bad.index.to_numpy() + 1) if len(bad) else [np.nan],
                       "column": col, "value": [str(v) for v in bad] if len(bad) else [""],
                       "problem": f"column holds text ({s.dtype}); {reader} read {want}",
                       "fix": "load the data with trialkit.load_study (which types every column) or convert it, "
                              f"e.g. {convert}"})
    raise DataValidationError(fc, source="evaluate_eligibility input")


def holds_text(dtype) -> bool:
    """True for a column stored as text or Python objects: object, str and bytes, pandas' string and
    categorical dtypes, every dtype of kind O, S or U (what ``pd.api.types.is_string_dtype(dtype) or
    dtype.kind == "O"`` tests, without its dtype-registry lookup on every call)."""
    return dtype.kind in "OSU"


def _check_not_text(s: pd.Series, col: str, want: str) -> None:
    """Raise DataValidationError when an input the derivations read as numbers/dates holds text."""
    if holds_text(s.dtype):
        raise_text_column(s, col, want)


def _num_plain(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    _check_not_text(frame[col], col, "numbers")
    arr = frame[col].array
    if hasattr(arr, "_mask") and hasattr(arr, "_data"):  # nullable Float64 / Int64: buffers, NaN at NA
        out = arr._data.astype(float, copy=True)
        out[arr._mask] = np.nan
        return out
    return _as_float(frame[col])


def _date_plain(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[D]")
    _check_not_text(frame[col], col, "dates")
    return _as_days(frame[col])


def _num(frame, col: str) -> np.ndarray:
    return frame.num(col) if isinstance(frame, ColumnCache) else _num_plain(frame, col)


def _date(frame, col: str) -> np.ndarray:
    return frame.days(col) if isinstance(frame, ColumnCache) else _date_plain(frame, col)


def derive_age_at_screening(frame: pd.DataFrame) -> np.ndarray:
    """``age_years`` where recorded, else exact age from ``birth_date`` at ``screening_date``."""
    age = _num(frame, "age_years")
    gap = np.isnan(age)
    if gap.any():
        est = age_in_years(_date(frame, "birth_date")[gap], _date(frame, "screening_date")[gap])
        age = age.copy()
        age[gap] = est
    return age


def derive_months_diagnosis_to_relapse(frame: pd.DataFrame) -> np.ndarray:
    """Months from ``diagnosis_date`` to ``relapse_date``."""
    return months_between(_date(frame, "diagnosis_date"), _date(frame, "relapse_date"))


def derive_months_therapy_end_to_relapse(frame: pd.DataFrame) -> np.ndarray:
    """Months from ``primary_therapy_end_date`` to ``relapse_date`` (negative: relapse on therapy)."""
    return months_between(_date(frame, "primary_therapy_end_date"), _date(frame, "relapse_date"))


def derive_renal_function_ml_min(frame: pd.DataFrame) -> np.ndarray:
    """Site-reported ``egfr_ml_min`` where present, else :func:`schwartz_bedside_egfr`."""
    reported = _num(frame, "egfr_ml_min")
    gap = np.isnan(reported)
    if not gap.any():
        return reported
    est = schwartz_bedside_egfr(_num(frame, "height_cm"), _num(frame, "creatinine_mg_dl"))
    return np.where(gap, est, reported)


def _uln(value: str, uln: str) -> Callable[[pd.DataFrame], np.ndarray]:
    def f(frame: pd.DataFrame) -> np.ndarray:
        return ratio_to_uln(_num(frame, value), _num(frame, uln))
    f.__name__ = f"derive_{value.split('_')[0]}_x_uln"
    f.__doc__ = f"``{value}`` ÷ ``{uln}`` (:func:`ratio_to_uln`)."
    return f


def derive_wbc_days_before_therapy(frame: pd.DataFrame) -> np.ndarray:
    """Days from ``wbc_date`` to ``therapy_start_date`` (0 = same day; negative = after start)."""
    return days_between(_date(frame, "wbc_date"), _date(frame, "therapy_start_date"))


def derive_mpal_confirmation_business_days(frame: pd.DataFrame) -> np.ndarray:
    """Business days after enrollment up to ``mpal_confirmation_date``.

    Enrollment is ``enrollment_date``; where that is empty, ``screening_date`` stands in for it
    (exports often carry only the on-study date).
    """
    enrolled = _date(frame, "enrollment_date")
    start = np.where(np.isnat(enrolled), _date(frame, "screening_date"), enrolled)
    return business_days_between(start, _date(frame, "mpal_confirmation_date"))


@dataclass(frozen=True)
class DerivedInput:
    """A named input computed from screening columns; ``func(frame)`` returns floats (NaN = unknown)."""

    name: str
    func: Callable[[pd.DataFrame], np.ndarray]
    reads: tuple[str, ...]
    description: str
    unit: str = ""


DERIVED_INPUTS: dict[str, DerivedInput] = {d.name: d for d in (
    DerivedInput("age_at_screening", derive_age_at_screening, ("age_years", "birth_date", "screening_date"),
                 "Age at screening (age_years, else exact age from birth_date)", "years"),
    DerivedInput("months_diagnosis_to_relapse", derive_months_diagnosis_to_relapse,
                 ("diagnosis_date", "relapse_date"), "Months from original diagnosis to relapse", "months"),
    DerivedInput("months_therapy_end_to_relapse", derive_months_therapy_end_to_relapse,
                 ("primary_therapy_end_date", "relapse_date"),
                 "Months from completion of primary therapy to relapse", "months"),
    DerivedInput("renal_function_ml_min", derive_renal_function_ml_min,
                 ("egfr_ml_min", "height_cm", "creatinine_mg_dl"),
                 "eGFR/eCrCl: reported value, else bedside Schwartz (Schwartz et al. 2009)", "mL/min/1.73m2"),
    DerivedInput("ast_x_uln", _uln("ast_u_l", "ast_uln_u_l"), ("ast_u_l", "ast_uln_u_l"), "AST ÷ ULN", "× ULN"),
    DerivedInput("alt_x_uln", _uln("alt_u_l", "alt_uln_u_l"), ("alt_u_l", "alt_uln_u_l"), "ALT ÷ ULN", "× ULN"),
    DerivedInput("bilirubin_x_uln", _uln("bilirubin_mg_dl", "bilirubin_uln_mg_dl"),
                 ("bilirubin_mg_dl", "bilirubin_uln_mg_dl"), "Total bilirubin ÷ ULN", "× ULN"),
    DerivedInput("wbc_days_before_therapy", derive_wbc_days_before_therapy, ("wbc_date", "therapy_start_date"),
                 "Days from the WBC measurement to the start of protocol therapy", "days"),
    DerivedInput("mpal_confirmation_business_days", derive_mpal_confirmation_business_days,
                 ("enrollment_date", "screening_date", "mpal_confirmation_date"),
                 "Business days from enrollment (enrollment_date, else screening_date) to central MPAL "
                 "confirmation", "business days"),
)}
