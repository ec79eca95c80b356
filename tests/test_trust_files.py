"""Locations are right and files are read as they are: editor line numbers, short and long rows,
duplicated and empty headers, NUL bytes, encodings, Excel sheets, wrong physical types (issue 9)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from trust_fixtures import MINIMAL, TRUST, load_quietly, located, problems_of, study_from

from trialkit.io import files as tkfiles
from trialkit.io.files import FileProblem, decode_bytes, read_raw

SCREENING = (MINIMAL / "screening.csv").read_text()


# ------------------------------------------------------------------------------------------------
# line numbers as an editor shows them
# ------------------------------------------------------------------------------------------------
def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path):
    """CRLF file: S002's reason spans lines 4-5, two blank lines follow, S003 is on line 8."""
    d = study_from(tmp_path, "line_numbers")
    pr = problems_of(d)
    assert located(pr) == [("screening.csv", 8, "age_years")] and pr["value"].iloc[0] == "four"
    raw = read_raw(d / "screening.csv", table="screening")
    assert raw.lines.tolist() == [2, 4, 8, 9]
    assert raw.frame["screen_failure_reason"].tolist()[1] == "first line\r\nsecond line"  # kept as written


@pytest.mark.parametrize("text, lines", [
    ("a,b\n1,2\n3,4\n", [2, 3]),
    ("a,b\n1,2\n\n3,4\n\n", [2, 4]),
    ("a,b\r\n1,2\r\n\r\n3,4", [2, 4]),
    ("a,b\r1,2\r3,4\r", [2, 3]),                       # old Mac line ends
    ('a,b\n"x\ny",2\n3,4\n', [2, 4]),
    ('a,b\n"x,""y""",2\n3,4\n', [2, 3]),
    ("\n\na,b\n1,2\n", [4]),                          # the header after blank lines
])
def test_record_lines(tmp_path, text, lines):
    p = tmp_path / "t.csv"
    p.write_text(text, newline="")
    raw = read_raw(p, table="t")
    assert raw.lines.tolist() == lines and raw.problems == []


def test_fast_and_careful_parsers_agree(tmp_path, monkeypatch):
    """Well-formed files take pyarrow's reader; the same files through Python's csv give the same frame."""
    p = tmp_path / "screening.csv"
    p.write_text(SCREENING.replace("INC_BLASTS", '"INC_BLASTS, see note"'))
    fast = read_raw(p, table="screening")
    monkeypatch.setattr(tkfiles, "_simple_enough", lambda text, delim: False)
    careful = read_raw(p, table="screening")
    pd.testing.assert_frame_equal(fast.frame, careful.frame)
    assert fast.lines.tolist() == careful.lines.tolist() == [2, 3, 4, 5]


# ------------------------------------------------------------------------------------------------
# records and headers
# ------------------------------------------------------------------------------------------------
def test_short_row_is_a_problem_never_a_silent_fill(tmp_path):
    pr = problems_of(study_from(tmp_path, "short_row"))
    assert located(pr) == [("screening.csv", 3, "relapse_date")]
    assert "5 field(s), the header 7: no value for relapse_date, marrow_blasts_pct" in pr["problem"].iloc[0]


def test_long_row_is_one_problem_naming_the_extra_values(tmp_path):
    pr = problems_of(study_from(tmp_path, "long_row"))
    assert located(pr) == [("screening.csv", 3, "")]
    assert pr["value"].iloc[0] == "'60.5'" and "8 field(s), the header 7" in pr["problem"].iloc[0]


def test_long_first_row_does_not_turn_a_column_into_the_index(tmp_path):
    """pandas would silently use the first field as the index when the first record is one field longer."""
    d = study_from(tmp_path, screening__csv=SCREENING.replace("S001,AT01,2023-07-01,7.5,M",
                                                              "S001,AT01,2023-07-01,7,5,M"))
    assert located(problems_of(d)) == [("screening.csv", 2, "")]


