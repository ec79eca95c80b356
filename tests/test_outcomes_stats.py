"""Statistics a reviewer signs off (issue 14): each expected value is read from a published source cited beside it.

Sources
-------
[NEWCOMBE]  Newcombe RG (1998). Interval estimation for the difference between independent proportions:
            comparison of eleven methods. Stat Med 17:873-890, Table II (95% limits of eight examples;
            method 5 Mee, method 6 Miettinen-Nurminen, method 10 hybrid score). The table is read from its
            reproduction in capeconomics/mergeron-extra, tests/test_proportions_tests.py (commit 3eaac53,
            "Examples from Newcombe (1998), Table II": keys "Mee", "M-N", "Newcombe"); examples (a), (b) and
            (g) agree with the SAS values in AndriSignorell/DescToolsX tests/testthat/test-binomDiffCI.R
            (from WUSS 2016 paper 127, p. 9) and example (d) with petelaud/ratesci tests/testthat/test3.R.
[R-SURV]    R package survival, vignette "survival" (source therneau/survival vignettes/survival.Rnw, chunks
            "lung1" and the cox.zph check): cfit1 <- coxph(Surv(time, status) ~ age + sex + wt.loss, data=lung),
            summary(cfit1, digits=3) and zp1 <- cox.zph(cfit1); the global tests and the zph table are printed
            in the rendered vignette (CRAN, survival.pdf). Audit of issue 14: the same printout was reproduced
            with R survival 3.5-3 (Debian r-cran-survival), every value below agreeing.
[BREGR]     WangLabCSU/bregr README.md (CRAN package bregr), R output of survival::coxph(Surv(time, status) ~
            wt.loss + age + sex, data = lung): coef / se(coef) wt.loss 0.0007596 / 0.0061934, age 0.0200882 /
            0.0096644, sex -0.5210319 / 0.1743541; Likelihood ratio test=14.67 on 3 df, p=0.002122;
            n= 214, number of events= 152 (14 observations deleted due to missingness).
[R-EX]      survival, tests/Examples/survival-Ex.Rout.save (therneau/survival, commit a2533a9):
            summary(coxph(Surv(time, status) ~ age + sex, lung)) and print(survfit(Surv(time, status) ~
            ph.ecog, data=lung), rmean=730).
[R-ZPH]     survival, tests/zph.Rout.save (same commit): the score test of cox.zph derived in closed form on a
            seven-row data set (Breslow and Efron).
[SURVRM2]   survRM2 1.0-4 vignette (cran/survRM2 inst/doc/survRM2-vignette3-2.html, Uno 2017): rmst2 on the
            Mayo PBC trial, tau = 10 years.
The NCCTG lung data are R's survival::lung as shipped by lifelines (lifelines.datasets.load_lung).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
import trialkit.outcomes as tko
from trialkit.errors import EmptySelectionError, TrialkitError
from trialkit.outcomes.proportions import restricted_mle, score_interval_difference
from trialkit.outcomes.response import difference_interval

# --------------------------------------------------------------------------------------------------
# Newcombe (1998) Table II
# --------------------------------------------------------------------------------------------------
#: (x1, n1, x2, n2) of examples (a)-(h) and the 95% limits of methods 5 (Mee), 6 (MN), 10 (hybrid) [NEWCOMBE]
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0533, 0.3377), (0.0528, 0.3382), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1821, 0.8370), (0.1700, 0.8406), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0544, 0.8478), (0.0342, 0.8534), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0313, 0.1926), (-0.0326, 0.1933), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775), (-0.1658, 0.2844), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775), (-0.2879, 0.2879), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.7225, 1.0000), (0.7156, 1.0000), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6777, 1.0000), (0.6636, 1.0000), (0.6075, 1.0000)),
]


@pytest.mark.parametrize("counts, mee, mn, hybrid", NEWCOMBE_TABLE_II, ids=list("abcdefgh"))
def test_difference_intervals_reproduce_newcombe_table_ii(counts, mee, mn, hybrid):
    x1, n1, x2, n2 = counts
    for method, expected in (("miettinen-nurminen", mn), ("mee", mee), ("newcombe", hybrid)):
        d, lo, hi = difference_interval(x1, n1, x2, n2, method=method, conf_level=0.95)
        assert d == pytest.approx(x1 / n1 - x2 / n2)
        assert (round(lo, 4), round(hi, 4)) == expected, method


def test_miettinen_nurminen_through_response_rates_on_zero_cells():
    # Example (g), 10/10 vs 0/20: statsmodels' score interval raises "f(a) and f(b) must have different signs".
    df = pd.DataFrame({"arm": ["B"] * 10 + ["A"] * 20, "cr": [1] * 10 + [0] * 20})
    d = tko.response_rates(df, endpoints="cr", reference="A", difference="miettinen-nurminen").differences.iloc[0]
    assert (round(d["lower"], 4), round(d["upper"], 4)) == (0.7156, 1.0)  # [NEWCOMBE] (g), method 6
    assert d["method"].startswith("Miettinen-Nurminen")


def test_restricted_mle_satisfies_its_constraint_and_likelihood_equation():
    # At the restricted MLE the derivative of the binomial log-likelihood along p1 - p0 = delta vanishes:
    # x1/p1 - (n1-x1)/(1-p1) + x0/p0 - (n0-x0)/(1-p0) = 0 (Miettinen & Nurminen 1985, Appendix 1).
    for (x1, n1, x0, n0), delta in (((56, 70, 48, 80), 0.1), ((9, 10, 3, 10), 0.3), ((5, 56, 0, 29), -0.02)):
        p1, p0 = restricted_mle(x1, n1, x0, n0, delta)
        assert p1 - p0 == pytest.approx(delta, abs=1e-12)
        score = x1 / p1 - (n1 - x1) / (1 - p1) + (x0 / p0 if x0 else 0.0) - (n0 - x0) / (1 - p0)
        assert score == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("args, message", [
    ((11, 10, 3, 10), "responders must be a whole number between 0"),
    ((1, 0, 3, 10), "responders must be a whole number between 0"),
    ((1.5, 10, 3, 10), "responders must be a whole number"),
])
def test_score_interval_rejects_impossible_counts(args, message):
    with pytest.raises(TrialkitError, match=message):
        score_interval_difference(*args)


def test_score_interval_argument_errors():
    with pytest.raises(TrialkitError, match="method must be one of"):
        score_interval_difference(1, 10, 2, 10, method="wald")
    with pytest.raises(TrialkitError, match="conf_level must lie"):
        score_interval_difference(1, 10, 2, 10, conf_level=95)


# --------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------
def lung_frame(drop=("wt.loss",)) -> pd.DataFrame:
    from lifelines.datasets import load_lung

    d = load_lung().dropna(subset=list(drop))
    return pd.DataFrame({"time_days": d["time"].astype(float), "event": d["status"].astype(int),
                         "sex": d["sex"].astype(int).astype(str), "age": d["age"].astype(float),
                         "wt_loss": d["wt.loss"].astype(float), "ecog": d["ph.ecog"]})


# --------------------------------------------------------------------------------------------------
# Cox: global tests, profile likelihood
# --------------------------------------------------------------------------------------------------
def test_cox_global_tests_and_coefficients_match_r_on_lung_age_sex_wtloss():
    res = tko.cox(lung_frame(), by="sex", reference="1", covariates=["age", "wt_loss"])
    s = res.summary.set_index("term")
    # [BREGR] coef and se(coef) to the 7 printed digits; n 214, events 152
    published = {"age": (0.0200882, 0.0096644), "sex": (-0.5210319, 0.1743541), "wt_loss": (0.0007596, 0.0061934)}
    for term, (coef, se) in published.items():
        assert round(s.loc[term, "coef"], 7) == coef, term
        assert round(s.loc[term, "se"], 7) == se, term
        # Wald limits of exp(coef) by hand from the published coef and se: exp(coef -/+ 1.959964 se)
        # (summary(cfit1) prints them as age 1.0011-1.0398, sex 0.4220-0.8359, wt.loss 0.9887-1.0130 [R-SURV])
        assert s.loc[term, "lower"] == pytest.approx(math.exp(coef - 1.959964 * se), rel=1e-6)
        assert s.loc[term, "upper"] == pytest.approx(math.exp(coef + 1.959964 * se), rel=1e-6)
    assert [round(s.loc[t, c], 4) for t in ("age", "sex", "wt_loss") for c in ("lower", "upper")] == \
        [1.0011, 1.0398, 0.4220, 0.8359, 0.9887, 1.0130]
    assert (res.n, res.events) == (214, 152)
    t = res.tests.set_index("test")
    # [BREGR] Likelihood ratio test=14.67 on 3 df, p=0.002122; [R-SURV] Wald test = 13.98 on 3 df, p=0.003;
    # Score (logrank) test = 14.24 on 3 df, p=0.003
    assert t.loc["likelihood ratio", "p_value"] == pytest.approx(0.002122, abs=5e-7)
    assert round(t.loc["likelihood ratio", "statistic"], 2) == 14.67
    assert round(t.loc["Wald", "statistic"], 2) == 13.98
    assert round(t.loc["score (log-rank)", "statistic"], 2) == 14.24
    assert (t["df"] == 3).all()
    assert [round(p, 3) for p in t["p_value"]] == [0.002, 0.003, 0.003]


def test_cox_global_tests_match_r_on_lung_age_sex():
    # [R-EX] summary(coxph(Surv(time, status) ~ age + sex, lung)): Likelihood ratio test= 14.12 on 2 df,
    # p=9e-04; Wald test = 13.47 on 2 df, p=0.001; Score (logrank) test = 13.72 on 2 df, p=0.001;
    # coef age 0.017045 (se 0.009223), sex -0.513219 (se 0.167458)
    res = tko.cox(lung_frame(drop=()), by="sex", reference="1", covariates=["age"])
    t = res.tests.set_index("test")["statistic"].round(2).to_dict()
    assert t == {"likelihood ratio": 14.12, "Wald": 13.47, "score (log-rank)": 13.72}
    assert res.summary["coef"].round(6).tolist() == [-0.513219, 0.017045]
    assert res.summary["se"].round(6).tolist() == [0.167458, 0.009223]


def _breslow_loglik(beta: float, time, event, x) -> float:
    """Breslow partial log-likelihood of one covariate, written out: sum over events of
    beta*x_i - log(sum over the risk set of exp(beta*x_j)) (Cox 1972; Breslow 1974)."""
    ll = 0.0
    for i in np.flatnonzero(event == 1):
        risk = time >= time[i]
        ll += beta * x[i] - math.log(np.exp(beta * x[risk]).sum())
    return ll


def test_profile_likelihood_limits_solve_the_likelihood_ratio_equation():
    # Independent computation: the 95% profile-likelihood limits b of a one-covariate model solve
    # 2 (l(beta_hat) - l(b)) = chi2_1(0.95) = 3.841459, with l the partial likelihood written out above.
    from lifelines.datasets import load_leukemia

    d = load_leukemia()
    df = pd.DataFrame({"time_days": d["t"].astype(float), "event": d["status"],
                       "arm": np.where(d["Rx"] == 1, "placebo", "6-MP")})
    res = tko.cox(df, reference="6-MP", ties="breslow", conf_int="profile")
    row = res.summary.iloc[0]
    x = (df["arm"] == "placebo").to_numpy(float)
    t, e = df["time_days"].to_numpy(), df["event"].to_numpy()
    ll_hat = _breslow_loglik(row["coef"], t, e, x)
    for limit in (row["pl_lower"], row["pl_upper"]):
        assert 2 * (ll_hat - _breslow_loglik(math.log(limit), t, e, x)) == pytest.approx(3.841459, abs=1e-6)
    assert row["pl_lower"] < row["hr"] < row["pl_upper"]
    assert res.settings()["ci_method"] == "Wald and profile-likelihood CI"
    assert "pl_lower" not in tko.cox(df, reference="6-MP").summary.columns  # Wald only by default


@pytest.mark.slow  # several seconds without a kernel: in `make test`, not `make test-fast`
def test_profile_likelihood_with_several_covariates_maximises_over_the_others():
    # At sex's limits the likelihood maximised over age and wt.loss (by scipy, from scratch) is 1.92 below
    # the maximum: an optimisation independent of the one trialkit uses (statsmodels with an offset).
    from scipy.optimize import minimize
    from statsmodels.duration.hazard_regression import PHReg

    f = lung_frame()
    res = tko.cox(f, by="sex", reference="1", covariates=["age", "wt_loss"], conf_int="profile")
    X = np.column_stack([(f["sex"] == "2").to_numpy(float), f["age"], f["wt_loss"]])
    m = PHReg(f["time_days"].to_numpy(), X, status=f["event"].to_numpy(), ties="efron")
    ll_hat = m.loglike(res.summary["coef"].to_numpy())
    for limit in res.summary.loc[0, ["pl_lower", "pl_upper"]]:
        b = math.log(limit)
        best = minimize(lambda o, b=b: -m.loglike(np.array([b, *o])), x0=[0.02, 0.0], method="Nelder-Mead",
                        options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 4000})
        assert 2 * (ll_hat + best.fun) == pytest.approx(3.841459, abs=1e-4)


def test_cox_conf_int_error():
    with pytest.raises(TrialkitError, match="conf_int must be 'wald' or 'profile'"):
        tko.cox(lung_frame(), by="sex", reference="1", conf_int="likelihood")


# --------------------------------------------------------------------------------------------------
# proportional hazards (cox.zph)
# --------------------------------------------------------------------------------------------------
def test_cox_zph_matches_r_on_lung():
    # [R-SURV] zp1 <- cox.zph(cfit1): age 0.5077 (1 df, p 0.48), sex 2.5489 (p 0.11), wt.loss 0.0144
    # (p 0.90), GLOBAL 3.0051 on 3 df (p 0.39); transform "km", Efron ties.
    res = tk.cox_zph(lung_frame(), by="sex", reference="1", covariates=["age", "wt_loss"])
    t = res.summary.set_index("term")
    assert t["chisq"].round(4).to_dict() == {"sex": 2.5489, "age": 0.5077, "wt_loss": 0.0144, "GLOBAL": 3.0051}
    assert t["df"].tolist() == [1, 1, 1, 3]
    assert t["p_value"].round(2).tolist() == [0.11, 0.48, 0.90, 0.39]
    # the same from a fitted CoxResult, without refitting
    fitted = tko.cox(lung_frame(), by="sex", reference="1", covariates=["age", "wt_loss"])
    pd.testing.assert_frame_equal(tk.cox_zph(fitted).summary, res.summary)


def _zph_closed_form(U, imat, g):
    """[R-ZPH]: u2 = (sum U, sum g U), i2 = [[sum imat, sum g imat], [sum g imat, sum g^2 imat]],
    test = u2' i2^-1 u2 (only the second element of u2 enters as the first is 0 at the MLE)."""
    U, imat, g = map(np.asarray, (U, imat, g))
    u2 = np.array([U.sum(), (g * U).sum()])
    i2 = np.array([[imat.sum(), (g * imat).sum()], [(g * imat).sum(), (g * g * imat).sum()]])
    return float(np.linalg.solve(i2, u2) @ u2)


