"""Reading one table file (CSV/TSV, Excel, Parquet) into raw values, with the line of every record.

What comes out is what the file says: text stays text (the dtypes are decided later, per column),
and every record keeps its position in the file **as a text editor shows it** — the header is
line 1, and blank lines and line breaks inside quoted fields count — or its spreadsheet row. A
file that cannot be read, a record with too few or too many fields, a duplicated or empty header,
a NUL byte in a field, undecodable bytes, data on another sheet than the one read: each is a
problem naming the file and the line, never a silent fill, rename or truncation.

Well-formed text files are parsed by pyarrow's multi-threaded reader; a file with anything
unusual (short rows, NUL bytes, quoted line breaks, blank lines inside, lone CR line ends,
malformed quotes) by Python's :mod:`csv` module, which reports each record's line exactly.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import TrialkitError, truncate
from .values import STRING

__all__ = ["RawTable", "read_raw", "decode_bytes", "sniff_delimiter", "EXTENSIONS"]

EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx", ".xlsm", ".xls")
TEXT_EXTENSIONS = (".csv", ".tsv", ".txt")
EXCEL_EXTENSIONS = (".xlsx", ".xlsm", ".xls")
_ENCODING_FIX = ("declare the file's encoding in study.yaml, e.g. `encoding: {{{table}: {enc}}}` (or save the "
                 "file as UTF-8)")


@dataclass
class RawTable:
    """One file's raw values: ``frame`` (one row per record), ``lines`` (the line or row of each
    record), the kind of file (``text``, ``excel``, ``parquet``) and what went wrong."""

    frame: pd.DataFrame
    lines: np.ndarray
    kind: str
    problems: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    encoding: str | None = None
    bad_lines: set = field(default_factory=set)  # records whose fields do not line up with the header
    unread: set = field(default_factory=set)  # (line, column) of values that could not be read
    header_line: int | None = None  # the line (or row) of the header; None for Parquet
    file: str = ""  # the file's name


class FileProblem(TrialkitError):
    """A file cannot be read at all (becomes one problem row; a :class:`~trialkit.errors.TrialkitError`
    for callers of :func:`read_raw` and :func:`decode_bytes`)."""

    def __init__(self, problem: str, fix: str, line: int | None = None, value: str = ""):
        super().__init__(problem)
        self.problem, self.fix, self.line, self.value = problem, fix, line, value


def problem_row(table: str, file: str, line, column: str, value, problem: str, fix: str) -> dict:
    return {"table": table, "file": file, "row": line, "column": column, "value": "" if value is None else value,
            "problem": problem, "fix": fix}


# --------------------------------------------------------------------------------------------
# encodings
# --------------------------------------------------------------------------------------------
def _utf16_guess(raw: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when the bytes look like UTF-16 text without a byte-order mark."""
    head = raw[:4096]
    if len(head) < 4 or head.count(0) < len(head) // 4:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return "utf-16-le" if odd > even else "utf-16-be"


def decode_bytes(raw: bytes, encoding: str | None = None, *, table: str = "TABLE") -> tuple[str, str]:
    """Decode file bytes; return ``(text, encoding used)``.

    Without a declared ``encoding``: a byte-order mark decides (UTF-8, UTF-16), else UTF-8, else
    cp1252. Bytes that look like UTF-16 without a byte-order mark, or that neither UTF-8 nor cp1252
    can decode, raise :class:`FileProblem` naming the line and how to declare ``encoding:``.
    """
    if encoding:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise FileProblem(f"encoding problem: byte 0x{raw[exc.start]:02x} cannot be decoded as {encoding} "
                              "(declared in study.yaml)", "declare the encoding the file was saved in, or save it "
                              "as UTF-8", line) from None
        return (text[1:] if text.startswith("\ufeff") else text), encoding
    if raw.startswith(b"\xef\xbb\xbf"):
        return _strict(raw[3:], "utf-8", table), "utf-8-sig"
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return _strict(raw, "utf-32", table).lstrip("\ufeff"), "utf-32"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict(raw, "utf-16", table).lstrip("\ufeff"), "utf-16"
    guess = _utf16_guess(raw)
    if guess:
        raise FileProblem(f"encoding problem: the file looks like {guess.upper()} text without a byte-order mark",
                          _ENCODING_FIX.format(table=table, enc=guess))
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileProblem(f"encoding problem: byte 0x{raw[exc.start]:02x} is neither UTF-8 nor cp1252 "
                          "(Windows Western European)", _ENCODING_FIX.format(table=table, enc="iso-8859-2"),
                          line) from None