def test_duplicated_header_is_a_problem_never_a_rename(tmp_path):
    pr = problems_of(study_from(tmp_path, "duplicated_header"))
    assert located(pr) == [("screening.csv", 1, "age_years")]
    assert "names `age_years` twice (columns 4 and 6)" in pr["problem"].iloc[0]


def test_headers_that_read_as_the_same_column_are_named_at_the_header_line(tmp_path):
    """`age_years` and `Age Years ` differ by case and spaces but both read as age_years: one
    problem on the header's own line (3, after two blank lines), naming both headers."""
    pr = problems_of(study_from(tmp_path, "duplicated_header_spelling"))
    assert located(pr) == [("screening.csv", 3, "age_years")]
    assert "'age_years', 'Age Years'" in pr["problem"].iloc[0]


def test_a_columns_mapping_onto_an_existing_header_is_named(tmp_path):
    d = study_from(tmp_path, study_yaml="protocol: b1931036\ndata_cut_date: 2026-06-30\n"
                                        "columns: {sites: {city: site_name}}\n")
    pr = problems_of(d)
    assert located(pr) == [("sites.csv", 1, "site_name")]
    assert "'site_name', 'city'" in pr["problem"].iloc[0] and "columns:" in pr["fix"].iloc[0]


def test_nul_byte_in_the_header_is_a_problem_never_an_unused_column(tmp_path):
    """Without the check `ci\\0ty` was an extra column and the optional `city` silently empty."""
    pr = problems_of(study_from(tmp_path, "nul_header"))
    assert located(pr) == [("sites.csv", 1, "(column 3)")] and pr["value"].iloc[0] == "ci\\0ty"


def test_a_title_line_above_the_header_is_skipped_and_noted_with_lines_kept(tmp_path):
    """As in a spreadsheet: a one-value line above the header is a title (was: the header, and every
    record a problem with "6 extra values"). S002's bad value is on line 5 as an editor shows it."""
    d = study_from(tmp_path, "title_lines")
    pr = problems_of(d)
    assert located(pr) == [("screening.csv", 5, "marrow_blasts_pct")] and pr["value"].iloc[0] == "sixty"
    d = study_from(tmp_path / "fixed", "title_lines",
                   screening__csv=(TRUST / "title_lines" / "screening.csv").read_text().replace("sixty", "60,5"))
    s = load_quietly(d)
    assert s.screening["marrow_blasts_pct"].tolist()[:2] == [45.5, 60.5]
    assert ("screening.csv: the table's header is on line 3; the title line(s) above it ('Screening log export') "
            "were not read") in s.notes


def test_a_title_line_padded_with_delimiters_is_a_title_too(tmp_path):
    """'Export,,,,,,' has as many fields as the header: the fast parser took it for the header."""
    sites = (MINIMAL / "sites.csv").read_text()
    d = study_from(tmp_path, sites__csv="Site list export,,,,,,\n" + sites.replace("2023-07-15", "2023-13-15"))
    assert located(problems_of(d)) == [("sites.csv", 4, "activation_date")]


def test_a_repeated_header_is_one_problem_naming_its_line(tmp_path):
    """Two exports joined: the second header (line 5, spaces around its names) is named as such,
    not as a patient `subject_id` whose date and age cannot be read."""
    pr = problems_of(study_from(tmp_path, "repeated_header"))
    assert located(pr) == [("screening.csv", 5, "")] and "header line is repeated" in pr["problem"].iloc[0]


def test_values_in_an_unnamed_column_are_a_problem(tmp_path):
    pr = problems_of(study_from(tmp_path, "unnamed_column"))
    assert located(pr) == [("screening.csv", 1, "(column 5)")]


def test_an_empty_trailing_column_is_harmless(tmp_path):
    text = "\n".join(line + "," for line in SCREENING.splitlines()) + "\n"
    assert len(load_quietly(study_from(tmp_path, screening__csv=text)).screening) == 4