def test_cox_zph_score_test_equals_the_survival_package_closed_form():
    # [R-ZPH] test1: time 9,3,1,1,6,6,8; status 1,NA,1,0,1,1,0; x 0,2,1,1,1,0,0 (the NA row dropped).
    df = pd.DataFrame({"time_days": [9.0, 1, 1, 6, 6, 8], "event": [1, 1, 0, 1, 1, 0], "x": [0.0, 1, 1, 1, 0, 0],
                       "arm": "all"})
    g = np.array([1, 6, 6, 9], dtype=float)  # death times
    # Breslow: r = (3 + sqrt(33))/2 is exp(beta_hat); U and imat per death as in zph.Rout.save
    r = (3 + math.sqrt(33)) / 2
    U = [1 / (r + 1), 3 / (r + 3), -r / (r + 3), 0]
    imat = [r / (r + 1) ** 2, 3 * r / (r + 3) ** 2, 3 * r / (r + 3) ** 2, 0]
    res = tk.cox_zph(df, by=None, covariates=["x"], ties="breslow", transform="identity")
    assert math.log(r) == pytest.approx(tko.cox(df, by=None, covariates=["x"], ties="breslow").summary["coef"].iloc[0],
                                        abs=1e-6)
    assert res.summary.set_index("term").loc["x", "chisq"] == pytest.approx(_zph_closed_form(U, imat, g), rel=1e-6)
    # Efron: r = 2 sqrt(23/3) cos(phi/3), phi = acos((45/23) sqrt(3/23)); log time, centred
    phi = math.acos((45 / 23) * math.sqrt(3 / 23))
    r = 2 * math.sqrt(23 / 3) * math.cos(phi / 3)
    U = [1 / (r + 1), 3 / (r + 3), -r / (r + 5), 0]
    imat = [r / (r + 1) ** 2, 3 * r / (r + 3) ** 2, 5 * r / (r + 5) ** 2, 0]
    g3 = np.log(g) - np.log(g).mean()
    res = tk.cox_zph(df, by=None, covariates=["x"], ties="efron", transform="log")
    assert res.summary.set_index("term").loc["x", "chisq"] == pytest.approx(_zph_closed_form(U, imat, g3), rel=1e-6)


