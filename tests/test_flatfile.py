"""Loading study folders: real-world export formats, and every kind of bad input reported by
file, row and column with nothing lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialkit as tk
from trialkit.errors import DataValidationError, StudyFolderError
from trialkit.io.flatfile import decode_bytes, parse_dates, sniff_delimiter

MINIMAL = Path(__file__).parent / "fixtures" / "studies" / "minimal"


@pytest.fixture
def study_dir(tmp_path) -> Path:
    d = tmp_path / "study"
    shutil.copytree(MINIMAL, d)
    return d


def edit_csv(folder: Path, table: str, fn) -> None:
    p = folder / f"{table}.csv"
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    fn(df).to_csv(p, index=False)


def problems_of(folder: Path) -> pd.DataFrame:
    with pytest.raises(DataValidationError) as exc:
        tk.load_study(folder)
    return exc.value.failure_cases


# ------------------------------------------------------------------------------------------------
# the valid fixture
# ------------------------------------------------------------------------------------------------
def test_minimal_study_loads_with_canonical_dtypes():
    s = tk.load_study(MINIMAL)
    assert s.protocol.id == "b1931036"
    assert (len(s.sites), len(s.screening), len(s.randomization), len(s.outcomes)) == (2, 4, 3, 6)
    assert str(s.screening["screening_date"].dtype) == "datetime64[ns]"
    assert str(s.screening["age_years"].dtype) == "Float64"
    assert str(s.screening["cd22_positive"].dtype) == "boolean"
    assert str(s.outcomes["event"].dtype) == "Int64"
    # columns absent from the file exist, empty, with their dtype
    assert s.screening["ph_positive"].isna().all() and str(s.screening["ph_positive"].dtype) == "boolean"
    # the country is filled from the sites table
    assert s.screening["country"].tolist() == ["Austria", "Austria", "Belgium", "Belgium"]
    # stratification factor columns are kept
    assert s.randomization["age_group"].tolist()[0] == "1 to <10 years"
    assert s.data_cut_date == pd.Timestamp("2026-06-30")


def test_summary_counts_arms_in_dose_order():
    s = tk.load_study(MINIMAL)
    summary = dict(zip(s.summary()["measure"], s.summary()["value"]))
    assert summary["randomized: InO"] == 2 and summary["randomized: ALLR3"] == 1
    assert list(s.protocol.arm_codes) == ["ALLR3", "InO"]


# ------------------------------------------------------------------------------------------------
# every kind of bad input: one problem row naming file, row and column
# ------------------------------------------------------------------------------------------------
def _one(pr: pd.DataFrame, column: str) -> pd.Series:
    hit = pr[pr["column"] == column]
    assert len(hit) >= 1, pr.to_string()
    return hit.iloc[0]


def test_missing_required_column(study_dir):
    edit_csv(study_dir, "randomization", lambda d: d.drop(columns=["randomization_date"]))
    p = _one(problems_of(study_dir), "randomization_date")
    assert p["file"] == "randomization.csv" and pd.isna(p["row"])
    assert "missing" in p["problem"] and "columns:" in p["fix"]


def test_unreadable_number_and_date_named_by_line(study_dir):
    def bad(d):
        d.loc[2, "age_years"] = "twelve"
        d.loc[1, "screening_date"] = "2023-02-31"
        return d
    edit_csv(study_dir, "screening", bad)
    pr = problems_of(study_dir)
    age, date = _one(pr, "age_years"), _one(pr, "screening_date")
    assert (age["file"], age["row"], age["value"]) == ("screening.csv", 4, "twelve")  # data row 3 = line 4
    assert (date["row"], date["value"]) == (3, "2023-02-31")
    assert "not a number" in age["problem"] and "not a date" in date["problem"]


def test_out_of_range_and_not_allowed(study_dir):
    def bad(d):
        d.loc[0, "age_years"] = "250"
        d.loc[1, "marrow_blasts_pct"] = "140"
        d.loc[3, "sex"] = "X"
        return d
    edit_csv(study_dir, "screening", bad)
    pr = problems_of(study_dir)
    assert _one(pr, "age_years")["row"] == 2
    assert _one(pr, "marrow_blasts_pct")["row"] == 3
    sex = _one(pr, "sex")
    assert sex["row"] == 5 and sex["value"] == "X" and "one of" in sex["problem"]


def test_duplicated_subject_ids_both_reported(study_dir):
    edit_csv(study_dir, "screening", lambda d: d.assign(subject_id=["S001", "S002", "S002", "S004"]))
    pr = problems_of(study_dir)
    dup = pr[(pr["column"] == "subject_id") & pr["problem"].str.contains("duplicat")]
    assert sorted(dup["row"].astype(int)) == [3, 4]


def test_randomized_but_not_screened(study_dir):
    edit_csv(study_dir, "screening", lambda d: d[d["subject_id"] != "S004"])
    pr = problems_of(study_dir)
    p = pr[pr["problem"].str.contains("no screening record")].iloc[0]
    assert (p["file"], p["row"], p["column"], p["value"]) == ("randomization.csv", 4, "subject_id", "S004")


def test_dates_out_of_order(study_dir):
    edit_csv(study_dir, "randomization", lambda d: d.assign(
        randomization_date=["2023-06-01", "2023-08-10", "2023-10-09"]))  # S001 screened 2023-07-01
    edit_csv(study_dir, "disposition", lambda d: d.assign(death_date=["", "2023-08-01", ""]))  # before rand.
    pr = problems_of(study_dir)
    r = _one(pr, "randomization_date")
    assert (r["file"], r["row"]) == ("randomization.csv", 2) and "before" in r["problem"]
    d = pr[(pr["column"] == "death_date")].iloc[0]
    assert (d["file"], d["row"]) == ("disposition.csv", 3)


def test_unknown_arm_and_unknown_site(study_dir):
    edit_csv(study_dir, "randomization", lambda d: d.assign(arm=["InO", "Chemo", "InO"]))
    edit_csv(study_dir, "screening", lambda d: d.assign(site_id=["AT01", "AT01", "XX99", "BE01"]))
    pr = problems_of(study_dir)
    arm = _one(pr, "arm")
    assert (arm["row"], arm["value"]) == (3, "Chemo") and "b1931036" in arm["problem"]
    site = pr[(pr["column"] == "site_id") & (pr["file"] == "screening.csv")].iloc[0]
    assert (site["row"], site["value"]) == (4, "XX99")


def test_duplicated_site_entry(study_dir):
    sites = pd.read_csv(study_dir / "sites.csv", dtype=str, keep_default_na=False)
    extra = sites.iloc[[0]].assign(site_id="AT02")
    pd.concat([sites, extra]).to_csv(study_dir / "sites.csv", index=False)
    p = _one(problems_of(study_dir), "site_name")
    assert (p["file"], p["row"]) == ("sites.csv", 4) and "AT01" in p["value"]


def test_empty_key_value(study_dir):
    edit_csv(study_dir, "screening", lambda d: d.assign(subject_id=["S001", "", "S003", "S004"]))
    pr = problems_of(study_dir)
    assert 3 in pr.loc[pr["column"] == "subject_id", "row"].astype(int).tolist()


def test_missing_table_file_and_missing_protocol(study_dir, tmp_path):
    (study_dir / "screening.csv").unlink()
    p = problems_of(study_dir)
    assert (p["file"] == "screening.csv").any()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StudyFolderError, match="protocol"):
        tk.load_study(empty)
    with pytest.raises(StudyFolderError, match="not a folder"):
        tk.load_study(tmp_path / "nope")


def test_every_problem_gathered_at_once_and_no_row_lost(study_dir):
    def bad(d):
        d.loc[0, "age_years"] = "abc"
        d.loc[3, "sex"] = "?"
        return d
    edit_csv(study_dir, "screening", bad)
    edit_csv(study_dir, "randomization", lambda d: d.assign(arm=["InO", "XX", "InO"]))
    pr = problems_of(study_dir)
    assert {"age_years", "sex", "arm"} <= set(pr["column"])
    # without raising, every input row is in the loaded tables
    s = tk.load_study(study_dir, validate=False)
    assert len(s.screening) == 4 and len(s.randomization) == 3
    assert s.screening.loc[0, "age_years"] is pd.NA  # unreadable value: missing *and* reported above


# ------------------------------------------------------------------------------------------------
# real-world export formats
# ------------------------------------------------------------------------------------------------
def test_cp1252_semicolon_decimal_comma_and_mapping(study_dir):
    """A European export: cp1252, ';'-delimited, decimal commas, its own column names and arm labels."""
    scr = pd.read_csv(study_dir / "screening.csv", dtype=str, keep_default_na=False)
    scr = scr.rename(columns={"subject_id": "PATIENT_NO", "screening_date": "Date of screening"})
    scr["age_years"] = scr["age_years"].str.replace(".", ",", regex=False)
    scr["marrow_blasts_pct"] = scr["marrow_blasts_pct"].str.replace(".", ",", regex=False)
    (study_dir / "screening.csv").write_bytes(scr.to_csv(index=False, sep=";").encode("cp1252"))
    sites = pd.read_csv(study_dir / "sites.csv", dtype=str, keep_default_na=False)
    sites.loc[0, "site_name"] = "Hôpital Armand Trousseau – Pédiatrie"
    (study_dir / "sites.csv").write_bytes(sites.to_csv(index=False, sep=";").encode("cp1252"))
    rnd = pd.read_csv(study_dir / "randomization.csv", dtype=str, keep_default_na=False)
    rnd["arm"] = rnd["arm"].map({"InO": "Inotuzumab ozogamicin", "ALLR3": "ALL R3"})
    rnd.to_csv(study_dir / "randomization.csv", index=False)
    (study_dir / "study.yaml").write_text(
        "protocol: b1931036\n"
        "columns:\n  screening: {PATIENT_NO: subject_id, 'Date of screening': screening_date}\n"
        "values:\n  randomization: {arm: {Inotuzumab ozogamicin: InO, ALL R3: ALLR3}}\n", encoding="utf-8")
    s = tk.load_study(study_dir)
    assert s.sites.loc[0, "site_name"] == "Hôpital Armand Trousseau – Pédiatrie"
    assert s.screening["age_years"].tolist() == [7.5, 12.1, 4.2, 15.9]
    assert s.screening["marrow_blasts_pct"].tolist() == [45.0, 60.5, 3.0, 80.0]
    assert s.randomization["arm"].tolist() == ["InO", "ALLR3", "InO"]
    assert any("cp1252" in n for n in s.notes)


def test_utf8_bom_is_not_part_of_the_first_column(study_dir):
    raw = (study_dir / "sites.csv").read_bytes()
    (study_dir / "sites.csv").write_bytes(b"\xef\xbb\xbf" + raw)
    s = tk.load_study(study_dir)
    assert s.sites["site_id"].tolist() == ["AT01", "BE01"]


def test_partial_iso_dates_and_excel_serials(study_dir):
    edit_csv(study_dir, "screening", lambda d: d.assign(
        relapse_date=["2023-06", "2023", "45170", "2023-09-25T10:30:00"]))
    s = tk.load_study(study_dir)
    assert s.screening["relapse_date"].tolist() == [pd.Timestamp("2023-06-01"), pd.Timestamp("2023-01-01"),
                                                    pd.Timestamp("2023-09-01"), pd.Timestamp("2023-09-25")]
    assert any("2 partial date(s) in `relapse_date`" in n for n in s.notes)


def test_parse_dates_options():
    s = pd.Series(["2024-02", "2024", "17.07.2023", None, "garbage"])
    dates, failed, imputed = parse_dates(s, dayfirst=True, partial="last")
    assert dates.tolist()[:3] == [pd.Timestamp("2024-02-29"), pd.Timestamp("2024-12-31"),
                                  pd.Timestamp("2023-07-17")]
    assert failed.tolist() == [False, False, False, False, True]
    assert imputed.tolist() == [True, True, False, False, False]
    # Excel 1900 date system: serial 45000 is 2023-03-15 (Excel: =DATEVALUE("2023-03-15") returns 45000)
    d2, _, _ = parse_dates(pd.Series([45000.0, np.nan]))
    assert d2.iloc[0] == pd.Timestamp("2023-03-15") and pd.isna(d2.iloc[1])


def test_excel_and_parquet_tables(study_dir):
    scr = pd.read_csv(study_dir / "screening.csv", dtype=str, keep_default_na=False)
    (study_dir / "screening.csv").unlink()
    scr["screening_date"] = pd.to_datetime(scr["screening_date"])  # real Excel dates
    scr.to_excel(study_dir / "screening.xlsx", index=False)
    out = pd.read_csv(study_dir / "outcomes.csv")
    (study_dir / "outcomes.csv").unlink()
    out.to_parquet(study_dir / "outcomes.parquet", index=False)
    s = tk.load_study(study_dir)
    assert s.screening["screening_date"].iloc[0] == pd.Timestamp("2023-07-01")
    assert s.outcomes["time_days"].tolist() == out["time_days"].astype(float).tolist()


def test_two_files_for_one_table_is_refused(study_dir):
    shutil.copy(study_dir / "sites.csv", study_dir / "sites.tsv")
    with pytest.raises(StudyFolderError, match="more than one file"):
        tk.load_study(study_dir)


def test_decode_and_sniff_helpers():
    assert decode_bytes("Zürich".encode("cp1252")) == ("Zürich", "cp1252")
    assert decode_bytes(b"\xef\xbb\xbfa,b") == ("a,b", "utf-8-sig")
    assert sniff_delimiter("a;b;c\n1;2,5;3\n") == ";"
    assert sniff_delimiter("a\tb\n1\t2\n") == "\t"


def test_write_then_load_round_trip(tmp_path):
    s = tk.load_study(MINIMAL)
    tk.write_study(s, tmp_path / "csv")
    tk.write_study(s, tmp_path / "pq", format="parquet")
    for sub in ("csv", "pq"):
        back = tk.load_study(tmp_path / sub)
        assert back.checksum() == s.checksum(), sub
