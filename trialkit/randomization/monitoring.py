"""Allocation monitoring: is the trial holding its planned ratio, overall and where it matters?

Two reference distributions are reported side by side and must not be confused:

``p_binomial``
    Exact two-sided binomial test of the experimental arm's count against the planned proportion
    (scipy.stats.binomtest). It is the right reference for *complete* randomization; under permuted
    blocks the counts are far tighter than binomial, so this p-value is conservative (rarely small
    even when something is wrong).
``p_scheme``
    Monte Carlo p-value from re-randomizing the same patients, in the same enrollment order and
    strata, with the protocol's actual scheme (e.g. 2:1 permuted blocks of 3 or 6 stratified by
    the protocol factors): ``(1 + #{|D_sim| ≥ |D_obs|}) / (1 + n_sim)``. A small value means the
    observed split is unusual *for this scheme* — the signal of an allocation error.

Groups with too few patients for either test to reach ``1 - conf_level`` even at the most extreme split are
flagged ``too small to test`` and get no p-value: a one-patient site is always "2:1 violated".

When the protocol does not state its randomization method, the scheme behind ``p_scheme`` is an
assumption (permuted blocks over the whole trial): the result says so next to the p-value
(``p_scheme_basis``) and flags groups on the exact test instead (``flag_on``, ``flagged``). With
three or more arms an omnibus test of the whole split against the planned ratio is added (part
``omnibus``): the exact multinomial test (probabilities of all splits at most as likely as the one
observed, summed), Pearson's χ² goodness of fit, and the same χ² referred to the scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import numpy as np
import pandas as pd

from ..analysis_set import group_order, is_study, stratum_codes, with_site_columns
from ..errors import AllocationError
from ..protocols import Protocol, get_protocol
from ..results import Result
from .simulate import Scheme, protocol_scheme, running_count_quantiles, simulate_arms

__all__ = ["AllocationSummary", "CumulativeAllocation", "allocation_summary", "cumulative_allocation",
           "allocation_over_time", "min_attainable_p", "exact_multinomial_test"]

#: splits to enumerate at most for the exact multinomial test before falling back to Monte Carlo
MAX_EXACT_SPLITS = 3_000_000


def _check_conf_level(conf_level: float) -> None:
    if not 0 < conf_level < 1:
        raise AllocationError(f"conf_level must lie strictly between 0 and 1 (e.g. 0.95), not {conf_level!r}")


def _unpack(data, protocol) -> tuple[pd.DataFrame, Protocol]:
    """(randomization frame with country/region joined from sites, protocol)."""
    if is_study(data):
        rnd = data.randomization
        protocol = protocol or data.protocol
        sites = data.sites
    elif isinstance(data, pd.DataFrame):
        rnd, sites = data, None
        if protocol is None:
            raise AllocationError("a bare frame needs protocol=... (the planned ratio is read from the protocol).")
    else:
        raise AllocationError(f"expected a Study or the randomization frame, got {type(data).__name__}.")
    protocol = get_protocol(protocol)
    missing = [c for c in ("subject_id", "arm") if c not in rnd]
    if missing:
        raise AllocationError(f"the randomization table lacks column(s) {missing}; it needs subject_id and arm "
                              "(see trialkit.model.RANDOMIZATION).")
    unknown = sorted(set(rnd["arm"].dropna().astype(str)) - set(protocol.arm_codes))
    if unknown:
        raise AllocationError(f"arm code(s) {unknown} are not arms of protocol {protocol.id} "
                              f"({', '.join(protocol.arm_codes)}); map them to the protocol's codes first.")
    if rnd["arm"].isna().any():
        raise AllocationError(f"{int(rnd['arm'].isna().sum())} randomized subject(s) have no arm; fill `arm` "
                              "(the randomized arm) before monitoring the allocation.")
    if sites is not None:
        rnd = with_site_columns(rnd, data, ("country", "region"))
    if "randomization_date" in rnd:
        rnd = rnd.sort_values("randomization_date", kind="stable")
    return rnd.reset_index(drop=True), protocol


def _scheme_for(rnd: pd.DataFrame, protocol: Protocol, scheme) -> Scheme:
    sch = Scheme.parse(scheme) if scheme is not None else protocol_scheme(protocol)
    missing = [f for f in sch.strata if f not in rnd]
    if missing and scheme is None and "stratum" in rnd:
        # the protocol factors are not separate columns; the stratum label carries their combination
        sch = Scheme(sch.algorithm, strata=("stratum",), block_sizes=sch.block_sizes,
                     label=sch.label + " (via `stratum`)")
    elif missing:
        raise AllocationError(f"the scheme stratifies by {missing}, which are not columns of the randomization "
                              "table; add them or pass scheme=... with available columns.")
    return sch


#: the last simulation (allocation_summary and cumulative_allocation of one study re-randomize the same
#: patients with the same scheme, simulations and seed: the second reuses the first's matrix)
_LAST_SIMULATION: dict = {}


def _simulate_counts(rnd: pd.DataFrame, protocol: Protocol, scheme: Scheme, n_sim: int, seed: int):
    """(T, N) arm indices under the scheme, re-randomizing the observed accrual sequence (read-only).

    The same patients (their stratum codes, in order), protocol, scheme, simulations and seed give the
    same matrix, so the last one is kept and returned again.
    """
    import hashlib

    s1, labels = stratum_codes(rnd, scheme.strata)
    codes = np.asarray(s1, dtype=np.int64)
    parts = [codes.tobytes()] + ([np.asarray(stratum_codes(rnd, [f])[0], dtype=np.int64).tobytes()
                                  for f in scheme.strata] if scheme.algorithm == "minimization" else [])
    key = (hashlib.sha1(b"|".join(parts)).hexdigest(), len(labels), protocol.id, tuple(protocol.ratio.items()),
           repr(scheme), int(n_sim), seed)
    cacheable = isinstance(seed, int | np.integer)  # a Generator as seed moves on: never reuse its draws
    hit = _LAST_SIMULATION.get(key) if cacheable else None
    if hit is not None:
        return hit
    arms = _simulate_fresh(rnd, protocol, scheme, n_sim, seed, s1, labels)
    if not cacheable:
        return arms
    arms.flags.writeable = False
    _LAST_SIMULATION.clear()
    _LAST_SIMULATION[key] = arms
    return arms


def _simulate_fresh(rnd, protocol, scheme, n_sim, seed, s1, labels):
    rng = np.random.default_rng(seed)
    # every simulation re-randomizes the same patients: one row of stratum codes, broadcast (not copied)
    S = np.broadcast_to(np.asarray(s1, dtype=np.int32), (n_sim, len(rnd)))
    lv, nlv = None, []
    if scheme.algorithm == "minimization":
        per = [stratum_codes(rnd, [f]) for f in scheme.strata]
        lv = np.broadcast_to(np.stack([c for c, _ in per], axis=-1), (n_sim, len(rnd), len(per)))
        nlv = [len(lab) for _, lab in per]
    arms, _ = simulate_arms(protocol, scheme, S, n_strata=len(labels), rng=rng, levels=lv, n_levels=nlv)
    return arms


@lru_cache(maxsize=4096)
def min_attainable_p(n: int, p: float) -> float:
    """Smallest two-sided exact binomial p-value reachable with ``n`` patients at proportion ``p``."""
    from scipy.stats import binomtest

    if n < 1:
        return 1.0
    return float(min(binomtest(k, n, p).pvalue for k in (0, n)))


def _compositions(n: int, k: int) -> np.ndarray:
    """Every split of n subjects into k arms (rows sum to n)."""
    if k == 1:
        return np.array([[n]])
    rows = [np.column_stack([np.full(len(rest), first), rest])
            for first in range(n + 1) for rest in (_compositions(n - first, k - 1),)]
    return np.vstack(rows)


def _n_compositions(n: int, k: int) -> int:
    from math import comb

    return comb(n + k - 1, k - 1)


def exact_multinomial_test(counts, probs, *, n_sim: int = 100_000, seed: int = 0) -> tuple[float, str]:
    """Exact multinomial goodness-of-fit p-value and how it was computed.

    The p-value is the total probability, under the planned proportions, of every split at most as
    likely as the observed one (the "probability" ordering of R's ``EMT::multinomial.test``, which
    for two arms is the two-sided exact binomial test of ``scipy.stats.binomtest``). Splits are
    enumerated while there are at most :data:`MAX_EXACT_SPLITS` of them; beyond, the p-value is a
    Monte Carlo estimate from ``n_sim`` multinomial draws (said in the returned method).
    """
    from scipy.special import gammaln

    counts = np.asarray(counts, dtype=int)
    probs = np.asarray(probs, dtype=float)
    n, k = int(counts.sum()), len(counts)
    logp = np.log(probs)

    def logpmf(x):
        return gammaln(n + 1) - gammaln(x + 1).sum(axis=-1) + (x * logp).sum(axis=-1)

    obs = logpmf(counts)
    tol = 1e-7  # relative tolerance on ties of probability, as binomtest
    if _n_compositions(n, k) <= MAX_EXACT_SPLITS:
        lp = logpmf(_compositions(n, k))
        return float(np.exp(lp[lp <= obs + np.log1p(tol)]).sum()), "exact (all splits enumerated)"
    rng = np.random.default_rng(seed)
    sims = rng.multinomial(n, probs, size=n_sim)
    hits = np.sum(logpmf(sims) <= obs + np.log1p(tol))
    return float((1 + hits) / (1 + n_sim)), f"Monte Carlo ({n_sim:,} draws; too many splits to enumerate)"


@dataclass(frozen=True)
class AllocationSummary(Result):
    """Result of :func:`allocation_summary`.

    Attributes
    ----------
    summary : DataFrame
        One row per level, group and tested arm: ``level, group, n, n_<arm>… (dose order), arm,
        prop, planned_prop, expected, difference, p_binomial, scheme_low, scheme_high, p_scheme,
        testable, p_scheme_basis, flag_on, flagged, note``. With two arms only the experimental arm
        is tested (the other mirrors it); with more, every arm is. ``scheme_low``–``scheme_high`` is
        the central 95 % range of the arm's count under the protocol's scheme. ``p_scheme_basis``
        says whether that scheme is the protocol's or an assumption; ``flagged`` is set when the
        p-value named in ``flag_on`` (``p_scheme`` for a stated scheme, the exact ``p_binomial``
        when the scheme is assumed) is below 1 − conf_level.
    omnibus : DataFrame
        With three or more arms, one row per level and group: ``level, group, n, chi2, df,
        p_chisq`` (Pearson goodness of fit), ``p_multinomial`` (exact multinomial test),
        ``multinomial_method``, ``p_scheme`` (the χ² referred to re-randomizations with the scheme),
        ``testable, flag_on, flagged, note``. Empty with two arms (the binomial test is the omnibus).
    """

    summary: pd.DataFrame
    protocol_id: str
    experimental_arm: str
    planned_prop: float
    scheme: str
    n_sim: int
    conf_level: float
    seed: int = 0
    omnibus: pd.DataFrame = field(default_factory=pd.DataFrame)
    scheme_stated: bool = True

    analysis: ClassVar[str] = "allocation_summary"

    @property
    def notes(self) -> tuple[str, ...]:
        if self.scheme_stated:
            return ()
        assumed = self.scheme.removeprefix("assumed: ").replace(" (the protocol states no method)", "")
        return (f"the protocol states no randomization method: p_scheme assumes {assumed} and is shown for "
                "information only; groups are flagged on the exact tests",)

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "omnibus": self.omnibus}

    def settings(self) -> dict:
        return {"protocol": self.protocol_id, "experimental_arm": self.experimental_arm,
                "planned_prop": self.planned_prop, "scheme": self.scheme, "scheme_stated": self.scheme_stated,
                "n_sim": self.n_sim, "conf_level": self.conf_level, "seed": self.seed}

    def title(self) -> str:
        return f"Allocation vs plan ({self.protocol_id})"

    def html_parts(self):
        parts = [(self.caption, self.display_frame())]
        if len(self.omnibus):
            parts.append(("omnibus test of the whole split against the planned ratio", self.omnibus))
        return parts

    @property
    def caption(self) -> str:
        e = self.experimental_arm
        return (f"Allocation vs plan ({self.protocol_id}): planned share of {e} = {self.planned_prop:.3f} "
                f"(with more than two arms every arm is tested against its own planned share). "
                f"p_binomial: exact binomial test vs the planned share (reference: complete randomization). "
                f"p_scheme: Monte Carlo p-value from {self.n_sim:,} re-randomizations of the same patients "
                f"with the protocol's scheme ({self.scheme}, seed {self.seed}). Groups too small for any test to "
                f"reach p < {1 - self.conf_level:.2g} are flagged and get no p-value."
                + ("" if self.scheme_stated else " The protocol states no randomization method, so the scheme "
                   "is an assumption: p_scheme is marked 'assumed' and not used to flag; groups are flagged on "
                   "the exact tests."))

    def display_frame(self, levels: Sequence[str] | None = None) -> pd.DataFrame:
        """A compact, formatted view: one row per group, counts as ``a / b``, ranges as ``lo–hi``."""
        t = self.summary if levels is None else self.summary[self.summary["level"].isin(levels)]
        arms = [c[2:] for c in t.columns if c.startswith("n_")]

        def p(v):
            return "" if pd.isna(v) else ("<0.001" if v < 0.001 else f"{v:.3f}")

        out = pd.DataFrame({
            "level": t["level"].to_numpy(), "group": t["group"].to_numpy(), "n": t["n"].to_numpy(),
            " / ".join(arms): [" / ".join(str(int(r[f"n_{a}"])) for a in arms) for _, r in t.iterrows()],
            "arm": t["arm"].to_numpy(),
            "share (planned)": [f"{v:.3f} ({q:.3f})" for v, q in zip(t["prop"], t["planned_prop"])],
            "expected": [f"{v:.1f}" for v in t["expected"]],
            "difference": [f"{v:+.2f}" for v in t["difference"]],
            "p_binomial": [p(v) for v in t["p_binomial"]],
            "scheme 95% range": [f"{lo:g}–{hi:g}" for lo, hi in zip(t["scheme_low"], t["scheme_high"])],
            "p_scheme": [p(v) + (" (assumed scheme)" if p(v) and not self.scheme_stated else "")
                         for v in t["p_scheme"]],
            "flagged": ["yes" if f else "" for f in t["flagged"]],
            "note": [n.replace("too small to test", "too small to test:") if n else "" for n in t["note"]],
        })
        if t["arm"].nunique() == 1:  # two arms: the tested arm is in the caption
            out = out.drop(columns="arm").rename(columns={"share (planned)": f"{t['arm'].iloc[0]} share (planned)",
                                                          "expected": f"expected {t['arm'].iloc[0]}"})
        return out


def allocation_summary(data, *, levels: Sequence[str] = ("overall", "stratum", "country", "site_id"),
                       protocol: str | Protocol | None = None, scheme: str | Scheme | None = None,
                       n_sim: int = 10_000, seed: int = 0, conf_level: float = 0.95) -> AllocationSummary:
    """Observed vs planned allocation, overall and by stratum, country and site.

    Parameters
    ----------
    data : Study or DataFrame
        A Study, or its randomization table (then give ``protocol``). ``country`` and ``region``
        are joined from the study's sites when the randomization table lacks them.
    levels : sequence of str
        Reporting levels: ``"overall"`` and any column (``stratum``, ``country``, ``site_id``, a
        stratification factor), each reported group by group. (Not ``by``: ``by`` names one grouping
        column everywhere in trialkit; this is a list of them.)
    scheme : Scheme or str, optional
        The reference scheme; default the protocol's own (``randomization.method``).
    n_sim : int
        Re-randomizations for ``p_scheme`` (default 10,000).
    conf_level : float, default 0.95
        A group's tests are reported only when it could reach p < 1 − conf_level.

    Returns
    -------
    AllocationSummary
        ``.summary`` (see the class) — one row per group, never dropping one.

    Examples
    --------
    >>> import trialkit as tk
    >>> res = tk.allocation_summary(tk.load_study("data/demo/b1931036"), n_sim=1000)
    >>> res.summary["level"].unique().tolist()
    ['overall', 'stratum', 'country', 'site_id']
    >>> bool(res.summary.query("level == 'site_id' and n == 1")["testable"].any())
    False
    """
    rnd, protocol = _unpack(data, protocol)
    if not len(rnd):
        raise AllocationError("no randomized subjects; allocation monitoring needs at least one.")
    _check_conf_level(conf_level)
    by = (levels,) if isinstance(levels, str) else tuple(levels)
    bad = [b for b in by if b != "overall" and b not in rnd]
    if bad:
        raise AllocationError(f"cannot group by {bad}: not columns of the randomization table (or the sites "
                              f"table for country/region). Available: {', '.join(map(str, rnd.columns))}.")
    arms = list(protocol.ratio)
    exp = protocol.experimental_arm
    sch = _scheme_for(rnd, protocol, scheme)
    stated = not (scheme is None and sch.label.startswith("assumed"))
    sim = _simulate_counts(rnd, protocol, sch, n_sim, seed)
    ctx = _Context(arms=arms, props=np.array([float(protocol.allocation_proportions[a]) for a in arms]),
                   arm_values=rnd["arm"].to_numpy(), sim=_patient_major(sim), n_sim=int(n_sim),
                   alpha=1 - conf_level, stated=stated, seed=seed)
    # two arms: test the experimental arm (the other is its mirror image); more arms: test each
    tested = [exp] if len(arms) == 2 else arms
    rows, omni = [], []
    for level, g, mask in _groups(rnd, by, protocol):
        counts = rnd.loc[mask, "arm"].value_counts()
        for arm in tested:
            rows.append({"level": level, "group": str(g), "n": int(mask.sum()),
                         **{f"n_{a}": int(counts.get(a, 0)) for a in arms}, **_arm_row(ctx, arm, mask)})
        if len(arms) >= 3:
            omni.append({"level": level, "group": str(g), **_omnibus_row(ctx, mask)})
    table = pd.DataFrame(rows)
    omnibus = pd.DataFrame(omni, columns=list(_OMNIBUS_COLUMNS))
    return AllocationSummary(summary=table, protocol_id=protocol.id, experimental_arm=exp,
                             planned_prop=float(protocol.allocation_proportions[exp]), scheme=sch.label,
                             n_sim=int(n_sim), conf_level=conf_level, seed=seed, omnibus=omnibus,
                             scheme_stated=stated)


_OMNIBUS_COLUMNS = ("level", "group", "n", "chi2", "df", "p_chisq", "p_multinomial", "multinomial_method",
                    "p_scheme", "testable", "flag_on", "flagged", "note")


def _patient_major(sim: np.ndarray) -> np.ndarray:
    """The (simulations x patients) matrix as (patients x simulations), C-ordered: a group of patients
    is a set of contiguous rows (the engines store it so; then this is a view, not a copy)."""
    return np.ascontiguousarray(sim.T)


def _count_of(pm: np.ndarray, mask: np.ndarray, arm: int) -> np.ndarray:
    """Per simulation, how many of the patients in ``mask`` got ``arm`` (``pm``: patients x simulations)."""
    rows = pm if mask.all() else pm[mask]
    return np.count_nonzero(rows == arm, axis=0)


@dataclass(frozen=True)
class _Context:
    arms: list
    props: np.ndarray
    arm_values: np.ndarray
    sim: np.ndarray  # patients x simulations
    n_sim: int
    alpha: float
    stated: bool
    seed: int


def _groups(rnd: pd.DataFrame, by, protocol):
    """(level, group, mask) for every reporting level and group, in protocol order."""
    for level in by:
        if level == "overall":
            yield level, "all", np.ones(len(rnd), dtype=bool)
            continue
        key = rnd[level].astype("string").fillna("(missing)")
        for g in group_order(key, protocol=protocol, column=level):
            yield level, g, (key == g).to_numpy()


def _arm_row(ctx: _Context, arm: str, mask: np.ndarray) -> dict:
    """The tests of one arm's count in one group."""
    from scipy.stats import binomtest

    n = int(mask.sum())
    p_arm = float(ctx.props[ctx.arms.index(arm)])
    k = int((ctx.arm_values[mask] == arm).sum())
    expected = n * p_arm
    d_obs = k - expected
    sim_k = _count_of(ctx.sim, mask, ctx.arms.index(arm))
    d_sim = sim_k - expected
    lo, hi = np.quantile(sim_k, [0.025, 0.975])
    min_p = min_attainable_p(n, p_arm)
    testable = min_p < ctx.alpha and np.ptp(d_sim) > 0
    flag_on = "p_scheme" if ctx.stated else "p_binomial"
    if testable:
        p_bin = float(binomtest(k, n, p_arm).pvalue)
        p_sch = float((1 + np.sum(np.abs(d_sim) >= abs(d_obs) - 1e-9)) / (1 + ctx.n_sim))
        note = "" if ctx.stated else "p_scheme under an assumed scheme (the protocol states none): not used to flag"
    else:
        p_bin = p_sch = np.nan
        note = (f"too small to test (smallest attainable p = {min_p:.2g})"
                if min_p >= ctx.alpha else "the scheme fixes this count (no variation to test)")
    flagged = bool(testable and (p_sch if ctx.stated else p_bin) < ctx.alpha)
    return {"arm": arm, "prop": k / n if n else np.nan, "planned_prop": p_arm, "expected": expected,
            "difference": d_obs, "p_binomial": p_bin, "scheme_low": float(lo), "scheme_high": float(hi),
            "p_scheme": p_sch, "testable": bool(testable),
            "p_scheme_basis": "protocol's scheme" if ctx.stated else "assumed scheme", "flag_on": flag_on,
            "flagged": flagged, "note": note}


