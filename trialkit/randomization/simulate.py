"""Design simulation: how tightly does a randomization scheme hold its ratio in *this* trial?

The engine simulates many trials at once. Its state is a set of numpy arrays with one row per
simulated trial; it steps through the patients in enrollment order (one vectorized step per
patient, all trials together), so 10,000 trials of 100 patients cost 100 numpy steps, not
1,000,000 Python iterations. Re-randomizing the *same* patients (a study's own accrual, as the
allocation monitoring does) with permuted blocks steps through blocks instead: one step per unit
of the minimal block within a stratum, for every stratum and trial at once.

Schemes
-------
``complete``
    Each patient drawn independently with the planned probabilities.
``blocks``
    Permuted blocks within each stratum, block sizes drawn at random from multiples of the
    protocol's minimal block. Drawing each arm in proportion to what is left in the current block
    (an urn without replacement) gives exactly a uniformly random permutation of the block.
``minimization``
    Pocock–Simon minimization over the stratification factors, made allocation-ratio preserving by
    expanding the r_1:…:r_K ratio into sum(r) equally likely "sub-arms" (2:1 → A1, A2, B) that are
    minimized 1:1:1 and then mapped back; see :mod:`trialkit.randomization.minimization`.

References
----------
Rosenberger WF, Lachin JM. *Randomization in Clinical Trials*, 2nd ed. Wiley, 2016 (ch. 3, 9).
Kernan WN et al. Stratified randomization for clinical trials. *J Clin Epidemiol* 1999;52:19-26
(too many strata for the sample size leave many blocks incomplete and stratification stops helping).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from ..analysis_set import is_study, stratum_codes
from ..protocols import Protocol, get_protocol
from ..results import Result
from .scheme import Scheme, SimulationError, protocol_scheme

__all__ = ["Scheme", "DesignSimulation", "simulate_design", "protocol_scheme", "simulate_arms"]

def _block_sizes(protocol: Protocol, scheme: Scheme) -> np.ndarray:
    from .schedule import ScheduleError, _block_sizes

    try:
        return np.asarray(_block_sizes(protocol, scheme.block_sizes), dtype=np.int64)
    except ScheduleError as exc:
        raise SimulationError(str(exc)) from None


#: at most this many distinct arrangements of one block size are enumerated for the vectorized
#: permuted-block path (2:1 blocks of 3 and 6: 3 and 15; 1:1 blocks of 2 and 4: 2 and 6)
MAX_BLOCK_PATTERNS = 20_000
#: elements of the (trials x patients) work arrays per chunk of trials: bounds the memory of a chunk
_CHUNK_ELEMENTS = 2**21


def _rows_per_chunk(T: int, width: int) -> int:
    return max(1, min(T, _CHUNK_ELEMENTS // max(width, 1)))


def _complete_arms(shares: np.ndarray, T: int, N: int, rng: np.random.Generator) -> np.ndarray:
    """Each patient drawn independently: the arm is the number of cumulative shares at or below a uniform.

    The same draws and arms as ``np.searchsorted(cdf, rng.random((T, N)), side="right")`` capped at
    the last arm, computed by comparisons in chunks of trials (no (T, N) array of floats). Stored
    patient-major, like the other engines' results.
    """
    cdf = np.cumsum(shares / shares.sum())
    arms = np.empty((N, T), dtype=np.int8)
    rows = _rows_per_chunk(T, N)
    for t0 in range(0, T, rows):
        u = rng.random((min(rows, T - t0), N))  # the same stream as one (T, N) draw
        a = (u >= cdf[0]).astype(np.int8)
        for c in cdf[1:-1]:
            a += u >= c
        arms[:, t0:t0 + len(u)] = a.T
    return arms.T


def _arrangements(counts: Sequence[int]) -> np.ndarray:
    """Every distinct ordering of a block holding ``counts[k]`` patients of arm k: (n_orderings, block) int8.

    A uniformly random permutation of the block's slots gives each distinct ordering with the same
    probability (each arises from prod(counts[k]!) permutations), so drawing one of these rows
    uniformly is the same as shuffling the block.
    """
    from itertools import combinations

    size = int(sum(counts))
    rows = [np.full(size, len(counts) - 1, dtype=np.int8)]
    free_rows = [np.arange(size)]
    for arm, c in enumerate(counts[:-1]):
        new_rows, new_free = [], []
        for r, free in zip(rows, free_rows):
            for pos in combinations(range(len(free)), int(c)):
                x = r.copy()
                x[free[list(pos)]] = arm
                new_rows.append(x)
                new_free.append(np.delete(free, list(pos)))
        rows, free_rows = new_rows, new_free
    return np.array(rows, dtype=np.int8)


def _block_table(base: np.ndarray, sizes: np.ndarray):
    """(lengths, orderings) of every block one uniform integer can pick, or None when there are too many.

    Code ``c`` picks the block size ``sizes[c // L]`` (each entry of ``sizes`` equally likely, as the
    patient-by-patient engine draws them) and that size's ordering ``(c % L) % n_orderings`` with
    ``L`` the least common multiple of the numbers of orderings, so every ordering of a size is
    equally likely too.
    """
    from math import comb, lcm, prod

    m = int(base.sum())
    counts = [base * (int(b) // m) for b in sizes]
    n_pat = [prod(comb(int(c[k:].sum()), int(c[k])) for k in range(len(c))) for c in counts]
    L = lcm(*n_pat)
    if max(n_pat) > MAX_BLOCK_PATTERNS or len(sizes) * L > 50 * MAX_BLOCK_PATTERNS:
        return None
    pats = [_arrangements(c) for c in counts]
    width = int(max(sizes))
    codes = np.arange(len(sizes) * L)
    size_of = codes // L
    length = sizes[size_of].astype(np.int64)
    table = np.zeros((len(codes), width), dtype=np.int8)
    for k, pat in enumerate(pats):
        rows = codes[size_of == k]
        table[rows, : int(sizes[k])] = pat[(rows % L) % len(pat)]
    return length, table


def _blocks_fixed_strata(codes: np.ndarray, T: int, n_strata: int, m: int, rng: np.random.Generator,
                         table) -> tuple[np.ndarray, np.ndarray]:
    """Permuted blocks for T trials of the *same* patients (stratum codes ``codes``, enrollment order).

    Every block size is a multiple of the minimal block ``m``, so within a stratum the blocks begin
    at ranks that are multiples of ``m``: the stratum's ranks fall into *units* of ``m`` patients,
    and a unit is always the k-th unit of some block. One step per unit rank (not per patient) sets
    the units of every stratum and trial at once: a stratum whose block is used up draws a new one
    (one uniform code: its size and its ordering, see :func:`_block_table`), and the unit's
    patients get their arms from the block's ordering. Equal in distribution to the
    patient-by-patient urn of :func:`_blocks_by_patient` (a different random stream).
    """
    length, tab = table
    n_codes, width = tab.shape
    per_block = width // m  # units in the widest block
    utype = np.int16 if n_codes * per_block < 2**15 - 1 else np.int32
    unit_len = (length // m).astype(utype)
    by_slot = tab.reshape(n_codes * per_block, m).T.copy()  # [slot within unit, unit id] -> arm
    N = len(codes)
    n_s = np.bincount(codes, minlength=n_strata)
    start = np.cumsum(n_s) - n_s
    members = np.argsort(codes, kind="stable")  # patients of each stratum in enrollment order
    n_units = -(-n_s // m)
    by_size = np.argsort(-n_units, kind="stable")  # strata with the most units first: the active ones
    units = n_units[by_size]  # are always a prefix
    active = np.searchsorted(-units, -np.arange(int(units[0]) if n_strata else 0), side="left")
    arms = np.empty((N, T), dtype=np.int8)  # patient-major: each patient's T trials contiguous
    uid = np.zeros(n_strata * T, dtype=utype)  # (stratum by size, trial): unit to emit, as code*per_block + k
    left = np.zeros(n_strata * T, dtype=utype)  # units left in the current block
    for u, A in enumerate(active):
        n = A * T
        ui, le = uid[:n], left[:n]
        new = np.flatnonzero(le == 0)
        if len(new):
            c = rng.integers(0, n_codes, size=len(new), dtype=utype)
            ui[new] = c * utype(per_block)
            le[new] = unit_len[c]
        ui2 = ui.reshape(A, T)
        strata = by_size[:A]
        for r in range(m):
            rank = u * m + r
            has = rank < n_s[strata]
            patients = members[start[strata[has]] + rank]
            arms[patients] = by_slot[r][ui2 if has.all() else ui2[has]]
        ui += 1
        le -= 1
    ended_inside = (left.reshape(n_strata, T) > 0) | (n_s[by_size] % m != 0)[:, None]
    open_block = np.zeros((n_strata, T), dtype=bool)
    open_block[by_size] = ended_inside & (units > 0)[:, None]
    return arms.T, open_block.T


def _fixed_codes(strata: np.ndarray) -> np.ndarray | None:
    """The one row of stratum codes when every simulated trial has the same patients, else None."""
    T = strata.shape[0]
    if T == 1 or strata.strides[0] == 0 or not (strata[1:] != strata[0]).any():
        return np.asarray(strata[0], dtype=np.int64)
    return None


def simulate_arms(protocol: Protocol, scheme: Scheme, strata: np.ndarray, *, n_strata: int,
                  rng: np.random.Generator, levels: np.ndarray | None = None,
                  n_levels: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Simulate assignments for a matrix of patients; the vectorized core of this module.

    Parameters
    ----------
    strata : int array, shape (T, N)
        Stratum code of patient i (enrollment order) in simulated trial t. When every row is the
        same (the observed accrual re-randomized; a broadcast view is fine and saves the copy),
        permuted blocks are drawn block by block for all patients at once; otherwise patient by
        patient.
    levels : int array, shape (T, N, F), optional
        For minimization: the level code of each of F factors.

    Returns
    -------
    arms : int8 array (T, N)
        Index into ``protocol.ratio`` (dose order) of the arm each patient receives; except for
        minimization, patient-major in memory (the transpose of a C-ordered (N, T) array), so a
        patient's column and a running count over patients are contiguous.
    open_block : bool array (T, n_strata)
        True where the stratum ended inside an incomplete block (always False without blocks).
    """
    shares = np.asarray(list(protocol.ratio.values()), dtype=np.int64)
    T, N = strata.shape
    if scheme.algorithm == "complete":
        return _complete_arms(shares, T, N, rng), np.zeros((T, n_strata), dtype=bool)
    if scheme.algorithm == "minimization":
        from .minimization import _minimize_arrays

        return _minimize_arrays(protocol, scheme, levels, n_levels, rng), np.zeros((T, n_strata), dtype=bool)
    sizes = _block_sizes(protocol, scheme)
    base = shares // np.gcd.reduce(shares)
    codes = _fixed_codes(strata) if N else None
    table = _block_table(base, sizes) if codes is not None else None
    if table is not None:
        return _blocks_fixed_strata(codes, T, n_strata, int(base.sum()), rng, table)
    return _blocks_by_patient(strata, n_strata, base, sizes, rng)


