"""The browser harness itself: JupyterLab runs a notebook, a widget change reaches the kernel and back."""

import pytest
from jupyter_browser import lab_page, run_all_cells, screenshot, wait_for_text

pytestmark = pytest.mark.browser


def test_widget_round_trip(jupyter_server):
    with lab_page(jupyter_server, "tests/fixtures/notebooks/widget_probe.ipynb") as page:
        run_all_cells(page)
        assert wait_for_text(page, ".probe", lambda t: t.strip() == "1") == "1"
        readout = page.locator(".widget-readout").first  # the slider's editable value box
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("10")
        page.keyboard.press("Enter")
        assert wait_for_text(page, ".probe", lambda t: t.strip() == "10") == "10"
        assert screenshot(page, "harness").stat().st_size > 10_000
