"""Per-site reports: papermill templates rendered on warm kernels, isolated by construction.

Public entry point: :func:`render_site_reports` (also ``trialkit reports`` on the command line, see
:mod:`trialkit.reports.cli`). The template is ``templates/site_report.ipynb``; its sections are
computed by :mod:`trialkit.reports.sections`.
"""

from __future__ import annotations

from .runner import DEFAULT_TEMPLATE, ReportRun, SiteResult, render_site_reports, template_parameters

__all__ = ["render_site_reports", "ReportRun", "SiteResult", "template_parameters", "DEFAULT_TEMPLATE",
           "cli_main", "add_reports_subparser"]


def __getattr__(name):
    if name in ("cli_main", "add_reports_subparser", "run_reports_command"):
        from . import cli

        return getattr(cli, name)
    raise AttributeError(f"module 'trialkit.reports' has no attribute {name!r}")
