"""Tests of the vectorized design simulator and ratio-preserving minimization."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.randomization import minimize
from trialkit.randomization.simulate import Scheme, SimulationError, protocol_scheme


@pytest.fixture(scope="module")
def p():
    return tk.get_protocol("b1931036")


@pytest.fixture(scope="module")
def sites(p):
    return pd.Series(1.0, index=p.site_table()["site_id"])


def test_complete_randomization_matches_binomial_mean_abs_deviation(p, sites):
    sim = tk.simulate_design(sites, protocol=p, n_patients=30, n_trials=20000, schemes="complete", seed=5)
    # E|X - 20| for X ~ Binomial(30, 2/3), summed by hand over the pmf
    exact = sum(comb(30, k) * (2 / 3) ** k * (1 / 3) ** (30 - k) * abs(k - 20) for k in range(31))
    assert exact == pytest.approx(2.0402, abs=1e-4)
    got = sim.summary["mean_abs_final"].iloc[0]
    assert got == pytest.approx(exact, abs=0.06)  # MC SE ~ 1.5/sqrt(20000) = 0.011
    assert sim.summary["share_strata_incomplete"].iloc[0] == 0.0


def test_blocks_of_three_close_exactly_and_100_patients_always_leave_an_open_block(p, sites):
    s99 = tk.simulate_design(sites, protocol=p, n_patients=99, n_trials=500,
                             schemes=Scheme("blocks", block_sizes=(3,)), seed=1)
    assert (s99.trials["abs_final"] < 1e-9).all() and s99.summary["share_strata_incomplete"].iloc[0] == 0
    # with blocks of 3 the running imbalance N_InO(j) - 2j/3 never exceeds 2/3
    assert s99.trials["abs_max"].max() == pytest.approx(2 / 3)
    s100 = tk.simulate_design(sites, protocol=p, n_patients=100, n_trials=500, schemes="blocks", seed=1)
    assert s100.summary["share_strata_incomplete"].iloc[0] == 1.0  # 100 = 3·33 + 1


def test_stratifying_100_patients_by_72_sites_barely_helps(p, sites):
    sim = tk.simulate_design(sites, protocol=p, n_patients=100, n_trials=4000, seed=7,
                             schemes=["complete", "blocks", "blocks by site_id"])
    s = sim.summary.set_index("scheme")["mean_abs_final"]
    assert s["permuted blocks"] < 1 < s["permuted blocks by site_id"] < s["complete randomization"]
    # most site strata end inside an incomplete block
    assert sim.summary.set_index("scheme").loc["permuted blocks by site_id", "share_strata_incomplete"] > 0.85
    st = sim.strata[sim.strata["scheme"] == "permuted blocks by site_id"]
    assert len(st) == 72 and st["mean_n"].sum() == pytest.approx(100)
    band = sim.band[sim.band["scheme"] == "complete randomization"]
    assert band["j"].tolist() == list(range(1, 101)) and (band["lower"] <= band["upper"]).all()


def test_fixed_accrual_frame_and_protocol_scheme(p):
    frame = pd.DataFrame({"age_group": ["1 to <10 years"] * 30 + ["10 to <18 years"] * 30,
                          "relapse_timing": ["18-30 months from diagnosis"] * 60})
    sch = protocol_scheme(p)
    assert sch.algorithm == "blocks" and sch.strata == ("age_group", "relapse_timing")
    assert sch.block_sizes == (3, 6)
    sim = tk.simulate_design(frame, protocol=p, n_trials=1000, seed=3)
    # two strata of 30 = multiples of 3 but a 6-block may be open at 30: |D| per stratum <= 1
    st = sim.strata
    assert st["mean_n"].tolist() == [30.0, 30.0]
    assert (st["p95_abs_imbalance"] <= 1 + 1e-9).all()
    # within a stratum every block starts at deviation 0, and inside a 6-block |N_InO - 2n/3| peaks
    # at 4/3 (4 InO first: 4 - 8/3; or 2 ALLR3 first: 0 - 4/3)
    assert (st["p95_abs_max"] <= 4 / 3 + 1e-9).all() and (st["mean_abs_max"] >= st["mean_abs_imbalance"]).all()
    one = tk.simulate_design(frame.iloc[:3], protocol=p, n_trials=200, seed=3,
                             schemes=Scheme("blocks", strata=("age_group",), block_sizes=(3,)))
    # one block of 3: orders IIA and AII peak at 2/3, IAI at 1/3 -> 95th percentile 2/3
    assert one.strata["p95_abs_max"].iloc[0] == pytest.approx(2 / 3)


@pytest.mark.slow
def test_minimization_keeps_the_two_to_one_ratio(p, sites):
    sim = tk.simulate_design(sites, protocol=p, n_patients=60, n_trials=4000, seed=11,
                             schemes=["minimization by site_id+age_group+relapse_timing"])
    t = sim.trials
    # ratio preserved at every allocation -> E[N_InO - 2n/3] = 0; SE of the mean ~ 1.5/sqrt(4000)
    assert abs(t["final_imbalance"].mean()) < 0.1
    # and balance on the margins is tight: final overall imbalance rarely reaches 3
    assert sim.summary["share_final_ge_3"].iloc[0] < 0.05
    pts = pd.DataFrame({"age_group": ["1 to <10 years", "10 to <18 years"] * 150})
    out = minimize(pts, protocol=p, strata=["age_group"], seed=0)
    assert out["arm"].value_counts().to_dict() == {"InO": 200, "ALLR3": 100}
    by = out.groupby("age_group")["arm"].value_counts().unstack()
    assert (abs(by["InO"] - 2 * by["ALLR3"]) <= 3).all()
    assert "arm" not in pts  # input untouched


def test_scheme_parsing():
    s = Scheme.parse("blocks by site_id+age_group")
    assert s.algorithm == "blocks" and s.strata == ("site_id", "age_group")
    assert s.label == "permuted blocks by site_id × age_group"
    assert Scheme.parse("complete").label == "complete randomization"


@pytest.mark.parametrize("kwargs, match", [
    ({"schemes": "urn"}, "unknown scheme"),
    ({"schemes": "blocks by shoe_size"}, "shoe_size"),
    ({"n_trials": 0}, "positive integer"),
    ({"n_patients": None}, "give n_patients"),
    ({"schemes": "minimization"}, "needs at least one factor"),
    ({"schemes": Scheme("blocks", block_sizes=(4,))}, "multiple of the minimal block"),
])
def test_simulate_rejects_bad_arguments(p, kwargs, match):
    args = {"protocol": p, "n_patients": 10, "n_trials": 10, **kwargs}
    w = pd.Series({"AT01": 1.0, "BE01": 1.0})
    if args.get("n_patients") is None:
        w = w.to_dict()
        args["protocol"] = p.__class__(**{**p.__dict__, "planned_enrollment": None})
    with pytest.raises(SimulationError, match=match):
        tk.simulate_design(w, **args)


def test_simulate_rejects_bad_accrual(p):
    with pytest.raises(SimulationError, match="non-negative"):
        tk.simulate_design(pd.Series({"AT01": -1.0}), protocol=p, n_patients=5, n_trials=5)
    with pytest.raises(SimulationError, match="accrual must be"):
        tk.simulate_design([1, 2], protocol=p, n_patients=5, n_trials=5)
    with pytest.raises(SimulationError, match="no rows"):
        tk.simulate_design(pd.DataFrame({"site_id": []}), protocol=p, n_trials=5)
    with pytest.raises(SimulationError, match="give protocol"):
        tk.simulate_design(pd.DataFrame({"site_id": ["AT01"]}), n_trials=5)
    with pytest.raises(SimulationError, match="p_best"):
        Scheme("minimization", strata=("a",), p_best=0)
    with pytest.raises(SimulationError, match="at least one factor"):
        minimize(pd.DataFrame({"a": [1]}), protocol=p, strata=[])
    frame = pd.DataFrame({"site_id": ["AT01", "BE01"]})
    with pytest.raises(SimulationError, match="omit n_patients"):
        tk.simulate_design(frame, protocol=p, n_patients=5, n_trials=5)
    assert np.isfinite(tk.simulate_design(frame, protocol=p, n_trials=5, schemes="blocks by site_id")
                       .summary["mean_abs_final"].iloc[0])


def test_column_quantiles_equal_numpy():
    from trialkit.randomization.simulate import column_quantiles

    rng = np.random.default_rng(0)
    for shape in [(1000, 40), (7, 5), (1, 3)]:
        c = np.cumsum(rng.integers(0, 2, shape), axis=1)
        np.testing.assert_array_equal(column_quantiles(c, [0.025, 0.5, 0.975]),
                                      np.quantile(c, [0.025, 0.5, 0.975], axis=0))


def _sequence_counts(arms: np.ndarray) -> dict:
    keys, n = np.unique(np.ascontiguousarray(arms), axis=0, return_counts=True)
    return {k.tobytes(): int(c) for k, c in zip(keys, n)}


@pytest.mark.parametrize("protocol_id, sizes, codes", [
    ("b1931036", (3, 6), [0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0]),  # 2:1, two strata, both end inside a block
    ("aall1732", (2, 4, 6), [2, 0, 1, 0, 0, 1, 2, 2, 0, 0, 1, 0]),  # 1:1, three sizes, a stratum may close
])
def test_block_by_block_engine_has_the_urns_distribution(protocol_id, sizes, codes):
    """The same patients re-randomized (one row of strata for every trial) take the block-by-block
    engine; strata that differ between trials take the patient-by-patient urn. Both must give every
    sequence of arms and every open-block pattern with the same probability: a chi-square test of
    homogeneity over the sequences (df = distinct sequences - 1) at the 0.001 level."""
    from scipy.stats import chi2

    from trialkit.randomization.simulate import _block_sizes, _blocks_by_patient, simulate_arms

    proto = tk.get_protocol(protocol_id)
    scheme = Scheme("blocks", block_sizes=sizes)
    T, n_strata = 40_000, max(codes) + 1
    S = np.broadcast_to(np.asarray(codes), (T, len(codes)))
    fast, fast_open = simulate_arms(proto, scheme, S, n_strata=n_strata, rng=np.random.default_rng(1))
    shares = np.asarray(list(proto.ratio.values()))
    urn, urn_open = _blocks_by_patient(np.ascontiguousarray(S), n_strata, shares // np.gcd.reduce(shares),
                                       _block_sizes(proto, scheme), np.random.default_rng(2))
    assert fast.shape == urn.shape == (T, len(codes)) and fast_open.shape == urn_open.shape == (T, n_strata)
    a, b = _sequence_counts(np.hstack([fast, fast_open])), _sequence_counts(np.hstack([urn, urn_open]))
    keys = set(a) | set(b)
    stat = sum((a.get(k, 0) - b.get(k, 0)) ** 2 / (a.get(k, 0) + b.get(k, 0)) for k in keys)
    assert stat < chi2.ppf(0.999, len(keys) - 1)


def test_block_by_block_engine_closes_every_block():
    """2:1 blocks of 3 and 6: a stratum of 6 patients is a closed 6, two closed 3s, or a 3 and an open
    6 (probability 1/2 x 1/2); when closed it holds exactly 4 InO. One of 7 is always open, one with
    no patient never is."""
    from trialkit.randomization.simulate import simulate_arms

    proto = tk.get_protocol("b1931036")
    codes = np.array([0] * 6 + [1] * 7)
    arms, open_block = simulate_arms(proto, Scheme("blocks", block_sizes=(3, 6)),
                                     np.broadcast_to(codes, (4000, 13)), n_strata=3, rng=np.random.default_rng(0))
    ino = (arms[:, :6] == list(proto.ratio).index("InO")).sum(axis=1)
    closed = ~open_block[:, 0]
    assert (ino[closed] == 4).all() and (ino[~closed] != 4).any()
    assert open_block[:, 0].mean() == pytest.approx(0.25, abs=0.03)  # SE 0.007
    assert open_block[:, 1].all() and not open_block[:, 2].any()


def test_complete_randomization_is_the_inverse_cdf_of_one_stream_of_uniforms():
    from trialkit.randomization.simulate import simulate_arms

    proto = tk.get_protocol("b1931036")
    arms, _ = simulate_arms(proto, Scheme("complete"), np.zeros((300, 50), dtype=np.int32), n_strata=1,
                            rng=np.random.default_rng(3))
    shares = np.asarray(list(proto.ratio.values()), dtype=float)
    u = np.random.default_rng(3).random((300, 50))
    np.testing.assert_array_equal(arms, np.minimum(np.searchsorted(np.cumsum(shares / shares.sum()), u, "right"), 1))


def test_running_count_quantiles_equal_numpy_on_the_running_counts():
    from trialkit.randomization.simulate import row_quantiles, running_count_quantiles

    rng = np.random.default_rng(1)
    qs = [0.025, 0.5, 0.975]
    for T, N in [(1000, 300), (9, 4), (1, 5)]:
        arms = rng.integers(0, 3, (T, N)).astype(np.int8)
        expected = np.quantile(np.cumsum(arms == 2, axis=1), qs, axis=0)
        np.testing.assert_array_equal(running_count_quantiles(arms, 2, qs), expected)
        # patient-major in memory, as the engines store it: the same numbers
        np.testing.assert_array_equal(running_count_quantiles(np.ascontiguousarray(arms.T).T, 2, qs), expected)
    values = rng.integers(-50, 50, (6, 200)) + 10_000 * np.arange(6)[:, None]  # far from 0, negative too
    np.testing.assert_array_equal(row_quantiles(values, qs), np.quantile(values, qs, axis=1))
