"""Tests of the baseline balance table (balance_table, SMD formulas, chance band)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_randomization_helpers import toy_study

import trialkit as tk
from trialkit.randomization.balance import BalanceError, smd, smd_categorical, smd_continuous


def test_smd_continuous_by_hand():
    # A: 1, 3 (mean 2, SD sqrt 2); B: 2, 6 (mean 4, SD sqrt 8); pooled sqrt((2 + 8)/2) = sqrt 5
    assert smd_continuous(2, np.sqrt(2), 4, np.sqrt(8)) == pytest.approx(2 / np.sqrt(5))
    assert smd(pd.Series([1.0, 3.0]), pd.Series([2.0, 6.0])) == pytest.approx(0.894427, abs=1e-6)


def test_smd_binary_equals_austin_formula():
    # Austin 2009 eq. 2: (p_B - p_A) / sqrt((p_A q_A + p_B q_B)/2), p_A = 0.5, p_B = 0.25
    expected = (0.25 - 0.5) / np.sqrt((0.25 + 0.1875) / 2)
    assert expected == pytest.approx(-0.534522, abs=1e-6)
    assert smd_categorical([0.5, 0.5], [0.75, 0.25]) == pytest.approx(abs(expected))
    a = pd.Series(["y", "n", "y", "n"])
    b = pd.Series(["y", "n", "n", "n"])
    assert smd(a, b) == pytest.approx(expected)


def test_smd_multilevel_yang_dalton_by_hand():
    # Yang & Dalton 2012: T = (0.2, 0.1) after dropping level 1;
    # S = [[0.23, -0.105], [-0.105, 0.185]], det = 0.031525;
    # T' S^-1 T = (0.185*0.04 + 2*0.105*0.02 + 0.23*0.01) / 0.031525 = 0.0139 / 0.031525
    expected = np.sqrt(0.0139 / 0.031525)
    assert expected == pytest.approx(0.664018, abs=1e-6)
    assert smd_categorical([0.5, 0.3, 0.2], [0.2, 0.5, 0.3]) == pytest.approx(expected)
    # a level absent from both arms is ignored rather than making S singular
    assert smd_categorical([0.5, 0.3, 0.0, 0.2], [0.2, 0.5, 0.0, 0.3]) == pytest.approx(expected)


def test_table_layout_counts_and_band_on_67_vs_33():
    arms = ["InO"] * 67 + ["ALLR3"] * 33
    ages = np.r_[np.full(67, 10.0), np.full(33, 8.0)]
    ages[:10] = np.nan  # 10 missing ages in InO
    s = toy_study(arms, ages=list(ages), sexes=["F"] * 40 + ["M"] * 27 + ["F"] * 13 + ["M"] * 20)
    bt = tk.balance_table(s, covariates=["age_years", "sex"])
    assert bt.groups == ["ALLR3", "InO"]  # protocol dose order: control first
    assert bt.n == {"ALLR3": 33, "InO": 67, "Overall": 100}
    # chance band sqrt(1/67 + 1/33) (Hedges & Olkin 1985: SE of d at d = 0)
    assert bt.band == pytest.approx(np.sqrt(1 / 67 + 1 / 33)) and round(bt.band, 3) == 0.213
    sm = bt.smd.set_index("variable")
    # sex: p_F = 13/33 (ALLR3) vs 40/67 (InO); Austin eq. 2 on the 'M' level
    pa, pb = 20 / 33, 27 / 67
    assert sm.loc["sex", "smd"] == pytest.approx((pb - pa) / np.sqrt((pa * (1 - pa) + pb * (1 - pb)) / 2))
    assert sm.loc["sex", "chance_limit"] == pytest.approx(1.959964 * np.sqrt(1 / 67 + 1 / 33), rel=1e-5)
    # age: constant within arm, SD 0 -> pooled SD 0 and different means -> undefined (NaN), not inf
    assert np.isnan(sm.loc["age_years", "smd"])
    assert sm.loc["age_years", "n_other"] == 57
    d = bt.display_frame()
    assert list(d.columns) == ["Characteristic", "Statistic", "ALLR3 (N=33)", "InO (N=67)", "Overall (N=100)", "SMD"]
    miss = d[d["Statistic"] == "missing, n (%)"].iloc[0]
    assert miss["InO (N=67)"] == "10 (14.9)" and miss["ALLR3 (N=33)"] == "0 (0.0)"
    f_row = d[d["Statistic"] == "  F"].iloc[0]
    assert f_row["ALLR3 (N=33)"] == "13 (39.4)" and f_row["InO (N=67)"] == "40 (59.7)"
    assert "p-value" not in d.columns and "CONSORT 2010" in bt.caption


def test_pvalues_only_on_request():
    df = pd.DataFrame({"arm": ["A"] * 6 + ["B"] * 6, "x": [1, 2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 7.0],
                       "c": list("aabbab") + list("bbbbba")})
    bt = tk.balance_table(df, covariates=["x", "c"], pvalues=True, reference="A")
    from scipy import stats

    sm = bt.smd.set_index("variable")
    assert sm.loc["x", "p_value"] == pytest.approx(stats.ttest_ind(df.x[:6], df.x[6:], equal_var=False).pvalue)
    assert sm.loc["x", "test"] == "Welch t-test"
    assert sm.loc["c", "test"] == "Fisher exact"  # 2x2 with expected counts < 5
    assert sm.loc["c", "p_value"] == pytest.approx(stats.fisher_exact([[3, 3], [5, 1]]).pvalue)
    assert "p-value" in bt.display_frame().columns


def test_three_arms_compare_with_reference_and_keep_rows_without_group():
    # a categorical declares the order (P first = the reference), never the alphabet
    df = pd.DataFrame({"g": pd.Categorical(["P", "L", "H", "P", "L", "H", None], categories=["P", "L", "H"]),
                       "x": [1, 2, 3, 2, 3, 5, 9.0]})
    bt = tk.balance_table(df, by="g", covariates=["x"])
    assert bt.smd["comparison"].tolist() == ["L vs P", "H vs P"]
    assert bt.n["Overall"] == 7 and "1 row(s) have no `g` value" in bt.caption
    over = bt.summary.query("variable == 'x' and group == 'Overall' and statistic == 'mean'")["value"].iloc[0]
    assert over == pytest.approx(25 / 7)


@pytest.mark.cdisc
def test_cdisc_adsl_against_hand_computation(cdisc_dir):
    """CDISC Pilot 01 ADSL, by planned arm (TRT01P): every number recomputed by hand with pandas."""
    adsl = pd.read_sas(cdisc_dir / "adam" / "adsl.xpt", encoding="latin1")
    order = ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]
    covs = ["AGE", "SEX", "RACE", "HEIGHTBL", "WEIGHTBL", "BMIBL"]
    bt = tk.balance_table(adsl, by="TRT01P", covariates=covs)  # ordered by TRT01PN, not alphabetically
    assert bt.n == {"Placebo": 86, "Xanomeline Low Dose": 84, "Xanomeline High Dose": 84, "Overall": 254}
    st = bt.summary.set_index(["variable", "level", "group", "statistic"])["value"]
    g = adsl.groupby("TRT01P")
    for v in ("AGE", "HEIGHTBL", "WEIGHTBL", "BMIBL"):
        for arm in order:
            x = g.get_group(arm)[v].dropna()
            assert st[(v, "", arm, "mean")] == pytest.approx(x.mean(), rel=1e-12)
            assert st[(v, "", arm, "sd")] == pytest.approx(x.std(ddof=1), rel=1e-12)
            assert st[(v, "", arm, "median")] == pytest.approx(x.median(), rel=1e-12)
            assert st[(v, "", arm, "q1")] == pytest.approx(x.quantile(0.25), rel=1e-12)
    # the published demographic table 14-2.01 reproduced by the R Consortium Pilot 1 submission
    # (RConsortium/submissions-pilot1, output/tlf-demographic.out, commit 4c7b3bb): Age mean (sd)
    # 75.21 (8.59) / 75.67 (8.29) / 74.38 (7.89)
    assert [round(st[("AGE", "", a, "mean")], 2) for a in order] == [75.21, 75.67, 74.38]
    assert [round(st[("AGE", "", a, "sd")], 2) for a in order] == [8.59, 8.29, 7.89]
    assert st[("WEIGHTBL", "", "Xanomeline Low Dose", "missing")] == 1  # one subject without weight
    sm = bt.smd.set_index(["variable", "comparison"])
    for v in ("AGE", "HEIGHTBL", "WEIGHTBL", "BMIBL"):
        a, b = g.get_group("Placebo")[v].dropna(), g.get_group("Xanomeline High Dose")[v].dropna()
        hand = (b.mean() - a.mean()) / np.sqrt((a.var() + b.var()) / 2)
        assert sm.loc[(v, "Xanomeline High Dose vs Placebo"), "smd"] == pytest.approx(hand, rel=1e-10)
    # sex (binary): p(M) placebo 33/86, high 44/84
    pa, pb = 33 / 86, 44 / 84
    hand = (pb - pa) / np.sqrt((pa * (1 - pa) + pb * (1 - pb)) / 2)
    assert sm.loc[("SEX", "Xanomeline High Dose vs Placebo"), "smd"] == pytest.approx(hand, rel=1e-10)
    # race (3 levels in high dose): Yang & Dalton by hand with numpy
    lv = ["AMERICAN INDIAN OR ALASKA NATIVE", "BLACK OR AFRICAN AMERICAN", "WHITE"]
    p1 = adsl.loc[adsl.TRT01P == "Placebo", "RACE"].value_counts(normalize=True).reindex(lv, fill_value=0).to_numpy()
    p2 = adsl.loc[adsl.TRT01P == "Xanomeline High Dose", "RACE"].value_counts(normalize=True).reindex(lv).to_numpy()
    t = (p2 - p1)[1:]
    s = (np.diag(p1[1:]) - np.outer(p1[1:], p1[1:]) + np.diag(p2[1:]) - np.outer(p2[1:], p2[1:])) / 2
    assert sm.loc[("RACE", "Xanomeline High Dose vs Placebo"), "abs_smd"] == pytest.approx(
        np.sqrt(t @ np.linalg.inv(s) @ t), rel=1e-10)
    # chance band 86 vs 84
    assert bt.band == pytest.approx(np.sqrt(1 / 86 + 1 / 84))


@pytest.mark.cdisc
def test_cdisc_study_via_load_cdisc(cdisc_study, cdisc_dir):
    study = cdisc_study
    bt = tk.balance_table(study, covariates=["age_years", "sex"])
    adsl = pd.read_sas(cdisc_dir / "adam" / "adsl.xpt", encoding="latin1")
    ref = bt.groups[0]
    assert sum(bt.n[g] for g in bt.groups) == len(study.randomization)
    ages = study.screening.set_index("subject_id")["age_years"]
    rnd = study.randomization.set_index("subject_id")["arm"]
    x = ages[rnd.index][rnd == ref].dropna()
    st = bt.summary.set_index(["variable", "level", "group", "statistic"])["value"]
    assert st[("age_years", "", ref, "mean")] == pytest.approx(x.astype(float).mean())
    assert len(adsl) == 254


@pytest.mark.parametrize("kwargs, match", [
    ({"by": "treatment"}, "grouping column `treatment` is not in the frame"),
    ({"covariates": ["x", "height"]}, r"column\(s\) 'height' not in the data"),
    ({"covariates": ["x", "arm"]}, "is the grouping column"),
    ({"covariates": ["x", "x"]}, "repeat a column"),
    ({"covariates": []}, "no covariates"),
    ({"covariates": ["x"], "reference": "C"}, "reference='C' is not one of the groups"),
    ({"covariates": ["x"]}, "which group is the reference"),  # A/B: nothing says which is the control
])
def test_balance_rejects_bad_calls(kwargs, match):
    df = pd.DataFrame({"arm": ["A", "B"], "x": [1.0, 2.0]})
    kwargs = {"reference": "A", **kwargs} if kwargs.get("covariates") != ["x"] else kwargs
    with pytest.raises(BalanceError, match=match):
        tk.balance_table(df, **kwargs)


def test_balance_rejects_other_inputs_and_bad_export(tmp_path):
    with pytest.raises(BalanceError, match="expected a Study or a DataFrame"):
        tk.balance_table([1, 2, 3])
    s = toy_study(["InO", "ALLR3", "InO"])
    with pytest.raises(BalanceError, match="'treatment' are in none of the study's tables.*did you mean 'treated'"):
        tk.balance_table(s, by="treatment")
    bt = tk.balance_table(s, covariates=["age_years"])
    with pytest.raises(BalanceError, match="writes .xlsx"):
        bt.to_excel(tmp_path / "t.csv")


@pytest.mark.cdisc
def test_agrees_with_tableone_and_multilevel_chance_limit(cdisc_dir):
    """Same SMDs as tableone 0.9 (Python) on the ADSL; df = K - 1 chance limit for RACE."""
    import warnings

    from scipy.stats import chi2
    from tableone import TableOne

    adsl = pd.read_sas(cdisc_dir / "adam" / "adsl.xpt", encoding="latin1")
    adsl = adsl[adsl["TRT01P"].isin(["Placebo", "Xanomeline High Dose"])]
    covs, cats = ["AGE", "HEIGHTBL", "WEIGHTBL", "BMIBL", "SEX", "RACE"], ["SEX", "RACE"]
    bt = tk.balance_table(adsl, by="TRT01P", covariates=covs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t1 = TableOne(adsl, columns=covs, categorical=cats, groupby="TRT01P", smd=True, pval=False,
                      include_null=False, order={"TRT01P": ["Placebo", "Xanomeline High Dose"]})
    theirs = t1.smd_table.iloc[:, 0].astype(float)
    ours = bt.smd.set_index("variable")["smd"]
    for v in covs:
        assert abs(ours[v]) == pytest.approx(abs(theirs[v]), rel=1e-9), v
    race = bt.smd.set_index("variable").loc["RACE"]
    assert race["df"] == 2  # three races present in the two arms
    assert race["chance_limit"] == pytest.approx(np.sqrt((1 / 86 + 1 / 84) * chi2.ppf(0.95, 2)))
    assert race["chance_limit"] == pytest.approx(0.3755, abs=1e-4)


def test_chance_band_matches_the_spread_of_smd_under_randomization():
    """Re-randomize 100 fixed patients 67:33 2,000 times: SD of the SMD ≈ sqrt(1/67 + 1/33) = 0.2127."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=100)
    d = []
    for _ in range(2000):
        arm = rng.permutation(np.r_[np.ones(67, bool), np.zeros(33, bool)])
        d.append(smd_continuous(x[~arm].mean(), x[~arm].std(ddof=1), x[arm].mean(), x[arm].std(ddof=1)))
    band = np.sqrt(1 / 67 + 1 / 33)
    assert np.std(d) == pytest.approx(band, rel=0.06)  # MC error of an SD from 2,000 draws ~ 1.6 %
    assert np.mean(np.abs(d) > 1.96 * band) == pytest.approx(0.05, abs=0.015)


