"""Read and write study folders of flat files (CSV, Parquet, Excel).

A study folder holds one file per canonical table — ``sites``, ``screening``, ``randomization``,
``disposition``, ``response``, ``outcomes`` — as ``<table>.csv``, ``.tsv``, ``.txt``, ``.parquet``,
``.xlsx`` or ``.xls``, and an optional ``study.yaml``::

    protocol: b1931036            # id of a known protocol, or a path to a protocol YAML file
    tables:                       # file names when they differ from <table>.<ext>
      screening: Screening_Log_2026-10-01.csv
    columns:                      # source column -> canonical column, per table
      screening: {PATIENT_NO: subject_id, "Date of screening": screening_date}
    values:                       # recode values of a column, per table
      randomization: {arm: {"Inotuzumab ozogamicin": InO, "ALL R3": ALLR3}}
    date_format: "%d.%m.%Y"       # strftime format of non-ISO dates (global, per table or per column)
    date_order: dmy               # day/month order (default: inferred per column from the values)
    decimal: ","                  # decimal mark (default: inferred per column from the values)
    encoding: cp1252              # default: detected (UTF-8 with or without BOM, UTF-16 BOM, else cp1252)
    na_values: ["", NA, ND]       # tokens read as missing (replaces the default list)
    sheet: Data                   # worksheet of Excel files (name, or position from 1)
    partial_dates: first          # impute missing day/month of ISO partial dates: first|middle|last
    data_cut_date: 2026-10-01

Every key, its type and allowed values: :data:`trialkit.conventions.KEYS` and docs/data-model.md;
a wrong ``study.yaml`` is one :class:`~trialkit.errors.ConfigError` listing every problem.

Real exports vary, and loading them must not lose a row or change a value: encodings, ``;`` or
``,`` delimited files with either decimal mark (decided per column), dates in one day/month order
per column, ISO 8601 dates of partial precision (``2023-05``, ``2023``; imputed and noted),
Excel serial dates, missing-value tokens (counted per column in ``Study.notes``). A value that
cannot be read is a problem naming its file, line and column; it is never silently turned into a
missing value.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..conventions import NA_TOKENS
from ..errors import (
    FAILURE_COLUMNS,
    DataValidationError,
    StudyFolderError,
    StudyPathError,
    TrialkitWarning,
    no_failures,
)
from ..model import TABLES, Column, columns, empty_table, pandas_dtype
from ..schemas import SourceInfo, data_cut_warnings, first_by, study_problems
from ..study import Study
from .config import StudyConfig, closest, read_config
from .files import EXTENSIONS, FileProblem, RawTable, decode_bytes, read_raw, sniff_delimiter
from .values import EXCEL_EPOCH, STRING, ReadSettings, missing_mask, missing_masks, read_values, text_view

__all__ = ["load_study", "load_table", "write_study", "read_table_file", "coerce_table", "coerce_column", "parse_dates",
           "decode_bytes", "sniff_delimiter", "STRING", "EXCEL_EPOCH", "NA_TOKENS"]


# --------------------------------------------------------------------------------------------
# one column, one table
# --------------------------------------------------------------------------------------------
def _settings(cfg: StudyConfig, table: str, column: str, kind: str) -> ReadSettings:
    na = cfg.setting("na_values", table, column)
    return ReadSettings(decimal=cfg.setting("decimal", table, column),
                        date_format=cfg.setting("date_format", table, column),
                        date_order=cfg.date_order(table, column),
                        partial=cfg.setting("partial_dates", table) or "first",
                        na_values=tuple(na) if na is not None else NA_TOKENS, kind=kind,
                        declared=cfg.file)


def coerce_column(values: pd.Series, col: Column, *, decimal: str | None = None, date_format: str | None = None,
                  dayfirst: bool | None = None, partial: str = "first", kind: str = "text"
                  ) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Coerce raw values to a canonical column's dtype: ``(values, failed mask, imputed-date mask)``.

    A value that cannot be read (or whose decimal mark or day/month order the column cannot
    decide) is missing in ``values`` and True in ``failed``.
    """
    values = _series(values)
    _check_arguments(decimal=decimal, date_format=date_format, partial_dates=partial, dayfirst=dayfirst)
    settings = ReadSettings(decimal=decimal, date_format=date_format, partial=partial, kind=kind,
                            date_order=None if dayfirst is None else ("dmy" if dayfirst else "mdy"))
    res = read_values(values, col.dtype, settings, column=col.name, allowed=col.allowed)
    imputed = res.imputed if res.imputed is not None else np.zeros(len(values), bool)
    return res.values, pd.Series(res.failed(), index=values.index), pd.Series(imputed, index=values.index)


