"""pandera schemas of the canonical tables, and the lazy validation of a whole study.

The schemas are built from :mod:`trialkit.model` (the single source of truth for columns and
dtypes). :func:`validate_study` runs every table's schema lazily and then the cross-table checks
(subjects randomized but never screened, unknown sites and arms, dates out of order, duplicated
sites), gathering *every* problem into one frame before raising one
:class:`~trialkit.errors.DataValidationError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .errors import FAILURE_COLUMNS, DataValidationError, UsageError, no_failures
from .model import KEYS, REQUIRED_TABLES, TABLES, Column, columns, pandas_dtype

__all__ = ["schema", "validate_study", "validate_table", "SourceInfo", "data_cut_warnings"]


@dataclass(frozen=True)
class SourceInfo:
    """Where a table came from, so a problem can name its file and line.

    ``row_base`` is added to the 0-based position of a record: 2 for a flat file with a header
    line (the first record is line 2), 1 for Parquet/SAS files (1-based record number).
    ``lines``, when given, is the line (or spreadsheet row) of each record as an editor shows it
    (blank lines and line breaks inside quoted fields counted) and takes precedence.
    """

    file: str
    row_base: int = 2
    positions: np.ndarray | None = None  # source position of each row when rows were reordered
    lines: np.ndarray | None = field(default=None, repr=False)


def _is_text(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.StringDtype)


def _checks(col: Column) -> list[pa.Check]:
    out = []
    if col.dtype == "string":  # either storage (python or pyarrow) is a canonical text column
        out.append(pa.Check(_is_text, error="wrong type: text (pandas 'string' dtype) expected"))
    if col.allowed:
        out.append(pa.Check.isin(list(col.allowed), error=f"must be one of: {', '.join(col.allowed)}"))
    if col.min is not None and col.max is not None:
        out.append(pa.Check.in_range(col.min, col.max, error=f"must lie between {col.min} and {col.max}"))
    elif col.min is not None:
        out.append(pa.Check.ge(col.min, error=f"must be at least {col.min}"))
    elif col.max is not None:
        out.append(pa.Check.le(col.max, error=f"must be at most {col.max}"))
    return out


@cache
def schema(table: str) -> pa.DataFrameSchema:
    """The pandera schema of a canonical table (extra columns are allowed, e.g. strata)."""
    cols = {
        c.name: pa.Column(None if c.dtype == "string" else pandas_dtype(c), checks=_checks(c), nullable=c.nullable, required=c.required,
                          coerce=False, title=c.description)
        for c in columns(table)
    }
    return pa.DataFrameSchema(cols, strict=False, unique=list(KEYS[table]), report_duplicates="all",
                              name=table)


def _fix_for(problem: str, column: str, table: str) -> str:
    p = problem.lower()
    if "not in dataframe" in p or "column_in_dataframe" in p:
        return f"add column `{column}` to the {table} file, or map your column to it under `columns:` in study.yaml"
    if "duplicate" in p or "unique" in p:
        return f"each {', '.join(KEYS[table])} must appear once in {table}; remove or renumber the repeats"
    if "dtype" in p:
        return "correct the value's type (numbers, dates as YYYY-MM-DD, true/false)"
    if "null" in p or "nullable" in p:
        return f"fill in `{column}`; it may not be empty"
    return "correct the value in the source file"


def _row_numbers(index_values, source: SourceInfo | None):
    idx = pd.to_numeric(pd.Series(index_values), errors="coerce")
    if source is None:
        return idx + 1
    if source.positions is not None:
        idx = idx.map(lambda i: source.positions[int(i)] if pd.notna(i) else np.nan)
    if source.lines is not None:
        return idx.map(lambda i: source.lines[int(i)] if pd.notna(i) and 0 <= int(i) < len(source.lines)
                       else np.nan)
    return idx + source.row_base


def _failures_from_pandera(err: pa.errors.SchemaErrors, table: str, source: SourceInfo | None) -> pd.DataFrame:
    fc = err.failure_cases.copy()
    out = pd.DataFrame({
        "table": table,
        "file": source.file if source else table,
        "row": _row_numbers(fc["index"].values, source).values,
        "column": fc["column"].astype("string").fillna("").values,
        "value": fc["failure_case"].astype("string").values,
        "problem": fc["check"].astype("string").values,
    })
    # pandera names checks by their error message when one is given; make the rest readable.
    out["problem"] = out["problem"].str.replace(r"^column_in_dataframe$", "required column is missing", regex=True)
    out["problem"] = out["problem"].str.replace(r"^not_nullable$", "empty value in a column that may not be empty",
                                                regex=True)
    out["problem"] = out["problem"].str.replace(r"^field_uniqueness$|^multiple_fields_uniqueness$",
                                                "duplicated key", regex=True)
    out.loc[out["problem"].str.startswith("dtype("), "problem"] = (
        "wrong type: " + out["problem"].str.extract(r"dtype\('(.*)'\)")[0] + " expected")
    out["fix"] = [_fix_for(p, c, table) for p, c in zip(out["problem"], out["column"])]
    return out


#: Tables longer than this are validated in row chunks (pandera's checks hold a transient copy of
#: what they validate; chunks keep that to a fraction of the table). Keys are checked whole.
CHUNK_ROWS = 100_000


@cache
def _column_rules(table: str) -> tuple[tuple[Column, object], ...]:
    """Each canonical column of ``table`` with the pandera dtype its values must have (None: any text dtype)."""
    from pandera.engines import pandas_engine

    return tuple((c, None if c.dtype == "string" else pandas_engine.Engine.dtype(pandas_dtype(c)))
                 for c in columns(table))


def _dtype_passes(want, dtype) -> bool:
    """``want.check`` of pandera's type for ``dtype``, remembered per pair (pandera's lookup of a
    dtype costs up to a quarter of a millisecond)."""
    try:
        return _cached_dtype_passes(want, dtype)
    except TypeError:  # an unhashable dtype
        return _engine_dtype_passes(want, dtype)


def _engine_dtype_passes(want, dtype) -> bool:
    from pandera.engines import pandas_engine

    return bool(want.check(pandas_engine.Engine.dtype(dtype)))


_cached_dtype_passes = lru_cache(maxsize=256)(_engine_dtype_passes)


def surely_valid(df: pd.DataFrame, table: str) -> bool:
    """True only when the table passes every check of :func:`schema` (``table``): required columns,
    dtypes, empty values, allowed values, ranges and unique keys, tested column by column in a few
    vectorised operations, about six times faster than pandera on a valid table. False as soon as
    anything may fail, and then pandera validates the table and names each problem: this is a shortcut
    for the common case (valid data), never a second opinion (tests/test_schemas_fast.py checks that it
    never says True where pandera finds a problem).

    Examples
    --------
    >>> from trialkit.model import empty_table
    >>> surely_valid(empty_table("sites"), "sites")
    True
    >>> surely_valid(empty_table("sites").drop(columns="site_id"), "sites")
    False
    """
    if df.columns.duplicated().any():
        return False
    dtypes = dict(zip(df.columns, df.dtypes))
    if not all(_column_passes(df, dtypes, c, want) for c, want in _column_rules(table)):
        return False
    keys = list(KEYS[table])
    return all(k in df.columns for k in keys) and not _has_duplicates(df, keys)


def _column_passes(df: pd.DataFrame, dtypes: dict, c: Column, want) -> bool:
    """True only when column ``c`` passes every check of its pandera column (presence, dtype, empty
    values, allowed values, range): :func:`surely_valid` for one column (``dtypes``: of ``df``, by name;
    the column names of ``df`` are unique)."""
    if c.name not in dtypes:
        return not c.required
    if want is None:
        if not isinstance(dtypes[c.name], pd.StringDtype):
            return False
    elif not _dtype_passes(want, dtypes[c.name]):
        return False
    ruled = c.allowed or c.min is not None or c.max is not None
    if c.nullable and not ruled:
        return True  # any value of the dtype passes: the column itself is not needed
    values = df[c.name].array
    na = np.asarray(values.isna(), dtype=bool)  # (the array's: a Series' isna costs 20 times more)
    if na.any() and not c.nullable:
        return False
    return not (ruled and not na.all() and not _values_allowed(values[~na] if na.any() else values, c))


def _doubtful_schema(df: pd.DataFrame, table: str) -> pa.DataFrameSchema:
    """:func:`schema` (``table``) without the columns of ``df`` that surely pass their checks (the
    keys are still checked for duplicates): pandera finds the same problems, in the same order, in
    a fraction of the time when one column of a wide table is wrong. ``df``'s column names are unique."""
    dtypes = dict(zip(df.columns, df.dtypes))
    return _schema_of(table, tuple(c.name for c, want in _column_rules(table)
                                   if not _column_passes(df, dtypes, c, want)))


