"""The outcomes explorer's wiring, driven without a browser, on both protocols' demo studies."""

from __future__ import annotations

import pytest

from trialkit.errors import TrialkitError
from trialkit.outcomes import survival_data
from trialkit.widgets.outcomes import (
    ALL,
    compute_view,
    explorer_options,
    on_control_change,
    outcomes_explorer,
    refresh,
    render_view,
)


@pytest.fixture(scope="module", params=["b1931036", "aall1732"])
def study(request):
    """Each protocol's committed demo study (data/demo/<id>)."""
    return request.getfixturevalue(f"demo_{request.param}")


def test_options_offer_the_protocol_strata_and_subgroups(study):
    opts = explorer_options(study)
    factors = [f.name for f in study.protocol.stratification]
    assert opts["endpoint"] == ["EFS", "OS"]
    assert opts["strata"] == ["none", *factors, " + ".join(factors)]
    assert opts["subgroup"][0] == ALL
    assert {o.split(" = ")[0] for o in opts["subgroup"][1:]} >= {"sex", "country", *factors}
    assert opts["conf_type"] == ["log-log", "log"]
    assert opts["population"][0] == "randomized"


@pytest.mark.slow
def test_compute_view_calls_each_part(study):
    factors = " + ".join(f.name for f in study.protocol.stratification)
    view = compute_view(study, endpoint="EFS", strata=factors, conf_type="log")
    assert view.errors == ()
    assert view.km.conf_type == "log" and view.km.groups == study.protocol.arm_codes
    assert view.logrank.summary["test"].iloc[0] == "stratified log-rank"
    assert view.cox.strata == tuple(f.name for f in study.protocol.stratification)
    assert list(view.response.summary["endpoint"].unique()) == ["EOI_CR", "EOI_MRDNEG"]
    assert view.subgroups.summary["subgroup"].iloc[0] == "All"
    assert view.figure.layout.annotations[0].text.startswith("stratified log-rank p = ")
    html = render_view(view)
    assert "R survival default" in html["summary"] and "stratified log-rank" in html["tests"]


def test_subgroup_view_restricts_everything_and_skips_the_forest(study):
    view = compute_view(study, endpoint="OS", subgroup="sex = F")
    n_female = int((survival_data(study, endpoint="OS", covariates=["sex"]).frame["sex"] == "F").sum())
    assert view.km.summary["n"].sum() == n_female
    assert view.subgroups is None and view.forest is None


@pytest.mark.slow
def test_explorer_callbacks_redraw(study, capsys):
    ex = outcomes_explorer(study)
    assert ex.view.km.conf_type == "log-log"
    assert "log-log" in ex.outputs["status"].value
    ex.controls["conf_type"].value = "log"  # fires on_control_change -> refresh
    assert ex.view.km.conf_type == "log" and "· log</span>" in ex.outputs["status"].value
    ex.controls["endpoint"].value = "OS"
    assert ex.view.km.endpoint == "OS" and "OS ·" in ex.outputs["status"].value
    before = ex.view
    on_control_change(ex, {"name": "value", "old": "OS", "new": "OS"})  # no change: no redraw
    assert ex.view is before
    assert refresh(ex) is ex.view and ex.view is not before
    capsys.readouterr()


def test_a_part_that_cannot_be_computed_is_reported_not_raised(study):
    # one arm only: no log-rank test and no hazard ratio, but KM and response rates still show
    arm = study.protocol.arm_codes[0]
    rnd = study.randomization[study.randomization["arm"] == arm]
    one = study.replace(randomization=rnd, outcomes=study.outcomes[study.outcomes["subject_id"].isin(rnd["subject_id"])])
    view = compute_view(one, endpoint="EFS", forest=False)
    assert view.km.groups == (arm,)
    assert [e.split(":")[0] for e in view.errors] == ["log-rank", "Cox"]
    assert "errors" in render_view(view) and "<li>log-rank" in render_view(view)["errors"]


def test_explorer_needs_a_time_to_event_endpoint(study):
    with pytest.raises(TrialkitError, match="no time-to-event endpoint"):
        outcomes_explorer(study.replace(outcomes=study.outcomes.iloc[0:0]))


@pytest.mark.slow  # several seconds without a kernel: in `make test`, not `make test-fast`
def test_study_dropdown_like_the_other_explorers(demo_b1931036, demo_aall1732, capsys):
    ex = outcomes_explorer({"b1931036": demo_b1931036, "aall1732": demo_aall1732})
    assert ex.controls["study"].options == ("b1931036", "aall1732") and ex.study is demo_b1931036
    ex.controls["study"].value = "aall1732"
    assert ex.study is demo_aall1732 and ex.view.km.groups == ("CHEMO", "CHEMO+InO")
    assert "diagnosis" in ex.controls["strata"].options
    assert ex.controls["subgroup"].value == ALL and "aall1732 · EFS" in ex.outputs["status"].value
    # subgroups read as the protocol's labels; the values stay "column = level"
    labels = dict(ex.controls["subgroup"].options)
    assert labels["Age band: 18 to <25 years"] == "age_band = 18 to <25 years"
    assert outcomes_explorer([demo_aall1732]).controls["study"].value == "aall1732"
    capsys.readouterr()