def _omnibus_row(ctx: _Context, mask: np.ndarray) -> dict:
    """Exact multinomial and chi-square goodness of fit of one group's whole split (k >= 3 arms)."""
    from scipy.stats import chisquare

    n = int(mask.sum())
    counts = np.array([(ctx.arm_values[mask] == a).sum() for a in ctx.arms])
    expected = n * ctx.props
    min_p = min(min_attainable_p(n, float(p)) for p in ctx.props)
    row = {"n": n, "df": len(ctx.arms) - 1, "flag_on": "p_scheme" if ctx.stated else "p_multinomial"}
    if min_p >= ctx.alpha:
        return {**row, "chi2": np.nan, "p_chisq": np.nan, "p_multinomial": np.nan, "multinomial_method": "",
                "p_scheme": np.nan, "testable": False, "flagged": False,
                "note": f"too small to test (smallest attainable p = {min_p:.2g})"}
    chi2, p_chisq = chisquare(counts, expected)
    p_multi, method = exact_multinomial_test(counts, ctx.props, seed=ctx.seed)
    sim_counts = np.stack([_count_of(ctx.sim, mask, i) for i in range(len(ctx.arms))], axis=1)
    sim_chi2 = ((sim_counts - expected) ** 2 / expected).sum(axis=1)
    p_sch = float((1 + np.sum(sim_chi2 >= chi2 - 1e-9)) / (1 + ctx.n_sim))
    flagged = bool((p_sch if ctx.stated else p_multi) < ctx.alpha)
    note = "" if ctx.stated else "p_scheme under an assumed scheme (the protocol states none): not used to flag"
    return {**row, "chi2": float(chi2), "p_chisq": float(p_chisq), "p_multinomial": p_multi,
            "multinomial_method": method, "p_scheme": p_sch, "testable": True, "flagged": flagged, "note": note}


