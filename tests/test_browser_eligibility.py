"""The eligibility notebook in a real JupyterLab (headless Chromium) at 1280×800 and 1440×900 with the file
browser open: run all cells, filter, move a threshold, switch a criterion off, try a minimum above its
maximum, and check on the rendered page that every view carries its state (filter and WHAT-IF in the
titles, the threshold in use), that small funnel segments are labelled outside the bars (no rotated
numbers) and that both CONSORT arms are visible without horizontal scrolling. Interaction timings (widget
change → visible update) are printed and kept in tests/_artifacts/timings.txt, never asserted.
"""

from __future__ import annotations

import re

import pytest
from jupyter_browser import (
    ARTIFACTS,
    VIEWPORTS,
    bbox,
    bboxes,
    horizontal_scrollers,
    lab_page,
    open_file_browser,
    overflowing,
    record_timing,
    run_all_cells,
    screenshot,
    timed_update,
    visible_right_edge,
    wait_for_text,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/eligibility_funnel.ipynb"
EXPLORER = ".tk-elig-explorer"
TITLE_HAS = """() => [...document.querySelectorAll('.tk-elig-explorer .js-plotly-plot')].some(
  p => p.offsetParent !== null && (p.querySelector('.gtitle')?.textContent || '').includes(TEXT))"""


def _eligible(text: str) -> int:
    m = re.search(r"Eligible: ([\d,]+)", text)
    assert m, text
    return int(m.group(1).replace(",", ""))


def _title_has(text: str) -> str:
    return TITLE_HAS.replace("TEXT", repr(text))


def _title_starts(text: str) -> str:
    return TITLE_HAS.replace(".includes(TEXT)", f".startsWith({text!r})")


def _set_number(page, css_class: str, value: float) -> None:
    box = page.locator(f".{css_class} input").first
    box.fill(str(value))
    box.press("Enter")


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: f"{v[0]}x{v[1]}")
def test_eligibility_explorer_in_the_browser(jupyter_server, viewport):
    width, height = viewport
    tag = f"eligibility_{width}x{height}"
    with lab_page(jupyter_server, NOTEBOOK, width=width, height=height) as page:
        fb = open_file_browser(page)
        run_all_cells(page)
        assert bbox(page, ".jp-FileBrowser")["right"] <= bbox(page, ".jp-NotebookPanel")["x"] + 1 and fb["width"] > 150
        before = wait_for_text(page, ".tk-elig-count", lambda t: "Eligible:" in t)
        assert "vs protocol as written" in before and "Protocol as written." in before
        n_before = _eligible(before)
        # the banner opens the explorer: randomized patients the rules exclude come first
        signals = page.locator(".tk-elig-signals").first.inner_text()
        assert signals.startswith("Signals")
        page.locator(EXPLORER).first.scroll_into_view_if_needed()
        page.wait_for_function(_title_has("Screening funnel (B1931036)"))
        # small segments: their counts outside the bar, whole (not cut at the figure's edge), never rotated
        outside = [b for b in bboxes(page, f"{EXPLORER} .annotation-text") if b["text"].endswith(("excluded", "unknown"))]
        assert outside and all(b["right"] <= visible_right_edge(page) + 1 for b in outside), outside
        plot = bbox(page, f"{EXPLORER} .js-plotly-plot")
        assert all(b["right"] <= plot["right"] + 1 for b in outside)
        transforms = page.eval_on_selector_all(f"{EXPLORER} .bartext",
                                               "els => els.map(e => e.getAttribute('transform') || '')")
        assert transforms and not any("rotate" in x for x in transforms)
        screenshot(page, f"{tag}_start")

        # a filter: the funnel's title names it
        t = timed_update(page, lambda: page.locator(".tk-elig-country select").first.select_option("Germany"),
                         _title_has("— Germany"))
        record_timing(tag, "country filter -> funnel redrawn", t)
        t = timed_update(page, lambda: page.locator(".tk-elig-site select").first.select_option("DE02"),
                         _title_has("— Germany · site DE02"))
        record_timing(tag, "site filter -> funnel redrawn", t)

        # what-if: a threshold and a criterion; the title says WHAT-IF and the marker lists both
        page.get_by_text("What-if: switch criteria off, move thresholds").first.click()
        page.locator(".tk-elig-threshold-blasts_min_pct input").first.wait_for(state="visible")
        t = timed_update(page, lambda: _set_number(page, "tk-elig-threshold-blasts_min_pct", 25),
                         _title_has("WHAT-IF · Screening funnel (B1931036) — Germany · site DE02"))
        record_timing(tag, "threshold 5 -> 25 % -> funnel redrawn", t)
        box = page.locator(".tk-elig-switch-B_IN02_HR_TIMING input[type='checkbox']").first
        t = timed_update(page, box.uncheck, _title_has("switched off: High-risk relapse timing"))
        record_timing(tag, "criterion switched off -> what-if marker", t)
        title = [b for b in bboxes(page, f"{EXPLORER} .gtitle") if b["text"].startswith("WHAT-IF")][0]
        assert "Marrow blasts ≥ 25 % (protocol 5 %)" in title["text"]
        assert title["right"] <= visible_right_edge(page) + 1  # the what-if is read whole, not cut
        badge = [b for b in bboxes(page, f"{EXPLORER} .annotation-text") if b["text"] == "WHAT-IF"]
        assert badge and badge[0]["right"] <= visible_right_edge(page) + 1
        ticks = [b["text"] for b in bboxes(page, f"{EXPLORER} .ytick text")]
        assert "Marrow blasts ≥ 25 % (≥ M2)" in ticks  # the threshold in use, not the protocol's 5 %
        assert not any("High-risk relapse timing" in x for x in ticks)
        after = page.locator(".tk-elig-count").first.inner_text()
        assert "What-if — switched off: High-risk relapse timing" in after and "Filter: Germany · site DE02" in after
        screenshot(page, f"{tag}_what_if")

        # a minimum above its maximum is refused with a message; the view stays as it was
        _set_number(page, "tk-elig-threshold-age_min_years", 20)
        msg = wait_for_text(page, ".tk-elig-rule-error", lambda x: "Not applied" in x)
        assert "Minimum age (20 years) is above Maximum age (18 years)" in msg
        assert page.locator(".tk-elig-count").first.inner_text() == after
        _set_number(page, "tk-elig-threshold-age_min_years", 1)
        page.wait_for_function("() => !document.querySelector('.tk-elig-rule-error')")

        # the CONSORT tab applies the what-if and says so; both arms fit without horizontal scrolling
        page.get_by_text("What-if: switch criteria off, move thresholds").first.click()  # fold the panel
        page.locator(f"{EXPLORER} .lm-TabBar-tab", has_text="CONSORT").first.click()
        page.wait_for_function(_title_has("WHAT-IF · CONSORT flow diagram (B1931036) — Germany · site DE02"))
        diagram = page.locator(f"{EXPLORER} .js-plotly-plot:has-text('Assessed for eligibility')").first
        diagram.scroll_into_view_if_needed()
        texts = bboxes(page, f"{EXPLORER} .js-plotly-plot .annotation-text")
        arms = [b for b in texts if b["text"].startswith("Allocated to")]
        assert len(arms) == 2
        right = visible_right_edge(page)
        assert all(b["x"] >= bbox(page, ".jp-NotebookPanel")["x"] and b["right"] <= right for b in arms), arms
        excluded = next(b["text"] for b in texts if b["text"].startswith("Excluded (n="))
        assert "◦ High-risk relapse timing" not in excluded  # a switched-off criterion is never listed
        assert horizontal_scrollers(page, f"{EXPLORER} .js-plotly-plot:has-text('Assessed for eligibility')") == [], \
            overflowing(page, EXPLORER)
        shot = ARTIFACTS / f"{tag}_consort.png"
        diagram.screenshot(path=str(shot))
        screenshot(page, f"{tag}_consort_page")

        # back to the protocol as written, all patients: more eligible when HR timing is off, fewer at 25 %
        page.get_by_text("What-if: switch criteria off, move thresholds").first.click()
        t = timed_update(page, lambda: page.locator(".tk-elig-reset").first.click(),
                         _title_starts("CONSORT flow diagram (B1931036) — Germany · site DE02"))
        record_timing(tag, "reset to protocol as written -> CONSORT redrawn", t)
        page.locator(".tk-elig-country select").first.select_option("(all)")
        assert _eligible(wait_for_text(page, ".tk-elig-count", lambda x: "±0 vs" in x and "Filter" not in x)) == n_before
        assert not [e for e in page.console_errors if "Traceback" in e]
