"""Orchestration of the generator: sites → screening → verdict → missingness → randomization → course."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TrialkitError, UsageError
from ..model import TABLES, columns, empty_table
from ..protocols import Protocol, get_protocol
from ..study import Study
from . import _adverse_events, _course, _missing, _population, _sites, _verdict

#: Default seed of the demo data.
DEFAULT_SEED = 20260701
#: Default data-cut date: fixed, so the demo data are reproducible.
DEFAULT_DATA_CUT = pd.Timestamp("2026-06-30")
#: Start of accrual when the protocol file gives none (assumption for AALL1732: COG opened it in 2019).
DEFAULT_START = {"aall1732": date(2019, 10, 1)}
#: Screening stops this many days before the data cut, so every randomized patient's induction
#: (randomization delay ≤ 21 days + treatment start ≤ 3 days + ~30 days) ends before the cut.
ACCRUAL_STOP_BEFORE_CUT = 60
#: Days from screening to randomization for eligible patients (uniform, inclusive).
RANDOMIZATION_DELAY = (1, 21)
#: Number of synthetic COG sites when the protocol has no site list.
DEFAULT_N_COG_SITES = 120
#: Demo sizes: B1931036 screens ~260 for ~100 randomized (the protocol's plan); AALL1732 400.
DEMO_SIZES = {"b1931036": 260, "aall1732": 400}

ACCRUAL = {"b1931036": _sites.AccrualModel(gamma_shape=1.2, activation_mean_days=240.0),
           "aall1732": _sites.AccrualModel(gamma_shape=2.0, activation_mean_days=150.0)}


@dataclass(frozen=True)
class Truth:
    """What the generator knows and an export does not (used by tests and benchmarks)."""

    screening: pd.DataFrame  # complete true inputs, with the site's verdict columns
    rules_eligible: pd.Series  # evaluate_eligibility on the true inputs
    site_error: np.ndarray  # the site's verdict contradicts the rules
    post_enrollment_fail: np.ndarray  # fails a post-enrollment criterion (goes off protocol)


def _day_number(d) -> int:
    return int((pd.Timestamp(d) - pd.Timestamp("1970-01-01")).days)


def _to_datetime(days: np.ndarray) -> np.ndarray:
    a = np.asarray(days)
    if np.issubdtype(a.dtype, np.datetime64):
        return a.astype("datetime64[ns]")
    f = np.asarray(a, dtype=float)
    out = np.full(len(f), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(f)
    out[ok] = (f[ok].astype(np.int64) * np.timedelta64(1, "D")).astype("timedelta64[ns]") + np.datetime64(
        "1970-01-01", "ns")
    return out


def _all_na(dtype: str, n: int):
    """An all-missing column of a canonical dtype (the arrays ``pd.Series(NA, dtype=...)`` holds)."""
    if dtype == "datetime":
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    mask = np.ones(n, dtype=bool)
    if dtype == "boolean":
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), mask)
    if dtype == "Float64":
        return pd.arrays.FloatingArray(np.full(n, np.nan), mask)
    if dtype == "Int64":
        return pd.arrays.IntegerArray(np.ones(n, dtype=np.int64), mask)
    return pd.array(np.full(n, pd.NA, dtype=object), dtype="string")


def _column(dtype: str, v):
    """A column of a canonical dtype from an array (NaN or None for missing)."""
    if dtype == "datetime":
        return _to_datetime(v)
    if dtype == "boolean":
        b = np.asarray(v, dtype=bool)
        return pd.arrays.BooleanArray(b, np.zeros(len(b), dtype=bool))
    if dtype in ("Float64", "Int64"):
        f = np.asarray(v, dtype=float)
        na = np.isnan(f)
        return pd.arrays.FloatingArray(f, na) if dtype == "Float64" else \
            pd.arrays.IntegerArray(np.where(na, 0, f).astype(np.int64), na)
    return pd.array(np.asarray(v, dtype=object), dtype="string")


def _frame(table: str, data: dict, n: int, extra: dict[str, str] | None = None) -> pd.DataFrame:
    """A canonical frame from arrays (absent columns empty), with the canonical dtypes."""
    out = {c.name: _column(c.dtype, data[c.name]) if c.name in data else _all_na(c.dtype, n)
           for c in columns(table)}
    for name, v in (extra or {}).items():
        out[name] = pd.array(np.asarray(v, dtype=object), dtype="string")
    return pd.DataFrame(out, index=pd.RangeIndex(n), copy=False)


# ------------------------------------------------------------------------------------------------
# stratification
# ------------------------------------------------------------------------------------------------
_AGE_LEVEL = re.compile(r"(\d+(?:\.\d+)?)\s*to\s*<\s*(\d+(?:\.\d+)?)")


def _age_levels(age: np.ndarray, levels: tuple[str, ...]) -> np.ndarray:
    bounds = [_AGE_LEVEL.search(lv) for lv in levels]
    if not all(bounds):
        raise TrialkitError(f"cannot read age bands from levels {levels}; write them as 'A to <B years'.")
    lower = np.array([float(b.group(1)) for b in bounds])
    idx = np.searchsorted(lower, age, side="right") - 1
    return np.clip(idx, 0, len(levels) - 1)


def _strata(screening: pd.DataFrame, protocol: Protocol, rng: np.random.Generator
            ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Factor levels per patient (from the true inputs) and notes."""
    notes, levels_out = [], {}
    n = len(screening)
    for f in protocol.stratification:
        levels = np.asarray(f.levels, dtype=object)
        if f.name == "age_group":
            idx = _age_levels(screening["age_years"].to_numpy(dtype=float, na_value=np.nan), f.levels)
        elif f.name == "relapse_timing":
            months = ((screening["relapse_date"] - screening["diagnosis_date"]).dt.days / (365.25 / 12)).to_numpy(
                dtype=float, na_value=np.nan)
            dx_level = [i for i, lv in enumerate(f.levels) if "diagnosis" in lv.lower()]
            other = [i for i in range(len(f.levels)) if i not in dx_level]
            if not dx_level or not other:
                raise TrialkitError(f"relapse_timing levels {f.levels} need one level mentioning 'diagnosis'.")
            idx = np.where((months >= 18) & (months <= 30), dx_level[0], other[0])
        elif f.name in screening.columns:
            vals = screening[f.name].astype("string").to_numpy(dtype=object, na_value=None)
            pos = {lv: i for i, lv in enumerate(f.levels)}
            idx = pd.Series(vals, dtype=object).map(pos).fillna(0).astype(np.int64).to_numpy()
        else:
            idx = rng.integers(0, len(levels), n)
            notes.append(f"stratification factor {f.name!r} is not derivable from the screening data; "
                         "its levels were drawn at random")
        levels_out[f.name] = levels[idx]
    return levels_out, notes


