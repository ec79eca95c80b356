"""The `trialkit` command: exit codes and readable reports, never a traceback for bad data."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from trialkit.cli import main

MINIMAL = Path(__file__).parent / "fixtures" / "studies" / "minimal"
BROKEN = Path(__file__).parent / "fixtures" / "studies" / "broken"


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "synth", "validate", "protocols"):
        assert cmd in out


def test_validate_valid_study_exits_0(capsys):
    assert main(["validate", str(MINIMAL)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and "randomized: InO" in out


def test_validate_broken_study_exits_1_with_file_row_column(capsys, tmp_path):
    report = tmp_path / "problems.csv"
    assert main(["validate", str(BROKEN), "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert "screening.csv (screening table)" in out
    assert "row      3  column age_years" in out
    assert "randomization.csv (randomization table)" in out
    problems = pd.read_csv(report)
    assert {"file", "row", "column", "value", "problem", "fix"} <= set(problems.columns)
    expected = {("screening.csv", 3, "age_years"), ("screening.csv", 4, "sex"),
                ("randomization.csv", 3, "arm"), ("randomization.csv", 4, "subject_id")}
    got = {(f, int(r), c) for f, r, c in problems[["file", "row", "column"]].dropna().itertuples(index=False)}
    assert expected <= got


def test_validate_not_a_folder_is_a_message_not_a_traceback():
    proc = subprocess.run([sys.executable, "-m", "trialkit.cli", "validate", "no/such/folder"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "not a folder" in proc.stderr


def test_validate_garbage_file_is_a_message(tmp_path):
    d = tmp_path / "s"
    shutil.copytree(MINIMAL, d)
    (d / "screening.parquet").write_bytes(b"not parquet at all")
    (d / "screening.csv").unlink()
    proc = subprocess.run([sys.executable, "-m", "trialkit.cli", "validate", str(d)], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "cannot be read" in proc.stderr


def test_protocols_command(capsys):
    assert main(["protocols"]) == 0
    out = capsys.readouterr().out
    assert "b1931036" in out and "ALLR3 vs InO (1:2)" in out
