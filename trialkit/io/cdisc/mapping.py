""":func:`map_cdisc`: run the per-domain mappers and assemble (and validate) a :class:`~trialkit.Study`."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ...errors import DataValidationError, StudyFolderError, TrialkitError
from ...model import empty_table
from ...protocols import Protocol
from ...schemas import SourceInfo, study_problems
from ...study import Study
from ..adtte import ADTTE_REQUIRED, read_adtte
from ..mapped import Mapped
from ..sas import Problems, clean_frame, no_problems
from ..sas import col as _col
from .adsl import adam_frame, map_adsl
from .criteria import criteria_not_met, map_ie, map_suppds
from .design import resolve_protocol
from .disposition import map_disposition
from .dm import map_randomization, map_screening, map_sites
from .ds import map_ds
from .visits import map_sv

__all__ = ["map_cdisc", "SDTM_DOMAINS", "ADAM_DATASETS", "REQUIRED_VARIABLES"]

SDTM_DOMAINS = ("dm", "ds", "sv", "suppds", "ie", "ta", "ti", "ts", "ae")
ADAM_DATASETS = ("adsl", "adtte", "adae")

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
    "adtte": (*ADTTE_REQUIRED, "STARTDT", "ADT"),
    "adae": ("USUBJID",),
    "ae": ("USUBJID",),
}

#: The canonical tables a Study gets from the mappers.
_TABLES = ("sites", "screening", "randomization", "disposition", "outcomes", "adverse_events")

#: Source variable of each canonical column, to name it in validation problems.
_SOURCE_VARIABLE = {
    "sites": {"site_id": "SITEID", "country": "COUNTRY"},
    "screening": {"subject_id": "USUBJID", "site_id": "SITEID", "age_years": "AGE", "sex": "SEX",
                  "country": "COUNTRY", "birth_date": "BRTHDTC", "screening_date": "SV SVSTDTC",
                  "height_cm": "HEIGHTBL", "weight_kg": "WEIGHTBL"},
    "randomization": {"subject_id": "USUBJID", "site_id": "SITEID", "arm": "ARMCD", "actual_arm": "ACTARMCD"},
    "disposition": {"subject_id": "USUBJID", "discontinuation_date": "DSSTDTC", "discontinuation_reason": "DSDECOD"},
    "outcomes": {"subject_id": "USUBJID", "endpoint": "PARAMCD", "start_date": "STARTDT", "end_date": "ADT",
                 "event": "CNSR", "time_days": "AVAL", "event_description": "EVNTDESC",
                 "subject_id, endpoint": "USUBJID, PARAMCD"},
}
_ADSL_COVARIATES = ("height_cm", "weight_kg")


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------
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


def _prepare(domains: dict, files: dict | None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    unknown = sorted(set(k.lower() for k in domains) - set(SDTM_DOMAINS) - set(ADAM_DATASETS))
    if unknown:
        raise TrialkitError(f"unknown domain(s) {', '.join(unknown)}; map_cdisc reads "
                            f"{', '.join(SDTM_DOMAINS + ADAM_DATASETS)}: leave the others out")
    given = {k.lower(): v for k, v in domains.items() if v is not None}
    files = {k: (files or {}).get(k, f"{k}.xpt") for k in given}
    d = {k: clean_frame(v, source=files[k]) for k, v in given.items()}
    if "dm" not in d:
        raise StudyFolderError("no DM domain given; DM is required (it lists every subject).")
    _require(d, files)
    return d, files


def subject_problems(d: dict[str, pd.DataFrame], files: dict[str, str]) -> pd.DataFrame:
    """Records of the other domains whose USUBJID is empty or not in DM."""
    probs = Problems()
    dm_subjects = d["dm"]["USUBJID"]
    for name in ("ds", "sv", "ie", "suppds", "adsl", "adtte", "adae", "ae"):
        if name in d:
            unknown = ~d[name]["USUBJID"].isin(dm_subjects) | d[name]["USUBJID"].isna()
            probs.add_mask(unknown.to_numpy(), d[name], "USUBJID", table=name.upper(), file=files[name],
                           problem="subject is not in DM",
                           fix=f"add the subject to {files['dm']} or correct USUBJID in {files[name]}")
    return probs.frame()


# --------------------------------------------------------------------------------------------
# the mappers, in order
# --------------------------------------------------------------------------------------------
def _outcomes(adtte: pd.DataFrame, file: str) -> Mapped:
    """ADTTE through the one reader; arms are the study's (DM), not ADTTE's TRTP."""
    res = read_adtte(adtte, file=file)
    notes = res.notes
    if "arm" in res.outcomes.columns:
        notes += ("outcomes take arms from randomization (DM ARMCD), not from the ADTTE treatment variable",)
    return Mapped(res.outcomes.drop(columns="arm", errors="ignore"), res.problems, notes,
                  records=np.arange(len(adtte), dtype=float))


def _adverse_events(d: dict[str, pd.DataFrame], f: dict[str, str]) -> Mapped:
    """ADaM ADAE (else SDTM AE) through :func:`trialkit.io.adae.map_adverse_events`; empty without either."""
    from ..adae import map_adverse_events

    name = "adae" if "adae" in d else "ae" if "ae" in d else None
    if name is None:
        return Mapped(empty_table("adverse_events"))
    m = map_adverse_events(d[name], file=f[name])
    notes = m.notes + (("adverse events from SDTM AE (no ADAE given)",) if name == "ae" else ())
    if name == "adae" and "ae" in d:
        notes += ("AE given as well as ADAE: adverse events come from ADAE",)
    return Mapped(m.frame, m.problems, notes, records=np.asarray(m.records, dtype=float))


def _map_domains(d: dict[str, pd.DataFrame], f: dict[str, str]) -> dict[str, Mapped]:
    """Each domain's mapper (the order of the notes), then the canonical tables built from them."""
    dm = d["dm"]
    m: dict[str, Mapped] = {"subjects": Mapped(pd.DataFrame(), subject_problems(d, f))}
    if "ie" in d:
        m["ie"] = map_ie(d["ie"], file=f["ie"])
    if "suppds" in d:
        m["suppds"] = map_suppds(d["suppds"], ti=d.get("ti"), file=f["suppds"])
    if "sv" in d:
        m["sv"] = map_sv(d["sv"], file=f["sv"])
    if "ds" in d:
        m["ds"] = map_ds(d["ds"], file=f["ds"])
    if "adsl" in d:
        m["adsl"] = map_adsl(d["adsl"], file=f["adsl"])

    def frame(name):
        return m[name].frame if name in m else None

    m["sites"] = map_sites(dm, file=f["dm"])
    m["screening"] = map_screening(dm, visits=frame("sv"), criteria=criteria_not_met(frame("ie"), frame("suppds")),
                                   adsl=frame("adsl"), has_ie="ie" in d, file=f["dm"])
    m["randomization"] = map_randomization(dm, visits=frame("sv"), ds=frame("ds"), adsl=frame("adsl"),
                                           ta=d.get("ta"), files=f)
    m["disposition"] = map_disposition(dm, ds=frame("ds"), adsl=frame("adsl"), files=f)
    m["outcomes"] = _outcomes(d["adtte"], f["adtte"]) if "adtte" in d else Mapped(empty_table("outcomes"))
    m["adverse_events"] = _adverse_events(d, f)
    return m


