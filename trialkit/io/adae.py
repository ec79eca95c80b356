"""Map ADaM ADAE or SDTM AE records onto the canonical ``adverse_events`` table.

:func:`map_adverse_events` is a pure function on one DataFrame (read with ``pandas.read_sas`` or any
other way): it returns the canonical frame, every problem found (file, 1-based record, variable,
value, what is wrong and how to fix it) and notes on what it decided, so a loader can gather the
problems of every domain into one :class:`~trialkit.errors.DataValidationError`.

What maps to what
-----------------
======================  =======================================================================
canonical column        source (ADaM ADAE, else SDTM AE)
======================  =======================================================================
``subject_id``          ``USUBJID``
``ae_seq``              ``AESEQ`` (numbered 1, 2, … per subject in record order when absent, noted)
``term``                ``AETERM``
``preferred_term``      ``AEDECOD``
``soc``                 ``AEBODSYS``, else ``AESOC``
``start_date``          ``ASTDT`` (SAS date), else ``AESTDTC`` (ISO 8601; partial dates → first day)
``end_date``            ``AENDT``, else ``AEENDTC``
``grade``               ``ATOXGR``, else ``AETOXGR``; where empty, from ``AESEV`` (below)
``severity``            ``AESEV`` (MILD / MODERATE / SEVERE)
``serious``             ``AESER`` (Y / N)
``related``             ``AEREL`` (see :data:`RELATED` and :data:`NOT_RELATED`)
``causality``           ``AEREL`` as recorded
``action_taken``        ``AEACN`` (CDISC codelist C66767)
``outcome``             ``AEOUT`` (codelist C66768); ``fatal`` when ``AESDTH = Y`` and ``AEOUT`` is empty
``treatment_emergent``  ``TRTEMFL`` (ADaM: ``Y`` = yes, ``N`` or blank = no); absent in SDTM AE, so
                        left empty and derived by the safety analyses (start on or after first dose)
``aesi_category``       the first of ``CQ01NAM``, ``CQ02NAM``, … (ADaM customized queries) that is
                        filled; else empty (the analyses fill it from the protocol's ``aesi:``)
======================  =======================================================================

Choices
-------
* **Grade from severity**: a CTCAE grade is used when recorded. Where it is not, ``AESEV`` gives
  ``mild`` → 1, ``moderate`` → 2, ``severe`` → 3 (the CTCAE v5 wording of grades 1–3: "mild",
  "moderate", "severe or medically significant"). This is an approximation, counted in the notes:
  a severity scale is not a toxicity scale, and grades 4–5 cannot come from severity.
* **Relatedness**: ``AEREL`` values in :data:`RELATED` (``POSSIBLE``, ``PROBABLE``, ``RELATED``,
  ``DEFINITE`` …) are related; values in :data:`NOT_RELATED` (``NONE``, ``NOT RELATED``,
  ``UNLIKELY``, ``REMOTE`` …) are not. ``REMOTE`` counts as not related, as in the CDISC pilot's
  published summaries (drug-related = POSSIBLE or PROBABLE). Any other value is a problem, never a
  guess; an empty ``AEREL`` leaves ``related`` empty.
* **Death**: ``AESDTH = Y`` with an empty ``AEOUT`` gives ``outcome = fatal`` (noted); with
  another ``AEOUT`` it is a problem (the two disagree).

Reading ``.xpt`` files: ``pandas.read_sas`` returns character values as bytes; they are decoded
(UTF-8, else cp1252), right-stripped, and blanks made missing, as SAS reads them. Variable names are
matched case-insensitively.

Examples
--------
>>> import pandas as pd
>>> from trialkit.io.adae import map_adverse_events
>>> ae = pd.DataFrame({"USUBJID": ["S-1", "S-1"], "AESEQ": [1, 2], "AETERM": ["HEADACHE", "VOD"],
...                    "AEDECOD": ["Headache", "Venoocclusive liver disease"],
...                    "AEBODSYS": ["Nervous system disorders", "Hepatobiliary disorders"],
...                    "AESTDTC": ["2024-01-03", "2024-01-20"], "AETOXGR": ["1", "4"], "AESER": ["N", "Y"],
...                    "AEREL": ["NOT RELATED", "PROBABLE"], "AEOUT": ["RECOVERED/RESOLVED", "RECOVERING/RESOLVING"]})
>>> m = map_adverse_events(ae, file="ae.xpt")
>>> m.frame[["subject_id", "ae_seq", "grade", "serious", "related"]].to_dict("list")
{'subject_id': ['S-1', 'S-1'], 'ae_seq': [1, 2], 'grade': [1, 4], 'serious': [False, True], 'related': [False, True]}
>>> len(m.problems)
0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import FAILURE_COLUMNS
from ..model import AE_ACTIONS, AE_OUTCOMES, AE_SEVERITY, columns, empty_table
from .flatfile import parse_dates
from .sas import sas_days_to_dates, upper_values

__all__ = ["map_adverse_events", "AEMapping", "RELATED", "NOT_RELATED", "SEVERITY_GRADE"]

#: AEREL values counted as related to study treatment (upper case)
RELATED = frozenset({"Y", "YES", "RELATED", "POSSIBLE", "POSSIBLY RELATED", "PROBABLE", "PROBABLY RELATED",
                     "DEFINITE", "DEFINITELY RELATED", "CERTAIN", "LIKELY", "RELATED TO STUDY DRUG"})
#: AEREL values counted as not related (upper case)
NOT_RELATED = frozenset({"N", "NO", "NONE", "NOT RELATED", "UNRELATED", "UNLIKELY", "UNLIKELY RELATED",
                         "REMOTE", "NOT RELATED TO STUDY DRUG", "DOUBTFUL"})
#: AESEV → CTCAE grade when no grade is recorded (CTCAE v5 wording of grades 1-3)
SEVERITY_GRADE = {"mild": 1, "moderate": 2, "severe": 3}
_IBM_ZERO = 1e-70  # pandas reads some IBM-float zeros as 16**-65 (pandas-dev/pandas#50670)
_TABLE = "adverse_events"


@dataclass(frozen=True)
class AEMapping:
    """What :func:`map_adverse_events` returns.

    Attributes
    ----------
    frame : DataFrame
        The canonical ``adverse_events`` table (one row per source record, in record order).
    problems : DataFrame
        One row per problem (``table, file, row, column, value, problem, fix``); ``row`` is the
        1-based record number in the source file and ``column`` names the source variable and the
        canonical column, e.g. ``"AEREL (related)"``.
    notes : tuple of str
        What the mapper decided, with counts.
    records : numpy.ndarray
        The 0-based source record of each row of ``frame``.
    """

    frame: pd.DataFrame
    problems: pd.DataFrame
    notes: tuple[str, ...] = ()
    records: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


class _Problems:
    def __init__(self, file: str):
        self.file = file
        self.frames: list[pd.DataFrame] = []

    def add(self, positions, variable: str, values, problem: str, fix: str) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions):
            return
        self.frames.append(pd.DataFrame({
            "table": _TABLE, "file": self.file, "row": (positions + 1).astype(float), "column": variable,
            "value": pd.Series(list(values), dtype="object").astype(str).to_numpy(), "problem": problem,
            "fix": fix}))

    def frame(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame({c: pd.Series(dtype="float64" if c == "row" else "object") for c in FAILURE_COLUMNS})
        return pd.concat(self.frames, ignore_index=True)[FAILURE_COLUMNS]


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    """Upper-case names; text decoded, right-stripped, blank = missing; IBM-float zeros set to 0.

    A frame :func:`~trialkit.io.sas.clean_frame` returned (as :func:`~trialkit.io.cdisc.map_cdisc` passes it) is in
    this form already: it is used as it is (without its ``attrs``), not cleaned a second time."""
    if df.attrs.get("trialkit_clean"):
        out = df.copy(deep=False)
        out.attrs = {}
        return out
    out = {}
    for c in df.columns:
        s = df[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            if s.map(lambda v: isinstance(v, bytes)).any():
                try:
                    s = s.str.decode("utf-8")
                except UnicodeDecodeError:
                    s = s.str.decode("cp1252")
            s = s.astype("string").str.rstrip()
            s = s.mask(s == "")
        elif pd.api.types.is_float_dtype(s.dtype):
            s = s.mask(s.abs() < _IBM_ZERO, 0.0)
        out[str(c).strip().upper()] = s.reset_index(drop=True)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _text(df: pd.DataFrame, var: str) -> pd.Series:
    if var in df.columns:
        return df[var].astype("string")
    return pd.Series(pd.NA, index=df.index, dtype="string")


def _first(df: pd.DataFrame, *names: str) -> str | None:
    return next((n for n in names if n in df.columns), None)


def _date(df: pd.DataFrame, var: str | None, canon: str, probs: _Problems, notes: list[str]) -> pd.Series:
    """An ADaM numeric SAS date or an SDTM ISO 8601 date (partial dates imputed to the first day)."""
    empty = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    if var is None:
        return empty
    s = df[var]
    if pd.api.types.is_numeric_dtype(s.dtype):
        x = s.astype("float64")
        bad = x.notna() & ((x != np.round(x)) | (x.abs() > 2_000_000))
        probs.add(np.flatnonzero(bad.to_numpy()), f"{var} ({canon})", s[bad], f"{var} is not a SAS date",
                  f"{var} must hold whole days since 1960-01-01 (SAS date)")
        return sas_days_to_dates(x.where(~bad))
    dates, failed, imputed = parse_dates(s.astype("string"), partial="first")
    probs.add(np.flatnonzero(failed.to_numpy()), f"{var} ({canon})", s[failed], f"{var} is not an ISO 8601 date",
              f"write {var} as YYYY-MM-DD (ISO 8601; partial dates such as 2024-05 are allowed)")
    if imputed.any():
        notes.append(f"{var}: {int(imputed.sum())} partial date(s) imputed to the first day of the period")
    return dates.astype("datetime64[ns]")


def _yes_no(df: pd.DataFrame, var: str, canon: str, probs: _Problems, *, blank_is_no: bool = False) -> pd.Series:
    if var not in df.columns:
        return pd.Series(pd.NA, index=df.index, dtype="boolean")
    u = upper_values(df[var])
    yes = np.array([v in ("Y", "YES") for v in u], dtype=bool)
    no = np.array([v in ("N", "NO") for v in u], dtype=bool)
    blank = pd.isna(u)
    known = yes | no | (blank if blank_is_no else False)
    bad = ~blank & ~(yes | no)
    probs.add(np.flatnonzero(bad), f"{var} ({canon})", df.loc[bad, var], f"{var} must be Y or N",
              f"write {var} as Y or N")
    return pd.Series(pd.arrays.BooleanArray(yes, ~known), index=df.index)


def _coded(df: pd.DataFrame, var: str, canon: str, allowed: tuple[str, ...], probs: _Problems) -> pd.Series:
    """A controlled-terminology variable, lower-cased; values outside ``allowed`` are problems (and left empty)."""
    text = _text(df, var)
    low = [None if v is pd.NA else v.strip().lower() for v in text.to_numpy(dtype=object)]
    bad = np.array([v is not None and v not in allowed for v in low], dtype=bool)
    probs.add(np.flatnonzero(bad), f"{var} ({canon})", df.loc[bad, var] if var in df else [],
              f"{var} is not a CDISC controlled term for {canon.replace('_', ' ')}",
              f"use one of: {', '.join(a.upper() for a in allowed)}")
    return pd.Series(pd.array([None if b else v for v, b in zip(low, bad)], dtype="string"), index=df.index,
                     name=text.name)


def _grade(df: pd.DataFrame, severity: pd.Series, probs: _Problems, notes: list[str]) -> pd.Series:
    var = _first(df, "ATOXGR", "AETOXGR")
    grade = pd.Series(pd.NA, index=df.index, dtype="Int64")
    if var is not None:
        raw = df[var]
        num = pd.to_numeric(raw.astype("string").str.strip().str.replace(r"^GRADE\s*", "", regex=True, case=False),
                            errors="coerce")
        bad = raw.notna() & ~num.isin([1, 2, 3, 4, 5])
        probs.add(np.flatnonzero(bad.to_numpy()), f"{var} (grade)", raw[bad], f"{var} must be a CTCAE grade 1-5",
                  f"write {var} as 1, 2, 3, 4 or 5")
        grade = num.where(~bad).astype("Int64")
        recorded = raw.notna()
    else:
        recorded = pd.Series(False, index=df.index)
    from_sev = grade.isna() & ~recorded & severity.notna()  # a bad recorded grade is reported, not replaced
    if from_sev.any():
        grade = grade.mask(from_sev, severity.map(SEVERITY_GRADE).astype("Int64"))
        where = "no toxicity grade variable" if var is None else f"{var} empty"
        notes.append(f"grade: {int(from_sev.sum())} event(s) graded from AESEV ({where}): mild = 1, moderate = 2, "
                     "severe = 3 (an approximation: grades 4-5 cannot come from severity)")
    return grade


def _related(df: pd.DataFrame, probs: _Problems) -> tuple[pd.Series, pd.Series]:
    causality = _text(df, "AEREL").str.strip()
    u = causality.str.upper()
    related = pd.Series(pd.NA, index=df.index, dtype="boolean")
    related[u.isin(list(RELATED)).fillna(False)] = True
    related[u.isin(list(NOT_RELATED)).fillna(False)] = False
    bad = u.notna() & related.isna()
    probs.add(np.flatnonzero(bad.to_numpy()), "AEREL (related)", causality[bad],
              "AEREL value is not known as related or not related",
              f"recode AEREL to one of {', '.join(sorted(RELATED))} (related) or {', '.join(sorted(NOT_RELATED))} "
              "(not related)")
    return related, causality


def _outcome(df: pd.DataFrame, probs: _Problems, notes: list[str]) -> pd.Series:
    outcome = _coded(df, "AEOUT", "outcome", AE_OUTCOMES, probs)
    if "AESDTH" not in df.columns:
        return outcome
    death = _text(df, "AESDTH").str.strip().str.upper().eq("Y").fillna(False)
    fill = death & outcome.isna() & _text(df, "AEOUT").isna()
    if fill.any():
        notes.append(f"outcome: {int(fill.sum())} event(s) with AESDTH = Y and no AEOUT set to 'fatal'")
    clash = death & outcome.notna() & outcome.ne("fatal")
    probs.add(np.flatnonzero(clash.to_numpy()), "AESDTH (outcome)", df.loc[clash, "AEOUT"],
              "AESDTH = Y (results in death) but AEOUT is not FATAL", "correct AESDTH or AEOUT so they agree")
    return outcome.mask(fill, "fatal")


def _sequence(df: pd.DataFrame, probs: _Problems, notes: list[str]) -> pd.Series:
    if "AESEQ" not in df.columns:
        notes.append("ae_seq: AESEQ absent; events numbered 1, 2, … per subject in record order")
        return (df.groupby(_text(df, "USUBJID").fillna(""), sort=False).cumcount() + 1).astype("Int64")
    raw = pd.to_numeric(df["AESEQ"], errors="coerce")
    bad = raw.isna() | (raw != np.round(raw)) | (raw < 0)
    probs.add(np.flatnonzero(bad.to_numpy()), "AESEQ (ae_seq)", df.loc[bad, "AESEQ"],
              "AESEQ must be a whole number", "number each subject's events 1, 2, … in AESEQ")
    return raw.where(~bad).round().astype("Int64")


def _aesi(df: pd.DataFrame, notes: list[str]) -> pd.Series:
    names = sorted(c for c in df.columns if len(c) == 7 and c.startswith("CQ") and c.endswith("NAM"))
    out = pd.Series(pd.NA, index=df.index, dtype="string")
    for c in names:
        out = out.fillna(_text(df, c))
    if names and out.notna().any():
        notes.append(f"aesi_category: from {', '.join(names)} (ADaM customized queries), {int(out.notna().sum())} "
                     "event(s)")
    return out


def map_adverse_events(data: pd.DataFrame, *, file: str = "adae.xpt") -> AEMapping:
    """Map ADaM ADAE (or SDTM AE) records onto the canonical ``adverse_events`` table.

    Parameters
    ----------
    data : DataFrame
        One row per adverse-event record, with CDISC variable names (any case); character values may
        be bytes as ``pandas.read_sas`` returns them.
    file : str, default "adae.xpt"
        The source file's name, used in problems and notes.

    Returns
    -------
    AEMapping
        The canonical frame, the problems (empty when none) and the notes. The module docstring lists
        what maps to what and every choice made.

    Examples
    --------
    >>> import pandas as pd
    >>> m = map_adverse_events(pd.DataFrame({"USUBJID": ["S-1"], "AESEQ": [1], "AEDECOD": ["Nausea"],
    ...                                      "AESEV": ["MODERATE"], "AEREL": ["MAYBE"]}), file="ae.xpt")
    >>> int(m.frame.loc[0, "grade"]), int(m.problems.loc[0, "row"]), m.problems.loc[0, "column"]
    (2, 1, 'AEREL (related)')
    """
    df = _clean(data)
    probs, notes = _Problems(file), []
    kind = "ADAE" if any(c in df.columns for c in ("ASTDT", "TRTEMFL", "TRTA")) else "AE"
    if "USUBJID" not in df.columns:
        missing = pd.DataFrame([{"table": _TABLE, "file": file, "row": np.nan, "column": "USUBJID", "value": "",
                                 "problem": f"required variable USUBJID is missing from {kind}",
                                 "fix": f"add USUBJID to {file} (it names the subject of each event)"}])
        return AEMapping(frame=empty_table(_TABLE), problems=missing, notes=(), records=np.empty(0, dtype=np.int64))
    subject = _text(df, "USUBJID")
    probs.add(np.flatnonzero(subject.isna().to_numpy()), "USUBJID (subject_id)", [""] * int(subject.isna().sum()),
              "USUBJID is empty", "fill in the subject of the event")
    severity = _coded(df, "AESEV", "severity", AE_SEVERITY, probs)
    related, causality = _related(df, probs)
    data_out = {
        "subject_id": subject,
        "ae_seq": _sequence(df, probs, notes),
        "term": _text(df, "AETERM"),
        "preferred_term": _text(df, "AEDECOD"),
        "soc": _text(df, _first(df, "AEBODSYS", "AESOC") or "AEBODSYS"),
        "start_date": _date(df, _first(df, "ASTDT", "AESTDTC"), "start_date", probs, notes),
        "end_date": _date(df, _first(df, "AENDT", "AEENDTC"), "end_date", probs, notes),
        "grade": _grade(df, severity, probs, notes),
        "severity": severity,
        "serious": _yes_no(df, "AESER", "serious", probs),
        "related": related,
        "causality": causality,
        "action_taken": _coded(df, "AEACN", "action_taken", AE_ACTIONS, probs),
        "outcome": _outcome(df, probs, notes),
        "treatment_emergent": _yes_no(df, "TRTEMFL", "treatment_emergent", probs, blank_is_no=True),
        "aesi_category": _aesi(df, notes),
    }
    if "TRTEMFL" not in df.columns:
        notes.append(f"treatment_emergent: {kind} has no TRTEMFL; the safety analyses derive it (start on or after "
                     "the first dose)")
    frame = pd.DataFrame({c.name: pd.Series(data_out[c.name], index=df.index).astype(empty_table(_TABLE)[c.name].dtype)
                          for c in columns(_TABLE)}, index=pd.RangeIndex(len(df)))
    notes.insert(0, f"{file}: {len(frame)} adverse event record(s) of {frame['subject_id'].nunique()} subject(s) "
                    f"mapped from {kind}")
    return AEMapping(frame=frame, problems=probs.frame(), notes=tuple(notes), records=np.arange(len(df)))
