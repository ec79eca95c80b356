"""Defaults shared by the notebooks, the explorers and the reports, so that one p-value is one p-value.

A Monte Carlo p-value depends on its number of re-randomizations and its seed: the explorer at 2,000
and a report at 10,000 printed 0.006 and 0.004 for the same allocation. Everything that shows a
simulated p-value or band takes these two values (and prints them beside the result).

Examples
--------
>>> from trialkit.defaults import DEFAULT_N_SIM, DEFAULT_SEED, simulation_note
>>> simulation_note(DEFAULT_N_SIM, DEFAULT_SEED)
'Monte Carlo: 10,000 re-randomizations, seed 0.'
"""

from __future__ import annotations

__all__ = ["DEFAULT_N_SIM", "DEFAULT_SEED", "DEFAULT_SIM_TRIALS", "simulation_note"]

#: re-randomizations behind the scheme p-values (``p_scheme``) and the cumulative-allocation band: the
#: default of :func:`trialkit.allocation_summary` (Monte Carlo standard error ≤ 0.005 for any p-value)
DEFAULT_N_SIM = 10_000
#: the seed of those re-randomizations (the default of the compute functions)
DEFAULT_SEED = 0
#: simulated trials per scheme in the design-simulation panel
DEFAULT_SIM_TRIALS = 2_000


def simulation_note(n_sim: int, seed: int) -> str:
    """The sentence printed beside every simulated p-value: how many re-randomizations, which seed."""
    return f"Monte Carlo: {int(n_sim):,} re-randomizations, seed {seed}."