def _strict(raw: bytes, encoding: str, table: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileProblem(f"encoding problem: the file starts with a {encoding} byte-order mark but byte "
                          f"0x{raw[exc.start]:02x} is not {encoding}", _ENCODING_FIX.format(table=table, enc="cp1252"),
                          line) from None


def sniff_delimiter(text: str, default: str = ",") -> str:
    """The field delimiter of CSV text (``,`` ``;`` tab or ``|``)."""
    sample = "\n".join(text[:200_000].splitlines()[:50])
    found = _sniffed(sample) if len(sample) <= 50_000 else _sniff(sample)
    if found is not None:
        return found
    first = text[:200_000].splitlines()[0] if text else ""
    counts = {d: first.count(d) for d in ",;\t|"}
    best = max(counts, key=counts.get)
    return best if counts[best] else default


def _sniff(sample: str) -> str | None:
    """The delimiter :class:`csv.Sniffer` finds in the first lines of a file, None if it finds none."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return None


_sniffed = lru_cache(maxsize=64)(_sniff)  # the sniffer costs about a millisecond; a folder is often read again


# --------------------------------------------------------------------------------------------
# text files
# --------------------------------------------------------------------------------------------
@dataclass
class _Parsed:
    header: list[str]
    columns: list[pa.ChunkedArray]
    lines: np.ndarray
    header_line: int
    problems: list[dict] = field(default_factory=list)
    bad_lines: set = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def _simple_enough(text: str, delim: str) -> bool:
    """True when pyarrow's parser reads the text exactly as Python's csv module would."""
    if "\x00" in text or text.startswith(("\n", "\r")) or text.count("\r") != text.count("\r\n"):
        return False
    if '"' not in text:
        return True
    d = re.escape(delim)
    # a quote that opens a field: at the start of the text or after the delimiter or a line break (the
    # lookbehind follows the quote so that the regex engine scans for the quote alone: fifty times faster)
    opening = rf'"(?<![^{d}\n]")'
    quoted = re.compile(rf'{opening}[^"]*(?:""[^"]*)*"(?=[{d}\r\n]|\Z)')
    rest = quoted.sub("", text)
    return re.search(opening, rest) is None


def _fast_parse(text: str, raw_utf8: bytes | None, delim: str) -> _Parsed | None:
    """pyarrow's reader, or None when the file needs the careful parser (any anomaly)."""
    import pyarrow.csv as pcsv

    first_end = text.find("\n")
    first = text[: first_end if first_end >= 0 else len(text)].rstrip("\r")
    header = next(csv.reader([first], delimiter=delim), [])
    if sum(bool(h.strip()) for h in header) < 2:  # no header, or a title line above it
        return None
    names = [f"c{i}" for i in range(len(header))]
    bad: list = []

    def invalid(row):
        bad.append(row)
        return "skip"

    data = raw_utf8 if raw_utf8 is not None else text.encode("utf-8")
    try:
        tbl = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pcsv.ParseOptions(delimiter=delim, newlines_in_values=False, ignore_empty_lines=True,
                                            invalid_row_handler=invalid),
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                 null_values=[], true_values=[], false_values=[]))
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    if bad:
        return None
    n_phys = text.count("\n") + (0 if text.endswith("\n") else 1)
    ends = [m.start() for m in re.finditer(r"\n(?=\r?\n|\r?\Z)", text)]
    if len(ends) > 1000:
        return None
    empty = np.array([text.count("\n", 0, e) + 2 for e in ends], dtype=np.int64)
    empty = empty[empty <= n_phys]
    lines = np.setdiff1d(np.arange(2, n_phys + 1, dtype=np.int64), empty, assume_unique=True)
    if tbl.num_rows != len(lines):
        return None
    return _Parsed(header, [tbl.column(i) for i in range(len(names))], lines, 1)