@lru_cache(maxsize=256)
def _schema_of(table: str, names: tuple[str, ...]) -> pa.DataFrameSchema:
    """The schema of ``table`` with the checks of the columns ``names`` only (and of the keys)."""
    full = schema(table)
    if len(names) == len(full.columns):
        return full
    return pa.DataFrameSchema({n: full.columns[n] for n in names}, strict=False, unique=full.unique,
                              report_duplicates="all", name=table)


def _has_duplicates(df: pd.DataFrame, keys: list[str]) -> bool:
    """True when two rows have the same keys (missing equal to missing). One text key is counted by
    pyarrow: a tenth of the cost of DataFrame.duplicated."""
    if len(keys) == 1 and _arrow_strings(df[keys[0]]):
        import pyarrow as pa
        import pyarrow.compute as pc

        return pc.count_distinct(pa.array(df[keys[0]].array), mode="all").as_py() < len(df)
    return bool(df.duplicated(subset=keys).any())


def _values_allowed(values, c: Column) -> bool:
    """The values (an array, none missing) are among the column's allowed ones and within its range."""
    if c.allowed and not np.asarray(values.isin(list(c.allowed)), dtype=bool).all():
        return False
    if c.min is None and c.max is None:
        return True
    x = values.to_numpy()  # (plain numpy: a masked array's comparison costs ten times more)
    return bool((c.min is None or (x >= c.min).all()) and (c.max is None or (x <= c.max).all()))