def test_cox_zph_multi_level_term_is_one_test_and_the_figure_draws_it():
    from trialkit.plots.survival_checks import plot_ph_check

    f = lung_frame(drop=("ph.ecog",)).assign(ecog=lambda d: d["ecog"].clip(0, 2).astype(int).astype(str))
    res = tk.cox_zph(f, by="ecog", reference="0")
    assert res.summary["term"].tolist() == ["ecog", "GLOBAL"] and res.summary["df"].tolist() == [2, 2]
    assert set(res.residuals["term"]) == {"ecog"} and len(res.residuals) == int(f["event"].sum())
    fig = plot_ph_check(res)
    metas = [t.meta for t in fig.data]
    assert metas == ["band", "smooth", "residuals", "beta"]
    assert fig.data[3].y == (1.0, 1.0)  # a multi-column term's beta(t) is that of its linear predictor: 1
    assert "chi-square" in fig.layout.annotations[0].text
    assert res.figure().to_dict()["data"][2]["meta"] == "residuals"
    with pytest.raises(TrialkitError, match="transform must be one of"):
        tk.cox_zph(f, by="ecog", reference="0", transform="sqrt")
    with pytest.raises(TrialkitError, match="no PH test for term"):
        plot_ph_check(res, terms=["age"])


# --------------------------------------------------------------------------------------------------
# RMST
# --------------------------------------------------------------------------------------------------
def test_rmst_matches_r_survfit_rmean_on_lung():
    # [R-EX] print(survfit(Surv(time, status) ~ ph.ecog, data=lung), rmean=730):
    # rmean* / se(rmean): ph.ecog=0 429 / 32.2; 1 366 / 22.4; 2 256 / 30.0; 3 118 / 0.0
    f = lung_frame(drop=("ph.ecog",)).assign(ecog=lambda d: d["ecog"].astype(int).astype(str))
    res = tk.rmst(f, by="ecog", reference="0", tau=730)
    s = res.summary.set_index("group")
    assert s["rmst"].round(0).tolist() == [429, 366, 256, 118]
    assert s["se"].round(1).tolist() == [32.2, 22.4, 30.0, 0.0]
    assert (s["rmtl"] == 730 - s["rmst"]).all()


