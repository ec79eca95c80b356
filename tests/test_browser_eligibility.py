"""The eligibility notebook in a real JupyterLab (headless Chromium): run all cells, switch a criterion
off in the what-if panel, and check that the eligible count on the page changes."""

from __future__ import annotations

import re

import pytest
from jupyter_browser import ARTIFACTS, lab_page, run_all_cells, screenshot, wait_for_text

pytestmark = pytest.mark.browser


def _eligible(text: str) -> int:
    m = re.search(r"Eligible: ([\d,]+)", text)
    assert m, text
    return int(m.group(1).replace(",", ""))


def test_eligibility_explorer_in_the_browser(jupyter_server):
    with lab_page(jupyter_server, "notebooks/eligibility_funnel.ipynb") as page:
        run_all_cells(page)
        before = wait_for_text(page, ".eligible-count", lambda t: "Eligible:" in t)
        assert "vs protocol as written" in before
        n_before = _eligible(before)
        # the funnel and CONSORT figures rendered (plotly's DOM)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        # open the what-if panel and switch the high-risk-timing criterion off
        page.get_by_text("What-if: switch criteria off, move thresholds").first.click()
        box = page.locator(".tk-elig-switch-B_IN02_HR_TIMING input[type='checkbox']").first
        box.wait_for(state="visible")
        box.uncheck()
        after = wait_for_text(page, ".eligible-count", lambda t: "Eligible:" in t and t != before)
        n_after = _eligible(after)
        assert n_after > n_before  # removing an inclusion criterion can only add eligible patients
        assert f"+{n_after - n_before:,} vs protocol as written" in after
        path = screenshot(page, "eligibility_explorer")
        assert path.stat().st_size > 10_000
        # the CONSORT tab follows the what-if change: its diagram is drawn in the page
        page.get_by_text("What-if: switch criteria off, move thresholds").first.click()  # fold the panel
        page.get_by_role("tab", name="CONSORT").first.click()
        diagram = page.locator(".js-plotly-plot:has-text('Assessed for eligibility')").first
        diagram.wait_for(state="visible", timeout=60_000)
        diagram.scroll_into_view_if_needed()
        assert "Randomized (n=" in diagram.inner_text()
        shot = ARTIFACTS / "eligibility_consort.png"
        diagram.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        assert not [e for e in page.console_errors if "Traceback" in e]