@dataclass(frozen=True)
class CumulativeAllocation(Result):
    """Result of :func:`cumulative_allocation`.

    Attributes
    ----------
    summary : DataFrame
        One row per randomized subject in enrollment order: ``j, subject_id, randomization_date,
        arm, n_<exp>, expected, deviation`` (``n_exp(j) − ρ·j``), ``scheme_lower, scheme_upper``
        (pointwise band from re-randomizing with the protocol scheme) and ``complete_lower,
        complete_upper`` (the same under complete randomization).
    """

    summary: pd.DataFrame
    protocol_id: str
    experimental_arm: str
    planned_prop: float
    scheme: str
    conf_level: float
    n_sim: int
    ties_note: str = ""
    seed: int = 0

    analysis: ClassVar[str] = "cumulative_allocation"
    part_keys: ClassVar[dict] = {"summary": ("j", "subject_id", "randomization_date", "arm")}

    @property
    def notes(self) -> tuple[str, ...]:
        return (self.ties_note,) if self.ties_note else ()

    def settings(self) -> dict:
        return {"protocol": self.protocol_id, "experimental_arm": self.experimental_arm,
                "planned_prop": self.planned_prop, "scheme": self.scheme, "conf_level": self.conf_level,
                "n_sim": self.n_sim, "seed": self.seed}

    def title(self) -> str:
        return (f"Cumulative allocation ({self.protocol_id}); {self.conf_level:.0%} bands from {self.n_sim:,} "
                f"simulations (seed {self.seed})")

    def html_parts(self):
        return [("last 20 subjects", self.summary.tail(20))]

    def figure(self, **kwargs):
        """The cumulative allocation plot (:func:`trialkit.plot_cumulative_allocation`)."""
        from ..plots.randomization import plot_cumulative_allocation

        return plot_cumulative_allocation(self, **kwargs)


