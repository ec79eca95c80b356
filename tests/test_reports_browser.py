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


def test_one_page_of_each_audience_at_1280_and_1440(demo_b1931036, tmp_path):
    """A site page, the study page and the dsmb page in Chromium at 1280 and 1440 px: figures drawn,
    nothing wider than the window, the dsmb banner in view at the top and after scrolling, no network.
    Screenshots: tests/_artifacts/reports_<audience>_<width>.png."""
    from jupyter_browser import chromium_context, screenshot

    study = demo_b1931036
    busiest = str(study.randomization["site_id"].value_counts().index[0])
    runs = {"site": tk.render_reports(study, sites=[busiest], out=tmp_path / "site", jobs=1, progress=False),
            "study": tk.render_reports(study, audience="study", out=tmp_path / "study", jobs=1, progress=False),
            "dsmb": tk.render_reports(study, audience="dsmb", out=tmp_path / "dsmb", jobs=1, progress=False)}
    figures = {"site": ["#tk-consort", "#tk-pace"], "study": ["#tk-enrollment", "#tk-allocation"],
               "dsmb": ["#tk-consort", "#tk-km-efs", "#tk-km-os"]}
    for audience, run in runs.items():
        assert run.ok, run.to_frame()["error"].tolist()
        for width in (1280, 1440):
            with chromium_context(width=width, height=900) as ctx:
                external = []

                def block(route, external=external):
                    if route.request.url.startswith("file://"):
                        route.continue_()
                    else:
                        external.append(route.request.url)
                        route.abort()

                ctx.route("**/*", block)
                page = ctx.new_page()
                page.goto(run.results[0].path.as_uri())
                for sel in figures[audience]:
                    page.wait_for_selector(f"{sel} .main-svg", timeout=30_000)
                assert not page.locator("#tk-noplotly").is_visible()
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{audience} page is {overflow} px wider than a {width} px window"
                banner = page.locator("body > .tk-closed").first
                if audience == "dsmb":
                    assert banner.is_visible() and banner.bounding_box()["y"] == 0
                    page.mouse.wheel(0, 3000)
                    page.wait_for_timeout(200)
                    assert banner.bounding_box()["y"] == 0  # sticky: still at the top of the window
                    page.mouse.wheel(0, -3000)
                else:
                    assert page.locator(".tk-closed").count() == 0
                screenshot(page, f"reports_{audience}_{width}")
                assert external == []
