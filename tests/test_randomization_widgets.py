"""Unit tests of the balance explorer's callbacks (no browser)."""

from __future__ import annotations

import datetime as dt

import pytest
from test_randomization_helpers import toy_study

import trialkit as tk
from trialkit.defaults import DEFAULT_N_SIM, DEFAULT_SEED
from trialkit.errors import TrialkitError
from trialkit.widgets.randomization import (
    ALL,
    balance_explorer,
    filter_study,
    on_export,
    on_filter_change,
    on_protocol_change,
    on_run_simulation,
)

ARMS = ["InO", "InO", "ALLR3", "InO", "ALLR3", "InO", "InO", "InO", "ALLR3"]
SITES = ["AT01", "AT01", "AT01", "BE01", "BE01", "BE02", "CZ01", "CZ01", "CZ01"]
STRATA = ["1 to <10 years"] * 5 + ["10 to <18 years"] * 4


@pytest.fixture()
def study():
    return toy_study(ARMS, sites=SITES, strata=STRATA)


def test_filter_study_by_country_site_stratum_and_dates(study):
    assert len(filter_study(study, country="Belgium").randomization) == 3
    assert len(filter_study(study, site="CZ01").randomization) == 3
    st = "10 to <18 years / within 6 months of end of therapy"
    assert len(filter_study(study, stratum=st).randomization) == 4
    # weekly dates from 2024-01-01: the first three subjects are randomized up to 2024-01-15
    assert filter_study(study, date_to=dt.date(2024, 1, 15)).randomization["subject_id"].tolist() == [
        "S001", "S002", "S003"]
    assert len(filter_study(study, country=ALL, site=None).randomization) == 9
    assert len(filter_study(study).screening) == 9  # other tables kept whole


def test_explorer_builds_and_callbacks_refresh(study):
    ex = balance_explorer(study, n_sim=100, sim_trials=100)
    w = ex.w
    assert w["country"].options == (ALL, "Austria", "Belgium", "Czechia")
    assert "9 randomized (ALLR3 3 · InO 6)" in w["status"].value
    assert "Allocation vs plan" in w["alloc"].value and "Monte Carlo: 100 re-randomizations, seed 0." in w["alloc"].value
    assert w["table"].value == ""  # drawn when its tab is opened
    w["tabs"].selected_index = 1
    assert "SMD" in w["table"].value
    w["tabs"].selected_index = 0
    assert w["covariates"].value[:2] == ("age_years", "sex")
    # country change: the site list follows and the status counts the subset
    w["country"].value = "Belgium"
    assert w["site"].options == (ALL, "BE01", "BE02")
    assert "3 randomized (ALLR3 1 · InO 2)" in w["status"].value
    # the callback itself, called directly
    w["site"].value = "BE02"
    on_filter_change(ex)
    assert "1 randomized" in w["status"].value
    assert "too small to test" in w["alloc"].value
    # a filter that leaves nobody
    w["date_to"].value = dt.date(2023, 1, 1)
    assert "No randomized subject matches" in w["table"].value and "No randomized subject" in w["alloc"].value
    on_protocol_change(ex)  # resets every filter
    assert w["country"].value == ALL and "9 randomized" in w["status"].value
    on_run_simulation(ex)
    assert "re-randomizations of these 9 patients" in w["sim_table"].value
    assert ex.last["simulation"].summary["scheme"].tolist()[1:] == [
        "complete randomization", "permuted blocks", "permuted blocks by site_id"]


def test_explorer_switches_protocol(study):
    other = toy_study(["InO", "ALLR3", "InO"])
    ex = balance_explorer({"first": study, "second": other}, n_sim=50, sim_trials=50)
    ex.w["protocol"].value = "second"
    assert "3 randomized" in ex.w["status"].value
    assert ex.w["country"].options == (ALL, "Austria")


def test_explorer_needs_a_study():
    with pytest.raises(TrialkitError, match="at least one study"):
        balance_explorer({})
    assert tk.get_protocol("b1931036").ratio == {"ALLR3": 1, "InO": 2}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["demo_b1931036", "demo_aall1732"])
