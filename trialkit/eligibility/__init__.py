"""Eligibility: protocol criteria as data, three-valued evaluation, funnel, exclusion lists, CONSORT.

Compute layer. Criteria come from a protocol's ``<id>.criteria.yaml`` (declarative, safe rules; see
:mod:`trialkit.eligibility.expr`) or from Python (:class:`Criterion` with a callable rule). Every
subject × criterion is *met*, *not met* or *unknown* (an input is missing); unknown is never counted
as either.

Public entry points: :func:`evaluate_eligibility`, :func:`funnel`, :func:`exclusion_list`,
:func:`screening_disagreements`, :func:`consort`, :class:`Criterion`.
"""

from __future__ import annotations

from .criteria import Criterion, criteria_from_protocol
from .evaluate import EligibilityResult, evaluate_eligibility

__all__ = ["Criterion", "EligibilityResult", "criteria_from_protocol", "evaluate_eligibility"]