def validate_table(df: pd.DataFrame, table: str, *, source: SourceInfo | None = None) -> pd.DataFrame:
    """Validate one table lazily; return its problems (empty frame when valid). Never raises on data.

    A table that :func:`surely_valid` passes has no problem to report; any other goes through pandera."""
    if not isinstance(df, pd.DataFrame):
        from .errors import InputTypeError

        raise InputTypeError(f"validate_table needs a pandas DataFrame, not a {type(df).__name__}.")
    if surely_valid(df, table):
        return no_failures()
    if not df.index.is_unique:  # pandera fails on a repeated index label: number the rows by position
        df = df.reset_index(drop=True)
    repeated = df.columns.duplicated()
    if repeated.any():  # pandera cannot validate such a frame: name the repeats, validate the first of each
        names = list(dict.fromkeys(str(c) for c in df.columns[repeated]))
        found = pd.DataFrame({"table": table, "file": source.file if source else table, "row": np.nan,
                              "column": names, "value": "", "problem": "column name repeated",
                              "fix": "keep one column of each name (rename or remove the others)"})
        rest = validate_table(df.loc[:, ~repeated], table, source=source)
        return pd.concat([found, rest], ignore_index=True)[FAILURE_COLUMNS] if len(rest) else found[FAILURE_COLUMNS]
    if len(df) <= CHUNK_ROWS:
        try:
            _doubtful_schema(df, table).validate(df, lazy=True)
        except pa.errors.SchemaErrors as err:
            return _failures_from_pandera(err, table, source)
        return no_failures()
    frames = []
    cols_schema = pa.DataFrameSchema(schema(table).columns, strict=False, name=table)  # same checks, no key check
    missing_reported = False
    for start in range(0, len(df), CHUNK_ROWS):
        try:
            cols_schema.validate(df.iloc[start:start + CHUNK_ROWS], lazy=True)
        except pa.errors.SchemaErrors as err:
            f = _failures_from_pandera(err, table, source)
            table_level = f["row"].isna()
            if missing_reported:  # a missing column is reported once, not once per chunk
                f = f[~table_level]
            missing_reported = missing_reported or bool(table_level.any())
            frames.append(f)
    keys = [k for k in KEYS[table] if k in df]
    if len(keys) == len(KEYS[table]):
        dup = df.duplicated(subset=keys, keep=False).to_numpy()
        if dup.any():
            pos = df.index[dup]
            vals = df.loc[dup, keys].astype(str).agg(" / ".join, axis=1).to_numpy()
            frames.append(_problem(table, source, pos, ", ".join(keys), vals, "duplicated key",
                                   _fix_for("duplicate", keys[0], table)))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else no_failures()


