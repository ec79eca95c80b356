"""Render per-site reports: validate, split the study once, run sites on warm kernels, write pages.

See :func:`render_site_reports`. The work of one site (:func:`run_site`) is a plain picklable
function of a :class:`SiteTask`, so any :class:`concurrent.futures.Executor` can run it — the
default thread pool, a process pool, or a ``dask.distributed`` cluster
(``client.get_executor()``). A task carries the site's rows (never another site's) and the
suppressed study aggregates; it writes them into a private temporary folder on the worker, runs
the template there and returns the HTML as text. Only the calling process writes into the output
folder, so nothing a site id or a worker does can write elsewhere.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..errors import ReportError
from ..study import Study
from .data import MIN_CELL, site_subset, study_aggregates
from .naming import check_site_id, inside, safe_names

__all__ = ["render_site_reports", "ReportRun", "SiteResult", "SiteTask", "run_site", "DEFAULT_TEMPLATE",
           "template_parameters"]

DEFAULT_TEMPLATE = Path(__file__).parent / "templates" / "site_report.ipynb"
_REQUIRED_PARAMS = ("site_id", "study_path")  # every template must declare these
_RUNNER_PARAMS = ("site_id", "study_path", "protocol", "data_cut_date")  # set by the runner, never by the caller
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SiteResult:
    """What happened to one site: ``status`` is ``ok``, ``failed`` or ``unchanged`` (skipped)."""

    site_id: str
    status: str
    path: Path | None
    error: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True)
class ReportRun:
    """The outcome of :func:`render_site_reports`.

    Attributes
    ----------
    out, index, manifest : Path
    results : tuple of SiteResult
        One per requested site, in request order.
    duration_s : float
    """

    out: Path
    index: Path
    manifest: Path
    results: tuple[SiteResult, ...]
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no requested site failed."""
        return all(r.status != "failed" for r in self.results)

    @property
    def failed(self) -> list[str]:
        return [r.site_id for r in self.results if r.status == "failed"]

    @property
    def paths(self) -> dict[str, Path | None]:
        return {r.site_id: r.path for r in self.results}

    def to_frame(self) -> pd.DataFrame:
        """One row per site: ``site_id, status, path, error, duration_s``."""
        return pd.DataFrame([{"site_id": r.site_id, "status": r.status, "path": str(r.path) if r.path else None,
                              "error": r.error, "duration_s": r.duration_s} for r in self.results])

    def _repr_html_(self) -> str:  # pragma: no cover - presentation
        counts = self.to_frame()["status"].value_counts().to_dict()
        return (f"<b>Site reports</b> in {self.out} ({counts}); index: {self.index}<br>"
                + self.to_frame().to_html(index=False))


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


# ------------------------------------------------------------------------------------------------
# one site (runs on a worker)
# ------------------------------------------------------------------------------------------------
def _write_site_folder(task: SiteTask, folder: Path) -> None:
    import yaml

    for name, df in task.tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    cfg = {"protocol": task.protocol}
    if task.data_cut_date:
        cfg["data_cut_date"] = task.data_cut_date
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    from .sections import AGGREGATES_FILE, SITE_FILE

    (folder / AGGREGATES_FILE).write_text(json.dumps(task.aggregates), encoding="utf-8")
    (folder / SITE_FILE).write_text(json.dumps({"site_id": task.site_id, "protocol": task.protocol,
                                                "data_cut_date": task.data_cut_date}), encoding="utf-8")


def _error_text(exc: BaseException) -> str:
    from nbclient.exceptions import CellExecutionError

    if isinstance(exc, CellExecutionError):
        tb = _ANSI.sub("", str(getattr(exc, "traceback", "") or ""))
        lines = [ln for ln in tb.splitlines() if ln.strip()]
        return f"{exc.ename}: {exc.evalue}" + ("\n" + "\n".join(lines[-6:]) if lines else "")
    return f"{type(exc).__name__}: {exc}"


