"""DM (demographics) → ``sites``, ``screening`` and ``randomization``.

DM lists every subject, screen failures included; the other domains contribute dates (SV, DS,
ADSL), reasons (IE, SUPPDS) and covariates (ADSL), passed in as the frames their own mappers return.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...model import columns
from ..flatfile import coerce_column
from ..mapped import Mapped, canonical_frame
from ..sas import Problems, SubjectLookup, by_subject, dtc, first_available, text_values, upper, upper_values
from ..sas import col as _col
from .design import NOT_ARMS, natural_key

__all__ = ["subject_status", "map_sites", "map_screening", "map_randomization", "AGE_UNITS"]

#: AGEU → years per unit
AGE_UNITS = {"YEARS": 1.0, "MONTHS": 1 / 12, "WEEKS": 7 / 365.25, "DAYS": 1 / 365.25, "HOURS": 1 / 8766}
#: ADSL covariates copied onto screening (canonical column or extra column)
ADSL_COVARIATES = ("height_cm", "weight_kg", "bmi")


def subject_status(dm: pd.DataFrame) -> pd.DataFrame:
    """Per DM record: ``screen_failure``, ``not_assigned`` and ``randomized`` (booleans).

    ``ARMCD = "SCRNFAIL"`` (any case), or a blank ``ARMCD`` with ``ARMNRS = "SCREEN FAILURE"``
    (SDTMIG 3.3+), is a screen failure; ``ARMCD = "NOTASSGN"`` or another blank ``ARMCD`` is not
    assigned; any other ``ARMCD`` is an arm.
    """
    sf, na, randomized = _status_masks(dm)
    return pd.DataFrame({"screen_failure": sf, "not_assigned": na, "randomized": randomized})


def _status_masks(dm: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`subject_status`'s three columns as boolean arrays."""
    armcd = upper_values(dm["ARMCD"])
    blank = pd.isna(armcd)
    armnrs = upper_values(dm["ARMNRS"]) if "ARMNRS" in dm.columns else np.full(len(dm), None)
    sf = (armcd == "SCRNFAIL") | (blank & (armnrs == "SCREEN FAILURE"))
    na = ~sf & ((armcd == "NOTASSGN") | blank)
    return sf, na, ~sf & ~na


def map_sites(dm: pd.DataFrame, *, file: str = "dm.xpt") -> Mapped:
    """One site per DM ``SITEID`` (natural order: "9" before "10") with its ``COUNTRY``.

    SDTM carries no site names or cities: they stay empty, never invented. A site with two
    countries is a problem; without a ``COUNTRY`` variable the country is "not recorded".

    Examples
    --------
    >>> import pandas as pd
    >>> dm = pd.DataFrame({"USUBJID": ["S-1", "S-2", "S-3"], "SITEID": ["10", "9", "10"],
    ...                    "COUNTRY": ["DEU", "AUT", "DEU"]})
    >>> map_sites(dm).frame[["site_id", "site_name", "country"]]
      site_id site_name country
    0       9      <NA>     AUT
    1      10      <NA>     DEU
    """
    probs, notes = Problems(), []
    country = _col(dm, "COUNTRY").astype("string")
    records: dict = {}  # SITEID → its records, in record order
    site_ids = dm["SITEID"]
    for i, site in enumerate(text_values(site_ids) if _is_text(site_ids) else site_ids):
        if not pd.isna(site):
            records.setdefault(site, []).append(i)
    _country_problems(dm, country, records, probs, file)
    first = np.array([records[site][0] for site in sorted(records, key=natural_key)], dtype=np.intp)
    site_country = country.iloc[first]
    if "COUNTRY" not in dm.columns:
        notes.append(f"{file}: no COUNTRY variable; sites' country set to 'not recorded'")
        site_country = site_country.fillna("not recorded")
    sites = canonical_frame("sites", len(first), {"site_id": dm["SITEID"].astype("string").array[first],
                                                  "country": site_country.array})
    notes.append(f"sites: {len(sites)} from DM SITEID; SDTM carries no site names or cities, so site_name and city "
                 "are empty (not invented)")
    return Mapped(sites, probs.frame(), tuple(notes), records=first.astype(float))