def _problem(table, source, positions, column, values, problem, fix) -> pd.DataFrame:
    positions = np.asarray(positions)
    rows = _row_numbers(positions, source).values if len(positions) else []
    return pd.DataFrame({"table": table, "file": source.file if source else table, "row": rows,
                         "column": column, "value": pd.Series(values, dtype="object").astype(str).values,
                         "problem": problem, "fix": fix})


def _date_order(df, table, src, first, second, fix, *, firsts: pd.Series | None = None):
    """The rows where date ``second`` is before date ``first`` (``firsts``: the values of ``first``
    when they are not a column of ``df``, e.g. mapped from another table)."""
    if (firsts is None and first not in df) or second not in df:
        return None
    a, b = df[first] if firsts is None else firsts, df[second]
    bad = _before(b, a)
    if not len(bad):
        return None
    vals = [f"{second}={b.iloc[i].date()} before {first}={a.iloc[i].date()}" for i in bad]
    return _problem(table, src, df.index[bad], second, vals, f"`{second}` is before `{first}`", fix)


def _before(b: pd.Series, a: pd.Series) -> np.ndarray:
    """Positions where both dates are given and ``b`` is before ``a`` (numpy dates compared as arrays:
    three pandas operations on Series cost ten times more)."""
    if isinstance(a.dtype, np.dtype) and a.dtype.kind == "M" and b.dtype == a.dtype:  # (one unit: no casting)
        x, y = a.to_numpy(), b.to_numpy()
        return np.flatnonzero(~np.isnat(x) & ~np.isnat(y) & (y < x))
    return np.flatnonzero((a.notna() & b.notna() & (b < a)).to_numpy())


def _duplicated_sites(s, src) -> list:
    """The same institution registered under two ids (same name, city and country, compared trimmed and
    lower-cased; a site without a name is never reported). One pass over the sites in Python: a site
    table has a few hundred rows at most, and a key frame costs a hundred times more."""
    sites = s.sites
    if not len(sites) or not {"site_name", "city", "country"} <= set(sites.columns):
        return []
    text = [sites[c].astype("string").to_numpy(dtype=object, na_value=None) for c in ("site_name", "city", "country")]
    first: dict = {}
    rows, vals = [], []
    for i, (sid, *raw) in enumerate(zip(sites["site_id"].to_numpy(dtype=object), *text)):
        key = tuple(None if v is None else v.strip().lower() for v in raw)
        if key not in first:
            first[key] = sid
        elif key[0] is not None:
            rows.append(i)
            vals.append(f"{sid} duplicates {first[key]}")
    if not rows:
        return []
    return [_problem("sites", src("sites"), sites.index[rows], "site_name", vals,
                     "duplicated site entry (same name, city and country under another site_id)",
                     "keep one entry per site and map the other id to it")]


def _arrow_strings(x) -> bool:
    return isinstance(x.dtype, pd.StringDtype) and x.dtype.storage == "pyarrow"


