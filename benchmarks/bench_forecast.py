"""Forecast speed: the vectorized accrual simulation against a per-path Python loop, in this run.

(a) 10,000 simulated paths for 1,000 sites (800 open with their own counts and exposures, 200 still
    to open over the next year), target 600 more patients. Both sides draw, per path, the model's
    two parameters from the same posterior grid, every open site's rate from its posterior, every
    future site's rate from the prior, and solve for the day the target is reached:
    ``trialkit.forecast._simulate`` (all paths as array operations) against a straightforward
    per-path loop in plain Python (``random.gammavariate`` per site, the openings walked in order).
    The loop's time per path does not depend on the number of paths, so by default it runs 1,000
    paths and its time is scaled to 10,000 (``--full`` runs all 10,000). The two medians and 90 %
    intervals of the target day are printed side by side (they estimate the same quantities).
    Goal (issue 15): >= 20x faster.

(b) The 72-site B1931036 demo: ``tk.forecast_accrual`` (10,000 paths, with the per-country counts)
    and ``tk.forecast_events`` (5,000 paths), end to end.

    python benchmarks/bench_forecast.py            # as above
    python benchmarks/bench_forecast.py --quick    # 2,000 paths, loop on 200
    python benchmarks/bench_forecast.py --full     # the loop on all 10,000 paths
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_sites(n_open=800, n_future=200, seed=7):
    rng = np.random.default_rng(seed)
    tau = rng.uniform(30, 720, n_open)  # days open
    lam = rng.gamma(1.3, 0.25 / 1.3 / 30.4375, n_open)  # mean 0.25 patients per site-month
    n = rng.poisson(lam * tau).astype(float)
    offsets = np.sort(rng.uniform(1, 365, n_future))
    return n, tau, offsets


def vectorized(n, tau, offsets, grid, n_sims, remaining, seed):
    from trialkit.forecast._simulate import draw_rates, time_to_intensity

    rng = np.random.default_rng(seed)
    paths = draw_rates(n=n, tau=tau, group=np.zeros(len(n), dtype=int), n_groups=1, fut_offset=offsets,
                       fut_group=np.zeros(len(offsets), dtype=int), n_sims=n_sims, rng=rng, grid=grid)
    g = rng.standard_gamma(float(remaining), size=n_sims)
    return time_to_intensity(g, paths.open_rate, paths.fut_rate, paths.fut_offset)


def loop(n, tau, offsets, grid, n_paths, remaining, seed):
    """One path at a time, one site at a time, in plain Python."""
    rnd = random.Random(seed)
    cells = list(range(grid.prob.size))
    weights = grid.prob.ravel().tolist()
    n_m = grid.prob.shape[1]
    n_list, tau_list, off = n.tolist(), tau.tolist(), offsets.tolist()
    out = []
    for _ in range(n_paths):
        cell = rnd.choices(cells, weights)[0]
        i, j = divmod(cell, n_m)
        log_a = grid.log_a[i] + (rnd.random() - 0.5) * grid.width_a
        log_m = grid.log_m[i, j] + (rnd.random() - 0.5) * grid.width_m[i]
        alpha, m = float(np.exp(log_a)), float(np.exp(log_m))
        beta = alpha / m
        slope = 0.0
        for k, t in zip(n_list, tau_list):
            slope += rnd.gammavariate(alpha + k, 1.0) / (beta + t)
        future = [rnd.gammavariate(alpha, 1.0) / beta for _ in off]
        g = rnd.gammavariate(remaining, 1.0)
        # walk the openings: Lambda(t) = slope * t - icpt on each stretch
        icpt, t_hit = 0.0, None
        for s, lam in zip(off, future):
            if slope > 0 and (g + icpt) / slope <= s:
                t_hit = (g + icpt) / slope
                break
            slope += lam
            icpt += lam * s
        out.append(t_hit if t_hit is not None else (g + icpt) / slope)
    return np.array(out)


def bench_simulation(n_sims, n_loop, repeat):
    from trialkit.forecast import _poisson_gamma as pg

    n, tau, offsets = make_sites()
    pg.fit_mle(n[:50], tau[:50])  # warm-up (scipy imports)
    t0 = time.perf_counter()
    fit, grid = pg.fit_mle(n, tau), pg.posterior_grid(n, tau)
    t_fit = time.perf_counter() - t0
    remaining = 600
    vectorized(n, tau, offsets, grid, 200, remaining, 0)  # warm-up
    t_vec = float("inf")
    for r in range(repeat):
        t = time.perf_counter()
        tv = vectorized(n, tau, offsets, grid, n_sims, remaining, r)
        t_vec = min(t_vec, time.perf_counter() - t)
    t = time.perf_counter()
    tl = loop(n, tau, offsets, grid, n_loop, remaining, 1)
    t_loop = (time.perf_counter() - t) * n_sims / n_loop
    scaled = "" if n_loop == n_sims else f" (ran {n_loop:,} paths, scaled x{n_sims / n_loop:g})"
    print(f"(a) {n_sims:,} paths x {len(n) + len(offsets):,} sites ({len(n)} open, {len(offsets)} to open), "
          f"target {remaining} more; model fit {t_fit * 1000:.0f} ms (alpha {fit.alpha:.2f}, "
          f"mean rate {fit.m * pg.MONTH:.3f}/site-month)")
    print(f"    vectorized : {t_vec:8.3f} s   target day median {np.median(tv):7.1f}  90% "
          f"{np.quantile(tv, 0.05):.1f}-{np.quantile(tv, 0.95):.1f}")
    print(f"    Python loop: {t_loop:8.3f} s{scaled}   target day median {np.median(tl):7.1f}  90% "
          f"{np.quantile(tl, 0.05):.1f}-{np.quantile(tl, 0.95):.1f}")
    print(f"    speed-up: {t_loop / t_vec:.1f}x  (goal >= 20x)")
    # same model, same estimand: the medians agree within Monte Carlo error
    se = 1.2533 * np.std(tv) * np.sqrt(1 / len(tv) + 1 / len(tl))
    assert abs(np.median(tv) - np.median(tl)) < 5 * se + 1e-9, (np.median(tv), np.median(tl))
    return t_loop / t_vec


def bench_demo():
    import trialkit as tk

    study = tk.load_study(ROOT / "data" / "demo" / "b1931036")
    tk.forecast_accrual(study, n_sims=500)  # warm-up (imports)
    t = time.perf_counter()
    fc = tk.forecast_accrual(study, n_sims=10_000, by="country")
    t_acc = time.perf_counter() - t
    t = time.perf_counter()
    tk.forecast_events(study, target_events=72, n_sims=5000)
    t_ev = time.perf_counter() - t
    s = fc.summary.iloc[0]
    print(f"(b) B1931036 demo, 72 sites, {int(s['randomized'])} randomized, target {int(s['target'])}: "
          f"forecast_accrual (10,000 paths, by country) {t_acc:.2f} s; forecast_events (5,000 paths) {t_ev:.2f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    n_sims = 2000 if args.quick else 10_000
    n_loop = n_sims if args.full else max(n_sims // 10, 200)
    bench_simulation(n_sims, n_loop, repeat=3)
    bench_demo()


if __name__ == "__main__":
    main()
