"""Parametric models of time to event (from randomization) and of dropout, fitted by maximum likelihood.

``Weibull``: ``S(t) = exp(-(t / scale) ** shape)`` (lifelines' ``lambda_``, ``rho_``; R ``survreg``
reports ``log(scale)`` as its intercept and ``1 / shape`` as its scale), fitted on
``(log scale, log shape)`` with the analytic score and information. ``Piecewise``: a constant
hazard between cut points, estimated as events / exposure in each interval. For prediction each
simulated path draws its own parameters: Weibull from the normal approximation of the estimates on
the log scale, piecewise hazards and the dropout rate from ``Gamma(d + 1/2, exposure)`` (Jeffreys
prior for a Poisson rate), so the forecast carries their uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ForecastError


@dataclass(frozen=True)
class Weibull:
    """Weibull fit: ``scale`` (days) and ``shape``; ``cov`` of ``(log scale, log shape)``."""

    scale: float
    shape: float
    cov: np.ndarray
    loglik: float
    n: int
    events: int

    name = "weibull"
    n_params = 2

    def draw(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """(size, 2) parameter draws ``(scale, shape)``."""
        theta = rng.multivariate_normal([np.log(self.scale), np.log(self.shape)], self.cov, size=size)
        return np.exp(theta)

    @staticmethod
    def sample(params: np.ndarray, u: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Event times given survival to ``u`` (paths x patients) from unit exponentials ``e``."""
        scale, shape = params[:, :1], params[:, 1:2]
        # scale * ((u / scale) ** shape + e) ** (1 / shape), in one buffer (each (paths x patients)
        # temporary costs as much to allocate as to compute)
        t = np.divide(u, scale, out=np.empty(np.broadcast_shapes(u.shape, scale.shape, e.shape)))
        np.power(t, shape, out=t)
        t += e
        np.power(t, 1.0 / shape, out=t)
        t *= scale
        return t

    def table(self, z: float) -> list[tuple]:
        se = np.sqrt(np.diag(self.cov))
        return [("scale (days)", self.scale, self.scale * se[0], self.scale * np.exp(-z * se[0]),
                 self.scale * np.exp(z * se[0])),
                ("shape", self.shape, self.shape * se[1], self.shape * np.exp(-z * se[1]),
                 self.shape * np.exp(z * se[1])),
                ("median time to event (days)", self.scale * np.log(2) ** (1 / self.shape), np.nan, np.nan, np.nan)]


def _weibull_terms(theta, t, d, log_t):
    # a Newton trial step far out makes exp() overflow: the log-likelihood is then -inf (or nan) and the
    # step is rejected by the caller, so the overflow is expected, not an error to print
    with np.errstate(over="ignore", invalid="ignore"):
        scale, shape = np.exp(theta)
        z = shape * (log_t - theta[0])
        w = np.exp(z)
        n_ev = d.sum()
        ll = np.sum(d * (theta[1] + z - log_t)) - w.sum()
        grad = np.array([shape * (w.sum() - n_ev), n_ev + np.sum(d * z) - np.sum(w * z)])
        h11 = -shape ** 2 * w.sum()
        h12 = shape * (w.sum() - n_ev) + shape * np.sum(w * z)
        h22 = np.sum(d * z) - np.sum(w * z) - np.sum(w * z * z)
    return ll, grad, np.array([[h11, h12], [h12, h22]])


def fit_weibull(time: np.ndarray, event: np.ndarray) -> Weibull:
    """Maximum likelihood Weibull fit to right-censored times (days, > 0) by Newton's method."""
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    if d.sum() < 2:
        raise ForecastError(f"a Weibull model needs at least 2 events; there are {int(d.sum())}")
    log_t = np.log(t)
    # start from the exponential fit (shape 1), then Newton with step halving on the log-likelihood
    theta = np.array([np.log(t.sum() / d.sum()), 0.0])
    ll, grad, hess = _weibull_terms(theta, t, d, log_t)
    for _ in range(100):
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = -grad * 1e-3
        if not np.all(np.linalg.eigvalsh(hess) < 0):  # not concave here: go up the gradient instead
            step = -grad / max(1.0, float(np.abs(grad).max()))
        lam = 1.0
        while lam > 1e-8:
            new = theta - lam * step
            new_ll = _weibull_terms(new, t, d, log_t)[0]
            if np.isfinite(new_ll) and new_ll >= ll - 1e-12:
                break
            lam /= 2
        theta = new
        ll, grad, hess = _weibull_terms(theta, t, d, log_t)
        if np.max(np.abs(lam * step)) < 1e-10:
            break
    cov = np.linalg.inv(-hess)
    return Weibull(scale=float(np.exp(theta[0])), shape=float(np.exp(theta[1])), cov=cov, loglik=float(ll), n=len(t),
                   events=int(d.sum()))