def _assign_arms(levels: dict[str, np.ndarray], protocol: Protocol, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, str]:
    """Arms by stratified permuted blocks: each stratum's patients, in order of randomization, take
    the next slots of that stratum's list from :func:`trialkit.generate_schedule` (the protocol's
    ratio and block sizes). Returns the arms, the stratum labels and a note naming the seed.

    Each stratum's list depends only on the master seed and the stratum (per-stratum seeds), so the
    list of one stratum is generated with exactly the length it needs.
    """
    from ..randomization.schedule import stratum_allocations

    names = [f.name for f in protocol.stratification]
    n = len(next(iter(levels.values()))) if levels else 0
    if n == 0:  # nobody eligible (a very small n_screened): nothing to randomize
        return np.empty(0, dtype=object), np.empty(0, dtype=object), "randomization: no patient was eligible"
    # strata numbered in order of first appearance (as pd.factorize numbers them) and each patient's rank
    # within its stratum, in order of randomization
    keys = list(zip(*(levels[nm] for nm in names))) if names else [()] * n
    number: dict[tuple, int] = {}
    codes = np.fromiter((number.setdefault(key, len(number)) for key in keys), dtype=np.int64, count=n)
    seed = int(rng.integers(0, 2**31 - 1))
    arms = np.empty(n, dtype=object)
    labels = np.empty(n, dtype=object)
    for k, key in enumerate(number):
        at = np.flatnonzero(codes == k)
        slots = stratum_allocations(protocol, n_per_stratum=len(at), seed=seed, strata=tuple(names),
                                    levels={nm: [lv] for nm, lv in zip(names, key)})
        arms[at] = slots["arm"].to_numpy(dtype=object)[:len(at)]
        labels[at] = " / ".join(key) if names else "all"
    note = (f"randomization: stratified permuted blocks, the lists of trialkit.generate_schedule(seed={seed}, "
            f"strata={names}, block sizes {list(protocol.block_sizes)})")
    return arms, labels, note


