"""The ``trialkit`` command line: parses arguments and calls the package, nothing more.

Commands
--------
``trialkit demo [--out DIR] [--seed N]``
    Generate the demo studies of both protocols, validate them and print a summary.
``trialkit synth PROTOCOL --n-screened N --out DIR [--seed S] [--format csv|parquet]``
    Generate a synthetic study for a protocol.
``trialkit validate PATH``
    Validate a study folder: exit 0 when valid, 1 with a readable report of every problem.
``trialkit protocols``
    List the known protocols.
``trialkit reports STUDY --sites all|ID... --out DIR --jobs N``
    Render per-site reports (when the reports module is installed).

Bad data never produces a Python traceback: every :class:`~trialkit.errors.TrialkitError` is
printed as a message and the command exits 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import DataValidationError, TrialkitError


def _print_problems(err: DataValidationError, limit: int, out=None) -> None:
    out = out or sys.stdout
    fc = err.failure_cases
    src = f" in {err.source}" if err.source else ""
    print(f"INVALID: {len(fc)} problem(s){src}. Fix each in the named file and run `trialkit validate` again.",
          file=out)
    for (file, table), grp in fc.groupby(["file", "table"], sort=False, dropna=False):
        print(f"\n{file} ({table} table): {len(grp)} problem(s)", file=out)
        for rec in grp.head(limit).itertuples(index=False):
            row = "-" if rec.row != rec.row or rec.row is None else str(int(rec.row))
            col = rec.column if isinstance(rec.column, str) and rec.column else "-"
            val = "" if not isinstance(rec.value, str) or not rec.value else f"  value={rec.value!r}"
            print(f"  row {row:>6}  column {col:<24} {rec.problem}{val}", file=out)
            if isinstance(rec.fix, str) and rec.fix:
                print(f"  {'':>6}         fix: {rec.fix}", file=out)
        if len(grp) > limit:
            print(f"  ... {len(grp) - limit} more in this file (use --all or --report FILE)", file=out)


def _summary(study) -> str:
    s = study.summary()
    width = max(len(m) for m in s["measure"])
    return "\n".join(f"  {m:<{width}}  {v}" for m, v in zip(s["measure"], s["value"]))


def cmd_validate(args) -> int:
    from .io.flatfile import load_study

    try:
        study = load_study(args.path)
    except DataValidationError as err:
        _print_problems(err, 10**9 if args.all else 20)
        if args.report:
            err.failure_cases.to_csv(args.report, index=False)
            print(f"\nFull problem table written to {args.report}")
        return 1
    print(f"VALID: {args.path} (protocol {study.protocol.id}, checksum {study.checksum()[:12]})")
    print(_summary(study))
    for note in study.notes:
        print(f"  note: {note}")
    return 0


def cmd_synth(args) -> int:
    from .io.flatfile import write_study
    from .synth import synthesize

    study = synthesize(args.protocol, n_screened=args.n_screened, seed=args.seed)
    paths = write_study(study, args.out, format=args.format)
    print(f"Wrote {study.protocol.id} synthetic study (seed {args.seed}) to {args.out}: "
          f"{', '.join(p.name for p in paths)}")
    print(_summary(study))
    return 0


def cmd_demo(args) -> int:
    from .io.flatfile import load_study
    from .synth import make_demo

    folders = make_demo(args.out) if args.seed is None else make_demo(args.out, seed=args.seed)
    status = 0
    for pid, folder in folders.items():
        try:
            study = load_study(folder)
        except DataValidationError as err:
            _print_problems(err, 20)
            status = 1
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
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trialkit", description="Analytics for randomized clinical trials: "
                                     "screening, eligibility, randomization, outcomes, per-site reports.")
    parser.add_argument("--version", action="version", version=f"trialkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="generate and validate the demo studies of both protocols")
    p.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the demo's fixed seed)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("synth", help="generate a synthetic study for a protocol")
    p.add_argument("protocol", help="protocol id (see `trialkit protocols`)")
    p.add_argument("--n-screened", type=int, required=True, help="number of screened patients")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format (default: csv)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("validate", help="validate a study folder (exit 0 valid, 1 invalid)")
    p.add_argument("path", help="study folder")
    p.add_argument("--all", action="store_true", help="print every problem, not the first 20 per file")
    p.add_argument("--report", metavar="CSV", help="also write the full problem table to this CSV file")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("protocols", help="list the known protocols")
    p.set_defaults(func=cmd_protocols)

    try:
        from .reports.cli import add_reports_subparser
    except ImportError:
        pass
    else:
        add_reports_subparser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DataValidationError as err:
        _print_problems(err, 20)
        return 1
    except TrialkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (FileNotFoundError, PermissionError, IsADirectoryError) as err:
        print(f"error: {err.strerror or err}: {err.filename}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:  # pragma: no cover - output piped into `head`
        sys.stderr.close()
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
