"""The `trialkit` command: exit codes (0 valid, 1 data problems, 2 usage or configuration error,
3 internal error), readable reports, never a traceback on the terminal."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from trialkit.cli import main
from trialkit.errors import TrialkitWarning

TESTS = Path(__file__).parent
MINIMAL = TESTS / "fixtures" / "studies" / "minimal"
BROKEN = TESTS / "fixtures" / "studies" / "broken"
TRUST = TESTS / "fixtures" / "studies" / "trust"


def run(*args, env=None):
    """The command in a fresh process, as a user runs it."""
    env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "trialkit.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


def run_here(capsys, *args):
    """The command in this process (what `run` does without a fresh interpreter): (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _overlay(tmp_path, name) -> Path:
    d = tmp_path / name
    shutil.copytree(MINIMAL, d)
    for f in (TRUST / name).iterdir():
        shutil.copy(f, d / f.name)
    return d


def test_help_lists_commands_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "synth", "validate", "protocols", "reports"):
        assert cmd in out
    assert "2 usage or configuration" in out


def test_validate_valid_study_exits_0(capsys):
    assert main(["validate", str(MINIMAL)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and "randomized: InO" in out


def test_validate_broken_study_exits_1_with_file_line_column(capsys, tmp_path):
    report = tmp_path / "problems.csv"
    assert main(["validate", str(BROKEN), "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert "screening.csv (screening table)" in out
    assert "line      3  column age_years" in out
    assert "randomization.csv (randomization table)" in out
    problems = pd.read_csv(report)
    assert {"file", "row", "column", "value", "problem", "fix", "severity"} <= set(problems.columns)
    expected = {("screening.csv", 3, "age_years"), ("screening.csv", 4, "sex"),
                ("randomization.csv", 3, "arm"), ("randomization.csv", 4, "subject_id")}
    got = {(f, int(r), c) for f, r, c in problems[["file", "row", "column"]].dropna().itertuples(index=False)}
    assert expected <= got


def test_printed_problems_stay_readable_with_a_600_character_header(tmp_path, capsys):
    d = tmp_path / "study"
    shutil.copytree(MINIMAL, d)
    lines = (d / "screening.csv").read_text().splitlines()
    long = "age_years" + " " * 300 + "x" * 300
    (d / "screening.csv").write_text("\n".join([lines[0] + f",{long},{long}"] + [x + ",1,2" for x in lines[1:]]))
    assert main(["validate", str(d)]) == 1
    out = capsys.readouterr().out
    assert "names `age_years" in out and max(map(len, out.splitlines())) < 250


def test_the_problem_report_is_a_safe_spreadsheet(tmp_path, capsys):
    """A value such as =HYPERLINK(...) in the data is echoed in the report: never as a formula."""
    d = tmp_path / "s"
    shutil.copytree(MINIMAL, d)
    scr = (d / "screening.csv").read_text().replace(",12.1,", ',"=HYPERLINK(""http://x"",""y"")",')
    (d / "screening.csv").write_text(scr)
    report = tmp_path / "problems.xlsx"
    assert main(["validate", str(d), "--report", str(report)]) == 1
    ws = openpyxl.load_workbook(report).active
    values = [c for row in ws.iter_rows() for c in row]
    assert any(c.value == '=HYPERLINK("http://x","y")' for c in values)
    assert not any(c.data_type == "f" for c in values)


def test_bad_study_yaml_exits_2_with_line_and_key(tmp_path, capsys):
    code, out, err = run_here(capsys, "validate", _overlay(tmp_path, "study_yaml"))
    assert code == 2 and "Traceback" not in out + err
    assert out.startswith("CONFIGURATION ERROR: 12 problem(s)")
    assert "line      2  key data_cut_date" in out and "did you mean `columns`?" in out


def test_data_cut_warnings_are_printed_and_do_not_fail(tmp_path, capsys):
    with pytest.warns(TrialkitWarning, match="after the data cut"):
        code, out, err = run_here(capsys, "validate", _overlay(tmp_path, "after_data_cut"))
    assert code == 0, out + err
    assert "warning: disposition.csv: `last_contact_date`: 2 date(s) after the data cut 2026-06-30" in out


def test_validate_invalid_lists_warnings_too(tmp_path, capsys):
    d = _overlay(tmp_path, "after_data_cut")
    shutil.copy(BROKEN / "screening.csv", d / "screening.csv")
    code, out, _ = run_here(capsys, "validate", d)
    assert code == 1 and "WARNINGS (1, not errors)" in out


def test_damaged_file_is_a_data_problem_not_a_crash(tmp_path, capsys):
    d = tmp_path / "s"
    shutil.copytree(MINIMAL, d)
    (d / "screening.parquet").write_bytes(b"not parquet at all")
    (d / "screening.csv").unlink()
    code, out, err = run_here(capsys, "validate", d)
    assert code == 1 and "Traceback" not in out + err
    assert "cannot be read as Parquet" in out


# every subcommand with bad arguments: a message and exit code 2, never a traceback
BAD_ARGUMENTS = [
    ("synth", "b1931036", "--n-screened", "0", "--out", "{tmp}/s"),
    ("synth", "b1931036", "--n-screened", "-5", "--out", "{tmp}/s"),
    ("synth", "b1931036", "--n-screened", "ten", "--out", "{tmp}/s"),
    ("synth", "b1931036", "--n-screened", "999999999999", "--out", "{tmp}/s"),
    ("synth", "b1931036", "--n-screened", "5", "--seed", "-1", "--out", "{tmp}/s"),
    ("synth", "nope", "--n-screened", "5", "--out", "{tmp}/s"),
    ("synth", "b1931036", "--n-screened", "5", "--out", "{tmp}/afile"),
    ("synth", "b1931036", "--n-screened", "5", "--out", "{tmp}/s", "--format", "xml"),
    ("synth", "b1931036"),
    ("demo", "--seed", "-3", "--out", "{tmp}/d"),
    ("demo", "--seed", "abc"),
    ("demo", "--out", "{tmp}/afile"),
    ("validate",),
    ("validate", "{tmp}/no/such/folder"),
    ("validate", "{tmp}/afile"),
    ("validate", str(MINIMAL), "--report", "{tmp}/no/dir/x.csv"),
    ("validate", str(MINIMAL), "--report", "{tmp}/x.json"),
    ("protocols", "extra"),
    ("reports", str(MINIMAL), "--jobs", "0", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--jobs", "two", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--timeout", "-5", "--out", "{tmp}/r"),
    ("reports", "{tmp}/no/such", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--sites", "XX99", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--data-cut-date", "2026-13-01", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--template", "{tmp}/nope.ipynb", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--param", "no_equals_sign", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--param", "no_such_parameter=1", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--param", "=1", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--param", "show_outcomes=3", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--template", "{tmp}/afile", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--template", "{tmp}/not_a_notebook.ipynb", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--audience", "study", "--sites", "AT01", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--audience", "dsmb", "--sites", "AT01", "--out", "{tmp}/r"),
    ("reports", str(MINIMAL), "--out", "{tmp}/afile"),
    ("reports", str(MINIMAL), "--plotly-js", "cdn"),
    ("nosuchcommand",),
    (),
]


@pytest.mark.parametrize("args", BAD_ARGUMENTS, ids=lambda a: " ".join(a)[:60] or "(none)")
def test_every_subcommand_with_bad_arguments_exits_2_without_a_traceback(tmp_path, args, capfd):
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "not_a_notebook.ipynb").write_text("{}")
    try:
        code = main([a.replace("{tmp}", str(tmp_path)) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    captured = capfd.readouterr()
    out = captured.out + captured.err
    assert code == 2, out
    assert "Traceback" not in out and out.strip()


@pytest.mark.parametrize("protocol", ["b1931036", "aall1732"])
def test_synth_with_one_screened_patient_writes_a_valid_study(tmp_path, protocol, capsys):
    """n = 1 (nobody eligible with seed 1) ended as an internal error (exit 3) in the randomization step."""
    assert main(["synth", protocol, "--n-screened", "1", "--out", str(tmp_path / "s")]) == 0
    assert main(["validate", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"randomized +0\n", out) and "Traceback" not in out


def test_bad_arguments_in_a_fresh_process(tmp_path):
    proc = run("synth", "b1931036", "--n-screened", "0", "--out", tmp_path / "s")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--n-screened" in proc.stderr


def test_an_internal_error_exits_3_with_one_line_and_the_traceback_in_a_file(tmp_path, monkeypatch, capsys):
    import trialkit.cli as cli

    def boom(args):
        raise ZeroDivisionError("division by zero in a helper")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), "protocols", boom))
    assert cli.main(["protocols"]) == 3
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "internal error, a bug in trialkit" in lines[0] and "Traceback" not in err
    written = list(tmp_path.glob("trialkit-error-*.txt"))
    assert len(written) == 1 and str(written[0]) in lines[0]
    assert "ZeroDivisionError: division by zero in a helper" in written[0].read_text()


def _with_func(parser, command, func):
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    sub.choices[command].set_defaults(func=func)
    return parser


def test_protocols_command(capsys):
    assert main(["protocols"]) == 0
    out = capsys.readouterr().out
    assert "b1931036" in out and "ALLR3 vs InO (1:2)" in out
