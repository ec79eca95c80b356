"""Randomization speed: (a) the vectorized design simulator, (b) balance_table vs tableone.

(a) 10,000 simulated B1931036 trials of 100 patients, randomized 2:1 (the ratio read from the
    protocol) in permuted blocks of 3 or 6 stratified by age group × relapse timing, each patient's
    stratum drawn at random (the scheme does not use the site, so neither side draws it): ``trialkit.simulate_design`` against a straightforward per-trial
    Python loop of the same scheme, both in this run. The two mean |final imbalance| values are
    printed side by side (they estimate the same quantity). Goal (issue 4): ≥ 15× faster.

(b) ``trialkit.balance_table`` with SMDs on 100,000 subjects × 20 covariates (10 continuous,
    10 categorical with 2–5 levels, ~5 % missing) against ``tableone.TableOne(smd=True)`` on the
    same frame, in this run; every SMD, mean, SD and category count is asserted equal before the
    ratio is printed. Goal: ≥ 5× faster.

    python benchmarks/bench_randomization.py           # the sizes above
    python benchmarks/bench_randomization.py --quick   # 1,000 trials; 10,000 subjects
"""

from __future__ import annotations

import argparse
import random
import time
import warnings

import numpy as np
import pandas as pd


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


# ----------------------------------------------------------------------------------------------
# (a) simulation
# ----------------------------------------------------------------------------------------------

def loop_simulation(protocol, n_trials, n_patients, seed):
    """The same scheme, one trial and one patient at a time in plain Python (the baseline)."""
    rnd = random.Random(seed)
    factors = [list(f.levels) for f in protocol.stratification]
    arms = list(protocol.ratio)
    base = [a for a, r in protocol.ratio.items() for _ in range(r)]  # [ALLR3, InO, InO]
    sizes = list(protocol.block_sizes)
    exp = protocol.experimental_arm
    rho = float(protocol.allocation_proportions[exp])
    finals, maxes = [], []
    for _ in range(n_trials):
        open_blocks: dict[tuple, list] = {}
        n_exp, worst = 0, 0.0
        for j in range(1, n_patients + 1):
            stratum = tuple(rnd.choice(levels) for levels in factors)
            block = open_blocks.get(stratum)
            if not block:
                block = base * (rnd.choice(sizes) // len(base))
                rnd.shuffle(block)
                open_blocks[stratum] = block
            arm = block.pop()
            n_exp += arm == exp
            worst = max(worst, abs(n_exp - rho * j))
        finals.append(abs(n_exp - rho * n_patients))
        maxes.append(worst)
    assert set(arms) >= {exp}
    return np.mean(finals), np.mean(maxes)


def bench_simulation(n_trials, repeat):
    import trialkit as tk
    from trialkit.randomization.simulate import protocol_scheme

    p = tk.get_protocol("b1931036")
    scheme = protocol_scheme(p)
    weights = pd.Series(1.0, index=p.site_table()["site_id"])

    def vec():
        return tk.simulate_design(weights, protocol=p, schemes=[scheme], n_patients=100, n_trials=n_trials, seed=1)

    vec()  # warm-up (imports)
    # interleave the two so that load from other processes hits both alike; best time of each
    t_vec, t_loop = float("inf"), float("inf")
    for _ in range(repeat):
        for _ in range(3):
            t, sim = best_of(vec, 1)
            t_vec = min(t_vec, t)
        t, (loop_final, loop_max) = best_of(lambda: loop_simulation(p, n_trials, 100, 1), 1)
        t_loop = min(t_loop, t)
    s = sim.summary.iloc[0]
    print(f"(a) {n_trials:,} trials x 100 patients, {scheme.label}, ratio {p.ratio}")
    print(f"    simulate_design (vectorized): {t_vec:8.3f} s   mean|final| {s['mean_abs_final']:.3f}  "
          f"mean|max| {s['mean_abs_max']:.3f}")
    print(f"    per-trial Python loop       : {t_loop:8.3f} s   mean|final| {loop_final:.3f}  mean|max| {loop_max:.3f}")
    print(f"    speed-up: {t_loop / t_vec:.1f}x  (goal >= 15x)")
    # same scheme, same estimand: the two Monte Carlo means agree within a few standard errors
    se = sim.trials["abs_final"].std() / np.sqrt(n_trials)
    assert abs(s["mean_abs_final"] - loop_final) < 6 * se * np.sqrt(2) + 1e-9, (s["mean_abs_final"], loop_final)
    return t_loop / t_vec


# ----------------------------------------------------------------------------------------------
# (b) balance table
# ----------------------------------------------------------------------------------------------

def make_frame(n, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"arm": np.where(rng.random(n) < 2 / 3, "InO", "ALLR3")})
    for i in range(10):
        x = rng.normal(50 + i, 10 + i, n)
        x[rng.random(n) < 0.05] = np.nan
        df[f"cont{i}"] = x
    for i in range(10):
        k = 2 + i % 4
        levels = np.array([f"L{j}" for j in range(k)], dtype=object)
        c = levels[rng.integers(0, k, n)]
        c[rng.random(n) < 0.05] = None
        df[f"cat{i}"] = c
    return df


