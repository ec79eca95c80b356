"""The one reader of ADaM ADTTE (time-to-event analysis datasets).

:func:`read_adtte` turns an ADTTE frame into the canonical ``outcomes`` columns. Both the CDISC
loader (:func:`trialkit.load_cdisc`) and the analyses given an ADTTE frame directly use it, so
both accept and reject the same records.

What maps to what
-----------------
=====================  =====================================================================
``outcomes`` column    ADTTE
=====================  =====================================================================
``subject_id``         ``USUBJID``
``endpoint``           ``PARAMCD``; extra ``endpoint_label`` from ``PARAM``
``event``              ``CNSR = 0`` → 1 (event); a positive integer → 0 (censored); extra ``cnsr``
``time_days``          ``AVAL`` when ``AVALU`` is empty or days; otherwise ``ADT − STARTDT + 1``
``start_date``         ``STARTDT`` (numeric SAS date, or ISO 8601 text)
``end_date``           ``ADT``
``event_description``  ``EVNTDESC``
``arm`` (extra)        the first of ``TRTP``, ``TRT01P``, ``TRTA``, ``TRT01A``, ``ARM`` (planned
                       before actual: intention to treat), a categorical ordered by its numeric
                       companion (``TRTPN``, ``TRT01PN`` …; ``TRTAN`` when ``TRTP`` equals
                       ``TRTA`` on every record), never alphabetically
flags (extra)          every ``…FL`` variable (``SAFFL``, ``ITTFL``, ``EFFFL``, ``ANL01FL`` …)
                       as a lower-case boolean column: Y = True, N = False, blank = missing
=====================  =====================================================================

The CNSR policy
---------------
ADaM lets a sponsor code censoring reasons as positive integers (``CNSR = 1, 2, …``), so
``CNSR = 0`` is an event and **any positive integer is a censoring** (values above 1 are counted in
the notes). A negative, fractional or missing ``CNSR`` is a problem naming the record: it is never
guessed. ``AVAL`` must equal ``ADT − STARTDT + 1`` (the ADaM convention: the start day is day 1)
when both dates are present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataValidationError
from ..results import Result
from .mapped import canonical_frame
from .sas import Problems, bad_flag, clean_frame, col, flag, no_problems, sas_date, upper_values

__all__ = ["read_adtte", "AdtteResult", "ADTTE_REQUIRED", "ARM_SOURCES"]

#: variables an ADTTE must have to be read at all
ADTTE_REQUIRED = ("USUBJID", "PARAMCD", "AVAL", "CNSR")
#: treatment variables the ``arm`` column is read from, in order of preference (planned first)
ARM_SOURCES = ("TRTP", "TRT01P", "TRTA", "TRT01A", "ARM")
_ACTUAL_OF = {"TRTP": "TRTA", "TRT01P": "TRT01A"}
_DAY_UNITS = ("DAY", "DAYS", "D")
_FLAG_NAME = re.compile(r"^[A-Z][A-Z0-9]*FL$")


@dataclass(frozen=True)
class AdtteResult(Result):
    """What :func:`read_adtte` returns.

    Attributes
    ----------
    outcomes : pandas.DataFrame
        The canonical ``outcomes`` columns, then ``endpoint_label``, ``cnsr``, ``arm`` (when a
        treatment variable exists) and the flags. Row ``i`` is record ``i + 1`` of the input.
    problems : pandas.DataFrame
        One row per problem (``table, file, row, column, value, problem, fix``); empty when none.
    notes : tuple of str
        What was read how, with counts (arm source and order, CNSR values above 1, AVALU).
    file : str
        The name problems are reported under.
    summary : pandas.DataFrame
        Per endpoint: ``endpoint, endpoint_label, records, events, censored, unreadable``.
    """

    outcomes: pd.DataFrame
    problems: pd.DataFrame = field(default_factory=no_problems)
    notes: tuple[str, ...] = ()
    file: str = "adtte"
    analysis = "read_adtte"
    part_keys = {"problems": ("table", "file", "row", "column")}

    @property
    def summary(self) -> pd.DataFrame:
        o = self.outcomes
        g = o.assign(_ev=o["event"].eq(1), _cens=o["event"].eq(0), _bad=o["event"].isna()).groupby(
            "endpoint", sort=False, dropna=False)
        out = g.agg(endpoint_label=("endpoint_label", "first"), records=("endpoint", "size"),
                    events=("_ev", "sum"), censored=("_cens", "sum"), unreadable=("_bad", "sum")).reset_index()
        return out.astype({"records": "int64", "events": "int64", "censored": "int64", "unreadable": "int64"})

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "problems": self.problems}

    def settings(self) -> dict:
        return {"file": self.file}

    def title(self) -> str:
        return f"ADTTE read from {self.file}"

    def raise_for_problems(self, *, source: str | None = None) -> AdtteResult:
        """Raise one :class:`~trialkit.errors.DataValidationError` listing every problem; else return self."""
        if len(self.problems):
            raise DataValidationError(self.problems, source=source or self.file)
        return self


def _required(t: pd.DataFrame, file: str) -> None:
    missing = [v for v in ADTTE_REQUIRED if v not in t.columns]
    if missing:
        raise DataValidationError(pd.DataFrame([{
            "table": "outcomes", "file": file, "row": np.nan, "column": v, "value": "",
            "problem": f"required variable {v} is missing from ADTTE",
            "fix": f"add {v} to {file} (ADTTE needs {', '.join(ADTTE_REQUIRED)})"} for v in missing]),
            source=file)


def _keys(t: pd.DataFrame, probs: Problems, file: str) -> None:
    for var in ("USUBJID", "PARAMCD"):
        probs.add_mask(t[var].isna().to_numpy(), t, var, table="outcomes", file=file,
                       problem=f"{var} is empty", fix=f"fill {var} in {file}")
    keyed = t["USUBJID"].notna() & t["PARAMCD"].notna()
    dup = (t.duplicated(["USUBJID", "PARAMCD"], keep=False) & keyed).to_numpy()
    if dup.any():
        pos = np.flatnonzero(dup)
        probs.add("outcomes", file, pos + 1, "USUBJID, PARAMCD",
                  (t["USUBJID"].astype(str) + " / " + t["PARAMCD"].astype(str)).iloc[pos],
                  "subject has more than one record for this PARAMCD",
                  f"ADTTE has one record per subject and parameter; remove the repeats from {file}")


def _event(t: pd.DataFrame, probs: Problems, notes: list, file: str) -> tuple[pd.Series, pd.Series]:
    """``event`` (1 - CNSR, any positive CNSR = censored) and ``cnsr`` as Int64."""
    cnsr = pd.to_numeric(t["CNSR"], errors="coerce").astype("Float64")
    bad = (cnsr.isna() | (cnsr < 0) | (cnsr != cnsr.round())).fillna(True)
    probs.add_mask(bad.to_numpy(), t, "CNSR", table="outcomes", file=file,
                   problem="CNSR must be 0 (event) or a positive integer (censored)",
                   fix=f"correct CNSR in {file}: 0 = event, 1 (or another positive integer) = censored")
    cn = cnsr.where(~bad).round().astype("Int64")
    event = (cn == 0).astype("Int64").mask(cn.isna())
    above = cn[(cn > 1).fillna(False)]
    if len(above):
        notes.append(f"{file}: CNSR values above 1 ({', '.join(map(str, sorted(above.unique())))}) read as "
                     f"censored ({len(above)} record(s); ADaM allows reason-coded censoring)")
    return event, cn


def _time_days(t: pd.DataFrame, start: pd.Series, end: pd.Series, probs: Problems, notes: list,
               file: str) -> pd.Series:
    """``AVAL`` in days, or ``ADT - STARTDT + 1`` when ``AVALU`` names another unit; checked against the dates."""
    raw = t["AVAL"]
    aval = pd.to_numeric(raw, errors="coerce").astype("Float64")
    unreadable = (raw.notna() & aval.isna()).to_numpy()
    probs.add_mask(unreadable, t, "AVAL", table="outcomes", file=file, problem="AVAL is not a number",
                   fix=f"write AVAL in {file} as a number of days")
    unit = upper_values(col(t, "AVALU"))
    in_days = np.array([u is None or u in _DAY_UNITS for u in unit], dtype=bool)
    from_dates = ((end - start).dt.days + 1).astype("Float64")
    if (~in_days).any():
        aval = aval.where(in_days, from_dates)
        units = ", ".join(sorted(set(unit[~in_days])))
        notes.append(f"{file}: {int((~in_days).sum())} record(s) with AVALU {units} (not days); time_days "
                     "computed as ADT - STARTDT + 1")
    a, b = aval.to_numpy(dtype=float, na_value=np.nan), from_dates.to_numpy(dtype=float, na_value=np.nan)
    off = in_days & ~np.isnan(a) & ~np.isnan(b) & (a != b)
    if off.any():
        pos = np.flatnonzero(off)
        probs.add("outcomes", file, pos + 1, "AVAL",
                  [f"AVAL={a:g} but ADT - STARTDT + 1 = {b:g}" for a, b in zip(aval.iloc[pos], from_dates.iloc[pos])],
                  "AVAL disagrees with ADT - STARTDT + 1",
                  f"recompute AVAL in {file} as ADT - STARTDT + 1 (the start day is day 1), or correct the dates")
    missing = np.isnan(a) & ~unreadable
    probs.add_mask(missing, t, "AVAL", table="outcomes", file=file,
                   problem="no time: AVAL is empty (or, with AVALU other than days, STARTDT or ADT is)",
                   fix=f"fill AVAL (days) in {file}")
    probs.add_mask(a < 0, t, "AVAL", table="outcomes", file=file,
                   problem="AVAL is negative", fix=f"correct AVAL or the dates in {file}")
    return aval


def _companion(t: pd.DataFrame, src: str) -> str | None:
    """The numeric companion that orders ``src``: ``<src>N``, else the actual's when planned = actual."""
    if f"{src}N" in t.columns:
        return f"{src}N"
    actual = _ACTUAL_OF.get(src)
    if actual and f"{actual}N" in t.columns and actual in t.columns and \
            t[src].astype("string").fillna("").equals(t[actual].astype("string").fillna("")):
        return f"{actual}N"
    return None


