"""The safety benchmark script runs (tiny size); it asserts no timing, only that it reports the ratio."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_safety.py"


def test_bench_safety_reports_the_ratio(capsys):
    spec = importlib.util.spec_from_file_location("bench_safety", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ratios = mod.main(["--records", "5000", "--repeats", "1"])  # also checks ae_table against the baseline
    assert list(ratios) == ["ae_table"] and ratios["ae_table"] > 0
    out = capsys.readouterr().out
    assert "ae_table on 5,000 adverse-event records" in out and "goal <= 2x" in out
    study = mod.make_study(5000)
    assert len(study.adverse_events) == 5000
    assert set(study.adverse_events["subject_id"]) <= set(study.randomization["subject_id"])
    assert study.randomization["subject_id"].is_unique and study.adverse_events[["subject_id", "ae_seq"]].duplicated().sum() == 0
