"""Every randomization entry point on the committed demo studies of both protocols."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit as tk


@pytest.fixture(params=["demo_b1931036", "demo_aall1732"])
def study(request):
    return request.getfixturevalue(request.param)


def test_allocation_summary_on_demo(study):
    res = tk.allocation_summary(study, n_sim=1000, seed=1)
    t = res.summary
    rnd = study.randomization
    exp = study.protocol.experimental_arm
    counts = rnd["arm"].value_counts()
    overall = t[t["level"] == "overall"].iloc[0]
    assert overall["n"] == len(rnd) and overall[f"n_{exp}"] == counts[exp]
    rho = float(study.protocol.allocation_proportions[exp])
    assert overall["arm"] == exp and overall["expected"] == pytest.approx(rho * len(rnd))
    # every subject is in exactly one stratum, country and site row: nothing dropped
    for level in ("stratum", "country", "site_id"):
        assert t.loc[t["level"] == level, "n"].sum() == len(rnd)
    assert t.loc[t["level"] == "site_id", "group"].nunique() == rnd["site_id"].nunique()
    small = t[~t["testable"]]
    assert small["p_binomial"].isna().all() and small["p_scheme"].isna().all()
    assert (t.loc[t["testable"], "p_scheme"].between(0, 1)).all()
    # one-patient sites are never tested
    assert not t[(t["level"] == "site_id") & (t["n"] == 1)]["testable"].any()


def test_balance_table_on_demo(study):
    bt = tk.balance_table(study)
    rnd = study.randomization
    assert bt.groups == [a for a in study.protocol.arm_codes]
    assert bt.n["Overall"] == len(rnd)
    factors = [f.name for f in study.protocol.stratification]
    assert set(factors) <= set(bt.smd["variable"]) and "age_years" in set(bt.smd["variable"])
    # age SMD by hand
    ages = rnd[["subject_id", "arm"]].merge(study.screening[["subject_id", "age_years"]], on="subject_id")
    a = ages.loc[ages["arm"] == bt.groups[0], "age_years"].dropna().astype(float)
    b = ages.loc[ages["arm"] == bt.groups[1], "age_years"].dropna().astype(float)
    hand = (b.mean() - a.mean()) / np.sqrt((a.var() + b.var()) / 2)
    assert bt.smd.set_index("variable").loc["age_years", "smd"] == pytest.approx(hand, rel=1e-10)
    n = rnd["arm"].value_counts()
    assert bt.band == pytest.approx(np.sqrt(1 / n[bt.groups[0]] + 1 / n[bt.groups[1]]))
    html = bt._repr_html_()
    assert "SMD" in html and "CONSORT 2010" in html


def test_cumulative_and_simulation_on_demo(study):
    cum = tk.cumulative_allocation(study, n_sim=500, seed=2)
    exp = study.protocol.experimental_arm
    rho = float(study.protocol.allocation_proportions[exp])
    rnd = study.randomization
    last = cum.summary.iloc[-1]
    assert last["deviation"] == pytest.approx((rnd["arm"] == exp).sum() - rho * len(rnd))
    assert (cum.summary["scheme_lower"] <= cum.summary["scheme_upper"]).all()
    sim = tk.simulate_design(study, n_trials=1000, seed=3)
    assert sim.summary["n_patients"].iloc[0] == len(rnd)
    assert sim.summary["scheme"].iloc[0].startswith("protocol: stratified permuted blocks")
    from trialkit.randomization.monitoring import allocation_over_time

    over = allocation_over_time(study)
    assert len(over) == len(rnd) and over.groupby("site_id")["k"].max().sum() == len(rnd)


def test_schedule_for_demo_sites(study):
    sites = pd.unique(study.randomization["site_id"])[:5]
    s = tk.generate_schedule(study.protocol, n_per_stratum=6, seed=1, strata=["site_id"],
                             levels={"site_id": list(sites)})
    assert tk.verify_schedule(s).ok and s.allocations["site_id"].nunique() == 5
