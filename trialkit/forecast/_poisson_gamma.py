"""The Poisson–Gamma accrual model: likelihood, maximum likelihood fit and posterior draws of its parameters.

Site *i*, open for ``tau_i`` days, randomizes ``n_i`` patients. Its rate ``lambda_i`` is drawn from a
Gamma distribution with shape ``alpha`` and rate ``beta`` (mean ``m = alpha / beta`` patients per site
per day), and given the rate its count is Poisson(``lambda_i * tau_i``) (Anisimov & Fedorov 2007).
Integrated over the rate, ``n_i`` is negative binomial with mean ``mu_i = m * tau_i`` and variance
``mu_i + mu_i**2 / alpha``: statsmodels' NB2 with ``alpha_NB2 = 1 / alpha`` and exposure ``tau_i``.

The model is parameterized here by ``(log m, log alpha)``; both are estimated from every site open
by the forecast date, patients or not, by maximum likelihood (:func:`fit_mle`). For prediction the
parameters are not plugged in: :func:`posterior_grid` evaluates the likelihood on a grid over
``(log m, log alpha)`` (flat prior on both logs, ``alpha`` within :data:`ALPHA_BOUNDS`) and
:func:`draw_parameters` draws one parameter pair per simulated path from it, so the prediction
carries the uncertainty of the estimates (Mountain & Sherlock 2022 show that plug-in intervals are
too narrow). A grid rather than a normal approximation because ``alpha`` is often barely identified
early in a trial: its likelihood is flat towards infinity when sites do not differ detectably.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: days per month (Julian: 365.25 / 12), the unit rates are reported in
MONTH = 365.25 / 12
#: range of the Gamma shape ``alpha``: 0.05 (sites differ enormously) to 500 (practically Poisson)
ALPHA_BOUNDS = (0.05, 500.0)
#: grid resolution over (log alpha, log m)
GRID_ALPHA = 36
GRID_M = 36
#: half-width of the log-m grid in conditional standard deviations
GRID_SD = 6.0


def nb_loglik(log_m, log_a, n: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Negative binomial log-likelihood summed over sites, for arrays of ``(log m, log alpha)``.

    ``log_m`` and ``log_a`` broadcast against each other (any shape); ``n`` and ``tau`` are per site.
    """
    from scipy.special import gammaln

    log_m = np.asarray(log_m, dtype=float)[..., None]
    a = np.exp(np.asarray(log_a, dtype=float))[..., None]
    mu = np.exp(log_m) * tau
    log_apmu = np.log(a + mu)
    ll = (gammaln(a + n) - gammaln(a) - gammaln(n + 1.0) + a * (np.log(a) - log_apmu)
          + n * (log_m + np.log(tau) - log_apmu))
    return ll.sum(axis=-1)


def nb_score_hessian(log_m: float, log_a: float, n: np.ndarray, tau: np.ndarray):
    """Gradient and Hessian of :func:`nb_loglik` in ``(log m, log alpha)`` (analytic)."""
    from scipy.special import polygamma, psi

    a = np.exp(log_a)
    mu = np.exp(log_m) * tau
    apmu = a + mu
    g_m = np.sum((n - mu) * a / apmu)
    h = psi(a + n) - psi(a) + np.log(a / apmu) + (mu - n) / apmu
    g_a = a * np.sum(h)
    h_prime = polygamma(1, a + n) - polygamma(1, a) + 1.0 / a - 1.0 / apmu - (mu - n) / apmu ** 2
    hess_mm = -np.sum(mu * a * (a + n) / apmu ** 2)
    hess_ma = a * np.sum((n - mu) * mu / apmu ** 2)
    hess_aa = g_a + a * a * np.sum(h_prime)
    return np.array([g_m, g_a]), np.array([[hess_mm, hess_ma], [hess_ma, hess_aa]])


@dataclass(frozen=True)
class PGFit:
    """Maximum likelihood estimates of the Poisson–Gamma model (rates per day).

    ``cov`` is the inverse observed information of ``(log m, log alpha)``; ``alpha_at_bound`` is True
    when the estimate of ``alpha`` sits on the upper bound (no detectable difference between sites),
    and then only ``se_log_m`` (conditional on ``alpha``) is meaningful.
    """

    m: float
    alpha: float
    loglik: float
    cov: np.ndarray
    alpha_at_bound: bool
    n_sites: int
    n_patients: int
    exposure_days: float

    @property
    def beta(self) -> float:
        return self.alpha / self.m

    @property
    def se_log_m(self) -> float:
        return float(np.sqrt(self.cov[0, 0]))

    @property
    def se_log_alpha(self) -> float:
        return float(np.sqrt(self.cov[1, 1])) if not self.alpha_at_bound else float("nan")


def _conditional_log_m(log_a: np.ndarray, n: np.ndarray, tau: np.ndarray, iters: int = 30, *, sd: bool = True):
    """For each ``alpha``, the MLE of ``log m`` and its conditional standard deviation (Newton steps; the
    standard deviation is None with ``sd=False``, when only the estimate is wanted)."""
    # called some 30 times per fit on a handful of sites, so numpy's per-call overhead is most of its time: the
    # loop-invariant a + n is computed once, reductions are array methods and np.clip is written as
    # maximum/minimum (the same operations in the same order as before, so the same numbers)
    a = np.exp(log_a)[:, None]
    a_n = a + n
    lm = np.full(len(log_a), np.log(n.sum() / tau.sum()))
    for _ in range(iters):
        mu = np.exp(lm)[:, None] * tau
        apmu = a + mu
        g = ((n - mu) * a / apmu).sum(axis=1)
        h = -(mu * a * a_n / apmu ** 2).sum(axis=1)
        step = np.minimum(np.maximum(g / h, -2.0), 2.0)
        lm = lm - step
        if np.abs(step).max() < 1e-10:
            break
    if not sd:
        return lm, None
    mu = np.exp(lm)[:, None] * tau
    info = (mu * a * a_n / (a + mu) ** 2).sum(axis=1)
    return lm, 1.0 / np.sqrt(info)


