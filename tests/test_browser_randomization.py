"""The randomization explorer in a real JupyterLab (headless Chromium) at 1280×800 and 1440×900 with the file
browser open: the signal banner, every key column (p_scheme, note, SMD) within the window without horizontal
scrolling, titles carrying the filter, the SMD plot's legend clear of its tick labels and its chance-scale line
over every row. Interaction timings are printed (tests/_artifacts/timings.txt), never asserted."""

from __future__ import annotations

import pytest
from jupyter_browser import (
    VIEWPORTS,
    bbox,
    bboxes,
    horizontal_scrollers,
    lab_page,
    notebook_json,
    open_file_browser,
    overflowing,
    overlap,
    record_timing,
    run_all_cells,
    screenshot,
    timed_update,
    visible_right_edge,
    wait_for_text,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/randomization_balance.ipynb"
EXPLORER = ".tk-rnd-explorer"
# a plotly figure whose title starts with TITLE is drawn and visible (not in a hidden tab)
VISIBLE_PLOT = """() => [...document.querySelectorAll('.js-plotly-plot')].some(
  p => p.offsetParent !== null && (p.querySelector('.gtitle')?.textContent || '').startsWith('TITLE'))"""


def _tab(page, title):
    """A tab of the explorer (not the notebook's markdown that mentions the same words)."""
    return page.locator(f"{EXPLORER} .lm-TabBar-tab", has_text=title).first


def _header_cells(page, container: str, names) -> dict:
    cells = {b["text"]: b for b in bboxes(page, f"{container} th")}
    return {n: cells[n] for n in names if n in cells}


def _assert_reachable(page, container: str, names):
    """Columns ``names`` of the table in ``container``: in the window and no horizontal scrollbar around them."""
    cells = _header_cells(page, container, names)
    assert set(cells) == set(names), (sorted(cells), names)
    right = visible_right_edge(page)
    assert all(c["right"] <= right + 1 for c in cells.values()), (cells, right)
    assert horizontal_scrollers(page, f"{container} table") == [], overflowing(page, EXPLORER)


def test_notebook_is_thin_and_stripped():
    nb = notebook_json(NOTEBOOK)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert not any("def " in "".join(c["source"]) or "class " in "".join(c["source"]) for c in code)
    assert "parameters" in code[0]["metadata"].get("tags", [])
    assert "DEFAULT_N_SIM" in "".join("".join(c["source"]) for c in code)  # the shared defaults, not its own


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: f"{v[0]}x{v[1]}")
def test_explorer_signals_layout_and_filter_state(jupyter_server, demo_b1931036, viewport):
    width, height = viewport
    tag = f"randomization_{width}x{height}"
    rnd = demo_b1931036.randomization
    country = rnd["site_id"].map(demo_b1931036.sites.set_index("site_id")["country"])
    de = rnd[country == "Germany"]["arm"].value_counts()
    with lab_page(jupyter_server, NOTEBOOK, width=width, height=height) as page:
        open_file_browser(page)
        run_all_cells(page)
        status = wait_for_text(page, ".tk-rnd-status", lambda t: "randomized" in t)
        assert f"b1931036: {len(rnd)} randomized" in status
        # the banner: the allocation unusual for the scheme (InO 61 of 96, blocks keep it within 62-66) first,
        # with the number of re-randomizations and the seed (the shared defaults: 10,000, seed 0)
        banner = wait_for_text(page, ".tk-rnd-signals", lambda t: "Signals" in t)
        assert "Allocation (overall all): p_scheme = " in banner and "InO 61 of 96" in banner
        assert "Monte Carlo: 10,000 re-randomizations, seed 0." in banner
        alloc = wait_for_text(page, ".tk-rnd-alloc", lambda t: "p_scheme" in t)
        assert "too small to test" in alloc and "Monte Carlo: 10,000 re-randomizations, seed 0." in alloc
        # p-values and the note column: in the window, no horizontal scrollbar
        _assert_reachable(page, ".tk-rnd-alloc", ["p_binomial", "p_scheme", "note"])
        screenshot(page, f"{tag}_allocation")

        t = timed_update(page, lambda: page.locator(".tk-rnd-country select").first.select_option("Germany"),
                         "() => document.querySelector('.tk-rnd-status').innerText.includes('filter: Germany')")
        record_timing(tag, "country filter -> status", t)
        status = page.locator(".tk-rnd-status").first.inner_text()
        assert f"{de.sum()} randomized (ALLR3 {de.get('ALLR3', 0)} · InO {de.get('InO', 0)})" in status
        wait_for_text(page, ".tk-rnd-alloc", lambda x: "Filter: Germany." in x)

        # Table 1: the SMD column in the window; the SMD plot's title carries the filter, its legend is clear
        # of the tick labels and the dashed chance scale runs over every row
        t = timed_update(page, lambda: _tab(page, "Table 1 (SMD)").click(),
                         VISIBLE_PLOT.replace("TITLE", "Standardized mean differences vs the chance band — Germany"))
        record_timing(tag, "Table 1 tab opened -> SMD plot drawn", t)
        table = wait_for_text(page, ".tk-rnd-table", lambda x: "SMD" in x)
        assert f"ALLR3 (N={de.get('ALLR3', 0)})" in table and f"InO (N={de.get('InO', 0)})" in table
        _assert_reachable(page, ".tk-rnd-table", ["SMD"])
        page.locator(".tk-rnd-smd .js-plotly-plot").first.scroll_into_view_if_needed()
        legend = bbox(page, ".tk-rnd-smd .legend")
        for tick in bboxes(page, ".tk-rnd-smd .xtick text") + bboxes(page, ".tk-rnd-smd .ytick text"):
            assert not overlap(legend, tick), (legend, tick)
        plot_area = bbox(page, ".tk-rnd-smd .nsewdrag")
        lines = page.eval_on_selector_all(".tk-rnd-smd .scatterlayer .trace .js-line", """els => els.map(e => {
            const b = e.getBoundingClientRect(); return {height: b.height, width: b.width}; })""")
        vertical = [x for x in lines if x["width"] < 3]
        assert len(vertical) >= 2 and all(x["height"] >= 0.97 * plot_area["height"] for x in vertical), (vertical, plot_area)
        screenshot(page, f"{tag}_table1")

        t = timed_update(page, lambda: _tab(page, "Cumulative allocation").click(),
                         VISIBLE_PLOT.replace("TITLE", "Cumulative allocation to InO"))
        record_timing(tag, "cumulative tab opened -> drawn (10,000 re-randomizations)", t)
        titles = [b["text"] for b in bboxes(page, f"{EXPLORER} .tk-rnd-cum .gtitle")]
        assert titles and titles[0].endswith("10,000 re-randomizations, seed 0 — Germany")
        screenshot(page, f"{tag}_cumulative")

        _tab(page, "Design simulation").click()
        t = timed_update(page, lambda: page.locator(".tk-rnd-run").first.click(),
                         "() => (document.querySelector('.tk-rnd-sim')?.innerText || '').includes('re-randomizations')",
                         timeout_ms=240_000)
        record_timing(tag, "simulate schemes (2,000 trials each) -> table", t)
        sim = page.locator(".tk-rnd-sim").first.inner_text()
        assert "complete randomization" in sim and "permuted blocks by site_id" in sim and "Filter: Germany." in sim
        page.wait_for_function(VISIBLE_PLOT.replace("TITLE", "Imbalance"), timeout=60_000)
        screenshot(page, f"{tag}_simulation")
        assert bbox(page, EXPLORER)["right"] <= visible_right_edge(page) + 1
        assert not [e for e in page.console_errors if "plotly" in e.lower()]
