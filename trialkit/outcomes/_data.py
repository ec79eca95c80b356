"""Turn a Study, a canonical ``outcomes`` frame or an ADaM ADTTE frame into one survival analysis frame.

Every survival entry point calls :func:`survival_data`. Subjects, population, groups, subgroups and
covariates come from :func:`trialkit.analysis_set.analysis_set` (the one input layer); this module adds
the endpoint's rows and checks times and events, so the statistics never see a raw source table.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..analysis_set import AnalysisSet, analysis_set, as_tuple, is_study, join_by_subject, stratum_codes
from ..errors import EmptySelectionError, TrialkitError

__all__ = ["SurvivalData", "survival_data", "quiet_lifelines", "TIME_UNITS", "stratum_codes"]

#: days per unit; months and years are Julian (365.25 / 12 and 365.25 days), as SAS and R users expect.
TIME_UNITS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}

ADTTE_COLUMNS = ("PARAMCD", "AVAL", "CNSR")


@contextlib.contextmanager
def quiet_lifelines():
    """Silence exactly pandas' ``Pandas4Warning`` (raised by lifelines 0.30 on pandas 3), nothing else."""
    category = getattr(pd.errors, "Pandas4Warning", None)
    if category is None:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=category)
        yield


@dataclass(frozen=True)
class SurvivalData:
    """One endpoint ready for analysis.

    ``frame`` has columns ``subject_id, time, event`` (float time in ``time_unit``, int event 0/1),
    ``group`` (the ``by`` column as string, ordered as ``groups``) and any requested strata and
    covariate columns. ``notes`` say what was left out and why.
    """

    frame: pd.DataFrame
    endpoint: str | None
    by: str | None
    groups: tuple[str, ...]
    time_unit: str
    population: str | None
    strata: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    reference: str | None = None


