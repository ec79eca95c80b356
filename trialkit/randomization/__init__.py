"""Randomization: allocation schedules, allocation monitoring, baseline balance and design simulation.

Compute layer only (no plotting): every function returns a DataFrame or a frozen result with
``.to_frame()``; :mod:`trialkit.plots.randomization` and :mod:`trialkit.widgets.randomization`
present them. The allocation ratio always comes from the protocol (``Protocol.ratio``).
"""

from __future__ import annotations

import importlib

_NAMES = {
    "generate_schedule": "schedule", "verify_schedule": "schedule", "read_schedule": "schedule",
    "Schedule": "schedule", "ScheduleCheck": "schedule", "ScheduleError": "schedule",
    "allocation_summary": "monitoring", "cumulative_allocation": "monitoring",
    "allocation_over_time": "monitoring", "AllocationSummary": "monitoring",
    "CumulativeAllocation": "monitoring",
    "balance_table": "balance", "BalanceTable": "balance", "smd": "balance",
    "simulate_design": "simulate", "DesignSimulation": "simulate", "Scheme": "scheme",
    "minimize": "minimization",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    try:
        mod = _NAMES[name]
    except KeyError:
        raise AttributeError(f"module 'trialkit.randomization' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_NAMES))
