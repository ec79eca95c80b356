"""The outcomes benchmark script runs (tiny size); it asserts no timing, only that it reports every ratio."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_outcomes.py"


@pytest.mark.slow
def test_bench_outcomes_reports_each_ratio(capsys):
    spec = importlib.util.spec_from_file_location("bench_outcomes", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ratios = mod.main(["--n", "3000", "--repeats", "1"])
    assert sorted(ratios) == ["cox", "cox (arrays)", "km", "km (arrays)", "logrank", "logrank (arrays)"]
    out = capsys.readouterr().out
    assert "on 3,000 subjects" in out and "stratified log-rank" in out and "goal <= 1.2x" in out
    data = mod.make_data(3000)
    assert list(data.columns) == ["subject_id", "endpoint", "time_days", "event", "arm", "stratum"]
    assert data["event"].isin([0, 1]).all() and (data["time_days"] >= 1).all()
