"""How flat files are read: the ``study.yaml`` keys, the missing-value tokens, the yes/no words.

Pure data, imported by the readers (:mod:`trialkit.io.config`, :mod:`trialkit.io.values`) and by
the data-model page generator (:func:`trialkit.model.data_model_markdown`), so the documentation
and the code cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Text read as a missing value in every column, compared case-insensitively after trimming
#: spaces. An empty cell is always missing. ``na_values:`` in ``study.yaml`` replaces this list.
NA_TOKENS: tuple[str, ...] = ("NA", "N/A", "NaN", "NULL", "None", "ND", "UNK", "Unknown", "Missing", ".", "-")

#: Words read as yes / no in a yes/no column (case-insensitive).
TRUE_WORDS: tuple[str, ...] = ("true", "t", "yes", "y", "1", "1.0", "ja", "j", "oui", "o", "si", "sí", "sim", "tak",
                               "ano")
FALSE_WORDS: tuple[str, ...] = ("false", "f", "no", "n", "0", "0.0", "nein", "non", "nie", "ne", "nej", "nei", "não")

#: Month names and abbreviations read in dates such as ``13-Apr-2023`` (English, German, French,
#: Spanish, Italian, Dutch; case-insensitive, a trailing dot allowed).
MONTHS: dict[str, int] = {
    **{m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                   "dec"), 1)},
    **{m: i for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                   "september", "october", "november", "december"), 1)},
    "sept": 9,
    # German
    "januar": 1, "jän": 1, "jänner": 1, "februar": 2, "mär": 3, "märz": 3, "mrz": 3, "mai": 5, "juni": 6,
    "juli": 7, "okt": 10, "oktober": 10, "dez": 12, "dezember": 12,
    # French
    "janv": 1, "janvier": 1, "févr": 2, "fév": 2, "février": 2, "mars": 3, "avr": 4, "avril": 4, "juin": 6,
    "juil": 7, "juillet": 7, "août": 8, "aou": 8, "septembre": 9, "octobre": 10, "novembre": 11, "déc": 12,
    "décembre": 12,
    # Spanish, Italian, Dutch
    "ene": 1, "enero": 1, "febrero": 2, "marzo": 3, "abr": 4, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
    "ago": 8, "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "dic": 12,
    "diciembre": 12, "gen": 1, "gennaio": 1, "febbraio": 2, "aprile": 4, "maggio": 5, "mag": 5, "giugno": 6,
    "giu": 6, "luglio": 7, "lug": 7, "set": 9, "settembre": 9, "ottobre": 10, "ott": 10, "dicembre": 12,
    "januari": 1, "februari": 2, "maart": 3, "mei": 5, "augustus": 8,
}


@dataclass(frozen=True)
class Key:
    """One key of ``study.yaml``.

    ``kind`` is the type of a value (``text``, ``date``, ``one of``, ``list of text``, ``mapping``);
    ``scope`` says where the key may be refined: ``study`` (one value), ``table`` (one value, or a
    mapping ``{table: value}``), ``column`` (one value, ``{table: value}`` or
    ``{table: {column: value}}``).
    """

    name: str
    kind: str
    scope: str
    description: str
    example: str
    allowed: tuple[str, ...] | None = None
    default: str = ""


KEYS: tuple[Key, ...] = (
    Key("protocol", "text", "study", "Id of a protocol trialkit knows (`trialkit protocols`), or the path of a "
        "protocol YAML file relative to the study folder. Required unless given as an argument.",
        "protocol: b1931036"),
    Key("tables", "mapping", "table", "File name of a table when it is not `<table>.csv` (or .tsv, .txt, .parquet, "
        ".xlsx).", "tables: {screening: Screening_Log_2026-10-01.xlsx}"),
    Key("columns", "mapping", "table", "Source column → canonical column, per table. A source that matches no "
        "header, or a target that is not a canonical column (or a stratification factor of the protocol), "
        "is a problem.", "columns: {screening: {PATIENT_NO: subject_id, 'Date of screening': screening_date}}"),
    Key("values", "mapping", "table", "Recode values of a column, per table: `{table: {column: {source value: "
        "canonical value}}}`; a target `null` reads the value as missing. A source value that never occurs is "
        "noted.", "values: {randomization: {arm: {'Inotuzumab ozogamicin': InO, 'ALL R3': ALLR3}}}"),
    Key("date_format", "text", "column", "strftime format of the dates that are not ISO 8601 (ISO dates are always "
        "read); it must name a day, a month and a year.", "date_format: '%d.%m.%Y'"),
    Key("date_order", "one of", "column", "Order of day and month in dates such as 03/04/2023. Without it the "
        "order is inferred per column, and a column where no value decides it is a problem.",
        "date_order: {screening: dmy}", allowed=("dmy", "mdy"), default="inferred per column"),
    Key("dayfirst", "true/false", "column", "Older spelling of `date_order` (true = dmy, false = mdy).",
        "dayfirst: true"),
    Key("decimal", "one of", "column", "Decimal mark of numbers. Without it the mark is inferred per column, and "
        "a column where no value decides it (only values such as 1,250) is a problem.",
        "decimal: {screening: ','}", allowed=(",", "."), default="inferred per column"),
    Key("encoding", "text", "table", "Text encoding of CSV/TSV files (a Python codec name).",
        "encoding: cp1252", default="detected: UTF-8 with or without BOM, UTF-16 with BOM, else cp1252"),
    Key("na_values", "list of text", "column", "The tokens read as missing (case-insensitive); replaces the "
        "default list. An empty cell is always missing.", "na_values: {response: {mrd_pct: ['', NA]}}",
        default=", ".join(repr(t) for t in NA_TOKENS)),
    Key("sheet", "text or number", "table", "Worksheet of an Excel file: its name, or its position counting from "
        "1.", "sheet: {screening: Data}", default="the first sheet"),
    Key("partial_dates", "one of", "table", "Day imputed for ISO partial dates (2023-05, 2023): the first, the "
        "middle (15th / 1 July) or the last day of the period.", "partial_dates: first",
        allowed=("first", "middle", "last"), default="first"),
    Key("data_cut_date", "date", "study", "Date of the data cut (YYYY-MM-DD); later dates are reported as "
        "warnings.", "data_cut_date: 2026-10-01"),
)

KEY_NAMES: tuple[str, ...] = tuple(k.name for k in KEYS)

#: strftime directives a ``date_format`` may use (``%%`` is a literal percent sign).
DATE_DIRECTIVES = frozenset("dmbBYyHIMSpfjaAzZ%")


def key(name: str) -> Key:
    """The :class:`Key` called ``name``."""
    return next(k for k in KEYS if k.name == name)


_READING = """\
## Reading files

