"""Render reports: plan, execute, publish (the one entry point that ties the three together).

:func:`render_reports` checks the request and prepares each page's data for its audience
(:mod:`trialkit.reports.plan`), runs the pages on warm kernels (:mod:`trialkit.reports.execute`)
and writes the pages, the manifest and the index (:mod:`trialkit.reports.publish`). Only the calling
process writes into the output folder, so nothing a site id or a worker does can write elsewhere.
:func:`render_site_reports` is the site audience.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Executor

from .data import MIN_CELL
from .execute import Workers, execute, run_page, run_site
from .plan import DEFAULT_TEMPLATE, ReportTask, plan_sites, prepare, template_parameters
from .publish import PageResult, ReportRun, SiteResult, publish

__all__ = ["render_reports", "render_site_reports", "ReportRun", "PageResult", "SiteResult", "ReportTask",
           "run_page", "run_site", "DEFAULT_TEMPLATE", "template_parameters"]


def render_reports(data, *, audience: str = "site", sites="all", out="reports", jobs: int | None = None,
                   executor: Executor | None = None, only_failed: bool = False, force: bool = False,
                   data_cut_date: str | None = None, parameters: dict | None = None,
                   template: str | os.PathLike | None = None, min_cell: int = MIN_CELL,
                   timeout: float | None = 600, kernel_name: str = "python3", plotly_js: str = "shared",
                   progress: bool = True) -> ReportRun:
    """Render a study's reports for one audience, plus ``index.html`` and ``manifest.json``, into ``out``.

    What each audience may see is decided by the data its kernel receives, not by its template:

    * ``"site"`` — one page per site: the site's own patients (allocation by arm, results pooled
      over arms unless reporting is open) and study-wide figures pooled over arms, small cells
      suppressed;
    * ``"study"`` — one page for the blinded study team: the whole trial pooled over arms
      (enrollment against plan, screening, eligibility, the site league table, allocation checks,
      pooled outcome and event counts); no outcome or safety result by arm;
    * ``"dsmb"`` — the closed report for the Data Monitoring Committee: everything by arm (CONSORT,
      Table 1, response, EFS and OS, deaths, adverse events). Every page carries a "CLOSED — for the Data
      Monitoring Committee only" banner; the output folder must be its own.

    A protocol file may declare ``reporting: {comparative_outcomes: open, reason: …}`` (e.g. a
    completed trial); then the site and study pages also show outcomes by arm, saying why. See
    :mod:`trialkit.reports.audience`.

    Parameters
    ----------
    data : str, path-like or Study
        A study folder (read with :func:`trialkit.load_study`, validated) or a loaded Study.
    audience : {"site", "study", "dsmb"}, default "site"
    sites : "all" or list of str
        Site ids to render (``site`` audience); ``"all"`` is every site of the sites table. The
        study and dsmb reports cover the whole study: leave it at ``"all"``.
    out : str or path-like
        Output folder: ``index.html``, ``manifest.json``, ``assets/`` and ``sites/<site>.html``
        (site) or ``pages/<audience>.html`` (study, dsmb). A folder holding another audience's
        reports is refused, and closed and open reports never nest in each other's folders.
    jobs : int, optional
        Parallel workers of the default thread pool (each keeps one warm kernel); default
        ``min(2, cpu count, pages)``. Ignored when ``executor`` is given.
    executor : concurrent.futures.Executor, optional
        Any executor; e.g. ``dask.distributed.Client(...).get_executor()`` renders on a cluster
        (the workers need trialkit installed; pages come back to this process, which writes them).
    only_failed : bool
        Render only the requested pages whose last status was not ``ok`` (failed or never rendered).
    force : bool
        Re-render even pages whose inputs are unchanged. Without it, a page is skipped when the hash
        of its data, the aggregates, the parameters, the template and the trialkit version equals the
        one recorded in the manifest and its file exists.
    data_cut_date : str, optional
        ISO date printed in the header (default: the study's ``data_cut_date``).
    parameters : dict, optional
        Extra template parameters (output options), e.g. ``{"show_subject_listings": False}``;
        checked against the template's ``parameters`` cell before any kernel starts.
    template : path, optional
        A papermill template (default: the audience's, ``trialkit/reports/templates/<audience>_report.ipynb``).
    min_cell : int, default 5
        Study aggregates shown to sites below this count are suppressed (at least 5).
    timeout : float, optional
        Seconds per cell before a page is failed (its kernel is then replaced).
    plotly_js : {"shared", "inline"}
        ``shared``: one ``assets/plotly-<version>.min.js`` referenced by every page (offline, no
        duplication); ``inline``: plotly.js embedded in every page (single-file pages, ~4.8 MB each).
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    ReportRun
        Paths and per-page statuses (``ok``, ``failed``, ``unchanged``); ``.ok`` is False when any
        page failed.

    Raises
    ------
    ReportError
        Before any kernel starts: unknown audience, unknown or unsafe site ids, bad parameters, a bad
        template, a malformed ``reporting:`` setting, or an output folder that is not the audience's own.

    Examples
    --------
    >>> import trialkit as tk
    >>> run = tk.render_reports("data/demo/b1931036", audience="study", out="reports/b1931036/study")  # doctest: +SKIP
    >>> run.to_frame()[["page", "status"]]  # doctest: +SKIP
    """
    from .._optional import require_extra

    require_extra("reports", feature="render_reports")
    t_start = time.perf_counter()
    setup = prepare(data, audience=audience, sites=sites, out=out, jobs=jobs, only_failed=only_failed, force=force,
                    data_cut_date=data_cut_date, parameters=parameters, template=template, min_cell=min_cell,
                    timeout=timeout, kernel_name=kernel_name, plotly_js=plotly_js)
    with Workers(executor, jobs=jobs, n_tasks=len(setup.requested), kernel_name=kernel_name) as workers:
        if setup.may_render():
            workers.warm_up()  # the kernels start while the study-wide work runs
        plan = plan_sites(setup)
        outcomes = execute(plan.tasks, workers.executor, progress=progress, desc=f"{audience} reports")
    return publish(plan, outcomes, executor=workers.name, t_start=t_start)


def render_site_reports(data, *, sites="all", out="reports", jobs: int | None = None,
                        executor: Executor | None = None, only_failed: bool = False, force: bool = False,
                        data_cut_date: str | None = None, parameters: dict | None = None,
                        template: str | os.PathLike | None = None, min_cell: int = MIN_CELL,
                        timeout: float | None = 600, kernel_name: str = "python3", plotly_js: str = "shared",
                        progress: bool = True) -> ReportRun:
    """Render one HTML report per site: :func:`render_reports` with ``audience="site"``.

    Each site's page shows that site's own patients and study-wide figures pooled over arms, with
    small cells suppressed; see :func:`render_reports` for every parameter (``data``: a study folder
    or a loaded Study, as there).

    Examples
    --------
    >>> import trialkit as tk
    >>> run = tk.render_site_reports("data/demo/b1931036", sites=["DE06", "FR09"], out="reports/demo")  # doctest: +SKIP
    >>> run.to_frame()[["site_id", "status"]]  # doctest: +SKIP
    """
    return render_reports(data, audience="site", sites=sites, out=out, jobs=jobs, executor=executor,
                          only_failed=only_failed, force=force, data_cut_date=data_cut_date, parameters=parameters,
                          template=template, min_cell=min_cell, timeout=timeout, kernel_name=kernel_name,
                          plotly_js=plotly_js, progress=progress)
