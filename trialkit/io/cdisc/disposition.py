"""DM + DS + ADSL → the canonical ``disposition`` table (one row per randomized subject)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..mapped import Mapped, canonical_frame
from ..sas import Problems, SubjectLookup, dtc, upper, upper_values
from ..sas import col as _col
from .dm import randomized_records

__all__ = ["map_disposition", "POPULATION_FLAGS"]

#: canonical disposition population column → the ADSL flag it comes from
POPULATION_FLAGS = {"analysed": "ITTFL", "safety": "SAFFL", "efficacy": "EFFFL", "per_protocol": "PPROTFL"}
_DT = "datetime64[ns]"


def _ds_checks(ds: pd.DataFrame, rs: pd.Series, probs: Problems, notes: list, files: dict) -> None:
    """Disposition events of subjects without an arm are noted; a SCREEN FAILURE of a randomized subject is a problem."""
    file = files["ds"]
    randomized = ds["USUBJID"].isin(rs).to_numpy()
    outside = ds["status"].notna().to_numpy() & ~randomized
    if outside.any():
        kinds = ", ".join(f"{k} {v}" for k, v in ds["status"][outside].value_counts().items())
        notes.append(f"{file}: {int(outside.sum())} disposition event(s) of subjects without an arm are not in the "
                     f"disposition table (randomized subjects only; their outcome is in screening): {kinds}")
    sf = randomized & (upper_values(ds["status"]) == "SCREEN FAILURE")
    probs.add("disposition", file, ds["record"].to_numpy(dtype=float)[sf] + 1, "DSDECOD", ds["status"][sf],
              "SCREEN FAILURE disposition for a subject with an arm in DM",
              f"correct DSDECOD in {file} or ARMCD in {files['dm']}")


def _treatment(dm, r, adsl: SubjectLookup, dm_date) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Treatment start/end (ADSL TRTSDT/TRTEDT, else DM RFXSTDTC/RFXENDTC, start else RFSTDTC) and ``treated``."""
    start = adsl("treatment_start_date", _DT).fillna(dm_date("RFXSTDTC")).fillna(dm_date("RFSTDTC"))
    end = adsl("treatment_end_date", _DT).fillna(dm_date("RFXENDTC"))
    treated = start.notna().astype("boolean")
    if (adsl.frame is None or "treatment_start_date" not in adsl.frame.columns) and "RFXSTDTC" not in dm.columns:
        treated = treated.mask(start.isna())  # no exposure dates: unknown unless ACTARMCD says NOTTRT
    treated = treated.mask(upper(_col(r, "ACTARMCD")).eq("NOTTRT").fillna(False).to_numpy(), False)
    return start, end, treated


def _end_of_study(ds: SubjectLookup, adsl: SubjectLookup, notes: list):
    """The DS disposition event (status, date, term, DS record) of each subject; ADSL DCDECOD fills gaps."""
    status = ds("status", "string")
    date = ds("date", _DT)
    term = ds("term", "string")
    record = ds("record", "Float64").to_numpy(dtype=float, na_value=np.nan)
    dcdecod = adsl("end_of_study_status", "string")
    if dcdecod.notna().any():
        both = (status.notna() & dcdecod.notna() & (upper(status) != upper(dcdecod))).fillna(False)
        if both.any():
            notes.append(f"ADSL DCDECOD differs from the DS disposition event for {int(both.sum())} subject(s); "
                         "DS is used")
        status = status.fillna(dcdecod)
    return status, date, term, record


def _death(dm, rpos, rs, ds: SubjectLookup, adsl: SubjectLookup, dm_date, notes: list):
    """Death flag (DM DTHFL, else ADSL DTHFL), death date (DM DTHDTC, else DS DEATH) and last contact."""
    if "DTHFL" in dm.columns:  # "Y" or blank, never "N": blank is False when the variable exists
        dthfl = pd.Series(upper(dm["DTHFL"]).eq("Y").fillna(False).to_numpy()[rpos], index=rs.index, dtype="boolean")
    else:
        dthfl = adsl("death_flag", "boolean")
    death = dm_date("DTHDTC").fillna(ds("death_date", _DT))
    no_date = (dthfl.fillna(False) & death.isna()).to_numpy(dtype=bool)
    if no_date.any():
        notes.append(f"{int(no_date.sum())} subject(s) flagged dead (DTHFL) without a death date")
    return dthfl, death, death.fillna(dm_date("RFPENDTC"))


def _populations(adsl: SubjectLookup, notes: list) -> dict:
    out = {col: adsl(col, "boolean") for col in POPULATION_FLAGS}
    present = [f"{c} = ADSL {v}" for c, v in POPULATION_FLAGS.items() if adsl.frame is not None
               and c in adsl.frame.columns]
    notes.append("disposition populations: " + ("; ".join(present) if present else "none recorded")
                 + ("" if adsl.frame is not None else " (no ADSL)") + "; treated = a treatment start date exists")
    return out


