"""Errors and warnings raised by trialkit.

Every error a user can trigger with bad input is a :class:`TrialkitError`. Data problems are
gathered lazily into one :class:`DataValidationError` whose ``failure_cases`` frame names the
file, row, column and value of every problem, so a data manager can fix them all in one pass.
"""

from __future__ import annotations

import pandas as pd

FAILURE_COLUMNS = ["table", "file", "row", "column", "value", "problem", "fix"]


class TrialkitError(Exception):
    """Base class of every error trialkit raises on purpose."""


class ProtocolError(TrialkitError):
    """A protocol file (or a user-supplied criterion) is malformed or unknown."""


class UnsafeExpressionError(ProtocolError):
    """A declarative rule tried to reach beyond the data (imports, attributes, files, calls)."""


class StudyFolderError(TrialkitError):
    """A study folder cannot be read at all (missing folder, unreadable file, bad study.yaml)."""


class ReconciliationError(TrialkitError):
    """Counts that must add up (funnel, CONSORT boxes) do not."""


class ReportError(TrialkitError):
    """A per-site report could not be set up or rendered."""


class DataValidationError(TrialkitError):
    """Input data break the canonical model.

    Attributes
    ----------
    failure_cases : pandas.DataFrame
        One row per problem with columns ``table, file, row, column, value, problem, fix``.
        ``row`` is the line number in the source file (the header is line 1) for flat files, or the
        1-based record number for Parquet / SAS transport files; it is empty for table-level
        problems such as a missing column.
    """

    def __init__(self, failure_cases: pd.DataFrame, *, source: str | None = None):
        self.failure_cases = failure_cases.reindex(columns=FAILURE_COLUMNS).reset_index(drop=True)
        self.source = source
        super().__init__(self._message())

    def _message(self, limit: int = 30) -> str:
        fc = self.failure_cases
        where = f" in {self.source}" if self.source else ""
        lines = [f"{len(fc)} data problem(s){where}. Fix each one below in the named file and re-run:"]
        for rec in fc.head(limit).itertuples(index=False):
            row = "" if pd.isna(rec.row) else f", row {int(rec.row)}"
            col = "" if pd.isna(rec.column) or rec.column == "" else f", column `{rec.column}`"
            val = "" if pd.isna(rec.value) or rec.value == "" else f" (value {rec.value!r})"
            fix = "" if pd.isna(rec.fix) or rec.fix == "" else f" -> {rec.fix}"
            lines.append(f"  - {rec.file}{row}{col}{val}: {rec.problem}{fix}")
        if len(fc) > limit:
            lines.append(f"  ... and {len(fc) - limit} more (see .failure_cases)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # pragma: no cover - presentation only
        return f"<p><b>{len(self.failure_cases)} data problem(s)</b></p>" + self.failure_cases.to_html(index=False)


class TrialkitWarning(UserWarning):
    """Something was accepted but deserves the user's attention (e.g. imputed partial dates)."""


class ForecastError(TrialkitError):
    """A forecast cannot be made from the data and arguments given (no patient yet, no site open, …)."""