A study folder holds one file per table (`<table>.csv`, `.tsv`, `.txt`, `.parquet`, `.xlsx`) and an
optional `study.yaml`. What trialkit shows is what the files say, or it says why not: a value that
cannot be read is a problem naming its file, line and column, never a silent change. Lines are
counted as a text editor shows them (the header is line 1; blank lines and line breaks inside quoted
fields count), spreadsheet rows as the spreadsheet numbers them, Parquet records from 1.

### `study.yaml`

Every key is optional except `protocol` (which the `protocol=` argument may give instead). Keys
marked *per table* take one value or a mapping `{table: value}`; keys marked *per column* also take
`{table: {column: value}}`; the most specific one applies. A wrong `study.yaml` is a configuration
error (exit code 2 of `trialkit validate`) listing every problem with its line, key and fix: an
unknown key (with the closest known key), a wrong type, a date format with an unknown directive
(`%Q`), an impossible date (`2026-06-31`), an unknown table, column or protocol. The file is read as
YAML 1.2: only `true`/`false` are yes/no (`no`, `yes`, `on`, `off` stay text) and dates stay text
until checked.

| key | type | per | allowed | default | description | example |
|---|---|---|---|---|---|---|
@KEYS@

A `columns:` source that matches no header of the file is a problem naming the closest header
(difflib). A `values:` source value that never occurs in the file is a note.

### Missing values