def _careful_parse(text: str, delim: str, *, table: str, file: str) -> _Parsed:
    """Python's csv module: each record's first line, short/long rows and NUL bytes reported."""
    problems: list[dict] = []
    try:
        rows, starts = _csv_records(text, delim, strict=True)
    except _CsvError as exc:
        problems.append(problem_row(table, file, exc.line, "", "", f"malformed quoting in the record starting on "
                                    f"this line ({exc.reason})", "a quoted field must end with a quote followed by "
                                    "the delimiter or the end of the line; double a quote inside a quoted field "
                                    "(\"\"); close every opened quote"))
        try:
            rows, starts = _csv_records(text, delim, strict=False)
        except _CsvError as exc2:
            raise FileProblem(f"cannot be parsed as delimited text ({exc2.reason})", "check the quoting of the "
                              "record starting on this line (an unclosed quote swallows the rest of the file)",
                              exc2.line) from None
    keep = [i for i, r in enumerate(rows) if any(f.strip() for f in r)]  # blank lines are not records
    if not keep:
        return _Parsed([], [], np.array([], dtype=np.int64), 1, problems)
    titles = _title_lines(rows, keep)
    notes = []
    if titles:  # as in a spreadsheet: one-value lines above the header are a title, not the header
        shown = ", ".join(repr(truncate(rows[i][0].strip() if len(rows[i]) == 1 else
                                        next(f for f in rows[i] if f.strip()).strip(), 40)) for i in keep[:titles])
        notes.append(f"{file}: the table's header is on line {starts[keep[titles]]}; the title line(s) above it "
                     f"({shown}) were not read")
        keep = keep[titles:]
    header, header_line = rows[keep[0]], starts[keep[0]]
    for j, h in enumerate(header):
        if "\x00" in h:  # a NUL in a name would make the column unknown: its values silently unused
            problems.append(problem_row(table, file, header_line + h[: h.index("\x00")].count("\n"),
                                        f"(column {j + 1})", h.replace("\x00", "\\0"),
                                        "NUL byte (\\0) in the header", "remove the NUL characters from the "
                                        "column name; they are often a sign of a file saved in UTF-16 or a "
                                        "corrupted export"))
    width = len(header)
    body = keep[1:]
    lines = np.array([starts[i] for i in body], dtype=np.int64)
    cols: list[list] = [[] for _ in range(width)]
    bad_lines = set()
    for i in body:
        r, line = rows[i], starts[i]
        if len(r) != width:
            problems.append(_width_problem(table, file, line, r, header))
            bad_lines.add(line)
            r = (r + [""] * width)[:width]
        for j, v in enumerate(r):
            if "\x00" in v:
                problems.append(problem_row(table, file, line + v[: v.index("\x00")].count("\n"), header[j].strip(),
                                            v.replace("\x00", "\\0"), "NUL byte (\\0) in a field",
                                            "remove the NUL characters; they are often a sign of a file saved in "
                                            "UTF-16 or a corrupted export"))
            cols[j].append(v)
    return _Parsed(header, [pa.chunked_array([pa.array(c, type=pa.string())]) for c in cols], lines, header_line,
                   problems, bad_lines, notes)


def _title_lines(rows: list[list[str]], keep: list[int]) -> int:
    """How many records at the top hold one value above a record of two or more (the header); 0 when
    there is no such header among the first 50 records."""
    for k, i in enumerate(keep[:50]):
        if sum(bool(f.strip()) for f in rows[i]) >= 2:
            return k
    return 0


class _CsvError(Exception):
    def __init__(self, reason: str, line: int):
        super().__init__(reason)
        self.reason, self.line = reason, line


def _csv_records(text: str, delim: str, *, strict: bool) -> tuple[list[list[str]], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=strict)
    rows, starts, prev = [], [], 0
    try:
        for row in reader:
            rows.append(row)
            starts.append(prev + 1)
            prev = reader.line_num
    except csv.Error as exc:
        reason = "a quoted field is never closed" if "unexpected end" in str(exc) or "larger than field limit" \
            in str(exc) else str(exc)
        raise _CsvError(reason, prev + 1) from None
    return rows, starts


def _width_problem(table, file, line, row, header) -> dict:
    n, width = len(row), len(header)
    if n < width:
        missing = truncate(", ".join(truncate(h.strip(), 40) or f"(column {k + 1})"
                                     for k, h in enumerate(header[n:], n)), 200)
        return problem_row(table, file, line, header[n].strip() if n < width else "", "",
                           f"the line has {n} field(s), the header {width}: no value for {missing}",
                           "add the missing fields (an empty field is written as nothing between two delimiters)")
    extra = row[width:]
    return problem_row(table, file, line, "", ", ".join(map(repr, extra)),
                       f"the line has {n} field(s), the header {width}: {n - width} extra value(s)",
                       "remove the extra fields, or quote a value that contains the delimiter")


