"""Survival and response outcomes of randomized trials, on top of lifelines.

Public functions: :func:`km`, :func:`logrank`, :func:`cox`, :func:`cox_subgroups`,
:func:`response_rates`, :func:`median_followup`, and :func:`survival_data` (the endpoint extraction
they share). Importing this package does not import lifelines or scipy; each function imports what
it needs when it is called.
"""

from ._data import SurvivalData, survival_data
from .compare import LogrankResult, logrank, weighted_logrank
from .regression import CoxResult, SubgroupResult, cox, cox_subgroups
from .response import ResponseResult, response_rates
from .survival import CONF_TYPES, FollowupResult, KMResult, km, median_followup

__all__ = ["km", "KMResult", "CONF_TYPES", "median_followup", "FollowupResult", "logrank", "LogrankResult",
           "weighted_logrank", "cox", "CoxResult", "cox_subgroups", "SubgroupResult", "response_rates",
           "ResponseResult", "survival_data", "SurvivalData"]
