"""Site reports in a real browser: the index and a site page open offline in headless Chromium, the
plotly figures draw from the one shared plotly.js file, and nothing is fetched from the network.
Screenshots go to tests/_artifacts/reports_index.png and reports_site.png.
"""

from __future__ import annotations

import pytest

import trialkit as tk

pytestmark = pytest.mark.browser


def test_index_and_site_page_render_offline(demo_b1931036, tmp_path):
    from jupyter_browser import chromium_context, screenshot

    study = demo_b1931036
    per_site = study.randomization.groupby("site_id").size().sort_values(ascending=False)
    busiest = str(per_site.index[0])
    idle = next(s for s in study.sites["site_id"] if s not in per_site.index)  # no patient randomized
    run = tk.render_site_reports(study, sites=[busiest, idle], out=tmp_path, jobs=1, progress=False)
    assert run.ok, run.to_frame()["error"].tolist()

    with chromium_context(width=1300, height=1000) as ctx:
        external = []

        def block(route):
            if route.request.url.startswith("file://"):
                route.continue_()
            else:  # the report must not need the network
                external.append(route.request.url)
                route.abort()

        ctx.route("**/*", block)
        page = ctx.new_page()
        page.goto(run.index.as_uri())
        page.wait_for_selector("table.tk-index")
        assert page.locator("table.tk-index tbody tr").count() == 2
        screenshot(page, "reports_index")

        page.click(f'a[href="sites/{busiest}.html"]')
        page.wait_for_selector("#tk-consort .main-svg", timeout=30_000)
        page.wait_for_selector("#tk-pace .main-svg", timeout=30_000)
        assert page.evaluate("typeof window.Plotly") == "object"
        assert not page.locator("#tk-noplotly").is_visible()
        # the CONSORT diagram drew its boxes; the pace figure drew its lines
        assert page.locator("#tk-consort .shapelayer path, #tk-consort .layer-above path").count() > 0
        assert page.locator("#tk-pace .scatterlayer .trace").count() >= 2
        screenshot(page, "reports_site")

        page.goto((run.out / "sites" / f"{idle}.html").as_uri())
        page.wait_for_selector("#tk-consort .main-svg", timeout=30_000)
        screenshot(page, "reports_site_not_randomized")
        assert external == []
