"""forecast_events: reconstruction of what was known at a forecast date (explicit expected frames), a
known-truth check, blinding, the demo studies, lifelines' Weibull fitter on the demo's EFS, and the
error paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import DataValidationError, ForecastError, TrialkitError
from trialkit.forecast.events import _differs


def frame() -> pd.DataFrame:
    """Eight patients at two sites; data cut 2024-01-31. P4 was last seen 2023-07-29 (a dropout)."""
    rand = pd.to_datetime(["2023-01-10", "2023-02-01", "2023-03-01", "2023-04-01", "2023-06-01", "2023-08-01",
                           "2023-10-01", "2023-12-01"])
    return pd.DataFrame({
        "site_id": ["S1", "S1", "S2", "S2", "S1", "S1", "S2", "S2"],
        "activation_date": pd.to_datetime(["2023-01-01", "2023-01-01", "2023-02-01", "2023-02-01", "2023-01-01",
                                           "2023-01-01", "2023-02-01", "2023-02-01"]),
        "randomization_date": rand,
        "time_days": [100, 365, 50, 120, 200, 184, 30, 62],
        "event": [1, 0, 1, 0, 1, 0, 1, 0],
        "arm": ["A", "B", "A", "B", "A", "B", "A", "B"]})


CUT = "2024-01-31"


def test_where_the_patients_stand_at_the_cut():
    fc = tk.forecast_events(frame(), target_events=6, as_of=CUT, n_sims=1000)
    expected = pd.DataFrame({"status": ["event", "in follow-up", "dropped out", "follow-up complete",
                                        "still to be randomized"], "n": [4, 3, 1, 0, 0]})
    pd.testing.assert_frame_equal(fc.patients, expected)
    # P1 (2023-01-10 + 99 days) and P3 (2023-03-01 + 49 days) both on 2023-04-19; ADaM: ADT = STARTDT + AVAL - 1
    obs = pd.DataFrame({"date": pd.to_datetime(["2023-04-19", "2023-10-30", "2023-12-17"]),
                        "cumulative": [2, 3, 4]})
    pd.testing.assert_frame_equal(fc.observed, obs, check_dtype=False)
    s = fc.summary.iloc[0]
    assert (s["model"], s["chosen"], s["events"], s["target_events"], s["remaining"]) == ("weibull", True, 4, 6, 2)
    # two more events from the three still followed: in over 5 % of paths they never come (an empty limit)
    assert pd.Timestamp(CUT) < s["lower_90"] <= s["median"] and pd.isna(s["upper_90"])
    assert any("the target is never reached" in n for n in fc.notes)
    one_more = tk.forecast_events(frame(), target_events=5, as_of=CUT, n_sims=1000).summary.iloc[0]
    assert pd.Timestamp(CUT) < one_more["lower_90"] <= one_more["median"] <= one_more["upper_50"]


def test_an_earlier_cut_sees_only_what_was_known_then():
    """On 2023-07-01: P5's event (2023-12-17) is not yet known, P4 is still followed, P6-P8 not randomized."""
    fc = tk.forecast_events(frame(), target_events=4, as_of="2023-07-01", n_sims=1000)
    assert fc.patients.set_index("status")["n"].to_dict() == {
        "event": 2, "in follow-up": 3, "dropped out": 0, "follow-up complete": 0, "still to be randomized": 0}
    assert fc.observed["cumulative"].iloc[-1] == 2


def test_follow_up_limit_and_accrual_target():
    fc = tk.forecast_events(frame(), target_events=6, as_of=CUT, n_sims=500, follow_up_days=300, accrual_target=12)
    pts = fc.patients.set_index("status")["n"].to_dict()
    # P2 (365 days, censored at the cut) has completed a 300-day follow-up; P4 left at day 120 (a dropout);
    # P6 and P8 are still followed; 4 more patients to come
    assert pts == {"event": 4, "in follow-up": 2, "dropped out": 1, "follow-up complete": 1,
                   "still to be randomized": 4}


