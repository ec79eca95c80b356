"""Small helpers shared by the accrual and event forecasts: levels, quantile columns, dates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ForecastError


def levels_of(conf_level) -> tuple[float, ...]:
    """``conf_level`` as a sorted tuple of coverages strictly between 0 and 1."""
    values = (conf_level,) if isinstance(conf_level, int | float) else tuple(conf_level)
    try:
        out = tuple(sorted({float(v) for v in values}))
    except (TypeError, ValueError):
        raise ForecastError(f"conf_level must be a coverage or several, e.g. 0.9 or (0.5, 0.9), not {conf_level!r}") \
            from None
    if not out or any(not 0 < v < 1 for v in out):
        raise ForecastError(f"conf_level must lie strictly between 0 and 1 (e.g. (0.5, 0.9)), not {conf_level!r}")
    return out


def pct(level: float) -> str:
    """0.9 -> '90', 0.975 -> '97.5' (the suffix of the interval columns)."""
    return f"{level * 100:g}"


def interval_columns(levels) -> list[str]:
    cols = []
    for lv in levels:
        cols += [f"lower_{pct(lv)}", f"upper_{pct(lv)}"]
    return cols


def quantile_row(x: np.ndarray, levels, axis: int = 0) -> dict[str, np.ndarray]:
    """Median and equal-tailed intervals of ``x`` along ``axis``: ``{"median": …, "lower_90": …, …}``."""
    qs = [0.5]
    for lv in levels:
        qs += [(1 - lv) / 2, (1 + lv) / 2]
    # no interpolation between simulated values: a limit may be infinite (never reached)
    x = np.moveaxis(np.asarray(x), axis, 0)
    n = x.shape[0]
    if n and not (x.dtype.kind == "f" and np.isnan(x).any()):
        # inverted_cdf picks order statistics, the same ranks in every column: the ranks from np.quantile on
        # 0..n-1, the values from one sort of the columns (np.quantile partitions each column anew: 2-3x slower
        # on the fan's paths x dates; identical values). With a NaN np.quantile gives NaN: left to it.
        rank = np.quantile(np.arange(n), qs, method="inverted_cdf")
        q = np.take(np.sort(x, axis=0), rank, axis=0)
    else:
        q = np.quantile(x, qs, axis=0, method="inverted_cdf")
    out = {"median": q[0]}
    for i, lv in enumerate(levels):
        out[f"lower_{pct(lv)}"] = q[1 + 2 * i]
        out[f"upper_{pct(lv)}"] = q[2 + 2 * i]
    return out


def day_after(as_of: pd.Timestamp, days) -> pd.Timestamp | pd.NaT:
    """The calendar date on which something ``days`` after the end of ``as_of`` happens (ceil)."""
    if days is None or not np.isfinite(days):
        return pd.NaT
    return as_of + pd.Timedelta(days=max(int(math.ceil(days - 1e-9)), 0))


def dates_after(as_of: pd.Timestamp, days: np.ndarray) -> pd.DatetimeIndex:
    d = np.asarray(days, dtype=float)
    out = np.full(d.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.isfinite(d)
    out[ok] = np.datetime64(as_of, "ns") + np.ceil(d[ok] - 1e-9).clip(0).astype("timedelta64[D]")
    return pd.DatetimeIndex(out)


def check_int(name: str, value, *, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise ForecastError(f"{name} must be a whole number, not {value!r}")
    try:
        v = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ForecastError(f"{name} must be a whole number, not {value!r}") from None
    if v != value or v < minimum:
        raise ForecastError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return v


def check_number(name: str, value, *, positive: bool = True) -> float:
    """A finite real number, > 0 (``positive``) or >= 0; anything else is a :class:`ForecastError`."""
    if isinstance(value, bool):
        raise ForecastError(f"{name} must be a number, not {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ForecastError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ForecastError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, not {value!r}")
    return v


def check_seed(seed) -> int:
    """The random seed: a whole number >= 0 (the same seed gives the same forecast)."""
    return check_int("seed", seed, minimum=0)


def horizon_days(horizon, as_of: pd.Timestamp, cap: float) -> float:
    """``horizon`` (a date, or a number of days after ``as_of``) as days, capped at ``cap``."""
    if isinstance(horizon, int | float) and not isinstance(horizon, bool):
        if not math.isfinite(horizon) or horizon <= 0:
            raise ForecastError(f"horizon must lie after the forecast date {as_of.date()}: a finite number of days "
                                f"> 0 or a later date, not {horizon!r}")
        h = float(horizon)
    elif isinstance(horizon, bool):
        raise ForecastError(f"horizon must be a date or a number of days, not {horizon!r}")
    else:
        h = float((check_date("horizon", horizon) - as_of).days)
        if h <= 0:
            raise ForecastError(f"horizon must lie after the forecast date {as_of.date()}: {horizon!r}")
    return min(h, cap)


def check_date(name: str, value) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ForecastError(f"{name} must be a date (e.g. '2026-06-30'), not {value!r}") from None
    if ts is pd.NaT:
        raise ForecastError(f"{name} must be a date (e.g. '2026-06-30'), not {value!r}")
    return ts.normalize()


def vertical(df: pd.DataFrame, key: str | None = None) -> pd.DataFrame:
    """A short wide frame turned on its side for display: ``quantity`` plus one column per row
    (named by ``key``'s values, else ``value``). Cells keep their own type (dates stay dates)."""
    names = [str(v) for v in df[key]] if key else (["value"] if len(df) == 1 else [str(i) for i in range(len(df))])
    cols = [c for c in df.columns if c != key]
    data = {"quantity": cols}
    for name, (_, row) in zip(names, df.iterrows()):
        data[name] = pd.Series([row[c] for c in cols], dtype=object)
    return pd.DataFrame(data)


def interval_text(df: pd.DataFrame, level: float, digits: int = 0) -> pd.Series:
    """``median (lower–upper)`` per row, for compact tables."""
    p = pct(level)
    return (df["median"].map(lambda v: f"{v:.{digits}f}") + " (" + df[f"lower_{p}"].map(lambda v: f"{v:.{digits}f}")
            + "–" + df[f"upper_{p}"].map(lambda v: f"{v:.{digits}f}") + ")")
