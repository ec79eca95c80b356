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
    date_format: "%d.%m.%Y"       # strftime format of dates (default: ISO 8601, partial allowed)
    dayfirst: true                # for non-ISO dates without an explicit format
    decimal: ","                  # decimal mark (default: "," for ;-delimited files, else ".")
    encoding: cp1252              # default: detected (UTF-8 with or without BOM, else cp1252)
    partial_dates: first          # impute missing day/month of ISO partial dates: first|middle|last
    data_cut_date: 2026-10-01

Real exports vary, and loading them must not lose a row or a character: encodings (UTF-8 with or
without BOM, cp1252/Latin-1), ``;``-delimited files with decimal commas, ISO 8601 dates of partial
precision (``2023-05``, ``2023``; imputed and reported in ``Study.notes``) and Excel serial dates
(``45000`` = 2023-03-15) are handled. A value that cannot be read becomes a problem in the
validation report with its file, line and column; it is never silently turned into a missing value.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import FAILURE_COLUMNS, DataValidationError, StudyFolderError
from ..model import TABLES, Column, columns, empty_table, pandas_dtype
from ..protocols import get_protocol, load_protocol
from ..protocols import protocols as _known_protocols
from ..schemas import SourceInfo, study_problems
from ..study import Study

__all__ = ["load_study", "write_study", "read_table_file", "coerce_table", "parse_dates"]

EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx", ".xls")
NA_STRINGS = {"", "na", "n/a", "nan", "null", "none", "nd", "unk", "unknown", ".", "-", "missing"}
TRUE_STRINGS = {"true", "t", "yes", "y", "1", "1.0", "ja", "j", "oui", "o", "si", "sí", "sim", "tak", "ano"}
FALSE_STRINGS = {"false", "f", "no", "n", "0", "0.0", "nein", "non", "nie", "ne", "nej", "nei", "não"}
EXCEL_EPOCH = pd.Timestamp("1899-12-30")