def _read_text(path: Path, *, table: str, encoding: str | None) -> RawTable:
    raw = path.read_bytes()
    if not raw or raw.isspace():
        raise FileProblem("the file is empty", f"export the {table} table again")
    text, used = decode_bytes(raw, encoding, table=table)
    notes = [f"{path.name}: read as {used}"] if used not in ("utf-8", "utf-8-sig") else []
    hint = re.match(r"sep=(.)\r?\n", text)  # Excel's "sep=;" first line: the delimiter, not the header
    if hint:
        notes.append(f"{path.name}: line 1 {hint.group(0).strip()!r} read as the delimiter")
        text = "\n" + text[hint.end():]  # keeps the line numbers
    delim = hint.group(1) if hint else "\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(text)
    parsed = None
    if _simple_enough(text, delim):
        parsed = _fast_parse(text, raw if used == "utf-8" else None, delim)
    if parsed is None:
        parsed = _careful_parse(text, delim, table=table, file=path.name)
    del text
    problems = list(parsed.problems)
    notes += parsed.notes
    for line in _repeated_header(parsed):
        problems.append(problem_row(table, path.name, line, "", "", "the header line is repeated here (two "
                                    "exports joined into one file?)", "delete this line"))
        parsed.bad_lines.add(line)
    frame = _named_frame(parsed.header, parsed.columns, parsed.header_line, table=table, file=path.name,
                         problems=problems)
    return RawTable(frame, parsed.lines, "text", problems, notes, used, parsed.bad_lines,
                    header_line=parsed.header_line)


def _repeated_header(parsed: _Parsed) -> list[int]:
    """Lines of the records that repeat the header (every field equal to its column's name)."""
    named = [(h.strip(), c) for h, c in zip(parsed.header, parsed.columns) if h.strip()]
    if len(named) < 2 or not len(parsed.lines):
        return []
    same = np.ones(len(parsed.lines), dtype=bool)
    for name, col in named:
        same &= np.asarray(pc.fill_null(pc.equal(pc.utf8_trim_whitespace(col), name), False)
                           .to_numpy(zero_copy_only=False), dtype=bool)
        if not same.any():
            return []
    return [int(x) for x in parsed.lines[same]]


def _named_frame(header: list, columns: list, header_line: int, *, table: str, file: str,
                 problems: list[dict]) -> pd.DataFrame:
    """Columns named by the header: duplicated names and nameless columns holding values are problems
    (their values are kept under a marked name, never merged or dropped)."""
    names, seen, data = [], {}, {}
    for j, (h, col) in enumerate(zip(header, columns)):
        name = str(h).strip() if h is not None else ""
        fresh = not isinstance(col, pd.Series)
        if not name:
            if _has_values(pd.Series(pd.arrays.ArrowStringArray(col)) if fresh else col):
                problems.append(problem_row(table, file, header_line, f"(column {j + 1})", "",
                                            f"column {j + 1} has values but no name in the header",
                                            "give the column a name, or delete it"))
                name = f"(column {j + 1})"
            else:
                continue
        elif name in seen:
            problems.append(problem_row(table, file, header_line, name, name,
                                        f"the header names `{truncate(name, 40)}` twice (columns {seen[name] + 1} "
                                        f"and {j + 1})",
                                        "rename or delete one of the two columns"))
            name = f"{name} (column {j + 1})"
        else:
            seen[name] = j
        names.append(name)
        data[name] = pd.arrays.ArrowStringArray(col) if fresh else col.reset_index(drop=True)
    frame = pd.DataFrame(data, copy=False)  # (from arrays: three times faster than from Series)
    return frame if len(frame.columns) else pd.DataFrame(index=pd.RangeIndex(len(columns[0]) if columns else 0))


def _has_values(series: pd.Series) -> bool:
    if series.dtype == object:
        return bool(series.map(lambda v: v is not None and not (isinstance(v, str) and not v.strip())
                               and v == v).any())
    if isinstance(series.dtype, pd.StringDtype):
        return bool(series.str.strip().fillna("").ne("").any())
    return bool(series.notna().any())


