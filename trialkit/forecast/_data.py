"""Turn a Study or a frame into the accrual (and event) data a forecast reads, checking it on the way.

Every entry point of :mod:`trialkit.forecast` calls :func:`accrual_input`; it is the only place that
knows where sites, activation dates, randomizations, screenings and time-to-event data live. Data
problems (a patient randomized before their site opened, text in a date column, a site with two
activation dates) are gathered into one :class:`~trialkit.errors.DataValidationError` naming the
table, the line (header = line 1) and the column of each; nothing is dropped or changed silently:
what the forecast assumes instead is written into its notes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..analysis_set import join_by_subject
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
    if s.dtype == np.dtype("datetime64[ns]"):
        return s
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.astype("datetime64[ns]")
    parsed = pd.to_datetime(s, errors="coerce", format="mixed")
    bad = parsed.isna() & s.notna() & (s.astype("string").str.strip() != "")
    for pos in np.flatnonzero(bad.to_numpy()):
        problems.append(_problem(table, pos + 2, col, s.iloc[pos], "not a date",
                                 "write the date as YYYY-MM-DD (or load the study with tk.load_study)"))
    return parsed.astype("datetime64[ns]")


def _text_values(s: pd.Series) -> np.ndarray:
    """``s.astype(str).to_numpy()``, without pandas' conversion when every value is already a str."""
    values = s.to_numpy(dtype=object)
    if all(type(v) is str for v in values):
        return values
    return s.astype(str).to_numpy()


def _string_values(s: pd.Series) -> np.ndarray:
    """``s.astype("string").to_numpy()`` (str or pd.NA), without the conversion for a column already of that type."""
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "python" and s.dtype.na_value is pd.NA:
        return s.to_numpy()
    return s.astype("string").to_numpy()


def _site_values(site_of: np.ndarray, site_ids: np.ndarray, values: np.ndarray, missing) -> np.ndarray | None:
    """``values`` of each entry's site (``missing`` for a site not listed); None when a site id repeats
    (the caller then takes pandas' path, which reports it)."""
    where = {sid: i for i, sid in enumerate(site_ids)}
    if len(where) != len(site_ids):
        return None
    pos = np.fromiter((where.get(sid, -1) for sid in site_of), dtype=np.intp, count=len(site_of))
    out = values[np.maximum(pos, 0)] if len(values) else np.full(len(site_of), missing, dtype=values.dtype)
    out[pos < 0] = missing
    return out


def _check_site_dates(site_of: np.ndarray, rand: np.ndarray, lines: np.ndarray, sites: pd.DataFrame, table: str,
                      problems: list) -> None:
    """A patient randomized before their site's activation date is a data error."""
    site_ids, activation = sites["site_id"].to_numpy(), sites["activation_date"].to_numpy()
    act = _site_values(site_of, site_ids, activation, np.datetime64("NaT"))
    if act is None:  # a site listed twice: pandas' map raises as it always did
        act = pd.Series(site_of).map(pd.Series(activation, index=site_ids)).to_numpy()
    early = rand < act  # NaT on either side compares False
    for pos in np.flatnonzero(early):
        problems.append(_problem(
            table, int(lines[pos]), "randomization_date", pd.Timestamp(rand[pos]).date(),
            f"randomized before site {site_of[pos]} opened ({pd.Timestamp(act[pos]).date()})",
            "correct the randomization date or the site's activation_date"))


def _raise(problems: list, source: str) -> None:
    if problems:
        raise DataValidationError(pd.DataFrame(problems), source=source)


def _frame_sites(df: pd.DataFrame, by: str | None, problems: list) -> pd.DataFrame:
    """One row per site from a forecast frame; a site whose rows disagree is reported."""
    cols = ["activation_date"] + [c for c in dict.fromkeys([by, "status"]) if c and c in df.columns]
    site, _ = pd.factorize(df["site_id"])
    first = np.unique(site, return_index=True)[1]  # each site's first row, in the order sites appear
    for c in cols:
        # the rows of a site all agree when each has its first row's value (missing values agree, as in nunique)
        codes, _ = pd.factorize(df[c])
        if np.any(codes != codes[first][site]):
            _report_disagreement(df, c, problems)
    first = df.iloc[first]
    return pd.DataFrame({"site_id": _text_values(first["site_id"]),
                         "group": first[by].astype("string").fillna("(missing)").to_numpy() if by else "all",
                         "activation_date": first["activation_date"].to_numpy(),
                         "status": (_string_values(first["status"]) if "status" in first.columns
                                    else pd.array([pd.NA] * len(first), dtype="string"))})


