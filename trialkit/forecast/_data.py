"""Turn a Study or a frame into the accrual (and event) data a forecast reads, checking it on the way.

Every entry point of :mod:`trialkit.forecast` calls :func:`accrual_input`; it is the only place that
knows where sites, activation dates, randomizations, screenings and time-to-event data live. Data
problems (a patient randomized before their site opened, text in a date column, a site with two
activation dates) are gathered into one :class:`~trialkit.errors.DataValidationError` naming the
table, the line (header = line 1) and the column of each; nothing is dropped or changed silently:
what the forecast assumes instead is written into its notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataValidationError, ForecastError

#: site statuses that take no further patients
CLOSED_STATUSES = ("closed", "withdrawn", "active, not recruiting")
#: columns a forecast frame must have
FRAME_COLUMNS = ("site_id", "activation_date", "randomization_date")


@dataclass(frozen=True)
class AccrualInput:
    """Sites, randomizations and (for a Study) screenings, checked and typed.

    ``sites``: ``site_id, group, activation_date, status, planned`` (``planned`` is True for a site
    listed without an activation date that has not recruited). ``patients``: ``site_id,
    randomization_date, arm`` plus, when the data carry them, ``time_days, event`` of an endpoint.
    """

    sites: pd.DataFrame
    patients: pd.DataFrame
    screening: pd.DataFrame | None
    target: int | None
    ratio: dict[str, int] | None
    data_cut: pd.Timestamp | None
    follow_up_days: float | None
    by: str | None
    kind: str  # "study" or "frame"
    notes: tuple[str, ...] = field(default_factory=tuple)


def _is_study(data) -> bool:
    return hasattr(data, "randomization") and hasattr(data, "sites") and hasattr(data, "protocol")


def _problem(table: str, row, column: str, value, problem: str, fix: str) -> dict:
    return {"table": table, "file": table, "row": row, "column": column, "value": "" if value is None else str(value),
            "problem": problem, "fix": fix}


def _dates(df: pd.DataFrame, col: str, table: str, problems: list) -> pd.Series:
    """A date column as datetime64; unreadable entries are reported (never coerced to empty)."""
    s = df[col]
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.astype("datetime64[ns]")
    parsed = pd.to_datetime(s, errors="coerce", format="mixed")
    bad = parsed.isna() & s.notna() & (s.astype("string").str.strip() != "")
    for pos in np.flatnonzero(bad.to_numpy()):
        problems.append(_problem(table, pos + 2, col, s.iloc[pos], "not a date",
                                 "write the date as YYYY-MM-DD (or load the study with tk.load_study)"))
    return parsed.astype("datetime64[ns]")


def _check_site_dates(patients: pd.DataFrame, activation: pd.Series, table: str, problems: list) -> None:
    """A patient randomized before their site's activation date is a data error."""
    act = patients["site_id"].map(activation)
    early = (patients["randomization_date"] < act).fillna(False).to_numpy(dtype=bool)
    for pos in np.flatnonzero(early):
        problems.append(_problem(
            table, int(patients["_line"].iloc[pos]), "randomization_date", patients["randomization_date"].iloc[pos].date(),
            f"randomized before site {patients['site_id'].iloc[pos]} opened ({act.iloc[pos].date()})",
            "correct the randomization date or the site's activation_date"))


def _raise(problems: list, source: str) -> None:
    if problems:
        raise DataValidationError(pd.DataFrame(problems), source=source)


def _frame_sites(df: pd.DataFrame, by: str | None, problems: list) -> pd.DataFrame:
    """One row per site from a forecast frame; a site whose rows disagree is reported."""
    cols = ["activation_date"] + [c for c in dict.fromkeys([by, "status"]) if c and c in df.columns]
    for c in cols:
        n_values = df.groupby("site_id", sort=False)[c].nunique(dropna=False)
        for site in n_values.index[n_values > 1]:
            lines = (np.flatnonzero((df["site_id"] == site).to_numpy()) + 2).tolist()
            problems.append(_problem("data", lines[0], c, site, f"site {site} has {n_values[site]} different "
                                     f"values of `{c}` (lines {', '.join(map(str, lines[:8]))})",
                                     f"give every row of a site the same {c}"))
    first = df.drop_duplicates("site_id")
    return pd.DataFrame({"site_id": first["site_id"].astype(str).to_numpy(),
                         "group": first[by].astype("string").fillna("(missing)").to_numpy() if by else "all",
                         "activation_date": first["activation_date"].to_numpy(),
                         "status": (first["status"].astype("string").to_numpy() if "status" in first.columns
                                    else pd.array([pd.NA] * len(first), dtype="string"))})


