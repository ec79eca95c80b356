"""What a source mapper returns, and how it builds a canonical frame."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..model import empty_table
from .sas import no_problems

__all__ = ["Mapped", "canonical_frame"]


@dataclass(frozen=True)
class Mapped:
    """The output of one domain mapper.

    Attributes
    ----------
    frame : pandas.DataFrame
        The mapped frame (a canonical table, or the per-subject facts a domain contributes).
    problems : pandas.DataFrame
        One row per problem found (``table, file, row, column, value, problem, fix``; ``row`` is the
        1-based record number in the source file).
    notes : tuple of str
        What the mapper did that a reader should know, with counts.
    records : numpy.ndarray, optional
        The 0-based source record of each row of ``frame`` (NaN where none), so that problems the
        canonical model finds later can name the record in the file.
    """

    frame: pd.DataFrame
    problems: pd.DataFrame = field(default_factory=no_problems)
    notes: tuple[str, ...] = ()
    records: np.ndarray | None = None


def canonical_frame(table: str, n: int, data: dict, extra: dict | None = None) -> pd.DataFrame:
    """A canonical frame of ``n`` rows: the given columns cast to their dtypes, the others empty,
    then the ``extra`` (non-canonical) columns as given."""
    index = pd.RangeIndex(n)
    missing = np.full(n, -1)  # taking position -1 with allow_fill gives a missing value of the column's dtype
    cols = {c: _typed(data[c], index, empty.dtype) if c in data else empty.take(missing, allow_fill=True)
            for c, empty in _empty_arrays(table).items()}
    cols.update({k: pd.Series(v, index=index).copy().array for k, v in (extra or {}).items()})
    return pd.DataFrame(cols, index=index, copy=False)  # each column is new already: built once, not copied again


@functools.cache
def _empty_arrays(table: str) -> dict:
    """The canonical columns of ``table`` as empty arrays of their dtypes (arrays are never changed in place here)."""
    empty = empty_table(table)
    return {c: empty[c].array for c in empty.columns}


def _typed(values, index: pd.RangeIndex, dtype):
    """``values`` as a new array of ``dtype`` (never sharing memory with ``values``)."""
    if isinstance(values, np.ndarray | pd.api.extensions.ExtensionArray) and values.dtype == dtype:
        return values.copy()  # of the right type already (as the mappers pass their columns)
    s = pd.Series(values, index=index)
    return (s.copy() if s.dtype == dtype else s.astype(dtype)).array