def _series(values) -> pd.Series:
    """A Series from a Series, list, tuple or 1-d array; :class:`InputTypeError` otherwise."""
    from ..errors import InputTypeError

    if isinstance(values, pd.Series):
        return values
    if isinstance(values, list | tuple) or (isinstance(values, np.ndarray) and values.ndim == 1):
        return pd.Series(values, dtype=object)
    raise InputTypeError(f"give the values as a pandas Series (or a list), not a {type(values).__name__}.")


def _check_arguments(**given) -> None:
    """The reading settings given as arguments, checked as study.yaml's are (:class:`UsageError`)."""
    from ..errors import UsageError
    from .config import _Checker

    checker = _Checker({}, {}, None, "arguments")
    for name, value in given.items():
        if value is not None:
            checker.leaf(name, (name,), value)
    if checker.problems:
        p = checker.problems[0]
        raise UsageError(f"{p['column']}={p['value']!r}: {p['problem']} ({p['fix']}).")


def parse_dates(values: pd.Series, *, date_format: str | None = None, dayfirst: bool | None = None,
                partial: str = "first") -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse a column of dates of mixed precision: ``(dates, failed, imputed)``.

    ISO 8601 (``2023-07-17``, ``2023-07``, ``2023``: partial dates imputed to the ``first``,
    ``middle`` or ``last`` day of the period), day/month/year with one order per column (decided by
    a value such as ``17/07/2023``, by ``dayfirst``, or else not read), month names, Excel serial
    day numbers (45000 = 2023-03-15, Excel's 1900 date system).
    """
    dates, failed, imputed = coerce_column(values, Column("date", "datetime", ""), date_format=date_format,
                                           dayfirst=dayfirst, partial=partial, kind="excel")
    return dates.astype("datetime64[ns]"), failed, imputed


def _positions_to_lines(pos: np.ndarray, lines: np.ndarray | None, row_base: int) -> np.ndarray:
    return lines[pos] if lines is not None else pos + row_base


def _map_columns(df: pd.DataFrame, table: str, file: str, cfg: StudyConfig, problems: list, notes: list
                 ) -> pd.DataFrame:
    """Apply ``columns:`` (each source must be a header) and the spelling-only renames."""
    mapping = cfg.columns_map(table)
    headers = [str(c) for c in df.columns]
    for src, tgt in mapping.items():
        if src not in df.columns:
            hit = closest(src, headers)
            fix = (f"the closest header is {hit[0]!r}: correct the name in {cfg.file}" if hit else
                   f"the headers are: {', '.join(map(repr, headers[:15]))}{' …' if len(headers) > 15 else ''}")
            problems.append(_row(table, cfg.file, cfg.line("columns", table, src), f"columns.{table}.{src}", src,
                                 f"`{src}` (mapped to `{tgt}`) is not a column of {file}", fix))
    canon_names = {c.name for c in columns(table)}
    rename = {}
    for c in df.columns:
        if c in mapping:
            rename[c] = mapping[c]
            continue
        norm = re.sub(r"[^0-9a-z]+", "_", str(c).strip().lower()).strip("_")
        if norm in canon_names and norm != c and norm not in mapping.values():
            rename[c] = norm
            notes.append(f"{file}: column {str(c)!r} read as `{norm}`")
    return df.rename(columns=rename, copy=False) if rename else df


def _recode(df: pd.DataFrame, table: str, file: str, cfg: StudyConfig, notes: list) -> pd.DataFrame:
    """Apply ``values:`` on the trimmed text; a source value that never occurs is noted."""
    for col, recode in cfg.values_map(table).items():
        if col not in df:
            notes.append(f"{cfg.file}: `values` for {table}.{col}, but {file} has no column `{col}`")
            continue
        text = pd.Series(pd.arrays.ArrowStringArray(text_view(df[col])), index=df.index).str.strip()
        hits = text.isin(list(recode))
        seen = set(text[hits].unique()) if hits.any() else set()
        for src in recode:
            if src not in seen:
                notes.append(f"{cfg.file}: `values` for {table}.{col} maps {src!r}, which never occurs in {file}")
        if hits.any():
            mapped = text.map(lambda v, r=recode: r.get(v, v) if isinstance(v, str) else v)
            to_missing = int(text[hits].map(lambda v, r=recode: r[v] is None).sum())
            if to_missing:
                notes.append(f"{file}: `{col}`: {to_missing} value(s) read as missing by `values:`")
            df = df.assign(**{col: df[col].astype(object).where(~hits.to_numpy(), mapped)})
    return df


def _issue_rows(res, raw_values: pd.Series, table: str, file: str, column: str, lines, row_base) -> list:
    out = []
    for issue in res.issues:
        if not issue.report or not len(issue.positions):
            continue
        pos = issue.positions if issue.per_row else issue.positions[:1]
        vals = raw_values.iloc[pos].astype(str).to_numpy()
        out.append(pd.DataFrame({"table": table, "file": file, "row": _positions_to_lines(pos, lines, row_base),
                                 "column": column, "value": vals, "problem": issue.problem, "fix": issue.fix}))
    return out


def _required_missing(table: str, file: str, col: Column, headers: list[str], cfg: StudyConfig) -> pd.DataFrame:
    hit = closest(col.name, headers)
    near = f"; the closest header is {hit[0]!r}" if hit else ""
    return pd.DataFrame([_row(table, file, np.nan, col.name, "", "required column is missing",
                              f"add column `{col.name}` to {file}, or map your column to it under "
                              f"`columns: {{{table}: {{YOUR_NAME: {col.name}}}}}` in {cfg.file}{near}")])


def coerce_table(df: pd.DataFrame, table: str, *, file: str, row_base: int = 2, lines: np.ndarray | None = None,
                 config: StudyConfig | None = None, kind: str = "text", decimal: str | None = None,
                 date_format: str | None = None, dayfirst: bool | None = None, partial: str = "first",
                 columns_map: dict | None = None, values_map: dict | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Rename, recode and coerce a raw frame to the canonical table.

    Returns ``(table_frame, problems, notes)``. Every input row is kept (row order preserved); a
    value that cannot be read is set missing *and* reported in ``problems`` at its line
    (``lines[i]`` for record ``i``, else ``i + row_base``). ``config`` gives the settings of
    ``study.yaml``; without it the keyword arguments do.
    """
    if not isinstance(df, pd.DataFrame):
        from ..errors import InputTypeError

        raise InputTypeError(f"coerce_table needs a pandas DataFrame, not a {type(df).__name__}.")
    canon, probs, notes, _ = _coerce_table(df, table, file=file, row_base=row_base, lines=lines, config=config,
                                           kind=kind, decimal=decimal, date_format=date_format, dayfirst=dayfirst,
                                           partial=partial, columns_map=columns_map, values_map=values_map)
    return canon, probs, notes


def _coerce_table(df, table, *, file, row_base, lines, config, kind, decimal, date_format, dayfirst, partial,
                  columns_map, values_map, header_line=None):
    """:func:`coerce_table`, also returning the set of ``(line, column)`` whose value was not read."""
    if config is None:
        _check_arguments(decimal=decimal, date_format=date_format, partial_dates=partial, dayfirst=dayfirst)
    cfg = config or StudyConfig(data={k: v for k, v in {
        "decimal": decimal, "date_format": date_format, "dayfirst": dayfirst, "partial_dates": partial,
        "columns": {table: columns_map} if columns_map else None,
        "values": {table: values_map} if values_map else None}.items() if v is not None})
    notes: list[str] = []
    problems: list[pd.DataFrame] = []
    if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1):
        df = df.reset_index(drop=True)  # (a deep copy in pandas 2: only when needed)
    rows: list[dict] = []
    unread: set = set()
    headers = [str(c) for c in df.columns]
    df = _map_columns(df, table, file, cfg, rows, notes)
    canon_names = {c.name for c in columns(table)}
    dupes = df.columns[df.columns.duplicated()].unique().tolist()
    for d in dupes:
        rows.append(_duplicate_row(d, [h for h, c in zip(headers, df.columns) if c == d], table, file, header_line,
                                   cfg))
    if dupes:
        df = df.loc[:, ~df.columns.duplicated()]
    df = _recode(df, table, file, cfg, notes)
    out = {}
    n = len(df)
    missing = _text_missing(df, table, cfg)
    for col in columns(table):
        if col.name not in df:
            if col.required:
                problems.append(_required_missing(table, file, col, headers, cfg))
            out[col.name] = _all_missing(col, n)
            continue
        out[col.name] = _read_column(df[col.name], col, table, file, cfg, kind, (lines, row_base), problems, notes,
                                     unread, missing.get(col.name))
    for c in [c for c in df.columns if c not in canon_names]:
        out[c] = _extra_column(df[c], table, file, c, cfg, notes)
    # from the arrays (aligned: all numbered 0, 1, …), three times faster than from Series, the extra
    # columns too (adding them one by one copies each); no consolidation copy: one block per column
    canon = pd.DataFrame({k: v.array if isinstance(v, pd.Series) else v for k, v in out.items()}, copy=False)
    if rows:
        problems.insert(0, pd.DataFrame(rows))
    probs = pd.concat(problems, ignore_index=True) if problems else no_failures()
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # the string kernels' temporaries go back to the system
    return canon, probs, notes, unread


