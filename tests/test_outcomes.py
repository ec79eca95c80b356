"""Tests of trialkit.outcomes: Kaplan-Meier, log-rank (stratified, Fleming-Harrington), Cox, response.

Reference values are cited beside each expected number. Where trialkit computes a statistic itself
(the weighted/stratified log-rank, the plain-log band, the median rule, landmarks and risk tables)
it is checked against a published value or a hand computation written out in the test, and against
an independent implementation (statsmodels) where one exists. Outputs that come from lifelines are
compared with lifelines called directly.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import trialkit.outcomes as tko
from trialkit.errors import TrialkitError
from trialkit.protocols import get_protocol
from trialkit.study import Study


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------
def leukemia() -> pd.DataFrame:
    """Freireich et al. (1963) 6-MP remission data as in Kleinbaum & Klein, *Survival Analysis: A
    Self-Learning Text* (3rd ed., 2012), ch. 1-3 (lifelines.datasets.load_leukemia): Rx = 1 placebo."""
    from lifelines.datasets import load_leukemia

    d = load_leukemia()
    return pd.DataFrame({"subject_id": [f"S{i:02d}" for i in range(len(d))], "endpoint": "REM",
                         "time_days": d["t"].astype(float), "event": d["status"],
                         "arm": np.where(d["Rx"] == 1, "placebo", "6-MP"), "logWBC": d["logWBC"],
                         "wbc3": pd.cut(d["logWBC"], [-1, 2.30, 3.00, 99], labels=["low", "medium", "high"])
                         .astype(str), "sex": np.where(d["sex"] == 1, "M", "F")})


def lung() -> pd.DataFrame:
    """NCCTG advanced lung cancer data, R survival::lung (lifelines.datasets.load_lung)."""
    from lifelines.datasets import load_lung

    d = load_lung()
    return pd.DataFrame({"time_days": d["time"].astype(float), "event": d["status"].astype(int),
                         "sex": d["sex"].map({1: "male", 2: "female"}),
                         "ecog": d["ph.ecog"].fillna(1).clip(0, 2).astype(int).astype(str)})


TINY = pd.DataFrame({"subject_id": list("abcdef"), "time_days": [1.0, 2, 2, 3, 4, 5], "event": [1, 1, 0, 1, 0, 1],
                     "arm": "A"})


def tiny_study(**over) -> Study:
    """A six-subject B1931036 study written out by hand (2 ALLR3, 4 InO)."""
    proto = get_protocol("b1931036")
    ids = [f"P{i}" for i in range(1, 7)]
    rnd = pd.DataFrame({"subject_id": ids, "site_id": "DE01",
                        "randomization_date": pd.to_datetime(["2024-01-01"] * 6),
                        "arm": ["ALLR3", "InO", "InO", "ALLR3", "InO", "InO"],
                        "age_group": ["1 to <10 years"] * 3 + ["10 to <18 years"] * 3,
                        "relapse_timing": ["within 6 months of end of therapy"] * 6})
    scr = pd.DataFrame({"subject_id": ids, "site_id": "DE01", "age_years": [3.0, 5, 8, 12, 15, 17],
                        "sex": ["F", "M", "F", "M", "F", "M"], "country": "Germany"})
    out = pd.DataFrame({"subject_id": ids[:5], "endpoint": "EFS", "event": [1, 0, 1, 1, 0],
                        "time_days": [100.0, 400, 250, 50, 365]})
    resp = pd.DataFrame({"subject_id": ids[:5], "response": ["NR", "CR", "CRi", "CR", "PR"],
                         "mrd_negative": pd.array([False, True, False, True, pd.NA], dtype="boolean")})
    disp = pd.DataFrame({"subject_id": ids, "treated": [True, True, True, True, True, False]})
    kw = dict(protocol=proto, randomization=rnd, screening=scr, outcomes=out, response=resp, disposition=disp)
    kw.update(over)
    return Study(**kw)


# --------------------------------------------------------------------------------------------------
# import cost
# --------------------------------------------------------------------------------------------------
def test_import_outcomes_does_not_import_lifelines_or_scipy():
    code = ("import sys, trialkit, trialkit.outcomes; "
            "print(sorted(m for m in ('lifelines', 'scipy', 'statsmodels') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names_resolve_lazily():
    import trialkit as tk

    assert tk.km is tko.km and tk.logrank is tko.logrank and tk.cox is tko.cox
    assert tk.response_rates is tko.response_rates and tk.median_followup is tko.median_followup


# --------------------------------------------------------------------------------------------------
# Kaplan-Meier
# --------------------------------------------------------------------------------------------------
def test_km_hand_computed_curve_log_band_median_landmarks_and_risk_table():
    # Product-limit by hand: t=1 n=6 d=1 -> 5/6; t=2 n=5 d=1 (1 censored) -> 2/3; t=3 n=3 d=1 -> 4/9;
    # t=4 censored; t=5 n=1 d=1 -> 0. Greenwood sum at t=3: 1/30 + 1/20 + 1/6 = 1/4, so sigma = 0.5 and
    # the plain-log band (R conf.type="log") is 4/9 * exp(-/+ 1.959964 * 0.5) = 0.166805, 1.18 -> capped at 1.
    res = tko.km(TINY, conf_type="log", landmarks=[2.5, 3, 6], times=[0, 2, 4])
    c = res.curves.set_index("time")
    np.testing.assert_allclose(c["survival"].to_numpy(), [1, 5 / 6, 2 / 3, 4 / 9, 4 / 9, 0], rtol=1e-12)
    assert c.loc[3.0, "lower"] == pytest.approx(4 / 9 * np.exp(-1.959963984540054 * 0.5), rel=1e-9)
    assert c.loc[3.0, "upper"] == 1.0
    assert c.loc[5.0, ["lower", "upper"]].isna().all()  # S = 0: no log band (as R)
    assert res.summary.loc[0, "median"] == 3.0
    lm = res.landmarks
    np.testing.assert_allclose(lm["survival"].to_numpy(), [2 / 3, 4 / 9, np.nan])  # t=6 beyond follow-up
    assert lm["n_risk"].tolist() == [3, 3, 0]
    expected = pd.DataFrame({"group": pd.Categorical(["A"] * 3, categories=["A"], ordered=True),
                             "time": [0.0, 2, 4], "n_risk": [6, 5, 2], "n_events": [0, 2, 3],
                             "n_censored": [0, 1, 2]})
    pd.testing.assert_frame_equal(res.risk_table, expected, check_dtype=False)
    assert res.settings()["conf_type"] == "log"
    assert "R survival default" in res.conf_method and "log transform" in res._repr_html_()


def test_km_median_midpoint_rule_on_a_flat_half():
    # S = 0.75, 0.5, 0.25, 0 at t = 1, 2, 3, 4: S is exactly 0.5 on [2, 3), so the median is the
    # midpoint 2.5 (SAS PROC LIFETEST and R quantile.survfit); lifelines reports 2.
    df = pd.DataFrame({"time_days": [1.0, 2, 3, 4], "event": 1})
    assert tko.km(df, by=None).summary.loc[0, "median"] == 2.5


def test_km_log_log_matches_lifelines_on_leukemia():
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    d = leukemia()
    res = tko.km(d, endpoint="REM")
    assert list(res.groups) == ["6-MP", "placebo"]
    for g in res.groups:
        sub = d[d["arm"] == g]
        kmf = KaplanMeierFitter().fit(sub["time_days"], sub["event"])
        cur = res.curves[res.curves["group"] == g]
        np.testing.assert_allclose(cur["survival"], kmf.survival_function_.iloc[:, 0], rtol=1e-12)
        np.testing.assert_allclose(cur["lower"], kmf.confidence_interval_.iloc[:, 0], rtol=1e-12)
        np.testing.assert_allclose(cur["upper"], kmf.confidence_interval_.iloc[:, 1], rtol=1e-12)
        ci = median_survival_times(kmf.confidence_interval_).replace(np.inf, np.nan)  # not reached: NaN as R's NA
        row = res.summary.set_index("group").loc[g]
        assert [row["median_lower"], row["median_upper"]] == pytest.approx(list(ci.iloc[0]), nan_ok=True)
    # Medians: 6-MP 23 weeks, placebo 8 weeks (Kleinbaum & Klein 2012, ch. 2, remission data).
    assert res.summary["median"].tolist() == [23.0, 8.0]


def test_km_time_unit_converts_days():
    res = tko.km(TINY.assign(time_days=TINY["time_days"] * 365.25), time_unit="years", times=[0, 3])
    assert res.curves["time"].tolist() == [0, 1, 2, 3, 4, 5]
    assert res.risk_table["n_risk"].tolist() == [6, 3]


# --------------------------------------------------------------------------------------------------
# log-rank (hand-written engine)
# --------------------------------------------------------------------------------------------------
def test_logrank_leukemia_kleinbaum():
    # Kleinbaum & Klein (2012), ch. 2: log-rank chi-square 16.79 (1 df) for 6-MP vs placebo;
    # R survdiff(Surv(time, cens) ~ treat, data = MASS::gehan) prints Chisq = 16.8.
    res = tko.logrank(leukemia(), endpoint="REM")
    assert res.statistic == pytest.approx(16.7929, abs=1e-4)
    assert res.df == 1
    assert res.groups["observed"].tolist() == [9, 21]
    assert res.groups["expected"].round(2).tolist() == [19.25, 10.75]  # Kleinbaum & Klein, ch. 2: 19.25, 10.75


def test_stratified_logrank_leukemia_by_wbc_category():
    # The example (6-MP data stratified by log WBC in three classes: <=2.30, 2.31-3.00, >3.00) is
    # Kleinbaum & Klein's (2012, ch. 2). The expected statistic is statsmodels' survdiff(strata=...), an
    # independent implementation of the stratified test (the book's printed P-value is not asserted: it
    # could not be read from the book itself).
    from scipy.stats import chi2
    from statsmodels.duration.survfunc import survdiff

    d = leukemia()
    ref = survdiff(d["time_days"], d["event"], d["arm"], strata=d["wbc3"])[0]
    res = tko.logrank(d, endpoint="REM", strata="wbc3")
    assert res.statistic == pytest.approx(ref, rel=1e-10)
    assert res.p_value == pytest.approx(float(chi2.sf(ref, 1)), rel=1e-10)
    assert res.summary["test"].iloc[0] == "stratified log-rank" and res.summary["strata"].iloc[0] == "wbc3"


def test_logrank_lung_sex_r_survival():
    # R survival: survdiff(Surv(cancer$time, cancer$status) ~ cancer$sex) as printed in full precision by
    # Chiu & Bhattacharya, "Machine Learning with R Cookbook", 2nd ed. (Packt 2017), ch. 6, recipe "Using
    # the log-rank test": sex=1 N 138, Observed 112, Expected 91.5817, (O-E)^2/V 10.3267; sex=2 N 90,
    # Observed 53, Expected 73.4183; Chisq= 10.3 on 1 df, p= 0.00131116.
    res = tko.logrank(lung(), by="sex")
    g = res.groups.set_index("group")
    assert g.loc["male", "observed"] == 112 and g.loc["female", "observed"] == 53
    assert round(g.loc["male", "expected"], 4) == 91.5817
    assert round(g.loc["female", "expected"], 4) == 73.4183
    assert round(res.statistic, 4) == 10.3267
    assert res.summary["p_value"].iloc[0] == pytest.approx(0.00131116, abs=5e-9)


def test_fleming_harrington_rho1_lung_matches_statsmodels():
    # G(1, 0) is R's survdiff(rho = 1); the check is statsmodels' independent survdiff(weight_type="fh",
    # fh_p=1) on the same data (no printed R value is used here).
    from statsmodels.duration.survfunc import survdiff

    d = lung()
    res = tko.logrank(d, by="sex", weights="fleming-harrington", p=1)
    ref = survdiff(d["time_days"], d["event"], d["sex"], weight_type="fh", fh_p=1)[0]
    assert res.statistic == pytest.approx(ref, rel=1e-10)
    assert res.summary["weights"].iloc[0] == "Fleming-Harrington G(1,0)"


def test_fleming_harrington_p1_q1_and_three_groups_match_lifelines():
    from lifelines.statistics import multivariate_logrank_test

    d = lung()
    res = tko.logrank(d, by="sex", weights="fleming-harrington", p=1, q=1)
    ref = multivariate_logrank_test(d["time_days"], d["sex"], d["event"], weightings="fleming-harrington", p=1, q=1)
    assert res.statistic == pytest.approx(ref.test_statistic, rel=1e-10)
    res3 = tko.logrank(d, by="ecog")
    ref3 = multivariate_logrank_test(d["time_days"], d["ecog"], d["event"])
    assert res3.statistic == pytest.approx(ref3.test_statistic, rel=1e-10) and res3.df == 2


def test_stratified_three_group_and_weighted_match_statsmodels():
    from statsmodels.duration.survfunc import survdiff

    d = lung()
    res = tko.logrank(d, by="ecog", strata="sex")
    assert res.statistic == pytest.approx(survdiff(d["time_days"], d["event"], d["ecog"], strata=d["sex"])[0],
                                          rel=1e-10)
    res = tko.logrank(d, by="sex", strata="ecog", weights="fleming-harrington", p=1)
    sm = survdiff(d["time_days"], d["event"], d["sex"], strata=d["ecog"], weight_type="fh", fh_p=1)[0]
    assert res.statistic == pytest.approx(sm, rel=1e-10)


def test_stratified_logrank_is_sum_of_stratum_scores():
    # The stratified statistic is (sum U_s)^2 / (sum V_s): recompute from per-stratum runs.
    d = leukemia()
    parts = [tko.logrank(d[d["wbc3"] == s], endpoint="REM").groups.iloc[0] for s in ("low", "medium", "high")]
    u = sum(p["score"] for p in parts)
    v = sum(p["variance"] for p in parts)
    assert tko.logrank(d, endpoint="REM", strata="wbc3").statistic == pytest.approx(u * u / v, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# Cox
# --------------------------------------------------------------------------------------------------
def test_cox_efron_leukemia_matches_r_coxph():
    # R: coxph(Surv(time, cens) ~ treat, data = MASS::gehan) -> coef 1.572, se 0.412, HR 4.82
    # (Venables & Ripley, MASS 4th ed., §13.3).
    res = tko.cox(leukemia(), endpoint="REM", reference="6-MP")
    row = res.summary.iloc[0]
    assert row["comparison"] == "placebo vs 6-MP"
    assert row["coef"] == pytest.approx(1.5721, abs=1e-4)
    assert row["se"] == pytest.approx(0.4124, abs=1e-4)
    assert row["hr"] == pytest.approx(4.817, abs=1e-3)
    assert res.ties == "efron" and res.n == 42 and res.events == 30


def test_cox_breslow_leukemia_kleinbaum():
    # Kleinbaum & Klein (2012), ch. 3 (Stata, Breslow ties): Rx alone coef 1.509, se 0.410, HR 4.523;
    # Rx + log WBC: Rx 1.294 (se 0.422), log WBC 1.604 (se 0.329).
    res = tko.cox(leukemia(), endpoint="REM", reference="6-MP", ties="breslow")
    row = res.summary.iloc[0]
    assert (round(row["coef"], 3), round(row["se"], 3), round(row["hr"], 3)) == (1.509, 0.410, 4.523)
    adj = tko.cox(leukemia(), endpoint="REM", reference="6-MP", ties="breslow", covariates=["logWBC"]).summary
    assert adj["coef"].round(3).tolist() == [1.294, 1.604]
    assert adj["se"].round(3).tolist() == [0.422, 0.329]
    assert adj["comparison"].tolist() == ["placebo vs 6-MP", "per unit"]


def test_cox_stratified_efron_agrees_with_statsmodels():
    from statsmodels.duration.hazard_regression import PHReg

    d = leukemia()
    res = tko.cox(d, endpoint="REM", reference="6-MP", strata="wbc3")
    sm = PHReg(d["time_days"], (d["arm"] == "placebo").to_numpy(float)[:, None], status=d["event"],
               strata=pd.factorize(d["wbc3"])[0], ties="efron").fit()
    assert res.summary["coef"].iloc[0] == pytest.approx(sm.params[0], abs=1e-4)  # fitters' tolerances differ
    assert res.summary["coef"].iloc[0] == pytest.approx(1.3940, abs=1e-4)
    assert res.strata == ("wbc3",)


def test_cox_categorical_covariate_coding():
    res = tko.cox(leukemia(), endpoint="REM", reference="6-MP", covariates=["sex"])
    assert res.summary["comparison"].tolist() == ["placebo vs 6-MP", "M vs F"]


def test_cox_subgroups_rows_and_interaction():
    res = tko.cox_subgroups(leukemia(), endpoint="REM", subgroups=["sex", "wbc3"])
    t = res.summary
    assert t["subgroup"].tolist() == ["All", "sex", "sex", "wbc3", "wbc3", "wbc3"]
    assert t["level"].tolist() == ["All", "F", "M", "high", "low", "medium"]
    whole = tko.cox(leukemia(), endpoint="REM").summary["hr"].iloc[0]
    assert t["hr"].iloc[0] == pytest.approx(whole)
    assert 0 < t.loc[1, "p_interaction"] < 1 and np.isnan(t.loc[2, "p_interaction"])
    assert t["n"].tolist() == [42, 22, 20, 17, 11, 14]  # 22 F, 20 M; log WBC 17 > 3.00, 11 <= 2.30


# --------------------------------------------------------------------------------------------------
# response
# --------------------------------------------------------------------------------------------------
def test_response_newcombe_example_and_clopper_pearson():
    # Newcombe RG (1998) Stat Med 17:873-890, Table II: 56/70 - 48/80 = 0.2000, method 10 (hybrid
    # score) 95% CI 0.0524 to 0.3339. Clopper-Pearson 56/70: 0.6873 to 0.8861 (exact beta quantiles).
    df = pd.DataFrame({"arm": ["B"] * 70 + ["A"] * 80,
                       "cr": [1] * 56 + [0] * 14 + [1] * 48 + [0] * 32})
    res = tko.response_rates(df, endpoints="cr", reference="A")
    d = res.differences.iloc[0]
    assert d["comparison"] == "B - A" and d["difference"] == pytest.approx(0.2)
    assert (round(d["lower"], 4), round(d["upper"], 4)) == (0.0524, 0.3339)
    r = res.summary.set_index("group").loc["B"]
    assert (round(r["lower"], 4), round(r["upper"], 4)) == (0.6873, 0.8861)


def test_clopper_pearson_zero_of_ten():
    # 0/10: the exact upper limit is 1 - 0.025^(1/10) = 0.30850 (Clopper & Pearson 1934).
    df = pd.DataFrame({"arm": ["A"] * 10, "cr": 0})
    r = tko.response_rates(df, endpoints="cr").summary.iloc[0]
    assert r["lower"] == 0 and r["upper"] == pytest.approx(1 - 0.025 ** 0.1, rel=1e-9)


def test_miettinen_nurminen_newcombe_example_a():
    # Newcombe (1998) Table II, example (a), method 6 (Miettinen-Nurminen): 0.0528 to 0.3382 (all eight
    # examples: tests/test_outcomes_stats.py). statsmodels' score interval gives 0.0526 to 0.3440 here.
    df = pd.DataFrame({"arm": ["B"] * 70 + ["A"] * 80, "cr": [1] * 56 + [0] * 14 + [1] * 48 + [0] * 32})
    d = tko.response_rates(df, endpoints="cr", reference="A", difference="miettinen-nurminen").differences.iloc[0]
    assert (round(d["lower"], 4), round(d["upper"], 4)) == (0.0528, 0.3382)
    assert d["method"] == "Miettinen-Nurminen score interval, Newcombe 1998 method 6"


def test_response_rates_from_study_itt_counts_missing_as_non_responders():
    res = tko.response_rates(tiny_study())
    expected = pd.DataFrame({
        "endpoint": ["EOI_CR", "EOI_CR", "EOI_MRDNEG", "EOI_MRDNEG"],
        "group": pd.Categorical(["ALLR3", "InO"] * 2, categories=["ALLR3", "InO"], ordered=True),
        "n": [2, 4, 2, 4], "responders": [1, 2, 1, 1], "missing": [0, 1, 0, 2]})
    pd.testing.assert_frame_equal(res.summary[expected.columns.tolist()], expected, check_dtype=False)
    assert res.differences["comparison"].tolist() == ["InO - ALLR3"] * 2
    assert any("counted as non-responders" in n for n in res.notes)
    only_cr = tko.response_rates(tiny_study(), endpoints="EOI_CR", responders=("CR",)).summary
    assert only_cr["responders"].tolist() == [1, 1]


# --------------------------------------------------------------------------------------------------
# median follow-up
# --------------------------------------------------------------------------------------------------
def test_median_followup_reverse_km_by_hand():
    # Reverse KM of TINY (censorings at 2 and 4 are the "events"; events censor):
    # t=2: n=5, 1 "event" -> 4/5; t=4: n=2, 1 -> 2/5 <= 0.5, so the median follow-up is 4.
    res = tko.median_followup(TINY, by=None)
    assert res.summary["median"].tolist() == [4.0]
    assert "reverse Kaplan-Meier" in res.settings()["method"]


# --------------------------------------------------------------------------------------------------
# Study input
# --------------------------------------------------------------------------------------------------
def test_study_input_orders_arms_control_first_and_notes_missing_rows():
    res = tko.km(tiny_study(), endpoint="EFS")
    assert res.groups == ("ALLR3", "InO")
    assert res.summary["n"].tolist() == [2, 3]
    assert any("have no EFS row" in n for n in res.notes)
    treated = tko.km(tiny_study(), endpoint="EFS", population="treated")
    assert any("population treated: 1 subject(s)" in n for n in treated.notes)
    sub = tko.km(tiny_study(), endpoint="EFS", subgroup={"sex": "F"})
    assert sub.summary["n"].tolist() == [1, 2]  # F with an EFS row: P1 (ALLR3), P3 and P5 (InO)
    age = tko.survival_data(tiny_study(), endpoint="EFS", covariates=["age_band", "country"]).frame
    # bands from the B1931036 protocol's age range (1 to <18) and its declared cut at 10 years
    assert age["age_band"].astype(str).tolist() == ["1 to <10 years"] * 3 + ["10 to <18 years"] * 2


def test_stratified_logrank_on_study_strata_columns():
    res = tko.logrank(tiny_study(), endpoint="EFS", strata=["age_group", "relapse_timing"])
    assert res.summary["strata"].iloc[0] == "age_group, relapse_timing"
    assert res.groups["n"].tolist() == [2, 3]


# --------------------------------------------------------------------------------------------------
# error paths: a deliberately broken input for each
# --------------------------------------------------------------------------------------------------
def test_endpoint_errors():
    with pytest.raises(TrialkitError, match="endpoint 'OS' is not in the data; available: EFS"):
        tko.km(tiny_study(), endpoint="OS")
    assert tko.km(tiny_study()).endpoint == "EFS"  # the only endpoint is chosen
    two = pd.concat([TINY.assign(endpoint="EFS"), TINY.assign(endpoint="OS")])
    with pytest.raises(TrialkitError, match=r"say which endpoint to analyse: endpoint= one of \['EFS', 'OS'\]"):
        tko.km(two)
    with pytest.raises(TrialkitError, match="endpoint 'PFS' is not in the data"):
        tko.km(two, endpoint="PFS")


@pytest.mark.parametrize("kwargs, message", [
    ({"conf_type": "plain"}, "conf_type must be"),
    ({"conf_level": 95}, "conf_level must lie"),
    ({"time_unit": "fortnights"}, "time_unit must be"),
    ({"by": "treatment"}, "not in the data"),
    ({"population": "SAFFL"}, "unknown population 'SAFFL'"),
])
def test_km_argument_errors(kwargs, message):
    with pytest.raises(TrialkitError, match=message):
        tko.km(TINY, **kwargs)


def test_broken_records_are_reported_not_dropped():
    bad = TINY.assign(time_days=[1.0, -2, np.nan, 3, 4, 5], event=[1, 1, 0, 2, 0, 1])
    with pytest.raises(TrialkitError, match="1 missing time_days; 1 negative time_days; 1 event values"):
        tko.km(bad)


def test_adtte_cnsr_policy_matches_load_cdisc():
    """ADaM allows any positive integer CNSR as a censoring code (as load_cdisc reads it); others are errors."""
    adtte = pd.DataFrame({"USUBJID": ["1", "2"], "PARAMCD": "TTDE", "AVAL": [3.0, 4.0], "CNSR": [0, 2],
                          "TRTP": "Placebo"})
    res = tko.km(adtte)
    assert res.summary[["n", "events", "censored"]].iloc[0].tolist() == [2, 1, 1]
    assert any("CNSR values above 1 (2) read as censored" in n for n in res.notes)
    for bad in (-1, 0.5, None):
        with pytest.raises(TrialkitError, match="CNSR must be 0"):
            tko.km(adtte.assign(CNSR=[0, bad]))


def test_frame_without_time_columns_and_wrong_type():
    with pytest.raises(TrialkitError, match="lacks event, time_days"):
        tko.km(pd.DataFrame({"arm": ["A"]}))
    with pytest.raises(TrialkitError, match="expected a Study or a pandas DataFrame"):
        tko.km([1, 2, 3])


def test_logrank_errors():
    with pytest.raises(TrialkitError, match="at least two groups"):
        tko.logrank(TINY)
    with pytest.raises(TrialkitError, match="weights must be"):
        tko.logrank(lung(), by="sex", weights="gehan")
    with pytest.raises(TrialkitError, match="pass weights='fleming-harrington'"):
        tko.logrank(lung(), by="sex", p=1)
    with pytest.raises(TrialkitError, match="must be >= 0"):
        tko.logrank(lung(), by="sex", weights="fleming-harrington", p=-1)
    with pytest.raises(TrialkitError, match="missing stratum"):
        tko.logrank(lung().assign(ecog=lambda d: d["ecog"].where(d.index > 0)), by="sex", strata="ecog")


def test_cox_errors():
    with pytest.raises(TrialkitError, match="ties must be"):
        tko.cox(leukemia(), endpoint="REM", ties="exact")
    with pytest.raises(TrialkitError, match="no events"):
        tko.cox(leukemia().assign(event=0), endpoint="REM")
    with pytest.raises(TrialkitError, match="reference='none' is not one of the groups"):
        tko.cox(leukemia(), endpoint="REM", reference="none")
    with pytest.raises(TrialkitError, match="covariate `logWBC` is missing"):
        tko.cox(leukemia().assign(logWBC=lambda d: d["logWBC"].where(d.index > 0)), endpoint="REM",
                covariates=["logWBC"])
    with pytest.raises(TrialkitError, match="only one group"):
        tko.cox(TINY.assign(event=1))


def test_response_errors():
    with pytest.raises(TrialkitError, match="difference must be"):
        tko.response_rates(tiny_study(), difference="wald")
    with pytest.raises(TrialkitError, match="unknown response endpoint"):
        tko.response_rates(tiny_study(), endpoints="ORR")
    with pytest.raises(TrialkitError, match="must be 0/1"):
        tko.response_rates(pd.DataFrame({"arm": ["A"], "cr": [3]}), endpoints="cr")
    with pytest.raises(TrialkitError, match="population 'per-protocol' is not recorded in this study"):
        tko.response_rates(tiny_study(), population="per-protocol")
    with pytest.raises(TrialkitError, match="unknown population 'evaluable'"):
        tko.response_rates(tiny_study(), population="evaluable")


def test_response_rates_without_any_assessment_is_an_error():
    s = tiny_study()
    with pytest.raises(TrialkitError, match="EOI_CR: no subject has a response assessment"):
        tko.response_rates(s.replace(response=s.response.iloc[0:0]))


def test_outcome_rows_for_unrandomized_subjects_are_an_error():
    s = tiny_study()
    out = pd.concat([s.outcomes, pd.DataFrame({"subject_id": ["X9"], "endpoint": ["EFS"], "event": [1],
                                               "time_days": [10.0]})], ignore_index=True)
    with pytest.raises(TrialkitError, match="not in `randomization`"):
        tko.km(s.replace(outcomes=out), endpoint="EFS")


def test_two_rows_of_one_endpoint_for_a_subject_are_an_error_naming_the_subject():
    # a study loaded without validation can hold them; a join would silently double the subject
    s = tiny_study()
    efs = s.outcomes[s.outcomes["endpoint"] == "EFS"]
    out = pd.concat([s.outcomes, efs.iloc[[0]]], ignore_index=True)
    with pytest.raises(TrialkitError, match=f"subject {efs['subject_id'].iloc[0]} has 2 EFS rows"):
        tko.km(s.replace(outcomes=out), endpoint="EFS")


def test_pandas4warning_filter_is_exact():
    import warnings

    from trialkit.outcomes._data import quiet_lifelines

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_lifelines():
            warnings.warn("kept", UserWarning, stacklevel=1)
            if hasattr(pd.errors, "Pandas4Warning"):
                warnings.warn("dropped", pd.errors.Pandas4Warning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["kept"]
