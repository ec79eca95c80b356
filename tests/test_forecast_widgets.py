"""The forecast explorer's wiring, driven without a browser, on the B1931036 demo study."""

from __future__ import annotations

import pandas as pd
import pytest

from trialkit.errors import TrialkitError
from trialkit.widgets.forecast import (
    compute_backtest,
    compute_view,
    explorer_options,
    forecast_explorer,
    on_control_change,
    on_run_backtest,
    refresh,
    render_view,
)


def test_options(demo_b1931036):
    opts = explorer_options(demo_b1931036)
    assert opts["as_of"][0] == "2026-06-30" and opts["as_of"][1] == "2026-05-31"
    assert opts["target"] == 100 and opts["endpoint"] == ["EFS", "OS"]
    efs = int(demo_b1931036.outcomes.loc[demo_b1931036.outcomes["endpoint"] == "EFS", "event"].sum())
    assert opts["target_events"]["EFS"] == -(-5 * efs // 4)
    assert opts["model"] == ["weibull", "piecewise"]


def test_options_without_planned_enrollment(demo_aall1732):
    assert explorer_options(demo_aall1732)["target"] == -(-3 * len(demo_aall1732.randomization) // 2)


def test_compute_view_and_render(demo_b1931036):
    view = compute_view(demo_b1931036, as_of="2025-12-31", target=100, new_sites=5, opening_rate=1.0,
                        model="piecewise", endpoint="EFS", target_events=60, n_sims=500)
    assert view.errors == ()
    assert view.accrual.as_of == pd.Timestamp("2025-12-31") and view.accrual.summary["sites_to_open"].iloc[0] == 5
    assert view.events.model == "piecewise" and view.events.accrual_target == 100
    html = render_view(view)
    assert "Accrual forecast to 100 as of 2025-12-31" in html["accrual"] and "pooled over arms" in html["events"]
    assert html["errors"] == ""
    assert view.accrual_figure is not None and view.site_figure is not None and view.event_figure is not None


def test_a_part_that_fails_leaves_its_message(demo_b1931036):
    view = compute_view(demo_b1931036, as_of="2023-05-31", target=100, endpoint="EFS", target_events=10, n_sims=300)
    assert view.accrual is None and view.accrual_figure is None
    assert any(e.startswith("accrual: no patient had been randomized by 2023-05-31") for e in view.errors)
    assert "no patient had been randomized" in render_view(view)["errors"]


@pytest.mark.slow  # several seconds without a kernel: in `make test`, not `make test-fast`
def test_explorer_callbacks(demo_b1931036, capsys):
    ex = forecast_explorer(demo_b1931036, n_sims=300)
    assert "as of 2026-06-30 · target 100" in ex.outputs["status"].value
    ex.controls["as_of"].value = "2025-12-31"  # the observer redraws
    assert ex.view.accrual.as_of == pd.Timestamp("2025-12-31")
    assert "as of 2025-12-31" in ex.outputs["status"].value
    ex.controls["endpoint"].value = "OS"  # resets the target events to the endpoint's default, one redraw
    assert ex.controls["target_events"].value == ex.options["target_events"]["OS"]
    assert ex.view.events.endpoint == "OS" and ex.view.events.target_events == ex.options["target_events"]["OS"]
    on_control_change(ex, {"name": "value", "new": 1, "old": 1})  # no change: nothing happens
    view = refresh(ex)
    assert view is ex.view
    bt = on_run_backtest(ex)
    assert bt.accrual.kind == "accrual" and bt.events.kind == "events" and len(bt.figures) == 2
    assert ex.backtest is bt


def test_compute_backtest_without_endpoint(demo_b1931036):
    bt = compute_backtest(demo_b1931036, endpoint=None, n_sims=300)
    assert bt.events is None and len(bt.figures) == 1


def test_explorer_needs_randomized_patients(demo_b1931036):
    empty = demo_b1931036.replace(randomization=demo_b1931036.randomization.iloc[:0])
    with pytest.raises(TrialkitError, match="no randomized patient yet"):
        forecast_explorer(empty)


@pytest.mark.parametrize("data, kwargs, message", [
    ("frame", {}, "forecast_explorer needs a Study \\(tk.load_study\\), not DataFrame"),
    ("study", {"n_sims": "many"}, "n_sims must be a whole number"),
    ("study", {"n_sims": 0}, "n_sims must be a whole number >= 100, not 0"),
    ("study", {"seed": -3}, "seed must be a whole number >= 0"),
])
def test_explorer_bad_arguments(demo_b1931036, data, kwargs, message):
    arg = demo_b1931036.randomization.head(3) if data == "frame" else demo_b1931036
    with pytest.raises(TrialkitError, match=message):
        forecast_explorer(arg, **kwargs)