@dataclass(frozen=True)
class Piecewise:
    """Piecewise-constant hazard: ``cuts`` (days, ascending, first interval starts at 0), per-interval
    ``events`` and ``exposure`` (days); ``hazard`` = events / exposure (per day)."""

    cuts: np.ndarray
    events: np.ndarray
    exposure: np.ndarray
    loglik: float
    n: int

    name = "piecewise"

    @property
    def hazard(self) -> np.ndarray:
        return np.divide(self.events, self.exposure, out=np.zeros(len(self.events)), where=self.exposure > 0)

    @property
    def n_params(self) -> int:
        return len(self.events)

    def draw(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """(size, J) hazard draws from Gamma(events + 1/2, exposure)."""
        return rng.standard_gamma(self.events + 0.5, size=(size, len(self.events))) / np.maximum(self.exposure, 1e-9)

    def sample(self, params: np.ndarray, u: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Event times given survival to ``u``: invert the cumulative hazard at ``H(u) + e``."""
        starts = np.concatenate([[0.0], self.cuts])
        widths = np.diff(starts)  # finite intervals
        h_at = np.concatenate([np.zeros((len(params), 1)), np.cumsum(params[:, :-1] * widths, axis=1)], axis=1)
        target = self.cumhaz(params, u, starts, h_at)
        target += e
        k = np.zeros(target.shape, dtype=np.int8 if len(starts) < 127 else np.intp)  # the piece of each target
        for j in range(1, len(starts)):
            k += target >= h_at[:, j:j + 1]
        # starts[k] + (target - H(starts[k])) / hazard[k], in place
        target -= np.take_along_axis(h_at, k, axis=1)
        target /= np.take_along_axis(params, k, axis=1)
        target += np.take(starts, k)
        return target

    @staticmethod
    def cumhaz(params: np.ndarray, u: np.ndarray, starts: np.ndarray, h_at: np.ndarray) -> np.ndarray:
        k = np.searchsorted(starts, u, side="right") - 1
        if k.shape[0] == 1:  # the same times in every path: pick columns (much faster than take_along_axis)
            h, rate = np.take(h_at, k[0], axis=1), np.take(params, k[0], axis=1)
        else:
            h, rate = np.take_along_axis(h_at, k, axis=1), np.take_along_axis(params, k, axis=1)
        rate *= u - starts[k]
        rate += h
        return rate

    def table(self, z: float) -> list[tuple]:
        rows = []
        edges = np.concatenate([[0.0], self.cuts, [np.inf]])
        for j, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
            h = self.hazard[j]
            se = h / np.sqrt(self.events[j]) if self.events[j] > 0 else np.nan
            label = f"hazard per 1000 days, day {a:g}–{b:g}" if np.isfinite(b) else f"hazard per 1000 days, day {a:g}+"
            lo = h * np.exp(-z / np.sqrt(self.events[j])) if self.events[j] > 0 else np.nan
            hi = h * np.exp(z / np.sqrt(self.events[j])) if self.events[j] > 0 else np.nan
            rows.append((label, 1000 * h, 1000 * se, 1000 * lo, 1000 * hi))
        return rows


def default_cuts(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Cut points at quantiles of the event times: one piece per 10 events, at most 4 pieces."""
    ev = np.sort(np.asarray(time, dtype=float)[np.asarray(event) > 0])
    k = int(np.clip(len(ev) // 10, 1, 4))
    if k == 1:
        return np.array([], dtype=float)
    cuts = np.unique(np.round(np.quantile(ev, np.arange(1, k) / k)))
    return cuts[cuts > 0]


def fit_piecewise(time: np.ndarray, event: np.ndarray, cuts=None) -> Piecewise:
    """Events and exposure per interval of ``cuts`` (days); the hazards are their ratios."""
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    cuts = default_cuts(t, d) if cuts is None else np.asarray(sorted(float(c) for c in cuts), dtype=float)
    if len(cuts) and (cuts[0] <= 0 or np.any(np.diff(cuts) <= 0)):
        raise ForecastError(f"cuts must be increasing positive days, not {list(cuts)}")
    edges = np.concatenate([[0.0], cuts, [np.inf]])
    exposure = np.array([np.clip(t - a, 0, b - a).sum() for a, b in zip(edges[:-1], edges[1:])])
    interval = np.searchsorted(cuts, t, side="left")  # an event exactly at a cut belongs to the interval it ends
    events = np.bincount(interval[d > 0], minlength=len(edges) - 1).astype(float)
    h = np.divide(events, exposure, out=np.zeros(len(events)), where=exposure > 0)
    with np.errstate(divide="ignore"):
        ll = float(np.sum(np.where(events > 0, events * np.log(np.where(h > 0, h, 1.0)), 0.0)) - np.sum(h * exposure))
    return Piecewise(cuts=cuts, events=events, exposure=exposure, loglik=ll, n=len(t))


@dataclass(frozen=True)
class Dropout:
    """Exponential dropout: ``events`` dropouts over ``exposure`` days of follow-up (None: no dropout)."""

    events: int
    exposure: float

    @property
    def rate(self) -> float:
        return self.events / self.exposure if self.exposure > 0 else 0.0

    def draw(self, size: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_gamma(self.events + 0.5, size=size) / max(self.exposure, 1e-9)