def _report_disagreement(df: pd.DataFrame, c: str, problems: list) -> None:
    n_values = df.groupby("site_id", sort=False)[c].nunique(dropna=False)
    for site in n_values.index[n_values > 1]:
        lines = (np.flatnonzero((df["site_id"] == site).to_numpy()) + 2).tolist()
        problems.append(_problem("data", lines[0], c, site, f"site {site} has {n_values[site]} different "
                                 f"values of `{c}` (lines {', '.join(map(str, lines[:8]))})",
                                 f"give every row of a site the same {c}"))


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
    # the columns as read (dates parsed, site ids as text, line numbers); the other columns as they are
    read = {"activation_date": _dates(df, "activation_date", "data", problems),
            "randomization_date": _dates(df, "randomization_date", "data", problems),
            "site_id": df["site_id"].astype("string"), "_line": pd.Series(np.arange(len(df)) + 2)}
    site_cols = [c for c in dict.fromkeys(["site_id", "activation_date", by, "status"]) if c in read or c in df.columns]
    kept = ~blank
    site_rows = pd.DataFrame({c: read[c] if c in read else df[c] for c in site_cols})
    sites = _frame_sites(site_rows[kept] if blank.any() else site_rows, by, problems)
    rand = read["randomization_date"].to_numpy()
    rows = np.flatnonzero(~np.isnat(rand) & kept)
    lines = read["_line"].to_numpy()[rows]
    patients = {"site_id": _text_values(read["site_id"].iloc[rows]), "randomization_date": rand[rows],
                "arm": (_string_values(df["arm"].iloc[rows]) if "arm" in df.columns else pd.NA)}
    if endpoint_cols:
        patients.update(_frame_endpoint({c: df[c].iloc[rows] for c in ("time_days", "event") if c in df.columns},
                                        lines, problems))
    _check_site_dates(patients["site_id"], patients["randomization_date"], lines, sites, "data", problems)
    _raise(problems, "forecast frame")
    return AccrualInput(sites=sites, patients=pd.DataFrame(patients), screening=None, target=None, ratio=None,
                        data_cut=None, follow_up_days=None, by=by, kind="frame")


def _frame_endpoint(pts: dict, lines: np.ndarray, problems: list) -> dict:
    """``time_days`` and ``event`` of a forecast frame (for :func:`trialkit.forecast_events`): ``pts`` holds
    the two columns on the rows of the randomized patients, ``lines`` their line numbers."""
    out = {}
    for col in ("time_days", "event"):
        if col not in pts:
            problems.append(_problem("data", None, col, None, "column is missing",
                                     "forecast_events reads time_days (days from randomization, ADaM AVAL) and event "
                                     "(1 = event, 0 = censored) for every randomized patient"))
            continue
        v = pd.to_numeric(pts[col], errors="coerce")
        bad = v.isna().to_numpy() | ((v < 0).to_numpy() if col == "time_days" else ~v.isin([0, 1]).to_numpy())
        for pos in np.flatnonzero(bad):
            problems.append(_problem("data", int(lines[pos]), col, pts[col].iloc[pos],
                                     "must be a number >= 0" if col == "time_days" else "must be 0 or 1",
                                     "correct the value (every randomized patient needs time_days and event)"))
        out[col] = v.to_numpy(dtype=float)
    return out


def _study_sites(study, by: str | None, problems: list) -> pd.DataFrame:
    s = study.sites
    if by and by not in s.columns:
        raise ForecastError(f"by={by!r} is not a column of the sites table; use one of "
                            f"{', '.join(c for c in s.columns if c not in ('site_id', 'activation_date'))}")
    return pd.DataFrame({"site_id": _text_values(s["site_id"]),
                         "group": s[by].astype("string").fillna("(missing)").to_numpy() if by else "all",
                         "activation_date": _dates(s, "activation_date", "sites", problems).to_numpy(),
                         "status": _string_values(s["status"]) if "status" in s.columns else pd.NA})


def _from_study(study, *, by: str | None, endpoint: str | None) -> AccrualInput:
    problems: list = []
    sites = _study_sites(study, by, problems)
    rnd = study.randomization
    rand_date = _dates(rnd, "randomization_date", "randomization", problems).to_numpy()
    for pos in np.flatnonzero(np.isnat(rand_date) & rnd["randomization_date"].isna().to_numpy()):
        problems.append(_problem("randomization", pos + 2, "randomization_date", None, "randomized without a date",
                                 "give every randomized patient their randomization_date"))
    site_of = _text_values(rnd["site_id"])
    listed = set(sites["site_id"].to_numpy())
    for pos in (i for i, sid in enumerate(site_of) if sid not in listed):
        problems.append(_problem("randomization", pos + 2, "site_id", site_of[pos],
                                 "site is not in the sites table", "add the site to the sites table"))
    _check_site_dates(site_of, rand_date, np.arange(len(rnd)) + 2, sites, "randomization", problems)
    _raise(problems, f"study {study.protocol.id}")
    patients = {"subject_id": _text_values(rnd["subject_id"]), "site_id": site_of, "randomization_date": rand_date,
                "arm": _string_values(rnd["arm"])}
    scr = study.screening
    screening = pd.DataFrame({"subject_id": _text_values(scr["subject_id"]), "site_id": _text_values(scr["site_id"]),
                              "screening_date": scr["screening_date"].to_numpy(dtype="datetime64[ns]")})
    patients = _study_endpoint(study, patients, endpoint) if endpoint is not None else pd.DataFrame(patients)
    proto = study.protocol
    fu = float(proto.follow_up_years) * 365.25 if getattr(proto, "follow_up_years", None) else None
    return AccrualInput(sites=sites, patients=patients, screening=screening,
                        target=proto.planned_enrollment, ratio=dict(proto.ratio), data_cut=study.data_cut_date,
                        follow_up_days=fu, by=by, kind="study")