def _blocks_by_patient(strata: np.ndarray, n_strata: int, base: np.ndarray, sizes: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Permuted blocks patient by patient, all trials together (strata that differ between trials).

    Drawing each arm in proportion to what is left in the current block (an urn without
    replacement) gives exactly a uniformly random permutation of the block.
    """
    n_arms = len(base)
    m = int(base.sum())
    T, N = strata.shape
    # one flat "remaining in the current block" counter per (trial, stratum) and arm
    remaining = [np.zeros(T * n_strata, dtype=np.int16) for _ in range(n_arms)]
    arms = np.empty((N, T), dtype=np.int8)
    # (N, T), row i contiguous; int32 when every (trial, stratum) counter fits (half the memory of int64)
    itype = np.int32 if T * n_strata < 2**31 - 1 else np.int64
    index = (strata.astype(itype, copy=False) + (np.arange(T, dtype=itype) * itype(n_strata))[:, None]).T.copy()
    uniform = rng.random((N, T))
    for i in range(N):
        idx = index[i]
        rem = [r[idx] for r in remaining]
        left = rem[0] + rem[1] if n_arms == 2 else np.sum(rem, axis=0)
        empty = np.flatnonzero(left == 0)
        if len(empty):
            b = sizes[rng.integers(len(sizes), size=len(empty))] // m
            for k in range(n_arms):
                rem[k][empty] = base[k] * b
            left[empty] = m * b
        u = uniform[i] * left
        a = np.zeros(T, dtype=np.int8)
        c = rem[0].astype(np.float64)
        for k in range(1, n_arms):
            a += u >= c
            c += rem[k]
        for k in range(n_arms):
            rem[k] -= a == k
            remaining[k][idx] = rem[k]
        arms[i] = a
    arms = arms.T  # (T, N), patient-major in memory
    open_block = (np.sum(remaining, axis=0) > 0).reshape(T, n_strata)
    return arms, open_block


@dataclass(frozen=True)
class DesignSimulation(Result):
    """Result of :func:`simulate_design`.

    Imbalance is the experimental arm's count minus its planned share of the patients,
    ``D = N_exp − p_exp · n`` (``p_exp`` = 2/3 for 2:1); for more than two arms, the largest
    ``|N_k − p_k n|`` over arms.

    Attributes
    ----------
    summary : DataFrame
        One row per scheme: ``scheme, n_patients, n_trials, mean_abs_final, median_abs_final,
        p95_abs_final, share_final_ge_3, mean_abs_max, p95_abs_max, mean_abs_stratum,
        n_strata_used, share_strata_incomplete``.
    trials : DataFrame
        One row per scheme and trial: ``scheme, trial, final_imbalance, abs_final, abs_max,
        n_strata_used, n_strata_incomplete``.
    strata : DataFrame
        One row per scheme and stratum of the scheme: ``scheme, stratum, mean_n,
        mean_abs_imbalance, p95_abs_imbalance`` (final), ``mean_abs_max, p95_abs_max`` (largest
        |N_exp − p_exp·n| within the stratum during enrollment; over the trials in which the stratum
        has patients) and ``share_incomplete``.
    band : DataFrame
        Pointwise quantiles of ``D(j)`` over enrollment order: ``scheme, j, lower, median, upper``.
    """

    summary: pd.DataFrame
    trials: pd.DataFrame = field(repr=False)
    strata: pd.DataFrame = field(repr=False)
    band: pd.DataFrame = field(repr=False)
    protocol_id: str = ""
    experimental_arm: str = ""
    n_trials: int = 0
    seed: int = 0
    conf_level: float = 0.95

    analysis: ClassVar[str] = "simulate_design"
    part_keys: ClassVar[dict] = {"summary": ("scheme",), "strata": ("scheme", "stratum"),
                                 "band": ("scheme", "j"), "trials": ("scheme", "trial")}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "strata": self.strata, "band": self.band, "trials": self.trials}

    def settings(self) -> dict:
        return {"protocol": self.protocol_id, "experimental_arm": self.experimental_arm,
                "n_trials": self.n_trials, "seed": self.seed, "conf_level": self.conf_level}

    def title(self) -> str:
        return (f"Design simulation — protocol {self.protocol_id}, {self.n_trials:,} trials per scheme, seed "
                f"{self.seed}. Imbalance = N({self.experimental_arm}) − planned share × n")

    def html_parts(self):
        return [("", self.summary), ("by stratum", self.strata)]

    def figure(self, **kwargs):
        """The design-simulation plot (:func:`trialkit.plot_design_simulation`)."""
        from ..plots.randomization import plot_design_simulation

        return plot_design_simulation(self, **kwargs)


def _accrual_frame(accrual, protocol: Protocol, n_patients, factor_probs, rng, n_trials, needed):
    """Return (fixed_frame or None, per-trial generator of frames as arrays)."""
    if is_study(accrual):
        accrual = accrual.randomization
    if isinstance(accrual, pd.DataFrame):
        if not len(accrual):
            raise SimulationError("the accrual frame has no rows; give one row per patient in enrollment order.")
        df = accrual
        if "randomization_date" in df:
            df = df.sort_values("randomization_date", kind="stable")
        if n_patients is not None and n_patients != len(df):
            raise SimulationError(f"n_patients={n_patients} but the accrual frame has {len(df)} rows; "
                                  "omit n_patients for a fixed accrual sequence.")
        return df.reset_index(drop=True), None
    # random accrual from site weights
    if isinstance(accrual, dict):
        accrual = pd.Series(accrual, dtype=float)
    if not isinstance(accrual, pd.Series):
        raise SimulationError("accrual must be a Study, a DataFrame (one row per patient in enrollment order) or a "
                              f"Series of site weights indexed by site_id; got {type(accrual).__name__}.")
    if n_patients is None or n_patients < 1:
        raise SimulationError("with site weights as accrual, give n_patients (e.g. the planned enrollment).")
    w = accrual.astype(float)
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise SimulationError("site weights must be non-negative, finite and not all zero.")
    return None, w / w.sum()


def _draw(rng: np.random.Generator, weights: np.ndarray, shape) -> np.ndarray:
    """Categorical draws with the given weights (inverse CDF; much faster than Generator.choice with p)."""
    if np.all(weights == weights[0]):
        return rng.integers(0, len(weights), size=shape, dtype=np.int32)
    cdf = np.cumsum(weights / weights.sum())
    idx = np.searchsorted(cdf, rng.random(shape), side="right")
    return np.minimum(idx, len(weights) - 1).astype(np.int32)


def _random_strata(weights: pd.Series, protocol: Protocol, factors, n_trials, n_patients, rng, factor_probs):
    """Draw (T, N) level codes for every factor; return dict factor -> (codes, labels)."""
    sites = protocol.site_table().set_index("site_id")
    out = {}
    if not set(factors) & {"site_id", "country", "region"}:
        site_idx = None  # no scheme uses the site: do not spend time drawing it
    else:
        site_idx = _draw(rng, weights.to_numpy(), (n_trials, n_patients))
    site_ids = weights.index.astype(str).to_numpy()
    if site_idx is not None:
        out["site_id"] = (site_idx, list(site_ids))
    for col in ("country", "region"):
        if col in factors:
            if not set(site_ids) <= set(sites.index):
                raise SimulationError(f"cannot derive {col} for sites not in protocol {protocol.id}; "
                                      "pass a fixed accrual frame with that column instead.")
            vals = sites.loc[site_ids, col].astype("string").fillna("(missing)").to_numpy()
            codes, labels = pd.factorize(vals)
            out[col] = (codes[site_idx], list(labels))
    pf = {f.name: f.levels for f in protocol.stratification}
    factor_probs = factor_probs or {}
    for name in factors:
        if name in out:
            continue
        if name in factor_probs:
            probs = pd.Series(factor_probs[name], dtype=float)
        elif name in pf:
            probs = pd.Series(1.0, index=list(pf[name]))
        else:
            raise SimulationError(f"factor {name!r} is neither site_id/country/region nor a protocol factor; give "
                                  f"its level probabilities with factor_probs={{{name!r}: {{level: p}}}}.")
        out[name] = (_draw(rng, probs.to_numpy(), (n_trials, n_patients)), [str(x) for x in probs.index])
    return out


def _combine(codes: dict, factors, shape) -> tuple[np.ndarray, list[str]]:
    if not factors:
        return np.zeros(shape, dtype=np.int64), ["all"]
    S = np.zeros(codes[factors[0]][0].shape, dtype=np.int32)
    labels = [""]
    for f in factors:
        c, lab = codes[f]
        S = S * len(lab) + c
        labels = [f"{a} / {b}" if a else b for a in labels for b in lab]
    return S, labels


def row_quantiles(values: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """``np.quantile(values, qs, axis=1)`` (linear interpolation) for rows of integers in a narrow range.

    16-bit or narrower integers are sorted row by row with numpy's radix sort; wider ones get one
    histogram per row (a single ``bincount`` over the values less their row's minimum): the k-th
    order statistic of a row is its minimum plus the number of values whose cumulative count is at
    most k. Returns (len(qs), rows) floats.
    """
    R, T = values.shape
    out = np.empty((len(qs), R))
    if values.dtype.itemsize <= 2:  # 8- and 16-bit integers: numpy's stable sort is a radix sort, O(T)
        ordered = np.sort(values, axis=1, kind="stable")
        for r, q in enumerate(qs):
            h = q * (T - 1)
            k, frac = int(np.floor(h)), h - np.floor(h)
            v_lo = ordered[:, k].astype(np.int64)
            v_hi = ordered[:, min(k + 1, T - 1)].astype(np.int64)
            out[r] = v_lo + frac * (v_hi - v_lo)
        return out
    lo = values.min(axis=1).astype(np.int64)
    d = values - lo[:, None]
    V = int(d.max()) + 1
    hist = np.bincount((np.arange(R)[:, None] * V + d).ravel(), minlength=R * V).reshape(R, V)
    cdf = np.cumsum(hist, axis=1)
    for r, q in enumerate(qs):
        h = q * (T - 1)
        k, frac = int(np.floor(h)), h - np.floor(h)
        v_lo = lo + (cdf <= k).sum(axis=1)
        v_hi = lo + (cdf <= min(k + 1, T - 1)).sum(axis=1)
        out[r] = v_lo + frac * (v_hi - v_lo)
    return out


def column_quantiles(counts: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """``np.quantile(counts, qs, axis=0)`` (linear interpolation) for integers in a narrow range
    (:func:`row_quantiles` of the transpose)."""
    return row_quantiles(counts.T, qs)


def running_count_quantiles(arms: np.ndarray, arm: int, qs: Sequence[float]) -> np.ndarray:
    """Quantiles over simulations of how many of the first j patients got ``arm``, for every j.

    ``arms`` is the (simulations x patients) matrix of :func:`simulate_arms`. The running counts are
    built a chunk of patients at a time (never the whole (T, N) matrix of counts) and their
    quantiles taken by :func:`row_quantiles`: the same numbers as ``np.quantile(np.cumsum(arms ==
    arm, axis=1), qs, axis=0)``. Returns (len(qs), N).
    """
    pm = np.ascontiguousarray(arms.T)  # patients x simulations: a view for the engines' results
    N, T = pm.shape
    out = np.empty((len(qs), N))
    ctype = np.int16 if N < 2**15 else np.int32  # a count never exceeds N
    running = np.zeros(T, dtype=ctype)
    rows = _rows_per_chunk(N, T)
    for j0 in range(0, N, rows):
        block = np.cumsum(pm[j0:j0 + rows] == arm, axis=0, dtype=ctype)
        block += running
        running = block[-1].copy()
        out[:, j0:j0 + len(block)] = row_quantiles(block, qs)
    return out


def _stratum_running_max(arms: np.ndarray, S: np.ndarray, n_strata: int, exp_idx: int, p_exp: float) -> np.ndarray:
    """Largest |N_exp − p_exp·n| reached within each (trial, stratum) over enrollment: (T, n_strata)."""
    T, N = arms.shape
    if n_strata == 1:  # one stratum: the overall running maximum
        path = np.cumsum(arms == exp_idx, axis=1) - p_exp * np.arange(1, N + 1)
        return np.abs(path).max(axis=1)[:, None]
    index = (S + (np.arange(T) * n_strata)[:, None]).T.copy()
    step = (arms == exp_idx).T - p_exp  # (N, T): +1/3 for InO, -2/3 for ALLR3
    dev = np.zeros(T * n_strata)
    worst = np.zeros(T * n_strata)
    for i in range(N):  # one vectorized step per patient; indices are distinct within a step
        idx = index[i]
        d = dev[idx] + step[i]
        dev[idx] = d
        worst[idx] = np.maximum(worst[idx], np.abs(d))
    worst = np.round(worst, 9)  # the running sums of ±p carry rounding error
    return worst.reshape(T, n_strata)


def simulate_design(data, *, protocol: str | Protocol | None = None,
                    schemes: str | Scheme | Sequence[str | Scheme] | None = None,
                    n_patients: int | None = None, n_trials: int = 10_000, seed: int = 0,
                    factor_probs: dict | None = None, conf_level: float = 0.95) -> DesignSimulation:
    """Simulate many trials under one or more randomization schemes and summarize the imbalance.

    Parameters
    ----------
    data : Study, DataFrame or Series
        The accrual. *Fixed* accrual: a Study (its randomization table) or a frame with one row per patient in
        enrollment order (sorted by ``randomization_date`` when present) and a column per factor the
        schemes use; the same patients and order are re-randomized in every simulated trial.
        *Random* accrual: a Series of site weights indexed by ``site_id`` (e.g. expected patients per
        site); each simulated trial draws ``n_patients`` sites from it, and every other factor from
        ``factor_probs`` (default: the protocol factor's levels, equally likely).
    protocol : str or Protocol
        Where the ratio comes from; defaults to the Study's protocol.
    schemes : scheme, str or list of them
        Default: the protocol's own scheme. Strings: ``"complete"``, ``"blocks"``,
        ``"blocks by site_id"``, ``"blocks by site_id+age_group"``, ``"minimization by a+b"``.
    n_patients : int, optional
        Patients per trial for random accrual (default: the protocol's planned enrollment).
    n_trials : int
        Simulated trials per scheme (default 10,000).
    seed : int
    factor_probs : dict, optional
        ``{factor: {level: probability}}`` for random accrual.
    conf_level : float
        Coverage of the band of ``D(j)`` (default 0.95).

    Returns
    -------
    DesignSimulation

    Examples
    --------
    >>> import pandas as pd, trialkit as tk
    >>> p = tk.get_protocol("b1931036")
    >>> w = pd.Series(1.0, index=p.site_table()["site_id"])
    >>> sim = tk.simulate_design(w, protocol=p, n_patients=100, n_trials=2000,
    ...                          schemes=["complete", "blocks", "blocks by site_id"])
    >>> sim.summary[["scheme", "median_abs_final"]].shape
    (3, 2)
    """
    accrual = data
    if protocol is None:
        if not is_study(accrual):
            raise SimulationError("give protocol=... (the ratio is read from the protocol) or pass a Study.")
        protocol = accrual.protocol
    if not 0 < conf_level < 1:
        raise SimulationError(f"conf_level must lie strictly between 0 and 1 (e.g. 0.95), not {conf_level!r}")
    protocol = get_protocol(protocol)
    if not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise SimulationError(f"n_trials must be a positive integer, got {n_trials!r}.")
    if schemes is None:
        schemes = [protocol_scheme(protocol)]
    elif isinstance(schemes, str | Scheme):
        schemes = [schemes]
    schemes = [Scheme.parse(s) for s in schemes]
    if n_patients is None and not isinstance(accrual, pd.DataFrame) and not is_study(accrual):
        n_patients = protocol.planned_enrollment
    rng = np.random.default_rng(seed)
    needed = sorted({f for s in schemes for f in s.strata})
    fixed, weights = _accrual_frame(accrual, protocol, n_patients, factor_probs, rng, n_trials, needed)
    shares = np.asarray(list(protocol.ratio.values()), dtype=float)
    p = shares / shares.sum()
    codes_arms = list(protocol.ratio)
    exp_idx = codes_arms.index(protocol.experimental_arm)
    random_codes = None
    if fixed is None:
        random_codes = _random_strata(weights, protocol, needed, n_trials, int(n_patients), rng, factor_probs)
    N = len(fixed) if fixed is not None else int(n_patients)
    alpha = (1 - conf_level) / 2
    summaries, trials, strata_rows, bands = [], [], [], []
    for scheme in schemes:
        if fixed is not None:
            s1, labels = stratum_codes(fixed, scheme.strata)
            S = np.broadcast_to(s1, (n_trials, N))
            lv, nlv = None, []
            if scheme.algorithm == "minimization":
                per = [stratum_codes(fixed, [f]) for f in scheme.strata]
                lv = np.broadcast_to(np.stack([c for c, _ in per], axis=-1), (n_trials, N, len(per)))
                nlv = [len(lab) for _, lab in per]
        else:
            S, labels = _combine(random_codes, list(scheme.strata), (n_trials, N))
            lv, nlv = None, []
            if scheme.algorithm == "minimization" and scheme.strata:
                lv = np.stack([random_codes[f][0] for f in scheme.strata], axis=-1)
                nlv = [len(random_codes[f][1]) for f in scheme.strata]
        if scheme.algorithm == "minimization" and not scheme.strata:
            raise SimulationError("minimization needs at least one factor: use e.g. 'minimization by age_group'.")
        nS = len(labels)
        arms, open_block = simulate_arms(protocol, scheme, S, n_strata=nS, rng=rng,
                                         levels=lv, n_levels=nlv)
        j = np.arange(1, N + 1)
        n_exp_path = np.cumsum(arms == exp_idx, axis=1, dtype=np.int32)  # (T, N)
        path = n_exp_path - j[None, :] * p[exp_idx]
        if len(shares) == 2:  # both arms deviate by the same amount
            absmax = np.abs(path).max(axis=1)
            final = np.stack([-path[:, -1], path[:, -1]], axis=1) if exp_idx == 1 else np.stack(
                [path[:, -1], -path[:, -1]], axis=1)
        else:
            onehot = arms[..., None] == np.arange(len(shares), dtype=np.int8)  # (T, N, K)
            dev = np.cumsum(onehot, axis=1, dtype=np.int32) - j[None, :, None] * p[None, None, :]
            absmax = np.abs(dev).max(axis=2).max(axis=1)
            final = dev[:, -1, :]
        abs_final = np.abs(final).max(axis=1)
        # per stratum: counts by (trial, stratum, arm)
        flat = (np.arange(n_trials)[:, None] * nS + S) * len(shares) + arms
        cnt = np.bincount(flat.ravel(), minlength=n_trials * nS * len(shares)).reshape(n_trials, nS, len(shares))
        n_s = cnt.sum(axis=2)
        d_s = np.abs(cnt - n_s[..., None] * p[None, None, :]).max(axis=2)
        used = n_s > 0
        m_s = _stratum_running_max(arms, S, nS, exp_idx, p[exp_idx])
        n_used = used.sum(axis=1)
        n_open = (open_block & used).sum(axis=1)
        lab = scheme.label
        summaries.append({
            "scheme": lab, "n_patients": N, "n_trials": n_trials,
            "mean_abs_final": abs_final.mean(), "median_abs_final": float(np.median(abs_final)),
            "p95_abs_final": float(np.quantile(abs_final, 0.95)),
            "share_final_ge_3": float((abs_final >= 3 - 1e-9).mean()),
            "mean_abs_max": absmax.mean(), "p95_abs_max": float(np.quantile(absmax, 0.95)),
            "mean_abs_stratum": float((d_s * used).sum() / used.sum()),
            "n_strata_used": float(n_used.mean()),
            "share_strata_incomplete": float((n_open / np.maximum(n_used, 1)).mean()),
        })
        trials.append(pd.DataFrame({"scheme": lab, "trial": np.arange(n_trials), "final_imbalance": final[:, exp_idx],
                                    "abs_final": abs_final, "abs_max": absmax, "n_strata_used": n_used,
                                    "n_strata_incomplete": n_open}))
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            masked = np.where(used, d_s, np.nan)
            masked_max = np.where(used, m_s, np.nan)
            strata_rows.append(pd.DataFrame({
                "scheme": lab, "stratum": labels, "mean_n": n_s.mean(axis=0),
                "mean_abs_imbalance": np.nanmean(masked, axis=0) if used.any() else np.nan,
                "p95_abs_imbalance": np.nanquantile(masked, 0.95, axis=0),
                "mean_abs_max": np.nanmean(masked_max, axis=0) if used.any() else np.nan,
                "p95_abs_max": np.nanquantile(masked_max, 0.95, axis=0),
                "share_incomplete": (open_block & used).sum(axis=0) / np.maximum(used.sum(axis=0), 1)}))
        q = column_quantiles(n_exp_path, [alpha, 0.5, 1 - alpha]) - j[None, :] * p[exp_idx]
        bands.append(pd.DataFrame({"scheme": lab, "j": j, "lower": q[0], "median": q[1], "upper": q[2]}))
    strata_df = pd.concat(strata_rows, ignore_index=True)
    return DesignSimulation(summary=pd.DataFrame(summaries), trials=pd.concat(trials, ignore_index=True),
                            strata=strata_df, band=pd.concat(bands, ignore_index=True), protocol_id=protocol.id,
                            experimental_arm=protocol.experimental_arm, n_trials=int(n_trials), seed=int(seed),
                            conf_level=conf_level)
