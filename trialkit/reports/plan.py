"""Plan a report run: everything decided before and besides the kernels, testable without one.

:func:`prepare` checks the caller's request — options, template and its parameters, data-cut date,
the study (loaded and validated), the sites and their file names, the output folder and its
previous manifest — and raises :class:`~trialkit.errors.ReportError` before any kernel starts.
:func:`plan_sites` then does the study-wide work once (eligibility, suppressed aggregates), cuts
the study per site, hashes each site's inputs and decides which sites to render and which are
unchanged. The result, a :class:`ReportPlan`, holds one picklable :class:`SiteTask` per site to
render; :mod:`trialkit.reports.execute` runs them and :mod:`trialkit.reports.publish` writes the
pages, the manifest and the index.
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
from .data import MIN_CELL, site_subset, study_aggregates
from .naming import check_site_id, inside, safe_names

__all__ = ["DEFAULT_TEMPLATE", "SiteTask", "Template", "RunSetup", "ReportPlan", "prepare", "plan_sites",
           "template_parameters", "check_parameters", "load_template", "resolve_sites", "decide", "read_manifest"]

DEFAULT_TEMPLATE = Path(__file__).parent / "templates" / "site_report.ipynb"
REQUIRED_PARAMS = ("site_id", "study_path")  # every template must declare these
RUNNER_PARAMS = ("site_id", "study_path", "protocol", "data_cut_date")  # set by the runner, never by the caller
_TYPES = {"str": (str,), "bool": (bool,), "int": (int,), "float": (int, float), "Optional[str]": (str, type(None)),
          "Optional[int]": (int, type(None)), "Optional[float]": (int, float, type(None))}


@dataclass
class SiteTask:
    """Everything one site's rendering needs; picklable, holds only this site's rows."""

    site_id: str
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

    study: Study
    template: Template
    params: dict  # the caller's parameters plus the runner's (protocol, data_cut_date)
    effective: dict  # the template's defaults overridden by ``params``: every value a page is made with
    data_cut_date: str | None
    requested: list[str]
    names: dict[str, str]  # site id -> safe file-name stem
    out: Path
    previous: dict  # the previous run's manifest entries of this study, by site id
    only_failed: bool = False
    force: bool = False
    min_cell: int = MIN_CELL
    timeout: float | None = 600
    kernel_name: str = "python3"
    plotly_js: str = "shared"

    def page_path(self, site_id: str) -> Path:
        return inside(self.out, "sites", f"{self.names[site_id]}.html")

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
    tasks: dict[str, SiteTask]
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


def load_template(template: str | os.PathLike | None) -> Template:
    """Read a template and its parameter contract; :class:`ReportError` when it cannot be used."""
    path = Path(template) if template is not None else DEFAULT_TEMPLATE
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
        raise ReportError(f"parameter {key!r} is set by the runner for each site; do not pass it{hint}.")
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


def check_parameters(contract: dict, parameters: dict) -> dict:
    """Check the caller's template parameters against the template's contract; return them."""
    missing = [p for p in REQUIRED_PARAMS if p not in contract]
    if missing:
        raise ReportError(f"the template has no parameter(s) {', '.join(missing)} in its `parameters` cell; "
                          "a site report template must declare site_id and study_path.")
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


def previous_entries(manifest: dict, protocol_id: str) -> dict:
    """The previous run's site entries, or {} when the folder held another study's reports."""
    prev = manifest.get("sites", {}) if isinstance(manifest.get("sites"), dict) else {}
    if (manifest.get("study") or {}).get("protocol") not in (None, protocol_id):
        return {}  # the folder held another study's reports: its entries are not carried over
    return prev


def output_folder(out) -> Path:
    """The output folder as an absolute path; refused when it exists and is not a folder."""
    path = Path(out).resolve()
    if path.exists() and not path.is_dir():
        raise ReportError(f"output folder {path} exists and is not a folder; give a folder for the reports.")
    return path


def prepare(study_path, *, sites="all", out="reports", jobs: int | None = None, only_failed: bool = False,
            force: bool = False, data_cut_date: str | None = None, parameters: dict | None = None,
            template=None, min_cell: int = MIN_CELL, timeout: float | None = 600, kernel_name: str = "python3",
            plotly_js: str = "shared") -> RunSetup:
    """Check a request (see :func:`trialkit.render_site_reports`); raise ReportError before any kernel."""
    check_options(plotly_js=plotly_js, min_cell=min_cell, jobs=jobs)
    tmpl = load_template(template)
    params = check_parameters(tmpl.contract, dict(parameters or {}))
    effective = {**template_defaults(tmpl.contract), **params}
    data_cut_date = iso_date(data_cut_date)
    study = load_checked_study(study_path)
    if data_cut_date is None and study.data_cut_date is not None:
        data_cut_date = study.data_cut_date.date().isoformat()
    if "data_cut_date" in tmpl.contract:
        params["data_cut_date"] = data_cut_date
    if "protocol" in tmpl.contract:
        params["protocol"] = study.protocol.id
    requested, names = resolve_sites(study, sites)
    out = output_folder(out)
    previous = previous_entries(read_manifest(inside(out, "manifest.json")), study.protocol.id)
    return RunSetup(study=study, template=tmpl, params=params, effective=effective, data_cut_date=data_cut_date,
                    requested=requested, names=names, out=out, previous=previous, only_failed=only_failed,
                    force=force, min_cell=min_cell, timeout=timeout, kernel_name=kernel_name, plotly_js=plotly_js)


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


def plan_sites(setup: RunSetup, *, now: str | None = None) -> ReportPlan:
    """The study-wide work (once) and one manifest entry and decision per requested site."""
    import trialkit

    study = setup.study
    checksum = study.checksum()
    eligibility = eligible = None
    if len(study.screening) and study.protocol.criteria:
        from ..eligibility import evaluate_eligibility

        eligibility = evaluate_eligibility(study)
        eligible = eligibility.eligible
    aggregates = study_aggregates(study, min_cell=setup.min_cell, checksum=checksum, eligibility=eligibility)
    aggregates["validated"] = True  # load_study / validate_study raised on any problem
    version = trialkit.__version__
    code = source_hash()
    now = now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    footer = f"trialkit {version} · study data checksum {checksum} · generated {now}"
    entries, tasks, unchanged = {}, {}, []
    for sid in setup.requested:
        sub = site_subset(study, sid)
        site_sum = sub.checksum()
        h = input_hash(site_sum, aggregates, setup.params, setup.template.sha256, version, code, setup.plotly_js)
        row = sub.sites.iloc[0] if len(sub.sites) else {}
        entries[sid] = {
            "file": f"sites/{setup.names[sid]}.html", "site_name": _text_or_none(row, "site_name"),
            "country": _text_or_none(row, "country"),
            "parameters": {**setup.effective, **setup.params, "site_id": sid,
                           "study_path": f"{study.source} [rows of site {sid} only]"},
            "study_checksum": checksum, "site_data_checksum": site_sum, "input_hash": h,
            "trialkit_version": version, "template": str(setup.template.path.name),
            "template_sha256": setup.template.sha256, "counts": site_counts(sub, eligible)}
        if decide(setup.previous.get(sid, {}), h, setup.page_path(sid).exists(), force=setup.force,
                  only_failed=setup.only_failed) == "unchanged":
            unchanged.append(sid)
            continue
        tasks[sid] = SiteTask(site_id=sid, tables=sub.tables(), protocol=study.protocol.id,
                              data_cut_date=setup.data_cut_date, aggregates=aggregates, parameters=setup.params,
                              template=setup.template.text, kernel_name=setup.kernel_name, timeout=setup.timeout,
                              plotly_js=setup.plotly_js, title=f"Site report — {sid} — {study.protocol.id.upper()}",
                              footer=footer)
    return ReportPlan(setup=setup, checksum=checksum, aggregates=aggregates, entries=entries, tasks=tasks,
                      unchanged=unchanged, generated=now, trialkit_version=version)
