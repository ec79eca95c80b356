"""The dsmb report's safety section (issue 11: summary, SOC/PT table, AESI with cumulative incidence and listing),
called as the dsmb template calls it, without a kernel."""

from __future__ import annotations

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
