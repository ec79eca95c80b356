"""Values never change silently: the decimal mark and the day/month order are decided per column,
missing-value tokens are counted, dates after the data cut are warnings (issue 9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from trust_fixtures import MINIMAL, load_quietly, located, problems_of, study_from

from trialkit.errors import TrialkitWarning
from trialkit.io.values import ReadSettings, read_values

MINIMAL_SCREENING = (MINIMAL / "screening.csv").read_text()


def _text(values) -> pd.Series:
    return pd.Series(values, dtype=pd.StringDtype("pyarrow"))


def _read(values, dtype="Float64", **settings):
    res = read_values(_text(values) if isinstance(values, list) else values, dtype, ReadSettings(**settings),
                      file="f.csv", column="x")
    reported = [(list(map(int, i.positions)), i.problem) for i in res.issues if i.report]
    return res.values.tolist(), reported, res.notes


def test_text_read_without_surrounding_spaces_is_counted_in_the_notes():
    """' S001' is read as 'S001' (so it matches the same site elsewhere), never silently: the notes count the
    values so read, with an example; text without such spaces gives no note."""
    res = read_values(pd.Series([" S001", "S002 ", "S003", None, "  "], dtype=object), "string", ReadSettings(),
                      file="sites.csv", column="site_id")
    assert res.values.tolist() == ["S001", "S002", "S003", pd.NA, pd.NA]
    assert res.notes == ["sites.csv: `site_id`: 2 value(s) with spaces around them read without "
                         "(e.g. ' S001' as 'S001')"]
    assert read_values(pd.Series(["S001", "a b"]), "string", ReadSettings(), file="f", column="c").notes == []


# ------------------------------------------------------------------------------------------------
# decimal mark, per column
# ------------------------------------------------------------------------------------------------
def test_semicolon_file_with_decimal_points_keeps_its_values(tmp_path):
    """A ';'-delimited file is not proof of decimal commas: 0.0085 stays 0.0085 (it loaded as 85)."""
    s = load_quietly(study_from(tmp_path, "decimal_semicolon_point"))
    assert s.response["mrd_pct"].tolist() == [0.0085, 12.5, pd.NA]


@pytest.mark.parametrize("values, expected", [
    (["0.0085", "12.5", "3"], [0.0085, 12.5, 3.0]),                 # '.' decided by 0.0085
    (["0,0085", "12,5", "3"], [0.0085, 12.5, 3.0]),                 # ',' decided
    (["1,250", "2,5"], [1.25, 2.5]),                                # 2,5 decides ',': 1,250 is 1.25
    (["1,250", "2.5"], [1250.0, 2.5]),                              # 2.5 decides '.': 1,250 is 1250
    (["1.250,5", "2.500"], [1250.5, 2500.0]),                       # '.' thousands with ',' decimals
    (["12,500.5", "1,250", "1 000 000"], [12500.5, 1250.0, 1e6]),   # ',' and space thousands
    (["1.250.000", "3"], [1250000.0, 3.0]),                         # repeated '.': thousands
    (["-3.5", "+2", "1e-3", ".5"], [-3.5, 2.0, 0.001, 0.5]),
    (["0.250", "1.250"], [0.25, 1.25]),                             # a leading 0 is never grouped: '.'
])
def test_decimal_mark_is_decided_by_the_values_that_can_be_read_one_way(values, expected):
    got, issues, _ = _read(values)
    assert issues == [] and got == pytest.approx(expected)


def test_ambiguous_column_is_a_problem_until_declared(tmp_path):
    d = study_from(tmp_path, "decimal_ambiguous")
    pr = problems_of(d)
    assert located(pr) == [("screening.csv", 2, "wbc_per_ul")]
    assert "decimal mark cannot be told: 3 value(s) such as '1,250'" in pr["problem"].iloc[0]
    assert "decimal: ','" in pr["fix"].iloc[0]
    (d / "study.yaml").write_text("protocol: b1931036\ndata_cut_date: 2026-06-30\n"
                                  "decimal: {screening: {wbc_per_ul: ','}}\n")
    assert load_quietly(d).screening["wbc_per_ul"].tolist() == [1.25, 2.5, pd.NA, 3.75]
    (d / "study.yaml").write_text("protocol: b1931036\ndata_cut_date: 2026-06-30\ndecimal: '.'\n")
    assert load_quietly(d).screening["wbc_per_ul"].tolist() == [1250.0, 2500.0, pd.NA, 3750.0]


def test_a_decimal_mark_that_contradicts_the_column_is_named_by_line(tmp_path):
    pr = problems_of(study_from(tmp_path, "decimal_mixed"))
    assert located(pr) == [("screening.csv", 3, "marrow_blasts_pct")]
    assert pr["value"].iloc[0] == "60,5" and "uses '.'" in pr["problem"].iloc[0]


def test_declared_decimal_mark_is_enforced_not_guessed():
    got, issues, _ = _read(["0.0085", "1,5"], decimal=",")
    assert got == [pd.NA, 1.5]
    assert issues == [([0], "not a number with the decimal mark ',' (declared in study.yaml)")]


def test_thousands_separators_where_the_column_decides(tmp_path):
    s = load_quietly(study_from(tmp_path, "thousands"))
    assert s.screening["wbc_per_ul"].tolist() == [12500.5, 1250.0, 3.5, 1_000_000.0]
    assert any("`wbc_per_ul`: " in n and "value(s) with thousands separators" in n for n in s.notes)


@pytest.mark.parametrize(("values", "expected", "note"), [
    (["1,250", "0.5"], [1250.0, 0.5], "1 value(s) with thousands separators, decimal mark '.' (e.g. '1,250' = 1250)"),
    (["1 250,5", "0,5"], [1250.5, 0.5], "1 value(s) with thousands separators, decimal mark ',' (e.g. '1 250,5' = "
                                        "1250.5)"),
    (["1 250", "3"], [1250.0, 3.0], "1 value(s) with thousands separators (e.g. '1 250' = 1250)"),
])
def test_values_read_with_thousands_separators_are_noted(values, expected, note):
    """The file shows 1,250 and trialkit 1250: never silent (a site that typed 1,250 for 1.25 sees it)."""
    got, issues, notes = _read(values)
    assert got == expected and issues == [] and notes == [f"f.csv: `x`: {note}"]


def test_text_that_is_not_a_number_is_reported_not_coerced():
    got, issues, _ = _read(["<0.01", "12%", "1,2,3", "5"])
    assert got == [pd.NA, pd.NA, pd.NA, 5.0]
    assert issues == [([0, 1, 2], "value is not a number")]


def test_whole_number_columns_keep_the_decimal_rules():
    got, issues, _ = _read(["1.000", "2"], dtype="Int64", decimal=",")
    assert got == [1000, 2] and issues == []
    got, issues, _ = _read(["2.5", "3"], dtype="Int64")
    assert got == [pd.NA, 3] and issues == [([0], "value is not a whole number")]


# ------------------------------------------------------------------------------------------------
# day/month order, per column
# ------------------------------------------------------------------------------------------------
def test_one_deciding_date_sets_the_order_of_the_whole_column(tmp_path):
    s = load_quietly(study_from(tmp_path, "date_order_decided"))
    # 13.09.2023 can only be day first, so 03.08.2023 is 3 August, never 8 March
    assert s.screening["screening_date"].tolist() == [pd.Timestamp(x) for x in
                                                     ("2023-07-01", "2023-08-03", "2023-09-13", "2023-10-02")]
    assert any("day/month order read as dmy" in n and "13.09.2023" in n for n in s.notes)


def test_orders_are_never_mixed_within_a_column(tmp_path):
    pr = problems_of(study_from(tmp_path, "date_order_mixed"))
    assert located(pr) == [("screening.csv", 4, "screening_date"), ("screening.csv", 3, "screening_date")]
    assert pr["value"].tolist() == ["09/13/2023", "08/03/2023"]
    assert "differs from the rest of the column (2 value(s) can only be dmy, 1 only mdy)" in pr["problem"].iloc[0]
    assert "cannot be told" in pr["problem"].iloc[1]


def test_undecidable_column_is_an_error_unless_declared(tmp_path):
    d = study_from(tmp_path, "date_order_ambiguous")
    pr = problems_of(d)
    assert located(pr) == [("screening.csv", 2, "screening_date")]
    assert "4 value(s) such as '01/07/2023' have day and month ≤ 12" in pr["problem"].iloc[0]
    assert "date_order: dmy" in pr["fix"].iloc[0]
    (d / "study.yaml").write_text("protocol: b1931036\ndata_cut_date: 2026-06-30\ndate_order: dmy\n")
    assert load_quietly(d).screening["screening_date"].iloc[1] == pd.Timestamp("2023-08-03")
    (d / "study.yaml").write_text("protocol: b1931036\ndata_cut_date: 2026-06-30\n"
                                  "date_format: {screening: {screening_date: '%d/%m/%Y'}}\n")
    assert load_quietly(d).screening["screening_date"].iloc[1] == pd.Timestamp("2023-08-03")


@pytest.mark.parametrize("values, expected", [
    (["2023-02-31"], "value is not a date (no such day: the day or month is out of range)"),
    (["31/02/2023", "13/01/2023"], "value is not a date (no such day: the day or month is out of range)"),
    (["03/04/23"], "two-digit year: the century cannot be told"),
    (["garbage"], "value is not a date"),
    (["0001-01-01"], "date out of the readable range (1678-2261)"),  # was "no such day"
    (["31/12/1500", "13/10/2023"], "date out of the readable range (1678-2261)"),
    (["1500-06"], "date out of the readable range (1678-2261)"),
])
def test_impossible_or_unreadable_dates_are_problems(values, expected):
    got, issues, _ = _read(values, dtype="datetime")
    assert pd.isna(got[0]) and issues[0] == ([0], expected)


def test_date_forms_that_need_no_inference():
    got, issues, notes = _read(["2023-07-17", "2023-07-17T10:30:00", "20230717", "17-Jul-2023", "Jul 17, 2023",
                                "17 juillet 2023", "2023/07/17", "45124"], dtype="datetime")
    assert issues == [] and got == [pd.Timestamp("2023-07-17")] * 8  # Excel serial 45124 = 2023-07-17
    assert notes == ["f.csv: `x`: 1 value(s) with a time of day kept as their date",
                     "f.csv: `x`: 1 number(s) read as Excel serial day numbers (1900 date system; e.g. '45124' = "
                     "2023-07-17, any fraction of a day dropped)"]


def test_serial_day_numbers_are_noted_never_a_silent_change(tmp_path):
    """A CSV date column of numbers is read as Excel serials, and the notes say so with an example.
    Microsoft, "Date systems in Excel": in the 1900 date system 1 = 1900-01-01; Excel's
    =DATE(2023,7,1) is 45108 and =DATE(2023,8,3) is 45141 (serial 60 is the non-existent
    1900-02-29, hence the 1899-12-30 epoch for serials > 60)."""
    text = (MINIMAL_SCREENING.replace("2023-07-01", "45108", 1).replace("2023-08-03", "45141.75", 1))
    s = load_quietly(study_from(tmp_path, screening__csv=text))
    assert s.screening["screening_date"].tolist()[:2] == [pd.Timestamp("2023-07-01"), pd.Timestamp("2023-08-03")]
    assert ("screening.csv: `screening_date`: 2 number(s) read as Excel serial day numbers (1900 date system; "
            "e.g. '45108' = 2023-07-01, any fraction of a day dropped)") in s.notes


def test_partial_dates_are_imputed_and_counted():
    res = read_values(_text(["2024-02", "2024", "02/2024"]), "datetime", ReadSettings(partial="last"))
    assert res.values.tolist() == [pd.Timestamp("2024-02-29"), pd.Timestamp("2024-12-31"),
                                   pd.Timestamp("2024-02-29")]
    assert res.imputed.tolist() == [True, True, True]


# ------------------------------------------------------------------------------------------------
# missing-value tokens and dates after the cut
# ------------------------------------------------------------------------------------------------
def test_missing_tokens_are_counted_per_column_in_the_notes(tmp_path):
    s = load_quietly(study_from(tmp_path, "missing_tokens"))
    assert s.response["mrd_pct"].isna().all()
    assert "response.csv: `mrd_pct`: 2 value(s) 'ND' read as missing" in s.notes
    assert "response.csv: `assessment_date`: 1 value(s) 'N/A' read as missing" in s.notes


def test_na_values_replace_the_default_tokens(tmp_path):
    """With ND not a missing token, 'ND' (not detected) in MRD must be recoded, not silently lost."""
    d = study_from(tmp_path, "missing_tokens",
                   study_yaml="protocol: b1931036\ndata_cut_date: 2026-06-30\nna_values: ['', NA, N/A]\n")
    pr = problems_of(d)
    assert located(pr) == [("response.csv", 2, "mrd_pct"), ("response.csv", 3, "mrd_pct")]
    (d / "study.yaml").write_text("protocol: b1931036\ndata_cut_date: 2026-06-30\nna_values: ['', N/A]\n"
                                  "values: {response: {mrd_pct: {ND: 0}}}\n")
    assert load_quietly(d).response["mrd_pct"].tolist() == [0.0, 0.0, pd.NA]


def test_numeric_missing_codes_in_typed_columns():
    res = read_values(pd.Series([-99.0, 5.0, np.nan]), "Float64", ReadSettings(na_values=("-99",)), file="f.parquet",
                      column="x")
    assert res.values.tolist() == [pd.NA, 5.0, pd.NA]
    assert res.notes == ["f.parquet: `x`: 1 value(s) '-99.0' read as missing"]


def test_dates_after_the_data_cut_are_warnings_with_counts(tmp_path):
    d = study_from(tmp_path, "after_data_cut")
    with pytest.warns(TrialkitWarning, match="after the data cut 2026-06-30"):
        s = __import__("trialkit").load_study(d)
    assert ("warning: disposition.csv: `last_contact_date`: 2 date(s) after the data cut 2026-06-30 "
            "(first on line 2: 2026-07-02)") in s.notes


def test_one_institution_under_two_site_ids_is_named_with_the_first_id(tmp_path):
    """Name, city and country are compared trimmed and lower-cased; every later copy names the first id;
    sites without a name are never reported (their missing name is not a match); missing city equals missing city."""
    sites = (MINIMAL / "sites.csv").read_text(encoding="utf-8") + (
        "AT02, st. anna KINDERSPITAL ,VIENNA,,austria,2023-06-01,recruiting\n"
        "AT03,St. Anna Kinderspital,Vienna,,Austria,2023-06-01,recruiting\n"
        "AT04,St. Anna Kinderspital,Graz,,Austria,2023-06-01,recruiting\n"
        "DE01,,Berlin,,Germany,2023-06-01,recruiting\n"
        "DE02,,Berlin,,Germany,2023-06-01,recruiting\n"
        "DE03,Charité,,,Germany,2023-06-01,recruiting\n"
        "DE04,Charité,,,Germany,2023-06-01,recruiting\n")
    p = problems_of(study_from(tmp_path, sites__csv=sites))
    dup = p[p["problem"].str.startswith("duplicated site entry")]
    assert located(dup) == [("sites.csv", 4, "site_name"), ("sites.csv", 5, "site_name"), ("sites.csv", 10, "site_name")]
    assert dup["value"].tolist() == ["AT02 duplicates AT01", "AT03 duplicates AT01", "DE04 duplicates DE03"]
    assert set(dup["fix"]) == {"keep one entry per site and map the other id to it"}