def test_rmst_contrasts_reproduce_survrm2_on_pbc():
    # [SURVRM2] rmst2(time, status, arm, tau=10) on PBC: RMST (arm=1) 7.146 (se 0.283), RMST (arm=0) 7.283
    # (se 0.295); between-group contrast: difference -0.137 (-0.939, 0.665), ratio 0.981 (0.878, 1.096),
    # RMTL ratio 1.050 (0.787, 1.402), p = 0.738. The PBC data are not available here, so the contrasts are
    # recomputed from the printed per-arm values; their 3-decimal rounding moves the limits by <= 0.002.
    from trialkit.outcomes.rmst import rmst_contrasts

    got = {c["measure"]: c for c in rmst_contrasts(7.146, 0.283, 7.283, 0.295, tau=10)}
    expected = {"RMST difference": (-0.137, -0.939, 0.665), "RMST ratio": (0.981, 0.878, 1.096),
                "RMTL ratio": (1.050, 0.787, 1.402)}
    for measure, values in expected.items():
        c = got[measure]
        assert [c["estimate"], c["lower"], c["upper"]] == pytest.approx(values, abs=0.002), measure
        assert c["p_value"] == pytest.approx(0.738, abs=0.002)


def test_rmst_from_study_and_its_errors(demo_b1931036):
    res = tk.rmst(demo_b1931036, endpoint="EFS", tau=12, time_unit="months")
    assert res.summary["group"].tolist() == ["ALLR3", "InO"] and res.reference == "ALLR3"
    assert res.differences["comparison"].unique().tolist() == ["InO vs ALLR3"]
    assert res.to_frame()["part"].isin(["summary", "differences", "settings"]).all()
    with pytest.raises(TrialkitError, match="is beyond the follow-up of group"):
        tk.rmst(demo_b1931036, endpoint="EFS", tau=10_000)
    with pytest.raises(TrialkitError, match="tau must be a positive time"):
        tk.rmst(demo_b1931036, endpoint="EFS", tau=0)
    with pytest.raises(TrialkitError, match="tau must be a number"):
        tk.rmst(demo_b1931036, endpoint="EFS", tau="one year")


