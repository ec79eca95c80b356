"""What happens after randomization: treatment, induction, response, EFS and OS, censoring.

All times are whole days from randomization (day 0). Events after the data cut or after the
protocol's follow-up (``follow_up_years`` from randomization) are not observed: the subject is
censored at the last contact before that date.

EFS events are induction failure (no CR/CRi at end of induction, dated at the assessment or the
discontinuation), relapse after CR/CRi (Weibull, arm effect as a hazard ratio), and death in
remission (exponential). Deaths after an EFS event follow an exponential post-event survival, so OS
is never shorter than EFS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

YEAR = 365.25


@dataclass(frozen=True)
class CourseModel:
    """Parameters of the post-randomization course; per-arm values are ``(reference, experimental)``.

    Attributes
    ----------
    induction_days : int
        Planned length of the induction cycle (end-of-induction assessment day, ±2 days).
    p_treated : float
        Share of randomized patients who receive at least one dose.
    p_induction_death : tuple
        Death during induction, per arm.
    p_discontinue : float
        Early discontinuation of induction for a reason other than death.
    discontinue_reasons : dict
        Reason -> share of early discontinuations.
    p_cr : tuple
        CR or CRi at end of induction among patients who complete induction, per arm.
    p_cri_of_cr : float
        Share of responders whose response is CRi rather than CR.
    p_mrd_neg_of_cr : tuple
        MRD negativity (< 0.01 %) among responders, per arm.
    relapse_weibull_shape, relapse_median_years_ref : float
        Weibull shape and median (reference arm) of time to relapse after CR/CRi.
    relapse_hr : float
        Hazard ratio of relapse, experimental vs reference.
    death_in_remission_per_year : float
        Hazard of death without relapse (treatment-related mortality).
    post_event_median_years : float
        Median survival after an EFS event.
    p_lost_to_follow_up : float
        Share of patients lost to follow-up at a uniformly distributed time.
    """

    induction_days: int = 28
    p_treated: float = 0.97
    p_induction_death: tuple[float, float] = (0.03, 0.025)
    p_discontinue: float = 0.06
    discontinue_reasons: dict = field(default_factory=lambda: {
        "adverse event": 0.4, "progressive disease": 0.3, "withdrawal by parent/guardian": 0.15,
        "physician decision": 0.15})
    p_cr: tuple[float, float] = (0.53, 0.71)
    p_cri_of_cr: float = 0.25
    p_mrd_neg_of_cr: tuple[float, float] = (0.45, 0.65)
    relapse_weibull_shape: float = 0.9
    relapse_median_years_ref: float = 2.0
    relapse_hr: float = 0.7
    death_in_remission_per_year: float = 0.05
    post_event_median_years: float = 0.9
    p_lost_to_follow_up: float = 0.03


#: Assumed courses per protocol (plausible figures, not trial results; see docs/synthetic-data.md).
COURSES = {
    "b1931036": CourseModel(),
    "aall1732": CourseModel(
        induction_days=29, p_treated=0.99, p_induction_death=(0.01, 0.01), p_discontinue=0.02,
        discontinue_reasons={"adverse event": 0.5, "physician decision": 0.25,
                             "withdrawal by parent/guardian": 0.25},
        p_cr=(0.97, 0.97), p_cri_of_cr=0.1, p_mrd_neg_of_cr=(0.75, 0.75), relapse_weibull_shape=1.0,
        relapse_median_years_ref=22.0, relapse_hr=0.8, death_in_remission_per_year=0.006,
        post_event_median_years=2.5, p_lost_to_follow_up=0.04),
}

WITHDRAWAL = "withdrawal by parent/guardian"
MPAL_OFF = "off protocol: MPAL not centrally confirmed within 7 business days"


def simulate_course(experimental: np.ndarray, *, horizon: np.ndarray, follow_up_days: int, model: CourseModel,
                    rng: np.random.Generator, off_protocol_day: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Simulate each randomized subject's course.

    Parameters
    ----------
    experimental : array of bool
        True for subjects on an experimental arm.
    horizon : array of int
        Last day that can be observed (data cut or end of follow-up), in days from randomization.
    follow_up_days : int
        The protocol's follow-up; a loss to follow-up happens uniformly within it.
    off_protocol_day : array of float, optional
        Day a subject goes off protocol after enrollment (NaN = never), e.g. MPAL not confirmed.

    Returns
    -------
    dict of numpy arrays
        Days from randomization (NaN = none) and flags/labels, one entry per subject.
    """
    n = len(experimental)
    e = experimental.astype(int)
    nan = np.full(n, np.nan)
    treated = rng.random(n) < model.p_treated
    start = np.where(treated, rng.integers(0, 4, n), np.nan)
    eoi = start + model.induction_days + rng.integers(-2, 3, n)
    pd_death = np.asarray(model.p_induction_death)[e]
    u = rng.random(n)
    ind_death = treated & (u < pd_death)
    disc = treated & ~ind_death & (u < pd_death + model.p_discontinue)
    reasons = np.asarray(list(model.discontinue_reasons), dtype=object)
    shares = np.asarray(list(model.discontinue_reasons.values()), dtype=float)
    reason = np.full(n, None, dtype=object)
    reason[disc] = reasons[rng.choice(len(reasons), size=int(disc.sum()), p=shares / shares.sum())]
    reason[ind_death] = "death"
    not_treated_reason = np.where(rng.random(n) < 0.6, WITHDRAWAL, "clinical deterioration before treatment")
    reason[~treated] = not_treated_reason[~treated]
    disc_day = np.where(disc | ind_death, start + rng.integers(3, model.induction_days - 2, n), nan)
    disc_day = np.where(~treated, rng.integers(0, 4, n), disc_day)
    off = np.zeros(n, dtype=bool)
    if off_protocol_day is not None:
        off = ~np.isnan(off_protocol_day)
        reason[off] = MPAL_OFF
        disc_day = np.where(off, off_protocol_day, disc_day)
        ind_death &= ~off
        disc &= ~off
    completed = treated & ~ind_death & ~disc & ~off
    discontinued = ~completed
    eoi = np.where(completed, eoi, nan)

    # response at end of induction
    r = rng.random(n)
    cr = completed & (r < np.asarray(model.p_cr)[e])
    response = np.full(n, "NE", dtype=object)
    response[completed] = np.where(rng.random(n) < 0.4, "PR", "NR")[completed]
    response[cr] = np.where(rng.random(n) < model.p_cri_of_cr, "CRi", "CR")[cr]
    response[disc & (reason == "progressive disease")] = "NR"
    assessed = completed | (disc & (reason == "progressive disease"))
    assess_day = np.where(completed, eoi, np.where(assessed, disc_day, nan))
    mrd_neg = cr & (rng.random(n) < np.asarray(model.p_mrd_neg_of_cr)[e])
    mrd = np.where(mrd_neg, np.round(rng.uniform(0, 0.0099, n), 4),
                   np.where(cr, np.round(np.exp(rng.uniform(np.log(0.01), np.log(5), n)), 3),
                            np.round(rng.uniform(5, 80, n), 1)))
    mrd = np.where(assessed, mrd, nan)

    # event-free survival
    k = model.relapse_weibull_shape
    scale_ref = model.relapse_median_years_ref * YEAR / np.log(2) ** (1 / k)
    scale = scale_ref * np.where(experimental, model.relapse_hr ** (-1 / k), 1.0)
    t_relapse = scale * rng.weibull(k, n) + np.nan_to_num(eoi)
    t_trm = rng.exponential(YEAR / model.death_in_remission_per_year, n) + np.nan_to_num(eoi)
    failure = (assessed & ~cr) | ind_death | (disc & ~np.isin(reason, [WITHDRAWAL])) | (~treated & (reason != WITHDRAWAL))
    failure &= ~off
    fail_day = np.where(ind_death | disc | ~treated, disc_day, assess_day)
    efs_day = np.where(failure, fail_day, np.minimum(t_relapse, t_trm))
    efs_kind = np.where(failure, np.where(ind_death, "death", "induction failure"),
                        np.where(t_relapse <= t_trm, "relapse", "death"))
    death_day = np.where(efs_kind == "death", efs_day,
                         efs_day + rng.exponential(model.post_event_median_years * YEAR / np.log(2), n))

    # censoring: consent withdrawal / off protocol end follow-up; loss to follow-up; data cut
    stop = np.where((reason == WITHDRAWAL) & (~treated | disc) | off, disc_day, np.inf)
    ltfu = rng.random(n) < model.p_lost_to_follow_up
    t_ltfu = np.where(ltfu, rng.uniform(30, max(follow_up_days, 31), n), np.inf)
    c = np.minimum(np.minimum(stop, t_ltfu), horizon.astype(float))
    withdrawn = np.isfinite(stop) & (stop <= c)
    lost = ltfu & (t_ltfu <= c) & ~withdrawn
    efs_day = np.floor(efs_day)
    death_day = np.floor(death_day)
    efs_event = efs_day <= c
    died = death_day <= c
    # last contact: the censoring point (a visit up to 45 days before a data cut), never before a known event
    visit_gap = np.where(np.isfinite(stop) | lost, 0, rng.integers(0, 46, n))
    last = np.maximum(np.floor(c) - visit_gap, 0)
    for known in (np.where(efs_event, efs_day, nan), assess_day, disc_day, start):
        last = np.fmax(last, known)
    last = np.minimum(last, np.floor(c))
    last = np.where(died, death_day, last)
    return {
        "treated": treated, "start": start, "eoi": eoi, "completed": completed, "discontinued": discontinued,
        "disc_day": np.where(discontinued, disc_day, nan), "reason": np.where(discontinued, reason, None),
        "response": response, "assess_day": assess_day, "assessed": assessed | ~completed,
        "mrd_neg": mrd_neg, "mrd": mrd, "efs_day": np.where(efs_event, efs_day, last), "efs_event": efs_event,
        "efs_kind": efs_kind, "died": died, "death_day": np.where(died, death_day, nan),
        "os_day": np.where(died, death_day, last), "last": last, "lost": lost & ~died,
        "withdrawn": withdrawn & ~died, "horizon": horizon,
    }