def _from_frame(df: pd.DataFrame, *, by: str | None, endpoint_cols: bool) -> AccrualInput:
    missing = [c for c in FRAME_COLUMNS if c not in df.columns]
    if missing:
        fc = pd.DataFrame([_problem("data", None, c, None, "column is missing",
                                    f"add `{c}` (the forecast frame has columns {', '.join(FRAME_COLUMNS)}, one row "
                                    "per randomized patient plus one per activated site without patients)")
                           for c in missing])
        raise DataValidationError(fc, source="forecast frame")
    if by and by not in df.columns:
        raise ForecastError(f"by={by!r} is not a column of the frame; columns are {', '.join(map(str, df.columns))}")
    problems: list = []
    df = df.reset_index(drop=True)
    blank = df["site_id"].isna().to_numpy()
    for pos in np.flatnonzero(blank):
        problems.append(_problem("data", pos + 2, "site_id", None, "site_id is empty", "give the site of every row"))
    df = df.assign(activation_date=_dates(df, "activation_date", "data", problems),
                   randomization_date=_dates(df, "randomization_date", "data", problems),
                   site_id=df["site_id"].astype("string"), _line=np.arange(len(df)) + 2)
    sites = _frame_sites(df[~blank], by, problems)
    pts = df[df["randomization_date"].notna() & ~blank]
    patients = pd.DataFrame({"site_id": pts["site_id"].astype(str).to_numpy(),
                             "randomization_date": pts["randomization_date"].to_numpy(),
                             "arm": pts["arm"].astype("string").to_numpy() if "arm" in pts.columns else pd.NA,
                             "_line": pts["_line"].to_numpy()})
    if endpoint_cols:
        patients = patients.assign(**_frame_endpoint(pts, problems))
    _check_site_dates(patients, sites.set_index("site_id")["activation_date"], "data", problems)
    _raise(problems, "forecast frame")
    return AccrualInput(sites=sites, patients=patients.drop(columns="_line"), screening=None, target=None, ratio=None,
                        data_cut=None, follow_up_days=None, by=by, kind="frame")


def _frame_endpoint(pts: pd.DataFrame, problems: list) -> dict:
    """``time_days`` and ``event`` of a forecast frame (for :func:`trialkit.forecast_events`)."""
    out = {}
    for col in ("time_days", "event"):
        if col not in pts.columns:
            problems.append(_problem("data", None, col, None, "column is missing",
                                     "forecast_events reads time_days (days from randomization, ADaM AVAL) and event "
                                     "(1 = event, 0 = censored) for every randomized patient"))
            continue
        v = pd.to_numeric(pts[col], errors="coerce")
        bad = v.isna().to_numpy() | ((v < 0).to_numpy() if col == "time_days" else ~v.isin([0, 1]).to_numpy())
        for pos in np.flatnonzero(bad):
            problems.append(_problem("data", int(pts["_line"].iloc[pos]), col, pts[col].iloc[pos],
                                     "must be a number >= 0" if col == "time_days" else "must be 0 or 1",
                                     "correct the value (every randomized patient needs time_days and event)"))
        out[col] = v.to_numpy(dtype=float)
    return out


def _study_sites(study, by: str | None, problems: list) -> pd.DataFrame:
    s = study.sites.reset_index(drop=True)
    if by and by not in s.columns:
        raise ForecastError(f"by={by!r} is not a column of the sites table; use one of "
                            f"{', '.join(c for c in s.columns if c not in ('site_id', 'activation_date'))}")
    return pd.DataFrame({"site_id": s["site_id"].astype(str).to_numpy(),
                         "group": s[by].astype("string").fillna("(missing)").to_numpy() if by else "all",
                         "activation_date": _dates(s, "activation_date", "sites", problems).to_numpy(),
                         "status": s["status"].astype("string").to_numpy() if "status" in s.columns else pd.NA})


