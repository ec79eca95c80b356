"""Risk-set sums of the Cox partial likelihood: Schoenfeld residuals, score and information.

Shared by the global tests and the Newton step of :mod:`trialkit.outcomes.cox_tests` and by R's
``cox.zph`` test in :mod:`trialkit.outcomes.ph`; imports nothing else from trialkit, so neither of
those modules imports the other.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stratum_sums"]


def stratum_sums(x, r, t, e, efron):
    """Risk-set sums of one stratum at the risk scores ``r`` (= exp(xβ)).

    Returns (time of each event, x − its risk-set mean for each event (the Schoenfeld residual),
    times of the information pieces, the pieces: the p × p weighted covariance of x over the risk
    set, one per distinct event time for Breslow, one per tied event for Efron, whose k-th piece
    removes the fraction k/d of the tied events from the risk set; zph1.c of the survival package).
    The score is the sum of the residuals and the information the sum of the pieces.
    """
    order = np.argsort(t, kind="stable")
    x, r, t, e = x[order], r[order], t[order], e[order]
    ut, inv = np.unique(t, return_inverse=True)
    p = x.shape[1]
    J = len(ut)
    rx = r[:, None] * x
    rxx = rx[:, :, None] * x[:, None, :]
    dead = e == 1

    def by_time(values, mask=None):
        idx = inv if mask is None else inv[mask]
        vals = values if mask is None else values[mask]
        out = np.zeros((J,) + vals.shape[1:])
        np.add.at(out, idx, vals)
        return out

    R, A, C = by_time(r), by_time(rx), by_time(rxx)
    Rd, Ad, Cd = by_time(r, dead), by_time(rx, dead), by_time(rxx, dead)
    nd = np.bincount(inv[dead], minlength=J)
    # risk sets: everyone with time >= t (reverse cumulative sums)
    Rr, Ar, Cr = R[::-1].cumsum()[::-1], A[::-1].cumsum(0)[::-1], C[::-1].cumsum(0)[::-1]
    jd = np.flatnonzero(nd)
    mean = Ar[jd] / Rr[jd, None]
    mbar = mean.copy()
    info_t = [ut[jd]]
    info_v = [nd[jd, None, None] * (Cr[jd] / Rr[jd, None, None] - mean[:, :, None] * mean[:, None, :])]
    if efron:
        tied = jd[nd[jd] > 1]
        keep = nd[jd] == 1  # untied times keep their Breslow piece
        if len(tied):
            # every tied time's pieces at once, time by time as a loop over them would append them: the
            # k-th of the d events at a time removes the fraction k/d of that time's events from its risk set
            dj = nd[tied]
            jj = np.repeat(tied, dj)
            start = np.concatenate([[0], np.cumsum(dj)[:-1]])
            fr = (np.arange(len(jj)) - np.repeat(start, dj)) / nd[jj]
            den = Rr[jj] - fr * Rd[jj]
            m = (Ar[jj] - fr[:, None] * Ad[jj]) / den[:, None]
            c = (Cr[jj] - fr[:, None, None] * Cd[jj]) / den[:, None, None]
            info_t = [ut[jd][keep], ut[jj]]
            info_v = [info_v[0][keep], c - m[:, :, None] * m[:, None, :]]
            mbar[np.searchsorted(jd, tied)] = np.add.reduceat(m, start, axis=0) / dj[:, None]
    pos = np.searchsorted(jd, inv[dead])
    return (ut[inv[dead]], x[dead] - mbar[pos], np.concatenate(info_t),
            np.concatenate(info_v).reshape(-1, p, p))