def _notes(parts: dict[str, Mapped], d: dict) -> tuple[str, ...]:
    notes = [n for p in parts.values() for n in p.notes]
    optional = {"ie", "ae"} | ({"adae"} if "ae" in d else set())
    notes += [f"{name.upper()} not provided" for name in SDTM_DOMAINS + ADAM_DATASETS if name not in d
              and name not in optional]
    if "ie" not in d:
        notes.append("IE not provided: screen-failure reasons come only from SUPPDS ENTCRIT, if any")
    return tuple(dict.fromkeys(notes))  # a DM date parsed by two mappers is noted once


def _mapping_problems(parts: dict[str, Mapped]) -> pd.DataFrame:
    frames = [p.problems for p in parts.values() if len(p.problems)]
    if not frames:
        return no_problems()
    allp = pd.concat(frames, ignore_index=True)
    key = allp[["file", "column", "problem"]].astype(str).assign(row=allp["row"].fillna(-1))
    return allp[~key.duplicated().to_numpy()].reset_index(drop=True)  # a DM date parsed twice is reported once


# --------------------------------------------------------------------------------------------
# validation against the canonical model
# --------------------------------------------------------------------------------------------
def _name_source_variables(problems: pd.DataFrame) -> pd.DataFrame:
    """Name the source variable beside the canonical column, e.g. ``AVAL (time_days)``."""
    if not len(problems):
        return problems
    out = problems.copy()
    out["column"] = [f"{_SOURCE_VARIABLE.get(t, {})[c]} ({c})" if c in _SOURCE_VARIABLE.get(t, {}) else c
                     for t, c in zip(out["table"], out["column"])]
    return out


def _at_adsl_records(model: pd.DataFrame, dm: pd.DataFrame, adsl: Mapped | None, file: str | None) -> pd.DataFrame:
    """Screening problems in ADSL covariates (height_cm, weight_kg) named at their ADSL record."""
    if adsl is None or not len(model):
        return model
    sel = ((model["table"] == "screening") & model["column"].isin(_ADSL_COVARIATES) & model["row"].notna()).to_numpy()
    if not sel.any():
        return model
    out = model.copy()
    subjects = pd.Series(dm["USUBJID"].to_numpy()[out.loc[sel, "row"].astype(int).to_numpy() - 1])
    records = subjects.map(adsl.frame.set_index("USUBJID")["record"]).to_numpy(dtype=float)
    out.loc[sel, "file"] = file
    out.loc[sel, "row"] = records + 1
    return out