def _arm(t: pd.DataFrame, probs: Problems, notes: list, file: str):
    """The ``arm`` column (a categorical ordered by the numeric companion), or None without a treatment variable."""
    src = next((s for s in ARM_SOURCES if s in t.columns), None)
    if src is None:
        return None
    arm = t[src].astype("string").str.strip()
    comp = _companion(t, src)
    if comp is None:
        notes.append(f"{file}: arm from {src}; no numeric companion ({src}N) orders it, so the order is left "
                     "to the protocol or reference=")
        return arm.array
    pairs = pd.DataFrame({"arm": arm, "n": pd.to_numeric(t[comp], errors="coerce")}).dropna()
    per_arm = pairs.groupby("arm", sort=False)["n"].nunique()
    clash = arm.isin(per_arm.index[per_arm > 1]).fillna(False).to_numpy()
    if clash.any():
        probs.add_mask(clash, t, comp, table="outcomes", file=file,
                       problem=f"{src} has more than one {comp} value", fix=f"give each {src} one {comp} in {file}")
        return arm.array
    order = pairs.drop_duplicates("arm").sort_values("n", kind="stable")["arm"].tolist()
    order += [a for a in pd.unique(arm.dropna()) if a not in order]
    notes.append(f"{file}: arm from {src}, ordered by {comp}: {', '.join(order)}")
    return pd.Categorical(arm, categories=order)