@pytest.mark.cdisc
def test_cdisc_study_reaches_adsl_covariates_as_published(cdisc_study):
    """On a Study loaded from the pilot, ADSL variables are Table 1 covariates, AGEGR1 in AGEGR1N order.

    Expected values: R Consortium Pilot 1, output/tlf-demographic.out (RConsortium/submissions-pilot1,
    commit 4c7b3bb), the reproduction of the pilot's table 14-2.01 (ITT population, N = 86 / 84 / 84).
    """
    study = cdisc_study
    bt = tk.balance_table(study, covariates=["AGEGR1", "MMSETOT", "weight_kg", "bmi"])
    st = bt.summary.set_index(["variable", "level", "group", "statistic"])["value"]
    arms = ["Pbo", "Xan_Lo", "Xan_Hi"]
    levels = list(dict.fromkeys(bt.summary.query("variable == 'AGEGR1' and statistic == 'count'")["level"]))
    assert levels == ["<65", "65-80", ">80"]  # AGEGR1N order, not text order
    published = {"<65": [14, 8, 11], "65-80": [42, 47, 55], ">80": [30, 29, 18]}
    for lv, counts in published.items():
        assert [int(st[("AGEGR1", lv, a, "count")]) for a in arms] == counts
    assert [round(st[("MMSETOT", "", a, "mean")], 2) for a in arms] == [18.05, 17.87, 18.51]
    assert [round(st[("MMSETOT", "", a, "sd")], 2) for a in arms] == [4.27, 4.22, 4.16]
    assert [round(st[("weight_kg", "", a, "mean")], 2) for a in arms] == [62.76, 67.28, 70.00]
    assert [round(st[("bmi", "", a, "mean")], 2) for a in arms] == [23.64, 25.06, 25.35]
    km = tk.km(study, endpoint="TTDE", population="efficacy")
    assert km.summary["n"].sum() == int(study.disposition["efficacy"].sum())