def test_rmst_by_hand_on_a_small_curve():
    # S = 1 on [0,1), 5/6 on [1,2), 2/3 on [2,3), 4/9 from 3 (TINY of test_outcomes); tau = 3.5:
    # area = 1 + 5/6 + 2/3 + 0.5 * 4/9 = 2.7222...
    df = pd.DataFrame({"time_days": [1.0, 2, 2, 3, 4, 5], "event": [1, 1, 0, 1, 0, 1]})
    assert tk.rmst(df, by=None, tau=3.5).summary["rmst"].iloc[0] == pytest.approx(1 + 5 / 6 + 2 / 3 + 0.5 * 4 / 9)


# --------------------------------------------------------------------------------------------------
# weighted log-rank tests
# --------------------------------------------------------------------------------------------------
def _leukemia():
    from lifelines.datasets import load_leukemia

    d = load_leukemia()
    return pd.DataFrame({"time_days": d["t"].astype(float), "event": d["status"],
                         "arm": np.where(d["Rx"] == 1, "placebo", "6-MP")})


@pytest.mark.parametrize("weights, lifelines_name, label", [
    ("gehan-breslow", "wilcoxon", "Gehan-Breslow (generalized Wilcoxon)"),
    ("tarone-ware", "tarone-ware", "Tarone-Ware"),
    ("peto-peto", "peto", "Peto-Peto"),
])
def test_weighted_logrank_matches_lifelines_and_names_the_weight(weights, lifelines_name, label):
    # Independent implementation: lifelines.statistics.logrank_test(weightings=...), whose weights are
    # Y_i, sqrt(Y_i) and prod (1 - d_j/(Y_j + 1)) as SAS LIFETEST documents them.
    from lifelines.statistics import logrank_test

    d = _leukemia()
    res = tko.logrank(d, weights=weights)
    a, b = d[d["arm"] == "6-MP"], d[d["arm"] == "placebo"]
    ref = logrank_test(a["time_days"], b["time_days"], a["event"], b["event"], weightings=lifelines_name)
    assert res.statistic == pytest.approx(ref.test_statistic, rel=1e-10)
    assert res.weights == label and res.summary["test"].iloc[0] == label
    assert res.settings()["weight_function"]