def test_nul_byte_in_a_field_is_named_never_truncated(tmp_path):
    pr = problems_of(study_from(tmp_path, "nul_byte"))
    assert located(pr) == [("sites.csv", 2, "city")] and pr["value"].iloc[0] == "Vie\\0nna"


def test_malformed_quoting_is_named_by_line(tmp_path):
    pr = problems_of(study_from(tmp_path, "malformed_quote"))
    assert located(pr) == [("screening.csv", 3, "")] and "malformed quoting" in pr["problem"].iloc[0]


def test_unclosed_quote_names_the_line_where_it_opens(tmp_path):
    d = study_from(tmp_path, screening__csv=SCREENING.replace("S002,AT01", '"S002,AT01'))
    pr = problems_of(d)
    assert ("screening.csv", 3, "") in located(pr)
    assert "never closed" in " ".join(pr["problem"])


def test_long_header_names_are_truncated_in_messages(tmp_path):
    """A 600-character header named twice, and missing from a short row: each message stays short."""
    long = "age_years" + " " * 300 + "x" * 300
    lines = SCREENING.splitlines()
    text = "\n".join([lines[0] + f",{long},{long}", lines[1]] + [x + ",1,2" for x in lines[2:]]) + "\n"
    pr = problems_of(study_from(tmp_path, screening__csv=text))
    assert sorted(located(pr)) == [("screening.csv", 1, long.strip()), ("screening.csv", 2, long.strip())]
    assert all(len(p) < 300 for p in pr["problem"]), pr["problem"].tolist()


def test_file_problems_are_trialkit_errors():
    """decode_bytes and read_raw are public: what they raise is a TrialkitError."""
    from trialkit.errors import TrialkitError

    with pytest.raises(TrialkitError, match="UTF-16-LE"):
        decode_bytes("site_id,country\nAT01,Austria\n".encode("utf-16-le"))


def test_values_are_truncated_in_messages(tmp_path):
    long = "x" * 500
    d = study_from(tmp_path, screening__csv=SCREENING.replace("twelve", long).replace(",12.1,", f",{long},"))
    pr = problems_of(d)
    value = pr.loc[pr["column"] == "age_years", "value"].iloc[0]
    assert len(value) == 80 and value.endswith("…")


# ------------------------------------------------------------------------------------------------
# encodings
# ------------------------------------------------------------------------------------------------
def test_utf16_without_bom_is_an_encoding_problem_with_the_fix(tmp_path):
    d = study_from(tmp_path, sites__csv=(MINIMAL / "sites.csv").read_text().encode("utf-16-le"))
    pr = problems_of(d)
    assert located(pr) == [("sites.csv", None, "")]
    assert "UTF-16-LE text without a byte-order mark" in pr["problem"].iloc[0]
    assert "encoding: {sites: utf-16-le}" in pr["fix"].iloc[0]
    (d / "study.yaml").write_text("protocol: b1931036\ndata_cut_date: 2026-06-30\nencoding: {sites: utf-16-le}\n")
    assert load_quietly(d).sites["site_id"].tolist() == ["AT01", "BE01"]


def test_bytes_neither_utf8_nor_cp1252_name_their_line():
    raw = b"a,b\n1,2\nx\x81y,3\n"  # 0x81 is undefined in cp1252
    with pytest.raises(FileProblem) as exc:
        decode_bytes(raw, table="sites")
    assert exc.value.line == 3 and "0x81" in exc.value.problem and "encoding:" in exc.value.fix


def test_a_declared_encoding_that_does_not_fit_is_named():
    with pytest.raises(FileProblem) as exc:
        decode_bytes("a\nZürich\n".encode("cp1252"), "utf-8")
    assert exc.value.line == 2 and "cannot be decoded as utf-8" in exc.value.problem


