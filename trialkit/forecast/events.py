"""Event forecast: when will the analysis have its events? Pooled over arms (blinded).

:func:`forecast_events` follows every patient randomized by the forecast date from their last known
event-free time, adds the patients still to be randomized (the accrual forecast of
:func:`trialkit.forecast_accrual`), gives each an event time from a parametric model fitted to the
observed event times (Weibull or piecewise exponential) and a dropout time from an exponential
dropout model, and reads off, per simulated path, the day the target number of events is reached.
No arm is used anywhere, so the forecast can go to the blinded study team.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import ForecastError
from ..results import Result
from ._common import (
    check_date,
    check_int,
    check_number,
    check_seed,
    dates_after,
    day_after,
    horizon_days,
    interval_columns,
    levels_of,
    quantile_row,
    vertical,
)
from ._data import AccrualInput, _whole_days, accrual_input, check_as_of, default_as_of, state_at
from ._event_models import Dropout, Piecewise, Weibull, fit_piecewise, fit_weibull
from ._simulate import time_to_intensity
from .accrual import MAX_HORIZON_DAYS, _draw, _fit, _future_sites

__all__ = ["forecast_events", "EventForecast", "MODELS"]

#: the event-time models offered
MODELS = ("weibull", "piecewise")
#: a censoring more than this many days before the forecast date is a dropout (no further follow-up)
DROPOUT_GAP_DAYS = 90
FAN_POINTS = 80


@dataclass(frozen=True)
class EventForecast(Result):
    """A forecast of events pooled over arms (see :func:`trialkit.forecast_events`).

    Attributes
    ----------
    summary : DataFrame
        One row per model reported (the chosen one first; the other only when it differs):
        ``model, chosen, as_of, events, target_events, remaining, median`` and the interval columns
        (dates), ``p_by_horizon`` (share of paths reaching the target within the simulated horizon).
    fan : DataFrame
        Cumulative events of the chosen model on a grid of dates (``date, mean, median, …``).
    observed : DataFrame
        Observed cumulative events by event date (``date, cumulative``).
    models : DataFrame
        Both fits: ``model, parameter, estimate, se, lower, upper`` plus ``loglik, aic`` per model
        (the piecewise model's AIC counts one parameter per interval).
    patients : DataFrame
        Where the patients stand on the forecast date: ``status, n`` (event, in follow-up, dropped
        out, follow-up complete, still to be randomized).
    """

    summary: pd.DataFrame
    fan: pd.DataFrame
    observed: pd.DataFrame
    models: pd.DataFrame
    patients: pd.DataFrame
    endpoint: str
    model: str
    as_of: pd.Timestamp
    target_events: int | None
    conf_level: tuple[float, ...]
    n_sims: int
    seed: int | None
    accrual_target: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "forecast_events"
    part_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "summary": ("model",), "fan": ("date",), "observed": ("date",), "models": ("model", "parameter"),
        "patients": ("status",)}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "fan": self.fan, "observed": self.observed, "models": self.models,
                "patients": self.patients}

    def settings(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "model": self.model, "as_of": self.as_of,
                "target_events": self.target_events, "accrual_target": self.accrual_target,
                "conf_level": self.conf_level, "n_sims": self.n_sims, "seed": self.seed, "pooled_over_arms": True}

    def title(self) -> str:
        tgt = f" to {self.target_events} events" if self.target_events else ""
        return (f"Event forecast: {self.endpoint}{tgt} as of {self.as_of.date()}, pooled over arms "
                f"({self.model}, {self.n_sims:,} simulated paths)")

    def html_parts(self):
        return [("", vertical(self.summary, key="model"), {"digits": 2}), ("where the patients stand", self.patients, {}),
                ("event-time and dropout models", self.models, {"digits": 4})]

    def figure(self, **kwargs):
        """The fan chart of cumulative events (:func:`trialkit.plot_event_forecast`)."""
        from ..plots.forecast import plot_event_forecast

        return plot_event_forecast(self, **kwargs)


# ------------------------------------------------------------------------------------------------
# the data on the forecast date
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Cohort:
    """Patients randomized by the forecast date, with the event data as known then."""

    rand_day: np.ndarray  # randomization, days relative to as_of (<= 0)
    time: np.ndarray  # days from randomization to event / censoring (as known on as_of), >= 1
    event: np.ndarray  # 0/1
    status: np.ndarray  # "event", "in follow-up", "dropped out", "follow-up complete"
    event_day: np.ndarray  # day of each observed event relative to as_of


def _cohort(inp: AccrualInput, as_of: pd.Timestamp, follow_up: float | None, gap: float) -> _Cohort:
    """What was known on ``as_of``: an event after it is not yet seen (censored at ``as_of``).

    This reconstructs an earlier data cut from a later one on the assumption that events were
    recorded as they happened (no reporting delay).
    """
    rand_date = inp.patients["randomization_date"].to_numpy()
    seen = rand_date <= np.datetime64(as_of)
    rand = _whole_days(rand_date[seen] - np.datetime64(as_of, "ns"))  # <= 0
    t_full = inp.patients["time_days"].to_numpy(dtype=float)[seen]
    e_full = inp.patients["event"].to_numpy(dtype=float)[seen]
    end = rand + t_full - 1  # ADaM: AVAL = ADT - STARTDT + 1
    seen = end <= 0
    time = np.where(seen, t_full, 1.0 - rand)
    event = np.where(seen, e_full, 0.0)
    status = np.full(len(rand), "in follow-up", dtype=object)
    status[event > 0] = "event"
    cens_end = rand + time - 1
    left_early = (event == 0) & (cens_end < -gap)  # last seen well before the cut
    fu = np.inf if follow_up is None else follow_up
    # follow-up complete: reached the limit by the cut, or left within `gap` days of it
    done = (event == 0) & (time >= fu - np.where(left_early, gap, 0.0))
    status[left_early & ~done] = "dropped out"
    status[done] = "follow-up complete"
    return _Cohort(rand_day=rand, time=np.maximum(time, 0.5), event=event, status=status,
                   event_day=(rand + time - 1)[event > 0])


def _fit_models(c: _Cohort, cuts) -> tuple[Weibull | None, Piecewise, list[str]]:
    notes = []
    try:
        w = fit_weibull(c.time, c.event)
    except ForecastError as exc:
        w = None
        notes.append(f"Weibull model not fitted: {exc}")
    if c.event.sum() < 1:
        raise ForecastError("no event has been observed by the forecast date: the event rate cannot be estimated "
                            "(give a later as_of)")
    return w, fit_piecewise(c.time, c.event, cuts), notes


# ------------------------------------------------------------------------------------------------
# simulation
# ------------------------------------------------------------------------------------------------
def _arrivals(inp, st, future, n_sims, rng, m: int, uncertainty: bool) -> np.ndarray:
    """(n_sims, m) randomization days (after as_of) of the patients still to come."""
    if m <= 0:
        return np.zeros((n_sims, 0))
    model = _fit(st)
    paths = _draw(st, model, future, n_sims=n_sims, rng=rng, uncertainty=uncertainty)
    g = np.cumsum(rng.standard_exponential((n_sims, m)), axis=1)
    # a patient arriving during day k after as_of is randomized on that day (ceil)
    return np.ceil(time_to_intensity(g, paths.open_rate, paths.fut_rate, paths.fut_offset))


def _event_days(model, c: _Cohort, arrivals: np.ndarray, dropout: Dropout | None, follow_up, rng, n_sims):
    """(n_sims, patients) day of each future event relative to as_of (inf when none)."""
    params = model.draw(n_sims, rng)
    risk = c.status == "in follow-up"
    shape = (n_sims, int(risk.sum()) + arrivals.shape[1])
    if arrivals.shape[1]:
        start = np.concatenate([np.broadcast_to(c.rand_day[risk], (n_sims, int(risk.sum()))), arrivals], axis=1)
    else:  # only the patients in follow-up: one row, the same in every path (not copied per path)
        start = c.rand_day[risk][None, :]
    u = np.concatenate([c.time[risk], np.zeros(arrivals.shape[1])])[None, :]
    t = model.sample(params, u, rng.standard_exponential(shape))
    ok = np.isfinite(t)
    if dropout is not None:
        delta = dropout.draw(n_sims, rng)[:, None]
        censor = rng.standard_exponential(shape)
        censor /= delta
        censor += u
        ok &= t < censor
        del censor
    if follow_up is not None:
        ok &= t <= follow_up
    # the day of the event (start + t - 1, at least 0), inf when it is censored
    day = np.add(start, t, out=t)
    day -= 1
    np.maximum(day, 0.0, out=day)
    day[~ok] = np.inf
    return day


def _target_days(days: np.ndarray, k: int) -> np.ndarray:
    """Per path the day of the k-th future event (inf when fewer than k)."""
    if days.shape[1] < k:
        return np.full(days.shape[0], np.inf)
    return np.partition(days, k - 1, axis=1)[:, k - 1]


def _fan(days: np.ndarray, observed: int, horizon: float, as_of, levels) -> pd.DataFrame:
    grid = np.unique(np.concatenate([np.linspace(0.0, horizon, FAN_POINTS), [horizon]]))
    # per path, the events on or before each grid day: an event counts from the first grid day not before it
    first = np.searchsorted(grid, days, side="left")  # len(grid) for an event after the grid (or none)
    n_paths, width = days.shape[0], len(grid) + 1
    per_day = np.bincount((first + (np.arange(n_paths) * width)[:, None]).ravel(), minlength=n_paths * width)
    counts = observed + np.cumsum(per_day.reshape(n_paths, width)[:, :-1], axis=1)
    q = quantile_row(counts, levels)
    return pd.DataFrame({"date": dates_after(as_of, grid), "mean": counts.mean(axis=0), **q})


# ------------------------------------------------------------------------------------------------
# result parts
# ------------------------------------------------------------------------------------------------
def _summary_row(name, chosen, as_of, c: _Cohort, target, t_days, levels, horizon) -> dict:
    d = int(c.event.sum())
    row: dict[str, Any] = {"model": name, "chosen": chosen, "as_of": as_of, "events": d, "target_events": target,
                           "remaining": None if target is None else max(target - d, 0)}
    q = dict.fromkeys(["median", *interval_columns(levels)])
    p = None
    if t_days is not None:
        q = {k: day_after(as_of, v) for k, v in quantile_row(t_days, levels).items()}
        p = float(np.mean(t_days <= horizon))
    elif target is not None:
        q = dict.fromkeys(q, as_of + pd.Timedelta(days=float(np.sort(c.event_day)[target - 1])))
        p = 1.0
    row.update(q)
    row["p_by_horizon"] = p
    return row


def _models_table(fits, dropout, levels) -> pd.DataFrame:
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + max(levels) / 2)
    rows = []
    for f in fits:
        if f is None:
            continue
        for name, est, se, lo, hi in f.table(z):
            rows.append({"model": f.name, "parameter": name, "estimate": est, "se": se, "lower": lo, "upper": hi,
                         "loglik": f.loglik, "aic": 2 * f.n_params - 2 * f.loglik})
    if dropout is not None:
        rate = dropout.rate * 365.25
        se = rate / np.sqrt(dropout.events) if dropout.events else np.nan
        rows.append({"model": "dropout (exponential)", "parameter": "dropouts per patient-year", "estimate": rate,
                     "se": se, "lower": np.nan, "upper": np.nan, "loglik": np.nan, "aic": np.nan})
    return pd.DataFrame(rows)


def _patients(c: _Cohort, still_to_come: int) -> pd.DataFrame:
    order = ["event", "in follow-up", "dropped out", "follow-up complete"]
    counts = Counter(c.status)
    rows = [(s, int(counts.get(s, 0))) for s in order]
    rows.append(("still to be randomized", int(still_to_come)))
    return pd.DataFrame(rows, columns=["status", "n"])


def _observed(c: _Cohort, as_of) -> pd.DataFrame:
    days, n = np.unique(c.event_day, return_counts=True)
    return pd.DataFrame({"date": as_of + pd.to_timedelta(days.astype(float), unit="D"),
                         "cumulative": np.cumsum(n).astype(int)})


def _differs(rows: list[dict], levels) -> bool:
    """The other model's median lies outside the chosen model's narrowest interval."""
    a, b = rows
    lv = f"{min(levels) * 100:g}"
    if a["median"] is None or b["median"] is None or pd.isna(a["median"]) or pd.isna(b["median"]):
        return False
    return not (a[f"lower_{lv}"] <= b["median"] <= a[f"upper_{lv}"])


# ------------------------------------------------------------------------------------------------
# the public function
# ------------------------------------------------------------------------------------------------
def _settings(inp, target_events, as_of, accrual_target, follow_up_days, model, notes):
    if model not in MODELS:
        raise ForecastError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    if as_of is None:
        as_of, note = default_as_of(inp)
        if note:
            notes.append(note)
    else:
        as_of = check_date("as_of", as_of)
        check_as_of(inp, as_of)
    target = None if target_events is None else check_int("target_events", target_events, minimum=1)
    acc = inp.target if accrual_target is None else check_int("accrual_target", accrual_target)
    fu = inp.follow_up_days if follow_up_days is None else check_number("follow_up_days", follow_up_days)
    return as_of, target, acc, fu


def _check_cuts(cuts):
    """Cut points of the piecewise model: finite days > 0 (sorting and the order check stay with the fit)."""
    if cuts is None:
        return None
    bad = ForecastError(f"cuts must be a list of days (numbers > 0), e.g. [90, 180], not {cuts!r}")
    if isinstance(cuts, str | bytes):
        raise bad
    try:
        values = list(cuts)
    except TypeError:
        raise bad from None
    try:
        return [check_number("cuts", c) for c in values]
    except ForecastError:
        raise ForecastError(f"cuts must be increasing positive days, e.g. [90, 180], not {cuts!r}") from None


def forecast_events(data, *, endpoint: str = "EFS", target_events: int | None = None, as_of=None,
                    model: str = "weibull", cuts=None, accrual_target: int | None = None,
                    dropout: bool = True, dropout_gap_days: float = DROPOUT_GAP_DAYS,
                    follow_up_days: float | None = None, horizon=None, new_sites=None,
                    opening_rate: float | None = None, conf_level=(0.5, 0.9), n_sims: int = 5000, seed: int = 0,
                    parameter_uncertainty: bool = True) -> EventForecast:
    """Forecast the date the ``target_events``-th event occurs, pooled over arms (blinded).

    Patients randomized by ``as_of`` and still in follow-up get an event time from the fitted
    model, conditional on being event-free at their last known time; patients still to be
    randomized (up to ``accrual_target``) arrive as in :func:`trialkit.forecast_accrual` and get
    an event time from the start. An exponential dropout time (rate = dropouts / follow-up time)
    and the protocol's follow-up limit censor the event. Every path draws its own parameters
    (event model, dropout rate and accrual), so the intervals carry their uncertainty.

    Parameters
    ----------
    data : Study or DataFrame
        A Study (its ``outcomes`` table holds ``endpoint``), or the frame of
        :func:`trialkit.forecast_accrual` with ``time_days`` (days from randomization to event or
        censoring, ADaM AVAL) and ``event`` (1 event, 0 censored) for every randomized patient.
    endpoint : str, default "EFS"
        The endpoint of a Study's ``outcomes`` table.
    target_events : int, optional
        Number of events the analysis needs; without it only the cumulative events are forecast.
    as_of : date-like, optional
        Forecast date; default the data cut. An event after ``as_of`` is treated as not yet known
        (censored at ``as_of``): earlier data cuts are reconstructed assuming no reporting delay.
    model : {"weibull", "piecewise"}, default "weibull"
        The event-time model. Both are fitted; the other appears in ``summary`` when its median date
        lies outside the chosen model's narrowest interval, and always in ``models``.
    cuts : sequence of float, optional
        Cut points (days) of the piecewise-exponential model; default at quantiles of the event
        times, one piece per 10 events (at most 4). An event at a cut belongs to the piece it ends.
    accrual_target : int, optional
        Patients to be randomized in all (default the protocol's planned enrollment; for a frame,
        no further patients unless given).
    dropout : bool, default True
        Censor for dropout: a censoring more than ``dropout_gap_days`` before ``as_of`` (and not
        within that gap of the end of follow-up) is a dropout; the dropout rate is their number over
        the total follow-up time.
    dropout_gap_days : float, default 90
        How long before the forecast date a patient may have been last seen and still count as in
        follow-up: set it to the data's reporting lag. A longer gap keeps recent dropouts at risk
        (forecast slightly early); a shorter one takes patients merely not yet seen for dropouts.
    follow_up_days : float, optional
        Days of follow-up per patient (default the protocol's ``follow_up_years``; none for a frame).
    horizon : date-like or number of days, optional
        End of the fan chart (default a little beyond the upper limit of the target date).
    new_sites, opening_rate
        As in :func:`trialkit.forecast_accrual`, for the patients still to come.
    conf_level : float or tuple of float, default (0.5, 0.9)
        Prediction-interval coverages.
    n_sims : int, default 5,000
    seed : int, default 0
    parameter_uncertainty : bool, default True
        Draw the accrual model's parameters per path (the event and dropout models always do).

    Returns
    -------
    EventForecast

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_study("data/demo/b1931036")
    >>> fc = tk.forecast_events(study, endpoint="EFS", target_events=72, n_sims=1000)
    >>> fc.summary[["model", "events", "target_events"]].iloc[:1]
         model  events  target_events
    0  weibull      57             72
    """
    levels = levels_of(conf_level)
    n_sims = check_int("n_sims", n_sims, minimum=100)
    seed = check_seed(seed)
    gap = check_number("dropout_gap_days", dropout_gap_days, positive=False)
    cuts = _check_cuts(cuts)
    inp = accrual_input(data, endpoint=endpoint)
    notes: list[str] = []
    as_of, target, acc_target, fu = _settings(inp, target_events, as_of, accrual_target, follow_up_days, model, notes)
    c = _cohort(inp, as_of, fu, gap)
    weibull, piecewise, fit_notes = _fit_models(c, cuts)
    notes += fit_notes
    fits = {"weibull": weibull, "piecewise": piecewise}
    if fits[model] is None:
        raise ForecastError(f"the {model} model could not be fitted: {'; '.join(fit_notes)}")
    drop = None
    if dropout:
        drop = Dropout(events=int((c.status == "dropped out").sum()), exposure=float(c.time.sum()))
    rng = np.random.default_rng(seed)
    st = state_at(inp, as_of)
    notes += list(st.notes)
    m = 0 if acc_target is None else max(acc_target - len(c.time), 0)
    if acc_target is not None and acc_target < len(c.time):
        notes.append(f"the accrual target of {acc_target} is below the {len(c.time)} patients randomized by "
                     f"{as_of.date()}: all {len(c.time)} are followed and no further patient is added")
    future = _future_sites(st, new_sites, opening_rate, notes) if m else None
    arrivals = _arrivals(inp, st, future, n_sims, rng, m, parameter_uncertainty)
    d_obs = int(c.event.sum())
    k = None if target is None else target - d_obs
    rows, days_of = [], {}
    # the other model is simulated only to compare its target date with the chosen model's: without a
    # target its paths would change nothing in the result (they are drawn last, after every draw used)
    others = [x for x in MODELS if x != model and fits[x] is not None] if k is not None and k > 0 else []
    for name in [model] + others:
        days = _event_days(fits[name], c, arrivals, drop, fu, rng, n_sims)
        days_of[name] = days
        t_days = _target_days(days, k) if k is not None and k > 0 else None
        rows.append((name, t_days))
    horizon_days = _horizon(rows[0][1], horizon, as_of, levels)
    summary = [_summary_row(n, n == model, as_of, c, target, t, levels, horizon_days) for n, t in rows]
    if len(summary) == 2 and not _differs(summary, levels):
        summary = summary[:1]
    elif len(summary) == 2:
        notes.append(f"the {summary[1]['model']} model's median date lies outside the {model} model's "
                     f"{min(levels):.0%} interval: both are reported")
    other = piecewise if model == "weibull" else weibull
    if other is not None:
        aic = {f.name: 2 * f.n_params - 2 * f.loglik for f in (weibull, piecewise) if f is not None}
        if aic[other.name] < aic[model] - 4:
            notes.append(f"the {other.name} model fits the observed event times better (AIC {aic[other.name]:.1f} "
                         f"against {aic[model]:.1f} for {model}): consider model={other.name!r}")
    if acc_target is None:
        notes.append("no accrual target (the protocol has no planned enrollment; give accrual_target=): only the "
                     "patients randomized by the forecast date are followed")
    if k is not None and k > 0:
        never = float(np.isinf(rows[0][1]).mean())
        if never > 0:
            notes.append(f"in {never:.1%} of the simulated paths the target is never reached (too few patients at "
                         "risk within follow-up); a limit beyond every reached date is shown empty")
    out = pd.DataFrame(summary)
    for col in ["median", *interval_columns(levels)]:
        if out[col].dtype != np.dtype("datetime64[ns]"):  # (to_datetime leaves such a column as it is)
            out[col] = pd.to_datetime(out[col])
    return EventForecast(
        summary=out, fan=_fan(days_of[model], d_obs, horizon_days, as_of, levels), observed=_observed(c, as_of),
        models=_models_table([weibull, piecewise], drop, levels), patients=_patients(c, m), endpoint=endpoint,
        model=model, as_of=as_of, target_events=target, conf_level=levels, n_sims=n_sims, seed=seed,
        accrual_target=acc_target, notes=tuple(notes))


def _horizon(t_days, horizon, as_of, levels) -> float:
    if horizon is not None:
        return horizon_days(horizon, as_of, MAX_HORIZON_DAYS)
    if t_days is None:
        return 730.0
    hi = np.quantile(t_days, (1 + max(levels)) / 2, method="inverted_cdf")
    return float(min(max(180.0, 1.1 * hi), MAX_HORIZON_DAYS)) if np.isfinite(hi) else 5 * 365.25
