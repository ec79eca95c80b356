"""Reports for three audiences — site, study team, DSMB — rendered from papermill templates on warm
kernels; what each audience may see is enforced by the data its kernel receives.

Public entry points: :func:`render_reports` (``audience="site" | "study" | "dsmb"``) and
:func:`render_site_reports` (the site case); ``trialkit reports STUDY --audience …`` on the command
line (:mod:`trialkit.reports.cli`). The templates are ``templates/<audience>_report.ipynb``; their
sections are computed by :mod:`trialkit.reports.sections` (site), :mod:`~.study_sections` and
:mod:`~.dsmb_sections`. The runner is split into :mod:`~.plan`, :mod:`~.execute` and :mod:`~.publish`.
"""

from __future__ import annotations

from .audience import AUDIENCES, CLOSED_BANNER
from .runner import (
    DEFAULT_TEMPLATE,
    PageResult,
    ReportRun,
    SiteResult,
    render_reports,
    render_site_reports,
    template_parameters,
)

__all__ = ["render_reports", "render_site_reports", "ReportRun", "PageResult", "SiteResult", "template_parameters",
           "DEFAULT_TEMPLATE", "AUDIENCES", "CLOSED_BANNER", "cli_main", "add_reports_subparser"]


def __getattr__(name):
    if name in ("cli_main", "add_reports_subparser", "run_reports_command"):
        from . import cli

        return getattr(cli, name)
    raise AttributeError(f"module 'trialkit.reports' has no attribute {name!r}")
