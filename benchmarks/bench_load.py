"""Load + validate a 1,000,000-row screening Parquet file, against a bare ``pd.read_parquet``.

Prints the time of ``trialkit.load_study`` (read, map, coerce to canonical dtypes, pandera
validation, cross-table checks) as a ratio to ``pandas.read_parquet`` of the same file, both
measured in this run (best of ``--repeat``), and the peak memory of each as a multiple of the loaded
frame's size (each in a fresh subprocess: its peak resident memory, VmHWM, minus its resident
memory just before loading; conservative, since a transient peak during the imports also counts).

Goals (issue 2): time ≤ 3× read_parquet; peak memory ≤ 3× the frame's size.

    python benchmarks/bench_load.py            # 1,000,000 rows
    python benchmarks/bench_load.py --quick    # 100,000 rows
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, sys, time
import pandas as pd, pyarrow, pandera, trialkit, trialkit.io.flatfile, trialkit.schemas
path, mode = sys.argv[1], sys.argv[2]
def status_kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
rss0 = status_kb("VmRSS")  # resident memory before loading (after imports)
t = time.perf_counter()
if mode == "read_parquet":
    df = pd.read_parquet(f"{path}/screening.parquet")
else:
    df = trialkit.load_study(path).screening
elapsed = time.perf_counter() - t
# VmHWM: this process image's peak resident memory. (ru_maxrss would not do: Linux carries it
# across exec, so a child inherits the parent's high-water mark.)
rss1 = status_kb("VmHWM")
print(json.dumps({"seconds": elapsed, "peak_mb": (rss1 - rss0) / 1024, "frame_mb": df.memory_usage(deep=True).sum() / 2**20,
                  "rows": len(df)}))
"""


def run(path: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 rows")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = 100_000 if args.quick else args.rows

    import trialkit as tk

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        study = tk.synthesize("b1931036", n_screened=n, seed=7, screening_only=True, validate=False)
        gen = time.perf_counter() - t
        folder = Path(tmp) / "study"
        folder.mkdir()
        study.screening.to_parquet(folder / "screening.parquet", index=False)
        study.sites.to_parquet(folder / "sites.parquet", index=False)
        (folder / "study.yaml").write_text("protocol: b1931036\n")
        size = (folder / "screening.parquet").stat().st_size / 2**20
        ncols = study.screening.shape[1]
        del study  # the children measure their own memory; keep the parent small anyway
        print(f"generated {n:,} screened rows in {gen:.1f} s; screening.parquet {size:.1f} MB, "
              f"{ncols} columns")

        base = [run(folder, "read_parquet") for _ in range(args.repeat)]
        ours = [run(folder, "load_study") for _ in range(args.repeat)]
    b = min(r["seconds"] for r in base)
    o = min(r["seconds"] for r in ours)
    frame = ours[0]["frame_mb"]
    peak_b = max(r["peak_mb"] for r in base)
    peak_o = max(r["peak_mb"] for r in ours)
    assert ours[0]["rows"] == base[0]["rows"] == n, "a row was lost"
    print(f"pd.read_parquet          : {b:6.2f} s   peak +{peak_b:7.0f} MB   (frame {base[0]['frame_mb']:.0f} MB)")
    print(f"trialkit.load_study      : {o:6.2f} s   peak +{peak_o:7.0f} MB   (frame {frame:.0f} MB)")
    print(f"time ratio load_study / read_parquet: {o / b:.2f}x   (goal <= 3x)")
    print(f"peak memory / loaded frame size     : {peak_o / frame:.2f}x   (goal <= 3x; trialkit's frame is compact:"
          f" text is Arrow-backed)")
    print(f"peak memory / read_parquet's frame  : {peak_o / base[0]['frame_mb']:.2f}x   "
          f"(read_parquet itself: {peak_b / base[0]['frame_mb']:.2f}x)")


if __name__ == "__main__":
    main()
