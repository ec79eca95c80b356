"""forecast_accrual on small inline frames (explicit expected frames), on the demo studies, and every
error path with a deliberately broken input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import DataValidationError, ForecastError, TrialkitError
from trialkit.forecast import _poisson_gamma as pg
from trialkit.results import ARD_COLUMNS, part_from_frame

MONTH = 365.25 / 12
NAT = pd.NaT  # a site row without a patient has no randomization date


def frame() -> pd.DataFrame:
    """Four sites: S1 (3 patients), S2 (1), S3 (open, none yet), S4 opening after the forecast date."""
    return pd.DataFrame({
        "site_id": ["S1", "S1", "S1", "S2", "S3", "S4"],
        "activation_date": pd.to_datetime(["2024-01-01"] * 3 + ["2024-03-01", "2024-05-01", "2024-09-01"]),
        "randomization_date": pd.to_datetime(["2024-02-01", "2024-03-15", "2024-06-01", "2024-05-10", NAT, NAT]),
        "arm": ["A", "B", "A", "A", None, None],
        "country": ["X", "X", "X", "Y", "Y", "X"],
    })


AS_OF = "2024-06-30"


def test_summary_of_a_frame():
    fc = tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=2000, ratio={"A": 1, "B": 1})
    s = fc.summary
    assert list(s.columns) == ["as_of", "randomized", "target", "remaining", "median", "lower_50", "upper_50",
                               "lower_90", "upper_90", "p_by_planned_completion", "rate_per_month", "sites_open",
                               "sites_to_open", "sites_unscheduled"]
    row = s.iloc[0]
    assert (row["as_of"], row["randomized"], row["target"], row["remaining"]) == (pd.Timestamp(AS_OF), 4, 10, 6)
    assert (row["sites_open"], row["sites_to_open"], row["sites_unscheduled"]) == (3, 1, 0)
    assert row["lower_90"] <= row["lower_50"] <= row["median"] <= row["upper_50"] <= row["upper_90"]
    assert row["lower_90"] > pd.Timestamp(AS_OF)


def test_site_table_and_observed_are_explicit():
    fc = tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=500)
    # exposure: days open up to and including the forecast date
    tau = np.array([182.0, 122.0, 61.0])
    n = np.array([3.0, 1.0, 0.0])
    fit = pg.fit_mle(n, tau)
    expected = pd.DataFrame({
        "site_id": ["S1", "S2", "S3", "S4"], "role": ["open", "open", "open", "future"],
        "opened": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-05-01", "2024-09-01"]),
        "months_open": [*(tau / MONTH), np.nan], "randomized": [3, 1, 0, 0],
        "expected": [*(fit.m * tau), np.nan],
        "rate_per_month": [*((fit.alpha + n) / (fit.beta + tau) * MONTH), np.nan]})
    got = fc.sites[expected.columns].astype({"role": object, "site_id": object})
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert not fc.sites["flag"].any()
    obs = pd.DataFrame({"date": pd.to_datetime(["2024-02-01", "2024-03-15", "2024-05-10", "2024-06-01"]),
                        "cumulative": [1, 2, 3, 4]})
    pd.testing.assert_frame_equal(fc.observed, obs, check_dtype=False)


def test_counts_by_arm_and_group():
    fc = tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=2000, ratio={"A": 1, "B": 1}, by="country",
                             dates=["2024-12-31"])
    c = fc.counts.set_index(["by", "group"])
    assert list(c.index) == [("overall", "all"), ("arm", "A"), ("arm", "B"), ("country", "X"), ("country", "Y")]
    assert c["observed"].tolist() == [4, 3, 1, 3, 1]
    assert (c["date"] == pd.Timestamp("2024-12-31")).all()
    # each group's expected count adds up to the overall one (Poisson intensities add)
    assert c.loc[("arm", "A"), "mean"] + c.loc[("arm", "B"), "mean"] == pytest.approx(c.loc[("overall", "all"), "mean"],
                                                                                       rel=0.02)
    assert c.loc[("country", "X"), "mean"] + c.loc[("country", "Y"), "mean"] == pytest.approx(
        c.loc[("overall", "all"), "mean"], rel=0.02)
    assert (c["lower_90"] >= c["observed"]).all()


def test_a_known_poisson_rate_gives_the_gamma_waiting_time():
    """One site with 2,000 patients in 1,000 days: its rate (2/day) is known to ~2 %, so the wait for 50
    more is close to Gamma(50, rate 2): median 24.83, 5 % 19.07, 95 % 31.51 days (scipy.stats.gamma)."""
    from scipy.stats import gamma

    start = pd.Timestamp("2020-01-01")
    days = np.sort(np.random.default_rng(0).integers(0, 1000, 2000))
    df = pd.DataFrame({"site_id": "S1", "activation_date": start, "randomization_date": start + pd.to_timedelta(days, "D")})
    as_of = start + pd.Timedelta(days=999)
    n_seen = 2000
    fc = tk.forecast_accrual(df, target=n_seen + 50, as_of=as_of, n_sims=20_000, seed=3)
    rate = n_seen / 1000
    for col, q in (("median", 0.5), ("lower_90", 0.05), ("upper_90", 0.95)):
        expected = as_of + pd.Timedelta(days=int(np.ceil(gamma.ppf(q, 50, scale=1 / rate))))
        assert abs((fc.summary[col].iloc[0] - expected).days) <= 1, col


def test_the_fan_crosses_the_target_at_the_target_date_limits():
    """P(N(t) >= target) = P(T <= t): the upper 90 % band reaches the target about when the lower limit of the
    target date falls (pointwise Monte Carlo, so within a few days)."""
    fc = tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=20_000, seed=1)
    fan = fc.fan
    first_up = fan.loc[fan["upper_90"] >= 10, "date"].min()
    first_med = fan.loc[fan["median"] >= 10, "date"].min()
    step = (fan["date"].iloc[2] - fan["date"].iloc[1]).days
    assert abs((first_up - fc.summary["lower_90"].iloc[0]).days) <= 2 * step + 3
    assert abs((first_med - fc.summary["median"].iloc[0]).days) <= 2 * step + 3


def test_same_seed_same_forecast_and_to_frame_is_lossless():
    a = tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=1000, seed=5)
    b = tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=1000, seed=5)
    c = tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=1000, seed=6)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert not a.fan.equals(c.fan)
    ard = a.to_frame()
    assert tuple(ard.columns) == ARD_COLUMNS and set(ard["analysis"]) == {"forecast_accrual"}
    # a frame has no screening table: that part is empty and adds no row
    assert set(ard["part"]) == {"summary", "counts", "fan", "observed", "sites", "parameters", "settings", "notes"}
    back = part_from_frame(ard, "sites")
    assert back["site_id"].tolist() == a.sites["site_id"].tolist()
    assert back["randomized"].tolist() == a.sites["randomized"].tolist()
    assert part_from_frame(ard, "summary")["median"].iloc[0] == a.summary["median"].iloc[0].isoformat()
    # one row per cell of every part, less the identifying columns (its keys and `group`)
    n_stats = sum(len(df) * (df.shape[1] - len(a.part_keys.get(k, ())) - ("group" in df.columns))
                  for k, df in a.parts().items())
    assert (~ard["part"].isin(["settings", "notes"])).sum() == n_stats
    assert (ard["part"] == "notes").sum() == len(a.notes)


def test_parameter_uncertainty_widens_early_intervals():
    """Plugging in the estimates ignores their uncertainty: the 90 % interval is narrower."""
    wide = tk.forecast_accrual(frame(), target=30, as_of=AS_OF, n_sims=4000, seed=2)
    narrow = tk.forecast_accrual(frame(), target=30, as_of=AS_OF, n_sims=4000, seed=2, parameter_uncertainty=False)

    def width(fc):
        return (fc.summary["upper_90"].iloc[0] - fc.summary["lower_90"].iloc[0]).days

    assert width(narrow) < width(wide)
    assert wide.settings()["parameter_uncertainty"] and not narrow.settings()["parameter_uncertainty"]


def test_sites_still_to_open_speed_the_forecast_up():
    base = tk.forecast_accrual(frame(), target=30, as_of=AS_OF, n_sims=4000, seed=4)
    more = tk.forecast_accrual(frame(), target=30, as_of=AS_OF, n_sims=4000, seed=4, new_sites=10, opening_rate=2)
    listed = tk.forecast_accrual(frame(), target=30, as_of=AS_OF, n_sims=4000, seed=4,
                                 new_sites=pd.DataFrame({"site_id": ["N1", "N2"],
                                                         "activation_date": ["2024-07-15", "2024-08-01"]}))
    assert more.summary["sites_to_open"].iloc[0] == 11 and listed.summary["sites_to_open"].iloc[0] == 3
    assert more.summary["median"].iloc[0] < base.summary["median"].iloc[0]
    assert listed.summary["median"].iloc[0] < base.summary["median"].iloc[0]
    assert any("10 site(s) without an activation date open one after another at 2 per month" in n for n in more.notes)


def test_closed_unscheduled_and_undated_sites_are_said():
    df = frame()
    df["status"] = ["recruiting"] * 4 + ["closed", "recruiting"]
    df.loc[df["site_id"] == "S2", "activation_date"] = pd.NaT  # has a patient: its first randomization opens it
    extra = pd.DataFrame({"site_id": ["S5"], "activation_date": [pd.NaT], "randomization_date": [pd.NaT],
                          "status": ["planned"], "country": ["Y"]})
    fc = tk.forecast_accrual(pd.concat([df, extra], ignore_index=True), target=10, as_of=AS_OF, n_sims=500)
    roles = dict(zip(fc.sites["site_id"], fc.sites["role"]))
    assert roles == {"S1": "open", "S2": "open", "S3": "closed", "S4": "future", "S5": "unscheduled"}
    assert fc.sites.loc[fc.sites["site_id"] == "S2", "opened"].iloc[0] == pd.Timestamp("2024-05-10")
    text = " ".join(fc.notes)
    assert "1 site(s) have no activation date: their first screening or randomization is taken" in text
    assert "1 site(s) closed to accrual" in text
    assert "1 site(s) listed without an activation date are left out" in text
    assert fc.summary["sites_unscheduled"].iloc[0] == 1


def test_target_already_reached_reports_its_date():
    fc = tk.forecast_accrual(frame(), target=3, as_of=AS_OF, n_sims=500)
    s = fc.summary.iloc[0]
    assert s["remaining"] == 0 and s["median"] == s["upper_90"] == pd.Timestamp("2024-05-10")
    assert any("was reached" in n for n in fc.notes)


def test_without_target_only_counts():
    fc = tk.forecast_accrual(frame(), as_of=AS_OF, n_sims=500)
    assert fc.target is None and pd.isna(fc.summary["median"].iloc[0])
    assert len(fc.counts) == 4 and fc.counts["by"].eq("overall").all()


def test_html_and_figure():
    fc = tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=500, planned_completion="2025-06-30")
    html = fc._repr_html_()
    assert "Accrual forecast to 10 as of 2024-06-30" in html and "model parameters" in html
    fig = fc.figure()
    metas = [t.meta for t in fig.data]
    assert metas == ["band", "band", "band", "band", "median", "observed", "target_interval", "target_date"]
    assert any("planned completion (P = " in (a.text or "") for a in fig.layout.annotations)


# ------------------------------------------------------------------------------------------------
# demo studies
# ------------------------------------------------------------------------------------------------
def test_demo_b1931036(demo_b1931036):
    fc = tk.forecast_accrual(demo_b1931036, n_sims=2000, by="country")
    s = fc.summary.iloc[0]
    assert (s["as_of"], s["randomized"], s["target"], s["sites_open"]) == (pd.Timestamp("2026-06-30"), 96, 100, 72)
    c = fc.counts
    arms = c[c["by"] == "arm"].groupby("group")["observed"].first()
    assert arms.to_dict() == demo_b1931036.randomization["arm"].value_counts().to_dict()
    assert c[(c["by"] == "country")].groupby("group")["observed"].first().sum() == 96
    # conversion: the randomized share of those screened (all 260 screened at least the window before the cut)
    scr = fc.screening.set_index("quantity")["estimate"]
    assert scr["conversion (randomized / screened)"] == pytest.approx(96 / 260)
    assert scr["screenings needed for 4 more randomized"] > 4
    assert len(fc.sites) == 72


def test_demo_aall1732_has_no_planned_enrollment(demo_aall1732):
    fc = tk.forecast_accrual(demo_aall1732, n_sims=1000)
    assert fc.target is None and fc.summary["randomized"].iloc[0] == len(demo_aall1732.randomization)
    fc = tk.forecast_accrual(demo_aall1732, target=300, n_sims=1000)
    assert fc.summary["median"].iloc[0] > pd.Timestamp("2026-06-30")


# ------------------------------------------------------------------------------------------------
# errors: every one a TrialkitError naming what to fix
# ------------------------------------------------------------------------------------------------
def test_missing_columns_are_listed():
    with pytest.raises(DataValidationError) as err:
        tk.forecast_accrual(frame().drop(columns=["activation_date"]), target=10)
    fc = err.value.failure_cases
    assert fc["column"].tolist() == ["activation_date"] and fc["problem"].iloc[0] == "column is missing"


def test_text_in_a_date_column_names_its_line():
    df = frame().astype({"randomization_date": object, "activation_date": object})
    df.loc[2, "randomization_date"] = "01/06/2024?"
    df.loc[4, "activation_date"] = "soon"
    with pytest.raises(DataValidationError) as err:
        tk.forecast_accrual(df, target=10, as_of=AS_OF)
    fc = err.value.failure_cases
    assert fc[["row", "column", "value", "problem"]].values.tolist() == [
        [6, "activation_date", "soon", "not a date"], [4, "randomization_date", "01/06/2024?", "not a date"]]


def test_randomized_before_the_site_opened():
    df = frame()
    df.loc[3, "randomization_date"] = pd.Timestamp("2024-02-01")  # S2 opened 2024-03-01
    with pytest.raises(DataValidationError, match="randomized before site S2 opened") as err:
        tk.forecast_accrual(df, target=10, as_of=AS_OF)
    assert err.value.failure_cases["row"].tolist() == [5]


def test_a_site_with_two_activation_dates():
    df = frame()
    df.loc[1, "activation_date"] = pd.Timestamp("2024-01-15")
    with pytest.raises(DataValidationError, match="site S1 has 2 different values of `activation_date`"):
        tk.forecast_accrual(df, target=10, as_of=AS_OF)


def test_nothing_to_estimate_from():
    with pytest.raises(ForecastError, match="no patient had been randomized by 2024-01-31"):
        tk.forecast_accrual(frame(), target=10, as_of="2024-01-31")
    with pytest.raises(ForecastError, match="no site was open on 2023-12-01"):
        tk.forecast_accrual(frame(), target=10, as_of="2023-12-01")


@pytest.mark.parametrize("kwargs, message", [
    ({"new_sites": 3}, "new_sites=3 needs opening_rate="),
    ({"new_sites": 3, "opening_rate": -1}, "opening_rate must be a positive number"),
    ({"new_sites": pd.DataFrame({"site_id": ["N"], "activation_date": ["2024-01-01"]})}, "not after the forecast"),
    ({"conf_level": 90}, "conf_level must lie strictly between 0 and 1"),
    ({"conf_level": "high"}, "conf_level must be a coverage"),
    ({"target": 2.5}, "target must be a whole number"),
    ({"n_sims": 10}, "n_sims must be a whole number >= 100"),
    ({"as_of": "not a date"}, "as_of must be a date"),
    ({"by": "region"}, "by='region' is not a column"),
    ({"horizon": "2024-01-01"}, "horizon must lie after the forecast date"),
    ({"horizon": -30}, "horizon must lie after the forecast date 2024-06-30"),
    ({"horizon": float("nan")}, "horizon must lie after the forecast date"),
    ({"horizon": True}, "horizon must be a date or a number of days"),
    ({"seed": "abc"}, "seed must be a whole number"),
    ({"seed": -1}, "seed must be a whole number >= 0"),
    ({"n_sims": 0}, "n_sims must be a whole number >= 100, not 0"),
    ({"target": True}, "target must be a whole number, not True"),
    ({"flag_below": "half"}, "flag_below must be a number"),
    ({"flag_below": 0}, "flag_below must be a finite number > 0"),
    ({"new_sites": 3, "opening_rate": "two"}, "opening_rate must be a positive number of sites per month"),
    ({"ratio": "2:1"}, "ratio must be a dict of arm -> positive weight"),
    ({"ratio": {"A": 1, "B": 0}}, r"ratio\['B'\] must be a positive number, not 0"),
    ({"ratio": {"A": 1, "B": -2}}, r"ratio\['B'\] must be a positive number"),
    ({"ratio": {"A": 1, "C": 2}}, "ratio has no weight for arm\\(s\\) B randomized in the data"),
    ({"dates": ["2024-03-31", "2024-12-31"]}, "dates must lie after the forecast date 2024-06-30: 2024-03-31"),
])
def test_bad_arguments(kwargs, message):
    args = {"target": 10, "as_of": AS_OF, "n_sims": 200, **kwargs}
    with pytest.raises(TrialkitError, match=message):
        tk.forecast_accrual(frame(), **args)


def test_a_single_date_of_another_type_is_one_date():
    import datetime

    fc = tk.forecast_accrual(frame(), target=10, as_of=AS_OF, n_sims=200, dates=datetime.date(2024, 12, 31))
    assert fc.counts["date"].tolist() == [pd.Timestamp("2024-12-31")]


def test_an_in_memory_study_with_a_site_without_activation_date(demo_b1931036):
    """A Study built in memory (not through tk.load_study) whose sites table holds an object column with
    a missing activation date: read like the loader's, the site opening on its first screening."""
    sites = demo_b1931036.sites.copy()
    sites["activation_date"] = sites["activation_date"].astype(object)
    sites.loc[0, "activation_date"] = np.nan
    fc = tk.forecast_accrual(demo_b1931036.replace(sites=sites), n_sims=200)
    first = sites.loc[0, "site_id"]
    assert any("1 site(s) have no activation date" in n and first in n for n in fc.notes)
    sites.loc[1, "activation_date"] = "next spring"
    with pytest.raises(DataValidationError) as err:
        tk.forecast_accrual(demo_b1931036.replace(sites=sites), n_sims=200)
    assert err.value.failure_cases[["table", "row", "column", "value", "problem"]].values.tolist() == [
        ["sites", 3, "activation_date", "next spring", "not a date"]]