def _country_problems(dm: pd.DataFrame, country: pd.Series, records: dict, probs: Problems, file: str) -> None:
    """Every record of a site recorded with more than one COUNTRY is a problem (sites in sorted order)."""
    values = text_values(country)
    for site in sorted(records):
        if len({values[i] for i in records[site] if not pd.isna(values[i])}) > 1:
            mask = np.zeros(len(dm), dtype=bool)
            mask[records[site]] = True
            probs.add_mask(mask, dm, "COUNTRY", table="sites", file=file, problem=f"site {site} has more than one COUNTRY",
                           fix="a site lies in one country; correct COUNTRY or SITEID")


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype)


def _from(frame: pd.DataFrame | None, subjects: pd.Series | SubjectLookup, column: str):
    """The dates ``frame[column]`` of each subject (``subjects`` may be a :class:`SubjectLookup` of them in
    ``frame``); None without ``frame``."""
    if frame is None:
        return None
    lookup = subjects if isinstance(subjects, SubjectLookup) else SubjectLookup(subjects, frame)
    return lookup(column, "datetime64[ns]")


def _screening_date(dm, visits, probs: Problems, notes: list, file: str) -> pd.Series:
    kw = {"file": file, "table": "screening", "probs": probs, "notes": notes}
    sv = SubjectLookup(dm["USUBJID"], visits)  # SV's two dates of each subject: its rows found once
    candidates = [("SV screening visit", _from(visits, sv, "screening_visit")),
                  ("DM RFICDTC", dtc(dm, "RFICDTC", **kw)),
                  ("earliest SV visit", _from(visits, sv, "first_visit")),
                  ("DM DMDTC", dtc(dm, "DMDTC", **kw))]
    dates, used = first_available(len(dm), [(k, v) for k, v in candidates if v is not None])
    notes.append(f"screening_date from {used or 'no source'}"
                 + (f"; {int(dates.isna().sum())} subject(s) without any date" if dates.isna().any() else ""))
    return dates


def _age_years(dm, screening_date: pd.Series, probs: Problems, notes: list, file: str):
    """Age in years from AGE/AGEU, else whole years from BRTHDTC to the screening date."""
    raw = _col(dm, "AGE", "Float64")
    age = pd.to_numeric(raw, errors="coerce").astype("Float64")
    probs.add_mask((raw.notna() & age.isna()).to_numpy(), dm, "AGE", table="screening", file=file,
                   problem="AGE is not a number", fix=f"write AGE in {file} as a number")
    ageu = upper_values(_col(dm, "AGEU"))
    factor = pd.Series(pd.array([AGE_UNITS.get(u, np.nan) for u in ageu], dtype="Float64"), index=dm.index)
    probs.add_mask(age.notna().to_numpy() & ~pd.isna(ageu) & factor.isna().to_numpy(), dm, "AGEU", table="screening",
                   file=file, problem="unknown age unit", fix=f"use one of {', '.join(AGE_UNITS)} in AGEU")
    age_years = (age * factor.fillna(1.0)).round(4)
    birth = dtc(dm, "BRTHDTC", file=file, table="screening", probs=probs, notes=notes)
    derive = age_years.isna() & birth.notna() & screening_date.notna()
    if derive.any():  # whole years at the screening date, as DM AGE is defined
        before = (screening_date.dt.month * 100 + screening_date.dt.day) < (birth.dt.month * 100 + birth.dt.day)
        years = (screening_date.dt.year - birth.dt.year - before.astype(int)).astype("Float64")
        age_years = age_years.mask(derive, years)
        notes.append(f"{file}: age at screening derived from BRTHDTC for {int(derive.sum())} subject(s) without AGE")
    return age_years, birth


def _outcome(dm, status: pd.DataFrame, criteria: pd.Series | None):
    """Screening outcome, screen-failure reason and the criteria randomized subjects did not meet."""
    crit = (dm["USUBJID"].map(criteria).astype("string") if criteria is not None and len(criteria)
            else pd.Series(pd.NA, index=dm.index, dtype="string"))
    sf, na = status["screen_failure"].to_numpy(), status["not_assigned"].to_numpy()
    outcome = np.where(sf, "screen failure", np.where(na, "other", "eligible")).astype(object)
    reason = np.full(len(dm), pd.NA, dtype=object)
    reason[sf] = crit.to_numpy(dtype=object)[sf]
    reason[na] = crit.fillna(_col(dm, "ARMNRS").astype("string")).to_numpy(dtype=object)[na]
    return (pd.Series(pd.array(outcome, dtype="string"), index=dm.index),
            pd.Series(pd.array(reason, dtype="string"), index=dm.index), crit.where(status["randomized"].to_numpy()))


