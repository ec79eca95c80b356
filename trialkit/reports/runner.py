"""Render reports: plan, execute, publish (the one entry point that ties the three together).

:func:`render_site_reports` checks the request and prepares every site's data
(:mod:`trialkit.reports.plan`), runs the sites on warm kernels (:mod:`trialkit.reports.execute`)
and writes the pages, the manifest and the index (:mod:`trialkit.reports.publish`). Only the calling
process writes into the output folder, so nothing a site id or a worker does can write elsewhere.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Executor

from .data import MIN_CELL
from .execute import Workers, execute, run_site
from .plan import DEFAULT_TEMPLATE, SiteTask, plan_sites, prepare, template_parameters
from .publish import ReportRun, SiteResult, publish

__all__ = ["render_site_reports", "ReportRun", "SiteResult", "SiteTask", "run_site", "DEFAULT_TEMPLATE",
           "template_parameters"]


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
    t_start = time.perf_counter()
    setup = prepare(study_path, sites=sites, out=out, jobs=jobs, only_failed=only_failed, force=force,
                    data_cut_date=data_cut_date, parameters=parameters, template=template, min_cell=min_cell,
                    timeout=timeout, kernel_name=kernel_name, plotly_js=plotly_js)
    with Workers(executor, jobs=jobs, n_tasks=len(setup.requested), kernel_name=kernel_name) as workers:
        if setup.may_render():
            workers.warm_up()  # the kernels start while the study-wide work runs
        plan = plan_sites(setup)
        outcomes = execute(plan.tasks, workers.executor, progress=progress)
    return publish(plan, outcomes, executor=workers.name, t_start=t_start)