def test_utf16_with_bom_and_cp1252_are_read():
    assert decode_bytes("a,b\n1,2".encode("utf-16")) == ("a,b\n1,2", "utf-16")
    assert decode_bytes("Zürich".encode("cp1252")) == ("Zürich", "cp1252")


# ------------------------------------------------------------------------------------------------
# Excel
# ------------------------------------------------------------------------------------------------
def _workbook(path, sheets: dict[str, list[list]]):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)


def _screening_rows():
    df = pd.read_csv(MINIMAL / "screening.csv", dtype=str, keep_default_na=False)
    rows = [list(df.columns)] + df.values.tolist()
    for r in rows[1:]:
        r[2] = dt.datetime.fromisoformat(r[2])  # real Excel dates
        r[3] = float(r[3])
    return rows


def test_excel_data_on_another_sheet_lists_the_sheets_and_accepts_sheet(tmp_path):
    d = study_from(tmp_path)
    (d / "screening.csv").unlink()
    _workbook(d / "screening.xlsx", {"Read me": [["Exported from the EDC"]], "Data": _screening_rows()})
    pr = problems_of(d)
    assert located(pr)[0] == ("screening.xlsx", None, "")
    assert "'Read me', 'Data'" in pr["problem"].iloc[0] and "sheet: {screening: Data}" in pr["fix"].iloc[0]
    (d / "study.yaml").write_text("protocol: b1931036\ndata_cut_date: 2026-06-30\nsheet: {screening: Data}\n")
    s = load_quietly(d)
    assert s.screening["screening_date"].iloc[0] == pd.Timestamp("2023-07-01")
    assert "screening.xlsx: read from sheet 'Data'" in s.notes


def test_excel_rows_are_spreadsheet_rows_and_a_missing_sheet_is_named(tmp_path):
    d = study_from(tmp_path)
    (d / "screening.csv").unlink()
    rows = _screening_rows()
    rows[3][3] = "twelve"
    _workbook(d / "screening.xlsx", {"Data": [[], ["Screening log"], [], *rows[:3], [], *rows[3:]]})
    (d / "study.yaml").write_text("protocol: b1931036\ndata_cut_date: 2026-06-30\n")
    pr = problems_of(d)  # a title above the table is skipped: header on row 4, a blank row 7
    assert located(pr) == [("screening.xlsx", 8, "age_years")] and pr["value"].iloc[0] == "twelve"
    (d / "screening.xlsx").unlink()
    _workbook(d / "screening.xlsx", {"Data": [[], *rows[:3], [], *rows[3:]]})
    pr = problems_of(d)
    assert located(pr) == [("screening.xlsx", 6, "age_years")]  # header row 2, blank row 5
    (d / "study.yaml").write_text("protocol: b1931036\nsheet: Screening\n")
    pr = problems_of(d)
    assert "no sheet 'Screening' (sheets: 'Data')" in pr["problem"].iloc[0]


def test_excel_numbers_in_a_date_column(tmp_path):
    d = study_from(tmp_path)
    (d / "screening.csv").unlink()
    rows = _screening_rows()
    rows[1][2] = 45108          # Excel serial of 2023-07-01: kept (the README's promise)
    rows[2][2] = 20230803       # a YYYYMMDD number: a problem, never an overflow
    _workbook(d / "screening.xlsx", {"Data": rows})
    pr = problems_of(d)
    assert located(pr) == [("screening.xlsx", 3, "screening_date")]
    assert "not a plausible Excel date serial" in pr["problem"].iloc[0]
    rows[2][2] = 45141          # =DATE(2023,8,3) in Excel (1900 date system)
    _workbook(d / "screening.xlsx", {"Data": rows})
    s = load_quietly(d)
    assert s.screening["screening_date"].tolist()[:2] == [pd.Timestamp("2023-07-01"), pd.Timestamp("2023-08-03")]
    assert ("screening.xlsx: `screening_date`: 2 number(s) read as Excel serial day numbers (1900 date system; "
            "e.g. '45108' = 2023-07-01, any fraction of a day dropped)") in s.notes


