"""Eligibility figures, tested through ``fig.to_dict()``: traces, counts, labels and box texts."""

from __future__ import annotations

import pandas as pd
import pytest
from test_eligibility_flow import SIMPLE, simple_frame, small_b_study

import trialkit as tk
from trialkit.eligibility.funnel import compute_screen_failure_rates
from trialkit.errors import TrialkitError
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
    assert d["layout"]["xaxis"]["tickformat"] == ",d" and d["layout"]["xaxis"]["dtick"] == 1  # whole patients


def _texts(d, prefix):
    return {a["name"]: a["text"] for a in d["layout"]["annotations"] if str(a.get("name", "")).startswith(prefix)}


def test_consort_figure_boxes_counts_and_ratio():
    flow = tk.consort(small_b_study())
    d = plot_consort(flow).to_dict()
    texts = _texts(d, "box:")
    assert "Assessed for eligibility (n=8)" in texts["box:assessed"]
    assert "Excluded (n=4)" in texts["box:excluded"]
    assert "Not meeting inclusion criteria (n=1)" in texts["box:excluded"]
    # the protocol's label with the threshold in force; the id is in the hover text
    assert "◦ Marrow blasts ≥ 5 % (≥ M2) (n=1)" in texts["box:excluded"]
    assert "B_IN02_BLASTS" not in texts["box:excluded"]
    hover = {a["name"]: a.get("hovertext", "") for a in d["layout"]["annotations"]}
    assert "Marrow blasts ≥ 5 % (≥ M2) = B_IN02_BLASTS: Marrow blasts >= 5 % (>= M2)" in hover["box:excluded"]
    assert "Randomized (n=4)" in texts["box:randomized"]
    assert "allocation ratio 2:1 InO:ALLR3" in texts["box:randomized"]
    # arms in protocol (dose) order: control first, one column each
    # the arm's one name (as in every view), its protocol description under it
    assert "Allocated to ALLR3 (n=1)</b><br>ALLR3 chemotherapy" in texts["box:allocated:ALLR3"]
    assert "Allocated to InO (n=3)</b><br>Inotuzumab ozogamicin" in texts["box:allocated:InO"]
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
    # ranked dots: France 2 of 3 evaluable (67 %) above Spain 1 of 3 (33 %), denominators shown
    d = plot_screen_failure_rates(r, filters="screened 2024").to_dict()
    dots = next(t for t in d["data"] if t["meta"] == "rate")
    assert list(dots["y"]) == ["France (n=3)", "Spain (n=4)"]
    assert list(dots["text"]) == ["2/3", "1/3"]
    assert dots["x"] == pytest.approx([2 / 3, 1 / 3])
    line = next(sh for sh in d["layout"]["shapes"] if sh.get("name") == "overall")
    assert line["x0"] == pytest.approx(3 / 6) and (line["y0"], line["y1"]) == (0, 1)  # over every row
    assert d["layout"]["title"]["text"] == "Screen-failure rate by country — screened 2024"
    # small multiples: one panel per country (most screened first) over calendar time, the overall rate
    # dashed in each
    p = plot_screen_failure_rates(r, layout="panels").to_dict()
    assert [t["meta"] for t in p["data"]] == ["overall", "Spain", "overall", "France"]
    assert list(p["data"][0]["y"]) == [1 / 3, 2 / 3]  # Q1: 1 of 3 determined; Q2: 2 of 3
    assert [a["text"] for a in p["layout"]["annotations"]] == ["Spain (n=4)", "France (n=3)"]
    hd = plot_screen_failure_rates(site).to_dict()
    assert hd["data"][0]["type"] == "heatmap" and list(hd["data"][0]["y"]) == ["S1", "S2"]
    assert hd["data"][0]["z"][1][0] == 0.0


def test_screen_failure_rates_top_n_pools_the_rest_as_other():
    countries = [f"C{i:02d}" for i in range(15)]
    rates = pd.DataFrame({"country": countries, "period": pd.Timestamp("2024-01-01"),
                          "screened": list(range(15, 0, -1)), "failed": [1] * 15, "undetermined": [0] * 15})
    rates["rate"] = rates["failed"] / rates["screened"]
    d = plot_screen_failure_rates(rates, top=5).to_dict()
    dots = next(t for t in d["data"] if t["meta"] == "rate")
    assert len(dots["y"]) == 6 and "other (10 countries) (n=55)" in dots["y"]  # 10 + 9 + ... + 1
    assert "10/55" in dots["text"]  # pooled counts, nothing dropped
    with pytest.raises(TrialkitError, match="layout="):
        plot_screen_failure_rates(rates, layout="lines")


