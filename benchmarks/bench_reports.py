"""Per-site reports: trialkit's batch vs a naive papermill-CLI + nbconvert loop, same sites, same run.

The naive loop is what a team writes first: for every site, ``papermill`` (new kernel, imports of
pandas/plotly/lifelines every time) then ``jupyter nbconvert --to html --no-input`` (another
process). trialkit's batch (:func:`trialkit.render_site_reports`) computes study-wide results once,
keeps one warm kernel per worker (IPC transport, heavy libraries imported once, namespace reset per
site) and converts to HTML in-process.

Both render the same template for the same sites. The naive loop is given its per-site data folders
ready-made (its preparation is not timed); the batch's time includes everything (loading and
validating the study, aggregates, splitting, rendering, writing pages, index and manifest).

Usage::

    .venv/bin/python benchmarks/bench_reports.py                 # every site of the demo study
    .venv/bin/python benchmarks/bench_reports.py --sites 8       # the first 8 sites
    .venv/bin/python benchmarks/bench_reports.py --quick         # 4 sites
    .venv/bin/python benchmarks/bench_reports.py --scale         # 1,000 sites, 20,000 screened (see below)
    .venv/bin/python benchmarks/bench_reports.py --study-only    # the study report alone, 72 and 1,000 sites

Prints seconds per site both ways, the ratio (goal >= 20x), and the page sizes.

``--scale`` (issue 10: cooperative groups run trials at hundreds of sites) generates two synthetic
AALL1732 studies with the same density of patients per site — 72 sites with 1,440 screened (the
baseline) and 1,000 sites with 20,000 screened — renders every site of both in the same run, prints
the per-site cost of each and their ratio (goal: at most 1.5), the peak memory of this process and
of its kernels, and renders the study report (and the dsmb report) of the large study, timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def naive_loop(study, sites, work: Path) -> float:
    """papermill CLI + nbconvert CLI per site; returns seconds (data preparation not timed)."""
    from trialkit.reports.data import site_subset, study_aggregates
    from trialkit.reports.execute import _write_task_folder
    from trialkit.reports.plan import DEFAULT_TEMPLATE, ReportTask

    agg = study_aggregates(study)
    cut = study.data_cut_date.date().isoformat() if study.data_cut_date is not None else None
    folders = {}
    for sid in sites:
        d = work / "data" / sid
        d.mkdir(parents=True)
        sub = site_subset(study, sid)
        _write_task_folder(ReportTask(page=sid, audience="site", tables=sub.tables(), protocol=study.protocol.id,
                                      data_cut_date=cut, aggregates=agg, parameters={}, template=""), d)
        folders[sid] = d
    bindir = Path(sys.executable).parent
    out = work / "naive"
    out.mkdir()
    t0 = time.perf_counter()
    for sid in sites:
        nb = out / f"{sid}.ipynb"
        cmd = [str(bindir / "papermill"), str(DEFAULT_TEMPLATE), str(nb), "-k", "python3", "--log-level", "ERROR",
               "-p", "site_id", sid, "-p", "study_path", str(folders[sid]), "-p", "protocol", study.protocol.id]
        if cut:
            cmd += ["-p", "data_cut_date", cut]
        subprocess.run(cmd, check=True, capture_output=True)
        subprocess.run([str(bindir / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(nb)], check=True,
                       capture_output=True)
    return time.perf_counter() - t0


def _peak_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of its largest finished child (the kernels)."""
    import resource

    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss: KB on Linux, bytes on macOS
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale)


def _site_batch(folder: Path, out: Path, jobs: int) -> tuple[float, int]:
    import trialkit as tk

    t0 = time.perf_counter()
    run = tk.render_reports(folder, audience="site", out=out, jobs=jobs, force=True, progress=False)
    seconds = time.perf_counter() - t0
    if not run.ok:
        raise SystemExit(f"site batch failures in {folder}: {run.failed[:10]}")
    return seconds, len(run.results)


def scale(jobs: int, work: Path, *, small=(72, 1440), large=(1000, 20000), seed: int = 1) -> int:
    """Per-site cost of the site batch at 72 and 1,000 sites (same patients per site), same run."""
    import trialkit as tk

    folders = {}
    for n_sites, n_screened in (small, large):
        t0 = time.perf_counter()
        study = tk.synthesize("aall1732", n_screened=n_screened, n_sites=n_sites, seed=seed)
        folders[n_sites] = work / f"aall1732-{n_sites}"
        tk.write_study(study, folders[n_sites], format="parquet")
        print(f"synthetic AALL1732: {n_sites} sites, {n_screened} screened, {len(study.randomization)} randomized "
              f"(generated and written in {time.perf_counter() - t0:.0f} s)")
    per_site = {}
    for n_sites, folder in folders.items():
        seconds, n = _site_batch(folder, work / f"site-{n_sites}", jobs)
        per_site[n_sites] = seconds / n
        self_mb, kernel_mb = _peak_mb()
        print(f"site batch, {n} sites (jobs={jobs}): {seconds:.1f} s total, {per_site[n_sites]:.3f} s/site "
              f"(load, validation, aggregates, planning, rendering, writing); peak memory so far: this process "
              f"{self_mb:.0f} MB, largest kernel {kernel_mb:.0f} MB")
    ratio = per_site[large[0]] / per_site[small[0]]
    print(f"RATIO per-site cost {large[0]} sites / {small[0]} sites: {ratio:.2f} (goal <= 1.5)")
    for audience in ("study", "dsmb"):
        t0 = time.perf_counter()
        run = tk.render_reports(folders[large[0]], audience=audience, out=work / audience, jobs=1, force=True,
                                progress=False)
        size = run.results[0].path.stat().st_size if run.ok else 0
        print(f"{audience} report of the {large[0]}-site study: {time.perf_counter() - t0:.1f} s "
              f"(page render {run.results[0].duration_s:.1f} s, {size / 1e6:.1f} MB), ok={run.ok}")
    self_mb, kernel_mb = _peak_mb()
    print(f"peak memory: this process {self_mb:.0f} MB, largest kernel {kernel_mb:.0f} MB")
    return 0 if ratio <= 1.5 else 1


