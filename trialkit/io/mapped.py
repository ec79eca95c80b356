"""What a source mapper returns, and how it builds a canonical frame."""

from __future__ import annotations

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
    out = empty_table(table).reindex(index)  # every canonical column missing throughout, in its dtype
    for c in [c for c in out.columns if c in data]:
        out[c] = pd.Series(data[c], index=index).astype(out[c].dtype)
    for k, v in (extra or {}).items():
        out[k] = pd.Series(v, index=index)
    return out