def test_screen_failure_rates_errors():
    import pytest

    from trialkit.errors import ProtocolError

    with pytest.raises(ProtocolError, match="by="):
        compute_screen_failure_rates(_rates_frame(), by="region", source="site")
    with pytest.raises(ProtocolError, match="source="):
        compute_screen_failure_rates(_rates_frame(), source="guess")
    with pytest.raises(ProtocolError, match="screening_date"):
        compute_screen_failure_rates(_rates_frame().drop(columns="screening_date"), source="site")


def test_funnel_figure_adds_up_bar_by_bar_and_names_its_state(demo_aall1732, demo_b1931036):
    """Every bar is what the bar above it left (post-enrollment included), and the title's counts are the
    bars' (the AALL1732 MPAL bar entered 247 while the bar above left 268)."""
    fun = tk.funnel(demo_aall1732)
    d = plot_funnel(fun).to_dict()
    x = {t["meta"]: [int(v) for v in t["x"]] for t in d["data"]}
    total = [k + u + e for k, u, e in zip(x["known"], x["unknown"], x["excluded"])]
    left = [k + u for k, u in zip(x["known"], x["unknown"])]
    assert total[1:] == left[:-1]
    assert total[-1] == 268 and left[-1] == 266 and x["excluded"][-1] == 2
    head = d["layout"]["title"]["text"]
    assert "400 screened → 247 eligible, 132 excluded, 21 undetermined; after enrollment 2 off protocol" in head
    assert list(d["data"][0]["y"])[-1].replace("<br>", " ") == (
        "MPAL centrally confirmed within 7 business days (after enrollment)")
    assert any(sh.get("name") == "enrollment" for sh in d["layout"]["shapes"])
    # a small segment: its number outside the bar, never squeezed inside
    small = [a for a in d["layout"]["annotations"] if a["name"].startswith("outside:")]
    assert "−2 excluded" in small[-1]["text"] and d["data"][2]["text"][-1] == ""
    assert d["data"][2]["textangle"] == 0
    # a what-if under a filter: marker, threshold in use, filter in the title
    res = tk.evaluate_eligibility(demo_b1931036, thresholds={"blasts_min_pct": 25}, disabled=["B_IN02_HR_TIMING"])
    w = plot_funnel(tk.funnel(res), filters="Germany · site DE02").to_dict()
    title = w["layout"]["title"]["text"]
    assert title.startswith("WHAT-IF · Screening funnel (B1931036) — Germany · site DE02")
    assert "Marrow blasts ≥ 25 % (≥ M2)" in list(w["data"][0]["y"])
    # the changes in the title's orange lines (from the figure's left edge) and a WHAT-IF badge on the plot
    lines = title.split("<br>")
    assert lines[2].startswith("<span") and "<b>What-if</b> — switched off: High-risk relapse timing" in lines[2]
    assert "Marrow blasts ≥ 25 % (protocol 5 %)" in title and w["layout"]["title"]["xref"] == "container"
    badge = next(a for a in w["layout"]["annotations"] if a["name"] == "what_if")
    assert badge["text"] == "<b>WHAT-IF</b>" and "Marrow blasts ≥ 25 % (protocol 5 %)" in badge["hovertext"]
    assert not [a for a in d["layout"]["annotations"] if a["name"] == "what_if"]


def test_consort_figure_of_a_what_if_says_so(demo_b1931036, demo_aall1732):
    res = tk.evaluate_eligibility(demo_b1931036, disabled=["B_IN02_HR_TIMING"])
    d = plot_consort(tk.consort(demo_b1931036, eligibility=res), filters="Germany").to_dict()
    title = d["layout"]["title"]["text"]
    assert title.split("<br>")[0] == "WHAT-IF · CONSORT flow diagram (B1931036) — Germany"
    assert "switched off: High-risk relapse timing" in title
    assert "switched off: High-risk relapse timing" in next(
        a for a in d["layout"]["annotations"] if a["name"] == "what_if")["hovertext"]
    excluded = _texts(d, "box:excluded")["box:excluded"]
    # the switched-off criterion is never a reason; the site's record of it says it is switched off
    assert "◦ High-risk relapse timing" not in excluded
    assert "— switched off in this what-if" in excluded.replace("<br>    ", " ").replace("<br>", " ")
    # the AALL1732 MPAL patients: once, under off protocol after enrollment
    fu = _texts(plot_consort(tk.consort(demo_aall1732)).to_dict(),
                "box:follow_up")
    assert all("off protocol: MPAL" not in t for t in fu.values())
    assert all("Off protocol after enrollment (n=1)" in t for t in fu.values())
