"""Proportional-hazards check of a Cox model: R's ``cox.zph`` (survival >= 3.0).

For each term, the model is extended by the time-varying term ``x · g(t)`` (g a transform of time,
centred at the mean over events) and the score test of its coefficient θ = 0 is computed at the
fitted β̂ and θ = 0, using the full 2p × 2p information matrix (Therneau, survival package source
``cox.zph.R`` and ``zph1.c``; Grambsch & Therneau 1994, Biometrika 81:515). The global test extends
every term at once. A term with several columns (an arm with three levels, a categorical covariate)
is tested jointly on as many degrees of freedom, as R does with ``terms = TRUE``.

lifelines' ``proportional_hazard_test`` implements the approximation R used before survival 3.0
(the average-variance shortcut), which gives different numbers; hence the test is written here, as
the survival package defines it, and checked against its published output.

The scaled Schoenfeld residuals (plus β̂) and a natural-spline smooth with a ±2 SE band are returned
for the plot (:func:`trialkit.plots.survival_checks.plot_ph_check`), as R's ``plot.cox.zph``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import TrialkitError
from ..results import Result
from ._risksets import stratum_sums as _stratum_sums

__all__ = ["cox_zph", "CoxZphResult", "TRANSFORMS", "zph_score"]

#: time transforms g(t) of R's cox.zph
TRANSFORMS = {
    "km": "1 - S(t-), S the Kaplan-Meier estimate of all subjects (R default)",
    "rank": "rank of the time",
    "identity": "time itself",
    "log": "log(time)",
}


def _transform(time: np.ndarray, event: np.ndarray, transform: str) -> np.ndarray:
    if transform == "identity":
        return time.astype(float)
    if transform == "log":
        return np.log(time)
    if transform == "rank":
        from scipy.stats import rankdata

        return rankdata(time)
    # km: 1 - S(t-), the left-continuous Kaplan-Meier of everyone (strata ignored), as R
    ut = np.unique(time[event == 1])
    n_risk = len(time) - np.searchsorted(np.sort(time), ut, side="left")
    d = np.array([np.sum((time == u) & (event == 1)) for u in ut], dtype=float)
    surv = np.cumprod(1.0 - d / n_risk)
    idx = np.searchsorted(ut, time, side="left")  # number of event times strictly before t
    return 1.0 - np.concatenate([[1.0], surv])[idx]


def zph_score(time, event, X, beta, *, strata=None, ties="efron", transform="km", groups=None):
    """R's cox.zph score tests for a fitted Cox model.

    Parameters
    ----------
    time, event : array-like
    X : array-like (n × p)
        The model's design matrix.
    beta : array-like (p)
        The fitted coefficients.
    strata : array-like, optional
    ties : {"efron", "breslow"}
    transform : {"km", "rank", "identity", "log"}
    groups : list of (term name, list of column indices), optional
        Columns tested jointly (default one term per column).

    Returns
    -------
    dict with ``table`` (term, chisq, df, p_value; last row GLOBAL), ``u`` and ``imat`` (the 2p
    score and information), ``time``, ``x`` (transformed), ``resid`` (unscaled Schoenfeld) and
    ``stratum`` per event.
    """
    from scipy.stats import chi2

    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    X = np.asarray(X, dtype=float)
    beta = np.asarray(beta, dtype=float)
    n, p = X.shape
    groups = groups or [(str(k), [k]) for k in range(p)]
    strata = np.zeros(n, dtype=int) if strata is None else pd.factorize(np.asarray(strata))[0]
    tt = _transform(time, event, transform)
    g_all = tt - tt[event == 1].mean()
    Xc = X - X.mean(axis=0)
    eta = Xc @ beta
    r = np.exp(eta - eta.mean())
    u_theta = np.zeros(p)
    imat = np.zeros((2 * p, 2 * p))
    ev_t, ev_res, ev_s = [], [], []
    g_of = dict(zip(time, g_all))  # g depends on the time only
    for s in np.unique(strata):
        m = strata == s
        et, er, it, iv = _stratum_sums(Xc[m], r[m], time[m], event[m], ties == "efron")
        g = np.array([g_of[t_] for t_ in it])
        imat[:p, :p] += iv.sum(axis=0)
        imat[:p, p:] += np.einsum("k,kij->ij", g, iv)
        imat[p:, p:] += np.einsum("k,kij->ij", g * g, iv)
        u_theta += (np.array([g_of[t_] for t_ in et])[:, None] * er).sum(axis=0)
        ev_t.append(et)
        ev_res.append(er)
        ev_s.append(np.full(len(et), s))
    imat[p:, :p] = imat[:p, p:].T
    rows = []
    for name, cols in groups:
        kk = list(range(p)) + [p + c for c in cols]
        u = np.concatenate([np.zeros(p), u_theta[cols]])
        stat = float(u @ np.linalg.solve(imat[np.ix_(kk, kk)], u))
        rows.append({"term": name, "chisq": stat, "df": len(cols), "p_value": float(chi2.sf(stat, len(cols)))})
    u = np.concatenate([np.zeros(p), u_theta])
    stat = float(u @ np.linalg.solve(imat, u))
    rows.append({"term": "GLOBAL", "chisq": stat, "df": p, "p_value": float(chi2.sf(stat, p))})
    ev_time = np.concatenate(ev_t)
    tt_at = dict(zip(time, tt))  # the transform depends on the time only
    return {"table": pd.DataFrame(rows), "u": u_theta, "imat": imat, "time": ev_time,
            "x": np.array([tt_at[t_] for t_ in ev_time]), "resid": np.concatenate(ev_res),
            "stratum": np.concatenate(ev_s)}


def _natural_spline(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Natural cubic spline basis with the given knots (boundary knots first and last), intercept included.

    The truncated-power form of Hastie, Tibshirani & Friedman (2009) eq. 5.4-5.5; it spans the same
    functions as R's ``ns(x, knots=interior, Boundary.knots=range, intercept=TRUE)``.
    """
    K = len(knots)

    def d(k):
        return ((np.clip(x - knots[k], 0, None) ** 3 - np.clip(x - knots[-1], 0, None) ** 3)
                / (knots[-1] - knots[k]))

    cols = [np.ones_like(x), x] + [d(k) - d(K - 2) for k in range(K - 2)]
    return np.column_stack(cols)


