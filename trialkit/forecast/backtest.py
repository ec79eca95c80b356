"""Backtests: forecasts made at earlier data cuts, from the data then available, against what happened.

:func:`backtest_accrual` and :func:`backtest_events` re-run the forecast at each cutoff with only
what was known then and compare its median and intervals with the date the target was actually
reached, beside the straight-line extrapolation users do by hand (patients, or events, so far
divided by the time elapsed, projected forward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import ForecastError
from ..results import Result
from ._common import check_date, check_int, interval_columns, levels_of, pct
from ._data import accrual_input, default_as_of

__all__ = ["backtest_accrual", "backtest_events", "Backtest"]

#: default cutoffs: when these shares of the target had been reached
DEFAULT_SHARES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class Backtest(Result):
    """Forecasts at earlier cutoffs against what happened (see :func:`trialkit.backtest_accrual`).

    Attributes
    ----------
    summary : DataFrame
        One row per cutoff: ``cutoff, observed`` (patients or events by then), ``target,
        actual_date, median`` and the interval columns, ``covered_<c>`` per coverage,
        ``error_days`` (median − actual), ``straight_line_date, straight_line_error_days``.
    overall : DataFrame
        ``method, cutoffs, coverage_<c>, mean_abs_error_days, median_abs_error_days`` for the
        forecast and the straight line.
    """

    summary: pd.DataFrame
    overall: pd.DataFrame
    kind: str  # "accrual" or "events"
    target: int
    conf_level: tuple[float, ...]
    n_sims: int
    seed: int | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    part_keys: ClassVar[dict[str, tuple[str, ...]]] = {"summary": ("cutoff",), "overall": ("method",)}

    @property
    def analysis(self) -> str:  # type: ignore[override]
        return f"backtest_{self.kind}"

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "overall": self.overall}

    def settings(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "conf_level": self.conf_level, "n_sims": self.n_sims,
                "seed": self.seed}

    def title(self) -> str:
        what = "patients" if self.kind == "accrual" else "events"
        return f"Backtest of the {self.kind} forecast: date of {self.target} {what}, forecast at earlier cutoffs"

    def figure(self, **kwargs):
        """Each cutoff's interval against the actual date (:func:`trialkit.plot_backtest`)."""
        from ..plots.forecast import plot_backtest

        return plot_backtest(self, **kwargs)


def _cutoffs(cutoffs, dates: pd.Series, target: int, final: pd.Timestamp) -> list[pd.Timestamp]:
    """Given cutoffs, or the dates the target's DEFAULT_SHARES were reached (dates sorted)."""
    if cutoffs is None:
        out = [dates.iloc[max(math.ceil(s * target), 1) - 1] for s in DEFAULT_SHARES]
    else:
        out = [check_date("cutoffs", c) for c in ([cutoffs] if isinstance(cutoffs, str | pd.Timestamp) else cutoffs)]
    out = sorted({pd.Timestamp(c).normalize() for c in out})
    late = [c for c in out if c >= dates.iloc[target - 1]]
    if late:
        raise ForecastError(f"cutoff {late[0].date()} is on or after the date the target of {target} was reached "
                            f"({dates.iloc[target - 1].date()}): a backtest needs cutoffs before it")
    if not out:
        raise ForecastError("no cutoff to backtest at")
    return out


#: arguments a backtest sets itself at every cutoff (not to be passed on through ``**options``)
_OWN = {"data", "as_of", "target", "target_events", "conf_level", "n_sims", "seed", "dates"}


def _check_options(options: dict, fn) -> None:
    """``**options`` must be keyword arguments of ``fn`` the backtest does not set itself."""
    import inspect

    allowed = [p for p in inspect.signature(fn).parameters if p not in _OWN]
    bad = [k for k in options if k not in allowed]
    if bad:
        raise ForecastError(f"{', '.join(map(repr, bad))}: not an option of {fn.__name__} a backtest passes on; "
                            f"the options are {', '.join(allowed)}")


def _straight_line(observed: int, elapsed_days: float, target: int, cutoff: pd.Timestamp) -> pd.Timestamp:
    if observed <= 0 or elapsed_days <= 0:
        return pd.NaT
    return cutoff + pd.Timedelta(days=math.ceil((target - observed) * elapsed_days / observed))