def _study_endpoint(study, patients: dict, endpoint: str) -> pd.DataFrame:
    """The patients (columns as arrays) with ``time_days`` and ``event`` of ``endpoint`` from the outcomes table."""
    out = study.outcomes
    names = _text_values(out["endpoint"])
    if all(type(v) is str for v in out["endpoint"].to_numpy(dtype=object)):  # no missing endpoint
        eps = sorted(set(names))
    else:
        eps = sorted(pd.unique(out["endpoint"].dropna().astype(str))) if len(out) else []
    if endpoint not in eps:
        raise ForecastError(f"endpoint {endpoint!r} is not in this study's outcomes table; it has "
                            f"{', '.join(eps) if eps else 'no endpoint'}")
    rows = np.flatnonzero(names == endpoint)
    o = {"subject_id": _text_values(out["subject_id"])[rows],
         "time_days": out["time_days"].to_numpy(dtype=float, na_value=np.nan)[rows],
         "event": out["event"].to_numpy(dtype=float, na_value=np.nan)[rows]}
    merged = join_by_subject(pd.DataFrame(patients), pd.DataFrame(o))
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


def _site_roles(sites: pd.DataFrame, as_of: pd.Timestamp, inp: AccrualInput, notes: list) -> tuple[np.ndarray, np.ndarray]:
    """``opened`` (the activation date, else the imputed opening) and ``role`` of every site."""
    act = sites["activation_date"]
    opened = act.to_numpy()
    if np.isnat(opened).any():  # some site without an activation date: impute its opening
        fill = sites["site_id"].map(_imputed_opening(inp, as_of))
        use_fill = act.isna() & fill.notna()
        if use_fill.any():
            notes.append(f"{int(use_fill.sum())} site(s) have no activation date: their first screening or "
                         f"randomization is taken as their opening ({', '.join(sites.loc[use_fill, 'site_id'][:10])}"
                         f"{' …' if use_fill.sum() > 10 else ''}); their rate may be overestimated")
        opened = act.where(~use_fill, fill).to_numpy()
    status = sites["status"].to_numpy(dtype=object)
    if all(type(v) is str or v is pd.NA for v in status):  # as accrual_input leaves it
        closed = np.fromiter((v is not pd.NA and v in CLOSED_STATUSES for v in status), dtype=bool, count=len(status))
    else:
        closed = sites["status"].astype("string").isin(CLOSED_STATUSES).fillna(False).to_numpy(dtype=bool)
    is_open = opened <= np.datetime64(as_of)  # NaT compares False
    role = np.where(np.isnat(opened), "unscheduled", np.where(is_open, "open", "future"))
    role = np.where((role == "open") & closed, "closed", role)
    role = np.where((role == "future") & closed, "unscheduled", role)
    return opened, role


def _whole_days(delta: np.ndarray) -> np.ndarray:
    """Whole days (floor, as pandas' ``.dt.days``) of a timedelta64[ns] array, as float (NaN for NaT)."""
    ns = delta.astype("timedelta64[ns]").view(np.int64)
    return np.where(np.isnat(delta), np.nan, np.floor_divide(ns, 86_400_000_000_000).astype(float))


def state_at(inp: AccrualInput, as_of) -> AccrualState:
    """The data as they stood on ``as_of`` (patients randomized after it are not seen)."""
    as_of = pd.Timestamp(as_of).normalize()
    notes: list[str] = list(inp.notes)
    opened, role = _site_roles(inp.sites, as_of, inp, notes)
    seen = inp.patients["randomization_date"].to_numpy() <= np.datetime64(as_of)
    pts = inp.patients.loc[seen] if not seen.all() else inp.patients
    per_site = Counter(pts["site_id"].to_numpy())
    site_ids = inp.sites["site_id"].to_numpy()
    n = np.fromiter((per_site.get(sid, 0) for sid in site_ids), dtype=np.int64, count=len(site_ids))
    # exposure: days open up to and including the forecast date
    exposure = _whole_days(np.datetime64(as_of, "ns") - opened) + 1.0
    n_closed = int((role == "closed").sum())
    if n_closed:
        notes.append(f"{n_closed} site(s) closed to accrual: counted in the rate estimate with exposure up to the "
                     "forecast date (their closing date is not in the data) and given no further patients")
    group = [str(g) for g in inp.sites["group"].to_numpy(dtype=object)]
    groups = tuple(sorted(set(group)))
    index = {g: i for i, g in enumerate(groups)}
    sites = pd.DataFrame({**{c: inp.sites[c].array for c in inp.sites.columns}, "opened": opened,
                          "role": role, "n": n, "exposure_days": np.where(np.isin(role, ("open", "closed")), exposure, 0.0),
                          "group_index": np.array([index[g] for g in group], dtype=np.int64)})
    return AccrualState(as_of=as_of, sites=sites, patients=pts.reset_index(drop=True), groups=groups, notes=tuple(notes))


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
