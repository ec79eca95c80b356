"""Kaplan–Meier estimates by arm (survival, median, landmarks, numbers at risk) and median follow-up.

lifelines fits the curves (product-limit estimate, Greenwood variance, log-log band). trialkit adds
what trial reports need on top: the plain "log" band R uses by default, the median with its
Brookmeyer–Crowley interval from whichever band is chosen, landmark survival and the numbers at risk
at chosen times, all as tidy frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import EmptySelectionError, TrialkitError
from ..results import Result
from ._data import TIME_UNITS, SurvivalData, quiet_lifelines, survival_data

__all__ = ["km", "median_followup", "KMResult", "FollowupResult", "CONF_TYPES", "nice_times"]

#: CI transforms: "log-log" (SAS PROC LIFETEST and lifelines default) and "log" (R survfit default).
CONF_TYPES = {
    "log-log": "log-log transform, exp(-exp(log(-log S) ± z·σ/log S)) (SAS, lifelines default)",
    "log": "log transform, S·exp(±z·σ) capped at 1 (R survival default)",
}
_TOL = 1e-12


def _z(conf_level: float) -> float:
    from statistics import NormalDist

    if not 0 < conf_level < 1:
        raise TrialkitError(f"conf_level must lie strictly between 0 and 1 (e.g. 0.95), not {conf_level!r}")
    return NormalDist().inv_cdf(0.5 + conf_level / 2)


def nice_times(t_max: float, time_unit: str = "days", *, n: int = 6) -> np.ndarray:
    """Round display times from 0 to ``t_max``: every 3/6/12 months, whole years, 1-2-5 steps otherwise."""
    if not np.isfinite(t_max) or t_max <= 0:
        return np.array([0.0])
    if time_unit == "months":
        steps = [1, 3, 6, 12, 24]
    elif time_unit == "years":
        steps = [0.5, 1, 2, 5]
    else:
        mag = 10 ** np.floor(np.log10(t_max / n))
        steps = [m * mag for m in (1, 2, 5, 10)]
    step = next((s for s in steps if t_max / s <= n + 1), steps[-1])
    return np.arange(0, t_max + step * 1e-9, step, dtype=float)


def _km_arrays(time: np.ndarray, event: np.ndarray, conf_level: float, conf_type: str):
    """Fit one curve with lifelines; return its event table with survival and the chosen band."""
    from lifelines import KaplanMeierFitter

    with quiet_lifelines():
        kmf = KaplanMeierFitter(alpha=1 - conf_level).fit(time, event)
    et = kmf.event_table
    t = et.index.to_numpy(dtype=float)
    n = et["at_risk"].to_numpy(dtype=float)
    d = et["observed"].to_numpy(dtype=float)
    c = et["censored"].to_numpy(dtype=float)
    s = kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float)
    if conf_type == "log-log":
        ci = kmf.confidence_interval_survival_function_
        lo, hi = ci.iloc[:, 0].to_numpy(dtype=float), ci.iloc[:, 1].to_numpy(dtype=float)
    else:  # plain log: Greenwood variance of log S, S·exp(±zσ), capped at 1 (R conf.type = "log")
        with np.errstate(divide="ignore", invalid="ignore"):
            gw = np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0))
            sd = np.sqrt(gw)
            z = _z(conf_level)
            lo = np.where(s > 0, s * np.exp(-z * sd), np.nan)
            hi = np.where(s > 0, np.minimum(1.0, s * np.exp(z * sd)), np.nan)
    return t, n, d, c, s, lo, hi


def _first_at_or_below(t: np.ndarray, y: np.ndarray, level: float = 0.5) -> float:
    idx = np.flatnonzero(y <= level + _TOL)
    return float(t[idx[0]]) if len(idx) else np.nan


def km_median(t: np.ndarray, s: np.ndarray) -> float:
    """Median of a step survival curve by the SAS/R rule: the midpoint of a flat stretch at exactly 0.5.

    ``min{t: S(t) <= 0.5}``, averaged with ``min{t: S(t) < 0.5}`` when the curve sits at 0.5
    (SAS PROC LIFETEST, R ``quantile.survfit``); lifelines takes the first of the two.
    """
    first = _first_at_or_below(t, s)
    if np.isnan(first):
        return np.nan
    i = np.searchsorted(t, first)
    if abs(s[i] - 0.5) <= _TOL:
        below = np.flatnonzero(s < 0.5 - _TOL)
        if len(below):
            return 0.5 * (first + float(t[below[0]]))
    return first


def _step_value(t: np.ndarray, y: np.ndarray, at: np.ndarray, t_last: float) -> np.ndarray:
    idx = np.searchsorted(t, at, side="right") - 1
    out = y[np.clip(idx, 0, None)].astype(float)
    out[(idx < 0) | (at > t_last)] = np.nan
    return out


def _counts_at(t: np.ndarray, d: np.ndarray, c: np.ndarray, n: int, at: np.ndarray):
    """(at risk: time >= t, events with time <= t, censored with time <= t) for each t in ``at``, counted
    from a curve's event table: its distinct times ``t`` (ascending) with the events ``d`` and censorings
    ``c`` at each, of ``n`` subjects in all."""
    cum_e = np.concatenate([[0], np.cumsum(d.astype(np.int64))])
    cum_out = np.concatenate([[0], np.cumsum(d.astype(np.int64) + c.astype(np.int64))])
    upto = np.searchsorted(t, at, side="right")
    n_event = cum_e[upto]
    return n - cum_out[np.searchsorted(t, at, side="left")], n_event, cum_out[upto] - n_event


@dataclass(frozen=True)
class KMResult(Result):
    """Kaplan–Meier estimates of one endpoint by group.

    Attributes
    ----------
    summary : DataFrame
        One row per group: ``group, n, events, censored, median, median_lower, median_upper``.
    curves : DataFrame
        The step curves: ``group, time, n_risk, n_event, n_censor, survival, lower, upper``
        (one row per distinct time, starting at 0).
    landmarks : DataFrame
        ``group, time, n_risk, survival, lower, upper`` at the landmark times (NaN beyond follow-up).
    risk_table : DataFrame
        ``group, time, n_risk, n_events, n_censored`` at the table times (events and censored are
        cumulative up to and including the time; at risk counts those with time >= the time).
    conf_type : str
        ``"log-log"`` or ``"log"``; ``conf_method`` spells it out.
    """

    summary: pd.DataFrame
    curves: pd.DataFrame
    landmarks: pd.DataFrame
    risk_table: pd.DataFrame
    endpoint: str | None
    by: str | None
    groups: tuple[str, ...]
    time_unit: str
    conf_type: str
    conf_level: float
    population: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "km"
    part_keys: ClassVar[dict] = {"curves": ("group", "time"), "landmarks": ("group", "time"),
                                 "risk_table": ("group", "time")}

    @property
    def conf_method(self) -> str:
        return CONF_TYPES[self.conf_type]

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "landmarks": self.landmarks, "risk_table": self.risk_table,
                "curves": self.curves}

    def settings(self) -> dict:
        return {"endpoint": self.endpoint, "by": self.by, "conf_type": self.conf_type,
                "conf_method": self.conf_method, "conf_level": self.conf_level, "time_unit": self.time_unit,
                "population": self.population}

    def title(self) -> str:
        return (f"Kaplan–Meier: {self.endpoint or ''} by {self.by or 'all'} ({self.conf_level:.0%} CI, "
                f"{self.conf_method}); times in {self.time_unit}")

    def html_parts(self):
        return [(f"median ({self.time_unit})", self.summary), ("landmarks", self.landmarks),
                ("numbers at risk", self.risk_table)]

    def figure(self, **kwargs):
        """The Kaplan–Meier plot (:func:`trialkit.plot_km`)."""
        from ..plots.outcomes import plot_km

        return plot_km(self, **kwargs)


def km(data, *, endpoint: str | None = None, by: str | None = "arm", conf_type: str = "log-log",
       conf_level: float = 0.95, landmarks=None, times=None, time_unit: str = "days",
       population: str | None = None, subgroup: dict | None = None) -> KMResult:
    """Kaplan–Meier survival by group with confidence bands, medians, landmarks and numbers at risk.

    Parameters
    ----------
    data : Study or DataFrame
        A Study, a canonical ``outcomes`` frame (with the ``by`` column) or an ADaM ADTTE frame.
    endpoint : str, optional
        Endpoint code (``EFS``, ``OS``, ADTTE ``PARAMCD``); optional when the data hold one.
    by : str or None, default "arm"
        Grouping column; None pools everyone.
    conf_type : {"log-log", "log"}, default "log-log"
        Transform of the pointwise band: log-log as SAS and lifelines, log as R ``survfit``.
        The median's interval (Brookmeyer–Crowley) is read off the same band.
    conf_level : float, default 0.95
    landmarks : sequence of float, optional
        Times (in ``time_unit``) for survival estimates; default: the risk-table times after 0.
    times : sequence of float, optional
        Times for the numbers-at-risk table; default: round steps over the follow-up.
    time_unit : {"days", "weeks", "months", "years"}, default "days"
    population : str, optional
        See :func:`trialkit.outcomes.survival_data`.
    subgroup : dict, optional
        ``{column: value}`` to analyse one subgroup.

    Returns
    -------
    KMResult

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_study("data/demo/b1931036")
    >>> res = tk.km(study, endpoint="EFS", time_unit="months")
    >>> res.summary[["group", "median", "median_lower", "median_upper"]]
       group    median  median_lower  median_upper
    0  ALLR3  1.938398      0.985626     11.564682
    1    InO  8.344969      2.004107     19.022587
    """
    if conf_type not in CONF_TYPES:
        raise TrialkitError(f"conf_type must be 'log-log' (SAS, lifelines) or 'log' (R), not {conf_type!r}")
    _z(conf_level)
    sd = survival_data(data, endpoint=endpoint, by=by, population=population, time_unit=time_unit,
                       subgroup=subgroup)
    return km_from(sd, conf_type=conf_type, conf_level=conf_level, landmarks=landmarks, times=times)


def km_from(sd: SurvivalData, *, conf_type="log-log", conf_level=0.95, landmarks=None, times=None) -> KMResult:
    """:func:`km` on already extracted :class:`SurvivalData`."""
    f = sd.frame
    if not len(f):
        raise EmptySelectionError(f"no subjects to analyse for {sd.endpoint}; check the population and subgroup")
    t_max = float(f["time"].max())
    times = nice_times(t_max, sd.time_unit) if times is None else np.asarray(sorted(times), dtype=float)
    lm = times[times > 0] if landmarks is None else np.asarray(sorted(landmarks), dtype=float)
    codes = f["group"].cat.codes.to_numpy()
    T, E = f["time"].to_numpy(), f["event"].to_numpy()
    summ, curves, lands, risk = [], [], [], []
    for gi, g in enumerate(sd.groups):
        m = codes == gi
        tg, eg = T[m], E[m]
        if not len(tg):
            summ.append({"group": g, "n": 0, "events": 0, "censored": 0, "median": np.nan,
                         "median_lower": np.nan, "median_upper": np.nan})
            continue
        t, n, d, c, s, lo, hi = _km_arrays(tg, eg, conf_level, conf_type)
        summ.append({"group": g, "n": int(m.sum()), "events": int(eg.sum()), "censored": int(m.sum() - eg.sum()),
                     "median": km_median(t, s), "median_lower": _first_at_or_below(t, lo),
                     "median_upper": _first_at_or_below(t, hi)})
        curves.append(pd.DataFrame({"group": g, "time": t, "n_risk": n.astype(int), "n_event": d.astype(int),
                                    "n_censor": c.astype(int), "survival": s, "lower": lo, "upper": hi}))
        t_last = float(tg.max())
        nr, ne, nc = _counts_at(t, d, c, len(tg), np.concatenate([lm, times]))
        nr_l = nr[:len(lm)]
        nr, ne, nc = nr[len(lm):], ne[len(lm):], nc[len(lm):]
        lands.append(pd.DataFrame({"group": g, "time": lm, "n_risk": nr_l,
                                   "survival": _step_value(t, s, lm, t_last), "lower": _step_value(t, lo, lm, t_last),
                                   "upper": _step_value(t, hi, lm, t_last)}))
        risk.append(pd.DataFrame({"group": g, "time": times, "n_risk": nr, "n_events": ne, "n_censored": nc}))
    cat = pd.CategoricalDtype(list(sd.groups), ordered=True)

    def _cat(frames, cols):
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
        df["group"] = df["group"].astype(cat)
        return df

    return KMResult(
        summary=_cat([pd.DataFrame(summ)], None),
        curves=_cat(curves, ["group", "time", "n_risk", "n_event", "n_censor", "survival", "lower", "upper"]),
        landmarks=_cat(lands, ["group", "time", "n_risk", "survival", "lower", "upper"]),
        risk_table=_cat(risk, ["group", "time", "n_risk", "n_events", "n_censored"]),
        endpoint=sd.endpoint, by=sd.by, groups=sd.groups, time_unit=sd.time_unit, conf_type=conf_type,
        conf_level=conf_level, population=sd.population, notes=sd.notes)


@dataclass(frozen=True)
class FollowupResult(Result):
    """Median follow-up by reverse Kaplan–Meier (Schemper & Smith 1996).

    ``summary`` has ``group, n, censored, median, lower, upper`` (one row per group plus
    ``"overall"``). ``data_cut_date`` is the date the follow-up runs to and ``data_cut_basis`` says
    where it comes from (the study's stated data cut, or the last follow-up date in the data).
    """

    summary: pd.DataFrame
    endpoint: str | None
    time_unit: str
    conf_level: float
    method: str = "reverse Kaplan-Meier (censoring as the event), log-log CI"
    notes: tuple[str, ...] = field(default_factory=tuple)
    data_cut_date: str | None = None
    data_cut_basis: str = "unknown: the data carry no dates"

    analysis: ClassVar[str] = "median_followup"

    def settings(self) -> dict:
        return {"endpoint": self.endpoint, "method": self.method, "conf_level": self.conf_level,
                "time_unit": self.time_unit, "data_cut_date": self.data_cut_date,
                "data_cut_basis": self.data_cut_basis}

    def title(self) -> str:
        cut = f"; data cut {self.data_cut_date} ({self.data_cut_basis})" if self.data_cut_date else ""
        return f"Median follow-up ({self.endpoint or ''}, {self.time_unit}): {self.method}{cut}"


def _data_cut(data, sd: SurvivalData) -> tuple[str | None, str, list[str]]:
    """(data-cut date, where it comes from, notes) for the follow-up of ``sd``'s subjects."""
    last = None
    if hasattr(data, "randomization") and "randomization_date" in getattr(data, "randomization", pd.DataFrame()):
        rnd = data.randomization.set_index("subject_id")["randomization_date"]
        start = pd.to_datetime(rnd.reindex(sd.frame["subject_id"].to_numpy()), errors="coerce").to_numpy()
        days = sd.frame["time"].to_numpy(float) * TIME_UNITS[sd.time_unit]
        ends = pd.Series(start) + pd.to_timedelta(np.round(days) - 1, unit="D")  # time = end - start + 1
        last = ends.max() if ends.notna().any() else None
    elif isinstance(data, pd.DataFrame) and "ADT" in data.columns:
        last = pd.to_datetime(data["ADT"], errors="coerce").max()
    stated = getattr(data, "data_cut_date", None)
    notes = []
    if stated is not None and not pd.isna(stated):
        stated = pd.Timestamp(stated)
        if last is not None and not pd.isna(last) and last > stated:
            notes.append(f"follow-up runs to {last.date().isoformat()}, after the stated data cut "
                         f"{stated.date().isoformat()}: check the outcome dates or the data cut")
        return stated.date().isoformat(), "stated in the study (data_cut_date)", notes
    if last is not None and not pd.isna(last):
        return (pd.Timestamp(last).date().isoformat(),
                "not stated: assumed to be the last follow-up date in the data", notes)
    return None, "unknown: the data carry no dates", notes


def median_followup(data, *, endpoint: str | None = None, by: str | None = "arm", conf_level: float = 0.95,
                    time_unit: str = "days", population: str | None = None) -> FollowupResult:
    """Median potential follow-up by the reverse Kaplan–Meier method, by arm and overall.

    The Kaplan–Meier estimator is applied with the censoring indicator reversed (a censored
    subject is an "event", an event censors follow-up), so deaths do not shorten follow-up. The
    estimate assumes that subjects without an event were followed up to the data cut: the result
    names that date (``data_cut_date``) — the study's stated data cut, or, when none is stated,
    the last follow-up date in the data (randomization date + time − 1 day, the canonical and
    ADaM convention ``time_days = end − start + 1``), said so in
    ``data_cut_basis`` — and notes follow-up that runs past a stated cut.

    Parameters
    ----------
    data, endpoint, by, time_unit, population
        As for :func:`km`.
    conf_level : float, default 0.95
        Level of the log-log band the median's interval is read from.

    Returns
    -------
    FollowupResult

    Examples
    --------
    >>> tk.median_followup(study, endpoint="OS", time_unit="months").summary
         group   n  censored     median      lower      upper
    0    ALLR3  35        29   7.326489   4.402464  14.685832
    1      InO  61        45  13.338809  11.006160  21.289528
    2  overall  96        74  12.188912  10.480493  15.638604
    """
    sd = survival_data(data, endpoint=endpoint, by=by, population=population, time_unit=time_unit)
    f = sd.frame
    if not len(f):
        raise EmptySelectionError(f"no subjects to analyse for {sd.endpoint}; check the population")
    T, E = f["time"].to_numpy(), 1 - f["event"].to_numpy()
    codes = f["group"].cat.codes.to_numpy()
    rows = []
    for gi, g in list(enumerate(sd.groups)) + ([(-1, "overall")] if len(sd.groups) > 1 else []):
        m = np.ones(len(T), bool) if gi == -1 else codes == gi
        if not m.any():
            rows.append({"group": g, "n": 0, "censored": 0, "median": np.nan, "lower": np.nan, "upper": np.nan})
            continue
        t, _, _, _, s, lo, hi = _km_arrays(T[m], E[m], conf_level, "log-log")
        rows.append({"group": g, "n": int(m.sum()), "censored": int(E[m].sum()), "median": km_median(t, s),
                     "lower": _first_at_or_below(t, lo), "upper": _first_at_or_below(t, hi)})
    cut, basis, cut_notes = _data_cut(data, sd)
    return FollowupResult(summary=pd.DataFrame(rows), endpoint=sd.endpoint, time_unit=sd.time_unit,
                          conf_level=conf_level, notes=(*sd.notes, *cut_notes), data_cut_date=cut,
                          data_cut_basis=basis)


