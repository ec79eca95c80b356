"""Accrual forecast: when will the trial reach its target, and how many will be randomized by when?

:func:`forecast_accrual` fits the Poisson–Gamma model of Anisimov & Fedorov (2007) to the sites open
on the forecast date, carries the uncertainty of its two parameters into the prediction (a draw per
simulated path from their posterior) and simulates the future: the sites open now at their own
(empirical Bayes) rates, sites still to open from their opening day at a rate drawn from the model.
The model, its assumptions and its references are in ``docs/forecasting.md``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..errors import ForecastError
from ..results import Result
from . import _poisson_gamma as pg
from ._common import (
    check_date,
    check_int,
    check_number,
    check_seed,
    dates_after,
    day_after,
    horizon_days,
    interval_columns,
    interval_text,
    levels_of,
    pct,
    quantile_row,
    vertical,
)
from ._data import AccrualState, _whole_days, accrual_input, check_as_of, default_as_of, state_at
from ._simulate import RatePaths, draw_rates, group_intensity_at, intensity_at, time_to_intensity

__all__ = ["forecast_accrual", "AccrualForecast"]

MONTH = pg.MONTH
#: number of dates on the fan chart's grid
FAN_POINTS = 80
#: the fan never reaches further than this many days (a forecast decades ahead is not one)
MAX_HORIZON_DAYS = 20 * 365.25


@dataclass(frozen=True)
class AccrualForecast(Result):
    """A forecast of accrual (see :func:`trialkit.forecast_accrual`).

    Attributes
    ----------
    summary : DataFrame
        One row: ``as_of, randomized, target, remaining, median`` (date the target is reached) and
        ``lower_<c>, upper_<c>`` for each prediction-interval coverage ``c`` (dates),
        ``p_by_planned_completion``, ``rate_per_month`` (current total rate of the open sites,
        posterior mean), ``sites_open, sites_to_open, sites_unscheduled``.
    counts : DataFrame
        Predicted number randomized on given dates: ``by`` (``"overall"``, ``"arm"`` or the ``by``
        column), ``group``, ``date``, ``observed`` (by the forecast date), ``mean, median`` and the
        interval columns.
    fan : DataFrame
        The overall prediction on a grid of dates for the fan chart (``date, mean, median, …``).
    observed : DataFrame
        The observed cumulative count (``date, cumulative``), one row per randomization day.
    sites : DataFrame
        Per site: ``site_id, group, status, role, opened, months_open, randomized, expected,
        rate_per_month, rate_lower, rate_upper, flag`` (see :func:`trialkit.forecast_accrual`).
    parameters : DataFrame
        The model's parameters: maximum likelihood estimate with standard error and Wald interval,
        and the posterior median and interval the simulation draws from.
    screening : DataFrame
        Screened-to-randomized conversion and the screenings still needed (empty for a frame).
    """

    summary: pd.DataFrame
    counts: pd.DataFrame
    fan: pd.DataFrame
    observed: pd.DataFrame
    sites: pd.DataFrame
    parameters: pd.DataFrame
    screening: pd.DataFrame
    as_of: pd.Timestamp
    target: int | None
    conf_level: tuple[float, ...]
    n_sims: int
    seed: int | None
    by: str | None = None
    planned_completion: pd.Timestamp | None = None
    parameter_uncertainty: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "forecast_accrual"
    part_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "summary": (), "counts": ("by", "date"), "fan": ("date",), "observed": ("date",), "sites": ("site_id",),
        "parameters": ("parameter",), "screening": ("quantity",)}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "counts": self.counts, "fan": self.fan, "observed": self.observed,
                "sites": self.sites, "parameters": self.parameters, "screening": self.screening}

    def settings(self) -> dict[str, Any]:
        return {"as_of": self.as_of, "target": self.target, "conf_level": self.conf_level, "n_sims": self.n_sims,
                "seed": self.seed, "by": self.by, "planned_completion": self.planned_completion,
                "parameter_uncertainty": self.parameter_uncertainty, "rate_unit": "patients per site per month "
                "(365.25/12 days)", "model": "Poisson-Gamma (Anisimov & Fedorov 2007)"}

    def title(self) -> str:
        tgt = f" to {self.target}" if self.target else ""
        return f"Accrual forecast{tgt} as of {self.as_of.date()} ({self.n_sims:,} simulated paths)"

    def html_parts(self):
        flags = pd.DataFrame({"flag": self.sites["flag"], "site_id": self.sites["flag"]})
        main = self.counts[self.counts["by"].isin(["overall", "arm"])]
        out = [("", vertical(self.summary), {"digits": 2}),
               ("predicted number randomized, overall and per arm", main, {"digits": 1})]
        if self.by:
            groups = self.counts[~self.counts["by"].isin(["overall", "arm"])]
            lv = max(self.conf_level)
            table = groups.assign(cell=interval_text(groups, lv)).pivot(index="group", columns="date", values="cell")
            table.columns = [d.date().isoformat() for d in table.columns]
            out.append((f"predicted number randomized per {self.by}: median ({pct(lv)}% interval)",
                        table.reset_index().rename(columns={"group": self.by}), {}))
        return out + [("model parameters", self.parameters, {"digits": 4}),
                      ("screening", self.screening, {"digits": 3}),
                      ("sites (flag: rate credibly below the set share of the average site's)", self.sites,
                       {"digits": 3, "flags": flags})]

    def figure(self, **kwargs):
        """The fan chart (:func:`trialkit.plot_accrual_forecast`)."""
        from ..plots.forecast import plot_accrual_forecast

        return plot_accrual_forecast(self, **kwargs)


# ------------------------------------------------------------------------------------------------
# sites still to open
# ------------------------------------------------------------------------------------------------
def _future_sites(st: AccrualState, new_sites, opening_rate, notes: list) -> pd.DataFrame:
    """``site_id, group, offset_days`` of every site that opens after the forecast date."""
    s = st.sites
    role = s["role"].to_numpy()
    fut = np.flatnonzero(role == "future")
    rows = pd.DataFrame({"site_id": s["site_id"].to_numpy()[fut],
                         "group": np.array([str(g) for g in s["group"].to_numpy()[fut]], dtype=object),
                         "offset_days": _whole_days(s["opened"].to_numpy()[fut] - np.datetime64(st.as_of, "ns"))},
                        index=s.index[fut])
    queue = s.loc[role == "unscheduled", ["site_id", "group"]].astype(str)
    if isinstance(new_sites, pd.DataFrame):
        rows = pd.concat([rows, _listed_new_sites(new_sites, st)], ignore_index=True)
    elif new_sites is not None:
        k = check_int("new_sites", new_sites)
        queue = pd.concat([queue, pd.DataFrame({"site_id": [f"new-{i + 1}" for i in range(k)],
                                                "group": "(new site)"})], ignore_index=True)
    if len(queue):
        if opening_rate is None:
            if new_sites is not None and not isinstance(new_sites, pd.DataFrame):
                raise ForecastError(f"new_sites={new_sites} needs opening_rate= (sites opening per month) to know "
                                    "when they open; or pass a frame of site_id, activation_date")
            notes.append(f"{len(queue)} site(s) listed without an activation date are left out of the forecast "
                         "(give opening_rate= to open them one after another)")
        else:
            try:
                rate = check_number("opening_rate", opening_rate)
            except ForecastError:
                raise ForecastError(f"opening_rate must be a positive number of sites per month, not "
                                    f"{opening_rate!r}") from None
            offsets = (np.arange(len(queue)) + 1) * MONTH / rate
            rows = pd.concat([rows, queue.assign(offset_days=offsets)], ignore_index=True)
            notes.append(f"{len(queue)} site(s) without an activation date open one after another at {rate:g} per "
                         "month from the forecast date")
    return rows


def _listed_new_sites(frame: pd.DataFrame, st: AccrualState) -> pd.DataFrame:
    if not {"site_id", "activation_date"} <= set(frame.columns):
        raise ForecastError("new_sites as a frame needs the columns site_id and activation_date")
    act = pd.to_datetime(frame["activation_date"], errors="coerce")
    if act.isna().any() or (act <= st.as_of).any():
        bad = frame.loc[act.isna() | (act <= st.as_of), "site_id"].astype(str).tolist()
        raise ForecastError(f"new_sites: the activation_date of {', '.join(bad)} is missing or not after the "
                            f"forecast date {st.as_of.date()}")
    group = frame["group"].astype(str) if "group" in frame.columns else "(new site)"
    return pd.DataFrame({"site_id": frame["site_id"].astype(str), "group": group,
                         "offset_days": (act - st.as_of).dt.days.to_numpy(dtype=float)})


# ------------------------------------------------------------------------------------------------
# fit
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Model:
    fit: pg.PGFit
    grid: pg.PosteriorGrid


def _fit(st: AccrualState) -> _Model:
    est = np.isin(st.sites["role"].to_numpy(), ("open", "closed"))
    if not est.any():
        raise ForecastError(f"no site was open on {st.as_of.date()}: a forecast needs at least one open site with its "
                            "activation_date (or a later as_of)")
    n = st.sites["n"].to_numpy(dtype=float)[est]
    if n.sum() < 1:
        raise ForecastError(f"no patient had been randomized by {st.as_of.date()}: the recruitment rate cannot be "
                            "estimated yet (give a later as_of)")
    tau = st.sites["exposure_days"].to_numpy(dtype=float)[est]
    return _Model(fit=pg.fit_mle(n, tau), grid=pg.posterior_grid(n, tau))


def _draw(st: AccrualState, model: _Model, future: pd.DataFrame, *, n_sims: int, rng, uncertainty: bool) -> RatePaths:
    rec = st.sites["role"].to_numpy() == "open"
    gidx = {g: i for i, g in enumerate(st.groups)}
    fut_group = np.array([gidx.get(g, len(st.groups)) for g in future["group"].to_numpy()], dtype=int)
    return draw_rates(n=st.sites["n"].to_numpy(dtype=float)[rec], tau=st.sites["exposure_days"].to_numpy(dtype=float)[rec],
                      group=st.sites["group_index"].to_numpy(dtype=int)[rec], n_groups=len(st.groups) + 1,
                      fut_offset=future["offset_days"].to_numpy(dtype=float), fut_group=fut_group, n_sims=n_sims,
                      rng=rng, grid=model.grid if uncertainty else None, fit=model.fit)


# ------------------------------------------------------------------------------------------------
# parts of the result
# ------------------------------------------------------------------------------------------------
def _target_days(paths: RatePaths, remaining: int, rng) -> np.ndarray:
    g = rng.standard_gamma(float(remaining), size=len(paths.open_rate))
    return time_to_intensity(g, paths.open_rate, paths.fut_rate, paths.fut_offset)


def _summary(st: AccrualState, target, t_days, paths: RatePaths, future, levels, planned) -> pd.DataFrame:
    n = len(st.patients)
    row: dict[str, Any] = {"as_of": st.as_of, "randomized": n, "target": target,
                           "remaining": None if target is None else max(target - n, 0)}
    q = {"median": None, **dict.fromkeys(interval_columns(levels))}
    if t_days is not None:
        q = {k: day_after(st.as_of, v) for k, v in quantile_row(t_days, levels).items()}
    elif target is not None:  # already reached: the date it was reached
        reached = st.patients["randomization_date"].sort_values().iloc[target - 1] if target > 0 else st.as_of
        q = dict.fromkeys(q, pd.Timestamp(reached))
    row.update(q)
    p_planned = None
    if planned is not None and target is not None:
        p_planned = float(np.mean(t_days <= (planned - st.as_of).days)) if t_days is not None else 1.0
    role = st.sites["role"].to_numpy()
    to_open = set(future["site_id"])
    row.update(p_by_planned_completion=p_planned, rate_per_month=float(np.mean(paths.open_rate)) * MONTH,
               sites_open=int((role == "open").sum()), sites_to_open=len(future),
               sites_unscheduled=sum(sid not in to_open for sid in st.sites["site_id"].to_numpy()[role == "unscheduled"]))
    out = pd.DataFrame([row])
    for c in ["median", *interval_columns(levels)]:
        if out[c].dtype != np.dtype("datetime64[ns]"):  # (a column of dates is one already)
            out[c] = pd.to_datetime(out[c])
    return out


def _count_rows(by: str, group: str, observed: int, lam: np.ndarray, levels, rng) -> dict[str, Any]:
    """Predicted counts ``observed + Poisson(lam)`` (paths x dates): the columns of their rows, one per date."""
    draws = observed + rng.poisson(lam)
    q = quantile_row(draws, levels)
    return {"by": by, "group": group, "observed": observed, "mean": observed + lam.mean(axis=0), **q}


def _rows_frame(parts: list[dict[str, Any]], dates) -> pd.DataFrame:
    """The rows of :func:`_count_rows` parts, one frame (``by, group, date, observed, mean, median, …``)."""
    k = len(dates)
    cols: dict[str, Any] = {}
    for c in parts[0]:
        if c in ("by", "group", "observed"):
            values = [np.full(k, p[c], dtype=object if c != "observed" else np.int64) for p in parts]
        else:
            values = [np.asarray(p[c]) for p in parts]
        cols[c] = np.concatenate(values)
        if c == "group":
            cols["date"] = np.tile(np.asarray(dates), len(parts))
    return pd.DataFrame(cols)


def _counts(st: AccrualState, paths: RatePaths, days: np.ndarray, dates, ratio, by, levels, rng) -> pd.DataFrame:
    lam = intensity_at(days, paths.open_rate, paths.fut_rate, paths.fut_offset)
    parts = [_count_rows("overall", "all", len(st.patients), lam, levels, rng)]
    if ratio:
        total = sum(ratio.values())
        arm_n = st.patients["arm"].astype("string").value_counts()
        for arm, share in ratio.items():
            parts.append(_count_rows("arm", arm, int(arm_n.get(arm, 0)), lam * share / total, levels, rng))
    if by:
        group_of = dict(zip(st.sites["site_id"].to_numpy(), st.sites["group"].to_numpy()))
        obs = Counter(str(group_of.get(sid, np.nan)) for sid in st.patients["site_id"].to_numpy())
        for gi, g in enumerate(st.groups):
            parts.append(_count_rows(by, g, int(obs.get(g, 0)), group_intensity_at(days, paths, gi), levels, rng))
        if (paths.fut_group == len(st.groups)).any():
            parts.append(_count_rows(by, "(new site)", 0, group_intensity_at(days, paths, len(st.groups)), levels,
                                     rng))
    return _rows_frame(parts, dates)


def _fan(st: AccrualState, paths: RatePaths, horizon_days: float, levels, rng) -> pd.DataFrame:
    days = np.unique(np.concatenate([np.linspace(0.0, horizon_days, FAN_POINTS), [horizon_days]]))
    lam = intensity_at(days, paths.open_rate, paths.fut_rate, paths.fut_offset)
    row = _count_rows("overall", "all", len(st.patients), lam, levels, rng)
    return pd.DataFrame({"date": dates_after(st.as_of, days), **{c: v for c, v in row.items()
                                                                  if c not in ("by", "group", "observed")}})


def _observed(st: AccrualState) -> pd.DataFrame:
    days, n = np.unique(st.patients["randomization_date"].to_numpy(dtype="datetime64[ns]"), return_counts=True)
    return pd.DataFrame({"date": pd.DatetimeIndex(days), "cumulative": np.cumsum(n).astype(int)})


def _site_table(st: AccrualState, fit: pg.PGFit, levels, flag_below: float) -> pd.DataFrame:
    from scipy.special import gammaincinv

    s = st.sites
    tau = s["exposure_days"].to_numpy(dtype=float)
    n = s["n"].to_numpy(dtype=float)
    a, b = fit.alpha + n, fit.beta + tau
    lv = max(levels)
    role = s["role"].to_numpy()
    estimated = np.isin(role, ("open", "closed")).astype(bool)
    # the quantiles of Gamma(a, rate b): scipy.stats.gamma.ppf(q, a, scale=1 / b) is gammaincinv(a, q) * (1 / b);
    # called directly, without scipy.stats' argument checks (a, b > 0 here), which cost more than the computation
    scale = 1 / b
    lo = np.where(estimated, gammaincinv(a, (1 - lv) / 2) * scale * MONTH, np.nan)
    hi = np.where(estimated, gammaincinv(a, (1 + lv) / 2) * scale * MONTH, np.nan)
    # the sites in order of site_id (stable, as sort_values); each column taken in that order from its array
    order = np.argsort(s["site_id"].to_numpy(), kind="stable")
    cols = {"site_id": s["site_id"].array, "group": s["group"].array, "status": s["status"].array, "role": role,
            "opened": s["opened"].array, "months_open": np.where(estimated, tau / MONTH, np.nan),
            "randomized": s["n"].to_numpy().astype(int), "expected": np.where(estimated, fit.m * tau, np.nan),
            "rate_per_month": np.where(estimated, a / b * MONTH, np.nan), "rate_lower": lo, "rate_upper": hi,
            "flag": estimated & (hi < flag_below * fit.m * MONTH)}
    if all(g == "all" for g in s["group"].to_numpy(dtype=object)):
        del cols["group"]
    return pd.DataFrame({c: v.take(order) for c, v in cols.items()})


def _parameters(model: _Model, paths: RatePaths, levels) -> pd.DataFrame:
    from statistics import NormalDist

    f = model.fit
    lv = max(levels)
    z = NormalDist().inv_cdf(0.5 + lv / 2)
    post = model.grid.quantiles([0.5, (1 - lv) / 2, (1 + lv) / 2])
    rows = [
        ("mean site rate (per month)", f.m * MONTH, f.m * MONTH * f.se_log_m, f.m * MONTH * np.exp(-z * f.se_log_m),
         f.m * MONTH * np.exp(z * f.se_log_m), *(post["m"] * MONTH)),
        ("gamma shape alpha", f.alpha, f.alpha * f.se_log_alpha, f.alpha * np.exp(-z * f.se_log_alpha),
         f.alpha * np.exp(z * f.se_log_alpha), *post["alpha"]),
        ("between-site CV of rates", 1 / np.sqrt(f.alpha), np.nan, 1 / np.sqrt(f.alpha * np.exp(z * f.se_log_alpha)),
         1 / np.sqrt(f.alpha * np.exp(-z * f.se_log_alpha)), *(1 / np.sqrt(post["alpha"][[0, 2, 1]]))),
        ("gamma rate beta (months)", f.beta / MONTH, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan),
    ]
    q = np.quantile(paths.open_rate * MONTH, [0.5, (1 - lv) / 2, (1 + lv) / 2])
    rows.append(("current rate of the open sites (per month)", float(np.mean(paths.open_rate)) * MONTH, np.nan,
                 np.nan, np.nan, *q))
    nan6 = (np.nan,) * 6
    rows += [("sites in the estimate", float(f.n_sites), *nan6), ("patients in the estimate", float(f.n_patients), *nan6),
             ("site-months of exposure", f.exposure_days / MONTH, *nan6), ("log-likelihood", f.loglik, *nan6)]
    return pd.DataFrame(rows, columns=["parameter", "estimate", "se", "lower", "upper", "posterior_median",
                                      "posterior_lower", "posterior_upper"])


def _screening(st: AccrualState, inp, remaining, levels, rng, n_sims) -> tuple[pd.DataFrame, list[str]]:
    """Screened-to-randomized conversion (Clopper–Pearson) and screenings needed (negative binomial)."""
    cols = ["quantity", "estimate", *interval_columns(levels)]
    if inp.screening is None or not len(inp.screening):
        return _no_rows(cols), []
    # imported here, after the early return: a forecast of a frame (no screening table) never imports statsmodels
    from statsmodels.stats.proportion import proportion_confint

    scr_date = inp.screening["screening_date"].to_numpy()
    seen = scr_date <= np.datetime64(st.as_of)
    scr_id, scr_date = inp.screening["subject_id"].to_numpy()[seen], scr_date[seen]
    delay = _delays(st.patients, scr_id, scr_date)
    lag = int(np.ceil(np.quantile(delay, 0.95))) if len(delay) else 0
    window = scr_date <= np.datetime64(st.as_of - pd.Timedelta(days=lag))
    randomized = set(st.patients["subject_id"].to_numpy())
    n, x = int(window.sum()), sum(sid in randomized for sid in scr_id[window])
    notes = [f"conversion counts patients screened at least {lag} days before the forecast date (95% of the "
             "screening-to-randomization delays are shorter), so recent screenings still pending do not lower it"]
    if n == 0:
        return _no_rows(cols), notes
    rows = [{"quantity": "screened (conversion window)", "estimate": float(n)},
            {"quantity": "randomized of them", "estimate": float(x)},
            {"quantity": "screening-to-randomization window (days)", "estimate": float(lag)}]
    conv = {"quantity": "conversion (randomized / screened)", "estimate": x / n}
    for lv in levels:
        lo, hi = proportion_confint(x, n, alpha=1 - lv, method="beta")
        conv.update({f"lower_{lv * 100:g}": lo, f"upper_{lv * 100:g}": hi})
    rows.append(conv)
    if remaining and x > 0:
        p = rng.beta(x + 0.5, n - x + 0.5, size=n_sims)
        need = remaining + rng.negative_binomial(remaining, p)
        q = quantile_row(need, levels)
        rows.append({"quantity": f"screenings needed for {remaining} more randomized", "estimate": float(np.mean(need)),
                     **{k: float(v) for k, v in q.items() if k != "median"}})
    # every number as float (a value a row lacks is NaN)
    out = {"quantity": np.array([r["quantity"] for r in rows], dtype=object)}
    out.update({c: np.array([r.get(c, np.nan) for r in rows], dtype=float) for c in cols[1:]})
    return pd.DataFrame(out), notes


def _no_rows(columns: list[str]) -> pd.DataFrame:
    """``pd.DataFrame(columns=columns)`` (object columns, no row), built from one empty block: a sixth of the time."""
    return pd.DataFrame(np.empty((0, len(columns)), dtype=object), columns=columns)


def _delays(patients: pd.DataFrame, scr_id: np.ndarray, scr_date: np.ndarray) -> np.ndarray:
    """Whole days from screening to randomization of each randomized patient screened (an inner join on
    ``subject_id``; with a subject screened or randomized twice, every pairing, as pandas' merge)."""
    rnd_id, rnd_date = patients["subject_id"].to_numpy(), patients["randomization_date"].to_numpy()
    where = {sid: i for i, sid in enumerate(scr_id)}
    if len(where) != len(scr_id) or len(set(rnd_id)) != len(rnd_id):
        rnd = patients.merge(pd.DataFrame({"subject_id": scr_id, "screening_date": scr_date}), on=["subject_id"],
                             how="inner", suffixes=("", "_scr"))
        return (rnd["randomization_date"] - rnd["screening_date"]).dt.days.dropna().to_numpy()
    pos = np.fromiter((where.get(sid, -1) for sid in rnd_id), dtype=np.intp, count=len(rnd_id))
    delta = rnd_date[pos >= 0] - scr_date[pos[pos >= 0]]
    days = np.floor_divide(delta.astype("timedelta64[ns]").view(np.int64), 86_400_000_000_000)
    return days if not np.isnat(delta).any() else days[~np.isnat(delta)].astype(float)


def _horizon_days(t_days, horizon, as_of, planned, dates, levels) -> float:
    if horizon is not None:
        return horizon_days(horizon, as_of, MAX_HORIZON_DAYS)
    h = 365.0
    if t_days is not None:
        hi = np.quantile(t_days, (1 + max(levels)) / 2, method="inverted_cdf")
        h = max(90.0, 1.1 * hi) if np.isfinite(hi) else MAX_HORIZON_DAYS
    extra = [(d - as_of).days for d in [planned, *(dates or [])] if d is not None]
    return float(min(max([h, *extra]), MAX_HORIZON_DAYS))


def _parse_dates(dates, as_of: pd.Timestamp) -> list[pd.Timestamp] | None:
    """The dates for the predicted counts; one on or before the forecast date is refused (it would be
    left out of ``counts``: nothing is predicted for a date already past)."""
    if dates is None:
        return None
    try:
        given = [dates] if isinstance(dates, str | pd.Timestamp) else list(dates)
    except TypeError:  # a single date of another type (datetime.date, np.datetime64)
        given = [dates]
    out = [check_date("dates", d) for d in given]
    past = [d for d in out if d <= as_of]
    if past:
        raise ForecastError(f"dates must lie after the forecast date {as_of.date()}: "
                            f"{', '.join(str(d.date()) for d in past)} do(es) not (the counts by then are observed)")
    return out


def _check_ratio(ratio, patients: pd.DataFrame) -> dict[str, float] | None:
    """The allocation ratio: arm -> a positive weight; every arm already randomized must be in it."""
    if ratio is None:
        return None
    if not isinstance(ratio, dict) or not ratio:
        raise ForecastError(f"ratio must be a dict of arm -> positive weight, e.g. {{'ALLR3': 1, 'InO': 2}}, "
                            f"not {ratio!r}")
    out = {}
    for arm, w in ratio.items():
        try:
            out[str(arm)] = check_number(f"ratio[{arm!r}]", w)
        except ForecastError:
            raise ForecastError(f"ratio[{arm!r}] must be a positive number, not {w!r}") from None
    seen = sorted(set(patients["arm"].dropna().astype(str)) - set(out))
    if seen:
        raise ForecastError(f"ratio has no weight for arm(s) {', '.join(seen)} randomized in the data; its arms are "
                            f"{', '.join(out)}")
    return out


def _count_dates(as_of, dates, planned, horizon_days) -> pd.DatetimeIndex:
    if dates is not None:
        out = list(dates)
    else:
        out = [as_of + pd.DateOffset(months=k) for k in (3, 6, 9, 12)]
        out = [d for d in out if (d - as_of).days <= max(horizon_days, 365)]
    if planned is not None:
        out.append(planned)
    out = sorted({pd.Timestamp(d).normalize() for d in out if pd.Timestamp(d) > as_of})
    return pd.DatetimeIndex(out)


# ------------------------------------------------------------------------------------------------
# the public function
# ------------------------------------------------------------------------------------------------
def _resolve(inp, target, as_of, planned_completion, notes):
    if as_of is None:
        as_of, note = default_as_of(inp)
        if note:
            notes.append(note)
    else:
        as_of = check_date("as_of", as_of)
        check_as_of(inp, as_of)
    target = inp.target if target is None else check_int("target", target, minimum=1)
    planned = None if planned_completion is None else check_date("planned_completion", planned_completion)
    return as_of, target, planned


def forecast_accrual(data, *, target: int | None = None, as_of=None, horizon=None, dates=None, by: str | None = None,
                     new_sites=None, opening_rate: float | None = None, planned_completion=None,
                     ratio: dict[str, int] | None = None, conf_level=(0.5, 0.9), n_sims: int = 10_000, seed: int = 0,
                     parameter_uncertainty: bool = True, flag_below: float = 0.5) -> AccrualForecast:
    """Forecast accrual with the Poisson–Gamma model: the date the target is reached, counts by date.

    Each open site recruits as a Poisson process at its own rate; rates vary between sites as a
    Gamma distribution whose two parameters are estimated from every site open on ``as_of`` by
    maximum likelihood (negative binomial). Each open site's rate is updated from its own record
    (empirical Bayes: ``Gamma(alpha + n_i, beta + tau_i)``), sites still to open start on their
    opening day with a rate drawn from the Gamma distribution, and the uncertainty of the two
    estimated parameters is carried into the prediction by drawing them, per simulated path, from
    their posterior (flat priors on their logarithms); plugging in the estimates would give intervals
    that are too narrow early in a trial. Details, assumptions and references: ``docs/forecasting.md``.

    Parameters
    ----------
    data : Study or DataFrame
        A Study (sites with ``activation_date`` and ``status``, randomization, screening, protocol),
        or a frame with ``site_id, activation_date, randomization_date`` — one row per randomized
        patient plus one row (empty ``randomization_date``) per activated site without patients;
        optional ``arm``, ``status`` and the ``by`` column. An empty ``activation_date`` marks a
        site not yet open.
    target : int, optional
        Number randomized to reach; default the protocol's ``planned_enrollment`` (none for a frame:
        then only counts by date are forecast).
    as_of : date-like, optional
        Forecast date: only what was known then is used. Default the study's data cut (else the
        last randomization).
    horizon : date-like or number of days, optional
        End of the fan chart; default a little beyond the upper limit of the target date.
    dates : sequence of date-like, optional
        Dates for the predicted counts, each after ``as_of`` (default 3, 6, 9 and 12 months
        ahead, plus ``planned_completion``).
    by : str, optional
        A site column (e.g. ``"country"``) to forecast counts per level too.
    new_sites : int or DataFrame, optional
        Sites beyond the data: a number (opening one after another at ``opening_rate``), or a frame
        of ``site_id, activation_date`` (optional ``group``). Sites of the sites table whose
        ``activation_date`` lies after ``as_of`` always open on that date.
    opening_rate : float, optional
        Sites opening per month, for ``new_sites`` given as a number and for listed sites without
        an activation date (without it those are left out, said in the notes).
    planned_completion : date-like, optional
        The planned end of accrual: drawn on the fan chart, and the probability of reaching the
        target by then is reported.
    ratio : dict, optional
        Allocation ratio for the per-arm counts (default the protocol's, e.g. ``{"ALLR3": 1, "InO": 2}``):
        a positive weight for every arm, including each arm already randomized in the data.
    conf_level : float or tuple of float, default (0.5, 0.9)
        Coverages of the prediction intervals (several, for the fan chart's nested bands); named
        ``conf_level`` like every coverage in trialkit although these are prediction intervals.
    n_sims : int, default 10,000
        Simulated paths.
    seed : int, default 0
        Random seed: the same seed gives the same forecast.
    parameter_uncertainty : bool, default True
        Draw the model's parameters per path from their posterior; False plugs in the maximum
        likelihood estimates (for comparison only: its intervals are too narrow).
    flag_below : float, default 0.5
        Flag a site whose rate's upper limit (widest ``conf_level``) lies below this share of the
        average site's rate.

    Returns
    -------
    AccrualForecast
        ``summary`` (target date: median and intervals), ``counts``, ``fan``, ``sites``,
        ``parameters``, ``screening``; ``.figure()`` draws the fan chart.

    Notes
    -----
    Counts by date assume accrual continues past the target, so the date where a band of the fan
    crosses the target line is the matching limit of the target date. Per-arm counts split each new
    patient by the protocol's ratio independently (complete randomization); blocked randomization
    keeps the arms closer to the ratio, so those bands are slightly wide.

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_study("data/demo/b1931036")
    >>> fc = tk.forecast_accrual(study, n_sims=2000)
    >>> fc.summary[["randomized", "target", "remaining"]]
       randomized  target  remaining
    0          96     100          4
    >>> fig = fc.figure()
    """
    levels = levels_of(conf_level)
    n_sims = check_int("n_sims", n_sims, minimum=100)
    seed = check_seed(seed)
    flag_below = check_number("flag_below", flag_below)
    inp = accrual_input(data, by=by)
    notes: list[str] = []
    as_of, target, planned = _resolve(inp, target, as_of, planned_completion, notes)
    core = simulate_target(inp, as_of=as_of, target=target, new_sites=new_sites, opening_rate=opening_rate,
                           n_sims=n_sims, seed=seed, parameter_uncertainty=parameter_uncertainty)
    st, paths, t_days, rng = core.state, core.paths, core.t_days, core.rng
    notes = list(core.notes) + notes
    n = len(st.patients)
    ratio = _check_ratio(ratio if ratio is not None else inp.ratio, st.patients)
    if ratio is None and st.patients["arm"].notna().any():
        notes.append("no allocation ratio (give ratio=): no per-arm counts")
    dates = _parse_dates(dates, as_of)
    horizon_days = _horizon_days(t_days, horizon, as_of, planned, dates, levels)
    when = _count_dates(as_of, dates, planned, horizon_days)
    days = np.array([(d - as_of).days for d in when], dtype=float)
    screening, scr_notes = _screening(st, inp, None if target is None else max(target - n, 0), levels, rng, n_sims)
    return AccrualForecast(
        summary=_summary(st, target, t_days, paths, core.future, levels, planned),
        counts=_counts(st, paths, days, when, ratio, by, levels, rng),
        fan=_fan(st, paths, horizon_days, levels, rng), observed=_observed(st),
        sites=_site_table(st, core.model.fit, levels, flag_below), parameters=_parameters(core.model, paths, levels),
        screening=screening, as_of=as_of, target=target, conf_level=levels, n_sims=n_sims, seed=seed, by=by,
        planned_completion=planned, parameter_uncertainty=bool(parameter_uncertainty),
        notes=tuple(notes + scr_notes))


@dataclass(frozen=True)
class TargetSimulation:
    """The simulation behind :func:`forecast_accrual`: the state on the forecast date, the sites still to
    open, the fitted model, the rate paths and (with a target not yet reached) the day it is reached."""

    state: AccrualState
    future: pd.DataFrame
    model: _Model
    paths: RatePaths
    t_days: np.ndarray | None
    rng: np.random.Generator
    notes: tuple[str, ...]


def simulate_target(inp, *, as_of: pd.Timestamp, target: int | None, new_sites=None, opening_rate=None,
                    n_sims: int = 10_000, seed: int = 0, parameter_uncertainty: bool = True) -> TargetSimulation:
    """Fit the model on what was known on ``as_of`` and simulate the day ``target`` is reached.

    :func:`forecast_accrual` builds its result on this; :func:`~trialkit.forecast.calibration.calibrate_accrual`
    calls it directly (the same code, without the presentation parts).
    """
    st = state_at(inp, as_of)
    notes = list(st.notes)
    future = _future_sites(st, new_sites, opening_rate, notes)
    model = _fit(st)
    rng = np.random.default_rng(seed)
    paths = _draw(st, model, future, n_sims=n_sims, rng=rng, uncertainty=parameter_uncertainty)
    n = len(st.patients)
    t_days = _target_days(paths, target - n, rng) if target is not None and target > n else None
    if target is not None and target <= n:
        notes.append(f"the target of {target} was reached on or before {as_of.date()}")
    if model.fit.alpha_at_bound:
        notes.append("the sites' rates do not differ detectably (the Gamma shape is at its upper bound): the model "
                     "is close to one Poisson rate for all sites")
    return TargetSimulation(state=st, future=future, model=model, paths=paths, t_days=t_days, rng=rng,
                            notes=tuple(notes))