def test_gehan_score_without_censoring_is_the_mann_whitney_contrast():
    # Without censoring and ties, Gehan's score sum_i Y_i (d_1i - Y_1i d_i / Y_i) equals the number of pairs
    # in which the group-1 subject fails first minus those in which it fails last (Gehan 1965).
    from scipy.stats import mannwhitneyu

    t1, t2 = np.array([3.0, 5, 8, 13, 21]), np.array([1.0, 2, 4, 6, 7, 9])
    df = pd.DataFrame({"time_days": np.concatenate([t1, t2]), "event": 1, "arm": ["A"] * 5 + ["B"] * 6})
    res = tko.logrank(df, weights="gehan-breslow", by="arm")
    u_a_later = mannwhitneyu(t1, t2).statistic  # pairs with the A time larger
    assert res.groups.set_index("group").loc["A", "score"] == pytest.approx((5 * 6 - u_a_later) - u_a_later)


def test_modified_peto_peto_weights_by_hand():
    # Two distinct event times, no censoring: Y = 4, 2 with d = 2, 2 ... weights S~(t) Y/(Y+1).
    from trialkit.outcomes.compare import _time_weights

    D, N = np.array([1.0, 1, 1]), np.array([3.0, 2, 1])
    s1 = np.cumprod(1 - D / (N + 1))  # 3/4, 1/2, 1/4
    np.testing.assert_allclose(_time_weights("peto-peto", D, N, 0, 0), [0.75, 0.5, 0.25])
    np.testing.assert_allclose(_time_weights("modified-peto-peto", D, N, 0, 0), s1 * N / (N + 1))
    np.testing.assert_allclose(_time_weights("gehan-breslow", D, N, 0, 0), N)
    np.testing.assert_allclose(_time_weights("tarone-ware", D, N, 0, 0), np.sqrt(N))