# ------------------------------------------------------------------------------------------------
# the generator
# ------------------------------------------------------------------------------------------------
def generate(protocol: str | Protocol, *, n_screened: int, seed: int, data_cut_date=None,
             tables: Iterable[str] | None = None, missing: float = 1.0, n_sites: int | None = None,
             verdict: _verdict.VerdictModel | None = None) -> tuple[Study, Truth]:
    """The generator behind :func:`trialkit.synthesize`; also returns the :class:`Truth`."""
    proto = get_protocol(protocol)
    if proto.id not in _population.POPULATIONS:
        raise TrialkitError(f"no synthetic population model for protocol {proto.id!r}; the generator knows "
                            f"{', '.join(sorted(_population.POPULATIONS))}. Add one in trialkit/synth/_population.py.")
    if isinstance(n_screened, bool) or not isinstance(n_screened, int | np.integer | float) or int(n_screened) < 1:
        raise UsageError(f"n_screened must be a positive number of screened patients, not {n_screened!r}.")
    n = int(n_screened)
    wanted = set(TABLES if tables is None else tables)
    unknown = wanted - set(TABLES)
    if unknown:
        raise UsageError(f"unknown table(s) {sorted(unknown)}; choose from {', '.join(TABLES)}.")
    if int(seed) < 0:
        raise UsageError(f"seed must be a whole number from 0 up, not {seed!r}.")
    # the eighth stream (adverse events) was added last: spawn(8)[:7] equals spawn(7), so the others are unchanged
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(8)]
    r_sites, r_accrual, r_pop, r_verdict, r_missing, r_rand, r_course, r_ae = rngs

    start = proto.start_date or DEFAULT_START.get(proto.id)
    if start is None:
        raise TrialkitError(f"protocol {proto.id!r} has no start_date; add `start_date:` to its file.")
    cut = DEFAULT_DATA_CUT if data_cut_date is None else pd.Timestamp(data_cut_date)
    start_day, cut_day = _day_number(start), _day_number(cut)
    accrual_end = cut_day - ACCRUAL_STOP_BEFORE_CUT
    if accrual_end - start_day < 30:
        raise UsageError(f"data_cut_date {cut.date()} leaves no accrual window after the protocol's start "
                         f"({start}); give a cut at least {ACCRUAL_STOP_BEFORE_CUT + 30} days after the start.")

    # sites and accrual
    sites = proto.site_table() if proto.sites else _sites.synthetic_cog_sites(n_sites or DEFAULT_N_COG_SITES,
                                                                               r_sites)
    accrual_model = ACCRUAL.get(proto.id, _sites.AccrualModel())
    sites, act_day = _sites.activate_sites(sites, start_day=start_day, accrual_end_day=accrual_end,
                                           model=accrual_model, rng=r_sites)
    uln = {k: np.asarray(v)[r_sites.integers(0, len(v), len(sites))] for k, v in _sites.ULN_CHOICES.items()}
    site_idx, day, _rate = _sites.accrue(n, activation_day=act_day, accrual_end_day=accrual_end, model=accrual_model,
                                  rng=r_accrual)
    site_ids = sites["site_id"].to_numpy(dtype=object)
    seq = pd.Series(site_idx).groupby(site_idx).cumcount().to_numpy() + 1
    width = max(4, len(str(int(seq.max()))))
    subject = (pd.Series(site_ids[site_idx], dtype="string") + "-"
               + pd.Series(seq).astype("string").str.zfill(width)).to_numpy(dtype=object)
    screen = (day * np.timedelta64(1, "D")) + np.datetime64("1970-01-01", "D")

    # true patient characteristics and the site's verdict on them
    data = _population.POPULATIONS[proto.id](screen, {k: v[site_idx] for k, v in uln.items()}, r_pop)
    data.update(subject_id=subject, site_id=site_ids[site_idx], screening_date=screen,
                country=sites["country"].to_numpy(dtype=object)[site_idx])
    true = _frame("screening", data, n)
    rules, first_failed, crit_ids, post_fail = _verdict.evaluate_rules(true, proto)
    outcome, reason, site_error = _verdict.site_verdict(rules, first_failed, crit_ids,
                                                        model=verdict or _verdict.VerdictModel(), rng=r_verdict)
    true["screening_outcome"] = pd.array(outcome, dtype="string")
    true["screen_failure_reason"] = pd.array(reason, dtype="string")
    screening = _missing.inject_missing(true, site_index=site_idx, n_sites=len(sites), scale=missing,
                                        rng=r_missing)
    truth = Truth(screening=true, rules_eligible=rules, site_error=site_error, post_enrollment_fail=post_fail)

    notes = [f"synthetic data: protocol {proto.id}, {n} screened, seed {seed}, data cut {cut.date()}",
             f"site verdicts disagree with the protocol's rules for {int(site_error.sum())} patient(s) "
             "(simulated site errors)"]
    out = {"sites": sites, "screening": screening}
    if wanted & {"randomization", "disposition", "response", "outcomes", "adverse_events"}:
        rnd, course_tables, more = _after_screening(true, post_fail, proto, cut_day, r_rand, r_course,
                                                    r_ae if "adverse_events" in wanted else None)
        out["randomization"] = rnd
        out.update(course_tables)
        notes += more
    study = Study(protocol=proto, **{t: out[t] if t in wanted and t in out else empty_table(t) for t in TABLES},
                  source=f"synthetic(protocol={proto.id}, n_screened={n}, seed={seed})", notes=tuple(notes),
                  data_cut_date=cut)
    return study, truth


