"""Eligibility figures, tested through ``fig.to_dict()``: traces, counts, labels and box texts."""

from __future__ import annotations

import pandas as pd
from test_eligibility_flow import SIMPLE, simple_frame, small_b_study

import trialkit as tk
from trialkit.eligibility.funnel import compute_screen_failure_rates
from trialkit.plots.eligibility import plot_consort, plot_funnel, plot_screen_failure_rates


def test_funnel_figure_bars_match_the_funnel():
    f = tk.funnel(simple_frame(), criteria=SIMPLE)
    d = plot_funnel(f).to_dict()
    traces = {t["meta"]: t for t in d["data"]}
    assert list(traces["known"]["y"]) == ["Screened", "BLASTS", "PH"]
    # screened 6; BLASTS: 3 known + 1 unknown remain, 2 excluded; PH: 1 known + 2 unknown remain, 1 excluded
    assert list(traces["known"]["x"]) == [6, 3, 1]
    assert list(traces["unknown"]["x"]) == [0, 1, 2]
    assert list(traces["excluded"]["x"]) == [0, 2, 1]
    assert d["layout"]["barmode"] == "stack"
    assert "6 screened → 1 eligible, 3 excluded, 2 undetermined" in d["layout"]["title"]["text"]
    assert f.figure().to_dict()["data"][0]["meta"] == "known"


def _texts(d, prefix):
    return {a["name"]: a["text"] for a in d["layout"]["annotations"] if str(a.get("name", "")).startswith(prefix)}


def test_consort_figure_boxes_counts_and_ratio():
    flow = tk.consort(small_b_study())
    d = plot_consort(flow).to_dict()
    texts = _texts(d, "box:")
    assert "Assessed for eligibility (n=8)" in texts["box:assessed"]
    assert "Excluded (n=4)" in texts["box:excluded"]
    assert "Not meeting inclusion criteria (n=1)" in texts["box:excluded"]
    assert "B_IN02_BLASTS: Marrow blasts >= 5 % (>= M2) (n=1)" in texts["box:excluded"]
    assert "Randomized (n=4)" in texts["box:randomized"]
    assert "allocation ratio 2:1 InO:ALLR3" in texts["box:randomized"]
    # arms in protocol (dose) order: control first, one column each
    assert "Allocated to ALLR3 chemotherapy (n=1)" in texts["box:allocated:ALLR3"]
    assert "Allocated to Inotuzumab ozogamicin (n=3)" in texts["box:allocated:InO"]
    assert "planned share 2/3" in texts["box:allocated:InO"]
    assert "received ALLR3 instead (n=1)" in texts["box:allocated:InO"]
    assert "Lost to follow-up (n=1)" in texts["box:follow_up:ALLR3"]
    assert "Discontinued intervention (n=1)" in texts["box:follow_up:InO"]
    assert "Analysed (n=3)" in texts["box:analysed:InO"]
    names = [s.get("name") for s in d["layout"]["shapes"]]
    assert names.count("box:allocated:InO") == 1 and names.count("arrow") >= 7
    x0 = {s["name"]: s["x0"] for s in d["layout"]["shapes"] if s.get("name", "").startswith("box:allocated")}
    assert x0["box:allocated:ALLR3"] < x0["box:allocated:InO"]
    assert {a["name"] for a in d["layout"]["annotations"] if a["name"].startswith("stage:")} == {
        "stage:Enrollment", "stage:Allocation", "stage:Follow-Up", "stage:Analysis"}
    assert flow.figure().to_dict()["layout"]["title"]["text"] == "CONSORT flow diagram (B1931036)"


def _rates_frame():
    return pd.DataFrame({
        "subject_id": list("abcdefg"),
        "site_id": ["S1", "S1", "S1", "S2", "S2", "S2", "S2"],
        "country": ["France", "France", "France", "Spain", "Spain", "Spain", "Spain"],
        "screening_date": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-04-02", "2024-01-10", "2024-01-11",
                                          "2024-05-01", "2024-05-02"]),
        "marrow_blasts_pct": pd.array([40.0, 2.0, 3.0, 9.0, None, 1.0, 50.0], dtype="Float64"),
        "ph_positive": pd.array([False] * 7, dtype="boolean"),
        "screening_outcome": pd.array(["eligible", "screen failure", "screen failure", "eligible", None,
                                       "screen failure", "declined"], dtype="string"),
    })


def test_screen_failure_rates_by_country_and_site():
    res = tk.evaluate_eligibility(_rates_frame(), criteria=SIMPLE)
    r = compute_screen_failure_rates(res, by="country", freq="QS")
    # France Q1: a eligible, b fails -> 1/2; Q2: c fails -> 1/1. Spain Q1: d eligible, e unknown -> 0/1;
    # Q2: f fails, g eligible -> 1/2
    assert r[["country", "screened", "failed", "undetermined"]].values.tolist() == [
        ["France", 2, 1, 0], ["France", 1, 1, 0], ["Spain", 2, 0, 1], ["Spain", 2, 1, 0]]
    assert r["rate"].tolist() == [0.5, 1.0, 0.0, 0.5]
    site = compute_screen_failure_rates(_rates_frame(), by="site_id", source="site", freq="QS")
    # site verdicts: S2 Q1: d eligible, e empty (undetermined) -> 0/1; Q2: f failure, g declined -> 1/2
    assert site["rate"].tolist() == [0.5, 1.0, 0.0, 0.5]
    d = plot_screen_failure_rates(r).to_dict()
    metas = [t["meta"] for t in d["data"]]
    assert metas == ["France", "Spain", "overall"]
    overall = d["data"][2]
    assert list(overall["y"]) == [1 / 3, 2 / 3]  # Q1: 1 of 3 determined; Q2: 2 of 3
    hd = plot_screen_failure_rates(site).to_dict()
    assert hd["data"][0]["type"] == "heatmap" and list(hd["data"][0]["y"]) == ["S1", "S2"]
    assert hd["data"][0]["z"][1][0] == 0.0


def test_screen_failure_rates_errors():
    import pytest

    from trialkit.errors import ProtocolError

    with pytest.raises(ProtocolError, match="by="):
        compute_screen_failure_rates(_rates_frame(), by="region", source="site")
    with pytest.raises(ProtocolError, match="source="):
        compute_screen_failure_rates(_rates_frame(), source="guess")
    with pytest.raises(ProtocolError, match="screening_date"):
        compute_screen_failure_rates(_rates_frame().drop(columns="screening_date"), source="site")
