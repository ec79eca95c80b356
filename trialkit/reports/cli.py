"""``trialkit reports``: render a study's reports for one audience (site, study, dsmb) from the command line.

The lead's :mod:`trialkit.cli` wires it in with::

    from trialkit.reports.cli import add_reports_subparser
    add_reports_subparser(subparsers)          # adds `reports`, sets func=run_reports_command

and ``args.func(args)`` returns the exit code. ``python -m trialkit.reports.cli STUDY ...`` and
:func:`cli_main` run the same command standalone.

Exit codes: 0 all requested pages ok (or unchanged), 1 at least one page failed or the inputs were
refused (unknown site, bad parameter, an output folder holding another audience's reports), 2 usage
error.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_reports_subparser", "run_reports_command", "cli_main"]


def _param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param {text!r}: write KEY=VALUE, e.g. show_subject_listings=false")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def add_reports_subparser(subparsers) -> argparse.ArgumentParser:
    """Add the ``reports`` command to an ``argparse`` subparsers object; return its parser."""
    p = subparsers.add_parser(
        "reports", help="render HTML reports for sites, the study team or the DSMB, an index and a manifest",
        description="Render a study's HTML reports for one audience (papermill templates on warm kernels), plus "
                    "index.html and manifest.json: one page per site (--audience site, the default), one "
                    "page for the blinded study team pooled over arms (study), or the closed report by arm for "
                    "the Data Monitoring Committee (dsmb, in its own output folder). Pages whose inputs did not "
                    "change are skipped.")
    add_reports_arguments(p)
    p.set_defaults(func=run_reports_command)
    return p


def add_reports_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="study folder (sites.csv, screening.csv, ... and study.yaml)")
    p.add_argument("--audience", choices=("site", "study", "dsmb"), default="site",
                   help="site: one page per site (default); study: one page for the blinded study team, pooled "
                        "over arms; dsmb: the closed report by arm for the Data Monitoring Committee")
    p.add_argument("--sites", nargs="+", default=["all"], metavar="ID",
                   help="'all' (default) or one or more site ids (site audience only)")
    p.add_argument("--out", default="reports", help="output folder (default: reports)")
    p.add_argument("--jobs", type=int, default=None, help="parallel workers, each with one warm kernel "
                                                          "(default: min(2, CPUs))")
    p.add_argument("--only-failed", action="store_true", help="re-render only sites that failed or were never "
                                                              "rendered")
    p.add_argument("--force", action="store_true", help="re-render even sites whose inputs are unchanged")
    p.add_argument("--data-cut-date", default=None, help="data-cut date for the header (default: study.yaml)")
    p.add_argument("--param", action="append", type=_param, default=[], metavar="KEY=VALUE",
                   help="template parameter (JSON value), e.g. --param show_subject_listings=false")
    p.add_argument("--template", default=None, metavar="IPYNB",
                   help="a papermill template of your own (default: trialkit's <audience>_report.ipynb)")
    p.add_argument("--plotly-js", choices=("shared", "inline"), default="shared",
                   help="one shared assets/plotly.min.js (default) or plotly.js inside every page")
    p.add_argument("--timeout", type=float, default=600, help="seconds per notebook cell (default 600)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_reports_command(args) -> int:
    """Run the command for parsed ``args``; print a summary; return the exit code."""
    from ..errors import DataValidationError, TrialkitError
    from .runner import render_reports

    sites = "all" if args.sites == ["all"] else args.sites
    try:
        run = render_reports(args.study, audience=getattr(args, "audience", "site"), sites=sites, out=args.out,
                             jobs=args.jobs, only_failed=args.only_failed, force=args.force,
                             data_cut_date=args.data_cut_date, parameters=dict(args.param),
                             plotly_js=args.plotly_js, timeout=args.timeout, template=args.template,
                             progress=not args.no_progress)
    except DataValidationError:
        raise  # `trialkit` prints every data problem with its file and line
    except TrialkitError as exc:
        print(f"trialkit reports: {exc}", file=sys.stderr)
        return 1
    df = run.to_frame()
    counts = df["status"].value_counts()
    print(f"{counts.get('ok', 0)} rendered, {counts.get('unchanged', 0)} unchanged (skipped), "
          f"{counts.get('failed', 0)} failed in {run.duration_s:.1f} s")
    for r in run.results:
        if r.status == "failed":
            first = (r.error or "").splitlines()[0] if r.error else ""
            print(f"  FAILED {r.page}: {first}", file=sys.stderr)
    print(f"index: {run.index}")
    print(f"manifest: {run.manifest}")
    return 0 if run.ok else 1


def cli_main(argv=None) -> int:
    """Standalone entry point: ``trialkit.reports.cli_main(["data/demo/b1931036", "--sites", "all"])``."""
    p = argparse.ArgumentParser(prog="trialkit reports", description=add_reports_subparser.__doc__)
    add_reports_arguments(p)
    args = p.parse_args(argv)
    from ..errors import DataValidationError

    try:
        return run_reports_command(args)
    except DataValidationError as exc:
        print(f"trialkit reports: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli_main())