def _isin(values: pd.Series, allowed) -> np.ndarray:
    """``values.isin(allowed)`` as a bool array. Two pyarrow-backed string columns are matched with
    pyarrow's ``is_in`` on their arrays: pandas builds the set one Python scalar at a time (about a
    second for 20,000 subject ids), the answer is the same."""
    if isinstance(allowed, pd.Index | pd.Series) and _arrow_strings(values) and _arrow_strings(allowed):
        import pyarrow
        import pyarrow.compute as pc

        col, ref = pyarrow.array(values.array), pyarrow.array(allowed.array)
        if isinstance(ref, pyarrow.ChunkedArray):
            ref = ref.combine_chunks()
        if col.type == ref.type:
            return np.array(pc.is_in(col, value_set=ref), dtype=np.bool_)
    return values.isin(allowed).to_numpy()


def _unknown_sites(s, src) -> list:
    site_ids = s.sites["site_id"].dropna() if len(s.sites) else pd.Series([], dtype=object)
    out = []
    for table in ("screening", "randomization"):
        df = getattr(s, table)
        if len(df) and "site_id" in df and len(site_ids):
            bad = np.flatnonzero(~_isin(df["site_id"], site_ids) & df["site_id"].notna().to_numpy())
            if len(bad):
                out.append(_problem(table, src(table), df.index[bad], "site_id", df["site_id"].iloc[bad],
                                    "site not in the sites table", "add the site to sites, or correct the id"))
    return out


def _randomization_links(s, src) -> list:
    """Randomized subjects must be screened, on the protocol's arms, randomized after screening."""
    rnd = s.randomization
    if not len(rnd):
        return []
    out = []
    scr_ids = pd.Index(s.screening["subject_id"].dropna()) if len(s.screening) else pd.Index([])
    bad = np.flatnonzero(~_isin(rnd["subject_id"], scr_ids))
    if len(bad):
        out.append(_problem("randomization", src("randomization"), rnd.index[bad], "subject_id",
                            rnd["subject_id"].iloc[bad], "randomized subject has no screening record",
                            "add the subject's screening row, or correct the subject_id"))
    arms = set(s.protocol.arm_codes)
    for col in ("arm", "actual_arm"):
        if col in rnd:
            bad = np.flatnonzero((rnd[col].notna() & ~rnd[col].isin(arms)).to_numpy())
            if len(bad):
                out.append(_problem("randomization", src("randomization"), rnd.index[bad], col,
                                    rnd[col].iloc[bad], f"arm not in protocol {s.protocol.id} "
                                    f"({', '.join(sorted(arms))})",
                                    "use the protocol's arm codes, or map them with `values:` in study.yaml"))
    if len(s.screening):
        sd = first_by(s.screening, "subject_id", "screening_date")
        out.append(_date_order(rnd, "randomization", src("randomization"), "screening_date", "randomization_date",
                               "randomization cannot precede screening; check both dates",
                               firsts=rnd["subject_id"].map(sd)))
    return out


def first_by(df: pd.DataFrame, key: str, column: str) -> pd.Series:
    """``column`` of ``df`` indexed by ``key``, the first row of each key: what
    ``df.drop_duplicates(key).set_index(key)[column]`` gives, without copying the whole table."""
    first = ~df[key].duplicated().to_numpy()
    return pd.Series(df[column].array[first], index=pd.Index(df[key].array[first], name=key), name=column)


def _after_randomization(s, src) -> list:
    """Disposition, response and outcome rows belong to randomized subjects and follow randomization."""
    rnd = s.randomization
    rdate = first_by(rnd, "subject_id", "randomization_date") if len(rnd) else None
    rnd_ids = pd.Index(rnd["subject_id"]) if len(rnd) else pd.Index([])
    out = []
    for table in ("disposition", "response", "outcomes"):
        df = getattr(s, table)
        if not len(df):
            continue
        bad = np.flatnonzero(~_isin(df["subject_id"], rnd_ids))
        if len(bad):
            out.append(_problem(table, src(table), df.index[bad], "subject_id", df["subject_id"].iloc[bad],
                                "subject is not in the randomization table",
                                "add the randomization record, or correct the subject_id"))
        if rdate is None:
            continue
        rdates = df["subject_id"].map(rdate)
        for c in [c for c in df.columns if c.endswith("_date") and c not in ("start_date", "lost_to_follow_up_date",
                                                                             "randomization_date")]:
            out.append(_date_order(df, table, src(table), "randomization_date", c,
                                   "events after randomization cannot be dated before it; check both dates",
                                   firsts=rdates))
    return out


