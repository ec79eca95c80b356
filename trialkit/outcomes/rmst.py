"""Restricted mean survival time (RMST) by arm, with the difference and ratios against the reference.

The RMST up to τ is the area under the Kaplan–Meier curve from 0 to τ (lifelines fits the curve);
its variance is the Greenwood plug-in of Klein & Moeschberger (2003, §4.5) as survRM2 ``rmst2`` and
R ``print(survfit, rmean=τ)`` compute it::

    Var = Σ_{t_i ≤ τ} [∫_{t_i}^{τ} S(u) du]² · d_i / (Y_i (Y_i − d_i))

Between-group contrasts follow survRM2 (Uno et al. 2014, J Clin Oncol 32:2380; Tian et al. 2014):
the difference μ1 − μ0 with a normal interval; the RMST ratio μ1/μ0 and the restricted-mean-time-lost
ratio (τ − μ1)/(τ − μ0) on the log scale by the delta method; each with a two-sided z-test p-value.
The RMST needs no proportional hazards, which makes it the alternative to the hazard ratio when
:func:`trialkit.cox_zph` rejects them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import TrialkitError
from ..results import Result
from ._data import quiet_lifelines, survival_data
from .survival import _z

__all__ = ["rmst", "RMSTResult", "rmst_contrasts", "rmst_one"]


def rmst_one(time: np.ndarray, event: np.ndarray, tau: float) -> tuple[float, float]:
    """(RMST up to tau, its standard error) of one group."""
    from lifelines import KaplanMeierFitter

    with quiet_lifelines():
        kmf = KaplanMeierFitter().fit(time, event)
    et = kmf.event_table
    t = et.index.to_numpy(dtype=float)
    s = kmf.survival_function_.iloc[:, 0].to_numpy(dtype=float)
    n = et["at_risk"].to_numpy(dtype=float)
    d = et["observed"].to_numpy(dtype=float)
    keep = (t <= tau) & (d > 0)  # steps of the curve up to tau (event times)
    te, se_, ne, de = t[keep], s[keep], n[keep], d[keep]
    grid = np.concatenate([[0.0], te, [tau]])
    heights = np.concatenate([[1.0], se_])
    areas = np.diff(grid) * heights  # area of each step, from 0 and from each event time on
    mu = float(areas.sum())
    tail = np.cumsum(areas[::-1])[::-1][1:]  # ∫_{t_i}^{tau} S for each event time t_i
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(ne - de > 0, de / (ne * (ne - de)), 0.0)
    return mu, float(np.sqrt(np.sum(tail ** 2 * h)))


def rmst_contrasts(mu1: float, se1: float, mu0: float, se0: float, tau: float, conf_level: float = 0.95):
    """survRM2's three contrasts of group 1 against group 0.

    Returns a list of dicts ``measure, estimate, lower, upper, p_value`` for the RMST difference,
    the RMST ratio and the RMTL ratio (ratios by the delta method on the log scale).
    """
    from scipy.stats import norm

    z = _z(conf_level)
    out = []
    se_d = float(np.hypot(se1, se0))
    d = mu1 - mu0
    out.append({"measure": "RMST difference", "estimate": d, "lower": d - z * se_d, "upper": d + z * se_d,
                "p_value": float(2 * norm.sf(abs(d) / se_d)) if se_d > 0 else np.nan})
    for name, a, b in (("RMST ratio", mu1, mu0), ("RMTL ratio", tau - mu1, tau - mu0)):
        if a > 0 and b > 0:
            lr = np.log(a / b)
            se_l = float(np.hypot(se1 / a, se0 / b))
            out.append({"measure": name, "estimate": a / b, "lower": float(np.exp(lr - z * se_l)),
                        "upper": float(np.exp(lr + z * se_l)),
                        "p_value": float(2 * norm.sf(abs(lr) / se_l)) if se_l > 0 else np.nan})
        else:
            out.append({"measure": name, "estimate": np.nan, "lower": np.nan, "upper": np.nan, "p_value": np.nan})
    return out


@dataclass(frozen=True)
class RMSTResult(Result):
    """Restricted mean survival time by group and its contrasts with the reference group.

    Attributes
    ----------
    summary : DataFrame
        ``group, n, events, tau, rmst, se, lower, upper, rmtl, rmtl_lower, rmtl_upper``
        (RMTL = τ − RMST, the restricted mean time lost).
    differences : DataFrame
        ``comparison, measure, estimate, lower, upper, p_value``: for each group against the
        reference, the RMST difference, the RMST ratio and the RMTL ratio (survRM2 ``rmst2``).
    """

    summary: pd.DataFrame
    differences: pd.DataFrame
    endpoint: str | None
    tau: float
    time_unit: str
    conf_level: float
    reference: str | None
    population: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    analysis: ClassVar[str] = "rmst"

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "differences": self.differences}

    def settings(self) -> dict:
        return {"endpoint": self.endpoint, "tau": self.tau, "time_unit": self.time_unit,
                "conf_level": self.conf_level, "reference": self.reference, "population": self.population,
                "variance": "Greenwood plug-in (Klein & Moeschberger 2003), as survRM2 rmst2"}

    def title(self) -> str:
        return (f"Restricted mean survival time ({self.endpoint or ''}) up to tau = {self.tau:g} {self.time_unit}; "
                f"{self.conf_level:.0%} CI; contrasts vs {self.reference}")


def _check_tau(tau, f: pd.DataFrame, groups) -> float:
    try:
        tau = float(tau)
    except (TypeError, ValueError):
        raise TrialkitError(f"tau must be a number (a time in the analysis time unit), not {tau!r}") from None
    if not np.isfinite(tau) or tau <= 0:
        raise TrialkitError(f"tau must be a positive time, not {tau!r}")
    limits = []
    for g in groups:
        sub = f[f["group"] == g]
        if not len(sub):
            continue
        last = float(sub["time"].max())
        last_is_event = bool(sub.loc[sub["time"] == last, "event"].min() == 1)
        if not last_is_event:  # the curve is unknown beyond a group's last (censored) follow-up time
            limits.append((last, g))
    if limits:
        limit, g = min(limits)
        if tau > limit:
            raise TrialkitError(f"tau = {tau:g} is beyond the follow-up of group {g!r} (last time {limit:g}, "
                                "censored): its Kaplan-Meier curve is unknown there; choose tau <= "
                                f"{limit:g}")
    return tau


def rmst(data, *, tau=None, endpoint: str | None = None, by: str | None = "arm", reference: str | None = None,
         conf_level: float = 0.95, time_unit: str = "days", population: str | None = None,
         subgroup: dict | None = None) -> RMSTResult:
    """Restricted mean survival time up to ``tau`` by group, with differences and ratios vs the reference.

    Parameters
    ----------
    data : Study or DataFrame
        See :func:`trialkit.km`.
    tau : float, optional
        The truncation time, in ``time_unit``; it must not exceed any group's last follow-up time
        unless that group's curve has reached its end with an event (survRM2's rule). Default: the
        smallest of the groups' last follow-up times (survRM2's default when the last observations
        are censored), said in the notes. Prefer a τ fixed in the analysis plan.
    endpoint : str, optional
    by : str or None, default "arm"
        Groups; None gives one RMST for everyone (no contrasts).
    reference : str, optional
        The group the others are compared with (default the protocol's reference arm).
    conf_level : float, default 0.95
    time_unit : {"days", "weeks", "months", "years"}
    population, subgroup
        As for :func:`trialkit.km`.

    Returns
    -------
    RMSTResult

    Examples
    --------
    >>> import trialkit as tk
    >>> res = tk.rmst(tk.load_study("data/demo/b1931036"), endpoint="EFS", tau=12, time_unit="months")
    >>> res.differences["measure"].tolist()
    ['RMST difference', 'RMST ratio', 'RMTL ratio']
    """
    _z(conf_level)
    sd = survival_data(data, endpoint=endpoint, by=by, population=population, time_unit=time_unit,
                       subgroup=subgroup, reference=reference, require_reference=by is not None)
    f = sd.frame
    notes = list(sd.notes)
    if tau is None:
        present = [g for g in sd.groups if (f["group"] == g).any()]
        tau = float(min(f.loc[f["group"] == g, "time"].max() for g in present))
        notes.append(f"tau not given: the smallest of the groups' last follow-up times, {tau:g} {sd.time_unit}")
    tau = _check_tau(tau, f, sd.groups)
    z = _z(conf_level)
    rows, est = [], {}
    for g in sd.groups:
        sub = f[f["group"] == g]
        if not len(sub):
            rows.append({"group": g, "n": 0, "events": 0, "tau": tau, "rmst": np.nan, "se": np.nan,
                         "lower": np.nan, "upper": np.nan, "rmtl": np.nan, "rmtl_lower": np.nan,
                         "rmtl_upper": np.nan})
            continue
        mu, se = rmst_one(sub["time"].to_numpy(float), sub["event"].to_numpy(int), tau)
        est[g] = (mu, se)
        rows.append({"group": g, "n": len(sub), "events": int(sub["event"].sum()), "tau": tau, "rmst": mu, "se": se,
                     "lower": mu - z * se, "upper": mu + z * se, "rmtl": tau - mu, "rmtl_lower": tau - mu - z * se,
                     "rmtl_upper": tau - mu + z * se})
    diffs = []
    ref = sd.reference
    if by is not None and ref in est:
        for g in sd.groups:
            if g == ref or g not in est:
                continue
            for c in rmst_contrasts(*est[g], *est[ref], tau=tau, conf_level=conf_level):
                diffs.append({"comparison": f"{g} vs {ref}", **c})
    summary = pd.DataFrame(rows)
    summary["group"] = pd.Categorical(summary["group"], categories=list(sd.groups), ordered=True)
    differences = pd.DataFrame(diffs, columns=["comparison", "measure", "estimate", "lower", "upper", "p_value"])
    return RMSTResult(summary=summary, differences=differences, endpoint=sd.endpoint, tau=tau,
                      time_unit=sd.time_unit, conf_level=conf_level, reference=ref if by is not None else None,
                      population=sd.population, notes=tuple(notes))
