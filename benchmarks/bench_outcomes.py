"""Overhead of trialkit's survival wrappers over calling lifelines directly, in the same run.

The same 100,000 synthetic subjects (two arms, exponential event times, uniform administrative
censoring; a canonical long ``outcomes`` frame with the arm) are analysed by trialkit and by
lifelines, each timed as the best of several repeats. Two baselines are measured:

- ``frame``: what one writes with lifelines from the same frame: select the endpoint's rows and
  each arm's rows with pandas, then fit (the like-for-like comparison: both start from the data);
- ``arrays``: lifelines alone on numpy arrays extracted beforehand (the pure fitting time).

Analyses: ``km`` is ``tk.km`` (curves, medians with CIs, landmarks, numbers at risk) against
``KaplanMeierFitter`` per arm plus ``median_survival_times`` of its band; ``logrank`` is
``tk.logrank`` (trialkit's own engine) against ``lifelines.statistics.logrank_test``; ``cox`` is
``tk.cox`` against ``CoxPHFitter().fit`` of a design frame with the arm indicator.

The stratified log-rank has no lifelines counterpart; its time is printed beside statsmodels'
``survdiff(strata=...)`` for information. Goal: every ratio against the ``frame`` baseline <= 1.2.

Usage: ``python benchmarks/bench_outcomes.py [--n 100000] [--repeats 5] [--quick]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def make_data(n: int, seed: int = 20240517) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < 2 / 3, "InO", "ALLR3")
    hazard = np.where(arm == "InO", 0.7, 1.0) / 365.0
    t_event = np.ceil(rng.exponential(1 / hazard))
    t_cens = np.ceil(rng.uniform(30, 5 * 365.25, n))
    return pd.DataFrame({"subject_id": [f"S{i:06d}" for i in range(n)], "endpoint": "EFS",
                         "time_days": np.minimum(t_event, t_cens), "event": (t_event <= t_cens).astype(int),
                         "arm": arm, "stratum": rng.choice(["a", "b", "c", "d"], n)})


def timed(fn, repeats: int) -> float:
    """Best of ``repeats`` runs after a warm-up (the minimum is the least noisy on a shared machine)."""
    fn()  # warm-up (imports, caches)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main(argv=None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="20,000 subjects, 2 repeats")
    args = ap.parse_args(argv)
    n, repeats = (20_000, 2) if args.quick else (args.n, args.repeats)

    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test
    from lifelines.utils import median_survival_times
    from statsmodels.duration.survfunc import survdiff

    import trialkit as tk

    df = make_data(n)
    T, E, A = df["time_days"].to_numpy(), df["event"].to_numpy(), df["arm"].to_numpy()
    design = pd.DataFrame({"T": T, "E": E, "InO": (A == "InO").astype(float)})

    def lifelines_km():
        for a in ("ALLR3", "InO"):
            m = A == a
            kmf = KaplanMeierFitter().fit(T[m], E[m])
            median_survival_times(kmf.confidence_interval_)
            _ = kmf.median_survival_time_

    def lifelines_logrank():
        m = A == "InO"
        logrank_test(T[m], T[~m], E[m], E[~m])

    def lifelines_cox():
        CoxPHFitter().fit(design, "T", "E")

    def frame_km():
        d = df[df["endpoint"] == "EFS"]
        for _, g in d.groupby("arm"):
            kmf = KaplanMeierFitter().fit(g["time_days"], g["event"])
            median_survival_times(kmf.confidence_interval_)
            _ = kmf.median_survival_time_

    def frame_logrank():
        d = df[df["endpoint"] == "EFS"]
        a, b = d[d["arm"] == "InO"], d[d["arm"] == "ALLR3"]
        logrank_test(a["time_days"], b["time_days"], a["event"], b["event"])

    def frame_cox():
        d = df[df["endpoint"] == "EFS"]
        x = pd.DataFrame({"T": d["time_days"], "E": d["event"], "InO": (d["arm"] == "InO").astype(float)})
        CoxPHFitter().fit(x, "T", "E")

    pairs = {
        "km": (frame_km, lifelines_km, lambda: tk.km(df, endpoint="EFS")),
        "logrank": (frame_logrank, lifelines_logrank, lambda: tk.logrank(df, endpoint="EFS")),
        "cox": (frame_cox, lifelines_cox, lambda: tk.cox(df, endpoint="EFS", reference="ALLR3")),
    }
    print(f"trialkit outcomes vs lifelines on {n:,} subjects (best of {repeats} runs, seconds)")
    print(f"{'analysis':<10}{'lifelines':>11}{'lifelines':>11}{'trialkit':>10}{'ratio vs':>10}{'ratio vs':>10}")
    print(f"{'':<10}{'(frame)':>11}{'(arrays)':>11}{'':>10}{'frame':>10}{'arrays':>10}")
    ratios = {}
    for name, (base_frame, base_arrays, ours) in pairs.items():
        tf, ta, to = timed(base_frame, repeats), timed(base_arrays, repeats), timed(ours, repeats)
        ratios[name] = to / tf
        ratios[name + " (arrays)"] = to / ta
        print(f"{name:<10}{tf:>11.3f}{ta:>11.3f}{to:>10.3f}{to / tf:>9.2f}x{to / ta:>9.2f}x")
    ts = timed(lambda: tk.logrank(df, endpoint="EFS", strata="stratum"), repeats)
    sm = timed(lambda: survdiff(T, E, A, strata=df["stratum"].to_numpy()), repeats)
    print(f"stratified log-rank (no lifelines counterpart): trialkit {ts:.3f} s, statsmodels survdiff {sm:.3f} s")
    worst = max((k for k in ratios if "arrays" not in k), key=ratios.get)
    print(f"worst ratio against the frame baseline: {worst} {ratios[worst]:.2f}x (goal <= 1.2x)")
    return ratios


if __name__ == "__main__":
    main()
