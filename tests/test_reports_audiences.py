"""Report audiences: what a site, the study team and the DSMB may each see — enforced by construction.

Two kinds of test:

* kernel-free: the data the runner prepares for each audience's kernel (the plan's tasks) cannot
  give an outcome by arm to a site or the study team; the reporting setting, the output-folder
  rules and the loaders' refusals;
* rendered: every audience on the demo study (B1931036), each page scanned for the study-wide
  outcome counts by arm computed here from the study's own tables with pandas — absent from the
  site and study pages, present in the dsmb page (so the scan can fail).

In a running randomized trial the comparison by arm is for the Data Monitoring Committee only (FDA
guidance "Establishment and Operation of Clinical Trial Data Monitoring Committees", 2006, section
4.4.1 and 6; ICH E9 section 4.5 on interim analyses and confidentiality).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml

import trialkit as tk
from trialkit.errors import ReportError
from trialkit.io.flatfile import write_study
from trialkit.reports import kernel as tk_kernel
from trialkit.reports.data import OUTCOME_TABLES, site_subset, site_subsets
from trialkit.reports.plan import plan_sites, prepare

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "b1931036"
FIX = Path(__file__).parent / "fixtures" / "reports"
sys.path.insert(0, str(FIX))
from tiny import make_tiny_study  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_study")
    write_study(make_tiny_study(), d)
    return d


def _forbid_kernels(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(tk_kernel.KernelWorker, "start", refuse)


# ------------------------------------------------------------------------------------------------
# the forbidden numbers, from the study's own tables (pandas only, not trialkit's analysis functions)
# ------------------------------------------------------------------------------------------------
def per_arm_outcome_counts(study) -> dict[str, tuple[int, int]]:
    """Study-wide outcome counts by arm, ``{label: (k, n)}``: responders and events over the arm's randomized."""
    rnd = study.randomization[["subject_id", "arm"]]
    resp = rnd.merge(study.response, on="subject_id", how="left")
    out = {}
    for arm, g in resp.groupby("arm"):
        n = len(g)
        out[f"CR/CRi {arm}"] = (int(g["response"].isin(["CR", "CRi"]).sum()), n)
        out[f"MRD negative {arm}"] = (int(g["mrd_negative"].fillna(False).astype(bool).sum()), n)
    ev = study.outcomes.merge(rnd, on="subject_id")
    for (ep, arm), g in ev.groupby(["endpoint", "arm"]):
        out[f"{ep} events {arm}"] = (int(g["event"].sum()), len(g))
    return out