def _flags(t: pd.DataFrame, probs: Problems, file: str) -> dict:
    out = {}
    for var in (c for c in t.columns if _FLAG_NAME.match(str(c))):
        probs.add_mask(bad_flag(t[var]), t, var, table="outcomes", file=file,
                       problem=f"{var} must be Y, N or blank", fix=f"correct {var} in {file}")
        out[var.lower()] = flag(t[var]).array
    return out


def _endpoint_counts(outcomes: pd.DataFrame, file: str) -> list[str]:
    """Per endpoint (in order of first record; records without one left out): records, events, censored."""
    endpoint = outcomes["endpoint"].to_numpy(dtype=object, na_value=None)
    event = outcomes["event"].to_numpy(dtype=float, na_value=np.nan)
    out = []
    for ep in dict.fromkeys(e for e in endpoint if e is not None):
        ev = event[endpoint == ep]
        out.append(f"{file} {ep}: {len(ev)} record(s), {int(np.nansum(ev))} event(s), {int((ev == 0).sum())} censored")
    return out


def read_adtte(data: pd.DataFrame, *, file: str = "adtte") -> AdtteResult:
    """Read an ADaM ADTTE frame into the canonical ``outcomes`` columns.

    Parameters
    ----------
    data : pandas.DataFrame
        An ADTTE (one record per subject and parameter) as read by :func:`trialkit.io.sas.read_xpt`,
        ``pandas.read_sas`` or any other means; variable names are matched case-insensitively and
        bytes are decoded. Required: ``USUBJID, PARAMCD, AVAL, CNSR``; used when present:
        ``PARAM, STARTDT, ADT, AVALU, EVNTDESC``, the treatment variables and the ``…FL`` flags.
    file : str
        The name problems are reported under (e.g. ``"adtte.xpt"``).

    Returns
    -------
    AdtteResult
        ``outcomes`` (row ``i`` = record ``i + 1``), ``problems`` (one row per problem, never raised
        here: call ``.raise_for_problems()``), ``notes`` and a per-endpoint ``summary``.
        See the module docstring for what maps to what and the CNSR policy.

    Raises
    ------
    DataValidationError
        A required variable is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> adtte = pd.DataFrame({"USUBJID": ["S-1", "S-2", "S-3"], "PARAMCD": "OS",
    ...                       "AVAL": [12.0, 30.0, 7.0], "CNSR": [0, 2, 1],
    ...                       "TRTP": ["Drug", "Placebo", "Drug"], "TRTPN": [1, 0, 1]})
    >>> res = read_adtte(adtte)
    >>> res.outcomes[["subject_id", "endpoint", "event", "time_days", "arm"]]
      subject_id endpoint  event  time_days      arm
    0        S-1       OS      1       12.0     Drug
    1        S-2       OS      0       30.0  Placebo
    2        S-3       OS      0        7.0     Drug
    >>> res.outcomes["arm"].cat.categories.tolist()
    ['Placebo', 'Drug']
    >>> res.notes[0]
    'adtte: CNSR values above 1 (2) read as censored (1 record(s); ADaM allows reason-coded censoring)'
    >>> len(res.problems)
    0
    """
    t = clean_frame(data, source=file)
    _required(t, file)
    probs, notes = Problems(), []
    kw = {"file": file, "table": "outcomes", "probs": probs, "notes": notes}
    start, end = sas_date(t, "STARTDT", **kw), sas_date(t, "ADT", **kw)
    _keys(t, probs, file)
    event, cnsr = _event(t, probs, notes, file)
    time = _time_days(t, start, end, probs, notes, file)
    arm = _arm(t, probs, notes, file)
    extra = {"endpoint_label": col(t, "PARAM").astype("string").array, "cnsr": cnsr.array}
    if arm is not None:
        extra["arm"] = arm
    extra.update(_flags(t, probs, file))
    outcomes = canonical_frame("outcomes", len(t), {
        "subject_id": t["USUBJID"].astype("string").to_numpy(), "endpoint": t["PARAMCD"].astype("string").to_numpy(),
        "start_date": start.to_numpy(), "end_date": end.to_numpy(), "event": event.to_numpy(),
        "time_days": time.to_numpy(), "event_description": col(t, "EVNTDESC").astype("string").to_numpy(),
    }, extra=extra)
    notes += _endpoint_counts(outcomes, file)
    return AdtteResult(outcomes=outcomes, problems=probs.frame(), notes=tuple(notes), file=file)