def test_excel_formula_without_a_saved_result_is_named(tmp_path):
    d = study_from(tmp_path)
    (d / "screening.csv").unlink()
    rows = _screening_rows()
    rows[2][3] = "=10+2.1"  # openpyxl writes the formula without a cached value
    _workbook(d / "screening.xlsx", {"Data": rows})
    pr = problems_of(d)
    assert located(pr) == [("screening.xlsx", 3, "age_years")] and "formula" in pr["problem"].iloc[0]


# ------------------------------------------------------------------------------------------------
# Parquet with the wrong physical types
# ------------------------------------------------------------------------------------------------
def test_parquet_dates_stored_as_integers_are_problems_not_overflows(tmp_path):
    d = study_from(tmp_path)
    scr = pd.read_csv(d / "screening.csv", dtype=str, keep_default_na=False)
    (d / "screening.csv").unlink()
    scr["screening_date"] = scr["screening_date"].str.replace("-", "").astype("int64")  # 20230701 …
    scr.to_parquet(d / "screening.parquet", index=False)
    pr = problems_of(d)
    assert located(pr) == [("screening.parquet", r, "screening_date") for r in (1, 2, 3, 4)]
    assert "looks like YYYYMMDD" in pr["problem"].iloc[0]
    (d / "study.yaml").write_text("protocol: b1931036\ndata_cut_date: 2026-06-30\ndate_format: '%Y%m%d'\n")
    assert load_quietly(d).screening["screening_date"].iloc[0] == pd.Timestamp("2023-07-01")


def test_parquet_column_names_twice_or_by_case_are_named(tmp_path):
    d = study_from(tmp_path)
    (d / "sites.csv").unlink()
    ids, countries = pa.array(["AT01", "BE01"]), pa.array(["Austria", "Belgium"])
    pq.write_table(pa.Table.from_arrays([ids, countries, countries], names=["site_id", "country", "country"]),
                   d / "sites.parquet")
    pr = problems_of(d)
    assert located(pr) == [("sites.parquet", None, "")]
    assert pr["problem"].iloc[0] == "the file names column(s) `country` more than once"
    pq.write_table(pa.Table.from_arrays([ids, countries, countries], names=["site_id", "country", "Country"]),
                   d / "sites.parquet")
    pr = problems_of(d)
    assert located(pr) == [("sites.parquet", None, "country")] and "'country', 'Country'" in pr["problem"].iloc[0]


def test_parquet_timestamps_out_of_range_and_wrong_types(tmp_path):
    d = study_from(tmp_path)
    scr = pd.read_csv(d / "screening.csv", dtype=str, keep_default_na=False)
    (d / "screening.csv").unlink()
    table = pa.table({
        "subject_id": scr["subject_id"], "site_id": scr["site_id"],
        "screening_date": pa.array([dt.datetime(1, 1, 1), dt.datetime(2023, 8, 3), dt.datetime(2023, 9, 10),
                                    dt.datetime(2023, 10, 2)], pa.timestamp("us")),
        "age_years": pa.array([True, False, True, False]),                 # yes/no where numbers belong
        "cd22_positive": pa.array([1, 0, 2, 1], pa.int64()),                 # 2 is not yes/no
        "birth_date": pa.array([dt.date(9999, 1, 1), None, None, None], pa.date32()),
    })
    pq.write_table(table, d / "screening.parquet")
    pr = problems_of(d)
    got = {(c, r) for _, r, c in located(pr) if c in ("screening_date", "age_years", "cd22_positive", "birth_date")}
    assert got == {("screening_date", 1), ("age_years", 1), ("age_years", 2), ("age_years", 3), ("age_years", 4),
                   ("cd22_positive", 3), ("birth_date", 1)}


