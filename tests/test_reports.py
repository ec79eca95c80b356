"""Per-site reports: parameter contract, isolation, fault tolerance, hostile ids, manifest and index,
skipping unchanged sites and --only-failed.

Renders are kept few (one warm two-thread executor shared by the module; a handful of sites).
"""

from __future__ import annotations

import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import ReportError
from trialkit.io.flatfile import write_study
from trialkit.reports import cli as reports_cli
from trialkit.reports import kernel as tk_kernel
from trialkit.reports.runner import DEFAULT_TEMPLATE, template_parameters

FIX = Path(__file__).parent / "fixtures" / "reports"
sys.path.insert(0, str(FIX))
from tiny import make_tiny_study  # noqa: E402

SITES = ["AT01", "DE06", "FR09"]


@pytest.fixture(scope="module")
def executor():
    """Two worker threads whose warm kernels are reused by every render of this module."""
    ex = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tk-test")
    yield ex
    ex.shutdown(wait=True)
    tk_kernel.shutdown_kernels()


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_study")
    write_study(make_tiny_study(), d)
    return d


@pytest.fixture(scope="module")
def rendered(study_dir, executor, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    run = tk.render_site_reports(study_dir, sites=SITES, out=out, executor=executor, progress=False)
    return run


# ------------------------------------------------------------------------------------------------
# the template's parameter contract
# ------------------------------------------------------------------------------------------------
def test_template_parameter_contract():
    params = template_parameters(DEFAULT_TEMPLATE)
    assert {k: (v["inferred_type_name"], v["default"]) for k, v in params.items()} == {
        "site_id": ("str", '""'),
        "study_path": ("str", '""'),
        "data_cut_date": ("Optional[str]", "None"),
        "protocol": ("Optional[str]", "None"),
        "show_subject_listings": ("bool", "True"),
        "show_outcomes": ("bool", "True"),
    }


def test_template_has_no_outputs_and_hides_code():
    import nbformat

    nb = nbformat.read(DEFAULT_TEMPLATE, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert not any(re.search(r"^\s*(def|class)\s", c.source, re.M) for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("parameters, message", [
    ({"no_such_option": 1}, "unknown report parameter 'no_such_option'"),
    ({"show_outcomes": "yes"}, "should be bool"),
    ({"site_id": "AT01"}, "set by the runner"),
    ({"data_cut_date": "2025-01-01"}, "use the data_cut_date= argument"),
])
def test_bad_parameters_refused_before_any_kernel(study_dir, tmp_path, monkeypatch, parameters, message):
    def no_kernel(*a, **k):
        raise AssertionError("a kernel was started before the parameters were checked")

    monkeypatch.setattr(tk_kernel.KernelWorker, "start", no_kernel)
    with pytest.raises(ReportError, match=message):
        tk.render_site_reports(study_dir, sites=["AT01"], out=tmp_path, parameters=parameters, progress=False)


def test_template_without_parameters_cell_refused(study_dir, tmp_path):
    with pytest.raises(ReportError, match="must declare site_id and study_path"):
        tk.render_site_reports(study_dir, sites=["AT01"], out=tmp_path, template=FIX / "no_parameters.ipynb",
                               progress=False)


@pytest.mark.parametrize("sites, message", [
    (["XX99"], "not in the study's sites table"),
    ("AT01", "must be 'all' or a list"),
    ([""], "empty site id"),
    (["AT\x0001"], "control or invisible"),
    ([3], "is not text"),
])
def test_bad_site_requests_refused(study_dir, tmp_path, sites, message):
    with pytest.raises(ReportError, match=message):
        tk.render_site_reports(study_dir, sites=sites, out=tmp_path, progress=False)


def test_bad_data_cut_and_min_cell_refused(study_dir, tmp_path):
    with pytest.raises(ReportError, match="not a date"):
        tk.render_site_reports(study_dir, sites=["AT01"], out=tmp_path, data_cut_date="31/31/2025", progress=False)
    with pytest.raises(ReportError, match="always suppressed"):
        tk.render_site_reports(study_dir, sites=["AT01"], out=tmp_path, min_cell=3, progress=False)


# ------------------------------------------------------------------------------------------------
# isolation by construction
# ------------------------------------------------------------------------------------------------
@pytest.mark.kernel
def test_every_page_shows_only_its_own_patients(rendered):
    study = make_tiny_study()
    scr = study.screening
    assert [r.status for r in rendered.results] == ["ok", "ok", "ok"]
    for r in rendered.results:
        text = r.path.read_text(encoding="utf-8")
        own = set(scr.loc[scr["site_id"] == r.site_id, "subject_id"])
        others = set(scr["subject_id"]) - own
        leaked = sorted(s for s in others if re.search(rf"\b{s}\b", text))
        assert leaked == [], f"{r.site_id} page shows other sites' subjects {leaked}"
        # the scan is meaningful: the page does list this site's own subjects (missing inputs)
        assert any(re.search(rf"\b{s}\b", text) for s in own)


def test_site_subset_holds_one_site_only():
    from trialkit.reports.data import site_subset

    study = make_tiny_study()
    sub = site_subset(study, "DE06")
    assert set(sub.sites["site_id"]) == {"DE06"}
    assert set(sub.screening["site_id"]) == {"DE06"}
    assert set(sub.randomization["site_id"]) == {"DE06"}
    rnd_ids = set(sub.randomization["subject_id"])
    for t in ("disposition", "response"):
        assert set(getattr(sub, t)["subject_id"]) == rnd_ids
    assert len(sub.screening) == 7  # per_site = (9, 7, 6, 3): DE06 is the second site


def test_load_site_refuses_a_folder_with_two_sites(tmp_path):
    from trialkit.reports.sections import load_site

    write_study(make_tiny_study(), tmp_path)
    with pytest.raises(ReportError, match="besides 'AT01'"):
        load_site(tmp_path, site_id="AT01")


@pytest.mark.kernel
def test_pages_reference_one_shared_plotly_file(rendered):
    assets = list((rendered.out / "assets").glob("plotly-*.min.js"))
    assert len(assets) == 1 and assets[0].stat().st_size > 3_000_000
    for r in rendered.results:
        text = r.path.read_text(encoding="utf-8")
        assert f'<script src="../assets/{assets[0].name}"></script>' in text
        assert r.path.stat().st_size < 300_000  # no copy of plotly.js in the page
        assert 'id="tk-consort"' in text and 'id="tk-pace"' in text
        assert "cdn.plot.ly" not in text and "require.js" not in text


@pytest.mark.kernel
def test_header_states_study_site_cut_checksum_version(rendered, study_dir):
    study = tk.load_study(study_dir)
    text = (rendered.out / "sites" / "AT01.html").read_text(encoding="utf-8")
    assert "B1931036" in text and "AT01 — Hospital 1 (City 1, Austria)" in text
    assert "<th>Data cut</th><td>2025-10-01</td>" in text
    assert study.checksum() in text
    assert f"<th>trialkit version</th><td>{tk.__version__}</td>" in text
    assert re.search(r"<th>Generated</th><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>", text)


# ------------------------------------------------------------------------------------------------
# manifest and index
# ------------------------------------------------------------------------------------------------
@pytest.mark.kernel
def test_manifest_records_each_site(rendered, study_dir):
    m = json.loads(rendered.manifest.read_text())
    study = tk.load_study(study_dir)
    assert m["study"]["checksum"] == study.checksum()
    assert sorted(m["sites"]) == SITES
    e = m["sites"]["DE06"]
    assert e["status"] == "ok" and e["error"] is None and e["file"] == "sites/DE06.html"
    assert e["parameters"] == {"site_id": "DE06", "study_path": f"{study_dir} [rows of site DE06 only]",
                               "data_cut_date": "2025-10-01", "protocol": "b1931036",
                               "show_subject_listings": True, "show_outcomes": True}
    assert e["trialkit_version"] == tk.__version__ and e["duration_s"] > 0
    # DE06: 7 screened; j = 2, 5 have 2 % blasts (not eligible), j = 1 lacks cd22_positive (undetermined)
    assert e["counts"] == {"screened": 7, "eligible_rules": 4, "undetermined": 1, "eligible": 5, "randomized": 4,
                           "arms": {"ALLR3": 1, "InO": 3}}
    assert len(e["input_hash"]) == 64 and len(e["site_data_checksum"]) == 64


@pytest.mark.kernel
def test_index_lists_every_site_with_link(rendered):
    text = rendered.index.read_text(encoding="utf-8")
    for sid in SITES:
        assert f'<a href="sites/{sid}.html">open report</a>' in text
    assert "3 listed: 3 ok, 0 failed" in text


# ------------------------------------------------------------------------------------------------
# skipping unchanged, force, fault tolerance, only-failed
# ------------------------------------------------------------------------------------------------
@pytest.mark.kernel
def test_unchanged_sites_are_skipped_and_force_rerenders(study_dir, executor, tmp_path):
    run1 = tk.render_site_reports(study_dir, sites=["IT04"], out=tmp_path, executor=executor, progress=False)
    assert [r.status for r in run1.results] == ["ok"]
    run2 = tk.render_site_reports(study_dir, sites=["IT04"], out=tmp_path, executor=executor, progress=False)
    assert [r.status for r in run2.results] == ["unchanged"]
    # a changed option changes the input hash
    run3 = tk.render_site_reports(study_dir, sites=["IT04"], out=tmp_path, executor=executor, progress=False,
                                  parameters={"show_outcomes": False})
    assert [r.status for r in run3.results] == ["ok"]
    run4 = tk.render_site_reports(study_dir, sites=["IT04"], out=tmp_path, executor=executor, progress=False,
                                  parameters={"show_outcomes": False}, force=True)
    assert [r.status for r in run4.results] == ["ok"]
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["sites"]["IT04"]["parameters"]["show_outcomes"] is False


@pytest.mark.kernel
def test_failing_site_does_not_stop_others_then_only_failed(study_dir, executor, tmp_path):
    run = tk.render_site_reports(study_dir, sites=SITES, out=tmp_path, executor=executor, progress=False,
                                 template=FIX / "broken_for_de06.ipynb")
    status = {r.site_id: r.status for r in run.results}
    assert status == {"AT01": "ok", "DE06": "failed", "FR09": "ok"}
    assert not run.ok and run.failed == ["DE06"]
    m = json.loads(run.manifest.read_text())
    assert m["sites"]["DE06"]["status"] == "failed"
    assert "RuntimeError: deliberately broken template for DE06" in m["sites"]["DE06"]["error"]
    assert not (tmp_path / "sites" / "DE06.html").exists()
    index = run.index.read_text(encoding="utf-8")
    assert "RuntimeError: deliberately broken template for DE06" in index and "1 failed" in index

    # fixed template, --only-failed: only DE06 is rendered again
    again = tk.render_site_reports(study_dir, sites=SITES, out=tmp_path, executor=executor, progress=False,
                                   only_failed=True)
    assert {r.site_id: r.status for r in again.results} == {"AT01": "unchanged", "DE06": "ok", "FR09": "unchanged"}
    assert again.ok and (tmp_path / "sites" / "DE06.html").exists()
    assert json.loads(again.manifest.read_text())["run"]["rendered"] == 1


def test_cli_refuses_unknown_parameter(study_dir, tmp_path, capsys):
    code = reports_cli.cli_main([str(study_dir), "--sites", "AT01", "--out", str(tmp_path), "--no-progress",
                                 "--param", "no_such=1"])
    assert code == 1
    assert "unknown report parameter 'no_such'" in capsys.readouterr().err


@pytest.mark.kernel
def test_cli_exits_nonzero_when_a_site_fails(study_dir, tmp_path, capsys):
    code = reports_cli.cli_main([str(study_dir), "--sites", "DE06", "--out", str(tmp_path), "--no-progress",
                                 "--jobs", "1", "--template", str(FIX / "broken_for_de06.ipynb")])
    assert code == 1
    captured = capsys.readouterr()
    assert "0 rendered, 0 unchanged (skipped), 1 failed" in captured.out
    assert "FAILED DE06: RuntimeError: deliberately broken template for DE06" in captured.err


@pytest.mark.kernel
def test_cli_renders_and_exits_zero(study_dir, tmp_path, capsys):
    code = reports_cli.cli_main([str(study_dir), "--sites", "FR09", "--out", str(tmp_path), "--no-progress",
                                 "--jobs", "1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "1 rendered, 0 unchanged (skipped), 0 failed" in out
    assert (tmp_path / "sites" / "FR09.html").exists()


@pytest.mark.kernel
def test_each_site_starts_with_a_clean_namespace(study_dir, tmp_path):
    # one worker thread renders both sites on the same kernel; the probe fails if a name survives
    with ThreadPoolExecutor(max_workers=1) as ex:
        run = tk.render_site_reports(study_dir, sites=["AT01", "FR09"], out=tmp_path, executor=ex, progress=False,
                                     template=FIX / "leak_probe.ipynb")
        worker = next(w for (pid, tid, _), w in tk_kernel._workers.items() if w.sites_run >= 2)
        assert worker.starts == 1  # the same kernel served both sites
    assert [r.status for r in run.results] == ["ok", "ok"], run.to_frame()["error"].tolist()


# ------------------------------------------------------------------------------------------------
# hostile site ids
# ------------------------------------------------------------------------------------------------
@pytest.mark.kernel
def test_hostile_site_ids_stay_inside_the_output_folder(tmp_path, executor):
    hostile = ["../x", 'q"<script>alert(1)</script>', "Zürich/1"]
    study = make_tiny_study(sites=hostile, per_site=(3,))
    out = tmp_path / "out"
    run = tk.render_site_reports(study, out=out, executor=executor, progress=False,
                                 parameters={"show_outcomes": False})
    assert [r.status for r in run.results] == ["ok", "ok", "ok"], run.to_frame()["error"].tolist()
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert all(p.startswith("out/") for p in written)
    names = sorted(p.name for p in (out / "sites").iterdir())
    assert names == sorted(["x-d6b96a97.html", "q_script_alert_1_script-218d1d5f.html", "Zurich_1-19c4a537.html"])
    index = run.index.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in index and "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    page = (out / "sites" / "q_script_alert_1_script-218d1d5f.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page


def test_safe_names():
    from trialkit.reports.naming import inside, safe_name, safe_names

    assert safe_name("DE06") == "DE06"
    assert safe_name("..") == "site-5ec1f7e7"
    assert safe_name("index") == "index-1bc04b52"  # would shadow index.html
    assert safe_names(["DE06", "de06"]) == {"DE06": "DE06", "de06": "de06-4b6acda1"}
    with pytest.raises(ReportError, match="outside the output folder"):
        inside("/tmp/somewhere", "..", "etc")


# ------------------------------------------------------------------------------------------------
# aggregates: small-cell suppression
# ------------------------------------------------------------------------------------------------
def test_suppression_rules():
    from trialkit.reports.data import suppress, suppress_group, suppress_split, thin_cumulative

    assert [suppress(n) for n in (0, 1, 4, 5, 40)] == [0, None, None, 5, 40]
    assert suppress_split(17, 20) is None  # 3 non-responders would be derivable
    assert suppress_split(10, 20) == 10
    # complementary suppression: the hidden 3 cannot be recovered as total - 12 - 30
    assert suppress_group({"a": 3, "b": 12, "c": 30}) == {"a": None, "b": None, "c": 30}
    assert suppress_group({"a": 0, "b": 12}) == {"a": 0, "b": 12}
    t = thin_cumulative(pd.Series([1, 2, 3, 4, 5]), pd.Series([2, 5, 7, 11, 12]))
    assert t.to_dict("list") == {"date": [2, 4], "cumulative": [5, 11]}


def test_study_aggregates_suppress_small_cells():
    from trialkit.reports.data import study_aggregates

    agg = study_aggregates(make_tiny_study())
    # 13 randomized: ALLR3 4 (<5) and hence InO 9 suppressed too
    assert agg["counts"] == {"screened": 25, "randomized": 13}
    assert agg["arms"]["ALLR3"]["randomized"] is None and agg["arms"]["InO"]["randomized"] is None
    assert agg["site_verdicts"] == {"eligible": 17, "screen failure": 8, "declined": 0, "other": 0,
                                    "not recorded": 0}
    # 25 screened: 13 eligible by the rules, 8 not eligible, 4 undetermined (<5, hence 8 hidden too)
    assert agg["rules"] == {"eligible": 13, "not_eligible": None, "undetermined": None}
    assert agg["criteria_excluding"]["B_IN02_BLASTS"] == 8
    # outcomes reach a site pooled over arms only. The tiny study's 13 randomized patients (j = 0, 1, 3, 6
    # of each site's screening order) are CR and MRD negative when j is even (6 of 13), have an EFS event
    # when j is odd (7 of 13) and no OS event; both parts of every split are >= 5, so nothing is hidden
    assert agg["pooled"] == {"response": {"assessed": 13, "cr_cri": 6, "mrd_assessed": 13, "mrd_negative": 6},
                             "events": {"EFS": {"n": 13, "events": 7}, "OS": {"n": 13, "events": 0}}}
    assert not {"by_arm", "response", "events"} & set(agg)
    assert agg["reporting"]["comparative_outcomes"] == "closed"
    with pytest.raises(ValueError, match="min_cell"):
        study_aggregates(make_tiny_study(), min_cell=2)


def test_study_aggregates_by_arm_only_when_reporting_is_open():
    from trialkit.reports.audience import Reporting
    from trialkit.reports.data import study_aggregates

    agg = study_aggregates(make_tiny_study(), reporting=Reporting("open", "completed trial", "study.yaml"))
    # the hidden arm sizes (ALLR3 = 4) must not come back through per-arm denominators
    assert agg["by_arm"]["response"]["InO"] == {"assessed": None, "cr_cri": None, "mrd_assessed": None,
                                                "mrd_negative": None}
    assert agg["by_arm"]["events"]["EFS"]["InO"] == {"n": None, "events": None}
    assert "comparative_outcomes: open (completed trial)" in agg["reporting"]["note"]


@pytest.mark.kernel
def test_dask_executor_if_installed(study_dir, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        run = tk.render_site_reports(study_dir, sites=["FR09"], out=tmp_path, executor=client.get_executor(),
                                     progress=False)
    assert [r.status for r in run.results] == ["ok"]


def test_invalid_study_is_refused_before_any_kernel(tmp_path, capsys):
    study = make_tiny_study()
    bad = study.randomization.copy()
    bad.loc[0, "arm"] = "XYZ"  # not an arm of B1931036
    write_study(study.replace(randomization=bad), tmp_path / "study")
    code = reports_cli.cli_main([str(tmp_path / "study"), "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 1
    assert "arm not in protocol b1931036" in capsys.readouterr().err
    assert not (tmp_path / "out" / "sites").exists() or not any((tmp_path / "out" / "sites").iterdir())


@pytest.mark.kernel
def test_process_pool_executor(study_dir, tmp_path):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as ex:
        run = tk.render_site_reports(study_dir, sites=["FR09", "IT04"], out=tmp_path, executor=ex, progress=False)
    assert [r.status for r in run.results] == ["ok", "ok"], run.to_frame()["error"].tolist()
    m = json.loads(run.manifest.read_text())
    assert m["run"]["executor"] == "ProcessPoolExecutor"
    assert m["sites"]["FR09"]["worker"] == m["sites"]["IT04"]["worker"]  # one worker process, one warm kernel


@pytest.mark.kernel
def test_dead_or_hung_kernel_fails_its_site_and_is_replaced(study_dir, tmp_path):
    # one worker: DE06 kills the kernel, FR09 hangs past the timeout, AT01 must still render
    with ThreadPoolExecutor(max_workers=1) as ex:
        run = tk.render_site_reports(study_dir, sites=["DE06", "FR09", "AT01"], out=tmp_path, executor=ex,
                                     progress=False, timeout=8, template=FIX / "kills_kernel.ipynb")
        ex.submit(tk_kernel.shutdown_kernels).result()
    status = {r.site_id: r.status for r in run.results}
    assert status == {"DE06": "failed", "FR09": "failed", "AT01": "ok"}
    errors = {r.site_id: r.error for r in run.results}
    assert errors["DE06"].startswith("DeadKernelError")
    assert errors["FR09"].startswith("CellTimeoutError")


def test_page_shell_inline_plotly_and_bad_mode():
    from trialkit.reports.page import page

    inline = page("<p>x</p>", title="t", plotly_js="inline")
    assert "<script src=" not in inline and len(inline) > 3_000_000
    shared = page("<p>x</p>", title="<t>", plotly_js="shared")
    assert "<title>&lt;t&gt;</title>" in shared and len(shared) < 10_000
    with pytest.raises(ValueError, match="'shared' or 'inline'"):
        page("<p>x</p>", title="t", plotly_js="cdn")


@pytest.mark.kernel
def test_page_and_manifest_agree_on_the_site_checksum(rendered):
    m = json.loads(rendered.manifest.read_text())
    for sid in SITES:
        text = (rendered.out / "sites" / f"{sid}.html").read_text(encoding="utf-8")
        assert f"<th>Site data checksum</th><td>{m['sites'][sid]['site_data_checksum']}</td>" in text


@pytest.fixture(scope="module")
def de06_report(tmp_path_factory):
    """DE06's report data as the template sees it, built without a kernel."""
    from trialkit.reports.data import site_subset, study_aggregates
    from trialkit.reports.execute import _write_task_folder
    from trialkit.reports.plan import ReportTask
    from trialkit.reports.sections import load_site

    study = make_tiny_study()
    folder = tmp_path_factory.mktemp("de06")
    sub = site_subset(study, "DE06")
    _write_task_folder(ReportTask(page="DE06", audience="site", tables=sub.tables(), protocol="b1931036",
                                  data_cut_date="2025-10-01", aggregates=study_aggregates(study), parameters={},
                                  template=""), folder)
    return load_site(folder, site_id="DE06")


def test_screening_summary_site_against_suppressed_study(de06_report):
    from trialkit.reports.sections import screening_summary, table

    got = screening_summary(de06_report)
    # DE06: 7 screened; the tiny study: 25 screened, 13 / 8 / 4 by the rules (8 and 4 suppressed)
    expected = pd.DataFrame([
        ("screened", 7, 25),
        ("eligible by the protocol's rules", 4, 13),
        ("not eligible by the rules", 2, None),
        ("undetermined (criterion inputs missing)", 1, None),
        ("site's verdict: eligible", 5, 17),
        ("site's verdict: screen failure", 2, 8),
        ("site's verdict: declined", 0, 0),
        ("site's verdict: other / not recorded", 0, 0),
        ("randomized", 4, 13)], columns=["measure", "site", "study"], dtype=object)
    pd.testing.assert_frame_equal(got, expected)
    html = table(got)._repr_html_()
    assert "<td>not eligible by the rules</td><td>2</td><td>§</td>" in html  # not "<5": read as "less than 5 %"
    assert "§ not shown: fewer than 5 patients" in html  # the mark explained under the table
    assert "<td>screened</td><td>7</td><td>25</td>" in html  # integers stay integers


def test_allocation_and_data_quality_sections(de06_report):
    from trialkit.reports.sections import allocation, data_quality

    alloc = allocation(de06_report)
    # 4 randomized at DE06 (ALLR3 1, InO 3) against 2:1; study arms hidden (ALLR3 = 4 < 5)
    assert alloc.values.tolist() == [["ALLR3", "1/3", 1, 1.3, None, 4.3], ["InO", "2/3", 3, 2.7, None, 8.7]]
    dq = data_quality(de06_report)
    findings = sorted(zip(dq["finding"], dq["detail"]))
    # j = 1 lacks cd22_positive; j = 0 has its end of induction on Day 36 (fixture: start + 35 days)
    # and the site called that patient eligible while the rules cannot decide
    assert findings == [("end of induction out of window", "Day 36 (protocol: Day 28 ± 2)"),
                        ("missing criterion input", "B_IN02_CD22: cd22_positive, cd22_pct"),
                        ("site verdict vs rules: site eligible, rules undetermined", "undetermined: B_IN02_CD22")]


def test_outcome_summary_and_screen_failures(de06_report):
    from dataclasses import replace

    from trialkit.reports.sections import (
        consort,
        outcome_caption,
        outcome_summary,
        screen_failures,
        study_outcomes,
    )

    # DE06 randomized ALLR3 1 (NR, MRD+), InO 3 (CR, NR, CR; MRD- twice): pooled over arms (a running
    # trial's comparison by arm is the DMC's, even within one site), CR/CRi 2 of 4 and MRD negative
    # 2 of 4. Exact (Clopper-Pearson) 95 % CI of 2/4: beta quantiles B(.025; 2, 3) = 0.068 and
    # B(.975; 3, 2) = 0.932 (Clopper & Pearson 1934). EFS: 2 events at day 120 among 4 at risk, so
    # S = 0.5 from day 120 to the last follow-up (day 128, censored); no later event closes that flat
    # stretch, so the median is its start (SAS PROC LIFETEST / R quantile.survfit rule), 120 days =
    # 120 / 30.4375 = 3.9 months. No OS event. No study column: study-wide outcomes reach a site
    # pooled over arms only.
    got = outcome_summary(de06_report)
    assert list(got.columns) == ["measure", "site n", "site result", "site 95% CI"]
    assert got.values.tolist() == [
        ["CR/CRi at end of induction", 4, "2 (50 %)", "7–93 %"],
        ["MRD negative at end of induction", 4, "2 (50 %)", "7–93 %"],
        ["EFS events", 4, "2 events; median 3.9 months", ""],
        ["OS events", 4, "0 events; median not reached", ""]]
    assert "all arms pooled" in outcome_caption(de06_report)
    # the CONSORT flow of the site: allocation by arm, everything after it pooled over arms
    flow = consort(de06_report).check()
    assert flow.arms == ("all arms",) and flow.n("allocated", arm="all arms") == 4
    assert set(flow.summary["arm"].dropna()) == {"all arms"}
    # with the study's reporting open, the site's own patients by arm (exact CIs: 0/1 -> 0 to 0.975;
    # 2/3 -> B(.025; 2, 2) = 0.094 to B(.975; 3, 1) = 0.992) and the study's "k / n" per arm
    opened = replace(de06_report, aggregates={**de06_report.aggregates,
                                              "reporting": {"comparative_outcomes": "open", "note": ""}})
    got = outcome_summary(opened)
    assert list(got.columns) == ["measure", "arm", "site n", "site result", "site 95% CI"]
    assert got.values.tolist()[:2] == [["CR/CRi at end of induction", "ALLR3", 1, "0 (0 %)", "0–98 %"],
                                       ["CR/CRi at end of induction", "InO", 3, "2 (67 %)", "9–99 %"]]
    assert consort(opened).arms == ("ALLR3", "InO") and "by arm" in outcome_caption(opened)
    # the tiny study pooled: CR/CRi and MRD negative 6 of 13, EFS events 7 of 13, no OS event
    pd.testing.assert_frame_equal(study_outcomes(de06_report), pd.DataFrame([
        ("CR/CRi at end of induction", "6 / 13"), ("MRD negative at end of induction", "6 / 13"),
        ("EFS events", "7 / 13"), ("OS events", "0 / 13")], columns=["measure", "study (all arms pooled)"],
        dtype=object))
    # 2 of 7 screened have 2 % blasts (< 5 %); one lacks the CD22 inputs (unknown, not a failure)
    assert screen_failures(de06_report).values.tolist() == [
        ["B_IN02_CD22", "CD22-positive", "inclusion", 0, 0, 1, 0.0, 0, 0.0],
        ["B_IN02_BLASTS", "Marrow blasts >= 5 % (>= M2)", "inclusion", 2, 2, 0, 28.6, 8, 32.0]]