def _covariates(subjects: pd.Series, adsl: pd.DataFrame | None, notes: list) -> dict:
    """height_cm, weight_kg and bmi of each subject from the mapped ADSL (absent ones left out)."""
    present = [c for c in ADSL_COVARIATES if adsl is not None and c in adsl.columns]
    if not present:
        return {}
    lookup = SubjectLookup(subjects, adsl)
    out = {c: lookup(c, "Float64").array for c in present}
    n = int(subjects.isin(adsl["USUBJID"]).sum())
    notes.append(f"screening {', '.join(present)} from ADSL baseline values for {n} of {len(subjects)} subject(s) "
                 "(subjects without an ADSL record, e.g. screen failures, have none)")
    return out


def map_screening(dm: pd.DataFrame, *, visits: pd.DataFrame | None = None, criteria: pd.Series | None = None,
                  adsl: pd.DataFrame | None = None, has_ie: bool = False, file: str = "dm.xpt") -> Mapped:
    """Every DM subject (screen failures included) as the canonical ``screening`` table.

    Parameters
    ----------
    dm : pandas.DataFrame
    visits : pandas.DataFrame, optional
        :func:`~trialkit.io.cdisc.map_sv`'s frame (screening and first visit dates).
    criteria : pandas.Series, optional
        USUBJID → criteria not met (:func:`~trialkit.io.cdisc.criteria_not_met`).
    adsl : pandas.DataFrame, optional
        :func:`~trialkit.io.cdisc.map_adsl`'s frame: ``height_cm``, ``weight_kg`` and the extra
        ``bmi`` come from it.
    has_ie : bool
        Whether an IE domain was given (said in the notes).
    file : str

    Returns
    -------
    Mapped
        ``screening`` with ``screening_date`` (SV screening visit, else DM ``RFICDTC``, else the
        earliest SV visit, else DM ``DMDTC``), ``age_years`` (AGE in AGEU, else from ``BRTHDTC``),
        ``screening_outcome`` (:func:`subject_status`: "screen failure", "other", "eligible"),
        ``screen_failure_reason`` (criteria not met, else ``ARMNRS`` for the not assigned), and the
        extra ``race``, ``ethnicity``, ``entry_criterion_not_met`` (randomized subjects only).

    Examples
    --------
    >>> import pandas as pd
    >>> dm = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "SITEID": "11", "AGE": [60.0, 71.0], "AGEU": "YEARS",
    ...                    "SEX": ["F", "M"], "ARMCD": ["PBO", "SCRNFAIL"], "DMDTC": ["2020-01-02", "2020-01-05"]})
    >>> map_screening(dm).frame[["subject_id", "screening_date", "age_years", "screening_outcome"]]
      subject_id screening_date  age_years screening_outcome
    0        S-1     2020-01-02       60.0          eligible
    1        S-2     2020-01-05       71.0    screen failure
    """
    probs, notes = Problems(), []
    status = subject_status(dm)
    subj = dm["USUBJID"]
    scr_date = _screening_date(dm, visits, probs, notes, file)
    age_years, birth = _age_years(dm, scr_date, probs, notes, file)
    sex, *_ = coerce_column(_col(dm, "SEX"), next(c for c in columns("screening") if c.name == "sex"))
    outcome, reason, entry = _outcome(dm, status, criteria)
    covariates = _covariates(subj, adsl, notes)
    data = {"subject_id": subj.astype("string").array, "site_id": dm["SITEID"].astype("string").array,
            "screening_date": scr_date.to_numpy(), "birth_date": birth.to_numpy(), "age_years": age_years.array,
            "sex": sex.array, "country": _col(dm, "COUNTRY").astype("string").array,
            "screening_outcome": outcome.array, "screen_failure_reason": reason.array,
            **{c: v for c, v in covariates.items() if c != "bmi"}}
    extra = {"race": _col(dm, "RACE").astype("string").array, "ethnicity": _col(dm, "ETHNIC").astype("string").array,
             "entry_criterion_not_met": entry.array, **({"bmi": covariates["bmi"]} if "bmi" in covariates else {})}
    screening = canonical_frame("screening", len(dm), data, extra)
    sf = status["screen_failure"].to_numpy()
    notes.append(f"screening: {len(dm)} DM subjects, {int(sf.sum())} screen failure(s) (ARMCD SCRNFAIL), "
                 f"{int(status['randomized'].sum())} with an arm, {int(status['not_assigned'].sum())} not assigned; "
                 f"screen-failure reason recorded for {int(reason[sf].notna().sum())} of {int(sf.sum())}"
                 + ("" if has_ie else " (no IE domain)"))
    if entry.notna().any():
        notes.append("randomized although an entry criterion was not met (screening.entry_criterion_not_met): "
                     + ", ".join(f"{s} {c}" for s, c in zip(subj[entry.notna()], entry.dropna())))
    return Mapped(screening, probs.frame(), tuple(notes), records=np.arange(len(dm), dtype=float))


