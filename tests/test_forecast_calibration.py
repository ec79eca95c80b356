"""Calibration of the accrual forecast on studies simulated from known Poisson–Gamma processes.

The parameter sets (trialkit.forecast.calibration.SCENARIOS) cover few sites and many, strongly and
mildly heterogeneous rates, a forecast made early (month 3) and late, with and without sites still to
open. The acceptance band for the 90 % interval is 85–95 % (issue 15). The quick test pools 4 x 60
studies (a standard error of ~1.9 points on 90 %); the slow one runs 500 per scenario and checks each.
Both print the coverage they measured.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import trialkit as tk
from trialkit.forecast._common import day_after, quantile_row
from trialkit.forecast._data import accrual_input
from trialkit.forecast.accrual import simulate_target
from trialkit.forecast.calibration import SCENARIOS, calibrate_accrual, calibrate_events, simulate_accrual

#: the per-scenario run takes minutes: it runs with `pytest -m slow` or TRIALKIT_SLOW=1
RUN_SLOW = os.environ.get("TRIALKIT_SLOW") == "1"


def _show(cal, label):
    cols = ["scenario", "replicates", "coverage_50", "coverage_90", "below_90", "above_90", "median_abs_error_days"]
    print(f"\n{label}\n" + cal.summary[cols].to_string(index=False))


def test_simulated_study_is_what_the_scenario_says():
    sc = SCENARIOS[1]
    frame, target, as_of, true_date = simulate_accrual(sc, np.random.default_rng(0))
    assert frame["site_id"].nunique() == sc.n_sites
    seen = frame["randomization_date"].notna()
    assert (frame.loc[seen, "randomization_date"] <= as_of).all()
    assert target == int(seen.sum()) + sc.remaining and true_date > as_of
    # a third of the sites open after the forecast date (uniform openings over 12 months, cut at 8)
    assert 0.15 < (frame.drop_duplicates("site_id")["activation_date"] > as_of).mean() < 0.5


def test_calibration_scores_the_dates_forecast_accrual_reports():
    frame, target, as_of, _ = simulate_accrual(SCENARIOS[2], np.random.default_rng(1))
    fc = tk.forecast_accrual(frame, target=target, as_of=as_of, n_sims=1000, seed=9)
    sim = simulate_target(accrual_input(frame), as_of=as_of, target=target, n_sims=1000, seed=9)
    got = {k: day_after(as_of, v) for k, v in quantile_row(sim.t_days, fc.conf_level).items()}
    assert got == {k: fc.summary[k].iloc[0] for k in got}


@pytest.mark.slow  # several seconds without a kernel: in `make test`, not `make test-fast`
def test_coverage_of_the_90_interval_pooled():
    cal = calibrate_accrual(n_reps=60, n_sims=1000, seed=2024)
    _show(cal, "accrual forecast calibration (parameters drawn from their posterior)")
    overall = cal.summary.set_index("scenario").loc["all"]
    assert overall["replicates"] == 240
    assert 0.85 <= overall["coverage_90"] <= 0.95
    assert 0.40 <= overall["coverage_50"] <= 0.60


@pytest.mark.slow  # several seconds without a kernel: in `make test`, not `make test-fast`
def test_plugging_in_the_estimates_undercovers_early():
    """The reason the parameters are drawn: plug-in intervals are too narrow early in a trial."""
    early = [s for s in SCENARIOS if "early" in s.name]
    cal = calibrate_accrual(early, n_reps=60, n_sims=1000, seed=7, parameter_uncertainty=False)
    _show(cal, "plug-in (no parameter uncertainty), early scenario")
    assert cal.summary.set_index("scenario").loc["all", "coverage_90"] < 0.80


@pytest.mark.slow
def test_coverage_of_the_90_interval_per_scenario(request):
    if not (RUN_SLOW or "slow" in (request.config.getoption("markexpr") or "").replace("not slow", "")):
        pytest.skip("minutes long: run with `pytest -m slow` or TRIALKIT_SLOW=1")
    cal = calibrate_accrual(n_reps=500, n_sims=2000, seed=2025)
    _show(cal, "accrual forecast calibration, 500 studies per scenario")
    for _, row in cal.summary.iterrows():
        assert 0.85 <= row["coverage_90"] <= 0.95, row["scenario"]


@pytest.mark.slow
def test_event_forecast_coverage(request):
    """The event forecast on simulated studies (Weibull events, exponential dropout, accrual complete):
    the 90 % interval for the date of the target-th event covers the truth 85-95 % of the time."""
    if not (RUN_SLOW or "slow" in (request.config.getoption("markexpr") or "").replace("not slow", "")):
        pytest.skip("minutes long: run with `pytest -m slow` or TRIALKIT_SLOW=1")
    cal = calibrate_events(n_reps=200, n_sims=1000, seed=5)
    _show(cal, "event forecast calibration, 200 studies per scenario")
    for _, row in cal.summary.iterrows():
        assert 0.85 <= row["coverage_90"] <= 0.95, row["scenario"]