# --------------------------------------------------------------------------------------------
# reading raw files
# --------------------------------------------------------------------------------------------
def decode_bytes(raw: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode file bytes; return (text, encoding used). UTF-8 (BOM or not) first, then cp1252."""
    if encoding:
        return raw.decode(encoding), encoding
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str, default: str = ",") -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = text.splitlines()[0] if text else ""
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else default


def read_table_file(path: Path, *, encoding: str | None = None, sheet: str | int | None = None
                    ) -> tuple[pd.DataFrame, dict]:
    """Read one file into a frame of raw values. Returns (frame, info) where info has the
    delimiter, encoding, decimal hint and the row base for line numbers."""
    ext = path.suffix.lower()
    info: dict = {"file": path.name, "row_base": 2}
    if ext in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        info["row_base"] = 1
        strings = {pa.string(): STRING, pa.large_string(): STRING}
        # self_destruct frees each Arrow column as soon as it is converted (lower peak memory)
        df = pq.read_table(path).to_pandas(types_mapper=strings.get, self_destruct=True, split_blocks=True)
        pa.default_memory_pool().release_unused()  # hand the converted Arrow buffers back to the system
        return df, info
    if ext in (".xlsx", ".xls"):
        if ext == ".xlsx":
            from .._optional import require

            require("openpyxl", feature=f"reading {path.name}")
        df = pd.read_excel(path, sheet_name=sheet or 0, dtype=object)
        return df, info
    raw = path.read_bytes()
    text, used = decode_bytes(raw, encoding)
    delim = "\t" if ext == ".tsv" else sniff_delimiter(text)
    info.update(encoding=used, delimiter=delim, decimal="," if delim == ";" else ".")
    df = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False, na_filter=False,
                     skip_blank_lines=True, engine="c")
    df.columns = [str(c).strip() for c in df.columns]
    return df, info


# --------------------------------------------------------------------------------------------
# coercion to canonical dtypes, recording every value that cannot be read
# --------------------------------------------------------------------------------------------
STRING = pd.StringDtype("pyarrow")  # canonical string storage: arrow-backed, prints as "string"


def _to_arrow_strings(values: pd.Series):
    import pyarrow as pa

    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return values.array._pa_array
    if not (isinstance(values.dtype, pd.StringDtype) or values.dtype == object):
        values = values.astype("string")
    obj = values.to_numpy(dtype=object, na_value=None)
    try:
        return pa.chunked_array([pa.array(obj, type=pa.string(), from_pandas=True)])
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed objects (Excel numbers in a text column)
        obj = values.astype("string").to_numpy(dtype=object, na_value=None)
        return pa.chunked_array([pa.array(obj, type=pa.string(), from_pandas=True)])


def _clean_strings(values: pd.Series, allowed: tuple[str, ...] | None = None) -> tuple[pd.Series, pd.Series]:
    """Strip whitespace and turn NA tokens ("", "NA", "unknown", …) into <NA>; with ``allowed``,
    match the allowed values case-insensitively ("f" -> "F"; "female" -> "F" needs `values:`).

    Returns ``(clean arrow-backed string series, na mask)``, computed with pyarrow's vectorized
    string kernels (a million rows in tens of milliseconds).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _to_arrow_strings(values)
    stripped = pc.utf8_trim_whitespace(arr)
    lower = pc.utf8_lower(stripped)
    out = pc.if_else(pc.is_in(lower, value_set=pa.array(sorted(NA_STRINGS))), pa.scalar(None, pa.string()),
                     stripped)
    if allowed:
        keys = pa.array([a.lower() for a in allowed])
        idx = pc.index_in(lower, value_set=keys)
        out = pc.if_else(pc.is_valid(idx), pc.take(pa.array(list(allowed)), idx), out)
    if isinstance(out, pa.Array):
        out = pa.chunked_array([out])
    series = pd.Series(pd.arrays.ArrowStringArray(out.cast(pa.string())), index=values.index)
    return series, series.isna()


def _is_na(s: pd.Series) -> pd.Series:
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        return _clean_strings(s)[1]
    return s.isna()


_ISO_FULL = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_ISO_YEAR = re.compile(r"^(\d{4})$")
_EXCEL_SERIAL = re.compile(r"^\d{4,5}([.,]\d+)?$")


def parse_dates(values: pd.Series, *, date_format: str | None = None, dayfirst: bool = False,
                partial: str = "first") -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse a column of dates of mixed precision.

    Returns ``(dates, failed, imputed)``: the parsed ``datetime64[ns]`` series, a boolean mask of
    non-missing values that could not be read, and a mask of partial ISO dates that were imputed
    (``partial``: ``first`` → 1st of the month / 1 January, ``middle`` → 15th / 1 July, ``last``).
    Excel serial day numbers (e.g. ``45000`` = 2023-03-15) are read with Excel's 1900 date system.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return out.astype("datetime64[ns]"), pd.Series(False, index=values.index), pd.Series(False,
                                                                                          index=values.index)
    na = _is_na(values)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    imputed = pd.Series(False, index=values.index)
    if pd.api.types.is_numeric_dtype(values.dtype):  # Excel serial numbers read as numbers
        ok = ~na
        out[ok] = EXCEL_EPOCH + pd.to_timedelta(values[ok].astype(float), unit="D")
        return out.dt.floor("D"), pd.Series(False, index=values.index), imputed
    s = values.astype("string").str.strip()
    todo = ~na
    if date_format:
        parsed = pd.to_datetime(s.where(todo), format=date_format, errors="coerce")
        out[todo] = parsed[todo]
        todo = todo & out.isna()
    iso = todo & s.str.match(_ISO_FULL).fillna(False)
    if iso.any():
        out[iso] = pd.to_datetime(s[iso].str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
        todo = todo & out.isna()
    month = todo & s.str.match(_ISO_MONTH).fillna(False)
    if month.any():
        first = pd.to_datetime(s[month] + "-01", format="%Y-%m-%d", errors="coerce")
        if partial == "middle":
            first = first + pd.Timedelta(days=14)
        elif partial == "last":
            first = first + pd.offsets.MonthEnd(0)
        out[month] = first
        imputed |= month & out.notna()
        todo = todo & out.isna()
    year = todo & s.str.match(_ISO_YEAR).fillna(False) & s.astype("string").str.len().eq(4)
    year = year & pd.to_numeric(s.where(year), errors="coerce").between(1900, 2100).fillna(False)
    if year.any():
        md = {"first": "-01-01", "middle": "-07-01", "last": "-12-31"}[partial]
        out[year] = pd.to_datetime(s[year] + md, format="%Y-%m-%d", errors="coerce")
        imputed |= year & out.notna()
        todo = todo & out.isna()
    serial = todo & s.str.match(_EXCEL_SERIAL).fillna(False)
    if serial.any():
        days = pd.to_numeric(s[serial].str.replace(",", ".", regex=False), errors="coerce")
        plausible = days.between(1, 80000)
        idx = days[plausible].index
        out[idx] = (EXCEL_EPOCH + pd.to_timedelta(days[plausible], unit="D")).dt.floor("D")
        todo = todo & out.isna()
    if todo.any():  # anything else: let pandas try (e.g. 17/07/2023, 17.07.2023, 2023/07/17)
        rest = pd.to_datetime(s[todo], errors="coerce", dayfirst=dayfirst, format="mixed")
        out[todo] = rest
        todo = todo & out.isna()
    return out, todo, imputed


def _to_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), pd.Series(False, index=values.index)
    na = _is_na(values)
    s = values.astype("string").str.strip().str.lower()
    t, f = s.isin(TRUE_STRINGS), s.isin(FALSE_STRINGS)
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[t.fillna(False)] = True
    out[f.fillna(False)] = False
    failed = ~na & ~t.fillna(False) & ~f.fillna(False)
    return out, failed


