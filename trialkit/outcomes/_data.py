"""Turn a Study, a canonical ``outcomes`` frame or an ADaM ADTTE frame into one analysis frame.

Every survival entry point calls :func:`survival_data`; it is the only place that knows where
endpoints, arms, strata and covariates live, so the statistics never see a raw source table.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import TrialkitError

__all__ = ["SurvivalData", "survival_data", "quiet_lifelines", "TIME_UNITS", "POPULATIONS"]

#: days per unit; months and years are Julian (365.25 / 12 and 365.25 days), as SAS and R users expect.
TIME_UNITS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}

#: populations a Study understands (a frame takes the name of a flag column instead, e.g. "SAFFL").
POPULATIONS = ("randomized", "treated", "analysed")

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


def stratum_codes(frame: pd.DataFrame, strata: tuple[str, ...]) -> np.ndarray:
    """One integer code per combination of the strata columns' levels (vectorized, no row loop)."""
    return frame.groupby(list(strata), sort=True, dropna=False, observed=True).ngroup().to_numpy()


def _is_study(data) -> bool:
    return hasattr(data, "outcomes") and hasattr(data, "randomization") and hasattr(data, "protocol")


def _as_tuple(x) -> tuple[str, ...]:
    if x is None:
        return ()
    if isinstance(x, str):
        return (x,)
    return tuple(x)


def _subject_attributes(study) -> pd.DataFrame:
    """randomization (arm, strata, site) + screening (age, sex, country) + derived age band, by subject."""
    rnd = study.randomization.copy()
    scr = study.screening
    keep = [c for c in ("subject_id", "age_years", "sex", "country") if c in scr.columns]
    if len(scr) and len(keep) > 1:
        extra = scr[keep].drop_duplicates("subject_id")
        extra = extra[[c for c in extra.columns if c == "subject_id" or c not in rnd.columns]]
        rnd = rnd.merge(extra, on="subject_id", how="left", validate="one_to_one")
    if "country" not in rnd.columns or rnd["country"].isna().all():
        if len(study.sites) and "site_id" in rnd.columns:
            rnd = rnd.drop(columns=["country"], errors="ignore").merge(
                study.sites[["site_id", "country"]], on="site_id", how="left")
    if "age_years" in rnd.columns and "age_band" not in rnd.columns:
        rnd["age_band"] = age_band(rnd["age_years"])
    disp = study.disposition
    for flag in ("treated", "analysed"):
        if flag in disp.columns and len(disp):
            rnd = rnd.merge(disp[["subject_id", flag]], on="subject_id", how="left")
    return rnd


#: age bands of ``age_band`` (derived from screening ``age_years``), youngest first.
AGE_BANDS = ("<10 years", "10 to <18 years", "18+ years")


def age_band(age_years: pd.Series) -> pd.Series:
    """Paediatric/AYA age bands used by COG and I-BFM reports: <10, 10 to <18, 18+ years (string)."""
    age = pd.to_numeric(age_years, errors="coerce").astype("float64")
    out = pd.Series(pd.NA, index=age.index, dtype="string")
    out[age < 10] = AGE_BANDS[0]
    out[(age >= 10) & (age < 18)] = AGE_BANDS[1]
    out[age >= 18] = AGE_BANDS[2]
    return out


def _select_population_study(frame: pd.DataFrame, population: str | None) -> tuple[pd.DataFrame, list[str]]:
    if population in (None, "randomized", "itt", "ITT"):
        return frame, []
    if population not in POPULATIONS:
        raise TrialkitError(f"unknown population {population!r} for a Study; use one of {', '.join(POPULATIONS)}")
    if population not in frame.columns:
        raise TrialkitError(f"population {population!r} needs the disposition column `{population}`, which this "
                            "study does not have; use population='randomized' or add the column")
    mask = frame[population].fillna(False).astype(bool)
    note = f"population {population}: {int((~mask).sum())} subject(s) outside it left out"
    return frame[mask.to_numpy()], [note]


def _select_population_frame(frame: pd.DataFrame, population: str | None) -> tuple[pd.DataFrame, list[str]]:
    if population is None:
        return frame, []
    if population not in frame.columns:
        raise TrialkitError(f"population flag column {population!r} is not in the data; pass the name of a "
                            "Y/N or boolean flag column such as 'SAFFL' or 'ITTFL', or population=None")
    col = frame[population]
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        mask = col.astype("string").str.strip().str.upper().isin(["Y", "YES", "TRUE", "1"]).fillna(False)
    else:
        mask = col.fillna(False).astype(bool)
    note = f"population {population} = Y: {int((~mask).sum())} record(s) outside it left out"
    return frame[mask.to_numpy()], [note]


