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

Prints seconds per site both ways, the ratio (goal >= 20x), and the page sizes.
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
    from trialkit.reports.execute import _write_site_folder
    from trialkit.reports.plan import DEFAULT_TEMPLATE, SiteTask

    agg = study_aggregates(study)
    cut = study.data_cut_date.date().isoformat() if study.data_cut_date is not None else None
    folders = {}
    for sid in sites:
        d = work / "data" / sid
        d.mkdir(parents=True)
        sub = site_subset(study, sid)
        _write_site_folder(SiteTask(site_id=sid, tables=sub.tables(), protocol=study.protocol.id,
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--study", default=str(ROOT / "data" / "demo" / "b1931036"))
    p.add_argument("--sites", type=int, default=None, help="limit to the first N sites (default: all)")
    p.add_argument("--jobs", type=int, default=2, help="workers of the batch (default 2)")
    p.add_argument("--quick", action="store_true", help="4 sites")
    p.add_argument("--skip-naive", action="store_true", help="only time the batch")
    args = p.parse_args(argv)

    import trialkit as tk

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