def run_site(task: SiteTask) -> dict:
    """Render one site on this worker's warm kernel; return a JSON-able dict with the page HTML.

    Never raises for a failing notebook: the error is in ``result["error"]``.
    """
    import nbformat
    from papermill.parameterize import parameterize_notebook

    from .kernel import get_worker
    from .page import page

    t0 = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="tk-site-"))
    out = {"site_id": task.site_id, "status": "failed", "html": None, "error": None, "stderr_outputs": 0,
           "worker": f"{os.uname().nodename}:{os.getpid()}"}
    try:
        _write_site_folder(task, folder)
        nb = nbformat.reads(task.template, as_version=4)
        # the metadata papermill expects (as papermill.iorw.load_notebook_node sets it)
        nb.metadata.setdefault("papermill", {"default_parameters": {}, "parameters": {},
                                             "environment_variables": {}})
        for cell in nb.cells:
            cell.metadata.setdefault("tags", [])
            cell.metadata.setdefault("papermill", {})
        params = {**task.parameters, "site_id": task.site_id, "study_path": str(folder)}
        nb = parameterize_notebook(nb, params)
        worker = get_worker(task.kernel_name)
        nb = worker.run(nb, timeout=task.timeout)
        for cell in nb.cells:  # warnings printed to stderr are not part of a report
            if cell.get("outputs"):
                keep = [o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
                out["stderr_outputs"] += len(cell.outputs) - len(keep)
                cell.outputs = keep
        body, _ = worker.exporter.from_notebook_node(nb)
        out["html"] = page(body, title=task.title, plotly_js=task.plotly_js, footer=task.footer)
        out["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - one site's failure must not stop the others
        out["error"] = _error_text(exc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        out["duration_s"] = round(time.perf_counter() - t0, 3)
    return out


def _warm_up(barrier, kernel_name: str) -> None:
    """Start this thread's warm kernel (the barrier puts one warm-up on each thread)."""
    from .kernel import get_worker

    try:
        barrier.wait(timeout=30)
    except Exception:  # noqa: BLE001 - a broken barrier only means less overlap
        pass
    get_worker(kernel_name)


def _cool_down(barrier) -> None:
    """Stop this thread's warm kernel (the barrier puts one call on each thread)."""
    from .kernel import shutdown_kernels

    try:
        barrier.wait(timeout=30)
    except Exception:  # noqa: BLE001
        pass
    shutdown_kernels(this_thread_only=True)


# ------------------------------------------------------------------------------------------------
# parameters
# ------------------------------------------------------------------------------------------------
def template_parameters(template: str | os.PathLike = DEFAULT_TEMPLATE) -> dict:
    """The template's papermill parameters (``papermill.inspect_notebook``)."""
    import papermill as pm

    return pm.inspect_notebook(str(template))


_TYPES = {"str": (str,), "bool": (bool,), "int": (int,), "float": (int, float), "Optional[str]": (str, type(None)),
          "Optional[int]": (int, type(None)), "Optional[float]": (int, float, type(None))}


def _check_parameters(contract: dict, parameters: dict) -> dict:
    missing = [p for p in _REQUIRED_PARAMS if p not in contract]
    if missing:
        raise ReportError(f"the template has no parameter(s) {', '.join(missing)} in its `parameters` cell; "
                          "a site report template must declare site_id and study_path.")
    for k, v in parameters.items():
        if k in _RUNNER_PARAMS:
            hint = " (use the data_cut_date= argument / --data-cut-date)" if k == "data_cut_date" else ""
            raise ReportError(f"parameter {k!r} is set by the runner for each site; do not pass it{hint}.")
        if k not in contract:
            raise ReportError(f"unknown report parameter {k!r}; the template accepts: "
                              f"{', '.join(p for p in contract if p not in _RUNNER_PARAMS)}.")
        want = _TYPES.get(contract[k].get("inferred_type_name"))
        if want and not (isinstance(v, want) and not (isinstance(v, bool) and bool not in want)):
            raise ReportError(f"report parameter {k!r} = {v!r} should be {contract[k]['inferred_type_name']}.")
        try:
            json.dumps(v)
        except TypeError:
            raise ReportError(f"report parameter {k!r} = {v!r} is not JSON-serializable; pass plain values.") from None
    return parameters


def _source_hash() -> str:
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()


def _input_hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _site_counts(sub: Study, eligible: pd.Series | None) -> dict:
    """Key counts of one site for the index: screened, eligible (rules and site verdict), randomized."""
    scr, rnd = sub.screening, sub.randomization
    out = {"screened": int(len(scr))}
    if eligible is not None:
        e = eligible.reindex(pd.Index(scr["subject_id"]))
        out.update(eligible_rules=int(e.eq(True).sum()), undetermined=int(e.isna().sum()))
    out.update(eligible=int((scr["screening_outcome"] == "eligible").sum()), randomized=int(len(rnd)),
               arms={a: int((rnd["arm"] == a).sum()) for a in sub.protocol.arm_codes})
    return out


def _read_manifest(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        return m if isinstance(m, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# ------------------------------------------------------------------------------------------------
# the batch
# ------------------------------------------------------------------------------------------------
def render_site_reports(study_path, *, sites="all", out="reports", jobs: int | None = None,
                        executor: Executor | None = None, only_failed: bool = False, force: bool = False,
                        data_cut_date: str | None = None, parameters: dict | None = None,
                        template: str | os.PathLike | None = None, min_cell: int = MIN_CELL,
                        timeout: float | None = 600, kernel_name: str = "python3", plotly_js: str = "shared",
                        progress: bool = True) -> ReportRun:
    """Render one HTML report per site, plus ``index.html`` and ``manifest.json``, into ``out``.

    Parameters
    ----------
    study_path : str, path-like or Study
        A study folder (read with :func:`trialkit.load_study`, validated) or a loaded Study.
    sites : "all" or list of str
        Site ids to render; ``"all"`` is every site of the sites table.
    out : str or path-like
        Output folder: ``index.html``, ``manifest.json``, ``sites/<site>.html``, ``assets/``.
    jobs : int, optional
        Parallel workers of the default thread pool (each keeps one warm kernel); default
        ``min(2, cpu count, sites)``. Ignored when ``executor`` is given.
    executor : concurrent.futures.Executor, optional
        Any executor; e.g. ``dask.distributed.Client(...).get_executor()`` renders on a cluster
        (the workers need trialkit installed; pages come back to this process, which writes them).
    only_failed : bool
        Render only the requested sites whose last status was not ``ok`` (failed or never rendered).
    force : bool
        Re-render even sites whose inputs are unchanged. Without it, a site is skipped when the hash
        of its data, the study aggregates, the parameters, the template and the trialkit version equals
        the one recorded in the manifest and its page exists.
    data_cut_date : str, optional
        ISO date printed in the header (default: the study's ``data_cut_date``).
    parameters : dict, optional
        Extra template parameters (output options), e.g. ``{"show_subject_listings": False}``;
        checked against the template's ``parameters`` cell before any kernel starts.
    template : path, optional
        A papermill template (default: ``trialkit/reports/templates/site_report.ipynb``).
    min_cell : int, default 5
        Study aggregates below this count are suppressed (at least 5).
    timeout : float, optional
        Seconds per cell before a site is failed (its kernel is then replaced).
    plotly_js : {"shared", "inline"}
        ``shared``: one ``assets/plotly-<version>.min.js`` referenced by every page (offline, no
        duplication); ``inline``: plotly.js embedded in every page (single-file pages, ~4.8 MB each).
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    ReportRun
        Paths and per-site statuses (``ok``, ``failed``, ``unchanged``); ``.ok`` is False when any
        site failed.

    Raises
    ------
    ReportError
        Before any kernel starts, for unknown or unsafe site ids, bad parameters or a bad template.

    Examples
    --------
    >>> import trialkit as tk
    >>> run = tk.render_site_reports("data/demo/b1931036", sites=["DE06", "FR09"], out="reports/demo")  # doctest: +SKIP
    >>> run.to_frame()[["site_id", "status"]]  # doctest: +SKIP
    """
    import trialkit

    from .._optional import require_extra
    from .page import index_page, install_plotly_js

    require_extra("reports", feature="render_site_reports")

    t_start = time.perf_counter()
    # ---- everything is checked before any kernel starts -----------------------------------------
    if plotly_js not in ("shared", "inline"):
        raise ReportError(f"plotly_js must be 'shared' or 'inline', not {plotly_js!r}.")
    if min_cell < MIN_CELL:
        raise ReportError(f"min_cell={min_cell}: study cells under {MIN_CELL} patients are always suppressed.")
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ReportError(f"jobs must be a positive integer, not {jobs!r}.")
    template = Path(template) if template is not None else DEFAULT_TEMPLATE
    if not template.is_file():
        raise ReportError(f"template {template} does not exist.")
    template_text = template.read_text(encoding="utf-8")
    try:
        contract = template_parameters(template)
    except Exception as exc:  # noqa: BLE001 - any unreadable template
        raise ReportError(f"template {template} cannot be read as a notebook ({exc}).") from None
    params = _check_parameters(contract, dict(parameters or {}))
    defaults = {}
    for k, v in contract.items():  # the template's own defaults, so the manifest records every value used
        if k not in _RUNNER_PARAMS:
            try:
                defaults[k] = ast.literal_eval(str(v.get("default")))
            except (ValueError, SyntaxError):
                defaults[k] = v.get("default")
    effective = {**defaults, **params}
    if data_cut_date is not None:
        try:
            data_cut_date = pd.Timestamp(data_cut_date).date().isoformat()
        except (ValueError, TypeError):
            raise ReportError(f"data_cut_date {data_cut_date!r} is not a date; give YYYY-MM-DD.") from None

    if isinstance(study_path, Study):
        from ..schemas import validate_study

        study = validate_study(study_path)  # every problem in one DataValidationError, before any kernel
    else:
        from ..io.flatfile import load_study

        study = load_study(study_path)
    if data_cut_date is None and study.data_cut_date is not None:
        data_cut_date = study.data_cut_date.date().isoformat()
    if "data_cut_date" in contract:
        params["data_cut_date"] = data_cut_date
    if "protocol" in contract:
        params["protocol"] = study.protocol.id

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
    names = safe_names(valid)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    sites_dir = inside(out, "sites")
    sites_dir.mkdir(exist_ok=True)
    manifest_path = inside(out, "manifest.json")
    index_path = inside(out, "index.html")

    previous = _read_manifest(manifest_path)
    prev_sites = previous.get("sites", {}) if isinstance(previous.get("sites"), dict) else {}
    if (previous.get("study") or {}).get("protocol") not in (None, study.protocol.id):
        prev_sites = {}  # the folder held another study's reports: its entries are not carried over

    # ---- start the workers' kernels now (everything is validated), while the study-wide work runs --
    own = executor is None
    warm = []
    if own:
        n_workers = max(1, jobs or min(2, os.cpu_count() or 1, len(requested)))
        executor = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="tk-report")
        # start kernels early only when some site will surely render (force, failed or never rendered)
        if force or any(prev_sites.get(x, {}).get("status") != "ok" for x in requested):
            import threading

            barrier = threading.Barrier(n_workers)  # one warm-up per thread, all at once
            warm = [executor.submit(_warm_up, barrier, kernel_name) for _ in range(n_workers)]

    outcomes: dict[str, dict] = {}
    try:
        # ---- study-wide work, once ------------------------------------------------------------------
        checksum = study.checksum()
        eligibility, eligible = None, None
        if len(study.screening) and study.protocol.criteria:
            from ..eligibility import evaluate_eligibility

            eligibility = evaluate_eligibility(study)
            eligible = eligibility.eligible
        aggregates = study_aggregates(study, min_cell=min_cell, checksum=checksum, eligibility=eligibility)
        aggregates["validated"] = True  # load_study / validate_study above raised on any problem
        tk_version = trialkit.__version__
        src_hash = _source_hash()
        tmpl_hash = hashlib.sha256(template_text.encode()).hexdigest()

        tasks, entries, results = {}, {}, {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for sid in requested:
            sub = site_subset(study, sid)
            site_sum = sub.checksum()
            h = _input_hash(site_sum, aggregates, params, tmpl_hash, tk_version, src_hash, plotly_js)
            rel = f"sites/{names[sid]}.html"
            path = inside(out, "sites", f"{names[sid]}.html")
            prev = prev_sites.get(sid, {})
            row = sub.sites.iloc[0] if len(sub.sites) else {}
            entry = {"file": rel, "site_name": None if pd.isna(row.get("site_name")) else str(row.get("site_name")),
                     "country": None if pd.isna(row.get("country")) else str(row.get("country")),
                     "parameters": {**effective, **params, "site_id": sid,
                                    "study_path": f"{study.source} [rows of site {sid} only]"},
                     "study_checksum": checksum, "site_data_checksum": site_sum, "input_hash": h,
                     "trialkit_version": tk_version, "template": str(template.name), "template_sha256": tmpl_hash,
                     "counts": _site_counts(sub, eligible)}
            entries[sid] = entry
            if only_failed and prev.get("status") == "ok" and path.exists():
                results[sid] = SiteResult(sid, "unchanged", path, None, 0.0)
                continue
            if not force and not only_failed and prev.get("status") == "ok" and prev.get("input_hash") == h \
                    and path.exists():
                results[sid] = SiteResult(sid, "unchanged", path, None, 0.0)
                continue
            title = f"Site report — {sid} — {study.protocol.id.upper()}"
            tasks[sid] = SiteTask(site_id=sid, tables=sub.tables(), protocol=study.protocol.id,
                                  data_cut_date=data_cut_date, aggregates=aggregates, parameters=params,
                                  template=template_text, kernel_name=kernel_name, timeout=timeout,
                                  plotly_js=plotly_js, title=title,
                                  footer=f"trialkit {tk_version} · study data checksum {checksum} · generated {now}")
        if plotly_js == "shared" and tasks:
            install_plotly_js(out)

        # ---- render ----------------------------------------------------------------------------------
        if tasks:
            futures = {executor.submit(run_site, t): sid for sid, t in tasks.items()}
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(futures), desc="site reports", unit="site", file=sys.stderr)
            for fut in as_completed(futures):
                sid = futures[fut]
                try:
                    outcomes[sid] = fut.result()
                except Exception as exc:  # noqa: BLE001 - a broken worker fails its site, not the run
                    outcomes[sid] = {"status": "failed", "html": None, "duration_s": 0.0,
                                     "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=2)}"}
                if bar is not None:
                    bar.update(1)
                    if outcomes[sid]["status"] != "ok":
                        bar.set_postfix_str(f"failed: {sid}")
            if bar is not None:
                bar.close()
    finally:
        if own:
            for w in warm:  # a kernel that could not start fails the sites, not the run
                w.exception()
            import threading

            barrier = threading.Barrier(n_workers)  # each thread stops its own kernel, on its own loop
            for f in [executor.submit(_cool_down, barrier) for _ in range(n_workers)]:
                f.exception()
            executor.shutdown(wait=True)
            from .kernel import shutdown_kernels

            shutdown_kernels()

    # ---- write pages, manifest, index (only here, only inside `out`) ------------------------------
    manifest_sites = dict(prev_sites)
    for sid in requested:
        path = inside(out, "sites", f"{names[sid]}.html")
        entry = entries[sid]
        if sid in outcomes:
            o = outcomes[sid]
            entry.update(status=o["status"], error=o.get("error"), duration_s=o.get("duration_s", 0.0),
                         rendered_at=now, last_run="rendered", worker=o.get("worker"),
                         stderr_outputs=o.get("stderr_outputs", 0))
            if o["status"] == "ok":
                _write_atomic(path, o["html"])
                entry["page_bytes"] = path.stat().st_size
                results[sid] = SiteResult(sid, "ok", path, None, entry["duration_s"])
            else:
                if path.exists():  # a stale page must not outlive a failed re-render
                    path.unlink()
                entry["file"] = None
                results[sid] = SiteResult(sid, "failed", None, o.get("error"), entry["duration_s"])
        else:
            prev = prev_sites.get(sid, {})
            entry.update(status="ok", error=None, duration_s=prev.get("duration_s", 0.0),
                         rendered_at=prev.get("rendered_at"), last_run="unchanged",
                         page_bytes=prev.get("page_bytes"))
            for k in ("input_hash", "site_data_checksum", "study_checksum", "parameters", "trialkit_version"):
                entry[k] = prev.get(k, entry[k])  # the page on disk was made from these
        manifest_sites[sid] = entry
    manifest = {
        "trialkit_version": tk_version,
        "generated": now,
        "study": {"protocol": study.protocol.id, "title": study.protocol.title, "source": str(study.source),
                  "checksum": checksum, "data_cut_date": data_cut_date, "arms": list(study.protocol.arm_codes),
                  "min_cell": min_cell},
        "template": {"file": template.name, "sha256": tmpl_hash},
        "run": {"requested": len(requested), "rendered": len(outcomes),
                "ok": sum(1 for o in outcomes.values() if o["status"] == "ok"),
                "failed": sum(1 for o in outcomes.values() if o["status"] != "ok"),
                "unchanged": len(requested) - len(outcomes), "only_failed": only_failed, "force": force,
                "executor": type(executor).__name__,
                "plotly_js": plotly_js, "duration_s": round(time.perf_counter() - t_start, 3)},
        "sites": manifest_sites,
    }
    _write_atomic(manifest_path, json.dumps(manifest, indent=2, default=str))
    _write_atomic(index_path, index_page(manifest))
    return ReportRun(out=out, index=index_path, manifest=manifest_path,
                     results=tuple(results[s] for s in requested),
                     duration_s=round(time.perf_counter() - t_start, 3))