# --------------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------------
def _pick_sheet(names: list[str], sheet, expected: set[str], first_rows) -> str:
    if sheet is not None:
        if isinstance(sheet, int):
            if sheet > len(names):
                raise FileProblem(f"the workbook has {len(names)} sheet(s); there is no sheet {sheet}",
                                  f"sheets: {', '.join(repr(n) for n in names)}; fix `sheet:` in study.yaml")
            return names[sheet - 1]
        if sheet not in names:
            from .config import did_you_mean

            raise FileProblem(f"the workbook has no sheet {sheet!r} (sheets: {', '.join(repr(n) for n in names)})",
                              did_you_mean(sheet, names, "sheets") + " — fix `sheet:` in study.yaml")
        return sheet
    return names[0]


def _sheet_rows(ws):
    return enumerate(ws.iter_rows(values_only=True), 1)


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _header_of(ws) -> tuple[int | None, list]:
    """The header row: the first row with two or more values (title lines of one value above it are
    skipped), else the first row with a value."""
    first = None
    for i, row in _sheet_rows(ws):
        filled = sum(not _blank(v) for v in row)
        if filled and first is None:
            first = (i, list(row))
        if filled >= 2:
            return i, list(row)
        if i > 50:
            break
    return first if first is not None else (None, [])


def _read_excel(path: Path, *, table: str, sheet, expected: set[str]) -> RawTable:
    if path.suffix.lower() == ".xls":
        return _read_xls(path, table=table, sheet=sheet)
    from .._optional import require

    openpyxl = require("openpyxl", feature=f"reading {path.name}")

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a damaged or non-Excel file: openpyxl raises many kinds
        raise FileProblem(f"cannot be read as an Excel workbook ({type(exc).__name__}: {exc})",
                          "save it again from Excel as .xlsx, or export it as CSV") from None
    try:
        names = wb.sheetnames
        name = _pick_sheet(names, sheet, expected, None)
        ws = wb[name]
        header_line, header = _header_of(ws)
        problems: list[dict] = []
        if sheet is None and len(names) > 1:
            _check_first_sheet(wb, names, header, expected, table=table)
        if header_line is None:
            raise FileProblem(f"sheet {name!r} is empty", "put the table on the sheet, or name the sheet with "
                              f"`sheet: {{{table}: NAME}}` in study.yaml (sheets: {', '.join(map(repr, names))})")
        width = max(len(header), 1)
        rows, lines = [], []
        for i, row in _sheet_rows(ws):
            if i <= header_line or all(_blank(v) for v in row):
                continue
            row = list(row) + [None] * (width - len(row))
            if len(row) > width and any(not _blank(v) for v in row[width:]):
                problems.append(problem_row(table, path.name, i, "", ", ".join(repr(v) for v in row[width:]
                                                                              if not _blank(v)),
                                            "values to the right of the last named column",
                                            "name the column in the header row, or delete the values"))
            rows.append(row[:width])
            lines.append(i)
    finally:
        wb.close()
    cols = [pd.Series([r[j] for r in rows], dtype=object) for j in range(width)]
    problems += _formula_problems(path, name, header_line, rows, lines, header, table=table)
    frame = _named_frame(header, cols, header_line, table=table, file=path.name, problems=problems)
    notes = [f"{path.name}: read from sheet {name!r}"] if len(names) > 1 else []
    if header_line > 1:
        notes.append(f"{path.name}: the table's header is on row {header_line}; the rows above it were not read")
    return RawTable(frame, np.array(lines, dtype=np.int64), "excel", problems, notes, header_line=header_line)


def _check_first_sheet(wb, names, header, expected: set[str], *, table: str) -> None:
    """Data on another sheet than the first: say which sheets exist and how to choose one."""
    def norm(h):
        return re.sub(r"[^0-9a-z]+", "_", str(h).strip().lower()).strip("_")

    first = {norm(h) for h in header if not _blank(h)} | {str(h).strip() for h in header if not _blank(h)}
    if first & expected:
        return
    others = []
    for n in names[1:]:
        _, h = _header_of(wb[n])
        hs = {norm(x) for x in h if not _blank(x)} | {str(x).strip() for x in h if not _blank(x)}
        if hs & expected:
            others.append(n)
    if others:
        what = "is empty" if not header else "has none of the table's columns"
        raise FileProblem(f"the first sheet {names[0]!r} {what}; the workbook has sheets "
                          f"{', '.join(map(repr, names))} and {others[0]!r} holds the {table} columns",
                          f"name the sheet in study.yaml: `sheet: {{{table}: {others[0]}}}`")