def _text_missing(df: pd.DataFrame, table: str, cfg: StudyConfig) -> dict:
    """The :func:`~trialkit.io.values.missing_mask` of each canonical text column of ``df`` (arrow
    strings, as read from CSV), found for all the columns of the same missing-value tokens at once:
    ``{column: (trimmed text, missing mask, token counts)}``."""
    if not len(df):
        return {}
    groups: dict = {}
    present = set(df.columns)
    for col in columns(table):
        if col.name not in present:
            continue
        values = df[col.name]
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
            text = text_view(values)
            na = cfg.setting("na_values", table, col.name)
            key = (tuple(na) if na is not None else NA_TOKENS, text.type)
            groups.setdefault(key, []).append((col.name, text))
    found = {}
    for (tokens, _), named in groups.items():
        found.update(zip([c for c, _ in named], missing_masks([t for _, t in named], tokens)))
    return found


def _all_missing(col: Column, n: int):
    """``n`` missing values in the canonical dtype of ``col``: the array ``pd.Series(pd.NA, dtype=…)``
    holds, repeated from one cached value (five times faster)."""
    return _one_missing(pd.StringDtype() if col.dtype == "string" else pandas_dtype(col)).repeat(n)


@functools.cache
def _one_missing(dtype):
    """One missing value of ``dtype`` (the string dtype is given resolved: its storage follows pandas' option)."""
    return pd.Series(pd.NaT if dtype == "datetime64[ns]" else pd.NA, index=range(1), dtype=dtype).array


