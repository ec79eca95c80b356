"""Tests of allocation monitoring (allocation_summary, cumulative_allocation, allocation_over_time)."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest
from test_randomization_helpers import toy_study

import trialkit as tk
from trialkit.randomization.monitoring import AllocationError, allocation_over_time, min_attainable_p


def _binom_two_sided(k, n, p):
    """Exact two-sided binomial p-value by hand: sum of P(X=i) over i with P(X=i) <= P(X=k)."""
    pmf = [comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    return sum(q for q in pmf if q <= pmf[k] * (1 + 1e-7))


def test_min_attainable_p_by_hand():
    # 2:1 -> P(all 1 patient(s) to the 1/3 arm) is the rarest outcome
    assert min_attainable_p(1, 2 / 3) == pytest.approx(1 / 3)
    assert min_attainable_p(2, 2 / 3) == pytest.approx(1 / 9)
    assert min_attainable_p(3, 2 / 3) == pytest.approx(1 / 27)


def test_overall_counts_binomial_and_scheme_p_values():
    arms = ["InO"] * 10 + ["ALLR3"] * 2
    s = toy_study(arms)
    res = tk.allocation_summary(s, levels=["overall"], n_sim=2000, seed=1)
    row = res.summary.iloc[0]
    assert (row["n"], row["n_InO"], row["n_ALLR3"]) == (12, 10, 2)
    assert row["arm"] == "InO" and len(res.summary) == 1  # two arms: the experimental one is tested
    assert row["expected"] == pytest.approx(8.0) and row["difference"] == pytest.approx(2.0)
    assert row["planned_prop"] == pytest.approx(2 / 3) and row["prop"] == pytest.approx(10 / 12)
    assert row["p_binomial"] == pytest.approx(_binom_two_sided(10, 12, 2 / 3), rel=1e-9)
    # permuted blocks of 3/6 in one stratum: after 12 patients InO is 8 or 9 at most (a 6-block
    # started at position 10 can hold 3 InO first), never 10 -> smallest Monte Carlo p-value
    assert row["p_scheme"] == pytest.approx(1 / 2001)
    assert 7 <= row["scheme_low"] <= row["scheme_high"] <= 9
    assert bool(row["testable"]) and row["note"] == ""
    assert "p_binomial" in res.caption and "p_scheme" in res.caption


def test_small_sites_are_flagged_not_tested():
    arms = ["InO", "InO", "ALLR3", "InO", "InO", "ALLR3"]
    sites = ["AT01", "AT01", "AT01", "BE01", "BE01", "CZ01"]
    res = tk.allocation_summary(toy_study(arms, sites=sites), levels=["site_id", "country"], n_sim=500, seed=2)
    t = res.summary.set_index(["level", "group"])
    # BE01 (n=2) and CZ01 (n=1) cannot reach p < 0.05 whatever happens: flagged, no p-values
    for g in ("BE01", "CZ01"):
        assert not t.loc[("site_id", g), "testable"]
        assert np.isnan(t.loc[("site_id", g), "p_binomial"]) and np.isnan(t.loc[("site_id", g), "p_scheme"])
        assert t.loc[("site_id", g), "note"].startswith("too small to test")
    assert t.loc[("site_id", "AT01"), "testable"]
    assert t.loc[("site_id", "AT01"), "p_binomial"] == pytest.approx(1.0)
    # country joined from the sites table
    assert t.loc[("country", "Austria"), "n"] == 3 and t.loc[("country", "Belgium"), "n"] == 2
    assert len(res.summary) == 3 + 3  # no group silently dropped
    d = res.display_frame(levels=["site_id"]).set_index("group")
    assert d.loc["AT01", "ALLR3 / InO"] == "1 / 2" and d.loc["AT01", "scheme 95% range"] == "1–3"
    assert d.loc["CZ01", "p_binomial"] == "" and d.loc["CZ01", "note"].startswith("too small to test:")
    assert "p_scheme" in res._repr_html_()


def test_bare_frame_needs_protocol_and_valid_arms():
    s = toy_study(["InO", "ALLR3", "InO"])
    with pytest.raises(AllocationError, match="needs protocol"):
        tk.allocation_summary(s.randomization)
    res = tk.allocation_summary(s.randomization, protocol="b1931036", levels=["overall"], n_sim=100)
    assert res.summary["n"].iloc[0] == 3
    bad = s.randomization.assign(arm=pd.array(["InO", "Placebo", "InO"], dtype="string"))
    with pytest.raises(AllocationError, match="not arms of protocol"):
        tk.allocation_summary(bad, protocol="b1931036")
    with pytest.raises(AllocationError, match="cannot group by"):
        tk.allocation_summary(s, levels=["hospital"])
    empty = s.replace(randomization=s.randomization.iloc[:0])
    with pytest.raises(AllocationError, match="no randomized subjects"):
        tk.allocation_summary(empty)
    with pytest.raises(AllocationError, match="expected a Study"):
        tk.allocation_summary([1, 2])
    noarm = s.randomization.assign(arm=pd.array(["InO", None, "InO"], dtype="string"))
    with pytest.raises(AllocationError, match="have no arm"):
        tk.allocation_summary(noarm, protocol="b1931036")


def test_cumulative_allocation_deviation_by_hand():
    arms = ["InO", "InO", "ALLR3", "ALLR3", "InO", "InO"]
    res = tk.cumulative_allocation(toy_study(arms), n_sim=500, seed=3)
    t = res.summary
    # N_InO(j) - 2/3 j for j = 1..6: 1-2/3, 2-4/3, 2-2, 2-8/3, 3-10/3, 4-4
    expected = [1 / 3, 2 / 3, 0, -2 / 3, -1 / 3, 0]
    np.testing.assert_allclose(t["deviation"].to_numpy(), expected, atol=1e-12)
    assert t["j"].tolist() == [1, 2, 3, 4, 5, 6]
    # blocks of 3 or 6: after 3 and 6 patients the block is closed or mid-6-block
    assert (t["scheme_lower"] <= t["scheme_upper"]).all()
    assert (t["complete_upper"] - t["complete_lower"] >= t["scheme_upper"] - t["scheme_lower"] - 1e-9).all()
    assert t.loc[0, "scheme_lower"] == pytest.approx(-2 / 3) and t.loc[0, "scheme_upper"] == pytest.approx(1 / 3)


def test_allocation_over_time_running_counts():
    arms = ["InO", "ALLR3", "InO", "InO"]
    sites = ["AT01", "BE01", "AT01", "AT01"]
    t = allocation_over_time(toy_study(arms, sites=sites), by="site_id")
    at = t[t["site_id"] == "AT01"]
    assert at["k"].tolist() == [1, 2, 3] and at["n_InO"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(at["expected_InO"], [2 / 3, 4 / 3, 2])
    with pytest.raises(AllocationError, match="cannot group by"):
        allocation_over_time(toy_study(arms), by="ward")


@pytest.mark.slow
@pytest.mark.cdisc
def test_three_arm_cdisc_pilot_tests_every_arm(cdisc_study):
    """CDISC Pilot 01 (1:1:1, placebo / low / high dose): 86 / 84 / 84 randomized."""
    study = cdisc_study
    res = tk.allocation_summary(study, levels=["overall"], n_sim=1000, seed=4)
    t = res.summary.set_index("arm")
    assert list(t.index) == list(study.protocol.arm_codes) and (t["n"] == 254).all()
    counts = study.randomization["arm"].value_counts()
    for arm in t.index:
        assert t.loc[arm, "expected"] == pytest.approx(254 / 3)
        assert t.loc[arm, "p_binomial"] == pytest.approx(_binom_two_sided(int(counts[arm]), 254, 1 / 3), rel=1e-7)
    assert sorted(counts.tolist()) == [84, 84, 86]
    assert res.scheme.startswith("assumed: permuted blocks")  # the pilot's method is not in the data
    assert "arm" in res.display_frame().columns
    # the scheme is an assumption: said next to the p-value, never the basis of a flag (issue 14: it
    # "flagged" 86/84/84 at p = 0.02 although a 1:1:1 trial of 254 is expected to look like this)
    assert not res.scheme_stated and (t["p_scheme_basis"] == "assumed scheme").all()
    assert (t["flag_on"] == "p_binomial").all() and not t["flagged"].any()
    assert all("(assumed scheme)" in v for v in res.display_frame()["p_scheme"])
    assert any("states no randomization method" in n for n in res.notes)
    # omnibus over the three arms: exact multinomial (by brute-force enumeration, below) and chi-square
    om = res.omnibus.iloc[0]
    obs = [int(counts[a]) for a in study.protocol.arm_codes]
    assert om["chi2"] == pytest.approx(sum((o - 254 / 3) ** 2 / (254 / 3) for o in obs))  # Pearson, by hand
    assert om["p_multinomial"] == pytest.approx(_multinomial_p_by_enumeration(obs, [1 / 3] * 3), rel=1e-9)
    assert om["p_multinomial"] > 0.9 and om["flag_on"] == "p_multinomial" and not om["flagged"]


def _multinomial_p_by_enumeration(obs, probs):
    """Sum of the probabilities of every split no more likely than the observed one (plain Python)."""
    from math import factorial, prod

    n = sum(obs)

    def pmf(x):
        return factorial(n) / prod(factorial(v) for v in x) * prod(p ** v for p, v in zip(probs, x))

    p_obs = pmf(obs)
    total = 0.0
    for a in range(n + 1):
        for b in range(n + 1 - a):
            q = pmf((a, b, n - a - b))
            if q <= p_obs * (1 + 1e-7):
                total += q
    return total


def test_exact_multinomial_test_two_arms_is_the_binomial_test_and_small_cases_by_hand():
    from scipy.stats import binomtest

    from trialkit.randomization.monitoring import exact_multinomial_test

    for k, n, p in ((10, 12, 2 / 3), (3, 20, 0.5), (0, 7, 1 / 3)):
        got, method = exact_multinomial_test([k, n - k], [p, 1 - p])
        assert got == pytest.approx(binomtest(k, n, p).pvalue, rel=1e-9) and method.startswith("exact")
    assert exact_multinomial_test([5, 1, 0], [1 / 3] * 3)[0] == pytest.approx(
        _multinomial_p_by_enumeration([5, 1, 0], [1 / 3] * 3), rel=1e-12)
    # beyond the enumeration limit: a Monte Carlo estimate that says so
    big, method = exact_multinomial_test([700, 650, 640, 10], [0.25] * 4, n_sim=2000)
    assert method.startswith("Monte Carlo") and big < 0.001


def test_exact_multinomial_test_reproduces_the_emt_manual_example():
    # R package EMT (Menzel), reference manual, help page plotMultinom (EMT 1.3.1), Examples:
    #   observed <- c(5,2,1); prob <- c(0.25, 0.5, 0.25); out <- multinomial.test(observed, prob)  # p.value = 0.0767
    from trialkit.randomization.monitoring import exact_multinomial_test

    p, method = exact_multinomial_test([5, 2, 1], [0.25, 0.5, 0.25])
    assert round(p, 4) == 0.0767 and method.startswith("exact")


def test_a_stated_scheme_flags_on_p_scheme():
    # B1931036 states "stratified permuted blocks": its scheme is the reference, and 10 of 12 on InO is
    # impossible in blocks of 3/6 (see test_overall_counts_binomial_and_scheme_p_values)
    res = tk.allocation_summary(toy_study(["InO"] * 10 + ["ALLR3"] * 2), levels=["overall"], n_sim=2000, seed=1)
    row = res.summary.iloc[0]
    assert res.scheme_stated and not res.notes
    assert row["p_scheme_basis"] == "protocol's scheme" and row["flag_on"] == "p_scheme" and row["flagged"]
    assert res.omnibus.empty  # two arms: the binomial test is the omnibus
    assert res.display_frame()["flagged"].tolist() == ["yes"]


def test_allocation_and_cumulative_share_one_simulation_and_never_a_generators(demo_b1931036):
    """The study report's two allocation views re-randomize the same patients: the second reuses the
    first's matrix (read-only); the same numbers either way; a Generator seed is never reused."""
    from trialkit.randomization import monitoring as mon

    s = demo_b1931036
    mon._LAST_SIMULATION.clear()
    first = tk.allocation_summary(s, levels=("overall",), n_sim=500, seed=3).summary
    (cached,) = mon._LAST_SIMULATION.values()
    assert not cached.flags.writeable
    again = tk.allocation_summary(s, levels=("overall",), n_sim=500, seed=3).summary
    assert next(iter(mon._LAST_SIMULATION.values())) is cached
    pd.testing.assert_frame_equal(first, again)
    mon._LAST_SIMULATION.clear()  # computed afresh: the same p-value as from the kept matrix
    pd.testing.assert_frame_equal(tk.allocation_summary(s, levels=("overall",), n_sim=500, seed=3).summary, first)
    gen = np.random.default_rng(3)
    rnd = s.randomization.sort_values("randomization_date", kind="stable")
    sch = mon._scheme_for(rnd, s.protocol, None)
    a = mon._simulate_counts(rnd, s.protocol, sch, 50, gen)
    b = mon._simulate_counts(rnd, s.protocol, sch, 50, gen)
    assert a is not b and (a != b).any()  # the generator moved on: new draws
