"""Score confidence intervals for the difference of two independent proportions.

Written by hand because the library implementation is wrong: statsmodels'
``confint_proportions_2indep(method="score")`` solves the restricted maximum-likelihood cubic with a
wrong coefficient (statsmodels issue #10269) and brackets its root search with the Wald interval, so
it gives wrong limits (56/70 vs 48/80: 0.0526 to 0.3440 instead of 0.0528 to 0.3382) and fails
outright with ``f(a) and f(b) must have different signs`` on every table with a zero or full cell.

The interval here is the set of differences δ not rejected by the score test

    z(δ) = (p̂1 − p̂0 − δ) / sqrt(V(δ)),   V(δ) = [p̃1(1 − p̃1)/n1 + p̃0(1 − p̃0)/n0] · f

where p̃1, p̃0 = p̃1 − δ are the maximum-likelihood estimates restricted to p1 − p0 = δ, from the
closed-form solution of their cubic (Farrington & Manning 1990, Stat Med 9:1447, eq. 2; Miettinen &
Nurminen 1985, Stat Med 4:213, Appendix 1), and f = N/(N − 1) for Miettinen–Nurminen (N = n1 + n0)
or 1 for Mee (1984). The limits are the roots of z(δ) = ±z_{1−α/2}, bracketed on [−1, d̂] and
[d̂, 1] (z is monotone in δ on each side), found by Brent's method. Tested against Newcombe (1998)
Table II, all eight examples (tests/test_outcomes_proportions.py).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import TrialkitError

__all__ = ["score_interval_difference", "restricted_mle", "SCORE_METHODS"]

#: method -> variance factor description
SCORE_METHODS = {
    "miettinen-nurminen": "Miettinen-Nurminen score interval (variance x N/(N-1))",
    "mee": "Mee / Farrington-Manning score interval (no N/(N-1) factor)",
}


def restricted_mle(x1: int, n1: int, x0: int, n0: int, delta: float) -> tuple[float, float]:
    """Maximum-likelihood (p1, p0) under the constraint p1 − p0 = delta (Farrington & Manning 1990).

    The closed form of the cubic's root in [max(0, δ), min(1, 1 + δ)]; the result is clipped to
    [0, 1] against rounding.
    """
    p1, p0 = x1 / n1, x0 / n0
    theta = n0 / n1
    a = 1.0 + theta
    b = -(1.0 + theta + p1 + theta * p0 + delta * (theta + 2.0))
    c = delta * delta + delta * (2.0 * p1 + theta + 1.0) + p1 + theta * p0
    d = -p1 * delta * (1.0 + delta)
    v = b ** 3 / (3.0 * a) ** 3 - b * c / (6.0 * a * a) + d / (2.0 * a)
    u2 = b * b / (3.0 * a) ** 2 - c / (3.0 * a)
    u = math.copysign(math.sqrt(max(u2, 0.0)), v) if v != 0 else math.sqrt(max(u2, 0.0))
    if u == 0.0:
        q1 = -b / (3.0 * a)
    else:
        w = (math.pi + math.acos(min(1.0, max(-1.0, v / u ** 3)))) / 3.0
        q1 = 2.0 * u * math.cos(w) - b / (3.0 * a)
    q1 = min(1.0, max(0.0, q1))
    q0 = min(1.0, max(0.0, q1 - delta))
    return q1, q0


def _score_z(x1, n1, x0, n0, delta: float, factor: float) -> float:
    """The score statistic z(δ) = (d̂ − δ)/sd(δ); ±inf where the restricted variance is 0."""
    q1, q0 = restricted_mle(x1, n1, x0, n0, delta)
    var = (q1 * (1.0 - q1) / n1 + q0 * (1.0 - q0) / n0) * factor
    diff = x1 / n1 - x0 / n0 - delta
    if var <= 0.0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / math.sqrt(var)


def score_interval_difference(x1: int, n1: int, x0: int, n0: int, *, conf_level: float = 0.95,
                              method: str = "miettinen-nurminen") -> tuple[float, float, float]:
    """Score confidence interval for p1 − p0 (group 1 minus group 0).

    Parameters
    ----------
    x1, n1 : int
        Responders and subjects in group 1.
    x0, n0 : int
        Responders and subjects in group 0 (the reference).
    conf_level : float, default 0.95
    method : {"miettinen-nurminen", "mee"}
        Miettinen & Nurminen (1985), whose variance carries the factor N/(N − 1), or Mee (1984) /
        Farrington & Manning (1990) without it.

    Returns
    -------
    (difference, lower, upper) : tuple of float

    Examples
    --------
    >>> d, lo, hi = score_interval_difference(56, 70, 48, 80)   # Newcombe (1998) Table II, (a)
    >>> round(d, 4), round(lo, 4), round(hi, 4)
    (0.2, 0.0528, 0.3382)
    """
    from scipy.optimize import brentq
    from scipy.stats import norm

    if method not in SCORE_METHODS:
        raise TrialkitError(f"method must be one of {', '.join(SCORE_METHODS)}, not {method!r}")
    if not 0 < conf_level < 1:
        raise TrialkitError(f"conf_level must lie strictly between 0 and 1 (e.g. 0.95), not {conf_level!r}")
    for name, x, n in (("group 1", x1, n1), ("group 0", x0, n0)):
        if not (float(n).is_integer() and float(x).is_integer()) or n < 1 or not 0 <= x <= n:
            raise TrialkitError(f"{name}: responders must be a whole number between 0 and the group size "
                                f"(a whole number >= 1); got {x} of {n}")
    x1, n1, x0, n0 = int(x1), int(n1), int(x0), int(n0)
    factor = (n1 + n0) / (n1 + n0 - 1.0) if method == "miettinen-nurminen" else 1.0
    z = float(norm.ppf(0.5 + conf_level / 2))
    d = x1 / n1 - x0 / n0
    eps = 1e-12

    def f(delta: float) -> float:
        return _score_z(x1, n1, x0, n0, delta, factor)

    lower = -1.0
    if d > -1.0 and f(-1.0 + eps) > z:  # z(δ) falls from +inf at −1 to 0 at d̂
        lower = brentq(lambda t: f(t) - z, -1.0 + eps, d, xtol=1e-14, rtol=1e-14, maxiter=500)
    upper = 1.0
    if d < 1.0 and f(1.0 - eps) < -z:
        upper = brentq(lambda t: f(t) + z, d, 1.0 - eps, xtol=1e-14, rtol=1e-14, maxiter=500)
    return float(d), float(np.clip(lower, -1.0, 1.0)), float(np.clip(upper, -1.0, 1.0))
