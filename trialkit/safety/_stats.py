"""The statistics of the safety tables: risk differences, Fisher's exact test, Aalen–Johansen.

The risk-difference interval is statsmodels' Newcombe hybrid score interval (Newcombe 1998, method 10)
and the cumulative incidence is lifelines' ``AalenJohansenFitter``. Fisher's exact test is computed
here, vectorised over the rows of a table, from scipy's hypergeometric distribution: scipy's
``fisher_exact`` takes one 2x2 table per call and costs about 10 ms on trial-sized margins, which
made it most of the time of an AE table of a few hundred terms; the tests check this one against it
and against published p-values. One guard is added to lifelines (see :func:`aalen_johansen`): it breaks ties between an
event of interest and a competing event by *random* jitter, which makes the estimate vary from run to
run and, when a jittered event crosses a censoring at the same time, differ from the standard
estimator. Ties are broken here deterministically, in a way that leaves the standard (tie-aware)
Aalen–Johansen estimate unchanged, so lifelines never jitters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import TrialkitError

__all__ = ["risk_differences", "fisher_two_sided", "aalen_johansen", "DIFFERENCE_METHOD", "check_conf_level",
           "check_flag"]

DIFFERENCE_METHOD = "Newcombe hybrid score (Wilson) interval, Newcombe 1998 method 10"


def check_conf_level(conf_level) -> float:
    try:
        c = float(conf_level)
    except (TypeError, ValueError):
        c = float("nan")
    if not 0 < c < 1:
        raise TrialkitError(f"conf_level must lie strictly between 0 and 1 (e.g. 0.95), not {conf_level!r}")
    return c


def check_flag(name: str, value, *, optional: bool = False):
    """A true/false argument (None too when ``optional``); anything else is an error naming the argument."""
    if (value is None and optional) or isinstance(value, bool | np.bool_):
        return value if value is None else bool(value)
    allowed = "True, False or None" if optional else "True or False"
    raise TrialkitError(f"{name} must be {allowed}, not {value!r}")


def fisher_two_sided(k1, n1, k0, n0) -> np.ndarray:
    """Fisher's exact two-sided p of the 2x2 tables ``[[k1, n1 - k1], [k0, n0 - k0]]``, vectorised.

    The p-value is the probability, given the margins, of every table no more likely than the observed one
    (probabilities within a relative 1e-7 of it count as equal, as in R's ``fisher.test``). The hypergeometric
    distribution is unimodal, so those tables are the observed tail plus the opposite tail beyond the first
    point whose probability falls to the observed one, found by bisection on all tables at once.
    """
    from scipy.stats import hypergeom

    k1, n1, k0, n0 = (np.asarray(x, dtype=np.int64) for x in (k1, n1, k0, n0))
    total, draws, white = n1 + n0, n1, k1 + k0  # population, rows drawn (group 1), events in all
    lo_sup, hi_sup = np.maximum(0, draws - (total - white)), np.minimum(draws, white)
    p = np.ones(len(k1))
    live = (total > 0) & (white > 0) & (white < total) & (draws > 0) & (draws < total)
    if not live.any():
        return p
    k, m, w, d, lo, hi = (a[live] for a in (k1, total, white, draws, lo_sup, hi_sup))
    log_obs = hypergeom.logpmf(k, m, w, d) + np.log1p(1e-7)
    mode = np.clip(((d + 1) * (w + 1)) // (m + 2), lo, hi)
    below = k < mode  # the observed table is in the lower tail: search the upper one, and vice versa
    # bisection for the far tail's first point with logpmf <= log_obs (monotone away from the mode)
    a = np.where(below, mode, lo)  # search interval [a, b]
    b = np.where(below, hi, mode)
    for _ in range(64):
        if not (b - a > 0).any():
            break
        mid = (a + b) // 2 + np.where(below, 0, 1) * ((b - a) % 2)
        small = hypergeom.logpmf(mid, m, w, d) <= log_obs
        # upper tail (below): pmf decreases with x -> the first small point is at or left of mid when small
        a = np.where(below, np.where(small, a, mid + 1), np.where(small, mid, a))
        b = np.where(below, np.where(small, mid, b), np.where(small, b, mid - 1))
    edge = a  # below: first x >= mode with small pmf; above: last x <= mode with small pmf
    edge_small = hypergeom.logpmf(edge, m, w, d) <= log_obs
    near = np.where(below, hypergeom.cdf(k, m, w, d), hypergeom.sf(k - 1, m, w, d))
    far = np.where(below, np.where(edge_small, hypergeom.sf(edge - 1, m, w, d), 0.0),
                   np.where(edge_small, hypergeom.cdf(edge, m, w, d), 0.0))
    at_mode = np.abs(hypergeom.logpmf(k, m, w, d) - hypergeom.logpmf(mode, m, w, d)) <= np.log1p(1e-7)
    p[live] = np.where(at_mode, 1.0, np.minimum(near + far, 1.0))
    return p


def risk_differences(k1, n1, k0, n0, *, conf_level: float = 0.95) -> pd.DataFrame:
    """Vectorised ``k1/n1 - k0/n0`` with Newcombe's hybrid score interval and Fisher's exact two-sided p.

    Returns a frame with columns ``rd, lower, upper, p_value`` (NaN where a group is empty).
    """
    from statsmodels.stats.proportion import confint_proportions_2indep

    k1, n1, k0, n0 = (np.asarray(x, dtype=float) for x in (k1, n1, k0, n0))
    ok = (n1 > 0) & (n0 > 0)
    rd = np.full(len(k1), np.nan)
    lo, hi, p = rd.copy(), rd.copy(), rd.copy()
    if ok.any():
        rd[ok] = k1[ok] / n1[ok] - k0[ok] / n0[ok]
        lo[ok], hi[ok] = confint_proportions_2indep(k1[ok], n1[ok], k0[ok], n0[ok], method="newcomb",
                                                    compare="diff", alpha=1 - conf_level)
        p[ok] = fisher_two_sided(k1[ok], n1[ok], k0[ok], n0[ok])
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
