"""Vectorized simulation of future accrual under the Poisson–Gamma model (all paths at once).

Each simulated path draws the model's parameters (:func:`~._poisson_gamma.draw_parameters`), every
open site's rate from its posterior ``Gamma(alpha + n_i, beta + tau_i)`` and every site still to
open from the prior ``Gamma(alpha, beta)``. Given the rates, accrual after the forecast date is a
Poisson process whose cumulative intensity is piecewise linear,

    Lambda(t) = L0 * t + sum_j lambda_j * max(t - s_j, 0),

``L0`` the summed rate of the open sites and ``s_j`` the day site *j* opens. The time of the *R*-th
further patient is then ``Lambda^{-1}(G)`` with ``G ~ Gamma(R, 1)`` (a Poisson process is a unit-rate
process in the time scale ``Lambda``), and the number randomized by day ``t`` is
``Poisson(Lambda(t))``. No path is stepped patient by patient: every quantity is an array
operation over paths × sites, in chunks of paths so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._poisson_gamma import PGFit, PosteriorGrid, draw_parameters

#: paths per chunk when drawing the open sites' rates (bounds memory at ~CHUNK x sites floats)
CHUNK = 2048


@dataclass(frozen=True)
class RatePaths:
    """Per simulated path: the summed rate of the open sites (overall and per group) and each
    future site's rate (columns ordered by opening day ``fut_offset``). Rates are per day."""

    open_rate: np.ndarray  # (S,)
    open_group: np.ndarray  # (S, G)
    fut_rate: np.ndarray  # (S, Kf)
    fut_offset: np.ndarray  # (Kf,) days after the forecast date, ascending
    fut_group: np.ndarray  # (Kf,) group index of each future site
    m: np.ndarray  # (S,) the path's mean site rate
    alpha: np.ndarray  # (S,)


def draw_rates(*, n: np.ndarray, tau: np.ndarray, group: np.ndarray, n_groups: int, fut_offset: np.ndarray,
               fut_group: np.ndarray, n_sims: int, rng: np.random.Generator, grid: PosteriorGrid | None = None,
               fit: PGFit | None = None) -> RatePaths:
    """Draw the rates of every path: parameters from ``grid`` (or fixed at ``fit`` when no grid).

    ``n``, ``tau`` and ``group`` describe the open sites that will keep recruiting; ``fut_offset``
    and ``fut_group`` the sites still to open.
    """
    if grid is not None:
        m, alpha = draw_parameters(grid, n_sims, rng)
    else:
        m, alpha = np.full(n_sims, fit.m), np.full(n_sims, fit.alpha)
    beta = alpha / m
    open_rate = np.zeros(n_sims)
    open_group = np.zeros((n_sims, n_groups))
    if len(n):
        onehot = np.zeros((len(n), n_groups))
        onehot[np.arange(len(n)), group] = 1.0
        for lo in range(0, n_sims, CHUNK):
            hi = min(lo + CHUNK, n_sims)
            lam = rng.standard_gamma(alpha[lo:hi, None] + n[None, :]) / (beta[lo:hi, None] + tau[None, :])
            open_group[lo:hi] = lam @ onehot
            open_rate[lo:hi] = open_group[lo:hi].sum(axis=1)
    order = np.argsort(fut_offset, kind="stable")
    fut_offset = np.asarray(fut_offset, dtype=float)[order]
    fut_group = np.asarray(fut_group, dtype=int)[order]
    fut_rate = rng.standard_gamma(np.broadcast_to(alpha[:, None], (n_sims, len(fut_offset)))) / beta[:, None]
    return RatePaths(open_rate=open_rate, open_group=open_group, fut_rate=fut_rate, fut_offset=fut_offset,
                     fut_group=fut_group, m=m, alpha=alpha)


def time_to_intensity(g: np.ndarray, open_rate: np.ndarray, fut_rate: np.ndarray, fut_offset: np.ndarray):
    """Solve ``Lambda(t) = g`` per path: ``g`` is (S,) or (S, M) (non-decreasing along M).

    Returns the times in days after the forecast date, with the shape of ``g``; ``inf`` where the
    intensity never reaches ``g`` (no site open and none to open).
    """
    g = np.asarray(g, dtype=float)
    squeeze = g.ndim == 1
    g2 = g[:, None] if squeeze else g
    if fut_rate.shape[1] == 0:
        with np.errstate(divide="ignore"):
            t = g2 / open_rate[:, None]
        return t[:, 0] if squeeze else t
    s = fut_offset[None, :]
    cum_l = open_rate[:, None] + np.cumsum(fut_rate, axis=1)  # slope after each opening
    cum_m = np.cumsum(fut_rate * s, axis=1)  # intercept after each opening
    slope = np.concatenate([open_rate[:, None], cum_l], axis=1)  # (S, Kf+1): segment k
    icpt = np.concatenate([np.zeros((len(open_rate), 1)), cum_m], axis=1)
    # Lambda at each opening day: slope of the previous segment * s_k - its intercept
    at_open = slope[:, :-1] * s - icpt[:, :-1]
    # per path, how many openings lie at or below g: one searchsorted over rows laid end to end
    span = float(max(at_open.max(initial=0.0), g2.max(initial=0.0))) + 1.0
    rows = np.arange(len(open_rate), dtype=float)[:, None] * span
    flat = (at_open + rows).ravel()
    k = np.searchsorted(flat, (g2 + rows).ravel(), side="right").reshape(g2.shape)
    k = k - (np.arange(len(open_rate)) * at_open.shape[1])[:, None]
    sl = np.take_along_axis(slope, k, axis=1)
    ic = np.take_along_axis(icpt, k, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(sl > 0, (g2 + ic) / sl, np.inf)
    return t[:, 0] if squeeze else t


def intensity_at(t: np.ndarray, open_rate: np.ndarray, fut_rate: np.ndarray, fut_offset: np.ndarray) -> np.ndarray:
    """``Lambda(t)`` per path (rows) and time (columns), ``t`` in days after the forecast date."""
    t = np.asarray(t, dtype=float)
    ramp = np.maximum(t[None, :] - fut_offset[:, None], 0.0)  # (Kf, T)
    return open_rate[:, None] * t[None, :] + fut_rate @ ramp


def group_intensity_at(t: np.ndarray, paths: RatePaths, g: int) -> np.ndarray:
    """``Lambda(t)`` of the sites of group ``g`` only."""
    at = paths.fut_group == g
    return intensity_at(t, paths.open_group[:, g], paths.fut_rate[:, at], paths.fut_offset[at])
