"""The outcomes notebook in a real JupyterLab (headless Chromium) on the B1931036 demo study: run all
cells, drive every kind of control, toggle an arm in the legend, zoom, and save a screenshot to
tests/_artifacts/outcomes_explorer.png. The harness checks the notebook file is left unchanged.
"""

from __future__ import annotations

import pytest
from jupyter_browser import lab_page, run_all_cells, screenshot, wait_for_text

pytestmark = pytest.mark.browser

GD = "document.querySelector('.tk-outcomes-figure .js-plotly-plot')"


def test_outcomes_explorer_in_jupyterlab(jupyter_server):
    with lab_page(jupyter_server, "notebooks/outcomes.ipynb") as page:
        run_all_cells(page)
        state = wait_for_text(page, ".tk-outcomes-state", lambda t: "EFS" in t and "log-log" in t)
        assert state.strip().endswith("log-log")
        page.wait_for_selector(".tk-outcomes-figure .js-plotly-plot")
        # the KM figure: 2 arms x (2 band + curve + censor + at-risk) traces
        assert page.evaluate(f"{GD}.data.length") == 10
        assert page.evaluate(f"{GD}.data.filter(t => t.meta === 'risk').map(t => t.legendgroup)") == ["ALLR3", "InO"]

        # the CI transform: click "log" -> every panel is recomputed with the R-style band
        page.locator(".tk-outcomes-conf-type button", has_text="log").filter(has_not_text="log-log").click()
        wait_for_text(page, ".tk-outcomes-state", lambda t: t.strip().endswith("· log"))
        wait_for_text(page, ".tk-outcomes-summary", lambda t: "R survival default" in t)

        # the endpoint dropdown: EFS -> OS changes the title of the summary and the figure
        page.locator(".tk-outcomes-endpoint select").select_option("OS")
        wait_for_text(page, ".tk-outcomes-summary", lambda t: "Kaplan–Meier: OS by arm" in t)
        page.wait_for_function(f"() => {GD} && {GD}.layout.title.text.startsWith('OS by arm')")

        # stratification: the test becomes the stratified log-rank
        page.locator(".tk-outcomes-strata select").select_option("age_group + relapse_timing")
        wait_for_text(page, ".tk-outcomes-tests", lambda t: "stratified log-rank" in t)

        # legend toggle hides the arm's curve, band, censor ticks and at-risk row together
        page.locator(".tk-outcomes-figure .legendtext", has_text="ALLR3").first.click(force=True)  # the toggle rect on top takes it
        page.wait_for_function(f"() => {GD}.data.filter(t => t.legendgroup === 'ALLR3')"
                               ".every(t => t.visible === 'legendonly')")

        # zoom on the curves (drag a box): the at-risk table's x axis follows
        box = page.locator(".tk-outcomes-figure .nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
        page.mouse.up()
        page.wait_for_function(f"() => {GD}._fullLayout.xaxis.range[0] > 0.5")
        r1 = page.evaluate(f"{GD}._fullLayout.xaxis.range")
        r2 = page.evaluate(f"{GD}._fullLayout.xaxis2.range")
        assert r1 == pytest.approx(r2)

        assert page.locator(".tk-outcomes-errors li").count() == 0
        shot = screenshot(page, "outcomes_explorer")
        assert shot.stat().st_size > 50_000

        # the forest plot of hazard ratios across subgroups, further down the output
        page.wait_for_selector(".tk-outcomes-forest .js-plotly-plot")
        labels = page.locator(".tk-outcomes-forest .ytick text").all_text_contents()  # SVG: no innerText
        assert labels[0].startswith("All subjects") and any(t.startswith("sex: F") for t in labels)
        page.locator(".tk-outcomes-forest").scroll_into_view_if_needed()
        assert screenshot(page, "outcomes_forest").stat().st_size > 50_000
