"""Cox model inference beyond the Wald interval: the three global tests and profile-likelihood limits.

The partial likelihood, its score and information come from statsmodels' ``PHReg`` (Efron or
Breslow ties, stratified), the same likelihood lifelines maximises for Efron. Nothing about the
likelihood is written here, only the tests built on it:

* **Global tests** of all coefficients = 0, as R's ``summary(coxph)`` prints them: likelihood ratio
  ``2 (l(β̂) − l(0))``, Wald ``β̂' V⁻¹ β̂`` and score ``U(0)' I(0)⁻¹ U(0)`` (for a single binary
  covariate and no ties the score test is the log-rank test), each on p degrees of freedom.
* **Profile-likelihood limits** of each coefficient: the values b where
  ``2 (l(β̂) − max over the other coefficients of l(b, ·)) = χ²₁(conf_level)`` (Venzon & Moolgavkar
  1988; SAS PHREG ``RISKLIMITS=PL``). lifelines and statsmodels give only Wald intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["CoxLikelihood", "global_tests", "profile_limits"]


@dataclass(frozen=True)
class CoxLikelihood:
    """The data of one Cox fit, enough to evaluate its partial likelihood anywhere."""

    time: np.ndarray
    event: np.ndarray
    X: np.ndarray
    strata: np.ndarray | None
    ties: str

    def model(self, columns=None, offset=None):
        from statsmodels.duration.hazard_regression import PHReg

        X = self.X if columns is None else self.X[:, columns]
        return PHReg(self.time, X, status=self.event, strata=self.strata, ties=self.ties, offset=offset)

    def loglike(self, beta) -> float:
        return float(self.model().loglike(np.asarray(beta, dtype=float)))


def global_tests(lik: CoxLikelihood, beta: np.ndarray, cov: np.ndarray) -> pd.DataFrame:
    """Likelihood-ratio, Wald and score tests of β = 0 (R ``summary(coxph)``), with df and p-value."""
    from scipy.stats import chi2

    beta = np.asarray(beta, dtype=float)
    p = len(beta)
    m = lik.model()
    zero = np.zeros(p)
    ll1, ll0 = float(m.loglike(beta)), float(m.loglike(zero))
    u0 = np.asarray(m.score(zero), dtype=float)
    info0 = -np.asarray(m.hessian(zero), dtype=float)
    score = float(u0 @ np.linalg.pinv(info0) @ u0)
    wald = float(beta @ np.linalg.pinv(cov) @ beta)
    lr = 2.0 * (ll1 - ll0)
    rows = [("likelihood ratio", lr), ("Wald", wald), ("score (log-rank)", score)]
    return pd.DataFrame({"test": [r[0] for r in rows], "statistic": [r[1] for r in rows], "df": p,
                         "p_value": [float(chi2.sf(r[1], p)) for r in rows],
                         "log_likelihood_null": ll0, "log_likelihood": ll1})


def _profile(lik: CoxLikelihood, j: int, b: float, start: np.ndarray) -> float:
    """max over the other coefficients of l(β_j = b, ·)."""
    p = lik.X.shape[1]
    if p == 1:
        return lik.loglike([b])
    others = [k for k in range(p) if k != j]
    m = lik.model(columns=others, offset=b * lik.X[:, j])
    return float(m.fit(start_params=start[others]).llf)


def profile_limits(lik: CoxLikelihood, beta: np.ndarray, se: np.ndarray, conf_level: float,
                   max_steps: int = 40) -> np.ndarray:
    """Profile-likelihood (lower, upper) of each coefficient, on the coefficient scale (p × 2).

    A limit that the likelihood never reaches (monotone likelihood: an arm without events) is ±inf.
    """
    from scipy.optimize import brentq
    from scipy.stats import chi2

    beta = np.asarray(beta, dtype=float)
    crit = float(chi2.ppf(conf_level, 1))
    ll_hat = lik.loglike(beta)
    out = np.full((len(beta), 2), np.nan)
    for j in range(len(beta)):
        def excess(b, j=j):
            return 2.0 * (ll_hat - _profile(lik, j, b, beta)) - crit

        step = se[j] if np.isfinite(se[j]) and se[j] > 0 else 1.0
        for side, sign in ((0, -1.0), (1, 1.0)):
            inner, outer = beta[j], beta[j] + sign * step
            found = False
            for _ in range(max_steps):
                if excess(outer) > 0:
                    found = True
                    break
                inner, outer = outer, beta[j] + 2.0 * (outer - beta[j])
            if found:
                a, b = sorted((inner, outer))
                out[j, side] = brentq(excess, a, b, xtol=1e-10, rtol=1e-12)
            else:
                out[j, side] = sign * np.inf
    return out
