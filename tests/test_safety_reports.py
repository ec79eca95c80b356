"""The dsmb report's safety section (issue 11: summary, SOC/PT table, AESI with cumulative incidence and listing),
called as the dsmb template calls it, without a kernel."""

from __future__ import annotations

import pandas as pd
import pytest

from trialkit.reports.dsmb_sections import DsmbReport, safety
from trialkit.safety import AESIResult, AESummaryResult, AETableResult, aesi_categories


@pytest.fixture(scope="module")
def section(demo_b1931036):
    return safety(DsmbReport(study=demo_b1931036))


def test_dsmb_safety_section_has_tables_and_their_figures_in_order(demo_b1931036, section):
    categories = list(aesi_categories(demo_b1931036.protocol))
    # the B1931036 protocol file's aesi: section lists these five (trialkit/protocols/b1931036.yaml)
    assert categories == ["hepatic_vod_sos", "hepatotoxicity", "infusion_reaction", "febrile_neutropenia", "infection"]
    assert isinstance(section[0], AESummaryResult) and isinstance(section[1], AETableResult)
    assert section[2].div_id == "tk-ae-dotplot"
    rest = section[3:]
    assert len(rest) == 2 * len(categories)
    for c, res, fig in zip(categories, rest[::2], rest[1::2]):
        assert isinstance(res, AESIResult) and res.category == c
        assert fig.div_id == f"tk-aesi-{c}"
        assert [t.legendgroup for t in fig.fig.data if t.meta == "curve"] == ["ALLR3", "InO"]  # a curve per arm
        assert len(res.listing) == int(res.summary["events"].sum())  # the listing is shown with the curve


def test_dsmb_safety_figures_render_as_html(section):
    dot = section[2]
    assert [t.name for t in dot.fig.data if t.meta == "difference"] == ["InO - ALLR3"]
    assert 'id="tk-ae-dotplot"' in dot._repr_mimebundle_()["text/html"]
    vod = section[4]._repr_mimebundle_()["text/html"]
    assert 'id="tk-aesi-hepatic_vod_sos"' in vod


def test_study_report_pooled_counts_say_when_a_column_is_not_recorded(demo_b1931036):
    """A pooled count whose column no event records is a 0 that means 'not recorded', and the study page says
    so beside it (the CDISC pilot's AEACN is blank throughout: its 'leading to discontinuation' was a bare 0)."""
    import dataclasses

    from trialkit.reports.data import pooled_safety
    from trialkit.reports.study_sections import StudyReport, safety_counts

    rows = pooled_safety(demo_b1931036)
    assert all(len(r) == 4 and r[3] is None for r in rows)  # the demo records every column: no note
    assert list(safety_counts(StudyReport(study=demo_b1931036, aggregates={"pooled_safety": rows})).columns) == [
        "measure", "participants (all arms pooled)"]

    ae = demo_b1931036.adverse_events.assign(action_taken=pd.NA)
    blank = dataclasses.replace(demo_b1931036, adverse_events=ae.astype({"action_taken": "string"}))
    rows = pooled_safety(blank)
    by_label = {r[0]: r for r in rows}
    withdrawn = [r for r in rows if r[3]]
    assert len(withdrawn) == 1 and withdrawn[0][1] == 0  # only the discontinuation count, and it is 0
    assert "not recorded, not none" in withdrawn[0][3] and "action_taken" in withdrawn[0][3]
    shown = safety_counts(StudyReport(study=blank, aggregates={"pooled_safety": rows}))
    assert list(shown.columns) == ["measure", "participants (all arms pooled)", "note"]
    assert shown.set_index("measure").loc[withdrawn[0][0], "note"] == withdrawn[0][3]
    assert (shown["note"] == "").sum() == len(by_label) - 1
