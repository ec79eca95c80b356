"""The randomization explorer in a real JupyterLab (headless Chromium): run, change a filter, see it change."""

from __future__ import annotations

import pytest
from jupyter_browser import lab_page, notebook_json, run_all_cells, screenshot, wait_for_text

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/randomization_balance.ipynb"
# a plotly figure whose title starts with TITLE is drawn and visible (not in a hidden tab)
VISIBLE_PLOT = """() => [...document.querySelectorAll('.js-plotly-plot')].some(
  p => p.offsetParent !== null && (p.querySelector('.gtitle')?.textContent || '').startsWith('TITLE'))"""


def _tab(page, title):
    """A tab of the explorer (not the notebook's markdown that mentions the same words)."""
    return page.locator(".jp-OutputArea .lm-TabBar-tab", has_text=title).first


def test_notebook_is_thin_and_stripped():
    nb = notebook_json(NOTEBOOK)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert not any("def " in "".join(c["source"]) or "class " in "".join(c["source"]) for c in code)
    assert "parameters" in code[0]["metadata"].get("tags", [])


def test_explorer_reacts_to_a_country_filter(jupyter_server, demo_b1931036):
    rnd = demo_b1931036.randomization
    country = rnd["site_id"].map(demo_b1931036.sites.set_index("site_id")["country"])
    de = rnd[country == "Germany"]["arm"].value_counts()
    with lab_page(jupyter_server, NOTEBOOK) as page:
        run_all_cells(page)
        status = wait_for_text(page, ".tk-rnd-status", lambda t: "randomized" in t)
        assert f"b1931036: {len(rnd)} randomized" in status
        alloc_before = page.locator(".tk-rnd-alloc").first.inner_text()
        assert "p_binomial" in alloc_before and "too small to test" in alloc_before
        screenshot(page, "randomization_allocation")
        page.locator(".tk-rnd-country select").first.select_option("Germany")
        status = wait_for_text(page, ".tk-rnd-status", lambda t: f"{len(rnd)} randomized" not in t)
        assert f"{de.sum()} randomized (ALLR3 {de.get('ALLR3', 0)} · InO {de.get('InO', 0)})" in status
        wait_for_text(page, ".tk-rnd-alloc", lambda t: t != alloc_before)
        # the cumulative plot is drawn by plotly in the page
        _tab(page, "Cumulative allocation").click()
        page.wait_for_function(VISIBLE_PLOT.replace("TITLE", "Cumulative allocation"), timeout=60_000)
        screenshot(page, "randomization_cumulative")
        _tab(page, "Table 1 (SMD)").click()
        table = wait_for_text(page, ".tk-rnd-table", lambda t: "SMD" in t)
        assert f"ALLR3 (N={de.get('ALLR3', 0)})" in table and f"InO (N={de.get('InO', 0)})" in table
        page.wait_for_function(VISIBLE_PLOT.replace("TITLE", "Standardized mean differences"), timeout=60_000)
        path = screenshot(page, "randomization_explorer")
        assert path.stat().st_size > 20_000
        _tab(page, "Design simulation").click()
        page.locator(".tk-rnd-run").first.click()
        sim = wait_for_text(page, ".tk-rnd-sim", lambda t: "re-randomizations" in t, timeout_s=120)
        assert "complete randomization" in sim and "permuted blocks by site_id" in sim
        page.wait_for_function(VISIBLE_PLOT.replace("TITLE", "Imbalance"), timeout=60_000)
        screenshot(page, "randomization_simulation")
        assert not [e for e in page.console_errors if "plotly" in e.lower()]