def map_disposition(dm: pd.DataFrame, *, ds: pd.DataFrame | None = None, adsl: pd.DataFrame | None = None,
                    files: dict[str, str] | None = None) -> Mapped:
    """One disposition row per randomized DM subject.

    Parameters
    ----------
    dm : pandas.DataFrame
    ds, adsl : pandas.DataFrame, optional
        The frames of :func:`~trialkit.io.cdisc.map_ds` and :func:`~trialkit.io.cdisc.map_adsl`.
    files : dict, optional
        File names of ``dm`` and ``ds``.

    Returns
    -------
    Mapped
        ``disposition``: ``discontinued`` = the disposition event is not COMPLETED, with its date and
        ``DSDECOD`` as reason; ``lost_to_follow_up`` from LOST TO FOLLOW-UP; ``treated`` = a
        treatment start exists (ADSL ``TRTSDT``, else DM ``RFXSTDTC``, else ``RFSTDTC``), False for
        ``ACTARMCD = "NOTTRT"``; ``death_date`` (DM ``DTHDTC``, else the DS DEATH date);
        ``last_contact_date`` (death, else DM ``RFPENDTC``); ``analysed``/``safety``/``efficacy``/
        ``per_protocol`` from ADSL ``ITTFL``/``SAFFL``/``EFFFL``/``PPROTFL`` (empty without them).
        Extra: ``treatment_end_date``, ``end_of_study_status``, ``end_of_study_date``,
        ``discontinuation_term``, ``death_flag``. ``records`` are the DS records of the events
        (with DS), else the DM positions.

    Examples
    --------
    >>> import pandas as pd
    >>> dm = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "SITEID": "11", "ARMCD": ["PBO", "HI"],
    ...                    "RFSTDTC": ["2020-01-10", "2020-01-12"], "RFPENDTC": ["2020-06-01", "2020-03-01"]})
    >>> ds = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "status": ["COMPLETED", "LOST TO FOLLOW-UP"],
    ...                    "term": pd.NA, "date": pd.to_datetime(["2020-06-01", "2020-03-01"]), "record": [0, 1]})
    >>> adsl = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "record": [0, 1], "efficacy": [True, False]})
    >>> map_disposition(dm, ds=ds, adsl=adsl).frame[["subject_id", "discontinued", "efficacy", "safety"]]
      subject_id  discontinued  efficacy  safety
    0        S-1         False      True    <NA>
    1        S-2          True     False    <NA>
    """
    files = {"dm": "dm.xpt", "ds": "ds.xpt", **(files or {})}
    probs, notes = Problems(), []
    rpos, r = randomized_records(dm)
    rs = r["USUBJID"]
    parsed: dict[str, pd.Series] = {}

    def dm_date(var: str) -> pd.Series:
        if var not in parsed:
            parsed[var] = dtc(dm, var, file=files["dm"], table="disposition", probs=probs, notes=notes)
        return pd.Series(parsed[var].to_numpy()[rpos], index=rs.index, dtype=_DT)

    if ds is not None:
        _ds_checks(ds, rs, probs, notes, files)
    ds_at, adsl_at = SubjectLookup(rs, ds), SubjectLookup(rs, adsl)
    start, end, treated = _treatment(dm, r, adsl_at, dm_date)
    status, status_date, term, record = _end_of_study(ds_at, adsl_at, notes)
    discontinued = (~upper(status).eq("COMPLETED")).astype("boolean").mask(status.isna())
    ltfu = upper(status).eq("LOST TO FOLLOW-UP").astype("boolean").mask(status.isna())
    dthfl, death, last = _death(dm, rpos, rs, ds_at, adsl_at, dm_date, notes)
    off = discontinued.fillna(False).to_numpy(dtype=bool)
    frame = canonical_frame("disposition", len(r), {
        "subject_id": rs.astype("string").array, "treated": treated.array, "treatment_start_date": start.to_numpy(),
        "discontinued": discontinued.array, "discontinuation_date": status_date.where(off).to_numpy(),
        "discontinuation_reason": status.where(off).array, "lost_to_follow_up": ltfu.array,
        "lost_to_follow_up_date": status_date.where(ltfu.fillna(False).to_numpy(dtype=bool)).to_numpy(),
        "death_date": death.to_numpy(), "last_contact_date": last.to_numpy(),
        **{c: v.array for c, v in _populations(adsl_at, notes).items()},
    }, extra={"treatment_end_date": end.to_numpy(), "end_of_study_status": status.array,
              "end_of_study_date": status_date.to_numpy(), "discontinuation_term": term.where(off).array,
              "death_flag": dthfl.array})
    if status.notna().any():
        counts = ", ".join(f"{k} {v}" for k, v in status.value_counts().items())
        notes.append(f"disposition: {counts}; induction columns empty (no induction phase in these data)")
    return Mapped(frame, probs.frame(), tuple(notes), records=record if ds is not None else rpos.astype(float))