def test_each_subgroup_row_once_and_age_bands_from_the_protocol(demo_b1931036, demo_aall1732):
    # B1931036's age stratum is its age band (1 to <10, 10 to <18 years): one of them, not both
    opts = explorer_options(demo_b1931036)["subgroup"]
    assert not any(o.startswith("age_band = ") for o in opts) and "age_group = 1 to <10 years" in opts
    # AALL1732 (ages 1-24): three bands from the protocol, none "<18" open-ended
    a = [o for o in explorer_options(demo_aall1732)["subgroup"] if o.startswith("age_band = ")]
    assert a == ["age_band = 1 to <10 years", "age_band = 10 to <18 years", "age_band = 18 to <25 years"]


def test_switching_the_ci_transform_recomputes_the_km_curve_only(demo_b1931036, monkeypatch, capsys):
    import trialkit.widgets.outcomes as wo

    ex = outcomes_explorer(demo_b1931036)
    calls = []
    for name in ("km", "logrank", "cox", "response_rates", "cox_subgroups"):
        real = getattr(wo, name)
        monkeypatch.setattr(wo, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    ex.controls["conf_type"].value = "log"
    assert calls == ["km"]
    assert ex.view.forest is not None  # the forest still shows (from the cache)
    ex.controls["conf_type"].value = "log-log"  # seen before: nothing recomputed
    assert calls == ["km"]
    capsys.readouterr()


def test_prefetched_neighbours_are_drawn_without_computing(demo_b1931036, monkeypatch, capsys):
    """What the explorer computes in a thread while the user looks (in a kernel): every view one click away.
    Afterwards each such click is drawn from the cache, with no analysis run; a stale prefetch stops."""
    import trialkit.widgets.outcomes as wo

    ex = outcomes_explorer(demo_b1931036)
    c = ex.controls
    args = {"endpoint": c["endpoint"].value, "population": c["population"].value, "subgroup": c["subgroup"].value,
            "strata": c["strata"].value, "conf_type": c["conf_type"].value, "time_unit": ex.time_unit,
            "cache": ex.cache}
    near = wo.neighbours(ex, args)
    changed = [next(k for k in ("strata", "endpoint", "conf_type", "population") if a[k] != args[k]) for a in near]
    assert changed[0] == "strata" and set(changed) == {"strata", "endpoint", "conf_type", "population"}
    assert len(near) == sum(len(c[k].options) - 1 for k in ("strata", "endpoint", "conf_type", "population"))
    # a prefetch whose generation is no longer the explorer's computes nothing
    assert wo.prefetch(ex, args, generation=ex.prefetch_generation - 1) == 0
    # the strata and endpoint neighbours (the rest differ by one control the same way; each costs a full view)
    some = [a for a, k in zip(near, changed) if k in ("strata", "endpoint")]
    monkeypatch.setattr(wo, "neighbours", lambda explorer, a: some)
    assert wo.prefetch(ex, args) == len(some)
    calls = []
    for name in ("km", "logrank", "cox", "response_rates", "cox_subgroups"):
        real = getattr(wo, name)
        monkeypatch.setattr(wo, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    c["strata"].value = c["strata"].options[-1]
    c["strata"].value = "none"
    assert calls == []
    assert (args["endpoint"] != some[-1]["endpoint"] and  # the other endpoint's view is in the cache too
            ("km", id(ex.study), some[-1]["endpoint"], "randomized", ALL, "log-log", ex.time_unit) in ex.cache)
    assert ex.view.logrank is not None and ex.view.cox is not None
    capsys.readouterr()


def test_export_this_view(demo_b1931036, tmp_path, capsys):
    import pandas as pd

    from trialkit.widgets.outcomes import on_export

    ex = outcomes_explorer(demo_b1931036, export_dir=str(tmp_path))
    ex.controls["subgroup"].value = "sex = F"
    csv, page = on_export(ex)
    assert csv.name == "b1931036_EFS_randomized_sex-F_log-log.csv" and page.suffix == ".html"
    assert pd.read_csv(csv)["n"].sum() == ex.view.km.summary["n"].sum()
    ex.export_dir = str(tmp_path / "missing")
    assert on_export(ex) == [] and "does not exist" in ex.outputs["export_status"].value
    capsys.readouterr()