def test_damaged_files_are_problems_naming_the_file(tmp_path):
    d = study_from(tmp_path)
    (d / "screening.csv").unlink()
    (d / "screening.parquet").write_bytes(b"not parquet at all")
    (d / "sites.csv").unlink()
    (d / "sites.xlsx").write_bytes(b"not a workbook")
    pr = problems_of(d)
    assert ("screening.parquet", None, "") in located(pr) and ("sites.xlsx", None, "") in located(pr)


def test_every_trust_fixture_class_is_exercised():
    """A fixture folder added without a test would not guard anything."""
    used = {p.name for p in TRUST.iterdir() if p.is_dir()}
    text = "".join(p.read_text() for p in TRUST.parent.parent.parent.glob("test_trust_*.py"))
    assert {name for name in used if f'"{name}"' not in text} == set()


def test_dates_and_numbers_in_object_columns_are_read_by_kind():
    from trialkit.io.values import ReadSettings, read_values

    s = pd.Series([pd.Timestamp("2023-01-01"), "2023-02-01", 45000, True, None], dtype=object)
    res = read_values(s, "datetime", ReadSettings(kind="excel"))
    assert res.values.tolist()[:3] == [pd.Timestamp("2023-01-01"), pd.Timestamp("2023-02-01"),
                                       pd.Timestamp("2023-03-15")]
    assert [(i.positions.tolist(), i.problem) for i in res.issues] == [([3], "not a date")]
    num = read_values(pd.Series([1, 2.5, "3,5", np.nan], dtype=object), "Float64", ReadSettings())
    assert num.values.tolist() == [1.0, 2.5, 3.5, pd.NA]


def test_without_validation_the_notes_count_what_could_not_be_read(tmp_path):
    s = load_quietly(study_from(tmp_path, "decimal_mixed"), validate=False)
    assert s.screening["marrow_blasts_pct"].tolist() == [45.5, pd.NA, 3.0, 80.25]
    assert any(n.startswith("screening.csv: 1 problem(s) found while reading") for n in s.notes)


def test_bad_path_arguments_are_trialkit_errors():
    from trialkit import load_study
    from trialkit.errors import InputTypeError, StudyPathError

    with pytest.raises(InputTypeError, match="str or pathlib.Path"):
        load_study(None)
    with pytest.raises(StudyPathError, match="not a folder"):
        load_study(MINIMAL / "sites.csv")


def test_read_table_file_bad_arguments_are_usage_errors(tmp_path):
    """Were FileNotFoundError and LookupError from the standard library."""
    from trialkit.errors import UsageError
    from trialkit.io.flatfile import read_table_file

    with pytest.raises(UsageError, match="no such file"):
        read_table_file(tmp_path / "nope.csv")
    with pytest.raises(UsageError, match="unknown encoding 'klingon'"):
        read_table_file(MINIMAL / "sites.csv", encoding="klingon")


def test_excel_sep_line_sets_the_delimiter_and_keeps_line_numbers(tmp_path):
    text = "sep=;\n" + SCREENING.replace(",", ";").replace("12.1", "twelve")
    pr = problems_of(study_from(tmp_path, screening__csv=text))
    assert located(pr) == [("screening.csv", 4, "age_years")]


def test_more_number_and_date_spellings():
    from decimal import Decimal

    from trialkit.io.values import ReadSettings, read_values

    num = read_values(pd.Series(["\u22125.5", "3"], dtype="string[pyarrow]"), "Float64", ReadSettings())
    assert num.values.tolist() == [-5.5, 3.0] and num.issues == []
    dec = read_values(pd.Series([Decimal("0.0085"), None], dtype=object), "Float64", ReadSettings())
    assert dec.values.tolist() == [0.0085, pd.NA] and dec.issues == []
    dates = read_values(pd.Series(["2023-7-1", "2023-07-17"], dtype="string[pyarrow]"), "datetime", ReadSettings())
    assert dates.values.tolist() == [pd.Timestamp("2023-07-01"), pd.Timestamp("2023-07-17")]