def _from_adtte(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """ADaM ADTTE -> canonical columns through the one ADTTE reader (:func:`trialkit.io.adtte.read_adtte`),
    so an analysis given an ADTTE accepts and rejects exactly what :func:`trialkit.load_cdisc` does.

    The ADTTE's other variables (covariates such as ``AGE``, ``SEX``, flags such as ``SAFFL``) are kept
    beside the canonical columns, so they can be used as covariates, subgroups or populations.
    """
    from ..io.adtte import read_adtte

    res = read_adtte(df).raise_for_problems()
    out = res.outcomes
    rest = [c for c in df.columns if c not in out.columns]
    if rest:
        out = pd.concat([out, df[rest].reset_index(drop=True)], axis=1)
    return out, [*res.notes]


def _select_endpoint(frame: pd.DataFrame, endpoint: str | None) -> tuple[pd.DataFrame, str | None]:
    if "endpoint" not in frame.columns:
        return frame, endpoint
    ep_codes, ep_uniques = pd.factorize(frame["endpoint"])  # one pass: the list and the selection
    names = [str(e) for e in ep_uniques]
    available = sorted(names)
    if endpoint is None and len(available) == 1:
        endpoint = available[0]
    if endpoint is None:
        raise TrialkitError(f"say which endpoint to analyse: endpoint= one of {available or 'none (no rows)'}")
    if endpoint not in names:
        raise TrialkitError(f"endpoint {endpoint!r} is not in the data; available: {', '.join(available) or 'none'}")
    sel = ep_codes == names.index(endpoint)
    return (frame[sel] if not sel.all() else frame), endpoint


def _study_rows(study, endpoint: str | None, aset: AnalysisSet) -> tuple[pd.DataFrame, str, list[str]]:
    """The endpoint's outcome rows of the analysis set's subjects."""
    out = study.outcomes
    rows, endpoint = _select_endpoint(out, endpoint)
    if endpoint is None or not len(rows):
        raise TrialkitError("the study's outcomes table is empty: load its time-to-event data first")
    ids = rows["subject_id"]
    not_randomized = ids[~ids.isin(study.randomization["subject_id"]).to_numpy(bool)]
    if len(not_randomized):
        raise TrialkitError(f"{not_randomized.nunique()} subject(s) have {endpoint} rows but are not in "
                            f"`randomization` (e.g. {min(not_randomized)}); fix the outcomes table")
    attrs = aset.frame.drop(columns=[c for c in ("endpoint", "event", "time_days") if c in aset.frame.columns])
    frame, missing = _join_subjects(rows, attrs, endpoint)
    notes = []
    if len(missing):
        notes.append(f"{len(missing)} subject(s) in the population have no {endpoint} row and are not "
                     f"in this analysis (e.g. {min(missing)})")
    if not len(frame):
        raise EmptySelectionError(f"no subjects left: nobody selected ({aset.population}) has an {endpoint} row")
    return frame, endpoint, notes


def _join_subjects(rows: pd.DataFrame, attrs: pd.DataFrame, endpoint: str) -> tuple[pd.DataFrame, list]:
    """``rows`` of the subjects in ``attrs`` (one per subject) joined to their ``attrs`` columns, and the
    ``attrs`` subjects without a row."""
    ids = rows["subject_id"]
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise TrialkitError(f"subject {dup} has {int((ids == dup).sum())} {endpoint} rows in the outcomes table; "
                            "keep one row per subject and endpoint")
    frame = join_by_subject(rows, attrs, how="inner")
    missing = attrs["subject_id"]
    return frame, list(missing[~missing.isin(ids).to_numpy(bool)])


def _check_values(frame: pd.DataFrame, endpoint, strata: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    missing_cols = [c for c in ("event", "time_days") if c not in frame.columns]
    if missing_cols:
        raise TrialkitError(f"the frame lacks {', '.join(missing_cols)}: pass a canonical outcomes frame "
                            "(subject_id, endpoint, event 0/1, time_days), an ADaM ADTTE (PARAMCD, AVAL, CNSR) "
                            "or a Study")
    time = pd.to_numeric(frame["time_days"], errors="coerce").astype("float64").to_numpy()
    event = pd.to_numeric(frame["event"], errors="coerce").astype("float64").to_numpy()
    problems = []
    if np.isnan(time).any():
        problems.append(f"{int(np.isnan(time).sum())} missing time_days")
    if (time < 0).any():
        problems.append(f"{int((time < 0).sum())} negative time_days")
    if (~np.isin(event, [0, 1])).any():
        problems.append(f"{int((~np.isin(event, [0, 1])).sum())} event values that are not 0/1")
    for c in strata:
        if frame[c].isna().any():
            problems.append(f"{int(frame[c].isna().sum())} missing stratum `{c}`")
    if problems:
        raise TrialkitError(f"{endpoint or 'the endpoint'}: " + "; ".join(problems)
                            + ". Fix these records or filter them out before the analysis (no row is dropped silently).")
    return time, event


def survival_data(data, *, endpoint: str | None = None, by: str | None = "arm", strata=None, covariates=(),
                  population: str | None = None, time_unit: str = "days", subgroup: dict | None = None,
                  reference: str | None = None, require_reference: bool = False) -> SurvivalData:
    """Extract one time-to-event endpoint with its grouping, strata and covariates.

    Parameters
    ----------
    data : Study or pandas.DataFrame
        A :class:`~trialkit.Study` (its ``outcomes`` joined to the analysis set of
        :func:`trialkit.analysis_set`), a canonical long ``outcomes`` frame with the ``by`` column
        added, or an ADaM ADTTE frame (recognized by ``PARAMCD, AVAL, CNSR``; ``arm`` is taken from
        TRTP/TRTA when absent, ordered by TRTPN/TRTAN).
    endpoint : str, optional
        Endpoint code (``outcomes.endpoint`` / ``PARAMCD``). May be omitted when the data hold one.
    by : str or None
        Grouping column; ``None`` analyses everyone as one group.
    strata, covariates : str or sequence of str
        Extra columns carried along (strata factors, Cox covariates); for a Study any column of
        its tables, the derived ``age_band`` or an ADSL variable.
    population : str, optional
        ``"randomized"`` (default), ``"treated"``, ``"safety"``, ``"efficacy"``, ``"per_protocol"``,
        ``"analysed"`` or a flag column (see :data:`trialkit.analysis_set.POPULATIONS`).
    time_unit : {"days", "weeks", "months", "years"}
    subgroup : dict, optional
        ``{column: value}`` restricting the analysis to one subgroup (typed against the column).
    reference : str, optional
        The reference group (see :func:`trialkit.analysis_set.resolve_reference`).
    require_reference : bool
        Whether the analysis compares groups and so needs a reference.

    Returns
    -------
    SurvivalData
    """
    if time_unit not in TIME_UNITS:
        raise TrialkitError(f"time_unit must be one of {', '.join(TIME_UNITS)}, not {time_unit!r}")
    strata_t, cov_t = as_tuple(strata), as_tuple(covariates)
    extra = list(dict.fromkeys(strata_t + cov_t))
    notes: list[str] = []
    if is_study(data):
        aset = analysis_set(data, by=by, population=population, subgroup=subgroup, columns=extra,
                            reference=reference, require_reference=require_reference)
        frame, endpoint, row_notes = _study_rows(data, endpoint, aset)
        notes += [*aset.notes, *row_notes]
    elif isinstance(data, pd.DataFrame):
        frame = data
        if all(c in frame.columns for c in ADTTE_COLUMNS) and "event" not in frame.columns:
            frame, n = _from_adtte(frame)
            notes += n
        frame, endpoint = _select_endpoint(frame, endpoint)
        aset = analysis_set(frame, by=by, population=population, subgroup=subgroup, columns=extra,
                            reference=reference, require_reference=require_reference, what="record")
        frame = aset.frame
        notes += aset.notes
    else:
        raise TrialkitError(f"expected a Study or a pandas DataFrame, got {type(data).__name__}")
    time, event = _check_values(frame, endpoint, strata_t)
    res = pd.DataFrame({
        "subject_id": (frame["subject_id"].to_numpy() if "subject_id" in frame.columns
                       else np.arange(len(frame))),
        "time": time / TIME_UNITS[time_unit],
        "event": event.astype("int64"),
        "group": pd.Categorical(frame["group"], categories=list(aset.groups), ordered=True),
    })
    for c in extra:
        v = frame[c]
        if pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
            res[c] = pd.to_numeric(v, errors="coerce").astype("float64").to_numpy()
        elif isinstance(v.dtype, pd.CategoricalDtype):
            res[c] = v.to_numpy()
            res[c] = pd.Categorical(v, categories=v.cat.categories, ordered=v.cat.ordered)
        else:
            res[c] = v.astype("string").to_numpy()
    return SurvivalData(frame=res, endpoint=endpoint, by=by, groups=aset.groups, time_unit=time_unit,
                        population=aset.population, strata=strata_t, covariates=cov_t, notes=tuple(notes),
                        reference=aset.reference)