def _row(cutoff, observed, target, actual, s: pd.Series, straight, levels) -> dict:
    row: dict[str, Any] = {"cutoff": cutoff, "observed": observed, "target": target, "actual_date": actual,
                           "median": s["median"]}
    for c in interval_columns(levels):
        row[c] = s[c]
    for lv in levels:
        lo, hi = s[f"lower_{pct(lv)}"], s[f"upper_{pct(lv)}"]
        row[f"covered_{pct(lv)}"] = bool(pd.notna(lo) and lo <= actual and (pd.isna(hi) or actual <= hi))
    row["error_days"] = (s["median"] - actual).days if pd.notna(s["median"]) else np.nan
    row["straight_line_date"] = straight
    row["straight_line_error_days"] = (straight - actual).days if pd.notna(straight) else np.nan
    return row


def _overall(summary: pd.DataFrame, levels) -> pd.DataFrame:
    rows = []
    for method, col in (("forecast (median)", "error_days"), ("straight line", "straight_line_error_days")):
        err = summary[col].astype(float).abs()
        row: dict[str, Any] = {"method": method, "cutoffs": len(summary)}
        for lv in levels:
            row[f"coverage_{pct(lv)}"] = float(summary[f"covered_{pct(lv)}"].mean()) if method.startswith("forecast") \
                else np.nan
        row.update(mean_abs_error_days=float(err.mean()), median_abs_error_days=float(err.median()))
        rows.append(row)
    return pd.DataFrame(rows)


def _frame(rows, levels) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    for c in ["cutoff", "actual_date", "median", *interval_columns(levels), "straight_line_date"]:
        out[c] = pd.to_datetime(out[c])
    return out


def backtest_accrual(data, *, cutoffs=None, target: int | None = None, conf_level=(0.5, 0.9), n_sims: int = 2000,
                     seed: int = 0, **options) -> Backtest:
    """Forecast accrual at earlier cutoffs and compare with the date the target was actually reached.

    At each cutoff, :func:`trialkit.forecast_accrual` sees only the randomizations up to it; sites
    that opened later open on their actual activation dates (as if their opening had been planned
    then, which flatters the forecast a little). Beside it, the straight line: patients so far over
    the days since the first site opened, projected to the target.

    Parameters
    ----------
    data : Study or DataFrame
        As for :func:`trialkit.forecast_accrual`.
    cutoffs : sequence of date-like, optional
        Forecast dates; default the dates 25 %, 50 % and 75 % of the target had been randomized.
    target : int, optional
        Default the protocol's planned enrollment, capped at the number actually randomized (the
        truth must be known).
    conf_level, n_sims, seed
        As for :func:`trialkit.forecast_accrual`.
    **options
        Passed on to :func:`trialkit.forecast_accrual` (e.g. ``parameter_uncertainty=False``).

    Returns
    -------
    Backtest

    Examples
    --------
    >>> import trialkit as tk
    >>> bt = tk.backtest_accrual(tk.load_study("data/demo/b1931036"), n_sims=1000)
    >>> bt.summary["observed"].tolist()
    [24, 49, 72]
    """
    from .accrual import forecast_accrual

    _check_options(options, forecast_accrual)
    levels = levels_of(conf_level)
    inp = accrual_input(data)
    dates = inp.patients["randomization_date"].sort_values().reset_index(drop=True)
    final, _ = default_as_of(inp)
    dates = dates[dates <= final]
    default = min(inp.target or len(dates), len(dates))
    target = default if target is None else check_int("target", target, minimum=1)
    if target > len(dates) or target < 2:
        raise ForecastError(f"target={target}: a backtest needs a target between 2 and the {len(dates)} patients "
                            "actually randomized (its date must be known)")
    actual = dates.iloc[target - 1]
    start = inp.sites["activation_date"].min()
    start = dates.iloc[0] if pd.isna(start) else min(start, dates.iloc[0])
    rows = []
    for cut in _cutoffs(cutoffs, dates, target, final):
        fc = forecast_accrual(data, target=target, as_of=cut, conf_level=levels, n_sims=n_sims, seed=seed,
                              dates=[cut + pd.Timedelta(days=1)], **options)
        obs = int((dates <= cut).sum())
        straight = _straight_line(obs, (cut - start).days + 1, target, cut)
        rows.append(_row(cut, obs, target, actual, fc.summary.iloc[0], straight, levels))
    summary = _frame(rows, levels)
    notes = ("sites opening after a cutoff open on their actual activation dates, as if planned then",
             f"straight line: patients at the cutoff / days since the first site opened ({start.date()})")
    return Backtest(summary=summary, overall=_overall(summary, levels), kind="accrual", target=target,
                    conf_level=levels, n_sims=n_sims, seed=seed, notes=notes)


