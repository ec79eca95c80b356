"""Figures of survival results, tested through fig.to_dict() (traces, groups, axes, labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit.outcomes as tko
from trialkit.plots.outcomes import plot_forest, plot_km

DATA = pd.DataFrame({"subject_id": [f"s{i}" for i in range(8)], "time_days": [1.0, 2, 3, 4, 5, 6, 7, 8],
                     "event": [1, 0, 1, 1, 0, 1, 0, 1], "arm": ["A", "B"] * 4,
                     "sex": ["F", "F", "M", "M", "F", "M", "F", "M"]})


def arr(v):
    """Plotly 7 serialises numeric arrays as typed arrays ({"dtype", "bdata"}); decode them."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return out.reshape(v["shape"]) if "shape" in v and isinstance(v["shape"], (list, tuple)) else out
    return np.asarray(v, dtype=float)


@pytest.fixture(scope="module")
def fig_dict():
    return plot_km(tko.km(DATA, times=[0, 4, 8]), annotation="log-rank p = 0.5").to_dict()


def test_km_traces_per_arm_share_a_legend_group(fig_dict):
    data = fig_dict["data"]
    assert [(t["meta"], t["legendgroup"]) for t in data] == [
        ("band", "A"), ("band", "A"), ("curve", "A"), ("censor", "A"), ("risk", "A"),
        ("band", "B"), ("band", "B"), ("curve", "B"), ("censor", "B"), ("risk", "B")]
    # only the curves appear in the legend; clicking one hides its band, ticks and at-risk row
    assert [t["name"] for t in data if t.get("showlegend", True)] == ["A", "B"]


def test_km_curve_is_a_step_function_with_hover_values(fig_dict):
    a = fig_dict["data"][2]
    assert a["line"]["shape"] == "hv"
    # arm A: times 1 (event), 3 (event), 5 (censored), 7 (censored): S = 1, 3/4, 1/2, 1/2, 1/2
    np.testing.assert_allclose(arr(a["x"]), [0, 1, 3, 5, 7])
    np.testing.assert_allclose(arr(a["y"]), [1, 0.75, 0.5, 0.5, 0.5])
    assert "at risk %{customdata[0]}" in a["hovertemplate"]
    assert fig_dict["data"][1]["fill"] == "tonexty"


def test_km_censor_ticks_at_censoring_times(fig_dict):
    cens = fig_dict["data"][3]
    np.testing.assert_allclose(arr(cens["x"]), [5, 7])
    assert cens["marker"]["symbol"] == "line-ns-open"


def test_km_risk_table_shares_the_x_axis(fig_dict):
    risk_a = fig_dict["data"][4]
    assert risk_a["xaxis"] == "x2" and risk_a["yaxis"] == "y2"
    assert list(risk_a["text"]) == ["4", "2", "0"]  # arm A at risk at 0, 4, 8
    assert list(fig_dict["data"][9]["text"]) == ["4", "3", "1"]  # arm B: times 2, 4, 6, 8 (at risk: time >= t)
    lay = fig_dict["layout"]
    assert lay["xaxis"]["matches"] == "x2"  # zoom on the curves moves the table with them
    assert lay["yaxis2"]["categoryarray"] == ["B", "A"]  # first arm on top
    assert lay["xaxis2"]["title"]["text"] == "Time (days)"
    assert "log-log" in lay["title"]["text"]
    assert lay["annotations"][0]["text"] == "log-rank p = 0.5"


def test_km_without_table_or_bands():
    d = plot_km(tko.km(DATA, conf_type="log"), ci=False, risk_table=False).to_dict()
    assert {t["meta"] for t in d["data"]} == {"curve", "censor"}
    assert "xaxis2" not in d["layout"]
    assert "R survival default" in d["layout"]["title"]["text"]


def test_forest_rows_labels_and_reference_line():
    table = pd.DataFrame({
        "subgroup": ["All", "sex", "sex"], "level": ["All", "F", "M"], "comparison": ["B vs A"] * 3,
        "n": [8, 4, 4], "events": [5, 2, 3], "hr": [0.5, 0.8, np.nan], "lower": [0.2, 0.1, np.nan],
        "upper": [1.25, 6.4, np.nan], "p_interaction": [np.nan, 0.42, np.nan], "note": ["", "", "not estimable"]})
    d = plot_forest(table).to_dict()
    (tr,) = d["data"]
    assert tr["name"] == "B vs A" and tr["meta"] == "hr"
    np.testing.assert_allclose(arr(tr["error_x"]["array"]), [0.75, 5.6, np.nan])
    lay = d["layout"]
    assert lay["xaxis"]["type"] == "log"
    # a row that cannot be estimated is listed as such, with its reason, not drawn as an empty row
    assert lay["yaxis"]["ticktext"] == ["All subjects (8, 5 ev)", "sex: F (4, 2 ev)", "sex: M (4, 3 ev) — NE"]
    assert [a["text"] for a in lay["annotations"]] == ["0.50 (0.20–1.25)", "0.80 (0.10–6.40)   p-int 0.420",
                                                       "not estimable"]
    assert lay["shapes"][0]["x0"] == 1
    # readable log ticks over the intervals' range (0.1 to 6.4)
    assert lay["xaxis"]["tickvals"] == [0.1, 0.2, 0.5, 1, 2, 5] and lay["xaxis"]["ticktext"][0] == "0.1"


def test_forest_rows_once_with_protocol_labels_and_reasons():
    table = pd.DataFrame({
        "subgroup": ["All", "age_band", "age_band", "age_band"], "level": ["All", "1 to <10 years", "1 to <10 years",
                                                                         "18 to <25 years"],
        "comparison": ["B vs A"] * 4, "n": [8, 5, 5, 3], "events": [5, 3, 3, 0], "hr": [0.5, 0.8, 0.8, np.nan],
        "lower": [0.2, 0.3, 0.3, np.nan], "upper": [1.25, 2.0, 2.0, np.nan], "p_interaction": [np.nan] * 4,
        "note": ["", "", "", "not estimable (no events or a single arm); 3 subject(s)"]})
    d = plot_forest(table, labels={"age_band": "Age band"}).to_dict()
    assert d["layout"]["yaxis"]["ticktext"] == ["All subjects (8, 5 ev)", "Age band: 1 to <10 years (5, 3 ev)",
                                                "Age band: 18 to <25 years (3, 0 ev) — NE"]
    assert d["layout"]["annotations"][-1]["text"] == "not estimable (no events or a single arm)"
    assert len(d["data"][0]["y"]) == 3  # the duplicated row is drawn once


def test_forest_from_cox_subgroups_two_comparisons():
    three = pd.concat([DATA, DATA.assign(arm="C", subject_id=lambda d: d["subject_id"] + "c")], ignore_index=True)
    res = tko.cox_subgroups(three, subgroups=["sex"], reference="A")
    d = plot_forest(res).to_dict()
    assert [t["name"] for t in d["data"]] == ["B vs A", "C vs A"]
    assert len(d["layout"]["yaxis"]["ticktext"]) == 3
