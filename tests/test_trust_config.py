"""study.yaml has a schema: every key, its type and allowed values; each problem names the file,
the line and the key with a fix (issue 9)."""

from __future__ import annotations

import pandas as pd
import pytest
from trust_fixtures import load_quietly, located, problems_of, study_from

from trialkit.conventions import KEY_NAMES, KEYS
from trialkit.errors import ConfigError, ProtocolError, StudyFolderError
from trialkit.io.config import parse_yaml, read_config


def _problems(text: str) -> pd.DataFrame:
    with pytest.raises(ConfigError) as exc:
        read_config(None, text=text)
    return exc.value.failure_cases


def test_every_key_of_the_schema_is_accepted(tmp_path):
    d = study_from(tmp_path, study_yaml="""
protocol: b1931036
tables: {screening: screening.csv}
columns: {randomization: {arm: arm, age_group: age_group}}
values: {randomization: {arm: {"ALL R3": ALLR3, "n/a": null}}}
date_format: {screening: {screening_date: "%Y-%m-%d"}}
date_order: dmy
decimal: {response: "."}
encoding: {sites: utf-8}
na_values: ["", NA, ND]
sheet: 1
partial_dates: {screening: middle}
data_cut_date: 2026-06-30
""")
    assert {k.name for k in KEYS} - {"dayfirst"} <= set(read_config(d).data)
    s = load_quietly(d)
    assert s.data_cut_date == pd.Timestamp("2026-06-30") and len(s.screening) == 4


def test_each_wrong_key_is_a_problem_naming_its_line(tmp_path):
    pr = problems_of(study_from(tmp_path, "study_yaml"), ConfigError)
    expected = pd.DataFrame({
        "row": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 17],
        "column": ["data_cut_date", "date_format", "date_order", "decimal", "encoding", "na_values", "sheet",
                   "partial_dates", "dayfirst", "colums", "tables.screenin", "values.randomization.armm"],
        "value": ["2026-06-31", "%d.%Q.%Y", "ymd", ";", "utf-99", "ND", "0", "early", "yes", "", "screenin",
                  "armm"]})
    pd.testing.assert_frame_equal(pr[["row", "column", "value"]].astype({"row": int}), expected)
    assert (pr["file"] == "study.yaml").all() and pr["fix"].str.len().gt(0).all()
    fixes = dict(zip(pr["column"], pr["fix"]))
    assert fixes["colums"] == "did you mean `columns`?" and fixes["tables.screenin"] == "did you mean `screening`?"
    assert "unknown directive(s) %Q" in pr.loc[pr["column"] == "date_format", "problem"].iloc[0]
    assert "day is out of range" in pr.loc[pr["column"] == "data_cut_date", "problem"].iloc[0]


@pytest.mark.parametrize("text, column, problem", [
    ("protocol: b193103\n", "protocol", "unknown or invalid protocol: unknown protocol 'b193103'"),
    ("data_cut_date: 30.06.2026\nprotocol: b1931036\n", "data_cut_date", "must be a date written YYYY-MM-DD"),
    ("protocol: b1931036\ndate_format: '%m/%Y'\n", "date_format", "must name a day (%d), a month"),
    ("protocol: b1931036\ncolumns: [a, b]\n", "columns", "must be a mapping by table"),
    ("protocol: b1931036\ncolumns: {screening: {X: 3}}\n", "columns.screening.X", "must be a canonical column"),
    ("protocol: b1931036\ncolumns: {screening: {A: sex, B: sex}}\n", "columns.screening.B", "already the target"),
    ("protocol: b1931036\nvalues: {screening: {sex: F}}\n", "values.screening.sex", "expected a mapping"),
    ("protocol: b1931036\ndecimal: {screening: {age_yrs: ','}}\n", "decimal.screening.age_yrs",
     "is not a column of the screening table"),
    ("protocol: b1931036\nencoding: {screening: {age_years: utf-8}}\n", "encoding.screening",
     "is set per table, not per column"),
    ("protocol: b1931036\nprotocol: aall1732\n", "protocol", "appears twice"),
    ("- protocol\n", "", "expected a mapping of keys"),
    ("protocol: [b1931036]\n", "protocol", "must be a protocol id"),
    ("date_order: dmy\n", "protocol", "no protocol given"),
])
def test_wrong_types_and_values(text, column, problem):
    pr = _problems(text)
    hit = pr[pr["column"] == column]
    assert len(hit) == 1, pr.to_string()
    assert problem in hit["problem"].iloc[0]