def test_weighted_logrank_statistics_by_hand_on_a_tied_censored_example():
    # Independent hand computation from the published formulas (SAS/STAT User's Guide, PROC LIFETEST,
    # "Nonparametric Tests" and its table of weight functions; Klein & Moeschberger 2003, §7.3):
    # U = sum_i w_i (d_Ai - Y_Ai d_i / Y_i), V = sum_i w_i^2 Y_Ai Y_Bi d_i (Y_i - d_i) / (Y_i^2 (Y_i - 1)),
    # chi2 = U^2 / V. Data: A 1, 2, 4+, 5; B 2, 3, 3+, 6+ (+ censored; a time censored at an event
    # time is at risk at it). Event times, read off by hand:
    #   t  Y  Y_A  d  d_A   d_A - e_A   v_i       S~(t) = prod (1 - d/(Y+1))
    #   1  8   4   1   1      1/2       1/4       8/9
    #   2  7   3   2   1      1/7       20/49     8/9 * 6/8 = 2/3
    #   3  5   2   1   0     -2/5       6/25      2/3 * 5/6 = 5/9
    #   5  2   1   1   1      1/2       1/4       5/9 * 2/3 = 10/27
    # log-rank (w = 1):         U = 26/35, V = 2813/2450           -> chi2 = 1352/2813
    # Gehan-Breslow (w = Y):    U = 4 + 1 - 2 + 1 = 4, V = 16 + 20 + 6 + 1 = 43 -> chi2 = 16/43
    # Tarone-Ware (w = sqrt Y): U = sqrt8/2 + sqrt7/7 - 2 sqrt5/5 + sqrt2/2, V = sum Y v = 459/70
    # Peto-Peto (w = S~):       U = 95/189, V = 17407/35721 (= 189^2)    -> chi2 = 9025/17407
    # modified Peto-Peto (w = S~ Y/(Y+1) = 64/81, 7/12, 25/54, 20/81): U = 5/12, V = 9491/26244
    #                                                                     -> chi2 = 18225/37964
    from fractions import Fraction as F

    df = pd.DataFrame({"time_days": [1.0, 2, 4, 5, 2, 3, 3, 6], "event": [1, 1, 0, 1, 1, 1, 0, 0],
                       "arm": list("AAAABBBB")})
    tw_u = math.sqrt(8) / 2 + math.sqrt(7) / 7 - 2 * math.sqrt(5) / 5 + math.sqrt(2) / 2
    expected = {"logrank": F(1352, 2813), "gehan-breslow": F(16, 43), "tarone-ware": tw_u ** 2 / (459 / 70),
                "peto-peto": F(9025, 17407), "modified-peto-peto": F(18225, 37964)}
    for weights, chi2 in expected.items():
        res = tko.logrank(df, by="arm", weights=weights)
        assert res.statistic == pytest.approx(float(chi2), rel=1e-12), weights
        assert res.summary["df"].iloc[0] == 1
    # the hand table's logrank pieces, too: observed 3 / 2, expected 1/2 + 6/7 + 2/5 + 1/2 = 79/35 for A
    g = tko.logrank(df, by="arm").groups.set_index("group")
    assert g.loc["A", "observed"] == 3 and g.loc["A", "expected"] == pytest.approx(79 / 35, rel=1e-12)


def test_weight_errors():
    with pytest.raises(TrialkitError, match="SAS test=wilcoxon is 'gehan-breslow'"):
        tko.logrank(_leukemia(), weights="wilcoxon")
    with pytest.raises(TrialkitError, match="pass weights='fleming-harrington'"):
        tko.logrank(_leukemia(), weights="tarone-ware", p=1)


# --------------------------------------------------------------------------------------------------
# median follow-up and its data cut
# --------------------------------------------------------------------------------------------------
def test_median_followup_names_the_data_cut(demo_b1931036):
    s = demo_b1931036
    res = tk.median_followup(s, endpoint="OS")
    assert res.summary["group"].tolist() == ["ALLR3", "InO", "overall"]
    assert res.data_cut_date == s.data_cut_date.date().isoformat()
    assert res.data_cut_basis == "stated in the study (data_cut_date)"
    assert res.settings()["data_cut_date"] == res.data_cut_date and res.data_cut_date in res.title()
    # no stated cut: the last follow-up date, randomization date + time_days - 1 (time = end - start + 1)
    out = s.outcomes[s.outcomes["endpoint"] == "OS"].merge(s.randomization[["subject_id", "randomization_date"]])
    last = (pd.to_datetime(out["randomization_date"]) + pd.to_timedelta(out["time_days"] - 1, unit="D")).max()
    nocut = tk.median_followup(s.replace(data_cut_date=None), endpoint="OS")
    assert nocut.data_cut_date == last.date().isoformat()
    assert nocut.data_cut_basis.startswith("not stated")
    early = tk.median_followup(s.replace(data_cut_date=pd.Timestamp("2020-01-01")), endpoint="OS")
    assert any("after the stated data cut 2020-01-01" in n for n in early.notes)
    frame = tk.median_followup(pd.DataFrame({"time_days": [1.0, 2, 3], "event": [0, 1, 0]}), by=None)
    assert frame.data_cut_date is None and frame.data_cut_basis.startswith("unknown")