def _to_number(values: pd.Series, dtype: str, decimal: str) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        num = values.astype("Float64")
    else:
        na = _is_na(values)
        s = values.astype("string").str.strip()
        if decimal == ",":
            s = s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        else:
            s = s.str.replace(",", "", regex=False).where(~s.str.contains(r"^\d+,\d{1,2}$", na=False),
                                                          s.str.replace(",", ".", regex=False))
        num = pd.to_numeric(s.where(~na), errors="coerce").astype("Float64")
        failed = ~na & num.isna()
        if dtype == "Int64":
            frac = num.notna() & (num != num.round())
            failed = failed | frac.fillna(False)
            num = num.where(~frac)
        return (num.round().astype("Int64") if dtype == "Int64" else num), failed
    failed = pd.Series(False, index=values.index)
    if dtype == "Int64":
        frac = (num.notna() & (num != num.round())).fillna(False)
        return num.where(~frac).round().astype("Int64"), frac
    return num, failed


def coerce_column(values: pd.Series, col: Column, *, decimal: str = ".", date_format: str | None = None,
                  dayfirst: bool = False, partial: str = "first") -> tuple[pd.Series, pd.Series, pd.Series]:
    """Coerce raw values to a canonical column's dtype: (values, failed mask, imputed-date mask)."""
    nofail = pd.Series(False, index=values.index)
    if col.dtype != "string" and str(values.dtype) == pandas_dtype(col):  # typed source (Parquet) already in the canonical dtype
        return values, nofail, nofail
    if col.dtype == "datetime":
        return parse_dates(values, date_format=date_format, dayfirst=dayfirst, partial=partial)
    if col.dtype == "boolean":
        out, failed = _to_bool(values)
        return out, failed, nofail
    if col.dtype in ("Int64", "Float64"):
        out, failed = _to_number(values, col.dtype, decimal)
        return out, failed, nofail
    s, _ = _clean_strings(values, col.allowed)
    return s, nofail, nofail