def _after_screening(true: pd.DataFrame, post_fail: np.ndarray, proto: Protocol, cut_day: int, r_rand, r_course,
                     r_ae=None):
    sel = np.flatnonzero((true["screening_outcome"] == "eligible").to_numpy(dtype=bool, na_value=False))
    # only the columns read below (ids, dates, stratification inputs) are carried along
    used = ["subject_id", "site_id", "screening_date", "age_years", "diagnosis_date", "relapse_date",
            "mpal_confirmation_date", *(f.name for f in proto.stratification)]
    pts = true[[c for c in dict.fromkeys(used) if c in true.columns]].iloc[sel].reset_index(drop=True)
    m = len(pts)
    scr_day = (pts["screening_date"].to_numpy().astype("datetime64[D]").astype(np.int64))
    rand_day = _sites.weekday(scr_day + r_rand.integers(RANDOMIZATION_DELAY[0], RANDOMIZATION_DELAY[1] + 1, m))
    order = np.lexsort((pts["subject_id"].to_numpy(dtype=object).astype(str), rand_day))
    pts, rand_day = pts.iloc[order].reset_index(drop=True), rand_day[order]
    levels, notes = _strata(pts, proto, r_rand)
    arm, stratum_label, note = _assign_arms(levels, proto, r_rand)
    notes.append(note)

    # course after randomization
    experimental = arm != proto.reference_arm
    follow = np.floor(proto.follow_up_years * 365.25).astype(np.int64)
    horizon = np.minimum(cut_day - rand_day, follow)
    # a post-enrollment criterion not met (AALL1732: MPAL not confirmed centrally in time) takes the
    # patient off protocol on the date of the late confirmation (or at randomization if undated)
    late = post_fail[sel][order]
    off = None
    if late.any():
        conf = pts["mpal_confirmation_date"].to_numpy().astype("datetime64[D]")
        conf_day = np.where(np.isnat(conf), np.nan, conf.astype(np.int64).astype(float))
        off = np.where(late, np.fmax(np.nan_to_num(conf_day - rand_day, nan=0.0), 0.0), np.nan)
    c = _course.simulate_course(experimental, horizon=horizon, follow_up_days=int(follow),
                                model=_course.COURSES[proto.id], rng=r_course,
                                off_protocol_day=off)
    sid = pts["subject_id"].to_numpy(dtype=object)

    def d(x):
        return rand_day + x  # float days (NaN stays NaN)

    randomization = _frame("randomization", {
        "subject_id": sid, "site_id": pts["site_id"].to_numpy(dtype=object), "randomization_date": rand_day,
        "arm": arm, "actual_arm": np.where(c["treated"], arm, None), "stratum": stratum_label}, m,
        extra={f.name: levels[f.name] for f in proto.stratification})
    disposition = _frame("disposition", {
        "subject_id": sid, "treated": c["treated"], "treatment_start_date": d(c["start"]),
        "end_of_induction_date": d(c["eoi"]), "completed_induction": c["completed"],
        "discontinued": c["discontinued"], "discontinuation_date": d(c["disc_day"]),
        "discontinuation_reason": c["reason"], "lost_to_follow_up": c["lost"],
        "lost_to_follow_up_date": np.where(c["lost"], d(c["last"]), np.nan), "death_date": d(c["death_day"]),
        "last_contact_date": d(c["last"]), "analysed": np.ones(m, dtype=bool)}, m)
    response = _frame("response", {
        "subject_id": sid, "assessment_date": d(c["assess_day"]), "response": c["response"],
        "mrd_negative": c["mrd_neg"], "mrd_pct": c["mrd"]}, m)
    mrd_known = ~np.isnan(c["mrd"])
    response["mrd_negative"] = response["mrd_negative"].mask(~mrd_known)
    outcomes = _outcomes(sid, rand_day, c)
    tables = {"disposition": disposition, "response": response, "outcomes": outcomes}
    # ---- adverse events (issue 11) ----
    if r_ae is not None and proto.id in _adverse_events.AE_MODELS:
        ae = _adverse_events.simulate_adverse_events(sid, rand_day, c, experimental=experimental,
                                                     model=_adverse_events.AE_MODELS[proto.id], rng=r_ae)
        tables["adverse_events"] = _frame("adverse_events", ae, len(ae["subject_id"]))
        notes.append(f"adverse events: {len(ae['subject_id'])} event(s) of "
                     f"{len(set(ae['subject_id']))} treated subject(s) (model: docs/synthetic-data.md)")
    return randomization, tables, notes