def test_median_followup_per_arm_and_overall_by_hand():
    # Reverse Kaplan-Meier (Schemper & Smith 1996): censorings are the "events", events censor.
    # A: 1, 3+, 5+, 6 -> t=3: 2/3; t=5: 2/3 * 1/2 = 1/3 <= 0.5, median 5
    # B: 2+, 4, 7+    -> t=2: 2/3; t=7: 0, median 7
    # overall         -> t=2: 5/6; t=3: 2/3; t=5: 2/3 * 2/3 = 4/9 <= 0.5, median 5
    df = pd.DataFrame({"time_days": [1.0, 3, 5, 6, 2, 4, 7], "event": [1, 0, 0, 1, 0, 1, 0], "arm": list("AAAABBB")})
    s = tk.median_followup(df, by="arm").summary.set_index("group")
    assert s["median"].to_dict() == {"A": 5.0, "B": 7.0, "overall": 5.0}
    assert s["n"].tolist() == [4, 3, 7] and s["censored"].tolist() == [2, 2, 4]


# --------------------------------------------------------------------------------------------------
# empty selections: a TrialkitError naming the filter, never an IndexError
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda s: tk.km(s, endpoint="EFS", subgroup={"sex": "X"}),
    lambda s: tk.logrank(s, endpoint="EFS", subgroup={"sex": "X"}),
    lambda s: tk.cox(s, endpoint="EFS", subgroup={"sex": "X"}),
    lambda s: tk.cox_zph(s, endpoint="EFS", subgroup={"sex": "X"}),
    lambda s: tk.rmst(s, endpoint="EFS", tau=1, subgroup={"sex": "X"}),
    lambda s: tk.response_rates(s, subgroup={"sex": "X"}),
], ids=["km", "logrank", "cox", "cox_zph", "rmst", "response_rates"])
def test_empty_subgroup_is_an_empty_selection_error(call, demo_b1931036):
    with pytest.raises(EmptySelectionError, match="no subjects left after subgroup sex = 'X'"):
        call(demo_b1931036)


@pytest.mark.parametrize("fn", [tko.km, tko.logrank, tko.cox, tko.median_followup],
                         ids=["km", "logrank", "cox", "median_followup"])
def test_empty_frames_and_populations_are_empty_selection_errors(fn):
    empty = pd.DataFrame({"time_days": pd.Series([], dtype=float), "event": pd.Series([], dtype=int),
                          "arm": pd.Series([], dtype=str)})
    with pytest.raises(EmptySelectionError, match="the data are empty"):
        fn(empty)
    adtte = pd.DataFrame({"USUBJID": ["1", "2"], "PARAMCD": "TTDE", "AVAL": [3.0, 4.0], "CNSR": [0, 1],
                          "TRTP": ["Placebo", "Drug"], "SAFFL": "N"})
    with pytest.raises(EmptySelectionError, match="no records left after population 'safety'"):
        fn(adtte, population="safety")


def test_weighted_logrank_engine_on_no_records():
    out = tko.weighted_logrank(np.array([]), np.array([]), np.array([], dtype=int))
    assert np.isnan(out["statistic"]) and out["df"] == 0


# --------------------------------------------------------------------------------------------------
# the new results follow the one result protocol
# --------------------------------------------------------------------------------------------------
def test_new_results_follow_the_protocol(demo_b1931036):
    import dataclasses

    from trialkit.results import ARD_COLUMNS, Result, part_from_frame

    s = demo_b1931036
    results = {"rmst": tk.rmst(s, endpoint="EFS", tau=12, time_unit="months"),
               "cox_zph": tk.cox_zph(s, endpoint="EFS", covariates=["sex"]),
               "cox": tk.cox(s, endpoint="EFS")}
    for name, res in results.items():
        assert isinstance(res, Result) and dataclasses.is_dataclass(res) and type(res).__dataclass_params__.frozen
        assert res.analysis == name and next(iter(res.parts())) == "summary"
        long = res.to_frame()
        assert tuple(long.columns) == ARD_COLUMNS
        assert set(long["part"]) >= {k for k, v in res.parts().items() if len(v)}
        assert "class='tk-result'" in res._repr_html_()
    zph = results["cox_zph"]
    back = part_from_frame(zph.to_frame(), "residuals")
    assert len(back) == len(zph.residuals)
    np.testing.assert_array_equal(pd.to_numeric(back["beta_t"]).to_numpy(), zph.residuals["beta_t"].to_numpy())
    tests = part_from_frame(results["cox"].to_frame(), "tests")
    assert tests["test"].tolist() == ["likelihood ratio", "Wald", "score (log-rank)"]