def _outcome_times(s, src) -> list:
    o = s.outcomes
    if not len(o):
        return []
    out = [_date_order(o, "outcomes", src("outcomes"), "start_date", "end_date",
                       "the event/censoring date must not precede the time origin")]
    bad = _time_days_differ(o)
    if len(bad):
        expect = (o["end_date"] - o["start_date"]).dt.days + 1
        vals = [f"time_days={o['time_days'].iloc[i]} but dates give {expect.iloc[i]}" for i in bad]
        out.append(_problem("outcomes", src("outcomes"), o.index[bad], "time_days", vals,
                            "time_days disagrees with end_date - start_date + 1",
                            "recompute time_days from the dates (ADaM AVAL = ADT - STARTDT + 1)"))
    return out


def _time_days_differ(o: pd.DataFrame) -> np.ndarray:
    """Positions where time_days is given and differs from end_date - start_date + 1 (both dates given);
    canonical columns are compared as numpy arrays (ten times faster than the Series operations)."""
    start, end, days = o["start_date"], o["end_date"], o["time_days"]
    if start.dtype == end.dtype == "datetime64[ns]" and days.dtype == "Float64":
        s, e = start.to_numpy(), end.to_numpy()
        given = ~np.isnat(s) & ~np.isnat(e) & ~days.array.isna()
        expect = np.where(given, e - s, np.timedelta64(0, "ns")) // np.timedelta64(1, "D") + 1
        return np.flatnonzero(given & (expect != days.to_numpy(dtype=float, na_value=np.nan)))
    both = start.notna() & end.notna()
    expect = (end - start).dt.days + 1
    return np.flatnonzero((both & (expect.astype("Float64") != days)).fillna(False).to_numpy())


def cross_table_problems(study, sources: dict[str, SourceInfo] | None = None) -> pd.DataFrame:
    """Checks that span tables: references, arms, date order, duplicated sites."""
    src = (sources or {}).get
    out = [*_duplicated_sites(study, src), *_unknown_sites(study, src), *_randomization_links(study, src),
           *_after_randomization(study, src), *_outcome_times(study, src), *adverse_event_problems(study, sources)]
    frames = [f for f in out if f is not None and len(f)]
    return pd.concat(frames, ignore_index=True) if frames else no_failures()


# ---- adverse events (issue 11) ------------------------------------------------------------------
def adverse_event_problems(study, sources: dict[str, SourceInfo] | None = None) -> list[pd.DataFrame]:
    """Checks of the ``adverse_events`` table against the others: the subject is randomized, an event
    does not end before it starts, and a grade 5 (death related to the event) has a fatal outcome."""
    ae = getattr(study, "adverse_events", None)
    if ae is None or not len(ae):
        return []
    src = (sources or {}).get("adverse_events")
    out = []
    rnd = study.randomization
    rnd_ids = pd.Index(rnd["subject_id"]) if len(rnd) else pd.Index([])
    bad = np.flatnonzero(~_isin(ae["subject_id"], rnd_ids))
    if len(bad):
        out.append(_problem("adverse_events", src, ae.index[bad], "subject_id", ae["subject_id"].iloc[bad],
                            "subject with an adverse event is not in the randomization table",
                            "add the randomization record, or correct the subject_id"))
    out.append(_date_order(ae, "adverse_events", src, "start_date", "end_date",
                           "an adverse event cannot end before it starts; check both dates"))
    if "grade" in ae and "outcome" in ae:
        outcome = ae["outcome"].astype("string")
        bad = np.flatnonzero((ae["grade"].eq(5) & outcome.notna() & outcome.ne("fatal")).fillna(False).to_numpy())
        if len(bad):
            out.append(_problem("adverse_events", src, ae.index[bad], "outcome", outcome.iloc[bad],
                                "grade 5 (death related to the event) but the outcome is not 'fatal'",
                                "correct the grade (1-4) or set the outcome to 'fatal'"))
    return [f for f in out if f is not None and len(f)]


