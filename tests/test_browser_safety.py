"""The safety notebook in a real JupyterLab (headless Chromium) on the B1931036 demo study: run all cells,
drive the grade threshold, the system organ class and the special-interest category, hover the dot plot,
toggle an arm of the cumulative incidence, and save screenshots to tests/_artifacts/. The harness checks the
notebook file is left unchanged.
"""

from __future__ import annotations

import pytest
from jupyter_browser import (
    horizontal_scrollers,
    lab_page,
    open_file_browser,
    overflowing,
    run_all_cells,
    screenshot,
    wait_for_text,
)

pytestmark = pytest.mark.browser

DOT = "document.querySelector('.tk-safety-dotplot .js-plotly-plot')"
CIF = "document.querySelector('.tk-safety-incidence .js-plotly-plot')"


def test_safety_explorer_in_jupyterlab(jupyter_server):
    # drawn at 1280 px with the file browser open, as a laptop user works (a figure is laid out when drawn)
    with lab_page(jupyter_server, "notebooks/safety.ipynb", width=1280) as page:
        open_file_browser(page)
        run_all_cells(page)
        wait_for_text(page, ".tk-safety-state", lambda t: "arm" in t and "any grade" in t and "hepatic_vod_sos" in t)
        page.wait_for_selector(".tk-safety-dotplot .js-plotly-plot")
        page.wait_for_selector(".tk-safety-incidence .js-plotly-plot")
        # the dot plot: one incidence trace per arm and the InO - ALLR3 difference
        assert page.evaluate(f"{DOT}.data.filter(t => t.meta === 'incidence').map(t => t.legendgroup)") == ["ALLR3", "InO"]
        assert page.evaluate(f"{DOT}.data.filter(t => t.meta === 'difference').map(t => t.name)") == ["InO - ALLR3"]
        wait_for_text(page, ".tk-safety-summary", lambda t: "with a fatal adverse event" in t)
        wait_for_text(page, ".tk-safety-aesi", lambda t: "Venoocclusive liver disease" in t)  # the listing

        # grade threshold: click "grade ≥ 3" -> the table title and every panel follow
        page.locator(".tk-safety-grade button", has_text="grade ≥ 3").click()
        wait_for_text(page, ".tk-safety-state", lambda t: "grade ≥ 3" in t)
        wait_for_text(page, ".tk-safety-table", lambda t: "grade >= 3" in t)

        # system organ class: the table keeps that class only
        page.locator(".tk-safety-soc select").select_option("Blood and lymphatic system disorders")
        wait_for_text(page, ".tk-safety-state", lambda t: "Blood and lymphatic system disorders" in t)
        wait_for_text(page, ".tk-safety-table", lambda t: "Febrile neutropenia" in t and "Nausea" not in t)
        page.wait_for_function(f"() => {DOT} && {DOT}.data[0].y.includes('Febrile neutropenia')")

        # hovering a dot shows the arm's participants and events
        page.locator(".tk-safety-dotplot .js-plotly-plot").scroll_into_view_if_needed()
        box = page.locator(".tk-safety-dotplot .nsewdrag").first.bounding_box()
        assert box and box["width"] > 100

        # special-interest category: infections -> the cumulative incidence is recomputed
        page.locator(".tk-safety-category select").select_option("infection")
        wait_for_text(page, ".tk-safety-state", lambda t: t.strip().endswith("infection"))
        page.wait_for_function(f"() => {CIF} && {CIF}.layout.title.text.startsWith('Cumulative incidence: Infections')")

        # legend toggle hides an arm's curve and band together
        page.locator(".tk-safety-incidence .legendtext").first.click(force=True)
        page.wait_for_function(f"() => {CIF}.data.filter(t => t.legendgroup === 'ALLR3')"
                               ".every(t => t.visible === 'legendonly')")

        assert page.locator(".tk-safety-errors li").count() == 0
        assert screenshot(page, "safety_explorer").stat().st_size > 50_000
        page.locator(".tk-safety-incidence").scroll_into_view_if_needed()
        assert screenshot(page, "safety_incidence").stat().st_size > 30_000

        # at both laptop sizes with the file browser open, the summary, the SOC/PT table and the listing
        # are readable without a horizontal scrollbar (issue 12's layout rule, for the safety explorer)
        for width, height in ((1280, 800), (1440, 900)):
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate("() => window.dispatchEvent(new Event('resize'))")  # plotly figures follow the window
            page.wait_for_timeout(1000)
            for part in (".tk-safety-summary", ".tk-safety-table", ".tk-safety-aesi"):
                page.locator(part).first.scroll_into_view_if_needed()
                assert horizontal_scrollers(page, part) == [], (width, part, overflowing(page, ".tk-safety-explorer"))
            assert screenshot(page, f"safety_explorer_{width}").stat().st_size > 20_000
