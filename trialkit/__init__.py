"""trialkit: screening, enrollment, randomization, outcome and safety analytics for randomized trials.

The public API is listed in ``__all__``. Names are imported lazily on first use so that
``import trialkit`` stays cheap (lifelines and scipy load only when a survival function is called).

Examples
--------
>>> import trialkit as tk
>>> tk.protocols()
['aall1732', 'b1931036']
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trialkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    # foundation
    "Study": "trialkit.study",
    "load_study": "trialkit.io.flatfile",
    "write_study": "trialkit.io.flatfile",
    "validate_study": "trialkit.schemas",
    "load_cdisc": "trialkit.io.cdisc",
    "read_adtte": "trialkit.io.adtte",
    "synthesize": "trialkit.synth",
    "get_protocol": "trialkit.protocols",
    "protocols": "trialkit.protocols",
    "load_protocol": "trialkit.protocols",
    "DataValidationError": "trialkit.errors",
    "TrialkitError": "trialkit.errors",
    "EmptySelectionError": "trialkit.errors",
    "analysis_set": "trialkit.analysis_set",
    "AnalysisSet": "trialkit.analysis_set",
    "Result": "trialkit.results",
    # eligibility
    "evaluate_eligibility": "trialkit.eligibility",
    "funnel": "trialkit.eligibility",
    "exclusion_list": "trialkit.eligibility",
    "consort": "trialkit.eligibility",
    "screening_disagreements": "trialkit.eligibility",
    "Criterion": "trialkit.eligibility",
    "compute_screen_failure_rates": "trialkit.eligibility",
    "eligibility_explorer": "trialkit.widgets.eligibility",
    # randomization
    "allocation_summary": "trialkit.randomization",
    "balance_table": "trialkit.randomization",
    "cumulative_allocation": "trialkit.randomization",
    "generate_schedule": "trialkit.randomization",
    "verify_schedule": "trialkit.randomization",
    "simulate_design": "trialkit.randomization",
    "allocation_over_time": "trialkit.randomization",
    "minimize": "trialkit.randomization",
    "plot_cumulative_allocation": "trialkit.plots.randomization",
    "plot_allocation_by_site": "trialkit.plots.randomization",
    "plot_smd": "trialkit.plots.randomization",
    "plot_design_simulation": "trialkit.plots.randomization",
    "balance_explorer": "trialkit.widgets.randomization",
    "render_table": "trialkit.tables",
    # outcomes
    "km": "trialkit.outcomes",
    "logrank": "trialkit.outcomes",
    "cox": "trialkit.outcomes",
    "response_rates": "trialkit.outcomes",
    "median_followup": "trialkit.outcomes",
    "cox_subgroups": "trialkit.outcomes",
    "cox_zph": "trialkit.outcomes",
    "rmst": "trialkit.outcomes",
    "plot_km": "trialkit.plots.outcomes",
    "plot_forest": "trialkit.plots.outcomes",
    "outcomes_explorer": "trialkit.widgets.outcomes",
    # forecasting
    "forecast_accrual": "trialkit.forecast",
    "forecast_events": "trialkit.forecast",
    "backtest_accrual": "trialkit.forecast",
    "backtest_events": "trialkit.forecast",
    "plot_accrual_forecast": "trialkit.plots.forecast",
    "plot_event_forecast": "trialkit.plots.forecast",
    "plot_site_rates": "trialkit.plots.forecast",
    "plot_backtest": "trialkit.plots.forecast",
    "forecast_explorer": "trialkit.widgets.forecast",
    # reports
    "render_site_reports": "trialkit.reports",
    # safety
    "ae_summary": "trialkit.safety",
    "ae_table": "trialkit.safety",
    "aesi": "trialkit.safety",
    "plot_ae_dotplot": "trialkit.plots.safety",
    "plot_cumulative_incidence": "trialkit.plots.safety",
    "safety_explorer": "trialkit.widgets.safety",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'trialkit' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