def _from_study(study, *, by: str | None, endpoint: str | None) -> AccrualInput:
    problems: list = []
    sites = _study_sites(study, by, problems)
    rnd = study.randomization.reset_index(drop=True)
    rand_date = _dates(rnd, "randomization_date", "randomization", problems)
    for pos in np.flatnonzero((rand_date.isna() & rnd["randomization_date"].isna()).to_numpy()):
        problems.append(_problem("randomization", pos + 2, "randomization_date", None, "randomized without a date",
                                 "give every randomized patient their randomization_date"))
    patients = pd.DataFrame({"subject_id": rnd["subject_id"].astype(str).to_numpy(),
                             "site_id": rnd["site_id"].astype(str).to_numpy(),
                             "randomization_date": rand_date.to_numpy(),
                             "arm": rnd["arm"].astype("string").to_numpy(), "_line": np.arange(len(rnd)) + 2})
    unknown = ~patients["site_id"].isin(sites["site_id"]).to_numpy()
    for pos in np.flatnonzero(unknown):
        problems.append(_problem("randomization", pos + 2, "site_id", patients["site_id"].iloc[pos],
                                 "site is not in the sites table", "add the site to the sites table"))
    _check_site_dates(patients, sites.set_index("site_id")["activation_date"], "randomization", problems)
    _raise(problems, f"study {study.protocol.id}")
    scr = study.screening
    screening = pd.DataFrame({"subject_id": scr["subject_id"].astype(str).to_numpy(),
                              "site_id": scr["site_id"].astype(str).to_numpy(),
                              "screening_date": scr["screening_date"].to_numpy(dtype="datetime64[ns]")})
    if endpoint is not None:
        patients = _study_endpoint(study, patients, endpoint)
    proto = study.protocol
    fu = float(proto.follow_up_years) * 365.25 if getattr(proto, "follow_up_years", None) else None
    return AccrualInput(sites=sites, patients=patients.drop(columns="_line"), screening=screening,
                        target=proto.planned_enrollment, ratio=dict(proto.ratio), data_cut=study.data_cut_date,
                        follow_up_days=fu, by=by, kind="study")


