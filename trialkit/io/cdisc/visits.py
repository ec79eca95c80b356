"""SV (subject visits) → each subject's screening, first and baseline visit dates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..mapped import Mapped
from ..sas import Problems, dtc, first_per_subject, upper_values
from ..sas import col as _col

__all__ = ["map_sv"]


def map_sv(sv: pd.DataFrame, *, file: str = "sv.xpt") -> Mapped:
    """The visit dates a subject's screening and randomization dates may come from.

    Parameters
    ----------
    sv : pandas.DataFrame
        The SV domain (``USUBJID, VISITNUM, SVSTDTC``; ``VISIT`` names the visits).
    file : str
        Its file name, for problems and notes.

    Returns
    -------
    Mapped
        ``frame``: one row per subject with a readable visit date (in order of first record) and
        the columns ``USUBJID``; ``screening_visit`` (the first visit, by ``VISITNUM``, whose
        ``VISIT`` starts with "SCREEN"); ``first_visit`` (the earliest ``SVSTDTC``);
        ``baseline_visit`` (the first visit whose ``VISIT`` starts with "BASELINE"). Unreadable
        dates are problems (table ``screening``); partial dates are imputed to the first day and noted.

    Examples
    --------
    >>> import pandas as pd
    >>> sv = pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-2"], "VISITNUM": [1.0, 2.0, 1.0],
    ...                    "VISIT": ["SCREENING 1", "BASELINE", "SCREENING 1"],
    ...                    "SVSTDTC": ["2020-01-02", "2020-01-10", "2020-01"]})
    >>> m = map_sv(sv)
    >>> m.frame
      USUBJID screening_visit first_visit baseline_visit
    0     S-1      2020-01-02  2020-01-02     2020-01-10
    1     S-2      2020-01-01  2020-01-01            NaT
    >>> m.notes
    ('sv.xpt: 1 partial date(s) in SVSTDTC imputed to the first day of the period',)
    """
    probs, notes = Problems(), []
    svd = dtc(sv, "SVSTDTC", file=file, table="screening", probs=probs, notes=notes)
    visit = upper_values(_col(sv, "VISIT"))
    vnum = pd.to_numeric(sv["VISITNUM"], errors="coerce")
    screening = first_per_subject(sv, svd.where(_starts_with(visit, "SCREEN")), order=vnum)
    first = first_per_subject(sv, svd, order=svd)
    baseline = first_per_subject(sv, svd.where(_starts_with(visit, "BASELINE")), order=vnum)
    subjects = pd.Index(pd.unique(sv.loc[svd.notna().to_numpy(), "USUBJID"].dropna()))
    frame = pd.DataFrame({
        "USUBJID": pd.array(subjects, dtype="string"),
        "screening_visit": subjects.map(screening).astype("datetime64[ns]"),
        "first_visit": subjects.map(first).astype("datetime64[ns]"),
        "baseline_visit": subjects.map(baseline).astype("datetime64[ns]"),
    })
    return Mapped(frame, probs.frame(), tuple(notes))


def _starts_with(values: np.ndarray, prefix: str) -> np.ndarray:
    """Which of the (upper-cased, None for missing) values start with ``prefix``."""
    return np.array([v is not None and v.startswith(prefix) for v in values], dtype=bool)
