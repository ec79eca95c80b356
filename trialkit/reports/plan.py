"""Plan a report run: everything decided before and besides the kernels, testable without one.

:func:`prepare` checks the caller's request — audience, options, template and its parameters,
data-cut date, the study (loaded and validated), the sites and their file names, the reporting
setting, the output folder and its previous manifest — and raises
:class:`~trialkit.errors.ReportError` before any kernel starts. :func:`plan_sites` then does the
study-wide work once and prepares each page's data for its audience (:mod:`trialkit.reports.data`:
a site's own rows and pooled study aggregates; the study team's pooled data; the dsmb's whole
study), hashes each page's inputs and decides which pages to render and which are unchanged. The
result, a :class:`ReportPlan`, holds one picklable :class:`ReportTask` per page to render;
:mod:`trialkit.reports.execute` runs them and :mod:`trialkit.reports.publish` writes the pages, the
manifest and the index.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..errors import ReportError
from ..study import Study
from .audience import AUDIENCES, CLOSED_BANNER, Audience, Reporting, get_audience, reporting_setting
from .data import MIN_CELL, SiteSplit, dsmb_data, study_aggregates, study_team_data
from .naming import check_site_id, inside, safe_names

__all__ = ["DEFAULT_TEMPLATE", "ReportTask", "Template", "RunSetup", "ReportPlan", "prepare", "plan_sites",
           "template_parameters", "check_parameters", "load_template", "resolve_sites", "decide", "read_manifest"]

DEFAULT_TEMPLATE = AUDIENCES["site"].template
RUNNER_PARAMS = ("site_id", "study_path", "protocol", "data_cut_date")  # set by the runner, never by the caller
_TYPES = {"str": (str,), "bool": (bool,), "int": (int,), "float": (int, float), "Optional[str]": (str, type(None)),
          "Optional[int]": (int, type(None)), "Optional[float]": (int, float, type(None))}


@dataclass
class ReportTask:
    """Everything one page's rendering needs; picklable, holds only what its audience may see.

    ``page`` is the site id of a site report, else the audience's name (``study``, ``dsmb``).
    """

    page: str
    audience: str
    tables: dict[str, pd.DataFrame]
    protocol: str
    data_cut_date: str | None
    aggregates: dict
    parameters: dict
    template: str
    kernel_name: str = "python3"
    timeout: float | None = 600
    plotly_js: str = "shared"
    title: str = ""
    footer: str = ""
    banner: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    """A papermill template read once: its path, text, SHA-256 and parameter contract."""

    path: Path
    text: str
    sha256: str
    contract: dict


@dataclass(frozen=True)
class RunSetup:
    """A checked request: what :func:`prepare` established before any kernel starts."""

    audience: Audience
    study: Study
    template: Template
    params: dict  # the caller's parameters plus the runner's (protocol, data_cut_date)
    effective: dict  # the template's defaults overridden by ``params``: every value a page is made with
    data_cut_date: str | None
    requested: list[str]  # site ids (site audience) or the one page name (study, dsmb)
    names: dict[str, str]  # page -> safe file-name stem
    out: Path
    previous: dict  # the previous run's manifest entries of this study and audience, by page
    only_failed: bool = False
    force: bool = False
    min_cell: int = MIN_CELL
    timeout: float | None = 600
    kernel_name: str = "python3"
    plotly_js: str = "shared"
    reporting: Reporting = field(default_factory=Reporting)

    def page_file(self, page: str) -> str:
        """The page's path relative to the output folder (``sites/DE06.html``, ``pages/study.html``)."""
        return f"{self.audience.folder}/{self.names[page]}.html"

    def page_path(self, page: str) -> Path:
        return inside(self.out, self.audience.folder, f"{self.names[page]}.html")

    def may_render(self) -> bool:
        """True when some requested site will surely render (so kernels are worth starting early)."""
        return self.force or any(self.previous.get(s, {}).get("status") != "ok" for s in self.requested)


@dataclass
class ReportPlan:
    """What to render and what to record: one manifest entry per requested site, tasks to run."""

    setup: RunSetup
    checksum: str
    aggregates: dict
    entries: dict[str, dict]
    tasks: dict[str, ReportTask]
    unchanged: list[str]
    generated: str
    trialkit_version: str