def _censor_text(c: dict) -> np.ndarray:
    return np.where(c["withdrawn"], "censored: withdrawal / off protocol",
                    np.where(c["lost"], "censored: lost to follow-up",
                             np.where(c["last"] >= c["horizon"] - 45, "censored: data cut or end of follow-up",
                                      "censored: last contact")))


def _outcomes(sid: np.ndarray, rand_day: np.ndarray, c: dict) -> pd.DataFrame:
    """EFS and OS rows of every subject, sorted by subject then endpoint."""
    cens = _censor_text(c)
    m = len(sid)
    day = np.concatenate([c["efs_day"], c["os_day"]])
    start = np.concatenate([rand_day, rand_day])
    data = {"subject_id": np.concatenate([sid, sid]), "endpoint": np.repeat(np.array(["EFS", "OS"], dtype=object), m),
            "start_date": start, "end_date": start + day,
            "event": np.concatenate([c["efs_event"].astype(int), c["died"].astype(int)]), "time_days": day + 1,
            "event_description": np.concatenate([np.where(c["efs_event"], c["efs_kind"], cens).astype(object),
                                                 np.where(c["died"], "death", cens).astype(object)])}
    order = np.lexsort((data["endpoint"].astype(str), data["subject_id"].astype(str)))
    return _frame("outcomes", {k: v[order] for k, v in data.items()}, 2 * m)


