"""The ``trialkit`` command line: parses arguments and calls the package, nothing more.

Commands
--------
``trialkit demo [--out DIR] [--seed N]``
    Generate the demo studies of both protocols, validate them and print a summary.
``trialkit synth PROTOCOL --n-screened N --out DIR [--seed S] [--format csv|parquet]``
    Generate a synthetic study for a protocol.
``trialkit validate PATH [--all] [--report FILE.csv|FILE.xlsx]``
    Validate a study folder: every problem with its file, line, column, value and fix.
``trialkit protocols``
    List the known protocols.
``trialkit reports STUDY --sites all|ID... --out DIR --jobs N``
    Render per-site reports (when the reports module is installed).

Exit codes (every command)
--------------------------
0 valid / done; 1 data problems (the list is printed); 2 usage or configuration error (bad
arguments, a bad ``study.yaml``, an unknown protocol); 3 internal error — a bug in trialkit: one
line says so and where the full traceback was written. Never a Python traceback on the terminal.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import tempfile
import traceback
from pathlib import Path

from . import __version__
from .errors import ConfigError, DataValidationError, TrialkitError, UsageError, position_word, truncate

EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3


# --------------------------------------------------------------------------------------------
# printing
# --------------------------------------------------------------------------------------------
def _print_records(fc, limit: int, out) -> None:
    for (file, table), grp in fc.groupby(["file", "table"], sort=False, dropna=False):
        what = f" ({table} table)" if isinstance(table, str) and table and not str(file).endswith(".yaml") else ""
        print(f"\n{file}{what}: {len(grp)} problem(s)", file=out)
        word = position_word(file)
        for rec in grp.head(limit).itertuples(index=False):
            row = "-" if rec.row != rec.row or rec.row is None else str(int(rec.row))
            col = truncate(rec.column, 40) if isinstance(rec.column, str) and rec.column else "-"
            val = "" if not isinstance(rec.value, str) or not rec.value else f"  value={truncate(rec.value, 60)!r}"
            label = "key" if str(file).endswith(".yaml") else "column"
            print(f"  {word} {row:>6}  {label} {col:<24} {rec.problem}{val}", file=out)
            if isinstance(rec.fix, str) and rec.fix:
                print(f"  {'':>6}         fix: {rec.fix}", file=out)
        if len(grp) > limit:
            print(f"  ... {len(grp) - limit} more in this file (use --all or --report FILE)", file=out)


def _print_problems(err: DataValidationError, limit: int, out=None) -> None:
    out = out or sys.stdout
    fc = err.failure_cases
    src = f" in {err.source}" if err.source else ""
    if isinstance(err, ConfigError):
        print(f"CONFIGURATION ERROR: {len(fc)} problem(s) in {err.source or 'study.yaml'}. Fix each and run the "
              "command again.", file=out)
    else:
        print(f"INVALID: {len(fc)} problem(s){src}. Fix each in the named file and run `trialkit validate` again.",
              file=out)
    _print_records(fc, limit, out)
    _print_warnings(err.warnings, out)


def _print_warnings(frame, out) -> None:
    if frame is None or not len(frame):
        return
    print(f"\nWARNINGS ({len(frame)}, not errors):", file=out)
    for rec in frame.itertuples(index=False):
        where = "" if rec.row != rec.row else f", first on {position_word(rec.file)} {int(rec.row)} ({rec.value})"
        print(f"  {rec.file}, column {rec.column}: {rec.problem}{where}", file=out)


def _summary(study) -> str:
    s = study.summary()
    width = max(len(m) for m in s["measure"])
    return "\n".join(f"  {m:<{width}}  {v}" for m, v in zip(s["measure"], s["value"]))


def _write_report(err: DataValidationError, path: str) -> Path:
    import pandas as pd

    from .io.export import write_table

    frame = pd.concat([err.failure_cases.assign(severity="error"), err.warnings.assign(severity="warning")],
                      ignore_index=True)
    return write_table(frame, path, sheet="problems")


# --------------------------------------------------------------------------------------------
# argument types (argparse turns their errors into a usage message and exit code 2)
# --------------------------------------------------------------------------------------------
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


#: The largest ``--n-screened`` (ten times the largest study in docs/synthetic-data.md): a number such
#: as 10**12 asked numpy for terabytes and ended as an internal error (exit 3), not a usage error.
MAX_SCREENED = 10_000_000


def screened_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_SCREENED:
        raise argparse.ArgumentTypeError(f"at most {MAX_SCREENED:,} screened patients, not {value:,}")
    return value


def seed_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed is a whole number from 0 to {2**32 - 1}, not {value}")
    return value


def iso_date(text: str) -> str:
    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD") from None


def _report_path(text: str) -> str:
    p = Path(text)
    if p.suffix.lower() not in (".csv", ".xlsx"):
        raise argparse.ArgumentTypeError(f"{text!r}: the report is written as .csv or .xlsx")
    if not p.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: the folder {p.parent} does not exist")
    return text


def _study_folder(path: str) -> None:
    if not Path(path).is_dir():
        from .errors import StudyPathError

        raise StudyPathError(f"{path} is not a folder; give the folder that holds sites.csv, screening.csv, …")


def _output_folder(path: str) -> None:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"--out {path}: a file of that name exists; give a folder.")


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------
def cmd_validate(args) -> int:
    from .io.flatfile import load_study

    _study_folder(args.path)
    try:
        study = load_study(args.path)
    except DataValidationError as err:
        _print_problems(err, 10**9 if args.all else 20)
        if args.report:
            print(f"\nFull problem table written to {_write_report(err, args.report)}")
        return err.exit_code
    print(f"VALID: {args.path} (protocol {study.protocol.id}, checksum {study.checksum()[:12]})")
    print(_summary(study))
    for note in study.notes:
        print(f"  {'' if note.startswith('warning: ') else 'note: '}{note}")
    return EXIT_OK


def cmd_synth(args) -> int:
    from .io.flatfile import write_study
    from .protocols import get_protocol
    from .synth import synthesize

    get_protocol(args.protocol)  # an unknown protocol is a usage error before any work
    _output_folder(args.out)
    study = synthesize(args.protocol, n_screened=args.n_screened, seed=args.seed)
    paths = write_study(study, args.out, format=args.format)
    print(f"Wrote {study.protocol.id} synthetic study (seed {args.seed}) to {args.out}: "
          f"{', '.join(p.name for p in paths)}")
    print(_summary(study))
    return EXIT_OK


def cmd_demo(args) -> int:
    from .io.flatfile import load_study
    from .synth import make_demo

    _output_folder(args.out)
    folders = make_demo(args.out) if args.seed is None else make_demo(args.out, seed=args.seed)
    status = EXIT_OK
    for pid, folder in folders.items():
        try:
            study = load_study(folder)
        except DataValidationError as err:
            _print_problems(err, 20)
            status = EXIT_DATA
            continue
        print(f"\n{pid}: {folder} — valid (checksum {study.checksum()[:12]})")
        print(_summary(study))
    return status


def cmd_protocols(args) -> int:
    from .protocols import get_protocol, protocols

    for pid in protocols():
        p = get_protocol(pid)
        ratio = ":".join(str(v) for v in p.ratio.values())
        arms = " vs ".join(p.arm_codes)
        print(f"{pid:<10} phase {p.phase:<3} {arms} ({ratio})  {len(p.site_table())} sites  {p.title[:60]}")
    return EXIT_OK


def cmd_reports(args) -> int:
    """``reports``: the arguments are checked here (usage errors, exit code 2), then the reports
    module renders; its data problems reach :func:`main` like every command's."""
    from .reports.cli import run_reports_command

    _study_folder(args.study)
    _output_folder(args.out)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}.")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {args.timeout}.")
    if args.template and not Path(args.template).is_file():
        raise UsageError(f"--template {args.template}: no such file.")
    if args.data_cut_date:
        try:
            iso_date(args.data_cut_date)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"--data-cut-date: {exc}.") from None
    audience = getattr(args, "audience", "site")
    if args.sites != ["all"] and audience != "site":
        raise UsageError(f"--sites: the {audience} report covers the whole study in one page; leave --sites out.")
    _check_template(args.template, audience, dict(args.param))
    if args.sites != ["all"]:
        _check_sites(args.study, args.sites)
    return run_reports_command(args)