def _smooth(x: np.ndarray, y: np.ndarray, var: float, df: int = 4, n_points: int = 40):
    """R plot.cox.zph's curve: least squares on a natural spline (df = 4), ± 2 SE band."""
    pred = np.linspace(x.min(), x.max(), n_points)
    both = np.concatenate([pred, x])
    lo, hi = both.min(), both.max()
    if hi <= lo or len(np.unique(x)) < df:
        return pred, np.full(n_points, np.nan), np.full(n_points, np.nan), np.full(n_points, np.nan)
    interior = np.quantile(both, np.linspace(0, 1, df)[1:-1])
    knots = np.concatenate([[lo], interior, [hi]])
    scale = lambda v: (v - lo) / (hi - lo)  # noqa: E731 - conditioning only
    B = _natural_spline(scale(x), scale(knots))
    P = _natural_spline(scale(pred), scale(knots))
    coef, *_ = np.linalg.lstsq(B, y, rcond=None)
    yhat = P @ coef
    xtx_inv = np.linalg.pinv(B.T @ B)
    seval = np.einsum("ij,jk,ik->i", P, xtx_inv, P)
    band = 2.0 * np.sqrt(np.clip(var * seval, 0, None))
    return pred, yhat, yhat - band, yhat + band


@dataclass(frozen=True)
class CoxZphResult(Result):
    """Test of proportional hazards for each term of a Cox model and globally (R ``cox.zph``).

    Attributes
    ----------
    summary : DataFrame
        ``term, chisq, df, p_value``; the last row, ``GLOBAL``, tests all terms at once.
    residuals : DataFrame
        ``term, event, time, x, beta_t``: the scaled Schoenfeld residuals plus β̂ for each event
        (numbered in time order; ``x`` is the transformed time), an estimate of the time-varying
        coefficient β(t).
    smooth : DataFrame
        ``term, x, time, beta_t, lower, upper``: the natural-spline smooth of β(t) with ±2 SE.
    """

    summary: pd.DataFrame
    residuals: pd.DataFrame
    smooth: pd.DataFrame
    endpoint: str | None
    transform: str
    ties: str
    coefficients: tuple[tuple[str, float], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    time_unit: str = "days"

    analysis: ClassVar[str] = "cox_zph"
    part_keys: ClassVar[dict] = {"residuals": ("term", "event"), "smooth": ("term", "x")}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "residuals": self.residuals, "smooth": self.smooth}

    def settings(self) -> dict:
        return {"endpoint": self.endpoint, "transform": self.transform, "transform_method": TRANSFORMS[self.transform],
                "ties": self.ties, "time_unit": self.time_unit, "test": "score test of x*g(t) at the fitted model (R survival >= 3.0 cox.zph)"}

    def title(self) -> str:
        return (f"Proportional hazards check ({self.endpoint or ''}): score test of each term × g(t), "
                f"g = {self.transform} (R cox.zph)")

    def html_parts(self):
        return [("", self.summary)]

    def figure(self, **kwargs):
        """β(t) per term: scaled Schoenfeld residuals and their smooth (:func:`plot_ph_check`)."""
        from ..plots.survival_checks import plot_ph_check

        return plot_ph_check(self, **kwargs)