def synthesize(protocol: str | Protocol, *, n_screened: int, seed: int, data_cut_date=None,
               tables: Iterable[str] | None = None, screening_only: bool = False, missing: float = 1.0,
               n_sites: int | None = None, validate: bool = True) -> Study:
    """Generate a complete synthetic study for a protocol, seeded and deterministic.

    Sites open one after another and screen at their own rates (Poisson–Gamma); each screened
    patient gets the characteristics the protocol's criteria read; the site's verdict comes from
    the protocol's criteria (:func:`trialkit.evaluate_eligibility`) on those true values, with
    declines and a few site errors; then some values are left empty, as in real exports. Eligible
    patients are randomized by stratified permuted blocks in the protocol's ratio and followed to
    the data cut (treatment, end-of-induction response and MRD, EFS and OS). The model and its
    rates are described in ``docs/synthetic-data.md``.

    Parameters
    ----------
    protocol : str or Protocol
        ``"b1931036"`` or ``"aall1732"`` (a protocol the generator has a population model for).
    n_screened : int
        Number of screening episodes (rows of ``screening``).
    seed : int
        Random seed: the same seed gives identical tables.
    data_cut_date : date-like, optional
        Data cut; no date in the study lies after it. Default 2026-06-30 (fixed, for reproducibility).
    tables : iterable of str, optional
        Tables to generate (default all, ``adverse_events`` included); the others are returned empty. ``sites`` and
        ``screening`` are always made since every other table derives from them.
    screening_only : bool, default False
        Shortcut for ``tables=("sites", "screening")`` (fast, for benchmarks).
    missing : float, default 1.0
        Scale of the missing-value rates in the exported screening inputs; ``0`` exports the complete
        true values the site's verdict was made on.
    n_sites : int, optional
        Number of synthetic sites when the protocol has no site list (AALL1732; default 120).
    validate : bool, default True
        Validate the study with :func:`trialkit.validate_study` before returning it.

    Returns
    -------
    Study
        With ``data_cut_date`` set and ``notes`` describing the run.

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.synthesize("b1931036", n_screened=260, seed=1)
    >>> len(study.screening)
    260
    >>> sorted(study.randomization["arm"].unique())
    ['ALLR3', 'InO']
    """
    if screening_only:
        tables = ("sites", "screening")
    if tables is not None:
        tables = {"sites", "screening", *tables}
    study, _ = generate(protocol, n_screened=n_screened, seed=seed, data_cut_date=data_cut_date, tables=tables,
                        missing=missing, n_sites=n_sites)
    if validate:
        from ..schemas import validate_study

        validate_study(study)
    return study


def make_demo(out_dir: str | os.PathLike, *, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write the demo studies of both protocols as CSV folders ``<out>/b1931036`` and ``<out>/aall1732``.

    Sizes are :data:`DEMO_SIZES` (a few hundred screened each); the data cut is the fixed default,
    so the same seed always writes the same files.

    Returns
    -------
    dict
        Protocol id -> the folder written.

    Examples
    --------
    >>> import tempfile, trialkit.synth as synth
    >>> folders = synth.make_demo(tempfile.mkdtemp())
    >>> sorted(folders)
    ['aall1732', 'b1931036']
    """
    from ..io.flatfile import write_study

    out = Path(out_dir)
    written = {}
    for pid, n in DEMO_SIZES.items():
        study = synthesize(pid, n_screened=n, seed=seed)
        folder = out / pid
        write_study(study, folder, format="csv")
        written[pid] = folder
    return written