def bench_balance(n, repeat):
    import trialkit as tk

    df = make_frame(n)
    cont = [f"cont{i}" for i in range(10)]
    cat = [f"cat{i}" for i in range(10)]

    def ours():
        return tk.balance_table(df, by="arm", covariates=cont + cat, reference="ALLR3")

    def theirs():
        from tableone import TableOne

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return TableOne(df, columns=cont + cat, categorical=cat, groupby="arm", order={"arm": ["ALLR3", "InO"]},
                            smd=True, pval=False, include_null=False)

    ours(), theirs()  # warm-up
    t_ours, bt = best_of(ours, repeat)
    t_theirs, t1 = best_of(theirs, repeat)
    # --- cross-check every number ---
    ref = t1.smd_table.iloc[:, 0].astype(float)
    mine = bt.smd.set_index("variable")["smd"]
    for v in cont:  # tableone: (mean_InO - mean_ALLR3) / pooled SD, signed
        assert abs(mine[v] - ref[v]) < 1e-9, (v, mine[v], ref[v])
    for v in cat:  # multi-level form is unsigned; binary carries our sign
        assert abs(abs(mine[v]) - abs(ref[v])) < 1e-9, (v, mine[v], ref[v])
    st = bt.summary.set_index(["variable", "level", "group", "statistic"])["value"]
    cd = t1.cont_describe
    for v in cont:
        for g in ("ALLR3", "InO"):
            assert abs(st[(v, "", g, "mean")] - cd["mean"][g][v]) < 1e-9
            assert abs(st[(v, "", g, "sd")] - cd["std"][g][v]) < 1e-9
    cat_d = t1.cat_describe
    for v in cat:
        for g in ("ALLR3", "InO"):
            for lv, cnt in cat_d.loc[v]["freq"][g].items():
                assert st[(v, str(lv), g, "count")] == cnt, (v, lv, g)
    print(f"(b) balance table, {n:,} subjects x 20 covariates (10 continuous, 10 categorical), SMD on")
    print(f"    trialkit.balance_table : {t_ours:8.3f} s")
    print(f"    tableone.TableOne      : {t_theirs:8.3f} s   (all SMDs, means, SDs, counts cross-checked equal)")
    print(f"    speed-up: {t_theirs / t_ours:.1f}x  (goal >= 5x)")
    return t_theirs / t_ours


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 trials and 10,000 subjects")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n_trials, n_subjects = (1_000, 10_000) if args.quick else (10_000, 100_000)
    bench_simulation(n_trials, args.repeat)
    bench_balance(n_subjects, args.repeat)


if __name__ == "__main__":
    main()
