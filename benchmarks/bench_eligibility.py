"""Eligibility benchmark: all B1931036 criteria + the funnel on 1,000,000 screened patients, as a ratio to a
bare numpy evaluation of the same comparisons without missing-value logic (goal <= 5x), and the compute
time of one explorer update (a filter change and a threshold change) on 100,000 screened (goal <= 100 ms).

Data: ``trialkit.synthesize(..., screening_only=True)`` (canonical nullable dtypes, realistic missing
values). The numpy baseline gets its inputs already converted to plain numpy arrays (NaN / False / ""
for missing) *outside* its timed region; trialkit is timed from the pandas frame, conversion included.
Both are measured in the same run; the best of ``--repeat`` runs is reported.

    python benchmarks/bench_eligibility.py            # 1,000,000 and 100,000 rows
    python benchmarks/bench_eligibility.py --quick    # 200,000 and 20,000 rows
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import trialkit as tk
from trialkit.eligibility.derive import DAYS_PER_MONTH


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def numpy_inputs(df: pd.DataFrame) -> dict:
    """Plain numpy arrays (no masks): floats with NaN, booleans with NA as False, strings with "", dates."""
    out = {}
    for c in df.columns:
        s = df[c]
        if s.dtype.kind == "M":
            out[c] = s.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
        elif pd.api.types.is_bool_dtype(s.dtype):
            out[c] = s.to_numpy(dtype=bool, na_value=False)
        elif pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = s.to_numpy(dtype=float, na_value=np.nan)
        else:
            out[c] = s.to_numpy(dtype=object, na_value="")
    return out


def bare_numpy(a: dict) -> tuple[np.ndarray, list[int]]:
    """The B1931036 rules as plain numpy comparisons (the criteria file's defaults), plus a funnel."""
    def months(start, end):
        return (a[end] - a[start]).astype("timedelta64[D]").astype(float) / DAYS_PER_MONTH

    with np.errstate(invalid="ignore", divide="ignore"):
        age = a["age_years"]
        m_dx = months("diagnosis_date", "relapse_date")
        m_end = months("primary_therapy_end_date", "relapse_date")
        renal = np.where(np.isnan(a["egfr_ml_min"]), 0.413 * a["height_cm"] / a["creatinine_mg_dl"], a["egfr_ml_min"])
        site = a["relapse_site"]
        crit = [
            (age >= 1) & (age < 18),
            (a["relapse_number"] == 1) & a["relapse_morphology_confirmed"] & (a["diagnosis"] == "B-ALL"),
            ((m_dx >= 18) & (m_dx <= 30)) | ((m_end >= 0) & (m_end <= 6)),
            ~a["kmt2a_aff1"] & ~a["tcf3_hlf"] & ~a["tcf3_pbx1"] & (a["modal_chromosomes"] >= 40)
            & ~a["masked_low_hypodiploidy"] & ~a["tp53_alteration"],
            a["cd22_positive"] & ((0 <= 0) | (a["cd22_pct"] >= 0)),
            a["marrow_blasts_pct"] >= 5,
            renal >= 30,
            (a["ast_u_l"] / a["ast_uln_u_l"] <= 5) & (a["alt_u_l"] / a["alt_uln_u_l"] <= 5),
            (a["bilirubin_mg_dl"] / a["bilirubin_uln_mg_dl"] <= 1.5) | a["gilbert_syndrome"],
            ~a["prior_thrombosis"] | a["anticoagulant_prophylaxis"],
            (a["shortening_fraction_pct"] >= 30) | (a["ejection_fraction_pct"] > 50),
            (site != "bone marrow + testis") | np.isin(a["orchiectomy"], ["done", "planned"]),
            ~(a["hepatic_sos_history"] | a["liver_failure_history"]),
            ~(a["prior_allo_hsct"] | a["prior_car_t"]),
            ~(site == "isolated extramedullary"),
            ~a["ph_positive"],
            ~a["prior_calicheamicin"],
            ~a["active_uncontrolled_infection"],
            ~(a["peg_asp_hypersensitivity"] & a["erwinia_asp_hypersensitivity"]),
        ]
    alive = np.ones(len(age), dtype=bool)
    funnel = []
    for c in crit:
        alive &= c
        funnel.append(int(alive.sum()))
    return alive, funnel


def bench_full(n: int, repeat: int, seed: int) -> None:
    t0 = time.perf_counter()
    study = tk.synthesize("b1931036", n_screened=n, seed=seed, screening_only=True)
    df = study.screening
    print(f"generated {n:,} screened patients in {time.perf_counter() - t0:.1f} s "
          f"({df.shape[1]} columns, canonical nullable dtypes)")
    protocol = tk.get_protocol("b1931036")
    arrays = numpy_inputs(df)
    t_np, (alive, _) = _best(lambda: bare_numpy(arrays), repeat)

    def run():
        res = tk.evaluate_eligibility(df, protocol=protocol)
        return res, tk.funnel(res)

    t_tk, (res, fun) = _best(run, repeat)
    text = [c for c in df.columns if pd.api.types.is_string_dtype(df[c].dtype) and df[c].dtype != object]
    df_arrow = df.astype({c: "string[pyarrow]" for c in text})
    t_arrow, _ = _best(lambda: tk.funnel(tk.evaluate_eligibility(df_arrow, protocol=protocol)), repeat)
    prep = tk.eligibility.prepare_screening(df)
    tk.evaluate_eligibility(prep, protocol=protocol)  # warm the column cache
    t_prep, _ = _best(lambda: tk.funnel(tk.evaluate_eligibility(
        prep, protocol=protocol, thresholds={"blasts_min_pct": 5.0 + 1e-9})), repeat)
    k = res.counts()
    print(f"  trialkit: {k['eligible']:,} eligible, {k['not eligible']:,} excluded, {k['undetermined']:,} "
          f"undetermined; bare numpy (missing = not met): {int(alive.sum()):,} eligible")
    print(f"  bare numpy comparisons + funnel        {t_np * 1e3:9.1f} ms")
    print(f"  trialkit evaluate + funnel (3-valued)  {t_tk * 1e3:9.1f} ms   ratio {t_tk / t_np:5.2f}x (goal <= 5x)")
    print(f"  ... text columns as Arrow strings      {t_arrow * 1e3:9.1f} ms   ratio {t_arrow / t_np:5.2f}x "
          "(model stores text as python strings)")
    print(f"  ... on prepared inputs, 1 criterion re-evaluated  {t_prep * 1e3:9.1f} ms   ratio "
          f"{t_prep / t_np:5.2f}x")
    fun.check()


def bench_explorer(n: int, repeat: int, seed: int) -> None:
    from trialkit.widgets.eligibility import compute_view, filter_mask

    study = tk.synthesize("b1931036", n_screened=n, seed=seed)
    prep = tk.eligibility.prepare_screening(study)
    compute_view(study, prep)  # first view: converts the inputs once (not an update)
    country = study.sites["country"].value_counts().index[0]
    mask = filter_mask(study, country=country)
    thresholds = iter(np.linspace(5.5, 60, 10_000))

    t_filter, v1 = _best(lambda: compute_view(study, prep, mask=filter_mask(study, country=country)), repeat)
    t_thr, v2 = _best(lambda: compute_view(study, prep, mask=mask,
                                           thresholds={"blasts_min_pct": float(next(thresholds))}), repeat)
    t_all, v3 = _best(lambda: compute_view(study, prep, thresholds={"blasts_min_pct": float(next(thresholds))}),
                      repeat)
    t_off, _ = _best(lambda: compute_view(study, prep, disabled=["B_IN02_HR_TIMING"]), repeat)
    t_excl, _ = _best(lambda: compute_view(study, prep, thresholds={"blasts_min_pct": 7.5}).exclusions, repeat)
    print(f"explorer update on {n:,} screened ({len(study.randomization):,} randomized; funnel, CONSORT, "
          "eligible count and its change vs the protocol as written):")
    print(f"  filter change (country = {country}, {v1.screened:,} rows)   {t_filter * 1e3:7.1f} ms  (goal <= 100 ms)")
    print(f"  threshold change (blasts %), that country     {t_thr * 1e3:7.1f} ms  (goal <= 100 ms)")
    print(f"  threshold change (blasts %), all {v3.screened:,}    {t_all * 1e3:7.1f} ms  (goal <= 100 ms)")
    print(f"  criterion switched off, all rows            {t_off * 1e3:7.1f} ms  (goal <= 100 ms)")
    print(f"  ... plus the exclusion list (built when its tab opens) {t_excl * 1e3:7.1f} ms")
    from trialkit.plots.eligibility import plot_consort, plot_funnel

    t_fig, _ = _best(lambda: (plot_funnel(v2.funnel), plot_consort(v2.consort)), repeat)
    print(f"  building the two figures (not compute)     {t_fig * 1e3:7.1f} ms")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200,000 and 20,000 rows")
    ap.add_argument("--n", type=int, default=None, help="screened patients for the evaluation benchmark")
    ap.add_argument("--n-explorer", type=int, default=None, help="screened patients for the explorer update")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20260601)
    args = ap.parse_args(argv)
    n = args.n or (200_000 if args.quick else 1_000_000)
    n_ex = args.n_explorer or (20_000 if args.quick else 100_000)
    bench_full(n, args.repeat, args.seed)
    bench_explorer(n_ex, args.repeat, args.seed)


if __name__ == "__main__":
    main()
