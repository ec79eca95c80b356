"""trialkit: screening, enrollment, randomization and outcome analytics for randomized trials.

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
    "synthesize": "trialkit.synth",
    "get_protocol": "trialkit.protocols",
    "protocols": "trialkit.protocols",
    "load_protocol": "trialkit.protocols",
    "DataValidationError": "trialkit.errors",
    "TrialkitError": "trialkit.errors",
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
    "plot_km": "trialkit.plots.outcomes",
    "plot_forest": "trialkit.plots.outcomes",
    "outcomes_explorer": "trialkit.widgets.outcomes",
    # reports
    "render_site_reports": "trialkit.reports",
    "render_reports": "trialkit.reports",
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