def test_bad_data_type():
    with pytest.raises(ForecastError, match="data must be a Study"):
        tk.forecast_accrual([1, 2, 3])


def test_a_forecast_date_after_the_data_cut_is_refused(demo_b1931036):
    with pytest.raises(ForecastError, match="as_of 2026-08-01 is after the data cut 2026-06-30"):
        tk.forecast_accrual(demo_b1931036, as_of="2026-08-01", n_sims=200)
    with pytest.raises(ForecastError, match="after the data cut"):
        tk.forecast_events(demo_b1931036, as_of="2026-08-01", target_events=70, n_sims=200)


def test_a_randomization_at_a_site_missing_from_the_sites_table(demo_b1931036):
    rnd = demo_b1931036.randomization.copy()
    rnd["site_id"] = rnd["site_id"].astype(object)
    rnd.loc[3, "site_id"] = "XX99"
    with pytest.raises(DataValidationError) as err:
        tk.forecast_accrual(demo_b1931036.replace(randomization=rnd), n_sims=200)
    fc = err.value.failure_cases
    assert fc[["table", "row", "column", "value"]].values.tolist() == [["randomization", 5, "site_id", "XX99"]]


def test_a_site_far_below_the_average_is_flagged():
    """Seven sites randomize one patient a month for 24 months, S8 none in the same 731 days. Given the
    fitted (alpha, beta), S8's rate is Gamma(alpha + 0, beta + 731), the conjugate Gamma-Poisson update of
    Anisimov & Fedorov (2007); the upper limit of its 90 % interval (scipy.stats.gamma) lies below half the
    average site's rate (flag_below=0.5), so S8 alone is flagged, and drawn in red by plot_site_rates."""
    from scipy.stats import gamma

    open_day = pd.Timestamp("2023-01-01")
    rows = [{"site_id": f"S{i}", "activation_date": open_day, "randomization_date": open_day + pd.DateOffset(months=k)}
            for i in range(1, 8) for k in range(24)]
    rows.append({"site_id": "S8", "activation_date": open_day, "randomization_date": pd.NaT})
    df = pd.DataFrame(rows)
    fc = tk.forecast_accrual(df, target=200, as_of="2024-12-31", n_sims=200)
    s = fc.sites.set_index("site_id")
    assert s["flag"].to_dict() == {**{f"S{i}": False for i in range(1, 8)}, "S8": True}
    fit = pg.fit_mle(np.array([24.0] * 7 + [0.0]), np.full(8, 731.0))
    assert s.loc["S8", "months_open"] == pytest.approx(731 / MONTH)
    assert s.loc["S8", "rate_upper"] == pytest.approx(gamma.ppf(0.95, fit.alpha, scale=1 / (fit.beta + 731)) * MONTH)
    assert s.loc["S8", "rate_upper"] < 0.5 * fit.m * MONTH
    assert s.loc["S8", "expected"] == pytest.approx(fit.m * 731) and s.loc["S8", "randomized"] == 0
    fig = tk.plot_site_rates(fc)
    assert [(t.meta, sorted(t.y)) for t in fig.data] == [("site", [f"S{i}" for i in range(1, 8)]), ("flagged", ["S8"])]
