"""Validation on the real CDISC SDTM/ADaM Pilot 01 ADTTE (time to first dermatologic event, TTDE).

Data: CDISC, SDTM/ADaM Pilot 01 submission package (cdisc-org/sdtm-adam-pilot-project), read from
the shared folder through the `cdisc_dir` fixture and never copied into the repository. The safety
population (SAFFL = Y) has 254 subjects in three arms. Everything trialkit takes from lifelines is
compared with lifelines called directly on the same records; the hand-written stratified log-rank is
compared with statsmodels' independent implementation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit.outcomes as tko

ARMS = ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]


@pytest.fixture(scope="module")
def adtte(cdisc_dir) -> pd.DataFrame:
    d = pd.read_sas(cdisc_dir / "adam" / "adtte.xpt", encoding="latin-1")
    return d[(d["PARAMCD"] == "TTDE") & (d["SAFFL"] == "Y")].reset_index(drop=True)


def _event(d):  # XPORT stores 0 as an IBM float read back as ~5e-79
    return 1 - d["CNSR"].round().astype(int)


def test_counts_per_arm(adtte):
    res = tko.km(adtte, endpoint="TTDE", population="SAFFL")
    expected = pd.DataFrame({"group": pd.Categorical(ARMS, categories=ARMS, ordered=True),
                             "n": [86, 84, 84], "events": [29, 62, 61], "censored": [57, 22, 23]})
    pd.testing.assert_frame_equal(res.summary[expected.columns.tolist()], expected, check_dtype=False)
    assert ("adtte: arm from TRTP, ordered by TRTAN: Placebo, Xanomeline Low Dose, Xanomeline High Dose"
            in res.notes)


def test_km_curves_medians_and_bands_match_lifelines(adtte):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    res = tko.km(adtte, endpoint="TTDE", population="SAFFL")
    for arm in ARMS:
        s = adtte[adtte["TRTP"] == arm]
        kmf = KaplanMeierFitter().fit(s["AVAL"], _event(s))
        cur = res.curves[res.curves["group"] == arm]
        np.testing.assert_allclose(cur["survival"], kmf.survival_function_.iloc[:, 0], rtol=1e-12)
        np.testing.assert_allclose(cur[["lower", "upper"]], kmf.confidence_interval_, rtol=1e-12)
        row = res.summary.set_index("group").loc[arm]
        expected_median = kmf.median_survival_time_
        assert row["median"] == (expected_median if np.isfinite(expected_median) else pytest.approx(np.nan, nan_ok=True))
        ci = median_survival_times(kmf.confidence_interval_).replace(np.inf, np.nan).iloc[0].tolist()
        assert [row["median_lower"], row["median_upper"]] == pytest.approx(ci, nan_ok=True)
    # the values themselves, for the record (days): placebo median not reached
    assert res.summary["median"].tolist() == pytest.approx([np.nan, 33.0, 36.0], nan_ok=True)


def test_logrank_three_arms_matches_lifelines(adtte):
    from lifelines.statistics import multivariate_logrank_test

    res = tko.logrank(adtte, endpoint="TTDE")
    ref = multivariate_logrank_test(adtte["AVAL"], adtte["TRTP"], _event(adtte))
    assert res.statistic == pytest.approx(ref.test_statistic, rel=1e-10)
    assert res.statistic == pytest.approx(60.2696, abs=1e-4) and res.df == 2


def test_stratified_logrank_by_age_group_matches_statsmodels(adtte):
    from statsmodels.duration.survfunc import survdiff

    res = tko.logrank(adtte, endpoint="TTDE", strata="AGEGR1")
    ref = survdiff(adtte["AVAL"], _event(adtte), adtte["TRTP"], strata=adtte["AGEGR1"])[0]
    assert res.statistic == pytest.approx(ref, rel=1e-10)
    assert res.statistic == pytest.approx(56.5192, abs=1e-4)


def test_cox_matches_lifelines_directly(adtte):
    from lifelines import CoxPHFitter

    res = tko.cox(adtte, endpoint="TTDE", covariates=["AGE"])
    X = pd.DataFrame({"low": (adtte["TRTP"] == ARMS[1]).astype(float), "high": (adtte["TRTP"] == ARMS[2]).astype(float),
                      "AGE": adtte["AGE"], "T": adtte["AVAL"], "E": _event(adtte)})
    # lifelines stops ~1e-7 (score ~3e-7) from the maximum; trialkit takes one Newton step from its fit
    ref = CoxPHFitter().fit(X, "T", "E").summary
    np.testing.assert_allclose(res.summary["coef"], ref["coef"], rtol=1e-6)
    np.testing.assert_allclose(res.summary[["lower", "upper"]],
                               ref[["exp(coef) lower 95%", "exp(coef) upper 95%"]], rtol=1e-6)
    # at the maximum itself, as statsmodels' independent Efron fit finds it (score < 1e-9)
    from statsmodels.duration.hazard_regression import PHReg

    sm = PHReg(X["T"].to_numpy(), X[["low", "high", "AGE"]].to_numpy(), status=X["E"].to_numpy(), ties="efron")
    fit = sm.fit()
    np.testing.assert_allclose(res.summary["coef"], fit.params, rtol=1e-8)
    np.testing.assert_allclose(res.summary["se"], fit.bse, rtol=1e-7)
    assert np.abs(sm.score(res.summary["coef"].to_numpy())).max() < 1e-9
    assert res.summary["comparison"].tolist() == [f"{ARMS[1]} vs Placebo", f"{ARMS[2]} vs Placebo", "per unit"]


def test_median_followup_matches_lifelines_reverse_km(adtte):
    from lifelines import KaplanMeierFitter

    res = tko.median_followup(adtte, endpoint="TTDE")
    overall = KaplanMeierFitter().fit(adtte["AVAL"], 1 - _event(adtte)).median_survival_time_
    assert res.summary.set_index("group").loc["overall", "median"] == overall


def test_with_trialkit_load_cdisc(cdisc_study, adtte):
    study = cdisc_study
    assert "TTDE" in set(study.outcomes["endpoint"].astype(str))
    res = tko.km(study, endpoint="TTDE", population="treated")
    direct = tko.km(adtte, endpoint="TTDE")
    # same subjects, events and curves whichever way the ADTTE is read (arms named by code in a Study)
    assert res.summary["n"].sum() == 254 and res.summary["events"].sum() == 152
    assert sorted(res.summary["events"]) == sorted(direct.summary["events"])
    assert tko.logrank(study, endpoint="TTDE", population="treated").statistic == pytest.approx(
        tko.logrank(adtte, endpoint="TTDE").statistic, rel=1e-10)