These tokens are read as missing in every column, compared case-insensitively after trimming
spaces: @TOKENS@. An empty cell is always missing. Each token found is counted per column in
`Study.notes` (for example ``response.csv: `mrd_pct`: 12 value(s) 'ND' read as missing``): for MRD,
"ND" often means *not detected*, so check those notes. `na_values:` replaces the list (per table or
per column); recode a token to a value with `values:` (e.g. `values: {response: {mrd_pct: {ND: 0}}}`
with `ND` removed from `na_values`).

Text values are read without the spaces around them (` S001 ` is `S001`, so that it matches the same
site or subject elsewhere); the values so read are counted per column in `Study.notes` with an example.

### Numbers: the decimal mark, decided per column

A `;`-delimited file is not proof of decimal commas. The decimal mark of each numeric column is
decided by its values that can be read only one way: `0.0085`, `12.5` or `1,250.5` decide `.`;
`12,5`, `0,0085` or `1.250,5` decide `,`. Thousands separators (`,` `.` space, apostrophe, in groups of
three) are accepted only where the column's decimal mark makes them unambiguous, and the values read
with them are counted in the notes with an example (`'1,250' = 1250`). A column whose only
evidence is values such as `1,250` or `1.250` (a thousands separator or a decimal mark?) is a problem
until `decimal:` is declared; a value whose mark contradicts the rest of its column is a problem
naming its line. Text such as `<0.01` or `12%` is not a number: a problem, never a guess.

### Dates: one day/month order per column

ISO 8601 (`2023-07-17`, with or without a time; the time of day is dropped and noted), ISO basic
(`20230717`), year-first (`2023/07/17`), month names (`17-Jul-2023`, `Jul 17, 2023`, `17 juillet 2023`)
and Excel serial day numbers (`45124` = 2023-07-17, Excel's 1900 date system; counted in the notes
with an example, since the file shows a number) need no inference.
Partial ISO dates (`2023-07`, `2023`, and `07/2023`) are imputed to the first (or `partial_dates:`
middle, last) day of the period and counted in the notes. For dates such as `03/04/2023`, one order
is inferred per column from the values that decide it (`13/04/2023` can only be day first) and never
mixed: a value of the other order is a problem naming its line, and a column where no value decides
(every day and month ≤ 12) is a problem until `date_order: dmy|mdy` or a `date_format` is declared.
Two-digit years are a problem unless a `date_format` with `%y` is declared. In Parquet or Excel files
a number where a date belongs (`20230718` stored as an integer) is a problem, never an overflow
(declare `date_format: '%Y%m%d'` to read such numbers). Dates after `data_cut_date` are warnings,
counted per column.

### Files

Encodings: UTF-8 with or without a byte-order mark, UTF-16 with one, else cp1252; bytes that are
neither (or UTF-16 text without a byte-order mark) are an encoding problem telling how to declare
`encoding:`. A record with fewer or more fields than the header, a header naming a column twice
(also when two headers differ only by case, spaces or punctuation, such as `site_id` and `Site ID`,
or when a `columns:` source is mapped onto a header of the same name), a column with values but no
name, a NUL byte in a field or in the header, a header line repeated further down (two exports joined)
and malformed quoting are problems naming the line. Title lines of one value above the header (of a text file or a sheet) are skipped and noted,
and the lines keep their numbers. An Excel table is read from the first sheet; when the first sheet is empty or holds none of the table's columns, the problem lists the
sheets and `sheet:` chooses one. An Excel formula without a saved result is a problem.
"""


def reading_markdown() -> str:
    """The "Reading files" section of docs/data-model.md, generated from :data:`KEYS` and :data:`NA_TOKENS`."""
    rows = []
    scope = {"study": "", "table": "table", "column": "table, column"}
    for k in KEYS:
        allowed = ", ".join(f"`{a}`" for a in k.allowed) if k.allowed else ""
        rows.append(f"| `{k.name}` | {k.kind} | {scope[k.scope]} | {allowed} | {k.default} | {k.description} | "
                    f"`{k.example}` |")
    tokens = ", ".join(f"`{t}`" for t in NA_TOKENS)
    return _READING.replace("@KEYS@", "\n".join(rows)).replace("@TOKENS@", tokens)
