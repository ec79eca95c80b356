"""The eligibility explorer's callbacks, called without a browser on the committed demo studies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.widgets import eligibility as we


@pytest.fixture()
def explorer(demo_b1931036, demo_aall1732, tmp_path, monkeypatch):
    monkeypatch.setattr(we, "show_figure", lambda *a, **k: None)  # no rendering needed to test the wiring
    return we.eligibility_explorer({"b1931036": demo_b1931036, "aall1732": demo_aall1732},
                                   export_dir=str(tmp_path))


def _eligible(study, **kw) -> int:
    return int(tk.evaluate_eligibility(study, **kw).eligible.eq(True).sum())


def test_initial_view_is_the_protocol_as_written(explorer, demo_b1931036):
    v = explorer.last["view"]
    assert v.screened == len(demo_b1931036.screening)
    assert v.eligible == _eligible(demo_b1931036) and v.delta == 0
    assert "Protocol as written" in explorer.w["count"].value
    assert f"Eligible: {v.eligible:,}" in explorer.w["count"].value
    assert v.consort is not None and v.consort.n("assessed") == v.screened


def test_threshold_change_updates_count_and_delta(explorer, demo_b1931036):
    before = explorer.last["view"].eligible
    explorer.thresholds["blasts_min_pct"].value = 50.0  # fires on_rule_change
    v = explorer.last["view"]
    assert v.eligible == _eligible(demo_b1931036, thresholds={"blasts_min_pct": 50.0})
    assert v.eligible_as_written == before and v.delta == v.eligible - before
    # the what-if in the protocol's words, with the protocol's value beside it
    assert "Marrow blasts ≥ 50 % (protocol 5 %)" in explorer.w["count"].value
    assert explorer.switches["B_IN02_BLASTS"].description == "Marrow blasts ≥ 50 % (≥ M2)"
    assert explorer.state()["thresholds"] == {"blasts_min_pct": 50.0}


def test_switch_off_and_reset(explorer, demo_b1931036):
    explorer.switches["B_IN02_HR_TIMING"].value = False
    v = explorer.last["view"]
    assert v.eligible == _eligible(demo_b1931036, disabled=["B_IN02_HR_TIMING"])
    assert v.delta > 0
    assert "B_IN02_HR_TIMING" not in v.result.criterion_ids
    we.on_reset(explorer)
    assert explorer.last["view"].delta == 0
    assert all(cb.value for cb in explorer.switches.values())


def test_country_filter_restricts_rows_and_site_choices(explorer, demo_b1931036):
    explorer.w["country"].value = "France"
    v = explorer.last["view"]
    sites = demo_b1931036.sites.set_index("site_id")["country"]
    in_fr = demo_b1931036.screening["site_id"].map(sites).eq("France")
    assert v.screened == int(in_fr.sum())
    assert set(explorer.w["site"].options) - {we.ALL} == set(demo_b1931036.screening.loc[in_fr, "site_id"])
    assert v.consort.n("assessed") == v.screened


def test_date_filter_and_filter_mask(demo_b1931036):
    d = pd.to_datetime(demo_b1931036.screening["screening_date"])
    cut = d.sort_values().iloc[len(d) // 2]
    mask = we.filter_mask(demo_b1931036, date_to=cut.date())
    assert mask.sum() == int((d <= cut).sum())
    assert we.filter_mask(demo_b1931036, country="Nowhere").sum() == 0
    sub = we.filter_study(demo_b1931036, mask)
    assert set(sub.randomization["subject_id"]) <= set(sub.screening["subject_id"])


def test_compute_view_without_widgets(demo_b1931036):
    prep = tk.eligibility.prepare_screening(demo_b1931036)
    mask = np.zeros(len(demo_b1931036.screening), bool)
    mask[:50] = True
    v = we.compute_view(demo_b1931036, prep, mask=mask, disabled=["B_IN01_AGE"])
    assert v.screened == 50
    assert v.eligible_as_written == int(tk.evaluate_eligibility(
        demo_b1931036.screening.iloc[:50], protocol="b1931036").eligible.eq(True).sum())
    assert v.funnel.totals["screened"] == 50
    assert "eligible-count" in v.headline_html()


def test_export_this_view_writes_the_visible_table_and_figure(explorer, tmp_path):
    explorer.w["country"].value = "Germany"
    paths = we.on_export(explorer)  # the funnel tab: its table and figure
    assert [p.name for p in paths] == ["b1931036_funnel_Germany.csv", "b1931036_funnel_Germany.html"]
    got = pd.read_csv(paths[0])
    assert got["entering"].iloc[0] == explorer.last["view"].screened
    html = paths[1].read_text(encoding="utf-8")
    assert "Screening funnel (B1931036) \\u2014 Germany" in html  # the state in the title (JSON-escaped dash)
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # offline: plotly.js inside
    explorer.w["tabs"].selected_index = 2
    explorer.w["export_format"].value = "xlsx"
    explorer.thresholds["blasts_min_pct"].value = 25.0
    (xlsx,) = we.on_export(explorer)  # the exclusion list: a table, no figure; the state in its name
    assert xlsx.name == "b1931036_exclusion-list_Germany_what-if.xlsx"
    back = pd.read_excel(xlsx, header=2)
    assert len(back) == len(explorer.last["view"].exclusions) and set(back["first_excluding"]) == {True}
    caption = pd.read_excel(xlsx, header=None).iat[0, 0]
    assert "Germany" in caption and "WHAT-IF: Marrow blasts ≥ 25 % (protocol 5 %)" in caption
    assert "Wrote" in explorer.w["export_status"].value


def test_export_to_a_missing_folder_is_reported(explorer, tmp_path):
    explorer.export_dir = str(tmp_path / "nope")
    assert we.on_export(explorer) == []
    assert "Not written" in explorer.w["export_status"].value and "does not exist" in explorer.w["export_status"].value


def test_a_minimum_above_its_maximum_is_refused(explorer, demo_b1931036):
    before = explorer.last["view"]
    explorer.thresholds["age_min_years"].value = 20.0  # above the maximum age (18)
    assert explorer.last["view"] is before  # not applied
    assert "Not applied" in explorer.w["rule_error"].value
    assert "Minimum age (20 years) is above Maximum age (18 years)" in explorer.w["rule_error"].value
    explorer.thresholds["age_min_years"].value = 2.0
    assert explorer.w["rule_error"].value == "" and explorer.last["view"] is not before
    # bounded inputs: the unit is in the description, the range from the protocol's label dictionary
    box = explorer.thresholds["blasts_min_pct"]
    assert (box.min, box.max, box.step) == (0.0, 100.0, 1.0) and box.description == "Minimum marrow blasts (%)"
    box.value = 250.0
    assert box.value == 100.0  # clamped to the allowed range


def test_signals_name_randomized_patients_the_rules_exclude(explorer, demo_b1931036):
    v = explorer.last["view"]
    res = tk.evaluate_eligibility(demo_b1931036)
    rnd = demo_b1931036.screening["subject_id"].isin(demo_b1931036.randomization["subject_id"]).to_numpy()
    expected = sorted(np.asarray(res.subject_ids)[rnd & res.eligible.eq(False).fillna(False).to_numpy(bool)])
    assert sorted(v.randomized_excluded) == expected
    banner = explorer.w["signals"].value
    if expected:
        assert f"{len(expected)} randomized patient(s) excluded by the rules under the protocol as written" in banner
        assert banner.index("tk-signal-alert") < banner.index("tk-signal-watch")  # the major finding first


def test_titles_carry_filter_and_what_if(demo_b1931036, monkeypatch):
    shown = []
    monkeypatch.setattr(we, "show_figure", lambda out, fig, html=None: shown.append(fig))
    ex = we.eligibility_explorer(demo_b1931036)
    ex.w["country"].value = "Germany"
    ex.w["site"].value = "DE02"
    ex.switches["B_IN02_HR_TIMING"].value = False
    ex.thresholds["blasts_min_pct"].value = 25.0
    title = shown[-1].layout.title.text
    assert title.startswith("WHAT-IF · Screening funnel (B1931036) — Germany · site DE02")
    marker = next(a for a in shown[-1].layout.annotations if a.name == "what_if").hovertext
    assert "High-risk relapse timing" in marker and "Marrow blasts ≥ 25 % (protocol 5 %)" in marker
    # what was switched off and what was moved are told apart (a moved threshold still applies)
    assert marker.index("switched off: High-risk relapse timing") < marker.index("changed: Marrow blasts ≥ 25 %")
    assert "Marrow blasts ≥ 25 % (protocol 5 %)" in title
    ex.w["tabs"].selected_index = 1
    assert shown[-1].layout.title.text.startswith("WHAT-IF · CONSORT flow diagram (B1931036) — Germany · site DE02<br>")
    ex.w["tabs"].selected_index = 3
    assert "Germany · site DE02 · WHAT-IF: switched off" in shown[-1].layout.title.text
    assert we.filter_text(demo_b1931036, country="Germany", date_from="2024-01-01") == (
        "Germany · screened from 2024-01-01")


def test_protocol_change_rebuilds_rule_controls(explorer):
    explorer.w["protocol"].value = "aall1732"
    assert "A_IN02_WBC" in explorer.switches and "B_IN01_AGE" not in explorer.switches
    assert "wbc_min_per_ul" in explorer.thresholds
    explorer.thresholds["wbc_min_per_ul"].value = 10000.0
    assert explorer.last["view"].delta >= 0


def test_bad_state_is_reported_not_raised(explorer):
    explorer.thresholds["blasts_min_pct"].value = float("nan")
    assert "Cannot evaluate" in explorer.w["count"].value and "finite number" in explorer.w["count"].value


def test_explorer_needs_a_study():
    from trialkit.errors import TrialkitError

    with pytest.raises(TrialkitError, match="at least one study"):
        we.eligibility_explorer({})


def test_only_the_visible_tab_is_drawn_and_others_on_demand(demo_b1931036, monkeypatch):
    drawn = []
    monkeypatch.setattr(we, "show_figure", lambda out, fig, html=None: drawn.append(
        fig.layout.title.text if fig is not None else html))
    ex = we.eligibility_explorer(demo_b1931036)
    assert len(drawn) == 1 and drawn[0].startswith("Screening funnel")
    ex.w["tabs"].selected_index = 1  # fires on_tab_change
    assert drawn[-1] == "CONSORT flow diagram (B1931036)"
    n = len(drawn)
    ex.w["tabs"].selected_index = 0
    ex.w["tabs"].selected_index = 1  # nothing changed: neither tab is redrawn
    assert len(drawn) == n
    ex.thresholds["blasts_min_pct"].value = 30.0  # an update redraws the visible (CONSORT) tab only
    assert drawn[-1].split("<br>")[0] == "WHAT-IF · CONSORT flow diagram (B1931036)" and len(drawn) == n + 1
    ex.w["tabs"].selected_index = 2
    assert "subjects excluded" in ex.w["exclusions"].value
    ex.w["tabs"].selected_index = 3
    assert drawn[-1] == "Screen-failure rate by country — WHAT-IF: Marrow blasts ≥ 30 % (protocol 5 %)"