# ------------------------------------------------------------------------------------------------
# template and parameters
# ------------------------------------------------------------------------------------------------
def template_parameters(template: str | os.PathLike = DEFAULT_TEMPLATE) -> dict:
    """The template's papermill parameters (``papermill.inspect_notebook``)."""
    import papermill as pm

    return pm.inspect_notebook(str(template))


def load_template(template: str | os.PathLike | None, *, default: Path = DEFAULT_TEMPLATE) -> Template:
    """Read a template and its parameter contract; :class:`ReportError` when it cannot be used."""
    path = Path(template) if template is not None else default
    if not path.is_file():
        raise ReportError(f"template {path} does not exist.")
    text = path.read_text(encoding="utf-8")
    try:
        contract = template_parameters(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable template
        raise ReportError(f"template {path} cannot be read as a notebook ({exc}).") from None
    return Template(path=path, text=text, sha256=hashlib.sha256(text.encode()).hexdigest(), contract=contract)


def _check_one(contract: dict, key: str, value) -> None:
    if key in RUNNER_PARAMS:
        hint = " (use the data_cut_date= argument / --data-cut-date)" if key == "data_cut_date" else ""
        raise ReportError(f"parameter {key!r} is set by the runner for each page; do not pass it{hint}.")
    if key not in contract:
        raise ReportError(f"unknown report parameter {key!r}; the template accepts: "
                          f"{', '.join(p for p in contract if p not in RUNNER_PARAMS)}.")
    want = _TYPES.get(contract[key].get("inferred_type_name"))
    if want and not (isinstance(value, want) and not (isinstance(value, bool) and bool not in want)):
        raise ReportError(f"report parameter {key!r} = {value!r} should be {contract[key]['inferred_type_name']}.")
    try:
        json.dumps(value)
    except TypeError:
        raise ReportError(f"report parameter {key!r} = {value!r} is not JSON-serializable; pass plain values.") from None


def check_parameters(contract: dict, parameters: dict, *, audience: Audience = AUDIENCES["site"]) -> dict:
    """Check the caller's template parameters against the template's contract; return them."""
    missing = [p for p in audience.required if p not in contract]
    if missing:
        raise ReportError(f"the template has no parameter(s) {', '.join(missing)} in its `parameters` cell; "
                          f"a {audience.name} report template must declare {' and '.join(audience.required)}.")
    for k, v in parameters.items():
        _check_one(contract, k, v)
    return parameters


def template_defaults(contract: dict) -> dict:
    """The template's own default values (so the manifest records every value a page used)."""
    defaults = {}
    for k, v in contract.items():
        if k not in RUNNER_PARAMS:
            try:
                defaults[k] = ast.literal_eval(str(v.get("default")))
            except (ValueError, SyntaxError):
                defaults[k] = v.get("default")
    return defaults


# ------------------------------------------------------------------------------------------------
# the request
# ------------------------------------------------------------------------------------------------
def check_options(*, plotly_js: str, min_cell: int, jobs) -> None:
    if plotly_js not in ("shared", "inline"):
        raise ReportError(f"plotly_js must be 'shared' or 'inline', not {plotly_js!r}.")
    if min_cell < MIN_CELL:
        raise ReportError(f"min_cell={min_cell}: study cells under {MIN_CELL} patients are always suppressed.")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise ReportError(f"jobs must be a positive integer, not {jobs!r}.")


def iso_date(value) -> str | None:
    """``value`` as ``YYYY-MM-DD`` (None stays None); :class:`ReportError` when it is not a date."""
    if value is None:
        return None
    try:
        return pd.Timestamp(value).date().isoformat()
    except (ValueError, TypeError):
        raise ReportError(f"data_cut_date {value!r} is not a date; give YYYY-MM-DD.") from None


def _check_reporting_early(study_path) -> None:
    """A study folder's protocol ``reporting:`` setting, checked before its data are loaded (a malformed
    setting is reported at once, not after reading a large study). Anything else wrong with the folder
    or its study.yaml is left to the loader, which names it."""
    from ..errors import TrialkitError
    from ..io.config import read_config

    if isinstance(study_path, Study):
        return
    try:
        protocol = read_config(study_path).protocol
    except (TrialkitError, OSError, TypeError, ValueError):
        return
    if protocol is not None:
        reporting_setting(protocol)


def load_checked_study(study_path) -> Study:
    """A validated study: every data problem in one DataValidationError, before any kernel."""
    if isinstance(study_path, Study):
        from ..schemas import validate_study

        return validate_study(study_path)
    from ..io.flatfile import load_study

    return load_study(study_path)


def resolve_sites(study: Study, sites) -> tuple[list[str], dict[str, str]]:
    """The requested site ids (in request order) and the safe file name of every usable site id."""
    known = list(dict.fromkeys(study.sites["site_id"].dropna().astype(str)))
    if isinstance(sites, str):
        if sites != "all":
            raise ReportError(f"sites must be 'all' or a list of site ids, not {sites!r} (use [{sites!r}]).")
        requested = known
    else:
        requested = list(dict.fromkeys(sites))
        for sid in requested:
            check_site_id(sid)
        unknown = [s for s in requested if s not in set(known)]
        if unknown:
            raise ReportError(f"site(s) {', '.join(map(repr, unknown))} are not in the study's sites table "
                              f"({len(known)} sites, e.g. {', '.join(known[:5])}).")
    valid = []
    for sid in known:  # an unusable id elsewhere in the study does not block the requested sites
        try:
            valid.append(check_site_id(sid))
        except ReportError:
            if sid in requested:
                raise
    return requested, safe_names(valid)


def read_manifest(path: Path) -> dict:
    """The manifest at ``path`` ({} when absent or unreadable)."""
    if not path.exists():
        return {}
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        return m if isinstance(m, dict) else {}
    except (OSError, ValueError):
        return {}


def previous_entries(manifest: dict, protocol_id: str, audience: Audience = AUDIENCES["site"]) -> dict:
    """The previous run's entries, or {} when the folder held another study's reports."""
    key = audience.entries_key
    prev = manifest.get(key, {}) if isinstance(manifest.get(key), dict) else {}
    if (manifest.get("study") or {}).get("protocol") not in (None, protocol_id):
        return {}  # the folder held another study's reports: its entries are not carried over
    return prev


def manifest_audience(manifest: dict) -> str | None:
    """The audience a manifest was written for (manifests from before audiences are site reports)."""
    if not manifest:
        return None
    return str(manifest.get("audience") or "site")


def output_folder(out, audience: Audience = AUDIENCES["site"]) -> Path:
    """The output folder as an absolute path, checked to be this audience's own.

    Refused when it exists and is not a folder, when it holds another audience's reports, and —
    open and closed reports are never mixed — when a folder around it holds reports of the other
    kind (a closed dsmb report inside an open report's folder, or the reverse).
    """
    path = Path(out).resolve()
    if path.exists() and not path.is_dir():
        raise ReportError(f"output folder {path} exists and is not a folder; give a folder for the reports.")
    here = manifest_audience(read_manifest(path / "manifest.json"))
    if here not in (None, audience.name):
        raise ReportError(f"output folder {path} holds the {here} reports; write the {audience.name} report to "
                          f"its own folder (e.g. {path.parent / (path.name + '-' + audience.name)}).")
    for parent in path.parents:
        there = manifest_audience(read_manifest(parent / "manifest.json"))
        if there is not None and AUDIENCES.get(there, audience).closed != audience.closed:
            raise ReportError(f"output folder {path} lies inside {parent}, which holds the {there} reports; "
                              "closed (dsmb) and open reports never share a folder: choose a folder outside it.")
    return path


def _resolve_pages(audience: Audience, study: Study, sites) -> tuple[list[str], dict[str, str]]:
    if audience.per_site:
        return resolve_sites(study, sites)
    if not (isinstance(sites, str) and sites == "all"):
        raise ReportError(f"the {audience.name} report covers the whole study in one page; do not pass sites= "
                          "(or --sites) with it.")
    return [audience.name], {audience.name: audience.name}


def prepare(study_path, *, audience: str = "site", sites="all", out="reports", jobs: int | None = None,
            only_failed: bool = False, force: bool = False, data_cut_date: str | None = None,
            parameters: dict | None = None, template=None, min_cell: int = MIN_CELL, timeout: float | None = 600,
            kernel_name: str = "python3", plotly_js: str = "shared") -> RunSetup:
    """Check a request (see :func:`trialkit.render_reports`); raise ReportError before any kernel."""
    aud = get_audience(audience)
    check_options(plotly_js=plotly_js, min_cell=min_cell, jobs=jobs)
    tmpl = load_template(template, default=aud.template)
    params = check_parameters(tmpl.contract, dict(parameters or {}), audience=aud)
    effective = {**template_defaults(tmpl.contract), **params}
    data_cut_date = iso_date(data_cut_date)
    out = output_folder(out, aud)  # a folder that may not take this audience is refused before any loading
    _check_reporting_early(study_path)
    study = load_checked_study(study_path)
    if data_cut_date is None and study.data_cut_date is not None:
        data_cut_date = study.data_cut_date.date().isoformat()
    if "data_cut_date" in tmpl.contract:
        params["data_cut_date"] = data_cut_date
    if "protocol" in tmpl.contract:
        params["protocol"] = study.protocol.id
    reporting = reporting_setting(study.protocol)
    requested, names = _resolve_pages(aud, study, sites)
    previous = previous_entries(read_manifest(inside(out, "manifest.json")), study.protocol.id, aud)
    return RunSetup(audience=aud, study=study, template=tmpl, params=params, effective=effective,
                    data_cut_date=data_cut_date, requested=requested, names=names, out=out, previous=previous,
                    only_failed=only_failed, force=force, min_cell=min_cell, timeout=timeout,
                    kernel_name=kernel_name, plotly_js=plotly_js, reporting=reporting)


# ------------------------------------------------------------------------------------------------
# the per-site plan
# ------------------------------------------------------------------------------------------------
def source_hash() -> str:
    """SHA-256 of the report code (a change to it re-renders every site)."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()


def input_hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def site_counts(sub: Study, eligible: pd.Series | None) -> dict:
    """Key counts of one site for the index: screened, eligible (rules and site verdict), randomized."""
    scr, rnd = sub.screening, sub.randomization
    out = {"screened": int(len(scr))}
    if eligible is not None:
        e = eligible.reindex(pd.Index(scr["subject_id"]))
        out.update(eligible_rules=int(e.eq(True).sum()), undetermined=int(e.isna().sum()))
    out.update(eligible=int((scr["screening_outcome"] == "eligible").sum()), randomized=int(len(rnd)),
               arms={a: int((rnd["arm"] == a).sum()) for a in sub.protocol.arm_codes})
    return out


def decide(previous: dict, input_hash: str, page_exists: bool, *, force: bool, only_failed: bool) -> str:
    """``"render"`` or ``"unchanged"`` for one site, from its previous manifest entry.

    ``only_failed``: render unless the last status was ``ok`` and the page exists. Otherwise render
    unless ``force`` is off, the last status was ``ok``, the input hash is the same and the page exists.
    """
    ok_before = previous.get("status") == "ok" and page_exists
    if only_failed:
        return "unchanged" if ok_before else "render"
    if not force and ok_before and previous.get("input_hash") == input_hash:
        return "unchanged"
    return "render"


def _text_or_none(row, key):
    v = row.get(key) if hasattr(row, "get") else None
    return None if v is None or pd.isna(v) else str(v)


@dataclass(frozen=True)
class _Common:
    """What every page of a run shares."""

    checksum: str
    eligibility: object
    version: str
    code: str
    now: str
    footer: str


def _common(setup: RunSetup, now: str | None) -> _Common:
    import trialkit

    study = setup.study
    checksum = study.checksum()
    eligibility = None
    if len(study.screening) and study.protocol.criteria:
        from ..eligibility import evaluate_eligibility

        eligibility = evaluate_eligibility(study)
    now = now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    version = trialkit.__version__
    return _Common(checksum=checksum, eligibility=eligibility, version=version, code=source_hash(), now=now,
                   footer=f"trialkit {version} · study data checksum {checksum} · generated {now}")


def _task(setup: RunSetup, c: _Common, page: str, tables: dict, aggregates: dict, title: str) -> ReportTask:
    return ReportTask(page=page, audience=setup.audience.name, tables=tables, protocol=setup.study.protocol.id,
                      data_cut_date=setup.data_cut_date, aggregates=aggregates, parameters=setup.params,
                      template=setup.template.text, kernel_name=setup.kernel_name, timeout=setup.timeout,
                      plotly_js=setup.plotly_js, title=title, footer=c.footer,
                      banner=CLOSED_BANNER if setup.audience.closed else "")


def _entry(setup: RunSetup, c: _Common, page: str, data_checksum: str, h: str, study_path: str) -> dict:
    return {"file": setup.page_file(page), "audience": setup.audience.name,
            "parameters": {**setup.effective, **setup.params,
                           **({"site_id": page} if setup.audience.per_site else {}), "study_path": study_path},
            "study_checksum": c.checksum, "site_data_checksum" if setup.audience.per_site else "data_checksum":
            data_checksum, "input_hash": h, "trialkit_version": c.version,
            "template": str(setup.template.path.name), "template_sha256": setup.template.sha256}


def _hash(setup: RunSetup, c: _Common, data_checksum: str, aggregates_digest: str) -> str:
    return input_hash(data_checksum, aggregates_digest, setup.params, setup.template.sha256, c.version, c.code,
                      setup.plotly_js, setup.audience.name)


def _keep(plan: ReportPlan, page: str, task_of) -> None:
    """Decide one page: record it as unchanged, or make its task (``task_of()``) to render."""
    s = plan.setup
    entry = plan.entries[page]
    if decide(s.previous.get(page, {}), entry["input_hash"], s.page_path(page).exists(), force=s.force,
              only_failed=s.only_failed) == "unchanged":
        plan.unchanged.append(page)
    else:
        plan.tasks[page] = task_of()


def _plan_sites(plan: ReportPlan, c: _Common) -> None:
    """One page per site: the site's own rows and pooled, suppressed study aggregates."""
    setup, study = plan.setup, plan.setup.study
    aggregates = study_aggregates(study, min_cell=setup.min_cell, checksum=c.checksum, eligibility=c.eligibility,
                                  reporting=setup.reporting)
    aggregates.update(validated=True, audience="site")  # load_study / validate_study raised on any problem
    plan.aggregates = aggregates
    eligible = c.eligibility.eligible if c.eligibility is not None else None
    split = SiteSplit(study)  # the study cut by site once: each site then costs a few slices
    agg_digest = input_hash(aggregates)
    for sid in setup.requested:
        sub, site_sum = split.subset_and_checksum(sid)
        row = sub.sites.iloc[0] if len(sub.sites) else {}
        entry = _entry(setup, c, sid, site_sum, _hash(setup, c, site_sum, agg_digest),
                       f"{study.source} [rows of site {sid} only]")
        entry.update(site_name=_text_or_none(row, "site_name"), country=_text_or_none(row, "country"),
                     counts=split.counts(sid, eligible))
        plan.entries[sid] = entry
        _keep(plan, sid, lambda sid=sid, sub=sub: _task(
            setup, c, sid, sub.tables(), aggregates, f"Site report — {sid} — {study.protocol.id.upper()}"))


def _plan_whole(plan: ReportPlan, c: _Common) -> None:
    """One page for the whole study: the study team's pooled data, or the dsmb's whole study."""
    setup, study = plan.setup, plan.setup.study
    name = setup.audience.name
    if name == "study":
        from .quality import findings

        found = findings(study, eligibility=c.eligibility, data_cut_date=setup.data_cut_date, validated=True)
        tables, aggregates = study_team_data(study, findings=found, checksum=c.checksum, reporting=setup.reporting)
    else:
        tables, aggregates = dsmb_data(study, checksum=c.checksum)
    plan.aggregates = aggregates
    data_sum = study.replace(**tables).checksum()
    entry = _entry(setup, c, name, data_sum, _hash(setup, c, data_sum, input_hash(aggregates)),
                   f"{study.source} [{'pooled over arms' if name == 'study' else 'whole study'}]")
    entry.update(counts={"sites": int(study.sites["site_id"].nunique()), "screened": int(len(study.screening)),
                         "randomized": int(len(study.randomization))})
    plan.entries[name] = entry
    _keep(plan, name, lambda: _task(setup, c, name, tables, aggregates,
                                    f"{setup.audience.label} — {study.protocol.id.upper()}"))


def plan_sites(setup: RunSetup, *, now: str | None = None) -> ReportPlan:
    """The study-wide work (once), each page's data for its audience, one entry and decision per page."""
    c = _common(setup, now)
    plan = ReportPlan(setup=setup, checksum=c.checksum, aggregates={}, entries={}, tasks={}, unchanged=[],
                      generated=c.now, trialkit_version=c.version)
    (_plan_sites if setup.audience.per_site else _plan_whole)(plan, c)
    return plan
