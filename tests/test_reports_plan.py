"""The report runner's plan, without a kernel: the request checks, the per-site data, the input hashes
and the decisions to render or skip; the protocol's end-of-induction window read from its file.

Every test here runs with kernel start-up forbidden (a kernel started by the plan fails the test).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from trialkit.errors import ProtocolError, ReportError
from trialkit.io.flatfile import write_study
from trialkit.reports import kernel as tk_kernel
from trialkit.reports.plan import decide, plan_sites, prepare

FIX = Path(__file__).parent / "fixtures" / "reports"
sys.path.insert(0, str(FIX))
from tiny import make_tiny_study  # noqa: E402


@pytest.fixture(autouse=True)
def no_kernel(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the plan started a kernel")

    monkeypatch.setattr(tk_kernel.KernelWorker, "start", refuse)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_study")
    write_study(make_tiny_study(), d)
    return d


# ------------------------------------------------------------------------------------------------
# decisions
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("previous, same_hash, page, force, only_failed, expected", [
    ({}, False, False, False, False, "render"),                          # never rendered
    ({"status": "ok"}, True, True, False, False, "unchanged"),           # same inputs, page there
    ({"status": "ok"}, False, True, False, False, "render"),             # inputs changed
    ({"status": "ok"}, True, False, False, False, "render"),             # page deleted by hand
    ({"status": "ok"}, True, True, True, False, "render"),               # force
    ({"status": "failed"}, True, False, False, False, "render"),         # failed last time
    ({"status": "ok"}, False, True, False, True, "unchanged"),           # only_failed: ok stays, even if changed
    ({"status": "failed"}, True, False, False, True, "render"),          # only_failed: the failed one
    ({}, False, False, False, True, "render"),                           # only_failed: never rendered
])
def test_decide(previous, same_hash, page, force, only_failed, expected):
    prev = {**previous, "input_hash": "h" if same_hash else "other"} if previous else {}
    assert decide(prev, "h", page, force=force, only_failed=only_failed) == expected


# ------------------------------------------------------------------------------------------------
# the plan
# ------------------------------------------------------------------------------------------------
def test_plan_cuts_each_site_and_records_its_counts(study_dir, tmp_path):
    setup = prepare(study_dir, sites=["DE06", "FR09"], out=tmp_path / "out")
    plan = plan_sites(setup, now="2026-01-01T00:00:00Z")
    assert list(plan.tasks) == ["DE06", "FR09"] and plan.unchanged == []
    study = make_tiny_study()
    for sid, task in plan.tasks.items():
        assert set(task.tables["sites"]["site_id"]) == {sid}
        assert set(task.tables["randomization"]["site_id"]) <= {sid}
        own = set(study.screening.loc[study.screening["site_id"] == sid, "subject_id"])
        assert set(task.tables["screening"]["subject_id"]) == own
        assert task.parameters == {"protocol": "b1931036", "data_cut_date": "2025-10-01"}
        assert task.title == f"Site report — {sid} — B1931036"
        assert "generated 2026-01-01T00:00:00Z" in task.footer
    # DE06: 7 screened; 2 with 2 % blasts (not eligible), 1 without cd22_positive (undetermined)
    assert plan.entries["DE06"]["counts"] == {"screened": 7, "eligible_rules": 4, "undetermined": 1, "eligible": 5,
                                              "randomized": 4, "arms": {"ALLR3": 1, "InO": 3}}
    assert plan.entries["FR09"]["file"] == "sites/FR09.html"
    assert not (tmp_path / "out").exists()  # planning writes nothing


def test_plan_skips_unchanged_sites_and_hash_follows_inputs(study_dir, tmp_path):
    out = tmp_path / "out"
    first = plan_sites(prepare(study_dir, sites=["DE06", "FR09"], out=out))
    (out / "sites").mkdir(parents=True)
    (out / "sites" / "DE06.html").write_text("page")
    previous = {sid: {"status": "ok", "input_hash": e["input_hash"]} for sid, e in first.entries.items()}
    again = plan_sites(replace(prepare(study_dir, sites=["DE06", "FR09"], out=out), previous=previous))
    assert again.unchanged == ["DE06"] and list(again.tasks) == ["FR09"]  # FR09's page is missing
    # an option changes every site's input hash
    other = plan_sites(prepare(study_dir, sites=["DE06"], out=out, parameters={"show_outcomes": False}))
    assert other.entries["DE06"]["input_hash"] != first.entries["DE06"]["input_hash"]
    assert first.entries["DE06"]["site_data_checksum"] != first.entries["FR09"]["site_data_checksum"]


def test_prepare_refuses_an_output_path_that_is_a_file(study_dir, tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    with pytest.raises(ReportError, match="is not a folder"):
        prepare(study_dir, out=f)


@pytest.mark.parametrize("kwargs, message", [
    ({"jobs": 0}, "positive integer"),
    ({"jobs": True}, "positive integer"),
    ({"plotly_js": "cdn"}, "'shared' or 'inline'"),
    ({"template": "no/such/template.ipynb"}, "does not exist"),
])
def test_prepare_refuses_bad_options(study_dir, tmp_path, kwargs, message):
    with pytest.raises(ReportError, match=message):
        prepare(study_dir, out=tmp_path, **kwargs)


def test_previous_manifest_of_another_study_is_not_carried_over(study_dir, tmp_path):
    import json

    (tmp_path / "manifest.json").write_text(json.dumps({"study": {"protocol": "aall1732"},
                                                        "sites": {"DE06": {"status": "ok"}}}))
    assert prepare(study_dir, out=tmp_path).previous == {}
    (tmp_path / "manifest.json").write_text(json.dumps({"study": {"protocol": "b1931036"},
                                                        "sites": {"DE06": {"status": "ok"}}}))
    assert prepare(study_dir, out=tmp_path).previous == {"DE06": {"status": "ok"}}
    (tmp_path / "manifest.json").write_text("{not json")
    assert prepare(study_dir, out=tmp_path).previous == {}


# ------------------------------------------------------------------------------------------------
# the end-of-induction window comes from the protocol file
# ------------------------------------------------------------------------------------------------
def test_end_of_induction_window_is_read_from_the_protocol():
    from trialkit.protocols import get_protocol

    w = get_protocol("b1931036").windows["end_of_induction"]
    # registry record NCT05748171: "End of Treatment ... (Day 28 ± 2 days)"
    assert (w.day, w.tolerance_days) == (28, 2)
    assert "Day 28 ± 2 days" in w.source
    assert get_protocol("aall1732").windows == {}


def _window_findings(study):
    from trialkit.reports.quality import findings

    f = findings(study, validated=True)
    return f[f["finding"] == "end of induction out of window"]["detail"].tolist()


def test_window_check_follows_the_protocol_file():
    from trialkit.protocols import Window

    study = make_tiny_study()
    # the tiny study's j == 0 patients end induction on Day 36, the others on Day 28
    assert _window_findings(study) == ["Day 36 (protocol: Day 28 ± 2)"] * 4
    wider = study.replace(protocol=replace(study.protocol, windows={"end_of_induction": Window(28, 8)}))
    assert _window_findings(wider) == []
    none = study.replace(protocol=replace(study.protocol, windows={}))
    assert _window_findings(none) == []


@pytest.mark.parametrize("window", [{"day": "28"}, {"day": 28, "tolerance_days": -1}, "Day 28"])
def test_malformed_window_is_refused(window):
    from trialkit.protocols import get_protocol, parse_protocol

    raw = {**get_protocol("b1931036").raw, "windows": {"end_of_induction": window}}
    with pytest.raises(ProtocolError, match="window 'end_of_induction' needs an integer `day`"):
        parse_protocol(raw, "broken.yaml")


def test_screened_before_own_site_activation():
    from trialkit.reports.quality import findings

    study = make_tiny_study()
    sites = study.sites.copy()
    sites.loc[sites["site_id"] == "FR09", "activation_date"] = pd.Timestamp("2030-01-01")
    f = findings(study.replace(sites=sites), validated=True)
    early = f[f["finding"] == "screened before site activation"]
    fr09 = set(study.screening.loc[study.screening["site_id"] == "FR09", "subject_id"])
    assert set(early["subject_id"]) == fr09 and len(early) == 6  # per_site = (9, 7, 6, 3)


def test_a_randomized_patient_the_rules_exclude_is_a_major_finding_listed_first(demo_b1931036):
    """Issue 12: such a patient is listed first and highlighted, never among the missing inputs."""
    import trialkit as tk
    from trialkit.reports.quality import MAJOR_FINDING, findings
    from trialkit.reports.sections import count_findings, table

    s = demo_b1931036
    res = tk.evaluate_eligibility(s)
    # expected from the tables directly: randomized, judged eligible by the site (or no verdict), and
    # excluded by at least one of the protocol's rules
    scr = s.screening.reset_index(drop=True)
    randomized = scr["subject_id"].isin(s.randomization["subject_id"])
    site_ok = scr["screening_outcome"].eq("eligible").fillna(False) | (scr["screening_outcome"].isna() & randomized)
    excluded = res.eligible.reset_index(drop=True).eq(False).fillna(False)
    expected = set(scr.loc[randomized & site_ok & excluded, "subject_id"])
    assert expected, "the demo study has randomized patients the rules exclude (a generator fact)"

    f = findings(s, eligibility=res, validated=True)
    k = len(expected)
    assert set(f["subject_id"].iloc[:k]) == expected
    assert (f["finding"].iloc[:k] == MAJOR_FINDING).all() and (f["severity"].iloc[:k] == "major").all()
    assert not (f["finding"].iloc[k:] == MAJOR_FINDING).any()
    html = table(f).text
    assert html.count('<tr class="tk-major">') == k
    assert html.index('<tr class="tk-major">') < html.index("missing criterion input")
    counted = count_findings(f)
    assert counted.iloc[0].tolist() == ["major", MAJOR_FINDING, k]
    # a missing value (pd.NA) in a row is neither a major finding nor an error
    assert '<tr class="tk-major">' not in table(pd.DataFrame({"finding": [pd.NA], "n": [1]})).text