def test_an_accrual_target_below_the_randomized_is_said():
    """Eight randomized by the cut; an accrual target of 5 adds nobody and drops nobody, and says so."""
    fc = tk.forecast_events(frame(), target_events=6, as_of=CUT, n_sims=500, accrual_target=5)
    pts = fc.patients.set_index("status")["n"]
    assert pts.drop("still to be randomized").sum() == 8 and pts["still to be randomized"] == 0
    assert "the accrual target of 5 is below the 8 patients randomized by 2024-01-31: all 8 are followed and no " \
           "further patient is added" in fc.notes


def test_exponential_events_match_the_order_statistics():
    """2,000 patients followed 1,000 days with a constant hazard of 0.002/day: the wait for 40 more events
    among those still at risk is the 40th order statistic of their Exp(0.002) residual times (memoryless),
    sum_{i<40} E_i / ((n - i) h), simulated here directly with numpy."""
    rng = np.random.default_rng(11)
    n, h = 2000, 0.002
    as_of = pd.Timestamp("2024-12-31")
    t = rng.exponential(1 / h, n)
    event = t <= 1000
    df = pd.DataFrame({"site_id": "S1", "activation_date": as_of - pd.Timedelta(days=1200),
                       "randomization_date": as_of - pd.Timedelta(days=999),
                       "time_days": np.where(event, np.ceil(t), 1000.0), "event": event.astype(int)})
    d = int(event.sum())
    fc = tk.forecast_events(df, target_events=d + 40, as_of=as_of, model="piecewise", cuts=[], dropout=False,
                            n_sims=5000, seed=2)
    at_risk = n - d
    e = rng.standard_exponential((20_000, 40)) / ((at_risk - np.arange(40)) * h)
    wait = e.sum(axis=1)
    got = (fc.summary["median"].iloc[0] - as_of).days
    assert got == pytest.approx(np.median(wait), abs=1.5)
    spread = (fc.summary["upper_90"].iloc[0] - fc.summary["lower_90"].iloc[0]).days
    assert spread == pytest.approx(np.quantile(wait, 0.95) - np.quantile(wait, 0.05), rel=0.2)


def test_pooled_over_arms_the_arms_play_no_part():
    df = frame()
    a = tk.forecast_events(df, target_events=6, as_of=CUT, n_sims=1000, seed=3)
    b = tk.forecast_events(df.assign(arm=df["arm"].iloc[::-1].to_numpy()), target_events=6, as_of=CUT,
                           n_sims=1000, seed=3)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    ard = a.to_frame()
    assert not ard["value"].astype(str).isin(["A", "B"]).any() and not ard["term"].str.contains("arm").any()
    assert a.settings()["pooled_over_arms"] is True


def test_both_models_are_reported_when_they_differ():
    lv = (0.5, 0.9)
    d = pd.Timestamp
    chosen = {"median": d("2025-01-01"), "lower_50": d("2024-12-01"), "upper_50": d("2025-02-01")}
    assert _differs([chosen, {"median": d("2025-03-01")}], lv)
    assert not _differs([chosen, {"median": d("2025-01-20")}], lv)
    assert not _differs([chosen, {"median": pd.NaT}], lv)


def test_models_part_has_both_fits_and_dropout():
    fc = tk.forecast_events(frame(), target_events=6, as_of=CUT, n_sims=500)
    m = fc.models
    assert m["model"].unique().tolist() == ["weibull", "piecewise", "dropout (exponential)"]
    drop = m.loc[m["model"] == "dropout (exponential)", "estimate"].iloc[0]
    # one dropout over the follow-up known at the cut (days): 100+365+50+120+200+184+30+62 = 1111
    assert drop == pytest.approx(1 / 1111 * 365.25)


def test_figure_and_html():
    fc = tk.forecast_events(frame(), target_events=6, as_of=CUT, n_sims=500)
    assert [t.meta for t in fc.figure().data] == ["band", "band", "band", "band", "median", "observed",
                                                  "target_interval", "target_date"]
    assert "Event forecast: EFS to 6 events as of 2024-01-31, pooled over arms" in fc._repr_html_()


