"""DS (disposition) → each subject's disposition event, randomization and death dates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..mapped import Mapped
from ..sas import Problems, dtc, first_per_subject, text_values, upper_values
from ..sas import col as _col

__all__ = ["map_ds"]


def map_ds(ds: pd.DataFrame, *, file: str = "ds.xpt") -> Mapped:
    """One row per subject with what DS says about them.

    Parameters
    ----------
    ds : pandas.DataFrame
        The DS domain (``USUBJID, DSCAT, DSDECOD, DSSTDTC``; ``DSTERM`` when present).
    file : str

    Returns
    -------
    Mapped
        ``frame`` (subjects in order of first record) with ``USUBJID``; ``status``, ``term``,
        ``date`` and ``record`` (0-based) of the subject's ``DSCAT = "DISPOSITION EVENT"`` record —
        the latest by ``DSSTDTC`` when there are several (their number is noted); ``randomized_date``
        (a ``DSDECOD = "RANDOMIZED"`` record, any category) and ``death_date`` (``DSDECOD =
        "DEATH"``). Records outside DISPOSITION EVENT are counted in the notes. Unreadable dates are
        problems (table ``disposition``).

    Examples
    --------
    >>> import pandas as pd
    >>> ds = pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-2"],
    ...                    "DSCAT": ["PROTOCOL MILESTONE", "DISPOSITION EVENT", "DISPOSITION EVENT"],
    ...                    "DSDECOD": ["RANDOMIZED", "COMPLETED", "DEATH"],
    ...                    "DSSTDTC": ["2020-01-09", "2020-06-01", "2020-04-01"]})
    >>> map_ds(ds).frame[["USUBJID", "status", "date", "record", "randomized_date", "death_date"]]
      USUBJID     status       date  record randomized_date death_date
    0     S-1  COMPLETED 2020-06-01       1      2020-01-09        NaT
    1     S-2      DEATH 2020-04-01       2             NaT 2020-04-01
    """
    probs, notes = Problems(), []
    dsd = dtc(ds, "DSSTDTC", file=file, table="disposition", probs=probs, notes=notes)
    decod = upper_values(ds["DSDECOD"])
    is_event = upper_values(ds["DSCAT"]) == "DISPOSITION EVENT"
    several = ds["USUBJID"][is_event].duplicated(keep=False)
    if several.any():
        notes.append(f"{file}: {ds['USUBJID'][is_event][several].nunique()} subject(s) have several DISPOSITION "
                     "EVENT records; the latest (by DSSTDTC) is used")
    latest = _latest_events(text_values(ds["USUBJID"]), dsd.to_numpy(), is_event)
    if (~is_event).any():
        kinds = ", ".join(f"{k} {v}" for k, v in ds.loc[~is_event, "DSDECOD"].value_counts().items())
        notes.append(f"{file}: {int((~is_event).sum())} record(s) not in DSCAT DISPOSITION EVENT are not mapped "
                     f"({kinds})")
    randomized = first_per_subject(ds, dsd.where(decod == "RANDOMIZED"), order=dsd)
    death = first_per_subject(ds, dsd.where(decod == "DEATH"), order=dsd)
    subjects = pd.Index(pd.unique(ds["USUBJID"].dropna()))
    subjects = subjects[subjects.isin(list(latest)) | subjects.isin(randomized.index) | subjects.isin(death.index)]
    rec = np.array([latest.get(subject, -1) for subject in subjects], dtype=np.intp)  # -1: no event
    frame = pd.DataFrame({
        "USUBJID": pd.array(subjects, dtype="string"),
        "status": ds["DSDECOD"].astype("string").array.take(rec, allow_fill=True),
        "term": _col(ds, "DSTERM").astype("string").array.take(rec, allow_fill=True),
        "date": dsd.array.take(rec, allow_fill=True),
        "record": pd.arrays.IntegerArray(rec.astype(np.int64), rec < 0),
        "randomized_date": subjects.map(randomized).astype("datetime64[ns]"),
        "death_date": subjects.map(death).astype("datetime64[ns]"),
    })
    return Mapped(frame, probs.frame(), tuple(notes))


def _latest_events(subjects, dates: np.ndarray, is_event: np.ndarray) -> dict:
    """USUBJID → the record of its latest DISPOSITION EVENT (by date, a missing date first; then record order)."""
    pos = np.flatnonzero(is_event)
    order = pos[np.argsort(dates.view("i8")[pos], kind="stable")]  # NaT is the smallest int64: first
    latest = {}
    for p in order:
        latest[subjects[p]] = p
    return latest
