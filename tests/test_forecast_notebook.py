"""notebooks/enrollment_forecast.ipynb is thin, committed without outputs, and runs top to bottom
(papermill) on both demo studies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from notebook_runs import assert_thin, output_text, run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "enrollment_forecast.ipynb"


def test_notebook_is_thin_and_committed_without_outputs():
    assert_thin(NOTEBOOK)


def _run(tmp_path, **parameters) -> str:
    return output_text(run_notebook(NOTEBOOK, tmp_path / "forecast.out.ipynb", timeout=600, **parameters))


@pytest.mark.kernel
def test_notebook_runs_on_b1931036(tmp_path):
    text = _run(tmp_path, n_sims=1000)
    assert "Accrual forecast to 100 as of 2026-06-30" in text
    assert "Event forecast: EFS to 72 events as of 2026-06-30, pooled over arms" in text
    assert "Backtest of the accrual forecast" in text


@pytest.mark.slow
@pytest.mark.kernel
def test_notebook_runs_on_aall1732(tmp_path, request):
    if not (os.environ.get("TRIALKIT_SLOW") == "1" or "slow" in (request.config.getoption("markexpr") or "")
            .replace("not slow", "")):
        pytest.skip("a second full run: with `pytest -m slow` or TRIALKIT_SLOW=1")
    text = _run(tmp_path, data_dir="../data/demo/aall1732", target=320, target_events=45, n_sims=1000)
    assert "Accrual forecast to 320 as of 2026-06-30" in text and "EFS to 45 events" in text
