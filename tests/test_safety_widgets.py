"""The safety explorer's wiring without a browser, and notebooks/safety.ipynb run by papermill."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_runs import assert_thin, output_text, run_notebook

from trialkit.errors import TrialkitError
from trialkit.widgets.safety import (
    ALL_SOCS,
    GRADES,
    compute_view,
    explorer_options,
    on_control_change,
    refresh,
    render_view,
    safety_explorer,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "safety.ipynb"


@pytest.fixture(scope="module", params=["b1931036", "aall1732"])
def study(request):
    return request.getfixturevalue(f"demo_{request.param}")


def test_options_offer_arms_grades_socs_and_categories(study):
    opts = explorer_options(study)
    assert list(opts["by"].values()) == ["arm", "actual_arm"]
    assert opts["grade"] == list(GRADES) and opts["soc"][0] == ALL_SOCS
    assert "Hepatobiliary disorders" in opts["soc"] and "Blood and lymphatic system disorders" in opts["soc"]
    assert opts["category"] == ["hepatic_vod_sos", "hepatotoxicity", "infusion_reaction", "febrile_neutropenia",
                                "infection"]


def test_compute_view_applies_every_control(study):
    view = compute_view(study, by="actual_arm", grade="grade ≥ 3", soc="Blood and lymphatic system disorders",
                        category="febrile_neutropenia")
    assert view.errors == ()
    assert view.table.filters["min_grade"] == 3 and view.table.filters["by"] == "actual_arm"
    assert set(view.table.summary.query("kind != 'any'")["soc"]) == {"Blood and lymphatic system disorders"}
    assert view.aesi.category == "febrile_neutropenia"
    assert {tr.meta for tr in view.dotplot.data} == {"incidence", "difference"}
    assert [tr.meta for tr in view.incidence.data].count("curve") == 2
    html = render_view(view)
    assert "Participants with treatment-emergent adverse events" in html["summary"]
    assert "grade &gt;= 3" in html["table"] and "Febrile neutropenia" in html["aesi"] and html["errors"] == ""


def test_a_part_that_cannot_be_computed_is_reported_not_raised(study):
    view = compute_view(study, grade="grade 5", soc="Gastrointestinal disorders")
    assert view.table is None and view.dotplot is None
    assert view.errors and view.errors[0].startswith("table: no adverse event is left")
    assert "no adverse event with these filters" in render_view(view)["table"]
    with pytest.raises(TrialkitError, match="grade must be one of"):
        compute_view(study, grade="3")


def test_explorer_callbacks_redraw(study):
    ex = safety_explorer(study)
    assert ex.view.aesi.category == "hepatic_vod_sos" and ex.view.table.filters["min_grade"] is None
    ex.controls["grade"].value = "grade ≥ 3"  # the observer redraws
    assert ex.view.table.filters["min_grade"] == 3
    assert "grade ≥ 3" in ex.outputs["status"].value
    ex.controls["category"].value = "infection"
    assert ex.view.aesi.category == "infection" and "Infections" in ex.outputs["aesi"].value
    on_control_change(ex, {"name": "value", "old": "x", "new": "x"})  # unchanged: no redraw
    assert refresh(ex).table.filters["min_grade"] == 3


def test_each_control_recomputes_only_the_parts_that_depend_on_it(demo_b1931036, monkeypatch):
    """The explorer keeps its results by the controls each depends on: a grade recomputes the table and its
    dot plot; a category the special-interest summary and its figure; a grade seen before nothing."""
    import trialkit.widgets.safety as ws

    ex = safety_explorer(demo_b1931036)
    calls = []
    for name in ("ae_summary", "ae_table", "aesi"):
        real = getattr(ws, name)
        monkeypatch.setattr(ws, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k))
    ex.controls["grade"].value = "grade ≥ 3"
    assert calls == ["ae_table"] and ex.view.table.filters["min_grade"] == 3
    ex.controls["category"].value = "infection"
    assert calls == ["ae_table", "aesi"] and ex.view.aesi.category == "infection"
    ex.controls["grade"].value = "any grade"  # seen before: drawn from the explorer's cache
    assert calls == ["ae_table", "aesi"] and ex.view.table.filters["min_grade"] is None
    assert "grade ≥ 3" not in ex.outputs["status"].value and "any grade" in ex.outputs["status"].value


def test_a_study_without_adverse_events_is_refused(study):
    from trialkit.model import empty_table

    with pytest.raises(TrialkitError, match="no adverse events to explore"):
        explorer_options(study.replace(adverse_events=empty_table("adverse_events")))


# ---- the notebook ---------------------------------------------------------------------------------------
def test_notebook_is_thin_and_committed_without_outputs():
    assert_thin(NOTEBOOK)


def _run(tmp_path, **parameters) -> str:
    return output_text(run_notebook(NOTEBOOK, tmp_path / "safety.out.ipynb", timeout=300, **parameters))


@pytest.mark.slow
@pytest.mark.kernel
def test_notebook_runs_on_the_demo(tmp_path):
    text = _run(tmp_path, data_dir="../data/demo/aall1732")
    assert "Study aall1732" in text and "adverse_events=" in text


@pytest.mark.slow
@pytest.mark.kernel
def test_notebook_runs_on_the_cdisc_pilot(tmp_path, cdisc_dir):
    text = _run(tmp_path, cdisc_dir=str(cdisc_dir), category="DERMATOLOGIC EVENTS")
    assert "Study cdiscpilot01" in text and "adverse_events=1191" in text