def _study_endpoint(study, patients: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    out = study.outcomes
    eps = sorted(pd.unique(out["endpoint"].dropna().astype(str))) if len(out) else []
    if endpoint not in eps:
        raise ForecastError(f"endpoint {endpoint!r} is not in this study's outcomes table; it has "
                            f"{', '.join(eps) if eps else 'no endpoint'}")
    o = out[out["endpoint"].astype(str) == endpoint]
    o = pd.DataFrame({"subject_id": o["subject_id"].astype(str).to_numpy(),
                      "time_days": o["time_days"].to_numpy(dtype=float, na_value=np.nan),
                      "event": o["event"].to_numpy(dtype=float, na_value=np.nan)})
    merged = patients.merge(o, on="subject_id", how="left", validate="one_to_one")
    lost = merged["time_days"].isna().to_numpy()
    if lost.any():
        fc = pd.DataFrame([_problem("outcomes", None, "subject_id", sid, f"randomized but has no {endpoint} row",
                                    f"add the patient's {endpoint} row (time_days, event) to the outcomes table")
                           for sid in merged.loc[lost, "subject_id"]])
        raise DataValidationError(fc, source=f"study {study.protocol.id}")
    return merged


def accrual_input(data, *, by: str | None = None, endpoint: str | None = None) -> AccrualInput:
    """Read a Study or a forecast frame (see :func:`trialkit.forecast_accrual`) into an :class:`AccrualInput`."""
    if _is_study(data):
        return _from_study(data, by=by, endpoint=endpoint)
    if isinstance(data, pd.DataFrame):
        return _from_frame(data, by=by, endpoint_cols=endpoint is not None)
    raise ForecastError(f"data must be a Study (tk.load_study) or a DataFrame with columns "
                        f"{', '.join(FRAME_COLUMNS)}, not {type(data).__name__}")


# ------------------------------------------------------------------------------------------------
# the state at a forecast date
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccrualState:
    """What is known on the forecast date ``as_of``.

    ``sites``: every site with ``n`` (randomized by ``as_of``), ``opened`` (the activation date used),
    ``exposure_days``, ``role`` (``"open"``, ``"closed"``: estimation only, ``"future"``: opens on
    ``opened``, ``"unscheduled"``: listed without a date and left out) and ``group_index``.
    """

    as_of: pd.Timestamp
    sites: pd.DataFrame
    patients: pd.DataFrame  # randomized by as_of
    groups: tuple[str, ...]
    notes: tuple[str, ...]


def _imputed_opening(inp: AccrualInput, as_of: pd.Timestamp) -> pd.Series:
    """Earliest screening (Study) or randomization of each site by ``as_of``: the opening of a site
    recorded without an activation date."""
    first = inp.patients.loc[inp.patients["randomization_date"] <= as_of].groupby("site_id")["randomization_date"].min()
    if inp.screening is not None and len(inp.screening):
        scr = inp.screening.loc[inp.screening["screening_date"] <= as_of].groupby("site_id")["screening_date"].min()
        first = pd.concat([first, scr], axis=1).min(axis=1)
    return first


def _site_roles(sites: pd.DataFrame, as_of: pd.Timestamp, imputed: pd.Series, notes: list) -> pd.DataFrame:
    act = sites["activation_date"]
    fill = sites["site_id"].map(imputed)
    use_fill = act.isna() & fill.notna()
    if use_fill.any():
        notes.append(f"{int(use_fill.sum())} site(s) have no activation date: their first screening or randomization "
                     f"is taken as their opening ({', '.join(sites.loc[use_fill, 'site_id'][:10])}"
                     f"{' …' if use_fill.sum() > 10 else ''}); their rate may be overestimated")
    opened = act.where(~use_fill, fill)
    closed = sites["status"].astype("string").isin(CLOSED_STATUSES).fillna(False).to_numpy(dtype=bool)
    role = np.where(opened.isna(), "unscheduled", np.where(opened <= as_of, "open", "future"))
    role = np.where((role == "open") & closed, "closed", role)
    role = np.where((role == "future") & closed, "unscheduled", role)
    return sites.assign(opened=opened, role=role)


def state_at(inp: AccrualInput, as_of) -> AccrualState:
    """The data as they stood on ``as_of`` (patients randomized after it are not seen)."""
    as_of = pd.Timestamp(as_of).normalize()
    notes: list[str] = list(inp.notes)
    sites = _site_roles(inp.sites, as_of, _imputed_opening(inp, as_of), notes)
    pts = inp.patients.loc[inp.patients["randomization_date"] <= as_of]
    n = pts.groupby("site_id").size()
    sites = sites.assign(n=sites["site_id"].map(n).fillna(0).astype(int).to_numpy())
    # exposure: days open up to and including the forecast date
    exposure = (as_of - sites["opened"]).dt.days.to_numpy(dtype=float, na_value=np.nan) + 1.0
    sites = sites.assign(exposure_days=np.where(np.isin(sites["role"], ("open", "closed")), exposure, 0.0))
    n_closed = int((sites["role"] == "closed").sum())
    if n_closed:
        notes.append(f"{n_closed} site(s) closed to accrual: counted in the rate estimate with exposure up to the "
                     "forecast date (their closing date is not in the data) and given no further patients")
    groups = tuple(sorted(pd.unique(sites["group"].astype(str))))
    sites = sites.assign(group_index=sites["group"].astype(str).map({g: i for i, g in enumerate(groups)}).to_numpy())
    return AccrualState(as_of=as_of, sites=sites.reset_index(drop=True), patients=pts.reset_index(drop=True),
                        groups=groups, notes=tuple(notes))


def check_as_of(inp: AccrualInput, as_of: pd.Timestamp) -> None:
    """A forecast date after the data cut would treat the unknown as known (no patient, no event)."""
    if inp.data_cut is not None and as_of > pd.Timestamp(inp.data_cut).normalize():
        raise ForecastError(f"as_of {as_of.date()} is after the data cut {pd.Timestamp(inp.data_cut).date()}: "
                            "nothing is known after the cut; forecast from the cut (leave as_of out) or earlier")


def default_as_of(inp: AccrualInput) -> tuple[pd.Timestamp, str | None]:
    """The study's data cut, else the last randomization date (said in a note)."""
    if inp.data_cut is not None:
        return pd.Timestamp(inp.data_cut).normalize(), None
    if not len(inp.patients):
        raise ForecastError("no patient has been randomized and the data give no data cut date: give as_of=")
    last = pd.Timestamp(inp.patients["randomization_date"].max()).normalize()
    return last, f"as_of not given and the data carry no data cut: the last randomization ({last.date()}) is used"