def coerce_table(df: pd.DataFrame, table: str, *, file: str, row_base: int = 2, decimal: str = ".",
                 date_format: str | None = None, dayfirst: bool = False, partial: str = "first",
                 columns_map: dict | None = None, values_map: dict | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Rename, recode and coerce a raw frame to the canonical table.

    Returns ``(table_frame, problems, notes)``. Every input row is kept (row order preserved); a
    value that cannot be read is set missing *and* reported in ``problems``.
    """
    notes: list[str] = []
    problems: list[pd.DataFrame] = []
    if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1):
        df = df.reset_index(drop=True)  # (a deep copy in pandas 2: only when needed)
    mapping = dict(columns_map or {})
    canon_names = {c.name for c in columns(table)}
    rename = {}
    for c in df.columns:
        if c in mapping:
            rename[c] = mapping[c]
        else:
            norm = re.sub(r"[^0-9a-z]+", "_", str(c).strip().lower()).strip("_")
            if norm in canon_names and norm != c:
                rename[c] = norm
    if rename:
        df = df.rename(columns=rename, copy=False)
    dupes = df.columns[df.columns.duplicated()].unique().tolist()
    if dupes:
        problems.append(pd.DataFrame([{"table": table, "file": file, "row": np.nan, "column": d, "value": "",
                                       "problem": "column appears more than once after mapping",
                                       "fix": "keep one source column per canonical column"} for d in dupes]))
        df = df.loc[:, ~df.columns.duplicated()]
    for col, recode in (values_map or {}).items():
        if col in df:
            df[col] = df[col].map(lambda v, r=recode: r.get(v, v) if isinstance(v, str) else v)
    out = {}
    n = len(df)
    for col in columns(table):
        if col.name not in df:
            if col.required:
                problems.append(pd.DataFrame([{
                    "table": table, "file": file, "row": np.nan, "column": col.name, "value": "",
                    "problem": "required column is missing",
                    "fix": f"add column `{col.name}` to {file}, or map your column to it under "
                           f"`columns: {{{table}: {{YOUR_NAME: {col.name}}}}}` in study.yaml"}]))
            out[col.name] = pd.Series(pd.NA if col.dtype != "datetime" else pd.NaT, index=range(n),
                                      dtype=pandas_dtype(col))
            continue
        vals, failed, imputed = coerce_column(df[col.name], col, decimal=decimal, date_format=date_format,
                                              dayfirst=dayfirst, partial=partial)
        if failed.any():
            pos = np.flatnonzero(failed.to_numpy())
            kind = {"datetime": "not a date (use YYYY-MM-DD or set date_format in study.yaml)",
                    "boolean": "not a yes/no value (use true/false, yes/no, 1/0)",
                    "Int64": "not a whole number", "Float64": "not a number"}.get(col.dtype, "unreadable")
            problems.append(pd.DataFrame({"table": table, "file": file, "row": pos + row_base, "column": col.name,
                                          "value": df[col.name].iloc[pos].astype(str).values,
                                          "problem": f"value is {kind}",
                                          "fix": "correct the value in the source file"}))
        if imputed.any():
            notes.append(f"{file}: {int(imputed.sum())} partial date(s) in `{col.name}` imputed to the "
                         f"{partial} day of the period")
        out[col.name] = vals
    canon = pd.DataFrame(out, copy=False)  # no consolidation copy: one block per column
    extra = [c for c in df.columns if c not in canon_names]
    for c in extra:
        is_text = df[c].dtype == object or isinstance(df[c].dtype, pd.StringDtype)
        canon[c] = _clean_strings(df[c])[0] if is_text else df[c]
    probs = pd.concat(problems, ignore_index=True) if problems else pd.DataFrame(columns=FAILURE_COLUMNS)
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # the string kernels' temporaries go back to the system
    return canon, probs, notes


# --------------------------------------------------------------------------------------------
# study folders
# --------------------------------------------------------------------------------------------
def _read_config(folder: Path) -> dict:
    cfg_path = folder / "study.yaml"
    if not cfg_path.exists():
        return {}
    try:
        cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise StudyFolderError(f"{cfg_path}: not valid YAML ({exc}); fix the file or remove it.") from None
    if not isinstance(cfg, dict):
        raise StudyFolderError(f"{cfg_path}: expected a mapping (key: value lines) at the top level.")
    return cfg


def _find_file(folder: Path, table: str, cfg: dict) -> Path | None:
    named = (cfg.get("tables") or {}).get(table)
    if named:
        p = folder / named
        if not p.exists():
            raise StudyFolderError(f"study.yaml names {named!r} for table {table!r}, but {p} does not exist.")
        return p
    found = [folder / f"{table}{ext}" for ext in EXTENSIONS if (folder / f"{table}{ext}").exists()]
    if len(found) > 1:
        raise StudyFolderError(f"{folder}: more than one file for table {table!r} "
                               f"({', '.join(p.name for p in found)}); keep one or name it in study.yaml.")
    return found[0] if found else None


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
        problem. With ``False`` the study is returned as read, its problems in ``study.problems``
        is not computed (use :func:`trialkit.validate_study`).

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_study("data/demo/b1931036")
    >>> study.protocol.ratio
    {'ALLR3': 1, 'InO': 2}
    """
    folder = Path(path)
    if not folder.is_dir():
        raise StudyFolderError(f"{folder} is not a folder; give the folder that holds sites.csv, screening.csv, …")
    cfg = _read_config(folder)
    pid = protocol or cfg.get("protocol")
    if not pid:
        raise StudyFolderError(f"{folder}: no protocol given; add `protocol: <id>` to study.yaml "
                               f"or pass protocol=… (known: {', '.join(_known_protocols())}).")
    proto = load_protocol(folder / pid) if str(pid).endswith((".yaml", ".yml")) else get_protocol(pid)
    frames, sources, notes, problems = {}, {}, [], []
    for table in TABLES:
        f = _find_file(folder, table, cfg)
        if f is None:
            frames[table] = empty_table(table)
            if table in ("sites", "screening"):
                problems.append(pd.DataFrame([{"table": table, "file": f"{table}.csv", "row": np.nan, "column": "",
                                               "value": "", "problem": "file is missing",
                                               "fix": f"add {table}.csv (or .parquet/.xlsx) to {folder}"}]))
            continue
        try:
            raw, info = read_table_file(f, encoding=cfg.get("encoding"))
        except Exception as exc:  # unreadable file: report, never a traceback
            raise StudyFolderError(f"{f}: cannot be read ({type(exc).__name__}: {exc}).") from None
        decimal = cfg.get("decimal", info.get("decimal", "."))
        canon, probs, tnotes = coerce_table(
            raw, table, file=f.name, row_base=info["row_base"], decimal=decimal,
            date_format=cfg.get("date_format"), dayfirst=bool(cfg.get("dayfirst", False)),
            partial=cfg.get("partial_dates", "first"), columns_map=(cfg.get("columns") or {}).get(table),
            values_map=(cfg.get("values") or {}).get(table))
        if info.get("encoding") not in (None, "utf-8"):
            notes.append(f"{f.name}: read as {info['encoding']}")
        frames[table], sources[table] = canon, SourceInfo(f.name, info["row_base"])
        notes += tnotes
        if len(probs):
            problems.append(probs)
    cut = cfg.get("data_cut_date")
    study = Study(protocol=proto, **frames, source=str(folder), notes=tuple(notes),
                  data_cut_date=pd.Timestamp(cut) if cut else None)
    study = _fill_derived(study)
    if validate:
        problems.append(study_problems(study, sources))
        problems = [p for p in problems if len(p)]
        if problems:
            raise DataValidationError(pd.concat(problems, ignore_index=True), source=str(folder))
    return study


def _fill_derived(study: Study) -> Study:
    """Fill columns a loader can derive without judgement: screening country from the sites table."""
    scr = study.screening
    if len(scr) and len(study.sites) and scr["country"].isna().any():
        country = study.sites.drop_duplicates("site_id").set_index("site_id")["country"]
        scr = scr.assign(country=scr["country"].fillna(scr["site_id"].map(country)).astype("string"))
        study = study.replace(screening=scr)
    return study


def write_study(study: Study, path: str | os.PathLike, *, format: str = "csv") -> list[Path]:
    """Write a study as a folder of files plus ``study.yaml``; returns the paths written.

    ``format`` is ``csv`` (UTF-8, ISO dates) or ``parquet``. Empty tables are written too, so the
    folder always has every table.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table, df in study.tables().items():
        if format == "parquet":
            p = folder / f"{table}.parquet"
            df.to_parquet(p, index=False)
        elif format == "csv":
            p = folder / f"{table}.csv"
            df.to_csv(p, index=False, date_format="%Y-%m-%d", lineterminator="\n")
        else:
            raise ValueError(f"format must be 'csv' or 'parquet', not {format!r}")
        written.append(p)
    cfg = {"protocol": study.protocol.id}
    if study.data_cut_date is not None:
        cfg["data_cut_date"] = study.data_cut_date.date().isoformat()
    y = folder / "study.yaml"
    y.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return [*written, y]