def _duplicate_row(name: str, sources: list[str], table: str, file: str, header_line, cfg: StudyConfig) -> dict:
    """Two or more headers that read as the same canonical column (``Site_ID`` and ``site_id``, or a
    ``columns:`` source and a header already named like its target): one problem at the header."""
    from ..errors import truncate

    mapped = [s for s in sources if s in cfg.columns_map(table)]
    via = f", or correct `columns:` in {cfg.file}" if mapped else ""
    names = ", ".join(repr(truncate(s, 40)) for s in sources)
    return _row(table, file, header_line, name, names, f"{len(sources)} columns read as `{name}` ({names}); only "
                "the first would be read", f"rename or delete all but one of them{via}")


def _read_column(values: pd.Series, col: Column, table, file, cfg, kind, where, problems, notes, unread,
                 missing=None):
    lines, row_base = where
    if col.dtype != "string" and str(values.dtype) == pandas_dtype(col) and \
            cfg.setting("na_values", table, col.name) is None:
        return values  # typed source (Parquet) already in the canonical dtype
    settings = _settings(cfg, table, col.name, kind)
    try:
        res = read_values(values, col.dtype, settings, file=file, column=col.name, allowed=col.allowed,
                          missing=missing)
    except (TypeError, ValueError, OverflowError, ArithmeticError) as exc:  # an exotic physical type
        problems.append(pd.DataFrame([_row(table, file, np.nan, col.name, str(values.dtype),
                                           f"column cannot be read as {col.dtype} ({type(exc).__name__})",
                                           "store the column as text or as the canonical type")]))
        return pd.Series(pd.NA if col.dtype != "datetime" else pd.NaT, index=values.index, dtype=pandas_dtype(col))
    problems.extend(_issue_rows(res, values, table, file, col.name, lines, row_base))
    failed = np.flatnonzero(res.failed())
    unread.update((int(x), col.name) for x in _positions_to_lines(failed, lines, row_base))
    notes.extend(res.notes)
    if res.imputed is not None and res.imputed.any():
        notes.append(f"{file}: {int(res.imputed.sum())} partial date(s) in `{col.name}` imputed to the "
                     f"{settings.partial} day of the period")
    return res.values