def cumulative_allocation(data, *, protocol: str | Protocol | None = None, scheme: str | Scheme | None = None,
                          n_sim: int = 2000, seed: int = 0, conf_level: float = 0.95) -> CumulativeAllocation:
    """Cumulative experimental-arm count minus its planned share, ``N_exp(j) − ρ·j``, over enrollment.

    Subjects are ordered by ``randomization_date`` (ties keep the table's order; the note says how
    many days have ties). The bands are pointwise quantiles of the same curve over ``n_sim``
    re-randomizations of the observed accrual: one with the protocol's scheme, one with complete
    randomization.

    Returns
    -------
    CumulativeAllocation
    """
    rnd, protocol = _unpack(data, protocol)
    if not len(rnd):
        raise AllocationError("no randomized subjects; the cumulative allocation needs at least one.")
    _check_conf_level(conf_level)
    arms = list(protocol.ratio)
    exp = protocol.experimental_arm
    rho = float(protocol.allocation_proportions[exp])
    sch = _scheme_for(rnd, protocol, scheme)
    j = np.arange(1, len(rnd) + 1)
    n_exp = np.cumsum((rnd["arm"] == exp).to_numpy())
    alpha = (1 - conf_level) / 2
    out = pd.DataFrame({"j": j, "subject_id": rnd["subject_id"].to_numpy()})
    if "randomization_date" in rnd:
        out["randomization_date"] = rnd["randomization_date"].to_numpy()
    out["arm"] = rnd["arm"].to_numpy()
    out[f"n_{exp}"] = n_exp
    out["expected"] = rho * j
    out["deviation"] = n_exp - rho * j
    for name, s in (("scheme", sch), ("complete", Scheme("complete"))):
        sim = _simulate_counts(rnd, protocol, s, n_sim, seed)
        q = running_count_quantiles(sim, arms.index(exp), [alpha, 1 - alpha]) - rho * j[None, :]
        out[f"{name}_lower"], out[f"{name}_upper"] = q[0], q[1]
    note = ""
    if "randomization_date" in rnd:
        dup = rnd["randomization_date"].duplicated(keep=False)
        if dup.any():
            note = (f"{int(dup.sum())} subjects share a randomization date with another; within a day the "
                    "table's order is used.")
    return CumulativeAllocation(summary=out, protocol_id=protocol.id, experimental_arm=exp, planned_prop=rho,
                                scheme=sch.label, conf_level=conf_level, n_sim=n_sim, ties_note=note, seed=seed)