def _formula_problems(path: Path, sheet: str, header_line, rows, lines, header, *, table: str) -> list[dict]:
    """Formula cells without a saved result read as empty: name them (files under 20 MB)."""
    if not rows or path.stat().st_size > 20 * 2**20:
        return []
    import openpyxl

    empty = {(line, j) for line, r in zip(lines, rows) for j, v in enumerate(r) if v is None}
    if not empty:
        return []
    wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    out = []
    try:
        for i, row in _sheet_rows(wb[sheet]):
            for j, v in enumerate(row):
                if (i, j) in empty and isinstance(v, str) and v.startswith("="):
                    col = str(header[j]).strip() if j < len(header) and not _blank(header[j]) else f"(column {j + 1})"
                    out.append(problem_row(table, path.name, i, col, v, "formula without a saved result (read as "
                                           "empty)", "open the file in Excel and save it, or paste the values"))
    finally:
        wb.close()
    return out


def _read_xls(path: Path, *, table: str, sheet) -> RawTable:
    try:
        book = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
    except ImportError:
        raise FileProblem("reading .xls (Excel 97-2003) files needs the xlrd package, which is not installed",
                          "save the file as .xlsx or CSV") from None
    except Exception as exc:  # damaged file
        raise FileProblem(f"cannot be read as an Excel workbook ({type(exc).__name__}: {exc})",
                          "save it again as .xlsx or CSV") from None
    names = list(book)
    name = _pick_sheet(names, sheet, set(), None)
    df = book[name]
    nonblank = [i for i in range(len(df)) if not all(_blank(v) or v != v for v in df.iloc[i])]
    if not nonblank:
        raise FileProblem(f"sheet {name!r} is empty", f"sheets: {', '.join(map(repr, names))}")
    header = list(df.iloc[nonblank[0]])
    body = nonblank[1:]
    cols = [pd.Series(list(df.iloc[body, j]), dtype=object) for j in range(df.shape[1])]
    problems: list[dict] = []
    frame = _named_frame(header, cols, nonblank[0] + 1, table=table, file=path.name, problems=problems)
    return RawTable(frame, np.array(body, dtype=np.int64) + 1, "excel", problems, header_line=nonblank[0] + 1)


# --------------------------------------------------------------------------------------------
# Parquet and the dispatcher
# --------------------------------------------------------------------------------------------
def _read_parquet(path: Path) -> RawTable:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # pyarrow cannot read such a file; say why rather than "cannot be read"
            raise FileProblem(f"the file names column(s) {', '.join(f'`{truncate(n, 40)}`' for n in twice)} more "
                              "than once", "write the file again with one column per name")
        tbl = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileProblem(f"cannot be read as Parquet ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                          "write the file again, or export it as CSV") from None
    strings = {pa.string(): STRING, pa.large_string(): STRING}
    try:  # self_destruct frees each Arrow column as soon as it is converted (lower peak memory)
        df = tbl.to_pandas(types_mapper=strings.get, self_destruct=True, split_blocks=True)
    except (pa.ArrowException, ValueError, OverflowError):  # e.g. timestamps pandas cannot hold
        df = pq.read_table(path).to_pandas(types_mapper=strings.get, timestamp_as_object=True)
    pa.default_memory_pool().release_unused()  # hand the converted Arrow buffers back to the system
    problems: list[dict] = []
    dupes = df.columns[df.columns.duplicated()].unique().tolist()
    if dupes:
        df = _named_frame(list(df.columns), [df.iloc[:, j] for j in range(df.shape[1])], 0, table="",
                          file=path.name, problems=problems)
    return RawTable(df, np.arange(1, len(df) + 1, dtype=np.int64), "parquet", problems)


def read_raw(path: Path, *, table: str, encoding: str | None = None, sheet=None,
             expected: set[str] | None = None) -> RawTable:
    """Read one table file into raw values; raises :class:`FileProblem` when it cannot be read at all."""
    ext = path.suffix.lower()
    if ext in (".parquet", ".pq"):
        raw = _read_parquet(path)
    elif ext in EXCEL_EXTENSIONS:
        raw = _read_excel(path, table=table, sheet=sheet, expected=expected or set())
    else:
        raw = _read_text(path, table=table, encoding=encoding)
    for p in raw.problems:
        p["table"] = table
    raw.file = path.name
    return raw