# ------------------------------------------------------------------------------------------------
# demo studies
# ------------------------------------------------------------------------------------------------
def test_demo_b1931036_and_lifelines(demo_b1931036):
    """The event model against lifelines' WeibullFitter (second implementation) on the demo's EFS."""
    from lifelines import WeibullFitter

    fc = tk.forecast_events(demo_b1931036, endpoint="EFS", target_events=72, n_sims=2000)
    pts = fc.patients.set_index("status")["n"]
    efs = demo_b1931036.outcomes[demo_b1931036.outcomes["endpoint"] == "EFS"]
    assert pts["event"] == int(efs["event"].sum()) == fc.summary["events"].iloc[0]
    assert pts["still to be randomized"] == 100 - 96 and pts.sum() == 100
    lf = WeibullFitter().fit(efs["time_days"].astype(float), efs["event"].astype(int))
    est = fc.models.set_index(["model", "parameter"])["estimate"]
    assert est[("weibull", "scale (days)")] == pytest.approx(lf.lambda_, rel=1e-5)
    assert est[("weibull", "shape")] == pytest.approx(lf.rho_, rel=1e-5)
    assert fc.fan["median"].is_monotonic_increasing
    # the demo's EFS has a spike of induction failures around day 30: the piecewise model fits it better
    aic = fc.models.groupby("model")["aic"].first()
    assert aic["piecewise"] < aic["weibull"] - 4
    assert any("the piecewise model fits the observed event times better" in n for n in fc.notes)


def test_demo_aall1732_says_it_has_no_accrual_target(demo_aall1732):
    fc = tk.forecast_events(demo_aall1732, endpoint="OS", target_events=25, n_sims=1000)
    assert any("no accrual target" in n for n in fc.notes)
    assert fc.patients.set_index("status")["n"]["still to be randomized"] == 0


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------
def test_a_frame_without_event_columns():
    with pytest.raises(DataValidationError) as err:
        tk.forecast_events(frame().drop(columns=["event"]), target_events=6, as_of=CUT)
    assert err.value.failure_cases["column"].tolist() == ["event"]


def test_bad_event_values_name_their_line():
    df = frame().astype({"event": object, "time_days": object})
    df.loc[2, "event"] = 2
    df.loc[5, "time_days"] = "long"
    with pytest.raises(DataValidationError) as err:
        tk.forecast_events(df, target_events=6, as_of=CUT)
    fc = err.value.failure_cases
    assert fc[["row", "column", "problem"]].values.tolist() == [[7, "time_days", "must be a number >= 0"],
                                                                 [4, "event", "must be 0 or 1"]]


def test_unknown_endpoint(demo_b1931036):
    with pytest.raises(ForecastError, match="endpoint 'PFS' is not in this study's outcomes table; it has EFS, OS"):
        tk.forecast_events(demo_b1931036, endpoint="PFS", target_events=10)


def test_no_event_yet():
    df = frame().assign(event=0)
    with pytest.raises(ForecastError, match="no event has been observed"):
        tk.forecast_events(df, target_events=3, as_of=CUT, model="piecewise")


@pytest.mark.parametrize("kwargs, message", [
    ({"model": "cox"}, "model must be one of weibull, piecewise"),
    ({"target_events": 0}, "target_events must be a whole number >= 1"),
    ({"cuts": [0, 10]}, "cuts must be increasing positive days"),
    ({"cuts": [10, 10]}, "cuts must be increasing positive days"),
    ({"conf_level": 1.5}, "conf_level must lie strictly between 0 and 1"),
    ({"cuts": ["a"]}, "cuts must be increasing positive days"),
    ({"cuts": [-5]}, "cuts must be increasing positive days"),
    ({"cuts": "90"}, "cuts must be a list of days"),
    ({"follow_up_days": "long"}, "follow_up_days must be a number"),
    ({"follow_up_days": -1}, "follow_up_days must be a finite number > 0, not -1"),
    ({"dropout_gap_days": "x"}, "dropout_gap_days must be a number"),
    ({"dropout_gap_days": -1}, "dropout_gap_days must be a finite number >= 0"),
    ({"horizon": -1}, "horizon must lie after the forecast date 2024-01-31"),
    ({"horizon": float("nan")}, "horizon must lie after the forecast date"),
    ({"seed": "x"}, "seed must be a whole number"),
    ({"n_sims": 0}, "n_sims must be a whole number >= 100, not 0"),
])
def test_bad_arguments(kwargs, message):
    args = {"target_events": 6, "as_of": CUT, "n_sims": 200, **kwargs}
    with pytest.raises(TrialkitError, match=message):
        tk.forecast_events(frame(), **args)