def fit_mle(n: np.ndarray, tau: np.ndarray) -> PGFit:
    """Maximum likelihood estimates of ``m`` (per day) and ``alpha`` from counts and exposures.

    The profile likelihood of ``log alpha`` is maximized over its bounds (Brent's method on the
    profile after a coarse scan, so the global maximum is found), then the joint optimum is
    polished with Newton steps.
    """
    from scipy.optimize import minimize_scalar

    n = np.asarray(n, dtype=float)
    tau = np.asarray(tau, dtype=float)
    lo, hi = np.log(ALPHA_BOUNDS[0]), np.log(ALPHA_BOUNDS[1])

    def profile(la):
        lm, _ = _conditional_log_m(np.array([la]), n, tau, sd=False)
        return -float(nb_loglik(lm[0], la, n, tau))

    scan = np.linspace(lo, hi, 41)
    values = -nb_loglik(_conditional_log_m(scan, n, tau, sd=False)[0], scan, n, tau)
    k = int(np.argmin(values))
    a0, a1 = scan[max(k - 1, 0)], scan[min(k + 1, len(scan) - 1)]
    if a0 == a1:
        la = scan[k]
    else:
        res = minimize_scalar(profile, bounds=(a0, a1), method="bounded", options={"xatol": 1e-9})
        la = float(res.x)
    at_bound = la >= hi - 1e-3
    la = min(la, hi)
    lm = float(_conditional_log_m(np.array([la]), n, tau, sd=False)[0][0])
    grad, hess = nb_score_hessian(lm, la, n, tau)
    if at_bound:
        cov = np.array([[-1.0 / hess[0, 0], 0.0], [0.0, np.inf]])
    else:
        for _ in range(20):  # Newton polish of the joint optimum
            step = np.linalg.solve(hess, grad)
            lm, la = lm - step[0], float(np.clip(la - step[1], lo, hi))
            grad, hess = nb_score_hessian(lm, la, n, tau)
            if np.max(np.abs(step)) < 1e-12:
                break
        cov = np.linalg.inv(-hess)
    return PGFit(m=float(np.exp(lm)), alpha=float(np.exp(la)), loglik=float(nb_loglik(lm, la, n, tau)),
                 cov=cov, alpha_at_bound=bool(at_bound), n_sites=len(n), n_patients=int(n.sum()),
                 exposure_days=float(tau.sum()))


@dataclass(frozen=True)
class PosteriorGrid:
    """The posterior of ``(log m, log alpha)`` on a grid: cell centres, widths and probabilities."""

    log_a: np.ndarray  # (GRID_ALPHA,)
    log_m: np.ndarray  # (GRID_ALPHA, GRID_M): each alpha row has its own log-m grid
    width_a: float
    width_m: np.ndarray  # (GRID_ALPHA,)
    prob: np.ndarray  # (GRID_ALPHA, GRID_M), sums to 1

    def quantiles(self, q) -> dict[str, np.ndarray]:
        """Posterior quantiles of ``m`` (per day) and ``alpha`` (from the grid's marginals)."""
        q = np.asarray(q, dtype=float)
        pa = self.prob.sum(axis=1)
        a_q = np.interp(q, np.cumsum(pa) - pa / 2, self.log_a)
        lm = self.log_m.ravel()
        order = np.argsort(lm)
        pm = self.prob.ravel()[order]
        m_q = np.interp(q, np.cumsum(pm) - pm / 2, lm[order])
        return {"m": np.exp(m_q), "alpha": np.exp(a_q)}


def posterior_grid(n: np.ndarray, tau: np.ndarray) -> PosteriorGrid:
    """Evaluate the posterior of ``(log m, log alpha)`` (flat priors on both logs) on a grid."""
    n = np.asarray(n, dtype=float)
    tau = np.asarray(tau, dtype=float)
    lo, hi = np.log(ALPHA_BOUNDS[0]), np.log(ALPHA_BOUNDS[1])
    width_a = (hi - lo) / GRID_ALPHA
    log_a = lo + width_a * (np.arange(GRID_ALPHA) + 0.5)
    centre, sd = _conditional_log_m(log_a, n, tau)
    width_m = 2 * GRID_SD * sd / GRID_M
    offsets = (np.arange(GRID_M) + 0.5) / GRID_M * 2 * GRID_SD - GRID_SD
    log_m = centre[:, None] + offsets[None, :] * sd[:, None]
    ll = nb_loglik(log_m, log_a[:, None], n, tau) + np.log(width_m)[:, None]
    w = np.exp(ll - ll.max())
    return PosteriorGrid(log_a=log_a, log_m=log_m, width_a=width_a, width_m=width_m, prob=w / w.sum())


def draw_parameters(grid: PosteriorGrid, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``size`` pairs ``(m, alpha)`` from the grid posterior (a cell, then uniformly within it)."""
    cell = rng.choice(grid.prob.size, size=size, p=grid.prob.ravel())
    i, j = np.divmod(cell, grid.prob.shape[1])
    u = rng.random((2, size)) - 0.5
    log_a = grid.log_a[i] + u[0] * grid.width_a
    log_m = grid.log_m[i, j] + u[1] * grid.width_m[i]
    return np.exp(log_m), np.exp(log_a)
