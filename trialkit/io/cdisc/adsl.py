"""ADSL (subject-level analysis dataset) → dates, population flags and baseline covariates per subject."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..mapped import Mapped
from ..sas import Problems, VariableLabels, bad_flag, flag, sas_date

__all__ = ["map_adsl", "adam_frame", "ADSL_VARIABLES"]

#: ADSL variable → (column of the mapped frame, kind, canonical table its problems belong to)
ADSL_VARIABLES: dict[str, tuple[str, str, str]] = {
    "RANDDT": ("randomization_date", "date", "randomization"),
    "TRTSDT": ("treatment_start_date", "date", "disposition"),
    "TRTEDT": ("treatment_end_date", "date", "disposition"),
    "DCDECOD": ("end_of_study_status", "text", "disposition"),
    "DTHFL": ("death_flag", "y_or_blank", "disposition"),
    "ITTFL": ("analysed", "flag", "disposition"),
    "SAFFL": ("safety", "flag", "disposition"),
    "EFFFL": ("efficacy", "flag", "disposition"),
    "PPROTFL": ("per_protocol", "flag", "disposition"),
    "TRT01P": ("planned_arm_label", "text", "randomization"),
    "TRT01A": ("actual_arm_label", "text", "randomization"),
    "SITEGR1": ("site_group", "text", "randomization"),
    "HEIGHTBL": ("height_cm", "number", "screening"),
    "WEIGHTBL": ("weight_kg", "number", "screening"),
    "BMIBL": ("bmi", "number", "screening"),
}
#: the unit a covariate must be in; a variable label naming another unit ("Height (in)") is a problem
_UNITS = {"HEIGHTBL": ("cm",), "WEIGHTBL": ("kg",), "BMIBL": ("kg/m^2", "kg/m2", "kg/m**2", "kg/m²")}


def _number(adsl, var, table, probs: Problems, file) -> pd.Series:
    raw = adsl[var]
    x = pd.to_numeric(raw, errors="coerce").astype("Float64")
    probs.add_mask((raw.notna() & x.isna()).to_numpy(), adsl, var, table=table, file=file,
                   problem=f"{var} is not a number", fix=f"write {var} in {file} as a number")
    label = str((adsl.attrs.get("labels") or {}).get(var, ""))
    unit = re.search(r"\(([^)]*)\)\s*$", label)
    if var in _UNITS and unit and unit.group(1).strip().lower().replace(" ", "") not in _UNITS[var]:
        probs.add(table, file, [np.nan], var, [label], f"{var} is labelled in {unit.group(1)}, not "
                  f"{_UNITS[var][0]}", f"convert {var} in {file} to {_UNITS[var][0]}")
        x = x.mask(x.notna())
    return x


def _flag(adsl, var, kind, table, probs: Problems, file) -> pd.Series:
    probs.add_mask(bad_flag(adsl[var]), adsl, var, table=table, file=file,
                   problem=f"{var} must be Y, N or blank", fix=f"correct {var} in {file}")
    return flag(adsl[var], blank=False if kind == "y_or_blank" else None)


def _read(adsl, var, probs: Problems, notes: list, file) -> pd.Series:
    _, kind, table = ADSL_VARIABLES[var]
    if kind == "date":
        return sas_date(adsl, var, file=file, table=table, probs=probs, notes=notes)
    if kind == "number":
        return _number(adsl, var, table, probs, file)
    if kind == "text":
        return adsl[var].astype("string")
    return _flag(adsl, var, kind, table, probs, file)


def map_adsl(adsl: pd.DataFrame, *, file: str = "adsl.xpt") -> Mapped:
    """The ADSL variables the canonical tables use, one row per subject.

    Parameters
    ----------
    adsl : pandas.DataFrame
        ADSL (clean, see :func:`trialkit.io.sas.clean_frame`); ``USUBJID`` required.
    file : str

    Returns
    -------
    Mapped
        ``frame``: ``USUBJID``, ``record`` (0-based position in the file) and, for each variable of
        :data:`ADSL_VARIABLES` that ADSL has, its column: SAS dates as dates, Y/N flags as booleans
        (blank = missing; ``DTHFL`` is "Y" or blank, so blank = False), ``HEIGHTBL``/``WEIGHTBL``/
        ``BMIBL`` as numbers (``height_cm``, ``weight_kg``, ``bmi``; a variable label naming another
        unit is a problem). A repeated subject is a problem and its first record is used.
        ``records`` are the file positions of the rows.

    Examples
    --------
    >>> import pandas as pd
    >>> adsl = pd.DataFrame({"USUBJID": ["S-1", "S-3"], "TRTSDT": [21924.0, 21946.0], "EFFFL": ["Y", "N"],
    ...                      "WEIGHTBL": [61.2, 80.0], "MMSETOT": [23.0, 19.0]})
    >>> map_adsl(adsl).frame
      USUBJID  record treatment_start_date  efficacy  weight_kg
    0     S-1       0           2020-01-10      True       61.2
    1     S-3       1           2020-02-01     False       80.0
    """
    probs, notes = Problems(), []
    dup = (adsl["USUBJID"].duplicated(keep="first") & adsl["USUBJID"].notna()).to_numpy()
    probs.add_mask(dup, adsl, "USUBJID", table="ADSL", file=file, problem="subject appears more than once",
                   fix="ADSL has one record per subject; remove the repeats")
    cols = {"USUBJID": adsl["USUBJID"].astype("string"), "record": pd.Series(np.arange(len(adsl)), dtype="int64")}
    for var, (name, _, _) in ADSL_VARIABLES.items():
        if var in adsl.columns:
            cols[name] = _read(adsl, var, probs, notes, file)
    keep = ~dup & adsl["USUBJID"].notna().to_numpy()
    frame = pd.DataFrame(cols)[keep].reset_index(drop=True)
    used = [v for v in ADSL_VARIABLES if v in adsl.columns]
    notes.append(f"{file}: {len(frame)} subject(s); {', '.join(f'{v} → {ADSL_VARIABLES[v][0]}' for v in used)}"
                 f"{'; ' if used else ''}every ADSL variable is kept in Study.adam['adsl']")
    return Mapped(frame, probs.frame(), tuple(notes), records=frame["record"].to_numpy(dtype=float))


def adam_frame(data: pd.DataFrame) -> pd.DataFrame:
    """An ADaM dataset as kept in ``Study.adam``: every variable, with ``subject_id`` (from USUBJID) first."""
    out = pd.concat([pd.DataFrame({"subject_id": data["USUBJID"].astype("string")}, index=data.index),
                     data], axis=1)
    out.attrs["labels"] = VariableLabels(data.attrs.get("labels"))
    return out