def allocation_over_time(data, *, by: str = "site_id", protocol: str | Protocol | None = None) -> pd.DataFrame:
    """Allocation by group over calendar time: one row per randomized subject, with running counts.

    Returns
    -------
    DataFrame
        ``randomization_date, <by>, subject_id, arm, k`` (the subject's rank within its group),
        ``n_<arm>`` cumulative counts within the group, ``prop_<exp>`` running share and
        ``expected_<exp>`` (``ρ·k``), sorted by date.
    """
    rnd, protocol = _unpack(data, protocol)
    if by not in rnd:
        raise AllocationError(f"cannot group by {by!r}: not a column of the randomization table; available: "
                              f"{', '.join(map(str, rnd.columns))}.")
    if "randomization_date" not in rnd:
        raise AllocationError("the randomization table needs `randomization_date` to show allocation over time.")
    exp = protocol.experimental_arm
    rho = float(protocol.allocation_proportions[exp])
    out = rnd[["randomization_date", by, "subject_id", "arm"]].copy()
    out["k"] = out.groupby(by, dropna=False).cumcount() + 1
    for a in protocol.ratio:
        out[f"n_{a}"] = (out["arm"] == a).astype(int).groupby(out[by], dropna=False).cumsum()
    out[f"prop_{exp}"] = out[f"n_{exp}"] / out["k"]
    out[f"expected_{exp}"] = rho * out["k"]
    return out.reset_index(drop=True)
