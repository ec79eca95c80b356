"""The forecast notebook in a real JupyterLab (headless Chromium) on the B1931036 demo study: run all
cells, check the fan charts, drive the explorer's controls (forecast date, target, event model, the
backtest button) and save screenshots at 1280 and 1440 px to tests/_artifacts/. The harness checks
the notebook file is left unchanged."""

from __future__ import annotations

import pytest
from jupyter_browser import lab_page, run_all_cells, screenshot, wait_for_text

pytestmark = pytest.mark.browser

ACC = "document.querySelector('.tk-forecast-accrual-figure .js-plotly-plot')"
EV = "document.querySelector('.tk-forecast-event-figure .js-plotly-plot')"
SCROLL_TO_LAST = """async () => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  nb.activeCellIndex = nb.widgets.length - 1;
  await nb.scrollToItem(nb.widgets.length - 1, 'start');
}"""


def test_forecast_notebook_and_explorer_in_jupyterlab(jupyter_server):
    with lab_page(jupyter_server, "notebooks/enrollment_forecast.ipynb", width=1280) as page:
        run_all_cells(page, timeout_ms=480_000)
        # JupyterLab renders only the cells in view: bring the explorer (the last cell) into view
        page.evaluate(SCROLL_TO_LAST)
        page.wait_for_selector(".tk-forecast-explorer", timeout=60_000)
        page.locator(".tk-forecast-explorer").scroll_into_view_if_needed()
        state = wait_for_text(page, ".tk-forecast-state", lambda t: "as of 2026-06-30" in t)
        assert "target 100" in state and "weibull" in state
        page.wait_for_function(f"() => {ACC} && {EV}")
        metas = page.evaluate(f"{ACC}.data.map(t => t.meta)")
        assert metas == ["band", "band", "band", "band", "median", "observed", "target_interval", "target_date"]
        assert page.evaluate(f"{ACC}.layout.title.text").startswith("Accrual forecast")
        assert "all arms pooled" in page.evaluate(f"{EV}.layout.title.text")
        shot = screenshot(page, "forecast_explorer_1280")
        assert shot.stat().st_size > 50_000

        # forecast date: an earlier month end -> both forecasts are redone from the data then
        page.locator(".tk-forecast-as-of select").select_option("2025-12-31")
        wait_for_text(page, ".tk-forecast-state", lambda t: "as of 2025-12-31" in t)
        wait_for_text(page, ".tk-forecast-accrual", lambda t: "Accrual forecast to 100 as of 2025-12-31" in t)
        page.wait_for_function(f"() => {ACC}.layout.title.text.includes('randomized at')")

        # target: type 120 -> the summary follows
        box = page.locator(".tk-forecast-target input")
        box.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("120")
        page.keyboard.press("Enter")
        wait_for_text(page, ".tk-forecast-state", lambda t: "target 120" in t)
        wait_for_text(page, ".tk-forecast-accrual", lambda t: "Accrual forecast to 120" in t)

        # event model: piecewise
        page.locator(".tk-forecast-model button", has_text="piecewise").click()
        wait_for_text(page, ".tk-forecast-state", lambda t: t.strip().endswith("piecewise"))
        wait_for_text(page, ".tk-forecast-events", lambda t: "(piecewise," in t)
        assert page.locator(".tk-forecast-errors li").count() == 0

        # the backtest on demand: two figures and their tables
        page.locator(".tk-forecast-run-backtest").click()
        page.wait_for_function("() => document.querySelectorAll('.tk-forecast-backtest .js-plotly-plot').length == 2",
                               timeout=240_000)
        wait_for_text(page, ".tk-forecast-backtest", lambda t: "Backtest of the accrual forecast" in t)

        page.locator(".tk-forecast-accrual-figure").scroll_into_view_if_needed()
        assert screenshot(page, "forecast_explorer_changed_1280").stat().st_size > 50_000
        page.set_viewport_size({"width": 1440, "height": 1800})
        page.wait_for_timeout(1500)  # plotly relayouts on resize
        width = page.evaluate(f"{ACC}.getBoundingClientRect().width")
        assert width > 1000
        assert screenshot(page, "forecast_explorer_1440").stat().st_size > 50_000
        assert not [e for e in page.console_errors if "plotly" in e.lower() or "widget" in e.lower()]
