"""Load CDISC SDTM and ADaM datasets (SAS transport ``.xpt`` files) onto the canonical tables.

:func:`load_cdisc` reads the domains from two folders and hands the frames to
:func:`map_cdisc`, which does all the work on plain DataFrames (so it can be tested with small
inline frames and reused for data read by other means, e.g. ``pyreadstat`` or Dataset-JSON).

What maps to what
-----------------
=================  ===========================================================================
canonical table    source
=================  ===========================================================================
``sites``          DM ``SITEID`` (one row per site), ``COUNTRY``. SDTM carries no site names or
                   cities: ``site_name``/``city`` stay empty, never invented.
``screening``      every DM subject, screen failures included (they are in SDTM DM, not in
                   ADaM): ``USUBJID``, ``SITEID``, ``AGE``/``AGEU``, ``SEX``, ``COUNTRY``,
                   ``BRTHDTC``; ``screening_outcome`` from ``ARMCD``/``ARMNRS``;
                   ``screen_failure_reason`` from IE (else SUPPDS ``ENTCRIT``), empty when the
                   data do not record one; extra ``race``, ``ethnicity`` and
                   ``entry_criterion_not_met``.
``randomization``  DM subjects with an arm: ``ARMCD`` (planned) and ``ACTARMCD`` (actual) kept
                   apart; extra ``arm_label``, ``actual_arm_label``, ``actual_arm_adsl``
                   (ADSL ``TRT01A``), ``site_group`` (ADSL ``SITEGR1``).
``disposition``    DS ``DSCAT = "DISPOSITION EVENT"`` (``DSDECOD``, ``DSTERM``, ``DSSTDTC``),
                   ADSL (``TRTSDT``, ``TRTEDT``, ``DCDECOD``, ``DTHFL``, ``ITTFL``, ``SAFFL``,
                   ``EFFFL``), DM (``DTHDTC``, ``RFPENDTC``, ``RFXSTDTC``).
``outcomes``       ADTTE: ``PARAMCD`` → ``endpoint``, ``STARTDT`` → ``start_date``, ``ADT`` →
                   ``end_date``, ``1 - CNSR`` → ``event``, ``AVAL`` → ``time_days``,
                   ``EVNTDESC`` → ``event_description``; extra ``endpoint_label`` (``PARAM``),
                   ``cnsr`` and ``saffl``.
``response``       not mapped (no end-of-induction response in these domains): left empty.
protocol           built at load time from TA (arms), TI (criteria wording, in
                   ``protocol.raw["ti_criteria"]``), TS (title, phase, planned subjects, when
                   present), DM (sites) and ADTTE (endpoints), unless ``protocol=`` is given.
=================  ===========================================================================

Choices (each is also recorded in ``Study.notes`` with its counts)
-------------------------------------------------------------------
* **Screening date**: the first SV visit whose ``VISIT`` starts with "SCREEN" (lowest
  ``VISITNUM``); else DM ``RFICDTC`` (informed consent); else the subject's earliest SV visit;
  else DM ``DMDTC``. In the CDISC pilot, SV "SCREENING 1" equals DS's SCREEN FAILURE date and DM
  ``DMDTC`` for every subject.
* **Randomization date**: SDTM has no randomization date variable and the pilot's DS has no
  RANDOMIZED record. In order of preference: ADSL ``RANDDT``; DS ``DSDECOD = "RANDOMIZED"``
  ``DSSTDTC``; the first SV visit whose ``VISIT`` starts with "BASELINE"; DM ``RFSTDTC``. In the
  pilot the baseline visit date is used and equals ``RFSTDTC`` (first dose) for all 254
  randomized subjects.
* **Screening outcome**: ``ARMCD = "SCRNFAIL"`` (any case) or a blank ``ARMCD`` with
  ``ARMNRS = "SCREEN FAILURE"`` → "screen failure"; ``ARMCD = "NOTASSGN"`` or another blank
  ``ARMCD`` → "other" (reason: IE criteria, else ``ARMNRS``); a subject with an arm →
  "eligible" (the site judged them eligible; later-found violations are in
  ``entry_criterion_not_met``).
* **Screen-failure reason**: the IE criteria not met (``IETESTCD``, joined by "; ") when an IE
  domain is present; else SUPPDS ``ENTCRIT``; else empty ("not recorded"). The pilot has no IE and
  no reason for its 52 screen failures, so the reason stays empty.
* **Entry criteria not met by randomized subjects**: IE records and SUPPDS ``QNAM = "ENTCRIT"``
  of randomized subjects go to the extra screening column ``entry_criterion_not_met``. The
  criterion number in ``QVAL`` is resolved to the TI ``IETESTCD`` with that number when exactly
  one exists (the pilot numbers INCL01–08 and EXCL09–31 consecutively: ``16`` → ``EXCL16``),
  otherwise it is kept as recorded.
* **Arm order** (``Protocol.arm_codes``): by dose — ADSL ``TRT01PN`` of each planned arm, else a
  number in the arm label ("54 mg"), placebo/control 0 — then by a dose word in the label
  (low < medium < high), then by TA order; never by alphabet. The pilot gives Pbo (0),
  Xan_Lo (54), Xan_Hi (81); without ADSL the labels "Low Dose"/"High Dose" give the same order.
* **Allocation ratio**: TA does not carry it. The built protocol assumes equal allocation (the
  pilot randomized 1:1:1) with the lowest-dose arm (placebo) as reference; pass ``protocol=`` for
  another design.
* **Actual arm**: DM ``ACTARMCD`` (collected) is ``actual_arm``; ADSL ``TRT01A`` mapped to arm
  codes is kept as ``actual_arm_adsl``. They differ in the pilot for 12 subjects planned to high
  dose who received only the 54 mg starting dose (DM says Xan_Lo; ADSL ``TRT01A`` repeats the
  planned arm). ``ACTARMCD`` values that are not arms (NOTTRT, UNPLAN, …) leave it empty.
* **Disposition**: one DS disposition event per subject (when a subject has several, the latest
  is used and the count noted). ``discontinued`` = its ``DSDECOD`` is not COMPLETED;
  ``discontinuation_reason`` = ``DSDECOD``; extra ``end_of_study_status``/``end_of_study_date``
  hold the event for every subject. ``treated`` = a treatment start date exists (ADSL ``TRTSDT``,
  else DM ``RFXSTDTC``, else ``RFSTDTC``), False for ``ACTARMCD = "NOTTRT"``. ``death_date`` =
  DM ``DTHDTC`` (else DS DEATH date); ``last_contact_date`` = death date, else DM ``RFPENDTC``;
  ``analysed`` = ADSL ``ITTFL``. Induction columns stay empty (the pilot has no induction phase).
  DS records outside DSCAT "DISPOSITION EVENT" are not mapped (counted in the notes), nor are the
  disposition events of subjects without an arm (their outcome is in ``screening``).
* **Time to event**: ``CNSR = 0`` is an event; any positive integer is a censoring (ADaM allows
  reason-coded censoring values); a negative, fractional or missing ``CNSR`` is an error.
  ``AVAL`` is in days (``AVAL = ADT - STARTDT + 1``, checked); when ``AVALU`` names another unit,
  ``time_days`` is computed from the dates instead.

Reading ``.xpt`` files
----------------------
``pandas.read_sas(format="xport")`` returns character variables as bytes (decoded here as UTF-8,
else cp1252) and, for some files, reads an IBM-float zero as ``5.397605e-79`` (pandas issue
#50670; it happens in the pilot's ``CNSR`` and ``TRT01PN``): numbers smaller in magnitude than
``1e-70`` are set to 0. ADaM numeric dates are days since 1960-01-01.

Every mapping problem (a missing required variable, an unreadable date, a bad ``CNSR``) is
reported with its file, 1-based record number and variable in one
:class:`~trialkit.errors.DataValidationError`, together with the canonical-model checks of
:func:`trialkit.schemas.validate_study`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FAILURE_COLUMNS, DataValidationError, StudyFolderError, UsageError
from ..model import columns, empty_table
from ..protocols import Protocol, get_protocol, load_protocol, parse_protocol
from ..schemas import SourceInfo, study_problems
from ..study import Study
from .flatfile import coerce_column, parse_dates

__all__ = ["load_cdisc", "map_cdisc", "read_xpt", "protocol_from_sdtm", "SDTM_DOMAINS", "ADAM_DATASETS"]

SDTM_DOMAINS = ("dm", "ds", "sv", "suppds", "ie", "ta", "ti", "ts")
ADAM_DATASETS = ("adsl", "adtte")
SAS_EPOCH = pd.Timestamp("1960-01-01")
_IBM_ZERO = 1e-70  # pandas reads some IBM-float zeros as 16**-65 ≈ 5.4e-79 (pandas-dev/pandas#50670)

#: Variables a domain must have to be mapped at all (others are used when present).
REQUIRED_VARIABLES: dict[str, tuple[str, ...]] = {
    "dm": ("USUBJID", "SITEID", "ARMCD"),
    "ds": ("USUBJID", "DSCAT", "DSDECOD", "DSSTDTC"),
    "sv": ("USUBJID", "VISITNUM", "SVSTDTC"),
    "suppds": ("USUBJID", "QNAM", "QVAL"),
    "ie": ("USUBJID", "IETESTCD"),
    "ta": ("ARMCD", "ARM"),
    "ti": ("IETESTCD",),
    "ts": ("TSPARMCD", "TSVAL"),
    "adsl": ("USUBJID",),
    "adtte": ("USUBJID", "PARAMCD", "AVAL", "CNSR", "STARTDT", "ADT"),
}

#: Source variable of each canonical column, to name it in validation problems.
_SOURCE_VARIABLE = {
    "sites": {"site_id": "SITEID", "country": "COUNTRY"},
    "screening": {"subject_id": "USUBJID", "site_id": "SITEID", "age_years": "AGE", "sex": "SEX",
                  "country": "COUNTRY", "birth_date": "BRTHDTC", "screening_date": "SV SVSTDTC"},
    "randomization": {"subject_id": "USUBJID", "site_id": "SITEID", "arm": "ARMCD", "actual_arm": "ACTARMCD"},
    "disposition": {"subject_id": "USUBJID", "discontinuation_date": "DSSTDTC", "discontinuation_reason": "DSDECOD"},
    "outcomes": {"subject_id": "USUBJID", "endpoint": "PARAMCD", "start_date": "STARTDT", "end_date": "ADT",
                 "event": "CNSR", "time_days": "AVAL", "event_description": "EVNTDESC"},
}

_AGE_UNITS = {"YEARS": 1.0, "MONTHS": 1 / 12, "WEEKS": 7 / 365.25, "DAYS": 1 / 365.25, "HOURS": 1 / 8766}
_NOT_ARMS = {"SCRNFAIL", "NOTASSGN", "NOTTRT", "UNPLAN"}


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _decode(s: pd.Series) -> pd.Series:
    if s.map(lambda v: isinstance(v, bytes)).any():
        try:
            s = s.str.decode("utf-8")
        except UnicodeDecodeError:
            s = s.str.decode("cp1252")
    s = s.astype("string").str.rstrip()
    return s.mask(s == "")


def clean_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Normalize a domain frame: upper-case variable names, character values decoded and stripped
    (blank = missing, as in SAS), IBM-float zeros read as 5.4e-79 set to 0. Returns a new frame
    (or ``df`` itself when it is already the output of this function)."""
    if df.attrs.get("trialkit_clean"):
        return df
    out = {}
    for c in df.columns:
        s = df[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            s = _decode(s)
        elif pd.api.types.is_float_dtype(s.dtype):
            s = s.mask(s.abs() < _IBM_ZERO, 0.0)
        out[str(c).strip().upper()] = s.reset_index(drop=True)
    clean = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    clean.attrs["trialkit_clean"] = True
    return clean


def read_xpt(path: str | os.PathLike) -> pd.DataFrame:
    """Read one SAS transport (XPORT v5) file into a clean frame (see :func:`clean_frame`)."""
    p = Path(path)
    try:
        df = pd.read_sas(p, format="xport")
    except Exception as exc:  # unreadable file: say which and what to do, never a bare traceback
        raise StudyFolderError(f"{p.name}: cannot be read as a SAS transport (XPORT) file "
                               f"({type(exc).__name__}: {exc}); export it again as XPORT version 5.") from None
    return clean_frame(df)


def _find(folder: Path, name: str) -> Path | None:
    hits = [p for p in folder.iterdir() if p.is_file() and p.name.lower() == f"{name}.xpt"]
    return hits[0] if hits else None


def load_cdisc(sdtm: str | os.PathLike, adam: str | os.PathLike | None = None, *,
               protocol: str | os.PathLike | Protocol | None = None, validate: bool = True) -> Study:
    """Load CDISC SDTM (and optionally ADaM) SAS transport files as a validated :class:`Study`.

    Reads ``dm.xpt`` (required) and, when present, ``ds``, ``sv``, ``suppds``, ``ie``, ``ta``,
    ``ti``, ``ts`` from ``sdtm`` and ``adsl``, ``adtte`` from ``adam`` (file names are matched
    case-insensitively), then maps them with :func:`map_cdisc`. The module docstring lists what maps
    to what and every choice made: screening date from the SV screening visit, randomization date
    from ADSL ``RANDDT`` else DS RANDOMIZED else the SV baseline visit else DM ``RFSTDTC``, planned
    (``ARMCD``) and actual (``ACTARMCD``) arms kept apart, arms ordered by dose.

    Parameters
    ----------
    sdtm : str or path-like
        Folder of SDTM ``.xpt`` files.
    adam : str or path-like, optional
        Folder of ADaM ``.xpt`` files. Without it there are no outcomes and disposition lacks
        ADSL's treatment dates and population flags.
    protocol : str, path-like or Protocol, optional
        A known protocol id, a protocol YAML file or a :class:`~trialkit.protocols.Protocol`.
        Default: built from the trial design domains (TA arms with equal allocation, TI criteria as
        text), see :func:`protocol_from_sdtm`.
    validate : bool, default True
        Raise one :class:`~trialkit.errors.DataValidationError` listing every mapping and model
        problem. With ``False`` the study is returned as mapped (unreadable values left missing and
        counted in ``Study.notes``); missing required variables always raise.

    Returns
    -------
    Study
        ``source`` is ``"cdisc:<STUDYID>"``; ``notes`` records each choice with its counts.

    Raises
    ------
    StudyFolderError
        A folder or ``dm.xpt`` is missing, or a file is not SAS transport.
    DataValidationError
        With ``failure_cases`` naming file (e.g. ``dm.xpt``), record number and variable.

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_cdisc(sdtm="cdiscpilot01/sdtm", adam="cdiscpilot01/adam")  # doctest: +SKIP
    >>> study.protocol.arm_codes  # doctest: +SKIP
    ('Pbo', 'Xan_Lo', 'Xan_Hi')
    """
    folders = {"sdtm": Path(sdtm)}
    if adam is not None:
        folders["adam"] = Path(adam)
    for kind, f in folders.items():
        if not f.is_dir():
            raise StudyFolderError(f"{f} is not a folder; give the folder that holds the {kind.upper()} .xpt files.")
    domains, files = {}, {}
    for kind, names in (("sdtm", SDTM_DOMAINS), ("adam", ADAM_DATASETS)):
        if kind not in folders:
            continue
        for name in names:
            p = _find(folders[kind], name)
            if p is not None:
                domains[name], files[name] = read_xpt(p), p.name
    if "dm" not in domains:
        raise StudyFolderError(f"{folders['sdtm']}: no dm.xpt; the DM domain is required (it lists every subject).")
    return map_cdisc(domains, protocol=protocol, validate=validate, files=files)


# --------------------------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------------------------
class _Problems:
    def __init__(self):
        self.frames: list[pd.DataFrame] = []

    def add(self, table, file, records, variable, values, problem, fix):
        records = np.asarray(records, dtype=float)
        if not len(records):
            return
        vals = pd.Series(list(values), dtype="object").astype(str).values if values is not None else ""
        self.frames.append(pd.DataFrame({"table": table, "file": file, "row": records, "column": variable,
                                         "value": vals, "problem": problem, "fix": fix}))

    def frame(self) -> pd.DataFrame:
        return (pd.concat(self.frames, ignore_index=True)[FAILURE_COLUMNS] if self.frames
                else pd.DataFrame(columns=FAILURE_COLUMNS))


def _require(d: dict, files: dict) -> None:
    rows = []
    for name, df in d.items():
        for var in REQUIRED_VARIABLES.get(name, ()):
            if var not in df.columns:
                rows.append({"table": name.upper(), "file": files[name], "row": np.nan, "column": var, "value": "",
                             "problem": f"required variable {var} is missing from {name.upper()}",
                             "fix": f"add {var} to {files[name]} (it is required to map {name.upper()})"})
    if rows:
        raise DataValidationError(pd.DataFrame(rows), source="CDISC mapping")


# --------------------------------------------------------------------------------------------
# value helpers
# --------------------------------------------------------------------------------------------
def _col(df: pd.DataFrame | None, var: str, dtype: str = "string") -> pd.Series:
    n = 0 if df is None else len(df)
    if df is not None and var in df.columns:
        return df[var]
    return pd.Series(pd.NA if dtype != "datetime64[ns]" else pd.NaT, index=pd.RangeIndex(n), dtype=dtype)


def _upper(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip().str.upper()


def _dtc(df, var, *, name, file, table, probs, notes) -> pd.Series:
    """Parse an SDTM ISO 8601 --DTC variable (partial dates imputed to the first day and noted)."""
    if df is None or var not in df.columns:
        return _col(df, var, "datetime64[ns]")
    dates, failed, imputed = parse_dates(df[var], partial="first")
    if failed.any():
        pos = np.flatnonzero(failed.to_numpy())
        probs.add(table, file, pos + 1, var, df[var].iloc[pos], f"{name.upper()}.{var} is not an ISO 8601 date",
                  f"write {var} in {file} as YYYY-MM-DD (ISO 8601; partial dates such as 2013-05 are allowed)")
    if imputed.any():
        notes.append(f"{file}: {int(imputed.sum())} partial date(s) in {var} imputed to the first day of the period")
    return dates


def _sas_date(df, var, *, name, file, table, probs, notes) -> pd.Series:
    """An ADaM date: numeric days since 1960-01-01 (character ISO dates are accepted too)."""
    if df is None or var not in df.columns:
        return _col(df, var, "datetime64[ns]")
    s = df[var]
    if not pd.api.types.is_numeric_dtype(s.dtype):
        return _dtc(df, var, name=name, file=file, table=table, probs=probs, notes=notes)
    x = s.astype("float64")
    bad = x.notna() & ((x != np.round(x)) | (x.abs() > 2_000_000))
    if bad.any():
        pos = np.flatnonzero(bad.to_numpy())
        probs.add(table, file, pos + 1, var, s.iloc[pos], f"{name.upper()}.{var} is not a SAS date",
                  f"{var} in {file} must hold whole days since 1960-01-01 (SAS date)")
    x = x.where(~bad)
    return (SAS_EPOCH + pd.to_timedelta(x, unit="D")).astype("datetime64[ns]")


def _flag(s: pd.Series) -> pd.Series:
    """ADaM Y/N flag to boolean (Y = True, N = False, blank = missing)."""
    u = _upper(s)
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[u.eq("Y").fillna(False)] = True
    out[u.eq("N").fillna(False)] = False
    return out


def _first_per_subject(df: pd.DataFrame, value: pd.Series, *, order: pd.Series | None = None) -> pd.Series:
    """The first non-missing ``value`` per USUBJID (ordered by ``order``, then record order)."""
    tmp = pd.DataFrame({"USUBJID": df["USUBJID"], "v": value, "o": order if order is not None else 0,
                        "r": np.arange(len(df))}).dropna(subset=["USUBJID", "v"])
    tmp = tmp.sort_values(["o", "r"], kind="stable").drop_duplicates("USUBJID")
    return tmp.set_index("USUBJID")["v"]


def _join_codes(df: pd.DataFrame, value: pd.Series) -> pd.Series:
    tmp = pd.DataFrame({"USUBJID": df["USUBJID"], "v": value}).dropna()
    return tmp.groupby("USUBJID", sort=False)["v"].agg(lambda s: "; ".join(dict.fromkeys(s)))


# --------------------------------------------------------------------------------------------
# protocol from the trial design
# --------------------------------------------------------------------------------------------
def _arm_table(d: dict) -> pd.DataFrame:
    """Arms (code, label, dose, order) from TA (else DM), ordered by dose then TA order."""
    dm = d["dm"]
    if "ta" in d:
        src = d["ta"][["ARMCD", "ARM"]]
    else:
        src = pd.DataFrame({"ARMCD": dm["ARMCD"], "ARM": _col(dm, "ARM")})
    src = src.dropna(subset=["ARMCD"])
    src = src[~_upper(src["ARMCD"]).isin(_NOT_ARMS)].drop_duplicates("ARMCD").reset_index(drop=True)
    arms = pd.DataFrame({"code": src["ARMCD"].astype(str), "label": src["ARM"].astype("string"),
                         "ta_order": np.arange(len(src)), "dose": np.nan, "dose_source": ""})
    adsl = d.get("adsl")
    if adsl is not None and "TRT01PN" in adsl:
        dose_by_subject = adsl.set_index("USUBJID")["TRT01PN"]
        dose_by_subject = dose_by_subject[~dose_by_subject.index.duplicated()]
        per_arm = pd.DataFrame({"code": dm["ARMCD"], "dose": dm["USUBJID"].map(dose_by_subject)}).dropna()
        uniq = per_arm.groupby("code")["dose"].agg(lambda s: s.unique().tolist())
        for i, code in arms["code"].items():
            vals = uniq.get(code, [])
            if len(vals) == 1:
                arms.loc[i, ["dose", "dose_source"]] = [float(vals[0]), "ADSL TRT01PN"]
    for i, row in arms.iterrows():
        if not np.isnan(row["dose"]):
            continue
        label = "" if pd.isna(row["label"]) else str(row["label"])
        m = re.search(r"(\d+(?:\.\d+)?)\s*(?:mg|g|µg|ug|mcg|iu|u|units?|ml)\b", label, flags=re.I)
        if m:
            arms.loc[i, ["dose", "dose_source"]] = [float(m.group(1)), "arm label"]
        elif re.search(r"placebo|control|vehicle|sham", label, flags=re.I) or re.fullmatch(r"(?i)pbo|plc|placebo",
                                                                                        row["code"]):
            arms.loc[i, ["dose", "dose_source"]] = [0.0, "placebo"]
    arms["sort_dose"] = arms["dose"].fillna(np.inf)
    arms["level"] = [_dose_word(lab) for lab in arms["label"]]
    return arms.sort_values(["sort_dose", "level", "ta_order"], kind="stable").reset_index(drop=True)


def _natural(value) -> tuple:
    """Sort key that puts site "9" before "10" and "A2" before "A10"."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", str(value)) if p)


def _dose_word(label) -> int:
    """Rank of a dose word in an arm label (low < middle < high); 9 when there is none."""
    label = "" if pd.isna(label) else str(label)
    for rank, pattern in enumerate((r"\blow", r"\b(mid|medium|middle|intermediate)", r"\bhigh")):
        if re.search(pattern, label, flags=re.I):
            return rank
    return 9


def protocol_from_sdtm(domains: dict[str, pd.DataFrame]) -> Protocol:
    """Build a :class:`Protocol` from the SDTM trial design (TA, TI, TS), DM and ADTTE.

    Arms come from TA (else DM ``ARMCD``/``ARM``) ordered by dose (see the module docstring), with
    **equal allocation** (TA does not carry the ratio; the CDISC pilot randomized 1:1:1) and the
    lowest-dose arm as reference. TI criteria are kept as wording only, in
    ``protocol.raw["ti_criteria"]`` (``{"id", "category", "text"}``); ``protocol.criteria`` stays
    empty because TI has no machine-readable rules (trialkit's eligibility engine needs a rule for
    every criterion, and none can be evaluated from the mapped domains). Age limits are not in the trial design
    domains and are left open (0–120 years). Sites are DM's ``SITEID`` values (no names).
    Nothing is copied into the repository: the protocol exists only in memory.
    """
    d = {k.lower(): clean_frame(v) for k, v in domains.items() if v is not None}
    dm = d["dm"]
    studyid = str(_col(dm, "STUDYID").dropna().iloc[0]) if _col(dm, "STUDYID").notna().any() else "cdisc"
    ts = d.get("ts")
    tsval = {}
    if ts is not None:
        tsval = ts.dropna(subset=["TSPARMCD"]).drop_duplicates("TSPARMCD").set_index("TSPARMCD")["TSVAL"].to_dict()
    arms = _arm_table(d)
    if len(arms) < 2:
        raise DataValidationError(pd.DataFrame([{
            "table": "protocol", "file": "ta.xpt" if "ta" in d else "dm.xpt", "row": np.nan, "column": "ARMCD",
            "value": ", ".join(arms["code"]), "problem": f"found {len(arms)} arm(s); a randomized trial needs two",
            "fix": "provide TA (trial arms) or pass protocol=… with the arms"}]), source="CDISC mapping")
    arm_dicts = []
    for i, a in arms.iterrows():
        label = a["code"] if pd.isna(a["label"]) else str(a["label"])
        placebo = bool(re.search(r"placebo", label, flags=re.I))
        dosing = "" if np.isnan(a["dose"]) else f"dose {a['dose']:g} ({a['dose_source']})"
        arm_dicts.append({"code": a["code"], "label": label, "ratio": 1, "dose_order": int(i), "dosing": dosing,
                          "type": "placebo comparator" if placebo else ("reference" if i == 0 else "experimental")})
    criteria = []
    if "ti" in d:
        ti = d["ti"]
        for r in ti.itertuples(index=False):
            cat = str(getattr(r, "IECAT", "") or "").lower()
            criteria.append({"id": r.IETESTCD, "category": "exclusion" if cat.startswith("excl") else "inclusion",
                             "text": "" if pd.isna(getattr(r, "IETEST", pd.NA)) else str(r.IETEST)})
    sites = dm.dropna(subset=["SITEID"]).drop_duplicates("SITEID")
    country = _col(sites, "COUNTRY")
    site_dicts = [{"site_id": str(s), "site_name": "", "city": "",
                   "country": "not recorded" if pd.isna(c) else str(c)}
                  for s, c in sorted(zip(sites["SITEID"], country), key=lambda t: _natural(t[0]))]
    endpoints = []
    if "adtte" in d:
        tte = d["adtte"].drop_duplicates("PARAMCD")
        endpoints = [{"code": str(r.PARAMCD), "label": str(getattr(r, "PARAM", r.PARAMCD)), "kind": "time_to_event"}
                     for r in tte.itertuples(index=False) if pd.notna(r.PARAMCD)]
    try:
        planned = int(float(tsval.get("PLANSUB"))) if tsval.get("PLANSUB") is not None else None
    except ValueError:
        planned = None
    raw = {
        "id": studyid, "title": tsval.get("TITLE") or f"{studyid} (protocol built from the SDTM trial design)",
        "phase": str(tsval.get("TPHASE") or ""), "arms": arm_dicts, "reference_arm": arm_dicts[0]["code"],
        "age": {"min_years": 0, "max_years": 120, "max_inclusive": True,
                "assumption": "not in the trial design domains; read the protocol's inclusion criteria"},
        "allocation": {"assumption": "equal allocation (TA does not carry the ratio); pass protocol= otherwise"},
        "planned_enrollment": planned, "sites": site_dicts, "endpoints": endpoints, "ti_criteria": criteria,
        "countries": {"registered": sorted({s["country"] for s in site_dicts})},
    }
    return parse_protocol(raw, "")


def _resolve_protocol(protocol, d) -> Protocol:
    if protocol is None:
        return protocol_from_sdtm(d)
    if isinstance(protocol, Protocol):
        return protocol
    if str(protocol).endswith((".yaml", ".yml")):
        return load_protocol(protocol)
    return get_protocol(str(protocol))


# --------------------------------------------------------------------------------------------
# the mapping
# --------------------------------------------------------------------------------------------
def map_cdisc(domains: dict[str, pd.DataFrame], *, protocol: str | os.PathLike | Protocol | None = None,
              validate: bool = True, files: dict[str, str] | None = None) -> Study:
    """Map SDTM/ADaM frames onto a :class:`Study` (the work behind :func:`load_cdisc`).

    Parameters
    ----------
    domains : dict of str to DataFrame
        Frames by lower-case domain name: ``dm`` (required), ``ds``, ``sv``, ``suppds``, ``ie``,
        ``ta``, ``ti``, ``ts``, ``adsl``, ``adtte``. Variable names are matched case-insensitively;
        character values may be bytes (as ``pandas.read_sas`` returns them) or str.
    protocol, validate
        As in :func:`load_cdisc`.
    files : dict of str to str, optional
        File name of each domain for problem reports (default ``<name>.xpt``).

    Returns
    -------
    Study
    """
    unknown = sorted(set(k.lower() for k in domains) - set(SDTM_DOMAINS) - set(ADAM_DATASETS))
    if unknown:
        raise UsageError(f"unknown domain(s) {', '.join(unknown)}; map_cdisc reads "
                         f"{', '.join(SDTM_DOMAINS + ADAM_DATASETS)}")
    d = {k.lower(): clean_frame(v) for k, v in domains.items() if v is not None}
    if "dm" not in d:
        raise StudyFolderError("no DM domain given; DM is required (it lists every subject).")
    files = {k: (files or {}).get(k, f"{k}.xpt") for k in d}
    _require(d, files)
    probs, notes = _Problems(), []
    proto = _resolve_protocol(protocol, d)
    f = files
    dm = d["dm"]
    ds, sv, adsl, adtte = d.get("ds"), d.get("sv"), d.get("adsl"), d.get("adtte")
    for name in ("ds", "sv", "ie", "suppds", "adsl", "adtte"):
        if name in d:
            unknown_subj = ~d[name]["USUBJID"].isin(dm["USUBJID"]) | d[name]["USUBJID"].isna()
            if unknown_subj.any():
                pos = np.flatnonzero(unknown_subj.to_numpy())
                probs.add(name.upper(), f[name], pos + 1, "USUBJID", d[name]["USUBJID"].iloc[pos],
                          "subject is not in DM", f"add the subject to {f['dm']} or correct USUBJID in {f[name]}")
    if adsl is not None:
        dup = adsl["USUBJID"].duplicated(keep="first") & adsl["USUBJID"].notna()
        if dup.any():
            pos = np.flatnonzero(dup.to_numpy())
            probs.add("ADSL", f["adsl"], pos + 1, "USUBJID", adsl["USUBJID"].iloc[pos],
                      "subject appears more than once", "ADSL has one record per subject; remove the repeats")
        adsl_first = ~dup.to_numpy()  # record positions stay those of the file; lookups use the first record
    subj = dm["USUBJID"]

    # ---- who is who ------------------------------------------------------------------------
    armcd = _upper(dm["ARMCD"])
    armnrs = _upper(_col(dm, "ARMNRS"))
    is_sf = armcd.eq("SCRNFAIL").fillna(False) | (armcd.isna() & armnrs.eq("SCREEN FAILURE").fillna(False))
    not_assigned = ~is_sf & (armcd.eq("NOTASSGN").fillna(False) | armcd.isna())
    rnd_mask = ~is_sf & ~not_assigned

    # ---- entry criteria: IE, SUPPDS ENTCRIT ----------------------------------------------------
    ti_codes = d["ti"]["IETESTCD"].dropna().astype(str).tolist() if "ti" in d else []

    def resolve(q):
        q = str(q).strip()
        if not q.isdigit():
            return q
        hits = [c for c in ti_codes if re.search(r"(\d+)$", c) and int(re.search(r"(\d+)$", c).group(1)) == int(q)]
        return hits[0] if len(hits) == 1 else q

    ie_codes = pd.Series(dtype="string")
    if "ie" in d:
        ie = d["ie"]
        cat, res = _upper(_col(ie, "IECAT")), _upper(_col(ie, "IEORRES"))
        met = (cat.str.startswith("INCL") & res.eq("Y")) | (cat.str.startswith("EXCL") & res.eq("N"))
        met = met.fillna(False)
        if met.any():
            notes.append(f"{f['ie']}: {int(met.sum())} record(s) say the criterion was met (IEORRES) and are not "
                         "counted as failures")
        ie_codes = _join_codes(ie[~met], ie.loc[~met, "IETESTCD"])
    entcrit = pd.Series(dtype="string")
    if "suppds" in d:
        sq = d["suppds"]
        is_ent = _upper(sq["QNAM"]).eq("ENTCRIT").fillna(False)
        if (~is_ent).any():
            notes.append(f"{f['suppds']}: {int((~is_ent).sum())} record(s) with QNAM other than ENTCRIT not mapped")
        if is_ent.any():
            resolved = sq.loc[is_ent, "QVAL"].map(resolve, na_action="ignore")
            entcrit = _join_codes(sq[is_ent], resolved)
            changed = (resolved.astype(str) != sq.loc[is_ent, "QVAL"].astype(str)).sum()
            notes.append(f"{f['suppds']}: ENTCRIT (entry criterion not met) for {len(entcrit)} subject(s); "
                         f"{changed} criterion number(s) matched to their TI IETESTCD by number")
    parts = [x.astype("string") for x in (ie_codes, entcrit) if len(x)]
    criteria_not_met = (pd.concat(parts).groupby(level=0, sort=False).agg(
        lambda s: "; ".join(dict.fromkeys("; ".join(s).split("; ")))) if parts else pd.Series(dtype="string"))

    # ---- dates from SV / DS -------------------------------------------------------------------
    kw = {"probs": probs, "notes": notes}
    scr_date = pd.Series(pd.NaT, index=dm.index, dtype="datetime64[ns]")
    src_counts = {}

    def fill(target, values, label):
        take = target.isna() & values.notna()
        src_counts[label] = int(take.sum())
        return target.mask(take, values)

    sv_base = pd.Series(dtype="datetime64[ns]")
    if sv is not None:
        svd = _dtc(sv, "SVSTDTC", name="sv", file=f["sv"], table="screening", **kw)
        visit = _upper(_col(sv, "VISIT"))
        vnum = pd.to_numeric(sv["VISITNUM"], errors="coerce")
        scr_visit = _first_per_subject(sv, svd.where(visit.str.startswith("SCREEN").fillna(False)), order=vnum)
        scr_date = fill(scr_date, subj.map(scr_visit), "SV screening visit")
    scr_date = fill(scr_date, _dtc(dm, "RFICDTC", name="dm", file=f["dm"], table="screening", **kw), "DM RFICDTC")
    if sv is not None:
        scr_date = fill(scr_date, subj.map(_first_per_subject(sv, svd, order=svd)), "earliest SV visit")
        sv_base = _first_per_subject(sv, svd.where(visit.str.startswith("BASELINE").fillna(False)), order=vnum)
    scr_date = fill(scr_date, pd.Series(_dtc(dm, "DMDTC", name="dm", file=f["dm"], table="screening", **kw).values,
                                        index=dm.index), "DM DMDTC")
    notes.append("screening_date from " + ", ".join(f"{k} ({v})" for k, v in src_counts.items() if v)
                 + (f"; {int(scr_date.isna().sum())} subject(s) without any date" if scr_date.isna().any() else ""))

    dsd = pd.Series(dtype="datetime64[ns]")
    dispo = None
    ds_rand = pd.Series(dtype="datetime64[ns]")
    if ds is not None:
        dsd = _dtc(ds, "DSSTDTC", name="ds", file=f["ds"], table="disposition", **kw)
        dscat, dsdecod = _upper(ds["DSCAT"]), _upper(ds["DSDECOD"])
        is_event = dscat.eq("DISPOSITION EVENT").fillna(False)
        ds_rand = _first_per_subject(ds, dsd.where(dsdecod.eq("RANDOMIZED").fillna(False)), order=dsd)
        ev = pd.DataFrame({"USUBJID": ds["USUBJID"], "decod": ds["DSDECOD"], "term": _col(ds, "DSTERM"),
                           "date": dsd, "rec": np.arange(len(ds))})[is_event.to_numpy()]
        several = ev["USUBJID"].duplicated(keep=False)
        if several.any():
            notes.append(f"{f['ds']}: {ev.loc[several, 'USUBJID'].nunique()} subject(s) have several DISPOSITION "
                         "EVENT records; the latest (by DSSTDTC) is used")
        dispo = ev.sort_values(["date", "rec"], na_position="first", kind="stable").drop_duplicates(
            "USUBJID", keep="last").set_index("USUBJID")
        others = int((~is_event).sum())
        if others:
            kinds = ", ".join(f"{k} {v}" for k, v in ds.loc[~is_event, "DSDECOD"].value_counts().items())
            notes.append(f"{f['ds']}: {others} record(s) not in DSCAT DISPOSITION EVENT are not mapped ({kinds})")

    # ---- sites -----------------------------------------------------------------------------
    country = _col(dm, "COUNTRY").astype("string")
    first = dm.assign(_rec=np.arange(len(dm))).dropna(subset=["SITEID"]).drop_duplicates("SITEID")
    first = first.iloc[sorted(range(len(first)), key=lambda i: _natural(first["SITEID"].iloc[i]))]
    per_site_countries = pd.DataFrame({"s": dm["SITEID"], "c": country}).dropna().groupby("s")["c"].nunique()
    multi = per_site_countries[per_site_countries > 1]
    for s in multi.index:
        pos = np.flatnonzero((dm["SITEID"] == s).to_numpy())
        probs.add("sites", f["dm"], pos + 1, "COUNTRY", country.iloc[pos], f"site {s} has more than one COUNTRY",
                  "a site lies in one country; correct COUNTRY or SITEID")
    site_country = _col(first, "COUNTRY").astype("string")
    if "COUNTRY" not in dm.columns:
        notes.append(f"{f['dm']}: no COUNTRY variable; sites' country set to 'not recorded'")
        site_country = site_country.fillna("not recorded")
    sites = _frame("sites", len(first), {"site_id": first["SITEID"].astype("string").values,
                                         "country": site_country.values})
    notes.append(f"sites: {len(sites)} from DM SITEID; SDTM carries no site names or cities, so site_name and city "
                 "are empty (not invented)")

    # ---- screening ---------------------------------------------------------------------------
    age = pd.to_numeric(_col(dm, "AGE", "Float64"), errors="coerce").astype("Float64")
    ageu = _upper(_col(dm, "AGEU"))
    factor = ageu.map(_AGE_UNITS).astype("Float64")
    bad_unit = age.notna() & ageu.notna() & factor.isna()
    if bad_unit.any():
        pos = np.flatnonzero(bad_unit.to_numpy())
        probs.add("screening", f["dm"], pos + 1, "AGEU", ageu.iloc[pos], "unknown age unit",
                  f"use one of {', '.join(_AGE_UNITS)} in AGEU")
    age_years = (age * factor.fillna(1.0)).round(4)
    birth = _dtc(dm, "BRTHDTC", name="dm", file=f["dm"], table="screening", **kw)
    derive = age_years.isna() & birth.notna() & scr_date.notna()
    if derive.any():  # whole years at the screening date, as DM AGE is defined
        before = (scr_date.dt.month * 100 + scr_date.dt.day) < (birth.dt.month * 100 + birth.dt.day)
        years = (scr_date.dt.year - birth.dt.year - before.astype(int)).astype("Float64")
        age_years = age_years.mask(derive, years)
        notes.append(f"{f['dm']}: age at screening derived from BRTHDTC for {int(derive.sum())} subject(s) without AGE")
    sex, *_ = coerce_column(_col(dm, "SEX"), _column("screening", "sex"))
    outcome = pd.Series("eligible", index=dm.index, dtype="string")
    outcome[is_sf.to_numpy()] = "screen failure"
    outcome[not_assigned.to_numpy()] = "other"
    reason = pd.Series(pd.NA, index=dm.index, dtype="string")
    reason = reason.mask(is_sf, subj.map(criteria_not_met).astype("string"))
    reason = reason.mask(not_assigned, subj.map(criteria_not_met).astype("string").fillna(
        _col(dm, "ARMNRS").astype("string")))
    entry = subj.map(criteria_not_met).astype("string").where(rnd_mask)
    screening = _frame("screening", len(dm), {
        "subject_id": subj.astype("string").values, "site_id": dm["SITEID"].astype("string").values,
        "screening_date": scr_date.values,
        "birth_date": birth.values,
        "age_years": age_years.values, "sex": sex.values, "country": country.values,
        "screening_outcome": outcome.values, "screen_failure_reason": reason.values,
    }, extra={"race": _col(dm, "RACE").astype("string").values, "ethnicity": _col(dm, "ETHNIC").astype("string").values,
              "entry_criterion_not_met": entry.values})
    n_sf = int(is_sf.sum())
    notes.append(f"screening: {len(dm)} DM subjects, {n_sf} screen failure(s) (ARMCD SCRNFAIL), {int(rnd_mask.sum())} "
                 f"with an arm, {int(not_assigned.sum())} not assigned; screen-failure reason recorded for "
                 f"{int(reason[is_sf.to_numpy()].notna().sum())} of {n_sf}"
                 + ("" if "ie" in d else " (no IE domain)"))
    if entry.notna().any():
        notes.append("randomized although an entry criterion was not met (screening.entry_criterion_not_met): "
                     + ", ".join(f"{s} {c}" for s, c in zip(subj[entry.notna()], entry.dropna())))

    # ---- randomization -----------------------------------------------------------------------
    rpos = np.flatnonzero(rnd_mask.to_numpy())
    r = dm.iloc[rpos].reset_index(drop=True)
    rs = r["USUBJID"]
    label_to_code = {}
    arms_src = d["ta"] if "ta" in d else r
    for c, lab in zip(arms_src["ARMCD"], _col(arms_src, "ARM")):
        if pd.notna(lab) and pd.notna(c):
            label_to_code.setdefault(str(lab).upper(), str(c))
    rdate = pd.Series(pd.NaT, index=r.index, dtype="datetime64[ns]")
    src_counts = {}
    if adsl is not None and "RANDDT" in adsl:
        rd = _sas_date(adsl, "RANDDT", name="adsl", file=f["adsl"], table="randomization", **kw)
        rdate = fill(rdate, rs.map(pd.Series(rd.values, index=adsl["USUBJID"])[adsl_first]), "ADSL RANDDT")
    rdate = fill(rdate, rs.map(ds_rand), "DS RANDOMIZED")
    rdate = fill(rdate, rs.map(sv_base), "SV BASELINE visit")
    rfst = _dtc(dm, "RFSTDTC", name="dm", file=f["dm"], table="randomization", **kw)
    rdate = fill(rdate, pd.Series(rfst.iloc[rpos].values, index=r.index), "DM RFSTDTC")
    notes.append("randomization_date (no randomization record in the data) from "
                 + ", ".join(f"{k} ({v})" for k, v in src_counts.items() if v))
    act = _col(r, "ACTARMCD").astype("string")
    act_valid = act.where(~_upper(act).isin(_NOT_ARMS).fillna(False))
    adsl_idx = adsl[adsl_first].set_index("USUBJID") if adsl is not None else None
    act_adsl = pd.Series(pd.NA, index=r.index, dtype="string")
    site_group = pd.Series(pd.NA, index=r.index, dtype="string")
    if adsl_idx is not None:
        if "TRT01A" in adsl_idx:
            act_adsl = rs.map(_upper(adsl_idx["TRT01A"]).map(label_to_code)).astype("string")
        if "TRT01P" in adsl_idx:
            planned_lab = rs.map(_upper(adsl_idx["TRT01P"]))
            mism = planned_lab.notna() & (planned_lab != _upper(_col(r, "ARM")))
            if mism.any():
                notes.append(f"{f['adsl']}: TRT01P differs from DM ARM for {int(mism.sum())} subject(s); "
                             "DM ARMCD is used as the planned arm")
        if "SITEGR1" in adsl_idx:
            site_group = rs.map(adsl_idx["SITEGR1"]).astype("string")
        missing_adsl = ~rs.isin(adsl_idx.index)
        if missing_adsl.any():
            notes.append(f"{f['adsl']}: {int(missing_adsl.sum())} randomized DM subject(s) have no ADSL record")
        not_rand = ~adsl["USUBJID"].isin(rs) & adsl["USUBJID"].isin(subj)
        if not_rand.any():
            pos = np.flatnonzero(not_rand.to_numpy())
            probs.add("ADSL", f["adsl"], pos + 1, "USUBJID", adsl["USUBJID"].iloc[pos],
                      "subject is in ADSL but is not randomized in DM (ARMCD)",
                      f"check ARMCD in {f['dm']} or remove the subject from {f['adsl']}")
    if "ACTARMCD" not in dm.columns and adsl_idx is not None:
        act_valid = act_adsl
        notes.append(f"{f['dm']}: no ACTARMCD; actual arm from ADSL TRT01A")
    n_noarm = int((act.notna() & act_valid.isna()).sum())
    diff = act_valid.notna() & (act_valid != r["ARMCD"].astype("string"))
    notes.append(f"actual arm (DM ACTARMCD) differs from the planned arm (ARMCD) for {int(diff.sum())} subject(s)"
                 + (f"; {n_noarm} ACTARMCD value(s) that are not arms (e.g. NOTTRT) left empty" if n_noarm else ""))
    if adsl_idx is not None and "TRT01A" in adsl_idx:
        dd = act_valid.notna() & act_adsl.notna() & (act_valid != act_adsl)
        notes.append(f"ADSL TRT01A disagrees with DM ACTARMCD for {int(dd.sum())} subject(s); actual_arm follows DM, "
                     "ADSL's is kept in actual_arm_adsl")
    randomization = _frame("randomization", len(r), {
        "subject_id": rs.astype("string").values, "site_id": r["SITEID"].astype("string").values,
        "randomization_date": rdate.values, "arm": r["ARMCD"].astype("string").values,
        "actual_arm": act_valid.values,
    }, extra={"arm_label": _col(r, "ARM").astype("string").values,
              "actual_arm_label": _col(r, "ACTARM").astype("string").values,
              "actual_arm_adsl": act_adsl.values, "site_group": site_group.values})

    # ---- disposition ---------------------------------------------------------------------------
    if dispo is not None:
        outside = dispo[~dispo.index.isin(rs)]
        if len(outside):
            kinds = ", ".join(f"{k} {v}" for k, v in outside["decod"].value_counts().items())
            notes.append(f"{f['ds']}: {len(outside)} disposition event(s) of subjects without an arm are not in the "
                         f"disposition table (randomized subjects only; their outcome is in screening): {kinds}")
        sf_randomized = dispo.index.isin(rs) & _upper(dispo["decod"]).eq("SCREEN FAILURE").fillna(False).to_numpy()
        if sf_randomized.any():
            pos = dispo.loc[sf_randomized, "rec"].to_numpy()
            probs.add("disposition", f["ds"], pos + 1, "DSDECOD", dispo.loc[sf_randomized, "decod"],
                      "SCREEN FAILURE disposition for a subject with an arm in DM",
                      f"correct DSDECOD in {f['ds']} or ARMCD in {f['dm']}")

    def dm_r(var):
        return pd.Series(_dtc(dm, var, name="dm", file=f["dm"], table="disposition", **kw).iloc[rpos].values,
                         index=r.index)

    def adsl_r(var, kind="date"):
        if adsl_idx is None or var not in adsl_idx:
            return pd.Series(pd.NaT if kind == "date" else pd.NA, index=r.index,
                             dtype="datetime64[ns]" if kind == "date" else "string")
        if kind == "date":
            v = _sas_date(adsl, var, name="adsl", file=f["adsl"], table="disposition", **kw)
            return rs.map(pd.Series(v.values, index=adsl["USUBJID"])[adsl_first]).astype("datetime64[ns]")
        return rs.map(adsl_idx[var]).astype("string")

    trtsdt = adsl_r("TRTSDT").fillna(dm_r("RFXSTDTC")).fillna(rfst.iloc[rpos].set_axis(r.index))
    trtedt = adsl_r("TRTEDT").fillna(dm_r("RFXENDTC"))
    status = pd.Series(pd.NA, index=r.index, dtype="string")
    status_date = pd.Series(pd.NaT, index=r.index, dtype="datetime64[ns]")
    term = pd.Series(pd.NA, index=r.index, dtype="string")
    dispo_rec = np.full(len(r), np.nan)
    if dispo is not None:
        status = rs.map(dispo["decod"]).astype("string")
        status_date = rs.map(dispo["date"]).astype("datetime64[ns]")
        term = rs.map(dispo["term"]).astype("string")
        dispo_rec = rs.map(dispo["rec"]).to_numpy(dtype=float)
    dcdecod = adsl_r("DCDECOD", "str")
    if dcdecod.notna().any():
        both = status.notna() & dcdecod.notna() & (_upper(status) != _upper(dcdecod))
        if both.any():
            notes.append(f"ADSL DCDECOD differs from the DS disposition event for {int(both.sum())} subject(s); "
                         "DS is used")
        status = status.fillna(dcdecod)
    ustatus = _upper(status)
    discontinued = (~ustatus.eq("COMPLETED")).astype("boolean").mask(status.isna())
    # DTHFL is "Y" or blank (never "N"): blank is False when the variable exists
    if "DTHFL" in dm.columns:
        dthfl = _upper(dm["DTHFL"]).eq("Y").fillna(False).astype("boolean").iloc[rpos].set_axis(r.index)
    elif adsl_idx is not None and "DTHFL" in adsl_idx:
        dthfl = _upper(rs.map(adsl_idx["DTHFL"])).eq("Y").fillna(False).astype("boolean")
    else:
        dthfl = pd.Series(pd.NA, index=r.index, dtype="boolean")
    death = dm_r("DTHDTC")
    if ds is not None:
        ds_death = _first_per_subject(ds, dsd.where(_upper(ds["DSDECOD"]).eq("DEATH").fillna(False)), order=dsd)
        death = death.fillna(rs.map(ds_death).astype("datetime64[ns]"))
    no_date = dthfl.fillna(False) & death.isna()
    if no_date.any():
        notes.append(f"{int(no_date.sum())} subject(s) flagged dead (DTHFL) without a death date")
    ltfu = ustatus.eq("LOST TO FOLLOW-UP").astype("boolean").mask(status.isna())
    last = death.fillna(dm_r("RFPENDTC"))
    treated = trtsdt.notna().astype("boolean")
    if (adsl_idx is None or "TRTSDT" not in adsl_idx) and "RFXSTDTC" not in dm.columns:
        treated = treated.mask(trtsdt.isna())  # no exposure dates: unknown unless ACTARMCD says NOTTRT
    treated = treated.mask(_upper(act).eq("NOTTRT").fillna(False), False)
    extra_flags = {}
    for fl in ("ITTFL", "SAFFL", "EFFFL"):
        if adsl_idx is not None and fl in adsl_idx:
            extra_flags[fl.lower()] = _flag(rs.map(adsl_idx[fl])).values
    analysed = pd.Series(extra_flags.get("ittfl", pd.array([pd.NA] * len(r), dtype="boolean")), dtype="boolean")
    disposition = _frame("disposition", len(r), {
        "subject_id": rs.astype("string").values, "treated": treated.values,
        "treatment_start_date": trtsdt.values, "discontinued": discontinued.values,
        "discontinuation_date": status_date.where(discontinued.fillna(False)).values,
        "discontinuation_reason": status.where(discontinued.fillna(False)).values,
        "lost_to_follow_up": ltfu.values, "lost_to_follow_up_date": status_date.where(ltfu.fillna(False)).values,
        "death_date": death.values, "last_contact_date": last.values, "analysed": analysed.values,
    }, extra={"treatment_end_date": trtedt.values, "end_of_study_status": status.values,
              "end_of_study_date": status_date.values, "discontinuation_term": term.where(
                  discontinued.fillna(False)).values, "death_flag": dthfl.values, **extra_flags})
    if status.notna().any():
        counts = ", ".join(f"{k} {v}" for k, v in status.value_counts().items())
        notes.append(f"disposition: {counts}; induction columns empty (no induction phase in these data); "
                     "analysed = ADSL ITTFL" + ("" if adsl_idx is not None else " (no ADSL: empty)"))

    # ---- outcomes (ADTTE) ----------------------------------------------------------------------
    if adtte is not None:
        t = adtte
        start = _sas_date(t, "STARTDT", name="adtte", file=f["adtte"], table="outcomes", **kw)
        end = _sas_date(t, "ADT", name="adtte", file=f["adtte"], table="outcomes", **kw)
        cnsr = pd.to_numeric(t["CNSR"], errors="coerce").astype("Float64")
        bad = cnsr.isna() | (cnsr < 0) | (cnsr != cnsr.round())
        bad = bad.fillna(True)
        if bad.any():
            pos = np.flatnonzero(bad.to_numpy())
            probs.add("outcomes", f["adtte"], pos + 1, "CNSR", t["CNSR"].iloc[pos],
                      "CNSR must be 0 (event) or a positive integer (censored)",
                      f"correct CNSR in {f['adtte']}: 0 = event, 1 (or another positive integer) = censored")
        cn = cnsr.where(~bad).round().astype("Int64")
        event = (cn == 0).astype("Int64").mask(cn.isna())
        if (cn > 1).fillna(False).any():
            notes.append(f"{f['adtte']}: CNSR values above 1 ({', '.join(map(str, sorted(cn[cn > 1].unique())))}) "
                         "read as censored")
        aval = pd.to_numeric(t["AVAL"], errors="coerce").astype("Float64")
        unit = _upper(_col(t, "AVALU"))
        in_days = unit.isna() | unit.isin(["DAY", "DAYS", "D"])
        if (~in_days).any():
            derived = ((end - start).dt.days + 1).astype("Float64")
            aval = aval.where(in_days.to_numpy(), derived)
            notes.append(f"{f['adtte']}: {int((~in_days).sum())} record(s) with AVALU other than days; time_days "
                         "computed as ADT - STARTDT + 1")
        outcomes = _frame("outcomes", len(t), {
            "subject_id": t["USUBJID"].astype("string").values, "endpoint": t["PARAMCD"].astype("string").values,
            "start_date": start.values, "end_date": end.values, "event": event.values, "time_days": aval.values,
            "event_description": _col(t, "EVNTDESC").astype("string").values,
        }, extra={"endpoint_label": _col(t, "PARAM").astype("string").values, "cnsr": cn.values,
                  **({"saffl": _flag(t["SAFFL"]).values} if "SAFFL" in t else {})})
        for ep, g in outcomes.groupby("endpoint", sort=False):
            notes.append(f"outcomes {ep}: {len(g)} record(s), {int(g['event'].sum())} event(s)")
    else:
        outcomes = empty_table("outcomes")

    for name in SDTM_DOMAINS + ADAM_DATASETS:
        if name not in d and name != "ie":
            notes.append(f"{name.upper()} not provided")
    if "ie" not in d:
        notes.append("IE not provided: screen-failure reasons come only from SUPPDS ENTCRIT, if any")

    studyid = _col(dm, "STUDYID").dropna()
    study = Study(protocol=proto, sites=sites, screening=screening, randomization=randomization,
                  disposition=disposition, outcomes=outcomes,
                  source=f"cdisc:{studyid.iloc[0] if len(studyid) else 'unknown'}", notes=tuple(notes))
    mapping = probs.frame()
    if validate:
        sources = {
            "sites": SourceInfo(f["dm"], 1, positions=first["_rec"].to_numpy()),
            "screening": SourceInfo(f["dm"], 1),
            "randomization": SourceInfo(f["dm"], 1, positions=rpos),
            "disposition": (SourceInfo(f["ds"], 1, positions=dispo_rec) if dispo is not None
                            else SourceInfo(f["dm"], 1, positions=rpos)),
            "outcomes": SourceInfo(f.get("adtte", "adtte.xpt"), 1),
        }
        model = _name_source_variables(study_problems(study, sources))
        if len(mapping) and len(model):  # a value already reported as unreadable is not reported again as empty
            seen = set(zip(mapping["file"], mapping["row"], mapping["column"]))
            var = model["column"].astype(str).str.split(" ").str[0]
            model = model[[(fl, rw, v) not in seen for fl, rw, v in zip(model["file"], model["row"], var)]]
        allp = pd.concat([x for x in (mapping, model) if len(x)], ignore_index=True) if (len(mapping) or len(model)) \
            else mapping
        if len(allp):
            raise DataValidationError(allp, source=study.source)
    elif len(mapping):
        first_p = mapping.iloc[0]
        study = study.replace(notes=study.notes + (
            f"{len(mapping)} value(s) could not be mapped and were left missing (e.g. {first_p['file']} record "
            f"{int(first_p['row']) if pd.notna(first_p['row']) else '?'} {first_p['column']}); load with "
            "validate=True to list them all",))
    return study


def _name_source_variables(problems: pd.DataFrame) -> pd.DataFrame:
    """Name the source variable beside the canonical column, e.g. ``AVAL (time_days)``."""
    if not len(problems):
        return problems
    out = problems.copy()
    out["column"] = [f"{_SOURCE_VARIABLE.get(t, {})[c]} ({c})" if c in _SOURCE_VARIABLE.get(t, {}) else c
                     for t, c in zip(out["table"], out["column"])]
    return out


def _column(table: str, name: str):
    return next(c for c in columns(table) if c.name == name)


def _frame(table: str, n: int, data: dict, extra: dict | None = None) -> pd.DataFrame:
    """A canonical frame of ``n`` rows: given columns cast to their dtypes, the others empty."""
    out = empty_table(table)
    cols = {}
    for c in columns(table):
        dtype = out[c.name].dtype
        if c.name in data:
            cols[c.name] = pd.Series(data[c.name], index=pd.RangeIndex(n)).astype(dtype)
        else:
            cols[c.name] = pd.Series(pd.NaT if c.dtype == "datetime" else pd.NA, index=pd.RangeIndex(n), dtype=dtype)
    for k, v in (extra or {}).items():
        cols[k] = pd.Series(v, index=pd.RangeIndex(n))
    return pd.DataFrame(cols, index=pd.RangeIndex(n))
