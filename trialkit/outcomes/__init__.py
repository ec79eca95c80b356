"""Survival and response outcomes of randomized trials, on top of lifelines.

Public functions: :func:`km`, :func:`logrank`, :func:`cox`, :func:`cox_subgroups`,
:func:`response_rates`, :func:`median_followup`, :func:`rmst`, :func:`cox_zph`, and :func:`survival_data` (the endpoint extraction
they share). Importing this package does not import lifelines or scipy; each function imports what
it needs when it is called.
"""

from ._data import SurvivalData, survival_data
from .compare import WEIGHTS, LogrankResult, logrank, weighted_logrank
from .ph import CoxZphResult, cox_zph
from .proportions import score_interval_difference
from .regression import CoxResult, SubgroupResult, cox, cox_subgroups
from .response import ResponseResult, response_rates
from .rmst import RMSTResult, rmst
from .survival import CONF_TYPES, FollowupResult, KMResult, km, median_followup

__all__ = ["km", "KMResult", "CONF_TYPES", "median_followup", "FollowupResult", "logrank", "LogrankResult",
           "weighted_logrank", "WEIGHTS", "cox", "CoxResult", "cox_zph", "CoxZphResult", "cox_subgroups",
           "SubgroupResult", "response_rates", "ResponseResult", "rmst", "RMSTResult", "score_interval_difference",
           "survival_data", "SurvivalData"]
