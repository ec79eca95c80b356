"""Tests of the randomization figures through fig.to_dict()."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest
from test_randomization_helpers import toy_study

import trialkit as tk
from trialkit.plots.randomization import (
    plot_allocation_by_site,
    plot_cumulative_allocation,
    plot_design_simulation,
    plot_smd,
)
from trialkit.randomization.monitoring import allocation_over_time


def _arr(v):
    """Plotly 7 stores numpy arrays in to_dict() as base64 typed arrays; decode them."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return out.reshape(v["shape"]) if "shape" in v and isinstance(v["shape"], list) else out
    return v


def _meta(fig, tag):
    return [{k: _arr(v) for k, v in t.items()} for t in fig.to_dict()["data"] if t.get("meta") == tag]


def test_cumulative_plot_has_band_observed_and_complete_lines():
    arms = ["InO", "InO", "ALLR3", "ALLR3", "InO", "InO"]
    cum = tk.cumulative_allocation(toy_study(arms), n_sim=200, seed=1)
    fig = plot_cumulative_allocation(cum)
    obs = _meta(fig, "observed")[0]
    np.testing.assert_allclose(obs["y"], [1 / 3, 2 / 3, 0, -2 / 3, -1 / 3, 0], atol=1e-12)
    assert obs["line"]["shape"] == "hv"
    band = _meta(fig, "scheme_band")[0]
    assert band["fill"] == "toself" and len(band["x"]) == 12
    assert len(_meta(fig, "complete_band")) == 2
    assert "N_InO" in fig.layout.yaxis.title.text and "ρ = 0.667" in fig.layout.title.text


def test_allocation_by_site_one_trace_per_arm_sites_in_order():
    arms = ["InO", "ALLR3", "InO", "InO"]
    sites = ["BE01", "AT01", "BE01", "CZ01"]
    frame = allocation_over_time(toy_study(arms, sites=sites))
    fig = plot_allocation_by_site(frame, arms=("ALLR3", "InO"))
    d = fig.to_dict()
    assert [t["meta"] for t in d["data"]] == ["ALLR3", "InO"]
    assert list(_meta(fig, "InO")[0]["y"]) == ["BE01", "BE01", "CZ01"]
    # sites by first randomization, top to bottom
    assert list(d["layout"]["yaxis"]["categoryarray"]) == ["CZ01", "AT01", "BE01"]


def test_smd_plot_marks_band_and_limits():
    df = pd.DataFrame({"arm": ["A"] * 3 + ["B"] * 3, "x": [1, 2, 3, 2, 3, 4.0], "c": list("abaabb")})
    bt = tk.balance_table(df, covariates=["x", "c"], reference="A")
    fig = plot_smd(bt, labels={"x": "X (units)"})
    smd = _meta(fig, "smd")[0]
    assert list(smd["y"]) == [0, 1] and list(fig.layout.yaxis.ticktext) == ["c", "X (units)"]
    assert list(smd["customdata"]) == ["c", "x"]  # the column name stays in the hover text
    assert smd["x"][1] == pytest.approx(1.0)  # (3 - 2) / sqrt((1 + 1)/2)
    band = _meta(fig, "chance_band")[0]
    assert band["x"][0] == pytest.approx(np.sqrt(1 / 3 + 1 / 3))
    # what the legend names is drawn over every row: the chance scale and the 0.1 convention, full height
    assert list(band["y"]) == [-0.5, 1.5] and list(_meta(fig, "convention")[0]["y"]) == [-0.5, 1.5]
    assert list(fig.layout.yaxis.range) == [-0.5, 1.5]
    assert "not a chance limit" in _meta(fig, "convention")[0]["name"]
    assert _meta(fig, "limit")[0]["x"][1] == pytest.approx(1.959964 * np.sqrt(2 / 3), rel=1e-5)
    # the legend sits above the plot (container coordinates), never over the x tick labels
    assert fig.layout.legend.yref == "container" and fig.layout.legend.yanchor == "top"
    assert fig.layout.legend.y > 0.5 and fig.layout.xaxis.tickformat == ".2f"


def test_design_simulation_plot_boxes_from_quantiles():
    p = tk.get_protocol("b1931036")
    w = pd.Series(1.0, index=p.site_table()["site_id"])
    sim = tk.simulate_design(w, protocol=p, n_patients=99, n_trials=300, seed=2,
                             schemes=["complete", tk.randomization.Scheme("blocks", block_sizes=(3,))])
    fig = plot_design_simulation(sim)
    final = _meta(fig, "final")[0]
    assert list(final["x"]) == ["complete randomization", "permuted blocks"]
    assert final["median"][1] == 0 and final["upperfence"][1] == 0  # blocks of 3, 99 patients
    assert final["median"][0] > 1
    assert len(_meta(fig, "max")) == 1
    ticks = fig.to_dict()["layout"]["xaxis"]["ticktext"]
    assert ticks == ["complete randomization", "permuted blocks"]  # 99 = 33 blocks of 3: none open
    from trialkit.plots.randomization import _wrap

    assert _wrap("protocol: stratified permuted blocks by age_group") == (
        "protocol: stratified<br>permuted blocks by<br>age_group")
