"""Adverse events: the summary, the SOC/PT table and events of special interest a DMC reads.

Public functions: :func:`ae_summary`, :func:`ae_table`, :func:`aesi`, and :func:`safety_data` (the
subjects and events they share, with the treatment-emergent and AESI-category rules). Every result
follows :class:`trialkit.results.Result`. Importing this package imports neither scipy, statsmodels
nor lifelines; each function imports what it needs when it is called.
"""

from ._data import SafetyData, aesi_categories, safety_data
from .aesi import AESIResult, aesi
from .summary import SUMMARY_CATEGORIES, AESummaryResult, ae_summary
from .table import AETableResult, ae_table

__all__ = ["ae_summary", "AESummaryResult", "ae_table", "AETableResult", "aesi", "AESIResult", "safety_data",
           "SafetyData", "aesi_categories", "SUMMARY_CATEGORIES"]
