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
    Key("date_order", "one of", "column", "Order of day and month in dates such as 03/04/2023 when no value of a "
        "column decides it.", "date_order: {screening: dmy}", allowed=("dmy", "mdy")),
    Key("dayfirst", "true/false", "column", "Older spelling of `date_order` (true = dmy, false = mdy).",
        "dayfirst: true"),
    Key("decimal", "one of", "column", "Decimal mark of numbers when no value of a column decides it.",
        "decimal: {screening: ','}", allowed=(",", ".")),
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