def _check_template(template, audience: str, parameters: dict) -> None:
    """``--template`` and ``--param``: a template that is not a notebook, or a parameter it does not
    declare, is a usage error (exit code 2) before any work."""
    import warnings

    from .errors import ReportError
    from .reports.audience import AUDIENCES
    from .reports.plan import check_parameters, load_template

    if template and Path(template).suffix.lower() != ".ipynb":
        raise UsageError(f"--template {template}: a template is a Jupyter notebook (.ipynb).")
    try:
        with warnings.catch_warnings():  # papermill warns about file names on stderr
            warnings.simplefilter("ignore")
            tpl = load_template(template, default=AUDIENCES[audience].template)
        check_parameters(tpl.contract, parameters, audience=AUDIENCES[audience])
    except ReportError as exc:
        flag = "--param" if parameters and "parameter" in str(exc) and "template has no" not in str(exc) \
            else "--template"
        raise UsageError(f"{flag}: {exc}") from None


def _check_sites(folder: str, sites: list[str]) -> None:
    from .io.flatfile import load_table

    try:
        known = set(load_table(folder, "sites")["site_id"].dropna())
    except TrialkitError:
        return  # the sites table itself has problems: the full validation reports them
    unknown = [s for s in sites if s not in known]
    if unknown and known:
        shown = ", ".join(sorted(known)[:8]) + (", …" if len(known) > 8 else "")
        raise UsageError(f"--sites: {', '.join(map(repr, unknown))} not in the study's sites table "
                         f"({len(known)} sites: {shown}).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trialkit", description="Analytics for randomized clinical trials: "
                                     "screening, eligibility, randomization, outcomes, per-site reports.",
                                     epilog="Exit codes: 0 valid, 1 data problems, 2 usage or configuration "
                                     "error, 3 internal error (a bug; the traceback goes to a file).")
    parser.add_argument("--version", action="version", version=f"trialkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="generate and validate the demo studies of both protocols")
    p.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    p.add_argument("--seed", type=seed_int, default=None, help="random seed (default: the demo's fixed seed)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("synth", help="generate a synthetic study for a protocol")
    p.add_argument("protocol", help="protocol id (see `trialkit protocols`)")
    p.add_argument("--n-screened", type=screened_count, required=True,
                   help=f"number of screened patients (1 to {MAX_SCREENED:,})")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=seed_int, default=1, help="random seed (default: 1)")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format (default: csv)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("validate", help="validate a study folder (exit 0 valid, 1 data problems, 2 bad study.yaml)")
    p.add_argument("path", help="study folder")
    p.add_argument("--all", action="store_true", help="print every problem, not the first 20 per file")
    p.add_argument("--report", metavar="FILE", type=_report_path,
                   help="also write every problem and warning to this .csv or .xlsx file")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("protocols", help="list the known protocols")
    p.set_defaults(func=cmd_protocols)

    try:
        from .reports.cli import add_reports_subparser
    except ImportError:
        pass
    else:
        add_reports_subparser(sub).set_defaults(func=cmd_reports)
    return parser


def _internal_error(exc: BaseException) -> int:
    """One line on the terminal; the traceback in a file."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        fd, name = tempfile.mkstemp(prefix=f"trialkit-error-{stamp}-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"trialkit {__version__}\n{' '.join(sys.argv)}\n\n{text}")
        where = f"the full traceback is in {name}"
    except OSError as io_exc:
        where = f"the traceback could not be written ({io_exc.strerror})"
    first = truncate(str(exc).splitlines()[0] if str(exc) else "", 100)
    print(f"trialkit: internal error, a bug in trialkit (not in your data or arguments): {type(exc).__name__}"
          f"{': ' + first if first else ''}; {where}. Please report it with that file.", file=sys.stderr)
    return EXIT_BUG


def main(argv: list[str] | None = None) -> int:
    """Run the command; return its exit code (0 valid, 1 data problems, 2 usage/configuration, 3 bug)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits with code 2
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except DataValidationError as err:  # ConfigError too: the problem list, exit code 1 or 2
        _print_problems(err, 20)
        return err.exit_code
    except TrialkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # pragma: no cover - output piped into `head`
        sys.stderr.close()
        return EXIT_DATA
    except OSError as err:  # an output folder that cannot be made, a file that cannot be written
        target = f": {err.filename}" if getattr(err, "filename", None) else ""
        print(f"error: {err.strerror or err}{target}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a bug, reported without a traceback
        return _internal_error(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