def test_explorer_on_demo_data(request, name):
    study = request.getfixturevalue(name)
    ex = balance_explorer(study, n_sim=200, sim_trials=200)
    rnd = study.randomization
    assert f"{len(rnd)} randomized" in ex.w["status"].value
    for i in (1, 2):
        ex.w["tabs"].selected_index = i
    assert ex.last["balance"].n["Overall"] == len(rnd)
    assert len(ex.last["over_time"]) == len(rnd) and len(ex.last["cumulative"].summary) == len(rnd)
    assert [t.meta for t in ex.w["cum_out"].figure.data][-1] == "observed"
    assert ex.w["site_out"].figure.layout.title.text.startswith("Allocation by")
    first_stratum = ex.w["stratum"].options[1]
    ex.w["stratum"].value = first_stratum
    assert f"{int((rnd['stratum'] == first_stratum).sum())} randomized" in ex.w["status"].value
    on_run_simulation(ex)
    assert ex.last["simulation"].summary["scheme"].iloc[0].startswith("protocol:")


def test_explorer_defaults_are_the_shared_ones():
    import inspect

    sig = inspect.signature(balance_explorer)
    assert sig.parameters["n_sim"].default == DEFAULT_N_SIM == tk.allocation_summary.__kwdefaults__["n_sim"]
    assert sig.parameters["seed"].default == DEFAULT_SEED == tk.allocation_summary.__kwdefaults__["seed"]


def test_signals_flag_an_unusual_allocation_and_covariates_beyond_chance(demo_b1931036):
    # B1931036 demo: InO 61 of 96 where stratified blocks of 3 and 6 keep it within 62-66 (p_scheme < 0.05)
    ex = balance_explorer(demo_b1931036, n_sim=2000, sim_trials=100)
    alloc = tk.allocation_summary(demo_b1931036, levels=("overall", "stratum", "country"), n_sim=2000, seed=0)
    overall = alloc.summary.iloc[0]
    assert overall["p_scheme"] < 0.05
    banner = ex.w["signals"].value
    assert f"Allocation (overall all): p_scheme = {overall['p_scheme']:.3g} — InO 61 of 96" in banner
    assert "Monte Carlo: 2,000 re-randomizations, seed 0." in banner
    assert banner.index("tk-signal-alert") < banner.index("</ul>")
    bt = tk.balance_table(demo_b1931036, covariates=list(ex.w["covariates"].value))
    beyond = bt.smd[bt.smd["beyond_chance"].astype(bool)]
    assert banner.count("beyond its 95% chance limit") == len(beyond)


def test_titles_carry_the_filter_and_export_writes_the_view(study, tmp_path):
    ex = balance_explorer(study, n_sim=100, sim_trials=100, export_dir=str(tmp_path))
    ex.w["country"].value = "Belgium"
    ex.w["tabs"].selected_index = 1
    assert ex.w["smd_out"].figure.layout.title.text.endswith("— Belgium")
    paths = on_export(ex)
    assert [p.name for p in paths] == ["b1931036_table-1_Belgium.csv", "b1931036_table-1_Belgium.html"]
    ex.w["tabs"].selected_index = 2
    assert ex.w["cum_out"].figure.layout.title.text.endswith("100 re-randomizations, seed 0 — Belgium")
    ex.w["export_format"].value = "xlsx"
    ex.w["tabs"].selected_index = 0
    (xlsx,) = on_export(ex)  # the allocation table has no figure
    import pandas as pd

    assert pd.read_excel(xlsx, header=None).iat[0, 0].startswith("B1931036 · Allocation vs plan · Belgium")
    ex.export_dir = str(tmp_path / "missing")
    assert on_export(ex) == [] and "does not exist" in ex.w["export_status"].value


def test_a_filter_state_is_computed_once(study, monkeypatch):
    import trialkit.randomization as tr

    ex = balance_explorer(study, n_sim=100, sim_trials=100)
    calls = []
    real = tr.allocation_summary
    monkeypatch.setattr(tk, "allocation_summary", lambda *a, **k: calls.append(1) or real(*a, **k))
    ex.w["country"].value = "Belgium"
    ex.w["country"].value = ALL
    ex.w["country"].value = "Belgium"  # back to a state seen before: from the cache
    assert len(calls) == 1