def _term_groups(terms) -> list[tuple[str, list[int]]]:
    out: dict[str, list[int]] = {}
    for i, (_, term, _) in enumerate(terms):
        out.setdefault(term, []).append(i)
    return list(out.items())


def _scaled(fit_res: dict, groups, beta: np.ndarray, p: int):
    """R's scaled Schoenfeld residuals per term (multi-column terms collapsed on the linear predictor)."""
    d = len(fit_res["time"])
    T = np.zeros((p, len(groups)))
    for gi, (_, cols) in enumerate(groups):
        if len(cols) == 1:
            T[cols[0], gi] = 1.0
        else:
            T[cols, gi] = beta[cols]
    vmean = fit_res["imat"][:p, :p] / max(d, 1)
    v_c = T.T @ vmean @ T
    scaled = fit_res["resid"] @ T @ np.linalg.pinv(v_c)
    add = np.array([beta[cols[0]] if len(cols) == 1 else 1.0 for _, cols in groups])
    return scaled + add, np.linalg.pinv(v_c)


def cox_zph(data, *, transform: str = "km", endpoint: str | None = None, by: str | None = "arm", covariates=(),
            strata=None, ties: str = "efron", reference: str | None = None, population: str | None = None,
            subgroup: dict | None = None) -> CoxZphResult:
    """Test proportional hazards of a Cox model, per term and globally, as R's ``cox.zph``.

    A separate function rather than a part of :class:`~trialkit.outcomes.CoxResult` because it is
    a diagnostic with its own choices (the time transform) and its own figure; it takes either a
    fitted :class:`CoxResult` (the model is not refitted) or the same data and arguments as
    :func:`trialkit.cox`.

    Parameters
    ----------
    data : CoxResult, Study or DataFrame
    transform : {"km", "rank", "identity", "log"}, default "km"
        The time scale g(t) of the test (R's default ``"km"``: 1 − Kaplan–Meier, which damps
        the leverage of long follow-up times).
    endpoint, by, covariates, strata, ties, reference, population, subgroup
        As for :func:`trialkit.cox` (ignored when ``data`` is a CoxResult).

    Returns
    -------
    CoxZphResult
        ``.summary`` (chisq, df, p per term and GLOBAL), ``.residuals``, ``.smooth`` and
        ``.figure()``.

    Examples
    --------
    >>> import trialkit as tk
    >>> res = tk.cox_zph(tk.load_study("data/demo/b1931036"), endpoint="EFS")
    >>> res.summary["term"].tolist()
    ['arm', 'GLOBAL']
    """
    from .regression import CoxResult, cox

    if transform not in TRANSFORMS:
        raise TrialkitError(f"transform must be one of {', '.join(TRANSFORMS)}, not {transform!r}")
    fitted = data if isinstance(data, CoxResult) else cox(
        data, endpoint=endpoint, by=by, covariates=covariates, strata=strata, ties=ties, reference=reference,
        population=population, subgroup=subgroup)
    fit = fitted.fit_data
    if fit is None:
        raise TrialkitError("this CoxResult does not carry its data; refit it with trialkit.cox")
    f = fit.sd.frame
    from ._data import stratum_codes

    strata_codes = stratum_codes(f, fit.sd.strata)[0] if fit.sd.strata else None
    groups = _term_groups(fit.terms)
    out = zph_score(f["time"].to_numpy(float), f["event"].to_numpy(int), fit.X.to_numpy(float), fit.beta,
                    strata=strata_codes, ties=fit.ties, transform=transform, groups=groups)
    p = fit.X.shape[1]
    beta_t, var = _scaled(out, groups, fit.beta, p)
    res_rows, smooth_rows = [], []
    for gi, (name, _) in enumerate(groups):
        res_rows.append(pd.DataFrame({"term": name, "event": np.arange(1, len(out["time"]) + 1), "time": out["time"],
                                      "x": out["x"], "beta_t": beta_t[:, gi]}))
        order = np.argsort(out["x"], kind="stable")
        xs, ts = out["x"][order], out["time"][order]
        px, yh, lo, hi = _smooth(xs, beta_t[order, gi], float(var[gi, gi]))
        smooth_rows.append(pd.DataFrame({"term": name, "x": px, "time": np.interp(px, xs, ts), "beta_t": yh,
                                         "lower": lo, "upper": hi}))
    coefs = tuple((col, float(b)) for col, b in zip(fit.X.columns, fit.beta))
    return CoxZphResult(summary=out["table"], residuals=pd.concat(res_rows, ignore_index=True),
                        smooth=pd.concat(smooth_rows, ignore_index=True), endpoint=fitted.endpoint,
                        transform=transform, ties=fit.ties, coefficients=coefs, notes=fitted.notes,
                        time_unit=fit.sd.time_unit)
