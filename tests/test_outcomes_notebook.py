"""notebooks/outcomes.ipynb runs top to bottom (papermill) on both demo studies and the CDISC pilot."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_runs import assert_thin, output_text, run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "outcomes.ipynb"


def test_notebook_is_thin_and_committed_without_outputs():
    assert_thin(NOTEBOOK)


def _run(tmp_path, **parameters) -> dict:
    return run_notebook(NOTEBOOK, tmp_path / "outcomes.out.ipynb", **parameters)


@pytest.mark.kernel
@pytest.mark.parametrize("protocol", ["b1931036", "aall1732"])
def test_notebook_runs_on_demo(tmp_path, protocol):
    nb = _run(tmp_path, data_dir=f"../data/demo/{protocol}", endpoint="OS")
    text = output_text(nb)
    assert f"Study {protocol}" in text and "Median follow-up (OS, months)" in text
    assert "Proportional hazards check (OS" in text and "Restricted mean survival time (OS)" in text
    assert "score (log-rank)" in text and "pl_lower" in text
    assert any("plotly" in str(o.get("data", {})) for c in nb["cells"] for o in c.get("outputs", []))


@pytest.mark.kernel
def test_notebook_runs_on_the_cdisc_pilot(tmp_path, cdisc_dir):
    nb = _run(tmp_path, cdisc_dir=str(cdisc_dir), endpoint="TTDE", time_unit="days")
    text = output_text(nb)
    assert "Study cdiscpilot01" in text and "Median follow-up (TTDE, days)" in text
    assert "Proportional hazards check (TTDE" in text and "Restricted mean survival time (TTDE)" in text
