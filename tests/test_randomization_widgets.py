"""Unit tests of the balance explorer's callbacks (no browser)."""

from __future__ import annotations

import datetime as dt

import pytest
from test_randomization_helpers import toy_study

import trialkit as tk
from trialkit.errors import TrialkitError
from trialkit.widgets.randomization import (
    ALL,
    balance_explorer,
    filter_study,
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
    assert "Allocation vs plan" in w["alloc"].value and "SMD" in w["table"].value
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
    assert "No randomized subject matches" in w["table"].value
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
    assert ex.last["balance"].n["Overall"] == len(rnd)
    assert len(ex.last["over_time"]) == len(rnd) and len(ex.last["cumulative"].summary) == len(rnd)
    assert [t.meta for t in ex.w["cum_out"].figure.data][-1] == "observed"
    assert ex.w["site_out"].figure.layout.title.text.startswith("Allocation by")
    first_stratum = ex.w["stratum"].options[1]
    ex.w["stratum"].value = first_stratum
    assert f"{int((rnd['stratum'] == first_stratum).sum())} randomized" in ex.w["status"].value
    on_run_simulation(ex)
    assert ex.last["simulation"].summary["scheme"].iloc[0].startswith("protocol:")