def test_yaml_syntax_error_names_the_line():
    pr = _problems("protocol: b1931036\ncolumns:\n  screening: {PATIENT_NO: subject_id\n")
    assert pr["row"].iloc[0] == 4 and pr["problem"].iloc[0].startswith("not valid YAML")


def test_yaml_1_2_scalars_no_norway_problem_no_date_crash():
    data, lines, _ = parse_yaml("a: no\nb: yes\nc: 2026-06-31\nd: true\ne: '1'\nf: 1\ng: ~\n")
    assert data == {"a": "no", "b": "yes", "c": "2026-06-31", "d": True, "e": "1", "f": 1, "g": None}
    assert lines[("c",)] == 3


def test_mapping_source_not_in_the_header_names_the_closest_header(tmp_path):
    pr = problems_of(study_from(tmp_path, "mapping_source"))
    first = pr.iloc[0]
    assert (first["file"], first["row"], first["column"]) == ("study.yaml", 5, "columns.screening.PATIENT_NUM")
    assert first["problem"] == "`PATIENT_NUM` (mapped to `subject_id`) is not a column of screening.csv"
    assert first["fix"] == "the closest header is 'PATIENT_NO': correct the name in study.yaml"
    assert ("screening.csv", None, "subject_id") in located(pr)
    # the cascade is not repeated: no "empty value" per row for the missing column
    assert not ((pr["file"] == "screening.csv") & pr["problem"].str.startswith("empty value")).any()


def test_mapping_target_that_is_not_canonical_is_a_configuration_error(tmp_path):
    pr = problems_of(study_from(tmp_path, "mapping_target"), ConfigError)
    assert located(pr) == [("study.yaml", 5, "columns.screening.Age"), ("study.yaml", 6, "columns.screening.Blasts")]
    assert pr["fix"].tolist() == ["did you mean `age_years`?", "did you mean `marrow_blasts_pct`?"]


def test_stratification_factors_are_valid_mapping_targets(tmp_path):
    d = study_from(tmp_path, study_yaml="protocol: b1931036\ncolumns: {randomization: {age_group: age_group}}\n")
    assert read_config(d).columns_map("randomization") == {"age_group": "age_group"}


def test_values_that_never_occur_are_notes(tmp_path):
    s = load_quietly(study_from(tmp_path, "values_unused"))
    assert ("study.yaml: `values` for randomization.arm maps 'ALL R3', which never occurs in randomization.csv"
            in s.notes)


def test_a_values_mapping_to_null_reads_as_missing_and_is_noted(tmp_path):
    d = study_from(tmp_path, study_yaml="protocol: b1931036\nvalues: {screening: {sex: {F: null}}}\n")
    s = load_quietly(d)
    assert s.screening["sex"].tolist() == ["M", pd.NA, pd.NA, "M"]
    assert "screening.csv: `sex`: 2 value(s) read as missing by `values:`" in s.notes


def test_protocol_argument_errors_are_protocol_errors(tmp_path):
    with pytest.raises(ProtocolError):
        read_config(study_from(tmp_path), protocol="nope")


def test_config_error_is_a_study_folder_error_too(tmp_path):
    d = study_from(tmp_path, study_yaml="protocol: b1931036\ncolumnz: {}\n")
    with pytest.raises(StudyFolderError, match="unknown key `columnz`"):
        load_quietly(d)


def test_every_key_is_documented():
    from trialkit.model import data_model_markdown

    page = data_model_markdown()
    assert all(f"| `{k}` |" in page for k in KEY_NAMES)