def backtest_events(data, *, endpoint: str = "EFS", cutoffs=None, target_events: int | None = None,
                    conf_level=(0.5, 0.9), n_sims: int = 2000, seed: int = 0, **options) -> Backtest:
    """Forecast the events at earlier cutoffs and compare with the date the target was actually reached.

    At each cutoff, :func:`trialkit.forecast_events` sees the patients randomized by then, with the
    events that had occurred by then (later events censored at the cutoff: no reporting delay is
    assumed). Beside it, the straight line: events so far over the days since the first
    randomization, projected to the target.

    Parameters
    ----------
    data : Study or DataFrame
        As for :func:`trialkit.forecast_events`.
    endpoint : str, default "EFS"
    cutoffs : sequence of date-like, optional
        Default the dates 25 %, 50 % and 75 % of the target events had occurred.
    target_events : int, optional
        Default the number of events observed at the data cut (its date is known).
    conf_level, n_sims, seed
    **options
        Passed on to :func:`trialkit.forecast_events` (``model``, ``cuts``, ``accrual_target`` …).

    Returns
    -------
    Backtest

    Examples
    --------
    >>> import trialkit as tk
    >>> bt = tk.backtest_events(tk.load_study("data/demo/b1931036"), n_sims=500)
    >>> int(bt.target)
    57
    """
    from .events import forecast_events

    _check_options(options, forecast_events)
    levels = levels_of(conf_level)
    inp = accrual_input(data, endpoint=endpoint)
    final, _ = default_as_of(inp)
    p = inp.patients
    ev = p.loc[p["event"] > 0]
    dates = (ev["randomization_date"] + pd.to_timedelta(ev["time_days"] - 1, unit="D")).sort_values()
    dates = dates[dates <= final].reset_index(drop=True)
    target = len(dates) if target_events is None else check_int("target_events", target_events, minimum=1)
    if target > len(dates) or target < 2:
        raise ForecastError(f"target_events={target}: a backtest needs a target between 2 and the {len(dates)} "
                            "events observed (its date must be known)")
    actual = dates.iloc[target - 1]
    start = p["randomization_date"].min()
    notes = ["earlier data cuts are reconstructed from the last one: an event after a cutoff was not known at it "
             "(no reporting delay assumed)",
             f"straight line: events at the cutoff / days since the first randomization ({start.date()})"]
    if inp.target is None and "accrual_target" not in options:
        options["accrual_target"] = int((p["randomization_date"] <= final).sum())
        notes.append(f"no planned enrollment: the forecasts assume the {options['accrual_target']} patients "
                     "finally randomized (known only in hindsight; give accrual_target= to change it)")
    rows = []
    for cut in _cutoffs(cutoffs, dates, target, final):
        fc = forecast_events(data, endpoint=endpoint, target_events=target, as_of=cut, conf_level=levels,
                             n_sims=n_sims, seed=seed, **options)
        obs = int((dates <= cut).sum())
        straight = _straight_line(obs, (cut - start).days + 1, target, cut)
        rows.append(_row(cut, obs, target, actual, fc.summary.iloc[0], straight, levels))
    summary = _frame(rows, levels)
    return Backtest(summary=summary, overall=_overall(summary, levels), kind="events", target=target,
                    conf_level=levels, n_sims=n_sims, seed=seed, notes=tuple(notes))