def _model_problems(study: Study, parts: dict[str, Mapped], d: dict, f: dict) -> pd.DataFrame:
    sources = {
        "sites": SourceInfo(f["dm"], 1, positions=parts["sites"].records),
        "screening": SourceInfo(f["dm"], 1),
        "randomization": SourceInfo(f["dm"], 1, positions=parts["randomization"].records),
        "disposition": SourceInfo(f["ds"] if "ds" in d else f["dm"], 1, positions=parts["disposition"].records),
        "outcomes": SourceInfo(f.get("adtte", "adtte.xpt"), 1),
        "adverse_events": SourceInfo(f.get("adae", f.get("ae", "adae.xpt")), 1,
                                     positions=parts["adverse_events"].records),
    }
    model = _at_adsl_records(study_problems(study, sources), d["dm"], parts.get("adsl"), f.get("adsl"))
    return _name_source_variables(model)


def _all_problems(mapping: pd.DataFrame, model: pd.DataFrame) -> pd.DataFrame:
    """Mapping problems, then the model's — a value already reported by a mapper is not reported again."""
    if len(mapping) and len(model):
        seen = set(zip(mapping["file"], mapping["row"].fillna(-1), mapping["column"]))
        var = model["column"].astype(str).str.split(" (", regex=False).str[0]
        keep = [(fl, rw, v) not in seen for fl, rw, v in zip(model["file"], model["row"].fillna(-1), var)]
        model = model[keep]
    frames = [x for x in (mapping, model) if len(x)]
    return pd.concat(frames, ignore_index=True) if frames else mapping


def map_cdisc(domains: dict[str, pd.DataFrame], *, protocol: str | os.PathLike | Protocol | None = None,
              validate: bool = True, files: dict[str, str] | None = None) -> Study:
    """Map SDTM/ADaM frames onto a :class:`~trialkit.Study` (the work behind :func:`load_cdisc`).

    Each domain has its own mapper (:func:`map_sv`, :func:`map_ds`, :func:`map_ie`,
    :func:`map_suppds`, :func:`map_adsl`, :func:`map_sites`, :func:`map_screening`,
    :func:`map_randomization`, :func:`map_disposition`, :func:`~trialkit.io.adtte.read_adtte`,
    :func:`protocol_from_sdtm`); this function runs them in order and gathers their problems and notes.

    Parameters
    ----------
    domains : dict of str to DataFrame
        Frames by lower-case domain name: ``dm`` (required), ``ds``, ``sv``, ``suppds``, ``ie``,
        ``ta``, ``ti``, ``ts``, ``ae``, ``adsl``, ``adtte``, ``adae``. Variable names are matched case-insensitively;
        character values may be bytes (as ``pandas.read_sas`` returns them) or str.
    protocol, validate
        As in :func:`load_cdisc`.
    files : dict of str to str, optional
        File name of each domain for problem reports (default ``<name>.xpt``).

    Returns
    -------
    Study
        With ``adam`` holding ADSL, ADTTE and ADAE (every variable, ``subject_id`` added) when given;
        ``adverse_events`` from ADAE (else SDTM AE).

    Raises
    ------
    TrialkitError
        An unknown domain name.
    StudyFolderError
        No DM.
    DataValidationError
        A required variable is missing, or (with ``validate=True``) any mapping or model problem.

    Examples
    --------
    >>> import pandas as pd
    >>> dm = pd.DataFrame({"USUBJID": ["S-1", "S-2", "S-3"], "SITEID": "11", "ARMCD": ["PBO", "HI", "SCRNFAIL"],
    ...                    "ARM": ["Placebo", "Drug 20 mg", "Screen Failure"], "COUNTRY": "DEU",
    ...                    "DMDTC": "2020-01-02", "RFSTDTC": ["2020-01-10", "2020-01-11", ""]})
    >>> study = map_cdisc({"dm": dm})
    >>> study.protocol.arm_codes, len(study.screening), len(study.randomization)
    (('PBO', 'HI'), 3, 2)
    """
    d, f = _prepare(domains, files)
    proto = resolve_protocol(protocol, d)
    parts = _map_domains(d, f)
    studyid = _col(d["dm"], "STUDYID").dropna()
    study = Study(protocol=proto, **{t: parts[t].frame for t in _TABLES},
                  source=f"cdisc:{studyid.iloc[0] if len(studyid) else 'unknown'}", notes=_notes(parts, d),
                  adam={name: adam_frame(d[name]) for name in ADAM_DATASETS if name in d})
    mapping = _mapping_problems(parts)
    if validate:
        allp = _all_problems(mapping, _model_problems(study, parts, d, f))
        if len(allp):
            raise DataValidationError(allp, source=study.source)
    elif len(mapping):
        first = mapping.iloc[0]
        study = study.replace(notes=study.notes + (
            f"{len(mapping)} value(s) could not be mapped and were left missing (e.g. {first['file']} record "
            f"{int(first['row']) if pd.notna(first['row']) else '?'} {first['column']}); load with "
            "validate=True to list them all",))
    return study
