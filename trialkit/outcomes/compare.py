"""Weighted log-rank tests for two or more arms, optionally stratified.

lifelines has the unstratified K-sample log-rank (and Fleming–Harrington weights) but no
stratified test, which is the primary analysis of a stratified randomized trial. The test is
written here once, for every case, as the sum over strata of the per-stratum score vectors and
their hypergeometric covariance matrices (Kalbfleisch & Prentice 2002, §7.2; Klein &
Moeschberger 2003, §7.5); the unstratified case reproduces lifelines' ``multivariate_logrank_test``
(tested), the stratified case R ``survdiff(... + strata())`` / statsmodels ``survdiff``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import TrialkitError
from ..results import Result
from ._data import stratum_codes, survival_data

__all__ = ["logrank", "LogrankResult", "weighted_logrank", "WEIGHTS"]

#: weights -> (name in results, weight at each distinct event time t_i of a stratum)
WEIGHTS = {
    "logrank": ("log-rank", "1"),
    "gehan-breslow": ("Gehan-Breslow (generalized Wilcoxon)", "Y_i, the number at risk (SAS test=wilcoxon)"),
    "tarone-ware": ("Tarone-Ware", "sqrt(Y_i)"),
    "peto-peto": ("Peto-Peto", "S~(t_i) = prod_{t_j <= t_i} (1 - d_j / (Y_j + 1)) (SAS test=peto)"),
    "modified-peto-peto": ("modified Peto-Peto (Andersen)", "S~(t_i) Y_i / (Y_i + 1) (SAS test=modpeto)"),
    "fleming-harrington": ("Fleming-Harrington", "S(t_i-)^p (1 - S(t_i-))^q, S the pooled Kaplan-Meier"),
}


def _time_weights(scheme: str, D: np.ndarray, N: np.ndarray, p: float, q: float) -> np.ndarray:
    """Weights at every distinct time of one stratum (D events and N at risk at each)."""
    if scheme == "gehan-breslow":
        return N.astype(float)
    if scheme == "tarone-ware":
        return np.sqrt(N)
    if scheme in ("peto-peto", "modified-peto-peto"):
        s_tilde = np.cumprod(1.0 - D / (N + 1.0))  # includes t_i itself (Klein & Moeschberger 2003, §7.3)
        return s_tilde if scheme == "peto-peto" else s_tilde * N / (N + 1.0)
    if scheme == "fleming-harrington" and (p or q):
        s_after = np.cumprod(1.0 - D / N)
        s_before = np.concatenate([[1.0], s_after[:-1]])
        return s_before ** p * (1.0 - s_before) ** q
    return np.ones(len(D))


def weighted_logrank(time, event, group, *, strata=None, p: float = 0.0, q: float = 0.0,
                     weights: str = "fleming-harrington"):
    """The (stratified) weighted log-rank statistic; Fleming–Harrington with p = q = 0 is the log-rank.

    Parameters
    ----------
    time, event : array-like
        Follow-up time and event indicator (1 = event, 0 = censored).
    group : array-like of int
        Group codes 0..K-1.
    strata : array-like, optional
        Stratum labels; scores and variances are computed within strata and summed.
    p, q : float
        Weight ``S(t-)^p (1 - S(t-))^q`` with ``S`` the pooled Kaplan–Meier estimate within the
        stratum just before ``t`` (Harrington & Fleming 1982; R ``survdiff(rho=p)`` when q = 0).
    weights : str, default "fleming-harrington"
        One of :data:`WEIGHTS`; weights are computed within each stratum from the pooled risk set.

    Returns
    -------
    dict with ``statistic, df, observed, expected, score, covariance``.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    group = np.asarray(group, dtype=np.int64)
    K = int(group.max()) + 1 if len(group) else 0
    strata_codes = np.zeros(len(time), np.int64) if strata is None else pd.factorize(np.asarray(strata))[0]
    if K == 0:
        return {"statistic": np.nan, "df": 0, "observed": np.zeros(0), "expected": np.zeros(0), "score": np.zeros(0),
                "covariance": np.zeros((0, 0))}
    U = np.zeros(K)
    V = np.zeros((K, K))
    obs = np.zeros(K)
    Ex = np.zeros(K)
    for s in np.unique(strata_codes):
        m = strata_codes == s
        t, e, g = time[m], event[m], group[m]
        ut, inv = np.unique(t, return_inverse=True)
        J = len(ut)
        idx = inv * K + g
        leaving = np.bincount(idx, minlength=J * K).reshape(J, K).astype(float)
        d = np.bincount(idx, weights=e, minlength=J * K).reshape(J, K)
        at_risk = leaving[::-1].cumsum(0)[::-1]
        D, N = d.sum(1), at_risk.sum(1)
        w = _time_weights(weights, D, N, p, q)
        keep = D > 0
        d, at_risk, D, N, w = d[keep], at_risk[keep], D[keep], N[keep], w[keep]
        expected = at_risk * (D / N)[:, None]
        obs += d.sum(0)
        Ex += expected.sum(0)
        U += (w[:, None] * (d - expected)).sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            hyper = np.where(N > 1, D * (N - D) / (N - 1), 0.0)
        factor = w ** 2 * hyper
        P = at_risk / N[:, None]
        V += np.diag((factor[:, None] * P).sum(0)) - (factor[:, None] * P).T @ P
    present = np.flatnonzero(np.bincount(group, minlength=K) > 0)
    use = present[:-1]
    if len(use):
        stat = float(U[use] @ np.linalg.pinv(V[np.ix_(use, use)]) @ U[use])
    else:
        stat = np.nan
    return {"statistic": stat, "df": max(len(present) - 1, 0), "observed": obs, "expected": Ex, "score": U,
            "covariance": V}


