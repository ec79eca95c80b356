"""The forecast figures through fig.to_dict(): traces, counts, labels, and what they are drawn from."""

from __future__ import annotations

import pandas as pd
import pytest
from test_forecast_accrual import AS_OF, frame

import trialkit as tk


@pytest.fixture(scope="module")
def forecast():
    return tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=1000, planned_completion="2025-03-31")


def test_fan_chart_draws_the_result(forecast):
    fig = forecast.figure()
    d = fig.to_dict()
    by_meta = {}
    for t in fig.data:  # the trace objects (to_dict() packs numeric arrays as base64)
        by_meta.setdefault(t.meta, []).append(t)
    assert [len(by_meta[m]) for m in ("band", "median", "observed", "target_interval", "target_date")] == [4, 1, 1, 1, 1]
    upper_90 = next(t for t in by_meta["band"] if t.name == "90% upper")
    assert list(upper_90.y) == forecast.fan["upper_90"].tolist()
    obs = by_meta["observed"][0]
    assert list(obs.y) == [1, 2, 3, 4, 4] and pd.Timestamp(obs.x[-1]) == pd.Timestamp(AS_OF)
    s = forecast.summary.iloc[0]
    seg = by_meta["target_interval"][0]
    assert [pd.Timestamp(x) for x in seg.x] == [s["lower_90"], s["upper_90"]] and list(seg.y) == [10, 10]
    assert pd.Timestamp(by_meta["target_date"][0].x[0]) == s["median"]
    texts = [a["text"] for a in d["layout"]["annotations"]]
    assert "target 10" in texts and "forecast date 2024-06-30" in texts
    assert any(t.startswith("planned completion (P = ") for t in texts)
    assert "4 randomized at" in d["layout"]["title"]["text"]


def test_site_rates_figure(forecast):
    fig = tk.plot_site_rates(forecast)
    d = fig.to_dict()
    site = fig.data[0]
    assert site.meta == "site" and sorted(site.y) == ["S1", "S2", "S3"]  # S4 is not open yet
    assert d["layout"]["shapes"][0]["x0"] == pytest.approx(forecast.parameters["estimate"].iloc[0])


def test_event_fan_chart():
    from test_forecast_events import CUT
    from test_forecast_events import frame as event_frame

    fc = tk.forecast_events(event_frame(), target_events=5, as_of=CUT, n_sims=500)
    d = fc.figure().to_dict()
    assert [t["meta"] for t in d["data"]] == ["band", "band", "band", "band", "median", "observed", "target_interval",
                                             "target_date"]
    assert "all arms pooled" in d["layout"]["title"]["text"]
    assert d["layout"]["yaxis"]["title"]["text"] == "EFS events (cumulative)"


def test_backtest_figure_draws_an_unreached_limit_to_the_edge():
    from trialkit.forecast.backtest import Backtest
    from trialkit.plots.forecast import plot_backtest

    d = pd.Timestamp
    s = pd.DataFrame({"cutoff": [d("2024-01-01")], "observed": [10], "target": [20], "actual_date": [d("2025-01-01")],
                      "median": [d("2025-02-01")], "lower_50": [d("2024-12-01")], "upper_50": [d("2025-04-01")],
                      "lower_90": [d("2024-10-01")], "upper_90": [pd.NaT], "covered_50": [False],
                      "covered_90": [True], "error_days": [31], "straight_line_date": [d("2025-06-01")],
                      "straight_line_error_days": [151]})
    bt = Backtest(summary=s, overall=pd.DataFrame(), kind="accrual", target=20, conf_level=(0.5, 0.9), n_sims=1,
                  seed=0)
    fig = plot_backtest(bt)
    wide = fig.data[0]
    assert wide.name == "90% prediction interval"
    assert pd.Timestamp(wide.x[1]) == d("2025-06-01") + pd.Timedelta(days=180)
    assert fig.layout.xaxis.title.text == "date of patient number 20"


def test_a_figure_of_the_wrong_result_or_a_bad_size_is_named(forecast):
    from trialkit.errors import ForecastError

    with pytest.raises(ForecastError, match="plot_event_forecast draws the result of tk.forecast_events, not "
                                            "AccrualForecast"):
        tk.plot_event_forecast(forecast)
    with pytest.raises(ForecastError, match="plot_backtest draws the result of tk.backtest_accrual"):
        tk.plot_backtest(forecast)
    with pytest.raises(ForecastError, match="plot_site_rates draws the result of tk.forecast_accrual, not str"):
        tk.plot_site_rates("sites")
    with pytest.raises(ForecastError, match="height must be a number of pixels >= 100, not 'big'"):
        forecast.figure(height="big")
    with pytest.raises(ForecastError, match="title must be text, not 5"):
        tk.plot_accrual_forecast(forecast, title=5)