def _from_adtte(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """ADaM ADTTE -> canonical columns (event = 1 - CNSR; time_days = AVAL)."""
    out = df.copy()
    # SAS transport stores 0 as an IBM float that pandas may read as 5e-79: round, then check 0/1.
    cnsr = pd.to_numeric(out["CNSR"], errors="coerce").round()
    bad = ~cnsr.isin([0, 1])
    if bad.any():
        raise TrialkitError(f"ADTTE CNSR must be 0 (event) or 1 (censored); {int(bad.sum())} record(s) have "
                            f"other values (first: {out.loc[bad, 'CNSR'].iloc[0]!r}); fix CNSR or filter them out")
    out["event"] = (1 - cnsr).astype("int64")
    out["time_days"] = pd.to_numeric(out["AVAL"], errors="coerce")
    out["endpoint"] = out["PARAMCD"].astype("string").str.strip()
    if "subject_id" not in out.columns and "USUBJID" in out.columns:
        out["subject_id"] = out["USUBJID"].astype("string")
    notes = ["ADaM ADTTE read as event = 1 - CNSR, time = AVAL (days)"]
    if "arm" not in out.columns:
        for src in ("TRTP", "TRT01P", "TRTA", "TRT01A", "ARM"):
            if src in out.columns:
                out["arm"] = out[src].astype("string").str.strip()
                notes.append(f"arm taken from {src}")
                order_col = {"TRTP": "TRTPN", "TRT01P": "TRT01PN", "TRTA": "TRTAN", "TRT01A": "TRT01AN"}.get(src)
                if order_col not in out.columns and src == "TRTP" and "TRTA" in out.columns and "TRTAN" in out.columns \
                        and out["TRTP"].astype("string").equals(out["TRTA"].astype("string")):
                    order_col = "TRTAN"  # planned = actual for every record: order by the actual codes
                if order_col in out.columns:
                    order = (out[["arm", order_col]].drop_duplicates().sort_values(order_col)["arm"].tolist())
                    out["arm"] = pd.Categorical(out["arm"], categories=list(dict.fromkeys(order)))
                break
    return out, notes


def _group_order(col: pd.Series, protocol_arms: tuple[str, ...] | None, by: str, uniques=None) -> tuple[str, ...]:
    if uniques is None:
        uniques = pd.unique(col.dropna())
    present = list(dict.fromkeys(str(x) for x in uniques))
    if isinstance(col.dtype, pd.CategoricalDtype):
        order = [str(c) for c in col.cat.categories if str(c) in present]
    elif by == "arm" and protocol_arms:
        order = [a for a in protocol_arms if a in present] + sorted(p for p in present if p not in protocol_arms)
    else:
        order = sorted(present)
    return tuple(order)


def survival_data(data, *, endpoint: str | None = None, by: str | None = "arm", strata=None, covariates=(),
                  population: str | None = None, time_unit: str = "days",
                  subgroup: dict | None = None) -> SurvivalData:
    """Extract one time-to-event endpoint with its grouping, strata and covariates.

    Parameters
    ----------
    data : Study or pandas.DataFrame
        A :class:`~trialkit.Study` (its ``outcomes`` joined to ``randomization`` and ``screening``),
        a canonical long ``outcomes`` frame with the ``by`` column added, or an ADaM ADTTE frame
        (recognized by ``PARAMCD, AVAL, CNSR``; ``arm`` is taken from TRTP/TRTA when absent).
    endpoint : str, optional
        Endpoint code (``outcomes.endpoint`` / ``PARAMCD``). May be omitted when the data hold one.
    by : str or None
        Grouping column; ``None`` analyses everyone as one group.
    strata, covariates : str or sequence of str
        Extra columns carried along (strata factors, Cox covariates).
    population : str, optional
        For a Study: ``"randomized"`` (default, intention to treat), ``"treated"``, ``"analysed"``.
        For a frame: the name of a flag column (``"SAFFL"``) whose ``Y`` rows are kept.
    time_unit : {"days", "weeks", "months", "years"}
    subgroup : dict, optional
        ``{column: value}`` restricting the analysis to one subgroup.

    Returns
    -------
    SurvivalData
    """
    if time_unit not in TIME_UNITS:
        raise TrialkitError(f"time_unit must be one of {', '.join(TIME_UNITS)}, not {time_unit!r}")
    strata_t, cov_t = _as_tuple(strata), _as_tuple(covariates)
    notes: list[str] = []
    protocol_arms = None
    reference = None
    if _is_study(data):
        protocol_arms = data.protocol.arm_codes
        reference = data.protocol.reference_arm
        out = data.outcomes
        available = sorted(pd.unique(out["endpoint"].dropna().astype(str))) if len(out) else []
        if endpoint is None and len(available) == 1:
            endpoint = available[0]
        if endpoint is None:
            raise TrialkitError(f"say which endpoint to analyse: endpoint= one of {available or 'none (the outcomes table is empty)'}")
        rows = out[out["endpoint"].astype("string") == endpoint]
        if not len(rows):
            raise TrialkitError(f"endpoint {endpoint!r} has no rows in the study's outcomes table; "
                                f"available endpoints: {', '.join(available) or 'none'}")
        attrs = _subject_attributes(data)
        attrs, pop_notes = _select_population_study(attrs, population)
        notes += pop_notes
        attrs = attrs.drop(columns=[c for c in ("endpoint", "event", "time_days") if c in attrs.columns])
        frame = rows.merge(attrs, on="subject_id", how="inner", validate="one_to_one")
        not_randomized = set(rows["subject_id"]) - set(data.randomization["subject_id"])
        if not_randomized:
            raise TrialkitError(f"{len(not_randomized)} subject(s) have {endpoint} rows but are not in "
                                f"`randomization` (e.g. {sorted(not_randomized)[0]}); fix the outcomes table")
        missing = set(attrs["subject_id"]) - set(rows["subject_id"])
        if missing:
            notes.append(f"{len(missing)} subject(s) in the population have no {endpoint} row and are not "
                         f"in this analysis (e.g. {sorted(missing)[0]})")
    elif isinstance(data, pd.DataFrame):
        frame = data
        if all(c in frame.columns for c in ADTTE_COLUMNS) and "event" not in frame.columns:
            frame, n = _from_adtte(frame)
            notes += n
        missing_cols = [c for c in ("event", "time_days") if c not in frame.columns]
        if missing_cols:
            raise TrialkitError(f"the frame lacks {', '.join(missing_cols)}: pass a canonical outcomes frame "
                                "(subject_id, endpoint, event 0/1, time_days), an ADaM ADTTE (PARAMCD, AVAL, CNSR) "
                                "or a Study")
        if "endpoint" in frame.columns:
            ep_codes, ep_uniques = pd.factorize(frame["endpoint"])  # one pass: the list and the selection
            names = [str(e) for e in ep_uniques]
            available = sorted(names)
            if endpoint is None and len(available) == 1:
                endpoint = available[0]
            if endpoint is None:
                raise TrialkitError(f"say which endpoint to analyse: endpoint= one of {available}")
            if endpoint not in names:
                raise TrialkitError(f"endpoint {endpoint!r} is not in the data; available: {', '.join(available)}")
            sel = ep_codes == names.index(endpoint)
            frame = frame[sel] if not sel.all() else frame
        frame, pop_notes = _select_population_frame(frame, population)
        notes += pop_notes
    else:
        raise TrialkitError(f"expected a Study or a pandas DataFrame, got {type(data).__name__}")

    if subgroup:
        for col, val in subgroup.items():
            if col not in frame.columns:
                raise TrialkitError(f"subgroup column {col!r} is not in the data; available: "
                                    f"{', '.join(map(str, frame.columns))}")
            mask = (frame[col].astype("string") == str(val)).fillna(False).to_numpy()
            notes.append(f"subgroup {col} = {val}: {int((~mask).sum())} subject(s) outside it left out")
            frame = frame[mask]

    needed = ([by] if by else []) + list(strata_t) + list(cov_t)
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise TrialkitError(f"column(s) {', '.join(map(repr, absent))} not in the data; available: "
                            f"{', '.join(map(str, frame.columns))}")
    time = pd.to_numeric(frame["time_days"], errors="coerce").astype("float64").to_numpy()
    event = pd.to_numeric(frame["event"], errors="coerce").astype("float64").to_numpy()
    problems = []
    if np.isnan(time).any():
        problems.append(f"{int(np.isnan(time).sum())} missing time_days")
    if (time < 0).any():
        problems.append(f"{int((time < 0).sum())} negative time_days")
    if (~np.isin(event, [0, 1])).any():
        problems.append(f"{int((~np.isin(event, [0, 1])).sum())} event values that are not 0/1")
    if by:
        raw_codes, uniques = pd.factorize(frame[by])
        if (raw_codes < 0).any():
            problems.append(f"{int((raw_codes < 0).sum())} missing `{by}`")
    for c in strata_t:
        if frame[c].isna().any():
            problems.append(f"{int(frame[c].isna().sum())} missing stratum `{c}`")
    if problems:
        raise TrialkitError(f"{endpoint or 'the endpoint'}: " + "; ".join(problems)
                            + ". Fix these records or filter them out before the analysis (no row is dropped silently).")

    res = pd.DataFrame({
        "subject_id": (frame["subject_id"].to_numpy() if "subject_id" in frame.columns
                       else np.arange(len(frame))),
        "time": time / TIME_UNITS[time_unit],
        "event": event.astype("int64"),
    })
    groups: tuple[str, ...] = ("all",)
    if by:
        groups = _group_order(frame[by], protocol_arms, by, uniques)
        position = np.array([groups.index(str(u)) for u in uniques], dtype=np.int64)
        res["group"] = pd.Categorical.from_codes(position[raw_codes] if len(uniques) else raw_codes,
                                                 categories=list(groups))
    else:
        res["group"] = pd.Categorical(["all"] * len(frame), categories=["all"])
    for c in dict.fromkeys(strata_t + cov_t):
        if c in res.columns:
            continue
        v = frame[c]
        if pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
            res[c] = pd.to_numeric(v, errors="coerce").astype("float64").to_numpy()
        else:
            res[c] = v.astype("string").to_numpy()
    if reference not in groups:
        reference = groups[0]
    return SurvivalData(frame=res, endpoint=endpoint, by=by, groups=groups, time_unit=time_unit,
                        population=population, strata=strata_t, covariates=cov_t, notes=tuple(notes),
                        reference=reference)