def all_keys(obj) -> set:
    """Every mapping key at any depth of a JSON-like object."""
    if isinstance(obj, dict):
        return set(obj) | set().union(*(all_keys(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(all_keys(v) for v in obj)) if obj else set()
    return set()


def pattern(k: int, n: int) -> re.Pattern:
    return re.compile(rf"(?<![\d.]){k}\s*(/|of)\s*{n}(?![\d.])")


def page_text(path: Path) -> str:
    """The visible text of a page (scripts, styles and tags removed)."""
    import html

    t = path.read_text(encoding="utf-8")
    t = re.sub(r"<script.*?</script>|<style.*?</style>", " ", t, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", t))


# ------------------------------------------------------------------------------------------------
# kernel-free: what each audience's kernel receives
# ------------------------------------------------------------------------------------------------
def test_site_subsets_equal_site_subset(tiny_dir):
    study = tk.load_study(tiny_dir)
    ids = list(study.sites["site_id"])
    for sid, sub in site_subsets(study, ids):
        ref = site_subset(study, sid)
        for t in ref.tables():
            pd.testing.assert_frame_equal(getattr(sub, t), getattr(ref, t))
        assert sub.checksum() == ref.checksum()


@pytest.mark.slow
def test_demo_site_split_equals_site_subset(demo_b1931036):
    from trialkit.reports.data import SiteSplit
    from trialkit.reports.plan import site_counts

    split = SiteSplit(demo_b1931036)
    eligible = tk.evaluate_eligibility(demo_b1931036).eligible
    for sid in demo_b1931036.sites["site_id"]:
        sub, checksum = split.subset_and_checksum(sid)
        ref = site_subset(demo_b1931036, sid)
        assert checksum == sub.checksum() == ref.checksum(), sid
        assert split.counts(sid, eligible) == site_counts(ref, eligible), sid


def test_site_split_with_transfers_and_rescreening():
    """A patient screened at two sites, and one screened at one site and randomized at another:
    each site's subset holds every screening row of the patients screened or randomized there."""
    from trialkit.reports.data import SiteSplit
    from trialkit.reports.plan import site_counts

    study = make_tiny_study()
    scr, rnd = study.screening.copy(), study.randomization.copy()
    de06 = scr.index[scr["site_id"] == "DE06"]
    rescreen = scr.loc[[de06[0]]].assign(site_id="FR09")  # screened again at FR09
    scr = pd.concat([scr, rescreen], ignore_index=True)
    moved = rnd.index[rnd["site_id"] == "AT01"][0]
    rnd.loc[moved, "site_id"] = "IT04"  # screened at AT01, randomized at IT04
    study = study.replace(screening=scr, randomization=rnd)
    split = SiteSplit(study)
    for sid in study.sites["site_id"]:
        sub, checksum = split.subset_and_checksum(sid)
        ref = site_subset(study, sid)
        for t in ref.tables():
            pd.testing.assert_frame_equal(getattr(sub, t), getattr(ref, t))
        assert checksum == ref.checksum(), sid
        assert split.counts(sid) == site_counts(ref, None), sid
    it04 = split.subset("IT04")
    assert rnd.loc[moved, "subject_id"] in set(it04.screening["subject_id"])  # the transferred patient
    assert len(split.subset("FR09").screening) == len(site_subset(study, "FR09").screening) == 6 + 2


@pytest.mark.slow
def test_site_and_study_kernels_receive_no_outcome_by_arm(monkeypatch, tmp_path):
    _forbid_kernels(monkeypatch)
    study = tk.load_study(DEMO)
    arms = list(study.protocol.arm_codes)
    site_plan = plan_sites(prepare(DEMO, audience="site", sites=["IL02", "HU03"], out=tmp_path / "s"))
    for task in site_plan.tasks.values():
        agg = task.aggregates
        assert "by_arm" not in agg and not {"response", "events"} & set(agg)
        assert not set(arms) & all_keys(agg["pooled"])
        own = set(task.tables["randomization"]["subject_id"])
        for t in OUTCOME_TABLES:  # outcome rows: the site's own randomized patients only
            assert set(task.tables[t]["subject_id"]) <= own
    study_plan = plan_sites(prepare(DEMO, audience="study", out=tmp_path / "t"))
    task = study_plan.tasks["study"]
    assert all(len(task.tables[t]) == 0 for t in OUTCOME_TABLES)
    assert len(task.tables["randomization"]) == len(study.randomization)  # allocation counts are not outcomes
    # nothing the study kernel is handed is keyed by an arm: no outcome can be split by one
    assert not set(arms) & all_keys(task.aggregates)
    # pooled over arms, from the demo's own tables: CR/CRi 18 + 41 of 35 + 61, EFS events 21 + 36
    counts = per_arm_outcome_counts(study)
    pooled = task.aggregates["pooled"]
    assert pooled["response"]["cr_cri"] == sum(counts[f"CR/CRi {a}"][0] for a in arms) == 59
    assert pooled["events"]["EFS"] == {"n": 96, "events": sum(counts[f"EFS events {a}"][0] for a in arms)}
    dsmb_plan = plan_sites(prepare(DEMO, audience="dsmb", out=tmp_path / "d"))
    d = dsmb_plan.tasks["dsmb"]
    assert {t: len(df) for t, df in d.tables.items()} == {t: len(df) for t, df in study.tables().items()}
    assert d.banner == "CLOSED — for the Data Monitoring Committee only"
    assert d.aggregates["safety"] == {"available": True, "rows": len(study.adverse_events),
                                      "note": d.aggregates["safety"]["note"]}


@pytest.mark.slow
def test_study_findings_are_counted_per_site_never_listed(monkeypatch, tmp_path, demo_b1931036):
    _forbid_kernels(monkeypatch)
    from trialkit.reports.quality import findings

    study = demo_b1931036
    agg = plan_sites(prepare(DEMO, audience="study", out=tmp_path)).tasks["study"].aggregates
    found = findings(study, eligibility=tk.evaluate_eligibility(study), data_cut_date=study.data_cut_date,
                     validated=True)
    assert sum(sum(v.values()) for v in agg["findings_by_site"].values()) == len(found)
    assert agg["findings_total"] == found["finding"].value_counts().sort_index().to_dict()
    assert not any(s in json.dumps(agg) for s in study.screening["subject_id"])


def test_audience_requests_refused_before_any_kernel(monkeypatch, tiny_dir, tmp_path):
    _forbid_kernels(monkeypatch)
    with pytest.raises(ReportError, match="audience must be one of site, study, dsmb"):
        tk.render_reports(tiny_dir, audience="sponsor", out=tmp_path, progress=False)
    with pytest.raises(ReportError, match="covers the whole study in one page"):
        tk.render_reports(tiny_dir, audience="study", sites=["DE06"], out=tmp_path, progress=False)
    with pytest.raises(ReportError, match="must declare study_path"):
        tk.render_reports(tiny_dir, audience="dsmb", template=FIX / "no_parameters.ipynb", out=tmp_path,
                          progress=False)


def _manifest(folder: Path, audience: str | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    m = {"study": {"protocol": "b1931036"}, "sites": {}}
    if audience:
        m["audience"] = audience
    (folder / "manifest.json").write_text(json.dumps(m))


def test_each_audience_has_its_own_output_folder(monkeypatch, tiny_dir, tmp_path):
    _forbid_kernels(monkeypatch)
    _manifest(tmp_path / "site", None)  # a manifest from before audiences: site reports
    with pytest.raises(ReportError, match="holds the site reports; write the dsmb report to its own folder"):
        prepare(tiny_dir, audience="dsmb", out=tmp_path / "site")
    with pytest.raises(ReportError, match="holds the site reports; write the study report"):
        prepare(tiny_dir, audience="study", out=tmp_path / "site")
    with pytest.raises(ReportError, match="closed \\(dsmb\\) and open reports never share a folder"):
        prepare(tiny_dir, audience="dsmb", out=tmp_path / "site" / "closed")
    _manifest(tmp_path / "dsmb", "dsmb")
    with pytest.raises(ReportError, match="closed \\(dsmb\\) and open reports never share a folder"):
        prepare(tiny_dir, audience="site", out=tmp_path / "dsmb" / "open")
    with pytest.raises(ReportError, match="holds the dsmb reports"):
        prepare(tiny_dir, audience="site", out=tmp_path / "dsmb")
    assert prepare(tiny_dir, audience="dsmb", out=tmp_path / "dsmb").audience.name == "dsmb"
    assert prepare(tiny_dir, audience="study", out=tmp_path / "site-study").audience.name == "study"


PROTOCOLS = ROOT / "trialkit" / "protocols"


def with_reporting(folder: Path, reporting) -> Path:
    """Give a study folder its own copy of the B1931036 protocol file with a ``reporting:`` setting."""
    # libyaml's loader and dumper when PyYAML has them (the protocol file is long: ten times faster)
    raw = yaml.load((PROTOCOLS / "b1931036.yaml").read_text(encoding="utf-8"),
                    Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    raw["reporting"] = reporting
    (folder / "b1931036.yaml").write_text(
        yaml.dump(raw, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True), encoding="utf-8")
    shutil.copy(PROTOCOLS / "b1931036.criteria.yaml", folder / "b1931036.criteria.yaml")
    cfg = yaml.safe_load((folder / "study.yaml").read_text())
    cfg["protocol"] = "b1931036.yaml"  # a study's own protocol file, relative to its folder
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg))
    return folder


def _with_reporting(tmp_path: Path, reporting) -> Path:
    d = tmp_path / "study"
    write_study(make_tiny_study(), d)
    return with_reporting(d, reporting)


@pytest.mark.parametrize("reporting, message", [
    ({"comparative_outcomes": "open"}, "needs a `reason:`"),
    ({"comparative_outcomes": "unblinded", "reason": "x"}, "must be 'closed' or 'open', not 'unblinded'"),
    ({"comparative_outcome": "open"}, "unknown key\\(s\\) comparative_outcome"),
    ("open", "must be a mapping"),
])
def test_malformed_reporting_setting_refused(monkeypatch, tmp_path, reporting, message):
    _forbid_kernels(monkeypatch)
    d = _with_reporting(tmp_path, reporting)
    with pytest.raises(ReportError, match=message):
        tk.render_reports(d, out=tmp_path / "out", progress=False)


@pytest.mark.slow  # several seconds without a kernel: in `make test`, not `make test-fast`
def test_open_reporting_is_explicit_and_reaches_site_and_study_data(monkeypatch, tiny_dir, tmp_path):
    _forbid_kernels(monkeypatch)
    d = _with_reporting(tmp_path, {"comparative_outcomes": "open", "reason": "trial completed, results published"})
    site = plan_sites(prepare(d, sites=["DE06"], out=tmp_path / "s")).tasks["DE06"].aggregates
    assert set(site["by_arm"]) == {"response", "events"} and {"ALLR3", "InO"} <= all_keys(site)
    assert "b1931036.yaml declares reporting: comparative_outcomes: open (trial completed, results published)" \
        in site["reporting"]["note"]
    study = plan_sites(prepare(d, audience="study", out=tmp_path / "t")).tasks["study"].aggregates
    # the study team is internal: nothing suppressed; tiny study InO: 9 randomized, CR when j is even
    assert study["by_arm"]["response"]["InO"]["assessed"] == 9
    closed = plan_sites(prepare(tiny_dir, audience="study", out=tmp_path / "u"))  # no setting: closed
    assert "by_arm" not in closed.tasks["study"].aggregates
    m = prepare(d, audience="study", out=tmp_path / "v")
    assert (m.reporting.comparative_outcomes, m.reporting.source) == ("open", str(d / "b1931036.yaml"))


def test_protocol_default_is_closed():
    from trialkit.reports.audience import reporting_setting

    for pid in tk.protocols():
        assert reporting_setting(tk.get_protocol(pid)).comparative_outcomes == "closed"


def test_loaders_refuse_data_of_another_audience(tmp_path):
    from trialkit.reports.data import study_team_data
    from trialkit.reports.dsmb_sections import load_dsmb
    from trialkit.reports.execute import _write_task_folder
    from trialkit.reports.plan import ReportTask
    from trialkit.reports.study_sections import load_study_report

    study = make_tiny_study()
    tables, agg = study_team_data(study, findings=pd.DataFrame(columns=["subject_id", "finding", "detail"]),
                                  checksum="x")
    ok = tmp_path / "ok"
    ok.mkdir()
    _write_task_folder(ReportTask(page="study", audience="study", tables=tables, protocol="b1931036",
                                  data_cut_date=None, aggregates=agg, parameters={}, template=""), ok)
    assert len(load_study_report(ok).study.randomization) == 13
    with pytest.raises(ReportError, match="prepared for the study report, not the dsmb report"):
        load_dsmb(ok)
    bad = tmp_path / "bad"
    bad.mkdir()
    _write_task_folder(ReportTask(page="study", audience="study", tables=study.tables(), protocol="b1931036",
                                  data_cut_date=None, aggregates=agg, parameters={}, template=""), bad)
    with pytest.raises(ReportError, match="holds disposition, response, outcomes rows"):
        load_study_report(bad)


def test_safety_hook_says_whether_adverse_events_exist(demo_b1931036):
    from trialkit.reports.data import safety_data

    none = safety_data(make_tiny_study())
    assert none["available"] is False and "no safety summary is produced" in none["note"]
    assert safety_data(demo_b1931036)["rows"] == len(demo_b1931036.adverse_events) > 0


# ------------------------------------------------------------------------------------------------
# rendered: every audience on the demo study
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def executor():
    ex = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tk-aud")
    yield ex
    ex.shutdown(wait=True)
    tk_kernel.shutdown_kernels()


@pytest.fixture(scope="module")
def demo_runs(executor, tmp_path_factory):
    """Site pages of the two busiest demo sites and one without randomized patients, the study page
    (through the command line) and the dsmb page."""
    from trialkit.reports import cli as reports_cli

    study = tk.load_study(DEMO)
    busiest = list(study.randomization["site_id"].value_counts().index[:2])
    idle = next(s for s in study.sites["site_id"] if s not in set(study.randomization["site_id"]))
    root = tmp_path_factory.mktemp("audiences")
    site = tk.render_reports(DEMO, audience="site", sites=[*busiest, idle], out=root / "open" / "site",
                             executor=executor, progress=False)
    code = reports_cli.cli_main([str(DEMO), "--audience", "study", "--out", str(root / "open" / "study"),
                                 "--no-progress"])
    assert code == 0
    dsmb = tk.render_reports(DEMO, audience="dsmb", out=root / "closed", executor=executor, progress=False)
    return {"study_data": study, "site": site, "study": root / "open" / "study", "dsmb": dsmb}


@pytest.mark.kernel
def test_every_audience_renders(demo_runs):
    assert demo_runs["site"].ok and demo_runs["dsmb"].ok, demo_runs["site"].to_frame()["error"].tolist()
    assert (demo_runs["study"] / "pages" / "study.html").exists()


@pytest.mark.kernel
def test_site_and_study_pages_hold_no_outcome_by_arm_and_dsmb_page_holds_them(demo_runs):
    counts = per_arm_outcome_counts(demo_runs["study_data"])
    # the demo's figures: CR/CRi ALLR3 18 of 35, InO 41 of 61 (and MRD, EFS, OS events by arm)
    assert counts["CR/CRi ALLR3"] == (18, 35) and counts["CR/CRi InO"] == (41, 61)
    pages = {f"site {r.page}": r.path for r in demo_runs["site"].results}
    pages["study"] = demo_runs["study"] / "pages" / "study.html"
    for name, path in pages.items():
        text = page_text(path)
        leaked = [label for label, (k, n) in counts.items() if pattern(k, n).search(text)]
        assert leaked == [], f"{name} shows study-wide outcomes by arm: {leaked}"
        # the pooled counts are there (the scan reads a page that does show outcomes)
        assert pattern(59, 96).search(text), f"{name} lacks the pooled CR/CRi count 59 / 96"
    dsmb = page_text(demo_runs["dsmb"].results[0].path)
    missing = [label for label, (k, n) in counts.items() if not pattern(k, n).search(dsmb)]
    assert missing == [], f"the dsmb page lacks {missing}"


@pytest.mark.kernel
def test_site_page_pools_its_own_patients_results_over_arms(demo_runs):
    # a site's own patients by arm are a comparison by arm too: its outcome table and the follow-up
    # boxes of its CONSORT flow are pooled; only the allocation table keeps the arms
    study = demo_runs["study_data"]
    arms = list(study.protocol.arm_codes)
    busiest = [r for r in demo_runs["site"].results
               if r.page in set(study.randomization["site_id"])]
    assert len(busiest) == 2
    for r in busiest:
        raw = r.path.read_text(encoding="utf-8")
        text = page_text(r.path)
        i = text.index("Response and events of this site's patients")
        section = text[i:text.index("Whole study, all arms pooled", i)]
        assert "all arms pooled" in section[:200] and not any(a in section for a in arms), (r.page, section)
        n = int((study.randomization["site_id"] == r.page).sum())
        assert f"Allocated to all arms (n={n})" in raw and not any(f"Allocated to {a} " in raw for a in arms)
        assert all(f"<td>{a}</td>" in raw for a in arms)  # the allocation table by arm stays


@pytest.mark.kernel
def test_study_page_has_no_estimate_by_arm(demo_runs):
    text = page_text(demo_runs["study"] / "pages" / "study.html")
    dsmb = page_text(demo_runs["dsmb"].results[0].path)
    # the dsmb's comparative estimates (Cox HR, log-rank, response difference) never reach the study team
    for phrase in ("InO vs ALLR3: HR", "log-rank", "χ²", "difference vs ALLR3", "Kaplan"):
        assert phrase in dsmb and phrase not in text, phrase
    # the study team sees counts, never a patient: no subject id on the page
    ids = set(demo_runs["study_data"].screening["subject_id"])
    assert not [s for s in ids if s in text]


@pytest.mark.kernel
def test_dsmb_report_is_closed_in_its_own_folder(demo_runs):
    run = demo_runs["dsmb"]
    m = json.loads(run.manifest.read_text())
    assert m["audience"] == "dsmb" and m["closed"] is True
    assert m["pages"]["dsmb"]["file"] == "pages/dsmb.html" and "sites" not in m
    for path in (run.results[0].path, run.index):
        text = path.read_text(encoding="utf-8")
        assert text.count('<div class="tk-closed" role="alert">CLOSED — for the Data Monitoring Committee only</div>') \
            == 2  # top (sticky) and bottom
        assert "<title>CLOSED — for the Data Monitoring Committee only" in text
    study_m = json.loads((demo_runs["study"] / "manifest.json").read_text())
    assert study_m["audience"] == "study" and study_m["closed"] is False
    assert "CLOSED" not in (demo_runs["study"] / "pages" / "study.html").read_text(encoding="utf-8")
    text = page_text(run.results[0].path)
    study_text = page_text(demo_runs["study"] / "pages" / "study.html")
    # tk.ae_summary by arm in the closed page; the study page has the same rows pooled over arms only
    by_arm = tk.ae_summary(tk.load_study(DEMO)).summary
    for phrase in ("Participants with any adverse event", "with a serious adverse event"):
        assert phrase in text and phrase in study_text, phrase
        rows = by_arm[by_arm["label"] == phrase]
        per_arm = {f"{int(r.n)} / {int(r.N)}" for r in rows.itertuples() if r.group != "all"}
        pooled = f"{int(rows['n'].sum())} / {int(rows['N'].sum())}"
        i = study_text.index(phrase)
        assert pooled in study_text[i:i + 80] and not any(x in study_text for x in per_arm), (phrase, per_arm)


@pytest.mark.kernel
def test_open_reporting_shows_study_outcomes_by_arm_with_its_reason(executor, tmp_path):
    d = tmp_path / "demo"
    shutil.copytree(DEMO, d)
    with_reporting(d, {"comparative_outcomes": "open", "reason": "trial completed; comparison published"})
    run = tk.render_reports(d, sites=["IL02"], out=tmp_path / "out", executor=executor, progress=False)
    assert run.ok, run.to_frame()["error"].tolist()
    text = page_text(run.results[0].path)
    assert pattern(18, 35).search(text) and pattern(41, 61).search(text)  # CR/CRi by arm, study-wide
    assert "Response and events of this site's patients, by arm (the study's reporting is open)" in text
    assert "declares reporting: comparative_outcomes: open (trial completed; comparison published)" in text
    m = json.loads(run.manifest.read_text())
    assert m["study"]["reporting"] == {"comparative_outcomes": "open",
                                       "reason": "trial completed; comparison published",
                                       "source": str(d / "b1931036.yaml")}


# ------------------------------------------------------------------------------------------------
# the study report's sections, without a kernel
# ------------------------------------------------------------------------------------------------
def _study_report(study):
    from trialkit.reports.data import study_team_data
    from trialkit.reports.quality import findings
    from trialkit.reports.study_sections import StudyReport

    elig = tk.evaluate_eligibility(study)
    found = findings(study, eligibility=elig, data_cut_date=study.data_cut_date, validated=True)
    tables, agg = study_team_data(study, findings=found, checksum=study.checksum())
    return StudyReport(study=study.replace(**tables), aggregates=agg, data_cut_date=study.data_cut_date,
                       eligibility=elig)


def test_study_sections_on_the_tiny_study():
    from trialkit.reports import study_sections as tks

    study = make_tiny_study()
    rep = _study_report(study)
    # per_site = (9, 7, 6, 3) screened; j = 0, 1, 3, 6 randomized: 4, 4, 3, 2. Each site has one j = 1
    # patient without cd22_positive whom the site called eligible (a missing input and a disagreement)
    # and one j = 0 patient ending induction on Day 36 (out of the Day 28 ± 2 window): 3 findings per site
    league = tks.league_table(rep)
    pd.testing.assert_frame_equal(
        league[["site", "country", "screened", "randomized", "disagreements", "findings",
                "findings per screened patient"]],
        pd.DataFrame({"site": ["AT01", "DE06", "FR09", "IT04"], "country": ["Austria", "Germany", "France", "Italy"],
                      "screened": [9, 7, 6, 3], "randomized": [4, 4, 3, 2], "disagreements": [1, 1, 1, 1],
                      "findings": [3, 3, 3, 3], "findings per screened patient": [0.33, 0.43, 0.5, 1.0]}),
        check_dtype=False)
    first = study.screening.groupby("site_id")["screening_date"].min()
    assert league["days to first screened"].tolist() == [
        (first[s] - pd.Timestamp("2023-06-01")).days for s in league["site"]]
    assert tks.by_country(rep)[["country", "sites", "screened", "randomized"]].values.tolist() == [
        ["Austria", 1, 9, 4], ["Germany", 1, 7, 4], ["France", 1, 6, 3], ["Italy", 1, 3, 2]]
    assert tks.disagreements(rep).values.tolist() == [["site eligible, rules undetermined", 4, 4]]
    assert tks.findings_summary(rep).values.tolist() == [
        ["end of induction out of window", 4, 4], ["missing criterion input", 4, 4],
        ["site verdict vs rules: site eligible, rules undetermined", 4, 4]]
    enrol = dict(tks.enrollment(rep).values.tolist())
    assert (enrol["planned enrollment (protocol)"], enrol["randomized"], enrol["% of planned"]) == (100, 13, 13.0)
    assert tks.enrollment_figure(rep).layout.yaxis.tickformat == ",d"  # whole patients (issue 12)
    # pooled over arms: CR/CRi and MRD negative 6 of 13, EFS events 7 of 13 (the study team is not suppressed)
    assert tks.study_outcomes(rep).values.tolist() == [
        ["CR/CRi at end of induction", "6 / 13"], ["MRD negative at end of induction", "6 / 13"],
        ["EFS events", "7 / 13"], ["OS events", "0 / 13"]]


def test_study_sections_before_anyone_is_randomized():
    from trialkit.model import empty_table
    from trialkit.reports import study_sections as tks

    study = make_tiny_study()
    study = study.replace(randomization=empty_table("randomization"), **{t: empty_table(t) for t in OUTCOME_TABLES})
    rep = _study_report(study)
    assert tks.league_table(rep)["randomized"].tolist() == [0, 0, 0, 0]
    assert "No patient randomized yet." in tks.allocation(rep)._repr_html_()
    assert tks.allocation_figure(rep).layout.annotations[0].text == "No patient randomized yet."
    assert dict(tks.enrollment(rep).values.tolist())["randomized"] == 0
    assert tks.study_outcomes(rep)["study (all arms pooled)"].tolist() == ["0 / 0", "0 / 0"]
    assert "No patient randomized yet" in tks.forecast_section(rep)[0]._repr_html_()


def test_study_report_draws_a_long_cumulative_allocation_at_fewer_positions():
    """Beyond FIGURE_POSITIONS patients the figure keeps evenly spaced positions, each stretch's lowest
    and highest deviation and every point outside the scheme's band; a short one is drawn whole."""
    import numpy as np

    from trialkit.randomization.monitoring import CumulativeAllocation
    from trialkit.reports.study_sections import FIGURE_POSITIONS, drawn_positions

    n = 5000
    j = np.arange(1, n + 1)
    dev = np.sin(j / 300.0) * 2
    dev[[1234, 4321]] = [-9.0, 9.0]  # outside the band
    summary = pd.DataFrame({"j": j, "subject_id": [f"S{i}" for i in j], "arm": "InO", "n_InO": 0,
                            "expected": 0.0, "deviation": dev, "scheme_lower": -3.0, "scheme_upper": 3.0,
                            "complete_lower": -5.0, "complete_upper": 5.0})
    res = CumulativeAllocation(summary=summary, protocol_id="x", experimental_arm="InO", planned_prop=0.5,
                               scheme="blocks", conf_level=0.95, n_sim=10)
    drawn = drawn_positions(res).summary
    assert len(drawn) <= FIGURE_POSITIONS + 2 and drawn["j"].is_monotonic_increasing
    assert {1, n, 1235, 4322} <= set(drawn["j"])  # first, last and both points outside the band
    assert drawn["deviation"].min() == -9.0 and drawn["deviation"].max() == 9.0
    kept_peak = summary.loc[(summary["j"] > 1300) & (summary["j"] < 4000), "deviation"].idxmax()
    assert summary.loc[kept_peak, "j"] in set(drawn["j"])  # a stretch's highest point is kept
    short = res.__class__(**{**res.__dict__, "summary": summary.head(100)})
    assert drawn_positions(short) is short


def test_study_report_accrual_forecast_is_the_whole_study_forecast(demo_b1931036):
    """Issue 15: the study report's enrollment section forecasts accrual from the rows its kernel has
    (sites and randomization, no outcome): the same answer as the forecast on the whole study."""
    from trialkit.reports import study_sections as tks

    study = demo_b1931036
    rep = _study_report(study)
    assert not len(rep.study.outcomes)  # the study kernel holds no outcome rows
    fc = tks.accrual_forecast(rep, n_sims=2000, seed=0)
    whole = tk.forecast_accrual(study, target=study.protocol.planned_enrollment, as_of=study.data_cut_date,
                                n_sims=2000, seed=0)
    pd.testing.assert_frame_equal(fc.summary, whole.summary)
    shown = dict(tks.forecast_table(fc).values.tolist())
    r = whole.summary.iloc[0]
    assert shown["predicted date to reach the target (median)"] == r["median"].date().isoformat()
    assert shown["90% prediction interval"] == f"{r['lower_90'].date()} to {r['upper_90'].date()}"
    assert shown["randomized / target"] == f"{len(study.randomization)} / {study.protocol.planned_enrollment}"
    parts = tks.forecast_section(rep, n_sims=2000)
    assert len(parts) == 3 and "Forecast of accrual" in parts[0]._repr_html_()


def test_study_report_accrual_forecast_section_shows_no_arm(demo_b1931036):
    """Issue 15: the study team's report gets pooled forecasts only. The forecast object carries per-arm
    counts (the protocol's 2:1 ratio applied to the pooled forecast); the section drawn from it names no
    arm in its tables or its figure."""
    from trialkit.reports import study_sections as tks

    study = demo_b1931036
    rep = _study_report(study)
    fc = tks.accrual_forecast(rep, n_sims=500, seed=0)
    arms = list(study.protocol.arm_codes)
    assert set(fc.counts.loc[fc.counts["by"] == "arm", "group"]) == set(arms)  # the object has them
    shown = " ".join(part._repr_mimebundle_()["text/html"] if hasattr(part, "_repr_mimebundle_")
                     else part._repr_html_() for part in tks.forecast_section(rep, n_sims=500))
    assert "Forecast of accrual" in shown
    assert not [arm for arm in arms if arm in shown]


def test_study_report_gets_adverse_events_pooled_over_arms_only(demo_b1931036):
    """Issue 11: the study report gets pooled AE counts only; its kernel holds no adverse-event row."""
    from trialkit.reports import study_sections as tks

    study = demo_b1931036
    rep = _study_report(study)
    assert not len(rep.study.adverse_events)
    got = tks.safety_counts(rep)
    # expected from the tables directly: treatment-emergent events of treated (safety population) patients
    ae = study.adverse_events
    treated = set(study.disposition.loc[study.disposition["treatment_start_date"].notna(), "subject_id"])
    te = ae[ae["treatment_emergent"].fillna(False).astype(bool) & ae["subject_id"].isin(treated)]
    n_any, n_serious = te["subject_id"].nunique(), te.loc[te["serious"].fillna(False).astype(bool), "subject_id"].nunique()
    shown = dict(got.values.tolist())
    N = len(treated)
    assert shown["Participants with any adverse event"] == f"{n_any} / {N} ({100 * n_any / N:.1f}%)"
    assert shown["with a serious adverse event"] == f"{n_serious} / {N} ({100 * n_serious / N:.1f}%)"
    assert list(got.columns) == ["measure", "participants (all arms pooled)"]  # no arm anywhere
    assert not any(arm in str(v) for arm in study.protocol.arm_codes for v in got.to_numpy().ravel())


def test_study_report_event_forecast_is_pooled_and_is_the_whole_study_forecast(demo_b1931036):
    """Issue 15: the event forecast reaches the blinded study team pooled over arms; the runner computes
    it (the study kernel holds no outcome rows) and it equals trialkit.forecast_events on the study."""
    from trialkit.reports import study_sections as tks

    study = demo_b1931036
    rep = _study_report(study)
    ef = rep.aggregates["event_forecast"]
    assert ef["endpoint"] == "EFS" and ef["events"] == int(study.outcomes.query("endpoint == 'EFS'")["event"].sum())
    for model in ("weibull", "piecewise"):
        whole = tk.forecast_events(study, endpoint="EFS", model=model, n_sims=2000, seed=0, horizon=745)
        when = whole.as_of + pd.DateOffset(months=12)
        r = whole.fan[whole.fan["date"] >= when].iloc[0]
        date, med, l50, u50, l90, u90 = ef["models"][model]["at"][1]
        assert date == when.date().isoformat()
        assert (med, l50, u50, l90, u90) == tuple(int(r[c]) for c in ("median", "lower_50", "upper_50", "lower_90", "upper_90"))
    text = str(ef)
    assert not any(arm in text for arm in study.protocol.arm_codes)  # nothing keyed or labelled by an arm
    t = tks.event_forecast_table(rep)
    assert len(t) == 6 and t["event model"].str.contains("better fit").sum() == 3
    assert tks.event_forecast_figure(rep).layout.yaxis.tickformat == ",d"
