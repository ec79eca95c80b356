"""Eligibility: protocol criteria as data, three-valued evaluation, funnel, exclusion lists, CONSORT.

Compute layer. Criteria come from a protocol's ``<id>.criteria.yaml`` (declarative, safe rules; see
:mod:`trialkit.eligibility.expr`) or from Python (:class:`Criterion` with a callable rule). Every
subject × criterion is *met*, *not met* or *unknown* (an input is missing); unknown is never counted
as either.

Public entry points: :func:`evaluate_eligibility`, :func:`funnel`, :func:`exclusion_list`,
:func:`screening_disagreements`, :func:`consort`, :class:`Criterion`; for repeated what-if
evaluation :func:`prepare_screening`; for site monitoring :func:`compute_screen_failure_rates`.
"""

from __future__ import annotations

from .consort import ConsortResult, consort
from .criteria import Criterion, criteria_from_protocol
from .evaluate import EligibilityResult, PreparedScreening, evaluate_eligibility, prepare_screening
from .funnel import (
           FunnelResult,
           compute_screen_failure_rates,
           exclusion_list,
           funnel,
           screening_disagreements,
)

__all__ = ["ConsortResult", "Criterion", "EligibilityResult", "FunnelResult", "PreparedScreening",
           "compute_screen_failure_rates", "consort", "criteria_from_protocol", "evaluate_eligibility",
           "exclusion_list", "funnel", "prepare_screening", "screening_disagreements"]