#: Date columns not checked against the data cut: planned dates and site activation may lie after it.
NOT_CUT_CHECKED = {("sites", "activation_date"), ("screening", "therapy_start_date")}


def data_cut_warnings(study, sources: dict[str, SourceInfo] | None = None) -> pd.DataFrame:
    """Dates after the study's data cut: one warning row per column with the count, the first
    line and its value (screening, randomization, milestones, last contact, events).

    Examples
    --------
    >>> import trialkit as tk
    >>> from trialkit.schemas import data_cut_warnings
    >>> len(data_cut_warnings(tk.load_study("data/demo/b1931036")))
    0
    """
    sources = sources or {}
    cut = study.data_cut_date
    rows = []
    if cut is None:
        return no_failures()
    for table in TABLES:
        df = getattr(study, table)
        for c in columns(table):
            if c.dtype != "datetime" or c.name not in df or (table, c.name) in NOT_CUT_CHECKED:
                continue
            late = _after(df[c.name], cut)
            if not len(late):
                continue
            src = sources.get(table)
            line = _row_numbers(late[:1], src).iloc[0]
            rows.append({"table": table, "file": src.file if src else table, "row": line, "column": c.name,
                         "value": str(df[c.name].iloc[late[0]].date()),
                         "problem": f"{len(late)} date(s) after the data cut {cut.date()}",
                         "fix": "check the dates (or the data_cut_date in study.yaml)"})
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS) if rows else no_failures()


def _after(dates: pd.Series, cut) -> np.ndarray:
    """Positions of the dates after ``cut`` (numpy dates compared as an array: ten times faster)."""
    if dates.dtype == "datetime64[ns]" and isinstance(cut, pd.Timestamp) and cut.tzinfo is None and \
            pd.Timestamp.min <= cut <= pd.Timestamp.max:
        return np.flatnonzero(dates.to_numpy() > cut.as_unit("ns").to_datetime64())
    return np.flatnonzero((dates > cut).fillna(False).to_numpy())


def study_problems(study, sources: dict[str, SourceInfo] | None = None) -> pd.DataFrame:
    """Every problem of a study (table schemas, then cross-table checks) as one frame."""
    sources = sources or {}
    frames = []
    for t in TABLES:
        df = getattr(study, t)
        if t in REQUIRED_TABLES and not len(df) and t == "screening":
            frames.append(pd.DataFrame([{"table": t, "file": sources.get(t, SourceInfo(t)).file, "row": np.nan,
                                         "column": "", "value": "", "problem": "the table is empty",
                                         "fix": f"provide a {t} file with at least one row"}]))
        frames.append(validate_table(df, t, source=sources.get(t)))
    try:
        frames.append(cross_table_problems(study, sources))
    except (TypeError, ValueError, AttributeError, KeyError):
        # a table with wrong dtypes or missing key columns has already been reported above;
        # cross-table checks run again once it is fixed.
        pass
    frames = [f for f in frames if len(f)]
    if not frames:
        return no_failures()
    return pd.concat(frames, ignore_index=True)[FAILURE_COLUMNS]


def validate_study(data, *, sources: dict[str, SourceInfo] | None = None):
    """Validate every table of a Study and the links between them; return it or raise one error.

    Raises
    ------
    DataValidationError
        Carrying ``failure_cases`` (table, file, row, column, value, problem, fix) for *every*
        problem found.
    UsageError
        ``data`` is not a Study (load a folder with :func:`trialkit.load_study`, which validates it).
    """
    from .study import Study

    if not isinstance(data, Study):
        raise UsageError(f"validate_study needs a Study, got {type(data).__name__}; a folder is validated by "
                         "trialkit.load_study(path).")
    problems = study_problems(data, sources)
    if len(problems):
        raise DataValidationError(problems, source=data.source or None)
    return data