def study_only(work: Path, *, small=(72, 1440), large=(1000, 20000), seed: int = 1) -> int:
    """The study report alone (issue 10: it must render in seconds at 1,000 sites), against the same
    report of the 72-site study in the same run."""
    import trialkit as tk

    seconds = {}
    for n_sites, n_screened in (small, large):
        study = tk.synthesize("aall1732", n_screened=n_screened, n_sites=n_sites, seed=seed)
        folder = work / f"aall1732-{n_sites}"
        tk.write_study(study, folder, format="parquet")
        t0 = time.perf_counter()
        run = tk.render_reports(folder, audience="study", out=work / f"study-{n_sites}", jobs=1, force=True,
                                progress=False)
        seconds[n_sites] = time.perf_counter() - t0
        res = run.results[0]
        size = res.path.stat().st_size if run.ok else 0
        print(f"study report, {n_sites} sites ({n_screened} screened, {len(study.randomization)} randomized): "
              f"{seconds[n_sites]:.1f} s end to end (page {res.duration_s:.1f} s, {size / 1e6:.2f} MB), ok={run.ok}")
        if not run.ok:
            print(run.to_frame()["error"].iloc[0])
            return 1
    self_mb, kernel_mb = _peak_mb()
    print(f"RATIO study report {large[0]} sites / {small[0]} sites: {seconds[large[0]] / seconds[small[0]]:.2f}; "
          f"peak memory: this process {self_mb:.0f} MB, largest kernel {kernel_mb:.0f} MB")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--study", default=str(ROOT / "data" / "demo" / "b1931036"))
    p.add_argument("--sites", type=int, default=None, help="limit to the first N sites (default: all)")
    p.add_argument("--jobs", type=int, default=2, help="workers of the batch (default 2)")
    p.add_argument("--quick", action="store_true", help="4 sites")
    p.add_argument("--skip-naive", action="store_true", help="only time the batch")
    p.add_argument("--scale", action="store_true", help="72 vs 1,000 sites (20,000 screened), study report at scale")
    p.add_argument("--study-only", action="store_true",
                   help="only the study report, of the 72-site and the 1,000-site synthetic studies")
    args = p.parse_args(argv)

    import trialkit as tk

    if args.study_only:
        with tempfile.TemporaryDirectory(prefix="tk-bench-study-") as tmp:
            return study_only(Path(tmp))
    if args.scale:
        with tempfile.TemporaryDirectory(prefix="tk-bench-scale-") as tmp:
            return scale(args.jobs, Path(tmp))

    study = tk.load_study(args.study)
    sites = list(study.sites["site_id"])
    n = 4 if args.quick else args.sites
    if n:
        sites = sites[:n]
    print(f"{len(sites)} site(s) of {study.protocol.id} ({len(study.screening)} screened, "
          f"{len(study.randomization)} randomized in the study); {os.cpu_count()} CPU(s)")

    with tempfile.TemporaryDirectory(prefix="tk-bench-reports-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        run = tk.render_site_reports(args.study, sites=sites, out=tmp / "batch", jobs=args.jobs, force=True,
                                     progress=False)
        batch = time.perf_counter() - t0
        if not run.ok:
            print("batch failures:", run.failed)
            return 1
        pages = [r.path.stat().st_size for r in run.results]
        asset = next((tmp / "batch" / "assets").glob("plotly-*.min.js")).stat().st_size
        manifest = json.loads(run.manifest.read_text())
        per_site = [e["duration_s"] for e in manifest["sites"].values()]
        print(f"trialkit batch (jobs={args.jobs}): {batch:.1f} s total, {batch / len(sites):.2f} s/site "
              f"(median site render {statistics.median(per_site):.2f} s, includes load+validate+aggregates)")
        print(f"pages: median {statistics.median(pages) / 1024:.0f} KB, max {max(pages) / 1024:.0f} KB; "
              f"shared plotly.js {asset / 1e6:.1f} MB once -> {(sum(pages) + asset) / 1e6:.1f} MB for "
              f"{len(sites)} sites (inline plotly.js per page would be {(sum(pages) + asset * len(sites)) / 1e6:.0f} MB)")
        if args.skip_naive:
            return 0
        naive = naive_loop(study, sites, tmp)
        print(f"naive papermill CLI + nbconvert loop: {naive:.1f} s total, {naive / len(sites):.2f} s/site")
        print(f"RATIO naive / trialkit batch: {naive / batch:.1f}x (goal >= 20x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