def _extra_column(values: pd.Series, table: str, file: str, name: str, cfg: StudyConfig, notes: list) -> pd.Series:
    """A column that is not canonical (e.g. a stratification factor): trimmed text, tokens as missing."""
    if not (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
        return values
    na = cfg.setting("na_values", table, name)
    text, mask, counts = missing_mask(text_view(values), tuple(na) if na is not None else NA_TOKENS)
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.if_else(pa.chunked_array([pa.array(mask)]), pa.scalar(None, pa.string()), text)
    notes.extend(f"{file}: `{name}`: {k} value(s) {tok!r} read as missing" for tok, k in counts.items())
    return pd.Series(pd.arrays.ArrowStringArray(text), index=values.index)


def _row(table, file, line, column, value, problem, fix) -> dict:
    return {"table": table, "file": file, "row": np.nan if line is None else line, "column": column,
            "value": value, "problem": problem, "fix": fix}


# --------------------------------------------------------------------------------------------
# files and study folders
# --------------------------------------------------------------------------------------------
def read_table_file(path: str | os.PathLike, *, encoding: str | None = None, sheet: str | int | None = None,
                    table: str = "table") -> tuple[pd.DataFrame, dict]:
    """Read one file into a frame of raw values: ``(frame, info)``, info holding the ``lines`` of
    the records, the ``kind`` of file, the ``encoding`` and the ``problems`` found (file, line).

    Raises :class:`~trialkit.errors.DataValidationError` when the file cannot be read at all.
    """
    import codecs

    from ..errors import UsageError

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file.")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise UsageError(f"unknown encoding {encoding!r}; give a Python codec name such as 'cp1252'.") from None
    try:
        raw = read_raw(path, table=table, encoding=encoding, sheet=sheet)
    except FileProblem as p:
        raise DataValidationError(pd.DataFrame([_row(table, path.name, p.line, "", p.value, p.problem, p.fix)]),
                                  source=str(path)) from None
    except OSError as exc:
        raise DataValidationError(pd.DataFrame([_row(table, path.name, None, "", "", f"cannot be read "
                                                     f"({exc.strerror})", "check the file's permissions")]),
                                  source=str(path)) from None
    info = {"file": path.name, "lines": raw.lines, "kind": raw.kind, "encoding": raw.encoding,
            "problems": pd.DataFrame(raw.problems, columns=FAILURE_COLUMNS), "notes": raw.notes,
            "row_base": 1 if raw.kind == "parquet" else 2}
    return raw.frame, info


def _find_file(folder: Path, table: str, cfg: StudyConfig) -> Path | None:
    named = cfg.table_file(table)
    if named:
        return folder / named
    found = [folder / f"{table}{ext}" for ext in EXTENSIONS if (folder / f"{table}{ext}").exists()]
    if len(found) > 1:
        raise StudyFolderError(f"{folder}: more than one file for table {table!r} "
                               f"({', '.join(p.name for p in found)}); keep one or name it in study.yaml.")
    return found[0] if found else None


def _expected_headers(table: str, cfg: StudyConfig) -> set[str]:
    return {c.name for c in columns(table)} | set(cfg.columns_map(table))


def _read_one(folder: Path, table: str, cfg: StudyConfig) -> tuple[pd.DataFrame | None, RawTable | None, list]:
    """Read and coerce one table: ``(canonical frame or None, raw, [problem frames])``; ``raw.unread``
    holds the ``(line, column)`` of the values that could not be read."""
    f = _find_file(folder, table, cfg)
    if f is None:
        if table in ("sites", "screening"):
            return None, None, [pd.DataFrame([_row(table, f"{table}.csv", None, "", "", "file is missing",
                                                   f"add {table}.csv (or .parquet/.xlsx) to {folder}")])]
        return None, None, []
    try:
        raw = read_raw(f, table=table, encoding=cfg.setting("encoding", table), sheet=cfg.setting("sheet", table),
                       expected=_expected_headers(table, cfg))
    except FileProblem as p:
        return None, None, [pd.DataFrame([_row(table, f.name, p.line, "", p.value, p.problem, p.fix)])]
    except OSError as exc:
        return None, None, [pd.DataFrame([_row(table, f.name, None, "", "", f"cannot be read ({exc.strerror})",
                                               "check the file's permissions")])]
    canon, probs, tnotes, raw.unread = _coerce_table(
        raw.frame, table, file=f.name, row_base=2, lines=raw.lines, config=cfg, kind=raw.kind, decimal=None,
        date_format=None, dayfirst=None, partial="first", columns_map=None, values_map=None,
        header_line=raw.header_line)
    if raw.bad_lines and len(probs):  # values of a record that does not line up were reported with it
        probs = probs[~probs["row"].isin(raw.bad_lines)]
    raw.notes.extend(tnotes)
    raw.frame = None  # the raw values are no longer needed
    frames = [pd.DataFrame(raw.problems, columns=FAILURE_COLUMNS)] if raw.problems else []
    return canon, raw, frames + ([probs] if len(probs) else [])


def _folder(path) -> Path:
    from ..errors import InputTypeError

    if not isinstance(path, str | os.PathLike):
        raise InputTypeError(f"give the study folder as a path (str or pathlib.Path), not a {type(path).__name__}.")
    folder = Path(path)
    if not folder.is_dir():
        raise StudyPathError(f"{folder} is not a folder; give the folder that holds sites.csv, screening.csv, …")
    return folder


def load_table(path: str | os.PathLike, table: str, *, protocol: str | None = None):
    """One canonical table of a study folder, read with the folder's ``study.yaml``.

    Raises :class:`~trialkit.errors.DataValidationError` when the table's file has problems
    (cross-table checks are not run: use :func:`load_study` for those).

    Examples
    --------
    >>> import trialkit as tk
    >>> from trialkit.io.flatfile import load_table
    >>> len(load_table("data/demo/b1931036", "sites"))
    72
    """
    from ..errors import UsageError
    from ..schemas import validate_table

    if table not in TABLES:
        raise UsageError(f"unknown table {table!r}; the canonical tables are {', '.join(TABLES)}.")
    folder = _folder(path)
    cfg = read_config(folder, protocol=protocol)
    canon, raw, problems = _read_one(folder, table, cfg)
    if canon is None:
        canon = empty_table(table)
    else:
        problems.append(validate_table(canon, table, source=SourceInfo(raw.file, lines=raw.lines)))
    problems = [p for p in problems if len(p)]
    if problems:
        raise DataValidationError(pd.concat(problems, ignore_index=True), source=str(folder))
    return canon


def load_study(path: str | os.PathLike, *, protocol: str | None = None, validate: bool = True) -> Study:
    """Load a study folder into a validated :class:`~trialkit.study.Study`.

    Parameters
    ----------
    path : str or path-like
        The folder (see the module docstring for its layout and ``study.yaml``).
    protocol : str, optional
        Protocol id, overriding ``study.yaml``'s ``protocol:``.
    validate : bool, default True
        Validate lazily and raise one :class:`~trialkit.errors.DataValidationError` listing every
        problem. With ``False`` the study is returned as read: values that could not be read are
        missing, and ``study.notes`` says how many per file (list them with
        :func:`trialkit.validate_study` or ``trialkit validate``).

    Raises
    ------
    StudyPathError
        ``path`` is not a folder.
    ConfigError
        ``study.yaml`` is wrong (every problem, with its line and key).
    DataValidationError
        The data break the canonical model (every problem, with file, line and column).

    Notes
    -----
    Dates after ``data_cut_date`` are warnings, not errors: they are listed in ``study.notes``
    (one line per column with the count) and raised as a :class:`~trialkit.errors.TrialkitWarning`.

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_study("data/demo/b1931036")
    >>> study.protocol.ratio
    {'ALLR3': 1, 'InO': 2}
    """
    folder = _folder(path)
    cfg = read_config(folder, protocol=protocol)
    frames, sources, notes, problems, skip = {}, {}, [], [], {}
    for table in TABLES:
        canon, raw, probs = _read_one(folder, table, cfg)
        problems += probs
        if canon is None:
            frames[table] = empty_table(table)
            continue
        frames[table] = canon
        sources[table] = SourceInfo(raw.file, 1 if raw.kind == "parquet" else 2, lines=raw.lines)
        notes += raw.notes
        absent = {c for p in probs for c in p.loc[p["problem"] == "required column is missing", "column"]}
        skip[sources[table].file] = (raw.bad_lines, raw.unread, absent)
        if not validate and probs:
            n = sum(len(p) for p in probs)
            notes.append(f"{sources[table].file}: {n} problem(s) found while reading (unreadable values are "
                         "missing); list them with trialkit.validate_study or `trialkit validate`")
    cut = cfg.setting("data_cut_date")
    study = Study(protocol=cfg.protocol, **frames, source=str(folder), notes=tuple(notes),
                  data_cut_date=pd.Timestamp(cut) if cut else None)
    study = _fill_derived(study)
    late = data_cut_warnings(study, sources)
    if len(late):
        study = study.replace(notes=study.notes + tuple(f"warning: {w}" for w in _describe_warnings(late)))
    if validate:
        problems.append(_without_consequences(study_problems(study, sources), skip))
        problems = [p for p in problems if len(p)]
        if problems:
            raise DataValidationError(pd.concat(problems, ignore_index=True), source=str(folder), warnings=late)
    if len(late):
        warnings.warn(TrialkitWarning(f"{len(late)} column(s) hold dates after the data cut "
                                      f"{study.data_cut_date.date()}; see study.notes"), stacklevel=2)
    return study


def _without_consequences(frame: pd.DataFrame, skip: dict) -> pd.DataFrame:
    """Drop the schema's findings that only repeat a reading problem: anything on a record whose
    fields do not line up with the header, and "empty value" where a value was there but unreadable
    or where the whole column is missing (reported once)."""
    if not len(frame) or not skip:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    for i, rec in enumerate(frame.itertuples(index=False)):
        bad, unread, absent = skip.get(rec.file, (set(), set(), set()))
        if rec.row != rec.row:
            continue
        line, empty = int(rec.row), str(rec.problem).startswith("empty value")
        if line in bad or (empty and ((line, rec.column) in unread or rec.column in absent)):
            keep[i] = False
    return frame[keep]


def _describe_warnings(late: pd.DataFrame) -> list[str]:
    out = []
    for rec in late.itertuples(index=False):
        where = "" if pd.isna(rec.row) else f" (first on line {int(rec.row)}: {rec.value})"
        out.append(f"{rec.file}: `{rec.column}`: {rec.problem}{where}")
    return out


def _fill_derived(study: Study) -> Study:
    """Fill columns a loader can derive without judgement: screening country from the sites table."""
    scr = study.screening
    if len(scr) and len(study.sites) and scr["country"].isna().any():
        country = first_by(study.sites, "site_id", "country")
        filled = scr["country"].fillna(scr["site_id"].map(country)).astype("string")
        scr = scr.copy(deep=False)  # (the frame of a study being built: assign's deep copy of every column is not needed)
        scr["country"] = filled
        study = study.replace(screening=scr)
    return study


def write_study(data: Study, path: str | os.PathLike, *, format: str = "csv") -> list[Path]:
    """Write a study as a folder of files plus ``study.yaml``; returns the paths written.

    ``format`` is ``csv`` (UTF-8, ISO dates, through :func:`trialkit.io.export.write_table`) or
    ``parquet``. Empty tables are written too, so the folder always has every table. A text cell a
    spreadsheet would run as a formula is written with a leading ``'`` in CSV, with a
    :class:`~trialkit.errors.TrialkitWarning` giving the count (such a value reads back with it).
    """
    from ..errors import UsageError
    from .export import neutralize, write_table

    if format not in ("csv", "parquet"):
        raise UsageError(f"format must be 'csv' or 'parquet', not {format!r}")
    if not isinstance(data, Study):
        raise UsageError(f"write_study needs a Study, got {type(data).__name__}.")
    study = data
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table, df in study.tables().items():
        if format == "parquet":
            p = folder / f"{table}.parquet"
            df.to_parquet(p, index=False)
        else:
            _, counts = neutralize(df)
            if counts:
                warnings.warn(TrialkitWarning(f"{table}: {sum(counts.values())} text cell(s) beginning with =, +, -, "
                                              f"@, tab or CR written with a leading ' ({', '.join(counts)})"),
                              stacklevel=2)
            p = write_table(df, folder / f"{table}.csv", date_format="%Y-%m-%d", lineterminator="\n")
        written.append(p)
    cfg = {"protocol": study.protocol.id}
    if study.data_cut_date is not None:
        cfg["data_cut_date"] = study.data_cut_date.date().isoformat()
    y = folder / "study.yaml"
    y.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return [*written, y]
