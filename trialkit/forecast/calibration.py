"""Calibration of the accrual forecast on studies simulated from a known Poisson–Gamma process.

:func:`calibrate_accrual` simulates many studies from known parameters (sites opening on known
days, each recruiting as a Poisson process at a Gamma-distributed rate), cuts each at a forecast
date, forecasts from what was known then (the simulation behind :func:`trialkit.forecast_accrual`'s
summary, run on the study's forecast frame), and records whether the prediction intervals for the
date the target is reached contain the date it was truly reached.
The truth is simulated independently of the forecast's own sampler: each site's arrivals over a
long window are drawn as a Poisson count with uniform arrival times (the order statistics of a
homogeneous Poisson process), and the target date is read off the sorted arrivals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..results import Result
from ._common import check_int, levels_of, pct
from ._poisson_gamma import MONTH

__all__ = ["Scenario", "SCENARIOS", "simulate_accrual", "calibrate_accrual", "CalibrationResult", "EventScenario",
           "EVENT_SCENARIOS", "simulate_events", "calibrate_events"]

ORIGIN = pd.Timestamp("2020-01-01")


@dataclass(frozen=True)
class Scenario:
    """A known accrual process: ``n_sites`` sites, rates ``Gamma(alpha, alpha / rate)`` (mean ``rate``
    patients per site per month), sites opening uniformly over the first ``open_months`` months,
    the forecast made at ``as_of_month`` and the target ``remaining`` patients beyond those then
    randomized."""

    name: str
    n_sites: int
    alpha: float
    rate: float
    open_months: float
    as_of_month: float
    remaining: int


#: The parameter sets of the calibration test: few sites and many, heterogeneous and not, early
#: and late in accrual, with and without sites still to open at the forecast date.
SCENARIOS = (
    Scenario("6 sites, all open", n_sites=6, alpha=1.5, rate=1.0, open_months=0.0, as_of_month=6.0, remaining=30),
    Scenario("150 sites, 1/3 still to open", n_sites=150, alpha=0.8, rate=0.15, open_months=12.0, as_of_month=8.0,
             remaining=150),
    Scenario("40 sites, early (month 3)", n_sites=40, alpha=2.5, rate=0.4, open_months=4.0, as_of_month=3.0,
             remaining=120),
    Scenario("72 sites, slow (B1931036-like)", n_sites=72, alpha=1.2, rate=0.045, open_months=18.0,
             as_of_month=24.0, remaining=25),
)


def simulate_accrual(scenario: Scenario, rng: np.random.Generator, *, horizon_months: float = 240.0):
    """One study from ``scenario``: the forecast frame at the forecast date, the target, and the
    true date the target was reached (NaT when not within ``horizon_months``).

    Returns
    -------
    (DataFrame, int, Timestamp, Timestamp)
        The frame (``site_id, activation_date, randomization_date``), the target, the forecast date
        and the true date.
    """
    k = scenario.n_sites
    act = np.floor(rng.random(k) * scenario.open_months * MONTH).astype(int)
    act[0] = 0
    lam = rng.gamma(scenario.alpha, scenario.rate / scenario.alpha / MONTH, size=k)  # per day
    end = horizon_months * MONTH
    counts = rng.poisson(lam * (end - act))
    site = np.repeat(np.arange(k), counts)
    t = act[site] + rng.random(len(site)) * (end - act[site])
    day = np.floor(t).astype(int)
    as_of_day = int(np.floor(scenario.as_of_month * MONTH))
    seen = day <= as_of_day
    n_obs = int(seen.sum())
    target = n_obs + scenario.remaining
    ordered = np.sort(day)
    true_date = ORIGIN + pd.Timedelta(days=int(ordered[target - 1])) if len(ordered) >= target else pd.NaT
    ids = np.array([f"S{i:04d}" for i in range(k)])
    act_date = ORIGIN + pd.to_timedelta(act, unit="D")
    pts = pd.DataFrame({"site_id": ids[site[seen]], "activation_date": act_date[site[seen]],
                        "randomization_date": ORIGIN + pd.to_timedelta(day[seen], unit="D")})
    empty = np.setdiff1d(np.arange(k), site[seen])
    rows = pd.DataFrame({"site_id": ids[empty], "activation_date": act_date[empty], "randomization_date": pd.NaT})
    frame = pd.concat([pts, rows], ignore_index=True)
    return frame, target, ORIGIN + pd.Timedelta(days=as_of_day), true_date


@dataclass(frozen=True)
class CalibrationResult(Result):
    """Coverage of the target-date prediction intervals on simulated studies.

    Attributes
    ----------
    summary : DataFrame
        Per scenario and overall: ``scenario, replicates, coverage_<c>`` for each coverage ``c``,
        ``below_<c>, above_<c>`` (share of truths below / above the interval), ``median_abs_error_days``.
    replicates : DataFrame
        One row per simulated study: ``scenario, replicate, target, true_date, median`` and the limits.
    """

    summary: pd.DataFrame
    replicates: pd.DataFrame
    conf_level: tuple[float, ...]
    n_sims: int
    seed: int
    parameter_uncertainty: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "calibrate_accrual"
    part_keys: ClassVar[dict[str, tuple[str, ...]]] = {"summary": ("scenario",),
                                                       "replicates": ("scenario", "replicate")}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "replicates": self.replicates}

    def settings(self) -> dict[str, Any]:
        return {"conf_level": self.conf_level, "n_sims": self.n_sims, "seed": self.seed,
                "parameter_uncertainty": self.parameter_uncertainty}

    def html_parts(self):
        return [("", self.summary)]


def _score(rep: pd.DataFrame, levels) -> dict:
    out: dict[str, Any] = {"replicates": len(rep)}
    for lv in levels:
        p = pct(lv)
        below = rep["true_date"] < rep[f"lower_{p}"]
        above = rep["true_date"] > rep[f"upper_{p}"]
        out[f"coverage_{p}"] = float(1 - below.mean() - above.mean())
        out[f"below_{p}"] = float(below.mean())
        out[f"above_{p}"] = float(above.mean())
    out["median_abs_error_days"] = float((rep["median"] - rep["true_date"]).dt.days.abs().median())
    return out


def calibrate_accrual(scenarios=SCENARIOS, *, n_reps: int = 100, n_sims: int = 2000, conf_level=(0.5, 0.9),
                      seed: int = 0, parameter_uncertainty: bool = True) -> CalibrationResult:
    """Forecast the target date of ``n_reps`` studies simulated from each scenario, and score the intervals.

    Each forecast is the simulation behind :func:`trialkit.forecast_accrual`'s summary
    (:func:`~trialkit.forecast.accrual.simulate_target` on the study's forecast frame), so the
    coverage measured is that of the dates ``forecast_accrual`` reports.

    A study whose target was not reached within the simulated window counts as above every
    interval (the truth lies beyond it).

    Examples
    --------
    >>> from trialkit.forecast.calibration import calibrate_accrual, SCENARIOS
    >>> cal = calibrate_accrual(SCENARIOS[:1], n_reps=5, n_sims=500)
    >>> list(cal.summary["scenario"])
    ['6 sites, all open', 'all']
    """
    from ._common import day_after, quantile_row
    from ._data import accrual_input
    from .accrual import simulate_target

    levels = levels_of(conf_level)
    n_reps = check_int("n_reps", n_reps, minimum=1)
    n_sims = check_int("n_sims", n_sims, minimum=100)
    rng = np.random.default_rng(seed)
    rows = []
    for sc in scenarios:
        for r in range(n_reps):
            frame, target, as_of, true_date = simulate_accrual(sc, rng)
            # the simulation behind forecast_accrual's summary, without its presentation parts
            sim = simulate_target(accrual_input(frame), as_of=as_of, target=target, n_sims=n_sims,
                                  seed=int(rng.integers(2**31)), parameter_uncertainty=parameter_uncertainty)
            q = {k: day_after(as_of, v) for k, v in quantile_row(sim.t_days, levels).items()}
            rows.append({"scenario": sc.name, "replicate": r, "target": target,
                         "true_date": true_date if pd.notna(true_date) else pd.Timestamp.max.normalize(), **q})
    rep = pd.DataFrame(rows)
    for c in rep.columns:
        if c == "median" or c.startswith(("lower_", "upper_")):
            rep[c] = pd.to_datetime(rep[c])
    summary = [{"scenario": sc.name, **_score(rep[rep["scenario"] == sc.name], levels)} for sc in scenarios]
    summary.append({"scenario": "all", **_score(rep, levels)})
    return CalibrationResult(summary=pd.DataFrame(summary), replicates=rep, conf_level=levels, n_sims=n_sims,
                             seed=seed, parameter_uncertainty=bool(parameter_uncertainty))


@dataclass(frozen=True)
class EventScenario:
    """A known event process: ``n`` patients randomized uniformly over ``accrual_days`` at one site,
    Weibull event times (``shape``, ``scale`` days), exponential dropout (``dropout_per_year``), the
    forecast made ``as_of_day`` days after the first randomization for ``remaining`` more events."""

    name: str
    n: int = 200
    accrual_days: float = 730.0
    shape: float = 0.8
    scale: float = 700.0
    dropout_per_year: float = 0.05
    as_of_day: int = 900
    remaining: int = 30


EVENT_SCENARIOS = (
    EventScenario("Weibull shape 0.8, accrual complete"),
    EventScenario("Weibull shape 1.4, early cut", shape=1.4, scale=900.0, as_of_day=500, remaining=25),
)


def simulate_events(scenario: EventScenario, rng: np.random.Generator):
    """One study from ``scenario``: its frame at the cut (``site_id, activation_date, randomization_date,
    time_days, event``), the target, the cut and the true date of the target-th event."""
    sc = scenario
    rand = np.floor(rng.random(sc.n) * sc.accrual_days).astype(int)
    t = sc.scale * rng.weibull(sc.shape, sc.n)
    drop = rng.exponential(365.25 / sc.dropout_per_year, sc.n) if sc.dropout_per_year > 0 else np.full(sc.n, np.inf)
    event_day = np.where(t < drop, rand + np.ceil(t) - 1, np.inf)  # AVAL = ceil(t): day 1 = randomization day
    cut = sc.as_of_day
    seen = rand <= cut
    d_obs = int((event_day <= cut).sum())
    target = d_obs + sc.remaining
    ordered = np.sort(event_day)
    true_date = ORIGIN + pd.Timedelta(days=int(ordered[target - 1])) if np.isfinite(ordered[target - 1]) else pd.NaT
    end = np.minimum(np.minimum(rand + np.ceil(t) - 1, rand + np.ceil(drop) - 1), cut)
    ev = (t < drop) & (rand + np.ceil(t) - 1 <= cut)
    frame = pd.DataFrame({"site_id": "S1", "activation_date": ORIGIN,
                          "randomization_date": ORIGIN + pd.to_timedelta(rand, unit="D"),
                          "time_days": end - rand + 1, "event": ev.astype(int)})[seen]
    return frame.reset_index(drop=True), target, ORIGIN + pd.Timedelta(days=cut), true_date


def calibrate_events(scenarios=EVENT_SCENARIOS, *, n_reps: int = 100, n_sims: int = 1000, conf_level=(0.5, 0.9),
                     model: str = "weibull", seed: int = 0) -> CalibrationResult:
    """Run :func:`trialkit.forecast_events` on studies simulated from known event processes and score
    its intervals for the date of the target-th event (accrual complete at the cut, so the event and
    dropout models are what is tested)."""
    from .events import forecast_events

    levels = levels_of(conf_level)
    rng = np.random.default_rng(seed)
    rows = []
    for sc in scenarios:
        for r in range(check_int("n_reps", n_reps, minimum=1)):
            frame, target, as_of, true_date = simulate_events(sc, rng)
            fc = forecast_events(frame, target_events=target, as_of=as_of, model=model, n_sims=n_sims,
                                 conf_level=levels, seed=int(rng.integers(2**31)), horizon=1)
            s = fc.summary.iloc[0]
            rows.append({"scenario": sc.name, "replicate": r, "target": target,
                         "true_date": true_date if pd.notna(true_date) else pd.Timestamp.max.normalize(),
                         **{c: s[c] for c in fc.summary.columns if c == "median" or c.startswith(("lower_", "upper_"))}})
    rep = pd.DataFrame(rows)
    for c in rep.columns:
        if c == "median" or c.startswith(("lower_", "upper_")):
            rep[c] = pd.to_datetime(rep[c]).fillna(pd.Timestamp.max.normalize())  # never reached: beyond any date
    summary = [{"scenario": sc.name, **_score(rep[rep["scenario"] == sc.name], levels)} for sc in scenarios]
    summary.append({"scenario": "all", **_score(rep, levels)})
    return CalibrationResult(summary=pd.DataFrame(summary), replicates=rep, conf_level=levels, n_sims=n_sims,
                             seed=seed, notes=(f"event model: {model}",))
