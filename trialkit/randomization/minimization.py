"""Pocock–Simon minimization that keeps an unequal allocation ratio.

Plain minimization with an unequal ratio (counts divided by the ratio, the arm with the smallest
weighted imbalance preferred) drifts away from the target ratio: Han, Enas & McEntegart (2009)
showed the realized allocation can differ markedly from 2:1 and proposed ratio-preserving
modifications. trialkit implements the *expansion* approach of Kuznetsova & Tymofyeyev (2012),
which preserves the ratio at every allocation, not only on average:

1. Expand the ratio r_1:…:r_K (reduced by its gcd) into ``m = Σ r_k`` sub-arms allocated 1:…:1
   (2:1 → A1, A2, B).
2. Minimize over the sub-arms with the Pocock–Simon range criterion: for each candidate sub-arm,
   add the patient to it and sum over factors (the patient's level) of ``max − min`` of the
   sub-arm counts; take the smallest total (ties at random) with probability ``p_best``, else one
   of the other sub-arms at random.
3. Map sub-arms back to arms.

Because the procedure treats all sub-arms symmetrically, each sub-arm has unconditional
probability 1/m at every step, so each arm receives r_k/m of the patients in expectation at every
allocation, whatever the factor levels.

Note: this is not Han et al.'s own probability adjustment; it is the later method that answers the
same problem exactly (see Kuznetsova & Tymofyeyev 2012 for the comparison).

References
----------
Pocock SJ, Simon R. Sequential treatment assignment with balancing for prognostic factors in the
controlled clinical trial. *Biometrics* 1975;31:103-115.
Han B, Enas NH, McEntegart D. Randomization by minimization for unbalanced treatment allocation.
*Stat Med* 2009;28:3329-3346.
Kuznetsova OM, Tymofyeyev Y. Preserving the allocation ratio at every allocation with biased coin
randomization and minimization in studies with unequal allocation. *Stat Med* 2012;31:701-723.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..analysis_set import stratum_codes
from ..protocols import Protocol, get_protocol
from .scheme import Scheme, SimulationError

__all__ = ["minimize"]


def _minimize_arrays(protocol: Protocol, scheme, levels: np.ndarray, n_levels: Sequence[int],
                     rng: np.random.Generator) -> np.ndarray:
    """Vectorized over trials: ``levels`` (T, N, F) → arm index (T, N) in ``protocol.ratio`` order."""
    shares = np.asarray(list(protocol.ratio.values()), dtype=np.int64)
    base = shares // np.gcd.reduce(shares)
    sub_to_arm = np.repeat(np.arange(len(base)), base).astype(np.int8)
    m = len(sub_to_arm)
    T, N, F = levels.shape
    counts = [np.zeros((T, L, m), dtype=np.int32) for L in n_levels]
    eye = np.eye(m, dtype=np.int32)[None, :, :]
    rows = np.arange(T)
    out = np.empty((T, N), dtype=np.int8)
    for i in range(N):
        score = np.zeros((T, m), dtype=np.int64)
        for f in range(F):
            c = counts[f][rows, levels[:, i, f]]  # (T, m)
            trial = c[:, None, :] + eye  # (T, candidate, m)
            score += trial.max(axis=2) - trial.min(axis=2)
        noisy = score + rng.random((T, m)) * 0.5  # random tie-break among equal scores
        best = noisy.argmin(axis=1)
        other = (best + 1 + rng.integers(0, m - 1, size=T)) % m if m > 1 else best
        sub = np.where(rng.random(T) < scheme.p_best, best, other)
        for f in range(F):
            counts[f][rows, levels[:, i, f], sub] += 1
        out[:, i] = sub_to_arm[sub]
    return out


def minimize(data: pd.DataFrame, *, protocol: str | Protocol, strata: Sequence[str],
             p_best: float = 0.8, seed: int = 0) -> pd.DataFrame:
    """Assign arms to patients in order by ratio-preserving Pocock–Simon minimization.

    Parameters
    ----------
    data : DataFrame
        The patients: one row per patient in enrollment order with a column per factor.
    protocol : str or Protocol
        Gives the arms and the ratio.
    strata : sequence of str
        The factors to balance (marginally, Pocock–Simon).
    p_best : float
        Probability of the imbalance-minimizing sub-arm (0.8 by default).
    seed : int

    Returns
    -------
    DataFrame
        ``data`` with an added ``arm`` column (a copy; the input is not changed).

    Examples
    --------
    >>> import pandas as pd, trialkit as tk
    >>> pts = pd.DataFrame({"age_group": ["1 to <10 years", "10 to <18 years"] * 150})
    >>> from trialkit.randomization import minimize
    >>> out = minimize(pts, protocol="b1931036", strata=["age_group"])
    >>> out["arm"].value_counts().to_dict()
    {'InO': 200, 'ALLR3': 100}
    """
    protocol = get_protocol(protocol)
    strata = (strata,) if isinstance(strata, str) else tuple(strata)
    if not len(strata):
        raise SimulationError("minimization needs at least one factor to balance; pass strata=[...].")
    scheme = Scheme("minimization", strata=strata, p_best=p_best)
    per = [stratum_codes(data, [f]) for f in strata]
    lv = np.stack([c for c, _ in per], axis=-1)[None, :, :]
    arms = _minimize_arrays(protocol, scheme, lv, [len(lab) for _, lab in per], np.random.default_rng(seed))
    codes = np.array(list(protocol.ratio), dtype=object)
    return data.assign(arm=pd.array(codes[arms[0]], dtype="string"))
