"""Backtests on the demo studies and an inline frame: cutoffs, what each forecast saw, the straight
line by hand, coverage, and the error paths."""

from __future__ import annotations

import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import ForecastError
from trialkit.results import ARD_COLUMNS


def test_accrual_backtest_on_the_demo(demo_b1931036):
    bt = tk.backtest_accrual(demo_b1931036, n_sims=1000)
    s = bt.summary
    dates = demo_b1931036.randomization["randomization_date"].sort_values().reset_index(drop=True)
    # default cutoffs: the days 25 %, 50 % and 75 % of the 96 randomized (the target) had been reached
    assert s["cutoff"].tolist() == [dates[23], dates[47], dates[71]]
    assert s["observed"].tolist() == [int((dates <= c).sum()) for c in s["cutoff"]]
    assert (s["actual_date"] == dates[95]).all() and bt.target == 96
    # the straight line by hand: patients so far / days since the first site opened, to 96
    first = demo_b1931036.sites["activation_date"].min()
    for _, r in s.iterrows():
        days = (r["cutoff"] - first).days + 1
        expected = r["cutoff"] + pd.Timedelta(days=-(-(96 - r["observed"]) * days // r["observed"]))
        assert r["straight_line_date"] == expected
        assert r["straight_line_error_days"] == (expected - r["actual_date"]).days
        assert r["covered_90"] == (r["lower_90"] <= r["actual_date"] <= r["upper_90"])
    o = bt.overall.set_index("method")
    assert o.loc["forecast (median)", "coverage_90"] == s["covered_90"].mean()
    assert o.loc["straight line", "mean_abs_error_days"] == s["straight_line_error_days"].abs().mean()
    assert tuple(bt.to_frame().columns) == ARD_COLUMNS and set(bt.to_frame()["analysis"]) == {"backtest_accrual"}
    assert [t.meta for t in bt.figure().data] == ["interval", "interval", "median", "straight_line"]


def test_event_backtest_on_the_demo(demo_b1931036):
    bt = tk.backtest_events(demo_b1931036, endpoint="EFS", n_sims=500, cutoffs=["2025-01-01", "2025-10-01"])
    efs = demo_b1931036.outcomes[demo_b1931036.outcomes["endpoint"] == "EFS"]
    assert bt.target == int(efs["event"].sum())
    assert bt.summary["cutoff"].tolist() == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-10-01")]
    assert bt.summary["observed"].is_monotonic_increasing
    assert "no reporting delay assumed" in " ".join(bt.notes)


def test_event_backtest_without_planned_enrollment_uses_the_final_count(demo_aall1732):
    bt = tk.backtest_events(demo_aall1732, endpoint="EFS", n_sims=300, cutoffs=["2025-01-01"])
    assert any(f"the {len(demo_aall1732.randomization)} patients finally randomized" in n for n in bt.notes)


def test_cutoffs_after_the_target_are_refused(demo_b1931036):
    with pytest.raises(ForecastError, match="cutoff 2026-06-01 is on or after the date the target of 96 was reached"):
        tk.backtest_accrual(demo_b1931036, cutoffs=["2025-01-01", "2026-06-01"], n_sims=200)


def test_a_target_beyond_what_happened_is_refused(demo_b1931036):
    with pytest.raises(ForecastError, match="target=120: a backtest needs a target between 2 and the 96"):
        tk.backtest_accrual(demo_b1931036, target=120, n_sims=200)
    with pytest.raises(ForecastError, match="target_events=500"):
        tk.backtest_events(demo_b1931036, target_events=500, n_sims=200)


def test_an_unknown_option_is_named(demo_b1931036):
    with pytest.raises(ForecastError, match="'parameter_uncertanity': not an option of forecast_accrual"):
        tk.backtest_accrual(demo_b1931036, n_sims=200, parameter_uncertanity=False)
    with pytest.raises(ForecastError, match="'as_of': not an option of forecast_events"):
        tk.backtest_events(demo_b1931036, n_sims=200, as_of="2025-01-01")
