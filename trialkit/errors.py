"""Errors and warnings raised by trialkit.

Every error a user can trigger with bad input or bad arguments is a :class:`TrialkitError`; no
other exception is meant to escape the public API. Data problems are gathered lazily into one
:class:`DataValidationError` whose ``failure_cases`` frame names the file, line, column and value
of every problem, so a data manager can fix them all in one pass.

Each class carries the exit code the ``trialkit`` command ends with when it is raised:

====  ===========================================================================================
0     valid
1     data problems (:class:`DataValidationError`, :class:`StudyFolderError`, a failed report, ...)
2     usage or configuration error (:class:`UsageError`, :class:`ConfigError` for a bad
      ``study.yaml``, :class:`ProtocolError` for an unknown or malformed protocol)
3     internal error: a bug in trialkit (the command writes the traceback to a file)
====  ===========================================================================================
"""

from __future__ import annotations

import pandas as pd

FAILURE_COLUMNS = ["table", "file", "row", "column", "value", "problem", "fix"]

#: Values echoed in messages and problem tables are cut to this many characters.
VALUE_WIDTH = 80


def truncate(value, width: int = VALUE_WIDTH) -> str:
    """``value`` as text of at most ``width`` characters (``…`` marks a cut)."""
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


class TrialkitError(Exception):
    """Base class of every error trialkit raises on purpose."""

    exit_code = 1


class UsageError(TrialkitError, ValueError):
    """A function or command was called with a bad argument (a value out of range, an unknown option).

    Also a :class:`ValueError`, so code written against the built-in error keeps working.
    """

    exit_code = 2


class InputTypeError(UsageError, TypeError):
    """An argument of the wrong kind (e.g. a list where a Study or a DataFrame is expected)."""


class ProtocolError(TrialkitError):
    """A protocol file (or a user-supplied criterion) is malformed or unknown."""

    exit_code = 2


class UnsafeExpressionError(ProtocolError):
    """A declarative rule tried to reach beyond the data (imports, attributes, files, calls)."""


class StudyFolderError(TrialkitError):
    """A study folder cannot be read at all (two files for one table, a file named in study.yaml missing)."""


class StudyPathError(StudyFolderError, UsageError):
    """The path given as a study folder is not a folder (a bad argument: exit code 2)."""

    exit_code = 2


class ReconciliationError(TrialkitError):
    """Counts that must add up (funnel, CONSORT boxes) do not."""


class ReportError(TrialkitError):
    """A per-site report could not be set up or rendered."""


class MissingDependencyError(TrialkitError, ImportError):
    """A feature needs an optional extra that is not installed (the message names the pip command).

    Also an ``ImportError``, so code that treats a missing package as "not available" keeps working.
    """


class ExportError(UsageError):
    """A table cannot be written where or how it was asked (unknown suffix, missing folder)."""


class BalanceError(TrialkitError):
    """The balance table cannot be computed from the given data."""


class AllocationError(TrialkitError):
    """Allocation monitoring cannot run on the given data."""


class ScheduleError(TrialkitError):
    """A schedule cannot be generated or verified with the given arguments."""


class SimulationError(TrialkitError):
    """A design simulation cannot run with the given arguments."""


def no_failures() -> pd.DataFrame:
    """An empty frame of :data:`FAILURE_COLUMNS` (a copy of one built once: building it costs half a
    millisecond)."""
    return _NO_FAILURES.copy()


_NO_FAILURES = pd.DataFrame(columns=FAILURE_COLUMNS)


class DataValidationError(TrialkitError):
    """Input data break the canonical model.

    Attributes
    ----------
    failure_cases : pandas.DataFrame
        One row per problem with columns ``table, file, row, column, value, problem, fix``.
        ``row`` is the line number in the source file as a text editor shows it (the header is
        line 1; blank lines and line breaks inside quoted fields count), the row number of a
        spreadsheet, or the 1-based record number for Parquet / SAS transport files; it is empty
        for file- or column-level problems such as a missing column. ``value`` is cut to
        :data:`VALUE_WIDTH` characters.
    warnings : pandas.DataFrame
        Findings that do not make the data invalid (e.g. dates after the data cut), same columns.
    """

    def __init__(self, failure_cases: pd.DataFrame, *, source: str | None = None,
                 warnings: pd.DataFrame | None = None):
        self.failure_cases = _tidy(failure_cases)
        self.warnings = _tidy(warnings if warnings is not None else no_failures())
        self.source = source
        super().__init__(self._message())

    def _message(self, limit: int = 30) -> str:
        fc = self.failure_cases
        where = f" in {self.source}" if self.source else ""
        lines = [f"{len(fc)} data problem(s){where}. Fix each one below in the named file and re-run:"]
        for rec in fc.head(limit).itertuples(index=False):
            lines.append("  - " + describe(rec))
        if len(fc) > limit:
            lines.append(f"  ... and {len(fc) - limit} more (see .failure_cases)")
        if len(self.warnings):
            lines.append(f"{len(self.warnings)} warning(s) besides (see .warnings)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # pragma: no cover - presentation only
        return f"<p><b>{len(self.failure_cases)} data problem(s)</b></p>" + self.failure_cases.to_html(index=False)


class ConfigError(DataValidationError, StudyFolderError):
    """``study.yaml`` is not valid: every problem names the file, the line, the key and the fix.

    A configuration error (exit code 2); ``failure_cases`` lists every problem, as for data.
    """

    exit_code = 2

    def _message(self, limit: int = 30) -> str:
        fc = self.failure_cases
        lines = [f"{self.source or 'study.yaml'}: {len(fc)} configuration problem(s). Fix each one below and re-run:"]
        lines += ["  - " + describe(rec) for rec in fc.head(limit).itertuples(index=False)]
        if len(fc) > limit:
            lines.append(f"  ... and {len(fc) - limit} more (see .failure_cases)")
        return "\n".join(lines)


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reindex(columns=FAILURE_COLUMNS).reset_index(drop=True)
    if len(out):
        out["value"] = [v if v is None or (isinstance(v, float) and v != v) else truncate(v) for v in out["value"]]
    return out


def position_word(file) -> str:
    """``line`` for text files (CSV, TSV, YAML), ``row`` for spreadsheets and record-based files."""
    name = str(file).lower()
    return "row" if name.endswith((".xlsx", ".xlsm", ".xls", ".parquet", ".pq", ".xpt", ".sas7bdat")) else "line"


def describe(rec) -> str:
    """One problem record (a row of ``failure_cases``) as one readable line."""
    row = "" if pd.isna(rec.row) else f", {position_word(rec.file)} {int(rec.row)}"
    col = "" if pd.isna(rec.column) or rec.column == "" else f", column `{rec.column}`"
    val = "" if pd.isna(rec.value) or rec.value == "" else f" (value {rec.value!r})"
    fix = "" if pd.isna(rec.fix) or rec.fix == "" else f" -> {rec.fix}"
    return f"{rec.file}{row}{col}{val}: {rec.problem}{fix}"


class TrialkitWarning(UserWarning):
    """Something was accepted but deserves the user's attention (e.g. dates after the data cut)."""


class EmptySelectionError(TrialkitError):
    """A population, subgroup or filter left no subjects to analyse (the message names which)."""


class ForecastError(TrialkitError):
    """A forecast cannot be made from the data and arguments given (no patient yet, no site open, …)."""
