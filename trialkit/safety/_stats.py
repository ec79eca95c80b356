"""The statistics of the safety tables: risk differences, Fisher's exact test, Aalen–Johansen.

Nothing here is written by hand that a well-kept library does: the risk-difference interval is
statsmodels' Newcombe hybrid score interval (Newcombe 1998, method 10), Fisher's exact test is
scipy's, and the cumulative incidence is lifelines' ``AalenJohansenFitter``. What is added is the
bookkeeping around them, and one guard (see :func:`aalen_johansen`): lifelines breaks ties between an
event of interest and a competing event by *random* jitter, which makes the estimate vary from run to
run and, when a jittered event crosses a censoring at the same time, differ from the standard
estimator. Ties are broken here deterministically, in a way that leaves the standard (tie-aware)
Aalen–Johansen estimate unchanged, so lifelines never jitters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import TrialkitError

__all__ = ["risk_differences", "aalen_johansen", "DIFFERENCE_METHOD", "check_conf_level"]

DIFFERENCE_METHOD = "Newcombe hybrid score (Wilson) interval, Newcombe 1998 method 10"


def check_conf_level(conf_level) -> float:
    try:
        c = float(conf_level)
    except (TypeError, ValueError):
        c = float("nan")
    if not 0 < c < 1:
        raise TrialkitError(f"conf_level must lie strictly between 0 and 1 (e.g. 0.95), not {conf_level!r}")
    return c


def risk_differences(k1, n1, k0, n0, *, conf_level: float = 0.95) -> pd.DataFrame:
    """Vectorised ``k1/n1 - k0/n0`` with Newcombe's hybrid score interval and Fisher's exact two-sided p.

    Returns a frame with columns ``rd, lower, upper, p_value`` (NaN where a group is empty).
    """
    from scipy.stats import fisher_exact
    from statsmodels.stats.proportion import confint_proportions_2indep

    k1, n1, k0, n0 = (np.asarray(x, dtype=float) for x in (k1, n1, k0, n0))
    ok = (n1 > 0) & (n0 > 0)
    rd = np.full(len(k1), np.nan)
    lo, hi, p = rd.copy(), rd.copy(), rd.copy()
    if ok.any():
        rd[ok] = k1[ok] / n1[ok] - k0[ok] / n0[ok]
        lo[ok], hi[ok] = confint_proportions_2indep(k1[ok], n1[ok], k0[ok], n0[ok], method="newcomb",
                                                    compare="diff", alpha=1 - conf_level)
        cache: dict[tuple, float] = {}
        for i in np.flatnonzero(ok):
            key = (int(k1[i]), int(n1[i]), int(k0[i]), int(n0[i]))
            if key not in cache:
                table = [[key[0], key[1] - key[0]], [key[2], key[3] - key[2]]]
                cache[key] = float(fisher_exact(table, alternative="two-sided").pvalue)
            p[i] = cache[key]
    return pd.DataFrame({"rd": rd, "lower": lo, "upper": hi, "p_value": p})


def _untie(time: np.ndarray, status: np.ndarray, event_of_interest: int) -> np.ndarray:
    """Move competing events that share a time with an event of interest slightly earlier.

    Among tied events the Aalen–Johansen estimate does not depend on their order (the product-limit
    telescopes), and events stay before any censoring at the same time, so the estimate at every
    original time point is the standard one; lifelines then finds no tie and does not jitter.
    """
    t = time.astype(float).copy()
    interest = np.unique(t[status == event_of_interest])
    compete = (status != 0) & (status != event_of_interest) & np.isin(t, interest)
    if compete.any():
        distinct = np.unique(t)
        gap = np.min(np.diff(distinct)) if len(distinct) > 1 else 1.0
        t[compete] -= gap / 4
    return t


def aalen_johansen(time, status, *, conf_level: float = 0.95) -> pd.DataFrame:
    """Cumulative incidence of the event (status 1) with a competing event (status 2).

    Parameters
    ----------
    time : array of float
        Time of the first event or of censoring (> 0).
    status : array of int
        0 = censored, 1 = the event of interest, 2 = the competing event (e.g. death without the event).

    Returns
    -------
    DataFrame
        One row per distinct time (0 first): ``time, at_risk, events, competing, censored, cif, lower,
        upper``. The interval is lifelines' (delta method on log(-log), Collett's variance) at
        ``conf_level``; it is empty (NaN) where lifelines gives none (e.g. a cumulative incidence of 1
        or a last point with no variance).
    """
    from lifelines import AalenJohansenFitter

    from ..outcomes._data import quiet_lifelines

    event_of_interest = 1
    time = np.asarray(time, dtype=float)
    status = np.asarray(status, dtype=int)
    if not len(time):
        raise TrialkitError("no subjects to estimate a cumulative incidence for")
    if not np.isin(status, (0, 1, 2)).all() or np.isnan(time).any() or (time < 0).any():
        raise TrialkitError("cumulative incidence needs times >= 0 and status 0 (censored), 1 (event) or 2 (competing)")
    t_fit = _untie(time, status, event_of_interest)
    ajf = AalenJohansenFitter(alpha=1 - conf_level, calculate_variance=True)
    with quiet_lifelines():
        ajf.fit(t_fit, status, event_of_interest=event_of_interest)
    est = ajf.cumulative_density_.iloc[:, 0]
    ci = ajf.confidence_interval_
    grid = np.unique(np.r_[0.0, time])
    # the step function at each original time: the last fitted point at or before it
    idx = np.searchsorted(est.index.to_numpy(dtype=float), grid, side="right") - 1
    cif = est.to_numpy(dtype=float)[idx]
    # lifelines 0.30 labels its bounds the wrong way round (exp(-exp(.)) reverses the order on the
    # log(-log) scale): take the smaller of the two as the lower bound, whatever the column is called
    bounds = ci.to_numpy(dtype=float)[idx]
    lower = np.where(cif == 0, 0.0, np.fmin(bounds[:, 0], bounds[:, -1]))
    upper = np.where(cif == 0, 0.0, np.fmax(bounds[:, 0], bounds[:, -1]))
    ordered = np.sort(time)
    at_risk = len(time) - np.searchsorted(ordered, grid, side="left")
    where = np.searchsorted(grid, time)

    def count(mask):
        return np.bincount(where[mask], minlength=len(grid))

    ev = count(status == event_of_interest)
    comp = count((status != 0) & (status != event_of_interest))
    cens = count(status == 0)
    return pd.DataFrame({"time": grid, "at_risk": at_risk, "events": ev, "competing": comp, "censored": cens,
                         "cif": cif, "lower": lower, "upper": upper})
