"""The site's screening verdict, derived from the protocol's own criteria.

The rules are evaluated by :func:`trialkit.evaluate_eligibility` on the complete (true) screening
inputs — this module is the one place the generator calls it. The site then records:

* ``eligible`` when every criterion is met, except that a share of those patients ``declined``
  (``DECLINE_RATE``) and a few left for another reason (``OTHER_RATE``);
* ``screen failure`` with ``screen_failure_reason`` = the id of the first criterion (protocol order)
  that is not met;
* site errors, so that verdicts and rules sometimes disagree as in real data: a share of the
  patients the rules exclude are recorded ``eligible`` (and randomized — a protocol deviation), and
  a share of the eligible ones are recorded as screen failures with a criterion they in fact meet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class VerdictModel:
    """Rates of the site's verdict (documented in docs/synthetic-data.md).

    Attributes
    ----------
    decline_rate : float
        Share of rule-eligible patients who decline participation (``declined``).
    other_rate : float
        Share of rule-eligible patients not randomized for another reason (``other``).
    error_ineligible_enrolled : float
        Share of rule-ineligible patients the site records as ``eligible`` (site error).
    error_eligible_failed : float
        Share of rule-eligible patients the site records as ``screen failure`` (site error).
    """

    decline_rate: float = 0.06
    other_rate: float = 0.01
    error_ineligible_enrolled: float = 0.015
    error_eligible_failed: float = 0.01


DECLINED_REASON = "declined participation"
OTHER_REASONS = ("clinical deterioration before randomization", "physician decision")


def evaluate_rules(screening: pd.DataFrame, protocol) -> tuple[pd.Series, pd.Series, tuple[str, ...], np.ndarray]:
    """Evaluate the protocol's criteria on the screening frame (the generator's only call of them).

    Returns ``(eligible, first_failed, criterion_ids, post_enrollment_fail)``: the nullable boolean
    verdict of the screening-stage rules per row, the id of the first screening-stage criterion that
    excludes the row (``<NA>`` when none), those criterion ids in protocol order, and a boolean array
    marking rows that fail a post-enrollment criterion (e.g. MPAL not confirmed in time).
    """
    from ..eligibility import evaluate_eligibility

    res = evaluate_eligibility(screening, protocol=protocol)
    stage = np.array([c.stage == "screening" for c in res.criteria], dtype=bool)
    ids = tuple(cid for cid, s in zip(res.criterion_ids, stage) if s)
    passes = res.pass_codes[:, stage]
    excluded = passes == 0
    any_fail = excluded.any(axis=1)
    first = np.full(len(screening), None, dtype=object)
    if ids:
        first[any_fail] = np.asarray(ids, dtype=object)[excluded.argmax(axis=1)[any_fail]]
    eligible = pd.Series(res.eligible.to_numpy(), index=screening.index, dtype="boolean")
    post_fail = res.post_enrollment.eq(False).to_numpy(dtype=bool, na_value=False)
    return eligible, pd.Series(first, index=screening.index, dtype="string"), ids, post_fail


def site_verdict(eligible: pd.Series, first_failed: pd.Series, criterion_ids: tuple[str, ...], *,
                 model: VerdictModel, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The site-recorded ``screening_outcome`` and ``screen_failure_reason`` and the site-error flag.

    A rule verdict that is unknown on complete data (it should not be) is recorded as a screen
    failure with reason "eligibility not established" rather than guessed.
    """
    n = len(eligible)
    ok = eligible.fillna(False).to_numpy(dtype=bool)
    unknown = eligible.isna().to_numpy()
    u = rng.random(n)
    err = rng.random(n)
    outcome = np.where(ok, "eligible", "screen failure").astype(object)
    reason = np.where(ok, None, first_failed.to_numpy(dtype=object)).astype(object)
    reason[unknown] = "eligibility not established"
    declined = ok & (u < model.decline_rate)
    other = ok & (u >= model.decline_rate) & (u < model.decline_rate + model.other_rate)
    outcome[declined] = "declined"
    reason[declined] = DECLINED_REASON
    outcome[other] = "other"
    reason[other] = np.asarray(OTHER_REASONS, dtype=object)[rng.integers(0, len(OTHER_REASONS), int(other.sum()))]
    wrongly_in = ~ok & ~unknown & (err < model.error_ineligible_enrolled)
    wrongly_out = ok & ~declined & ~other & (err < model.error_eligible_failed)
    outcome[wrongly_in] = "eligible"
    reason[wrongly_in] = None
    outcome[wrongly_out] = "screen failure"
    if criterion_ids:
        reason[wrongly_out] = np.asarray(criterion_ids, dtype=object)[
            rng.integers(0, len(criterion_ids), int(wrongly_out.sum()))]
    else:
        reason[wrongly_out] = "investigator judgement"
    return outcome, reason, wrongly_in | wrongly_out