@dataclass(frozen=True)
class LogrankResult(Result):
    """A (stratified, weighted) log-rank test.

    Attributes
    ----------
    summary : DataFrame
        One row: ``endpoint, test, weights, strata, statistic, df, p_value``.
    groups : DataFrame
        One row per group: ``group, n, observed, expected, o_minus_e, score, variance`` (observed
        and expected counts are unweighted; score and variance carry the weights).
    """

    summary: pd.DataFrame
    groups: pd.DataFrame
    endpoint: str | None
    weights: str
    strata: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    weight_function: str = "1"

    analysis: ClassVar[str] = "logrank"

    @property
    def statistic(self) -> float:
        return float(self.summary["statistic"].iloc[0])

    @property
    def p_value(self) -> float:
        return float(self.summary["p_value"].iloc[0])

    @property
    def df(self) -> int:
        return int(self.summary["df"].iloc[0])

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "groups": self.groups}

    def settings(self) -> dict:
        return {"endpoint": self.endpoint, "weights": self.weights, "weight_function": self.weight_function,
                "strata": self.strata}

    def title(self) -> str:
        t = self.summary.iloc[0]
        return f"{t['test']} ({self.endpoint or ''}): chi-square = {t['statistic']:.3f} on {t['df']} df, p = {t['p_value']:.4g}"