# --------------------------------------------------------------------------------------------
# randomization
# --------------------------------------------------------------------------------------------
def randomized_records(dm: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """The DM positions of the subjects with an arm, and those records (renumbered from 0)."""
    rpos = np.flatnonzero(_status_masks(dm)[2])
    return rpos, dm.iloc[rpos].reset_index(drop=True)


def _randomization_date(dm, rpos, rs, *, visits, ds, adsl, probs: Problems, notes: list, file: str) -> pd.Series:
    rfst = dtc(dm, "RFSTDTC", file=file, table="randomization", probs=probs, notes=notes)
    candidates = [("ADSL RANDDT", _from(adsl, rs, "randomization_date")),
                  ("DS RANDOMIZED", _from(ds, rs, "randomized_date")),
                  ("SV BASELINE visit", _from(visits, rs, "baseline_visit")),
                  ("DM RFSTDTC", rfst.iloc[rpos].to_numpy())]
    dates, used = first_available(len(rs), [(k, v) for k, v in candidates if v is not None])
    notes.append(f"randomization_date from {used or 'no source'} (SDTM has no randomization date variable)")
    return dates


def _arm_codes_by_label(r: pd.DataFrame, ta: pd.DataFrame | None) -> dict[str, str]:
    src = ta if ta is not None else r
    out: dict[str, str] = {}
    for c, lab in zip(src["ARMCD"], _col(src, "ARM")):
        if pd.notna(lab) and pd.notna(c):
            out.setdefault(str(lab).upper(), str(c))
    return out


def _actual_arm(r: pd.DataFrame, dm_has_actarmcd: bool, act_adsl: pd.Series, has_adsl: bool, notes: list):
    """DM ACTARMCD as the actual arm (values that are not arms left empty); ADSL TRT01A without it."""
    act = _col(r, "ACTARMCD").astype("string")
    valid = act.where(np.array([u not in NOT_ARMS for u in upper_values(act)], dtype=bool))
    if not dm_has_actarmcd and has_adsl:
        valid = act_adsl
        notes.append("DM has no ACTARMCD; actual arm from ADSL TRT01A")
    n_noarm = int((act.notna() & valid.isna()).sum())
    diff = valid.notna() & (valid != r["ARMCD"].astype("string"))
    notes.append(f"actual arm (DM ACTARMCD) differs from the planned arm (ARMCD) for {int(diff.sum())} subject(s)"
                 + (f"; {n_noarm} ACTARMCD value(s) that are not arms (e.g. NOTTRT) left empty" if n_noarm else ""))
    return valid


def _adsl_agreement(dm, r, rs, adsl, actual, act_adsl, probs: Problems, notes: list, files: dict) -> None:
    """Notes where ADSL and DM disagree; ADSL subjects in DM without an arm are problems."""
    if adsl is None:
        return
    if "planned_arm_label" in adsl.columns:
        planned = upper(by_subject(rs, adsl, "planned_arm_label", "string"))
        mism = (planned.notna() & (planned != upper(_col(r, "ARM")))).fillna(False)
        if mism.any():
            notes.append(f"{files['adsl']}: TRT01P differs from DM ARM for {int(mism.sum())} subject(s); "
                         "DM ARMCD is used as the planned arm")
    missing = ~rs.isin(adsl["USUBJID"])
    if missing.any():
        notes.append(f"{files['adsl']}: {int(missing.sum())} randomized DM subject(s) have no ADSL record")
    not_rand = (~adsl["USUBJID"].isin(rs) & adsl["USUBJID"].isin(dm["USUBJID"])).to_numpy()
    probs.add("ADSL", files["adsl"], adsl["record"].to_numpy()[not_rand] + 1, "USUBJID", adsl["USUBJID"][not_rand],
              "subject is in ADSL but is not randomized in DM (ARMCD)",
              f"check ARMCD in {files['dm']} or remove the subject from {files['adsl']}")
    if "actual_arm_label" in adsl.columns:
        dd = actual.notna() & act_adsl.notna() & (actual != act_adsl)
        notes.append(f"ADSL TRT01A disagrees with DM ACTARMCD for {int(dd.sum())} subject(s); actual_arm follows DM, "
                     "ADSL's is kept in actual_arm_adsl")


def map_randomization(dm: pd.DataFrame, *, visits: pd.DataFrame | None = None, ds: pd.DataFrame | None = None,
                      adsl: pd.DataFrame | None = None, ta: pd.DataFrame | None = None,
                      files: dict[str, str] | None = None) -> Mapped:
    """DM subjects with an arm as the canonical ``randomization`` table.

    Parameters
    ----------
    dm : pandas.DataFrame
    visits, ds, adsl : pandas.DataFrame, optional
        The frames of :func:`~trialkit.io.cdisc.map_sv`, :func:`~trialkit.io.cdisc.map_ds` and
        :func:`~trialkit.io.cdisc.map_adsl`.
    ta : pandas.DataFrame, optional
        TA, to turn ADSL ``TRT01A`` labels into arm codes (else DM ``ARM``/``ARMCD``).
    files : dict, optional
        File names of ``dm`` and ``adsl`` for problems and notes.

    Returns
    -------
    Mapped
        ``randomization``: ``arm`` = ``ARMCD`` (planned), ``actual_arm`` = ``ACTARMCD`` (values that
        are not arms, such as NOTTRT, left empty), ``randomization_date`` from ADSL ``RANDDT``, else
        DS RANDOMIZED, else the SV BASELINE visit, else DM ``RFSTDTC``; extra ``arm_label``,
        ``actual_arm_label``, ``actual_arm_adsl`` (ADSL ``TRT01A`` as a code) and ``site_group``
        (ADSL ``SITEGR1``). ``records`` are the DM positions.

    Examples
    --------
    >>> import pandas as pd
    >>> dm = pd.DataFrame({"USUBJID": ["S-1", "S-2", "S-3"], "SITEID": "11", "ARMCD": ["HI", "SCRNFAIL", "PBO"],
    ...                    "ACTARMCD": ["LO", "SCRNFAIL", "NOTTRT"], "RFSTDTC": ["2020-01-10", "", "2020-02-01"]})
    >>> map_randomization(dm).frame[["subject_id", "randomization_date", "arm", "actual_arm"]]
      subject_id randomization_date  arm actual_arm
    0        S-1         2020-01-10   HI         LO
    1        S-3         2020-02-01  PBO       <NA>
    """
    files = {"dm": "dm.xpt", "adsl": "adsl.xpt", **(files or {})}
    probs, notes = Problems(), []
    rpos, r = randomized_records(dm)
    rs = r["USUBJID"]
    rdate = _randomization_date(dm, rpos, rs, visits=visits, ds=ds, adsl=adsl, probs=probs, notes=notes,
                                file=files["dm"])
    codes = _arm_codes_by_label(r, ta)  # ADSL TRT01A (upper-cased) → arm code
    act_adsl = pd.Series(pd.array([codes.get(u) for u in upper_values(by_subject(rs, adsl, "actual_arm_label", "string"))],
                                  dtype="string"), index=rs.index, name=rs.name)
    actual = _actual_arm(r, "ACTARMCD" in dm.columns, act_adsl, adsl is not None, notes)
    _adsl_agreement(dm, r, rs, adsl, actual, act_adsl, probs, notes, files)
    frame = canonical_frame("randomization", len(r), {
        "subject_id": rs.astype("string").array, "site_id": r["SITEID"].astype("string").array,
        "randomization_date": rdate.to_numpy(), "arm": r["ARMCD"].astype("string").array,
        "actual_arm": actual.array,
    }, extra={"arm_label": _col(r, "ARM").astype("string").array,
              "actual_arm_label": _col(r, "ACTARM").astype("string").array, "actual_arm_adsl": act_adsl.array,
              "site_group": by_subject(rs, adsl, "site_group", "string").array})
    return Mapped(frame, probs.frame(), tuple(notes), records=rpos.astype(float))