def logrank(data, *, endpoint: str | None = None, by: str = "arm", strata=None, weights: str = "logrank",
            p: float = 0.0, q: float = 0.0, population: str | None = None, subgroup: dict | None = None,
            time_unit: str = "days") -> LogrankResult:
    """Log-rank test of equal survival across the groups, stratified and weighted on request.

    Parameters
    ----------
    data : Study or DataFrame
        See :func:`trialkit.km`.
    endpoint : str, optional
    by : str, default "arm"
        Two or more groups (the test has K - 1 degrees of freedom).
    strata : str or sequence of str, optional
        Stratification factors (e.g. the protocol's randomization strata); each combination of
        levels is one stratum.
    weights : str, default "logrank"
        The weight of each event time t_i (Y_i at risk, d_i events, pooled within the stratum):
        ``"logrank"`` 1; ``"gehan-breslow"`` Y_i, the generalized Wilcoxon test (SAS
        ``test=wilcoxon``, Stata ``wilcoxon``); ``"tarone-ware"`` sqrt(Y_i); ``"peto-peto"``
        S~(t_i) = prod over t_j <= t_i of (1 - d_j/(Y_j + 1)) (SAS ``test=peto``);
        ``"modified-peto-peto"`` S~(t_i) Y_i/(Y_i + 1) (Andersen et al.; SAS ``test=modpeto``);
        ``"fleming-harrington"`` S(t_i-)^p (1 - S(t_i-))^q with S the pooled Kaplan–Meier
        (``p=1, q=0`` is R's ``survdiff(rho = 1)``, which R's help calls "Peto & Peto's
        modification of the Gehan-Wilcoxon test" but which weights by the Kaplan–Meier S(t-), not
        by S~(t_i): the two differ slightly, ``"peto-peto"`` is SAS's; ``p=0, q=1`` stresses late
        differences). The result names the weight (``weights``, ``weight_function``).
    p, q : float, default 0
        The Fleming–Harrington exponents (ignored for ``"logrank"``).
    population, subgroup, time_unit
        As for :func:`trialkit.km` (the time unit does not change the test).

    Returns
    -------
    LogrankResult

    Examples
    --------
    >>> res = tk.logrank(study, endpoint="EFS", strata=["age_group", "relapse_timing"])
    >>> res.summary[["test", "statistic", "df", "p_value"]]
                      test  statistic  df   p_value
    0  stratified log-rank   2.148851   1  0.142677
    """
    from scipy.stats import chi2

    if weights not in WEIGHTS:
        raise TrialkitError(f"weights must be one of {', '.join(WEIGHTS)} (SAS test=wilcoxon is 'gehan-breslow'), "
                            f"not {weights!r}")
    if weights != "fleming-harrington" and (p or q):
        raise TrialkitError("p and q apply to Fleming-Harrington weights; pass weights='fleming-harrington'")
    if p < 0 or q < 0:
        raise TrialkitError(f"Fleming-Harrington exponents must be >= 0 (got p={p}, q={q})")
    if by is None:
        raise TrialkitError("a log-rank test compares groups: pass by= a column with two or more groups")
    sd = survival_data(data, endpoint=endpoint, by=by, strata=strata, population=population,
                       time_unit=time_unit, subgroup=subgroup)
    f = sd.frame
    codes = f["group"].cat.codes.to_numpy()
    n_present = len(np.unique(codes))
    if n_present < 2:
        raise TrialkitError(f"the log-rank test needs at least two groups in `{by}`; found "
                            f"{n_present} ({', '.join(sd.groups)}) after selection")
    stratum = None
    if sd.strata:
        stratum = stratum_codes(f, sd.strata)[0]
    res = weighted_logrank(f["time"].to_numpy(), f["event"].to_numpy(), codes, strata=stratum, p=p, q=q,
                           weights=weights)
    wname = WEIGHTS[weights][0] + (f" G({p:g},{q:g})" if weights == "fleming-harrington" else "")
    name = ("stratified " if sd.strata else "") + wname
    summary = pd.DataFrame([{"endpoint": sd.endpoint, "test": name, "weights": wname,
                          "strata": ", ".join(sd.strata), "statistic": res["statistic"], "df": res["df"],
                          "p_value": float(chi2.sf(res["statistic"], res["df"]))}])
    n = np.bincount(codes, minlength=len(sd.groups))
    groups = pd.DataFrame({"group": pd.Categorical(list(sd.groups), categories=list(sd.groups), ordered=True),
                           "n": n, "observed": res["observed"], "expected": res["expected"],
                           "o_minus_e": res["observed"] - res["expected"], "score": res["score"],
                           "variance": np.diag(res["covariance"])})
    notes = list(sd.notes)
    if stratum is not None:
        notes.append(f"{len(np.unique(stratum))} strata from {', '.join(sd.strata)}")
    wfun = WEIGHTS[weights][1].replace("^p", f"^{p:g}").replace("^q", f"^{q:g}")
    return LogrankResult(summary=summary, groups=groups, endpoint=sd.endpoint, weights=wname, strata=sd.strata,
                         notes=tuple(notes), weight_function=wfun)
